//! Running pipelines on this machine: `sluice run`, `resume` and the background `drive`, following an
//! execution to its end while the engine drives it.

use crate::args::*;
use crate::client::Client;
use crate::definitions::*;
use crate::progress::Approvals;
use crate::usage::*;
use serde_json::json;
use sluice_definition::Pipeline;
use sluice_host::Host;
use sluice_runtime::records::ExecutionStatus;
use sluice_runtime::StartRequest;
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

/// Every action's provider must run locally; say which do not before anything runs. A Lambda action's function
/// reports through the API, which only `sluice serve` answers.
pub(crate) fn local_support(path: &Path, pipeline: &Pipeline) -> Vec<String> {
    pipeline
        .actions()
        .filter(|(_, _, _, a)| {
            !(a.action_type_id.category == "Approval" && a.action_type_id.provider == "Manual")
        })
        .filter_map(|(si, ai, stage, a)| {
            let at = format!("{}: stages[{si}].actions[{ai}]", path.display());
            if let Err(why) = sluice_host::supports(&a.action_type_id) {
                return Some(format!("{at}.actionTypeId: {why}"));
            }
            (a.action_type_id.provider == "Lambda").then(|| {
                format!(
                    "{at} ({}.{}): a Lambda action's function reports its result through Sluice's API \
                     (PutJobSuccessResult), which sluice run does not serve: run this pipeline under sluice serve \
                     and set the function's AWS_ENDPOINT_URL_CODEPIPELINE to the server's URL",
                    stage.name, a.name
                )
            })
        })
        .collect()
}

/// What `sluice run` was asked to run, and how.
pub(crate) struct RunRequest<'a> {
    /// The definition or template.
    pub file: &'a Path,
    /// Template values and the resource to read.
    pub template_args: &'a TemplateArgs,
    /// `--var NAME=VALUE`.
    pub vars: &'a [String],
    /// Start and return.
    pub no_wait: bool,
    /// How approvals are answered.
    pub approvals: Approvals,
    /// `--source ACTION=PATH`.
    pub sources: &'a [String],
    /// Bind the working copy here to the git sources whose repository it is (not `--no-bind`).
    pub bind: bool,
}

pub(crate) async fn run(
    host: &Host,
    state_dir: &Path,
    request: RunRequest<'_>,
    output: Output,
) -> CmdResult {
    let RunRequest {
        file,
        template_args,
        vars,
        no_wait,
        approvals,
        sources,
        bind,
    } = request;
    let Loaded { doc, template } = match load(file, template_args, false)? {
        Ok(loaded) => loaded,
        Err(err) => {
            for line in problem_lines(file, &err) {
                eprintln!("{line}");
            }
            return Ok(ExitCode::FAILURE);
        }
    };
    let unsupported = local_support(file, &doc.pipeline);
    if !unsupported.is_empty() {
        for line in unsupported {
            eprintln!("{line}");
        }
        return Ok(ExitCode::FAILURE);
    }
    let mut variables = BTreeMap::new();
    for v in vars {
        let (k, val) = v
            .split_once('=')
            .ok_or_else(|| UsageError(format!("--var takes NAME=VALUE, not {v:?}")))?;
        variables.insert(k.to_owned(), val.to_owned());
    }
    let base_dir = file
        .canonicalize()
        .ok()
        .and_then(|p| p.parent().map(|d| d.to_string_lossy().into_owned()));
    crate::bindings::bind_sources(state_dir, &doc.pipeline, sources, bind)?;
    let client = Client::Local(std::sync::Arc::clone(&host.runtime));
    if let Some(t) = &template {
        crate::control::template_before(&client, t).await?;
    }
    let record = host.runtime.put_pipeline(doc.pipeline, base_dir).await?;
    let name = record.definition.name.clone();
    if let Some(t) = &template {
        crate::control::template_after(&client, t, &name, false, false).await?;
    }
    let execution = host
        .runtime
        .start_execution(
            &name,
            StartRequest {
                variables,
                ..Default::default()
            },
        )
        .await?;
    if no_wait {
        spawn_driver(state_dir)?;
        if output == Output::Json {
            print_json(&json!({"pipelineExecutionId": execution.execution_id}));
        } else {
            outln!("{}", execution.execution_id);
        }
        return Ok(ExitCode::SUCCESS);
    }
    if output == Output::Text {
        outln!(
            "pipeline {name} version {} execution {}",
            record.definition.version.unwrap_or(1),
            execution.execution_id
        );
    }
    follow_to_end(
        host,
        &record.definition,
        &execution.execution_id,
        approvals,
        output,
    )
    .await
}

/// Drives the engine while following one execution; Ctrl-C leaves it recorded and resumable.
pub(crate) async fn follow_to_end(
    host: &Host,
    pipeline: &Pipeline,
    execution_id: &str,
    approvals: Approvals,
    output: Output,
) -> CmdResult {
    let (stop, engine) = host.drive().await?;
    let result = tokio::select! {
        r = crate::progress::follow(host, pipeline, execution_id, approvals) => Some(r),
        _ = tokio::signal::ctrl_c() => None,
    };
    stop.notify_one();
    let _ = tokio::time::timeout(Duration::from_secs(5), engine).await;
    let Some(result) = result else {
        eprintln!("interrupted: execution {execution_id} is recorded and will continue with `sluice resume`");
        return Ok(ExitCode::from(130));
    };
    let record = result?;
    if output == Output::Json {
        print_json(&json!(record));
    } else {
        let mut line = format!("execution {} {:?}", record.execution_id, record.status);
        if let Some(s) = &record.status_summary {
            line.push_str(&format!(": {s}"));
        }
        outln!("{line}");
        if record.status == ExecutionStatus::Failed {
            print_failed_logs(host, execution_id).await;
        }
    }
    Ok(if record.status == ExecutionStatus::Succeeded {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// How many lines of a failed action's log a failed run shows.
const FAILED_LOG_LINES: usize = 20;

/// The end of each failed action's log (its newest attempt's), so the cause is on screen without `sluice
/// logs`.
async fn print_failed_logs(host: &Host, execution_id: &str) {
    let Ok(actions) = host.runtime.actions(execution_id).await else {
        return;
    };
    let mut newest: BTreeMap<(String, String), &sluice_runtime::records::ActionRecord> =
        BTreeMap::new();
    for a in &actions {
        let key = (a.stage.clone(), a.action.clone());
        if newest
            .get(&key)
            .is_none_or(|b| (a.attempt, a.run) > (b.attempt, b.run))
        {
            newest.insert(key, a);
        }
    }
    for a in newest.values() {
        if a.status != sluice_runtime::records::ActionStatus::Failed {
            continue;
        }
        let path = host.log_path(&a.execution_id, &a.stage, &a.action, a.attempt);
        let tail = crate::progress::last_log_lines(&path, FAILED_LOG_LINES);
        if tail.is_empty() {
            continue;
        }
        outln!(
            "--- {}.{}: the last {} line(s) of {} ---",
            a.stage,
            a.action,
            tail.len(),
            path.display()
        );
        for l in tail {
            outln!("  {l}");
        }
    }
}

pub(crate) fn default_approvals() -> Approvals {
    if std::io::stdin().is_terminal() {
        Approvals::Ask
    } else {
        Approvals::Show
    }
}

/// Starts `sluice drive` detached, so executions go on after this command returns.
pub(crate) fn spawn_driver(state_dir: &Path) -> Result<(), UsageError> {
    let exe = std::env::current_exe()?;
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(state_dir.join("driver.log"))?;
    let mut cmd = std::process::Command::new(exe);
    cmd.arg("--state-dir")
        .arg(state_dir)
        .arg("drive")
        .stdin(std::process::Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        cmd.process_group(0);
    }
    cmd.spawn()?;
    Ok(())
}

/// Runs open executions until none is left.
pub(crate) async fn drive(host: &Host) -> CmdResult {
    let (stop, engine) = host.drive().await?;
    let mut ends = host.engine.ends();
    loop {
        // An end this process records is told at once; other processes' on the next look.
        tokio::select! {
            _ = ends.changed() => {}
            () = tokio::time::sleep(Duration::from_millis(500)) => {}
        }
        if host.runtime.open_executions().await?.is_empty() {
            break;
        }
    }
    stop.notify_one();
    let _ = engine.await;
    Ok(ExitCode::SUCCESS)
}

pub(crate) async fn resume(host: &Host, approvals: Approvals, output: Output) -> CmdResult {
    let open = host.runtime.open_executions().await?;
    if open.is_empty() {
        host.sweep().await?;
        outln!("nothing to resume");
        return Ok(ExitCode::SUCCESS);
    }
    let mut code = ExitCode::SUCCESS;
    for id in open {
        let rec = host.runtime.execution(&id).await?;
        let pipeline = host.runtime.execution_pipeline(&rec).await?.definition;
        if output == Output::Text {
            outln!("resuming {} execution {id}", rec.pipeline);
        }
        let c = follow_to_end(host, &pipeline, &id, approvals, output).await?;
        if c != ExitCode::SUCCESS {
            code = c;
        }
    }
    Ok(code)
}
