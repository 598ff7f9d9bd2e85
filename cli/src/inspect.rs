//! Looking at what ran, in the state folder: `sluice show`, `logs` and `events`.

use crate::args::*;
use crate::usage::*;
use serde_json::json;
use sluice_host::Host;
use std::process::ExitCode;

pub(crate) async fn show(host: &Host, execution: &str, output: Output) -> CmdResult {
    let record = host.runtime.execution(execution).await?;
    let stages = host.runtime.stages(execution).await?;
    let actions = host.runtime.actions(execution).await?;
    if output == Output::Json {
        print_json(&json!({"execution": record, "stages": stages, "actions": actions}));
        return Ok(ExitCode::SUCCESS);
    }
    outln!(
        "execution {} of {} version {}: {:?}{}",
        record.execution_id,
        record.pipeline,
        record.version,
        record.status,
        record
            .status_summary
            .as_deref()
            .map(|s| format!(" ({s})"))
            .unwrap_or_default()
    );
    for r in &record.source_revisions {
        outln!("  source {}: {}", r.action_name, r.revision.revision_id);
    }
    for v in &record.variables {
        outln!("  variable {} = {}", v.name, v.resolved_value);
    }
    for s in &stages {
        outln!("  stage {} attempt {}: {:?}", s.stage, s.attempt, s.status);
        for a in actions
            .iter()
            .filter(|a| a.stage == s.stage && a.attempt == s.attempt)
        {
            let mut line = format!(
                "    {} {:?} ({:.1}s)",
                a.action,
                a.status,
                (a.updated_ms - a.started_ms) as f64 / 1000.0
            );
            if a.run > 1 {
                line.push_str(&format!(", run {}", a.run));
            }
            if let Some(e) = &a.error {
                line.push_str(&format!(": {e}"));
            }
            outln!("{line}");
            for o in &a.output_artifacts {
                outln!(
                    "      artifact {} s3://{}/{} ({} bytes)",
                    o.name,
                    o.object.bucket,
                    o.object.key,
                    o.object.size
                );
            }
            for (k, v) in &a.output_variables {
                outln!("      variable {k} = {v}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) async fn logs(host: &Host, execution: &str, action: Option<&str>) -> CmdResult {
    let actions = host.runtime.actions(execution).await?;
    if actions.is_empty() {
        host.runtime.execution(execution).await?;
    }
    let wanted: Vec<_> = match action {
        Some(a) => {
            let (stage, name) = a
                .split_once('.')
                .ok_or_else(|| UsageError(format!("name an action as STAGE.ACTION, not {a:?}")))?;
            let found: Vec<_> = actions
                .iter()
                .filter(|r| r.stage == stage && r.action == name)
                .collect();
            if found.is_empty() {
                return Err(UsageError(format!(
                    "execution {execution} has no action {a}"
                )));
            }
            found
        }
        None => actions.iter().collect(),
    };
    for a in wanted {
        let path = host.log_path(execution, &a.stage, &a.action, a.attempt);
        outln!("==> {}.{} (attempt {}) <==", a.stage, a.action, a.attempt);
        match std::fs::read_to_string(&path) {
            Ok(text) => out!("{text}"),
            Err(_) => outln!("(no log)"),
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn events(host: &Host, execution: Option<&str>) -> CmdResult {
    let events = sluice_local::read_events(host.events_path())?;
    for e in events {
        if let Some(id) = execution {
            if e["detail"]["execution-id"] != id {
                continue;
            }
        }
        outln!("{e}");
    }
    Ok(ExitCode::SUCCESS)
}
