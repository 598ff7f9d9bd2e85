//! `sluice serve`'s source poller: every `SLUICE_SOURCE_POLL_SECONDS` (default 60; 0 turns it off) it reads the
//! newest revision of each polled source (`PollForSourceChanges`, see [`sluice_runtime::source_polls`]) and
//! starts an execution of the pipeline when one changed: a GitHub (version 1) or CodeCommit branch's commit
//! (`git ls-remote`, with the credentials [`sluice_agent::git`] describes), an S3 source's object in the local
//! buckets (its version). A source that cannot be read is logged and tried again next time.

use std::sync::Arc;
use std::time::Duration;

use sluice_agent::git::{process_env, provider_of, GitRemote};
use sluice_definition::model::Pipeline;
use sluice_runtime::records::RevisionOverride;
use sluice_runtime::runtime::Runtime;
use sluice_runtime::source_polls::{PollOutcome, PolledKind, PolledSource};

/// How often the poller looks, from `SLUICE_SOURCE_POLL_SECONDS`; `None`: not at all.
pub(crate) fn interval() -> Option<Duration> {
    let seconds = std::env::var("SLUICE_SOURCE_POLL_SECONDS")
        .ok()
        .and_then(|s| s.trim().parse::<f64>().ok())
        .unwrap_or(60.0);
    (seconds > 0.0).then(|| Duration::from_secs_f64(seconds))
}

/// Polls until the task is aborted.
pub(crate) async fn poll_forever(runtime: Arc<Runtime>, every: Duration) {
    loop {
        poll_once(&runtime).await;
        tokio::time::sleep(every).await;
    }
}

/// One round over every pipeline's polled sources.
pub(crate) async fn poll_once(runtime: &Runtime) {
    let pipelines = match runtime.polled_pipelines().await {
        Ok(p) => p,
        Err(e) => {
            eprintln!("sluice: source poll: cannot list pipelines: {e}");
            return;
        }
    };
    for (pipeline, sources) in pipelines {
        for source in sources {
            let found = match newest(runtime, &pipeline, &source).await {
                Ok(Some(found)) => found,
                Ok(None) => continue,
                Err(e) => {
                    eprintln!(
                        "sluice: source poll of {}.{}: {e}",
                        pipeline.name, source.action
                    );
                    continue;
                }
            };
            let (revision, pin) = found;
            match runtime
                .source_polled(&pipeline.name, &source.action, &revision, pin)
                .await
            {
                Ok(PollOutcome::Started { execution_id }) => eprintln!(
                    "sluice: {}.{} changed to {revision}: started execution {execution_id}",
                    pipeline.name, source.action
                ),
                Ok(_) => {}
                Err(e) => eprintln!(
                    "sluice: source poll of {}.{}: {e}",
                    pipeline.name, source.action
                ),
            }
        }
    }
}

/// The source's newest revision and how an execution is pinned to it; `None` when there is nothing to read
/// (a branch or object that does not exist yet).
async fn newest(
    runtime: &Runtime,
    pipeline: &Pipeline,
    source: &PolledSource,
) -> Result<Option<(String, Option<RevisionOverride>)>, String> {
    let pin = |revision_type: &str, value: &str| RevisionOverride {
        action_name: source.action.clone(),
        revision_type: revision_type.into(),
        revision_value: value.into(),
    };
    match &source.kind {
        PolledKind::S3 { bucket, key } => match runtime.objects.head(bucket, key).await {
            Ok(info) => {
                let revision = if info.version_id.is_empty() {
                    info.sha256
                } else {
                    info.version_id
                };
                Ok(Some((revision.clone(), None)))
            }
            Err(sluice_runtime::objects::ObjectError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.to_string()),
        },
        PolledKind::CodeCommit { .. } | PolledKind::GitHub { .. } => {
            let action = pipeline
                .actions()
                .map(|(_, _, _, a)| a)
                .find(|a| a.name == source.action)
                .ok_or("the action is gone")?;
            let provider = provider_of(&action.action_type_id).ok_or("not a git source")?;
            let config = action.configuration.clone().unwrap_or_default();
            let remote = GitRemote::for_action(provider, &config, &process_env)?;
            let head = tokio::task::spawn_blocking(move || remote.branch_head())
                .await
                .map_err(|e| e.to_string())??;
            Ok(head.map(|sha| (sha.clone(), Some(pin("COMMIT_ID", &sha)))))
        }
    }
}
