//! Following an execution: a live table in a terminal, plain lines otherwise.

use std::collections::BTreeMap;
use std::io::{BufRead, IsTerminal, Write};
use std::time::Duration;

use anyhow::Result;
use sluice_definition::Pipeline;
use sluice_runtime::records::{
    ActionRecord, ActionStatus, ApprovalRecord, ExecutionRecord, StageRecord, StageStatus,
};

use sluice_host::Host;

/// How `follow` treats manual approvals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Approvals {
    /// Ask at the terminal (and say how to answer from another one).
    Ask,
    /// Only say how to answer from another terminal.
    Show,
    /// Approve at once (demos, tests).
    Auto,
}

/// What one look at an execution shows.
struct View {
    execution: ExecutionRecord,
    stages: Vec<StageRecord>,
    actions: Vec<ActionRecord>,
}

/// Follows an execution until it ends; returns its final record. `interactive` asks for approvals at the
/// terminal.
pub async fn follow(
    host: &Host,
    pipeline: &Pipeline,
    execution_id: &str,
    approvals: Approvals,
) -> Result<ExecutionRecord> {
    let interactive = approvals == Approvals::Ask;
    let tty = std::io::stdout().is_terminal();
    let mut printed: BTreeMap<String, String> = BTreeMap::new();
    let mut drawn_lines = 0usize;
    let mut asked: Option<String> = None;
    // While a question waits at the terminal, the table is not redrawn over what the person types.
    let mut prompting: Option<String> = None;
    let (answers_tx, mut answers_rx) =
        tokio::sync::mpsc::unbounded_channel::<(ApprovalRecord, bool)>();
    let mut ends = host.engine.ends();
    loop {
        let view = View {
            execution: host.runtime.execution(execution_id).await?,
            stages: host.runtime.stages(execution_id).await?,
            actions: host.runtime.actions(execution_id).await?,
        };
        if tty && prompting.is_none() {
            let lines = render(host, pipeline, &view);
            let mut out = std::io::stdout().lock();
            if drawn_lines > 0 {
                write!(out, "\x1b[{drawn_lines}A\x1b[J")?;
            }
            for l in &lines {
                writeln!(out, "{l}")?;
            }
            out.flush()?;
            drawn_lines = lines.len();
        } else if !tty {
            for line in changes(&view, &mut printed) {
                outln!("{line}");
            }
        }

        // Approvals waiting in this execution.
        for a in view
            .actions
            .iter()
            .filter(|a| a.status == ActionStatus::InProgress && is_manual(a))
        {
            let Some(approval) = host
                .runtime
                .pending_approval(&a.pipeline, &a.stage, &a.action)
                .await?
            else {
                continue;
            };
            if approval.execution_id != execution_id
                || asked.as_deref() == Some(approval.token.as_str())
            {
                continue;
            }
            asked = Some(approval.token.clone());
            if approvals == Approvals::Auto {
                let note = Some("approved by sluice --auto-approve".to_owned());
                if let Err(e) = host
                    .runtime
                    .decide_approval(&approval.token, true, note, "sluice")
                    .await
                {
                    eprintln!(
                        "could not approve {}.{}: {e}",
                        approval.stage, approval.action
                    );
                }
                continue;
            }
            let what = format!("{}.{}", approval.stage, approval.action);
            let mut lines = vec![format!("approval needed: {what}")];
            if let Some(d) = &approval.custom_data {
                lines.push(format!("  {d}"));
            }
            if let Some(l) = &approval.external_link {
                lines.push(format!("  review: {l}"));
            }
            lines.push(format!(
                "  from another terminal: sluice approve {} {} {}   (or reject)",
                approval.pipeline, approval.stage, approval.action
            ));
            if interactive && std::io::stdin().is_terminal() {
                lines.push("  approve here? [y/n] ".into());
                prompting = Some(approval.token.clone());
                let tx = answers_tx.clone();
                let approval = approval.clone();
                std::thread::spawn(move || {
                    let mut answer = String::new();
                    if std::io::stdin().lock().read_line(&mut answer).is_ok() {
                        let a = answer.trim().to_lowercase();
                        if a == "y" || a == "yes" || a == "n" || a == "no" {
                            let _ = tx.send((approval, a.starts_with('y')));
                        }
                    }
                });
            }
            if tty {
                // Keep the prompt below the table: it is not redrawn.
                let mut out = std::io::stdout().lock();
                for l in &lines {
                    writeln!(out, "{l}")?;
                }
                out.flush()?;
                drawn_lines = 0;
            } else {
                for l in &lines {
                    outln!("{l}");
                }
            }
        }
        // Answered elsewhere (another terminal, the API): stop waiting for this terminal's answer.
        if prompting.is_some()
            && !view
                .actions
                .iter()
                .any(|a| a.status == ActionStatus::InProgress && is_manual(a))
        {
            outln!("(answered elsewhere)");
            prompting = None;
            drawn_lines = 0;
        }
        while let Ok((approval, approve)) = answers_rx.try_recv() {
            if prompting.as_deref() != Some(approval.token.as_str()) {
                continue;
            }
            prompting = None;
            drawn_lines = 0;
            let who = std::env::var("USER").unwrap_or_else(|_| "terminal".into());
            match host
                .runtime
                .decide_approval(&approval.token, approve, None, &who)
                .await
            {
                Ok(_) => outln!(
                    "{} {}.{}",
                    if approve { "approved" } else { "rejected" },
                    approval.stage,
                    approval.action
                ),
                Err(e) => outln!("could not decide: {e}"),
            }
        }

        if view.execution.status.is_final() {
            return Ok(view.execution);
        }
        // The end is told at once by the engine driving the run in this process; what happens on the way
        // (and an end recorded by another process) is seen at the next look.
        tokio::select! {
            _ = ends.changed() => {}
            () = tokio::time::sleep(Duration::from_millis(if tty { 150 } else { 100 })) => {}
        }
    }
}

fn is_manual(a: &ActionRecord) -> bool {
    a.action_type.category == "Approval" && a.action_type.provider == "Manual"
}

/// Milliseconds since the epoch, for the age of what is still running.
fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn seconds(ms: i64) -> String {
    format!("{:.1}s", ms.max(0) as f64 / 1000.0)
}

/// The newest attempt of each stage, by stage name.
type LatestStages<'a> = BTreeMap<&'a str, &'a StageRecord>;
/// The newest attempt of each action, by (stage, action).
type LatestActions<'a> = BTreeMap<(&'a str, &'a str), &'a ActionRecord>;

/// The newest attempt of each stage and action.
fn latest(view: &View) -> (LatestStages<'_>, LatestActions<'_>) {
    let mut stages = BTreeMap::new();
    for s in &view.stages {
        let e = stages.entry(s.stage.as_str()).or_insert(s);
        if s.attempt > e.attempt {
            *e = s;
        }
    }
    let mut actions = BTreeMap::new();
    for a in &view.actions {
        let e = actions
            .entry((a.stage.as_str(), a.action.as_str()))
            .or_insert(a);
        if a.attempt > e.attempt {
            *e = a;
        }
    }
    (stages, actions)
}

fn stage_word(s: StageStatus) -> &'static str {
    match s {
        StageStatus::InProgress => "InProgress",
        StageStatus::Succeeded => "Succeeded",
        StageStatus::Failed => "Failed",
        StageStatus::Stopped => "Stopped",
        StageStatus::Skipped => "Skipped",
        StageStatus::Cancelled => "Cancelled",
    }
}

fn action_word(s: ActionStatus) -> &'static str {
    match s {
        ActionStatus::InProgress => "InProgress",
        ActionStatus::Succeeded => "Succeeded",
        ActionStatus::Failed => "Failed",
        ActionStatus::Abandoned => "Abandoned",
    }
}

/// The live table.
fn render(host: &Host, pipeline: &Pipeline, view: &View) -> Vec<String> {
    let (stages, actions) = latest(view);
    let e = &view.execution;
    let mut lines = vec![format!(
        "{} {} — {:?} ({})",
        e.pipeline,
        e.execution_id,
        e.status,
        seconds(
            if e.status.is_final() {
                e.updated_ms
            } else {
                now_ms()
            } - e.started_ms
        )
    )];
    for stage in &pipeline.stages {
        let status = stages
            .get(stage.name.as_str())
            .map_or("—", |s| stage_word(s.status));
        lines.push(format!("  {:<24} {status}", stage.name));
        for action in &stage.actions {
            let Some(a) = actions.get(&(stage.name.as_str(), action.name.as_str())) else {
                lines.push(format!("    {:<22} —", action.name));
                continue;
            };
            let mut line = format!(
                "    {:<22} {:<10} {}",
                action.name,
                action_word(a.status),
                seconds(
                    if a.status == ActionStatus::InProgress {
                        now_ms()
                    } else {
                        a.updated_ms
                    } - a.started_ms
                )
            );
            if a.status == ActionStatus::InProgress {
                if let Some(last) =
                    last_log_line(&host.log_path(&a.execution_id, &a.stage, &a.action, a.attempt))
                {
                    line.push_str(&format!("  | {}", truncate(&last, 60)));
                }
            } else if let Some(err) = &a.error {
                line.push_str(&format!("  | {}", truncate(err, 60)));
            }
            lines.push(line);
        }
    }
    lines
}

/// Lines for what changed since the last look (plain output), in the order things happened.
fn changes(view: &View, printed: &mut BTreeMap<String, String>) -> Vec<String> {
    let mut candidates: Vec<(i64, String, String, String)> = Vec::new();
    for s in &view.stages {
        let at = if s.status == StageStatus::InProgress {
            s.started_ms
        } else {
            s.updated_ms
        };
        candidates.push((
            at,
            format!("stage {} {}", s.stage, s.attempt),
            stage_word(s.status).into(),
            format!("stage {} {}", s.stage, stage_word(s.status)),
        ));
    }
    for a in &view.actions {
        let mut line = format!("action {}.{} {}", a.stage, a.action, action_word(a.status));
        if a.status != ActionStatus::InProgress {
            line.push_str(&format!(" ({})", seconds(a.updated_ms - a.started_ms)));
        }
        if let Some(err) = &a.error {
            line.push_str(&format!(": {err}"));
        }
        let at = if a.status == ActionStatus::InProgress {
            a.started_ms
        } else {
            a.updated_ms
        };
        candidates.push((
            at,
            format!("action {}.{} {} {}", a.stage, a.action, a.attempt, a.run),
            action_word(a.status).into(),
            line,
        ));
    }
    candidates.sort_by_key(|c| c.0);
    let mut out = Vec::new();
    for (_, key, state, line) in candidates {
        if printed.get(&key) != Some(&state) {
            printed.insert(key, state);
            out.push(line);
        }
    }
    out
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_owned()
    } else {
        let mut t: String = s.chars().take(n - 1).collect();
        t.push('…');
        t
    }
}

/// The last non-empty line of a log file, read from its end.
pub fn last_log_line(path: &std::path::Path) -> Option<String> {
    last_lines(path, 1, 4096)?
        .pop()
        .map(|l| l.trim().to_owned())
}

/// The last `n` non-empty lines of a log (from its last 64 KiB), oldest first.
pub fn last_log_lines(path: &std::path::Path, n: usize) -> Vec<String> {
    last_lines(path, n, 64 * 1024).unwrap_or_default()
}

fn last_lines(path: &std::path::Path, n: usize, window: u64) -> Option<Vec<String>> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = std::fs::File::open(path).ok()?;
    let len = f.metadata().ok()?.len();
    let start = len.saturating_sub(window);
    f.seek(SeekFrom::Start(start)).ok()?;
    let mut buf = Vec::new();
    f.read_to_end(&mut buf).ok()?;
    let text = String::from_utf8_lossy(&buf);
    let mut lines: Vec<String> = text
        .lines()
        .skip(usize::from(start > 0))
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.trim_end().to_owned())
        .collect();
    let keep = lines.len().saturating_sub(n);
    lines.drain(..keep);
    Some(lines)
}
