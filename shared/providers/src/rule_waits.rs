//! The wait a DeploymentWindow rule takes while its window is closed (`Rule/AWS/DeploymentWindow` jobs): the
//! runtime decides the window with its own clock and hands the host a job that only waits `WaitMs`, so each
//! host wakes the rule with its own timers (the embedded host's task, the dispatch function's check-waiting
//! schedule in AWS). When the wait ends the job succeeds and the runtime looks at the window again.

use std::time::Duration;

use async_trait::async_trait;
use serde_json::{json, Value};
use sluice_runtime::jobs::{ExternalExecution, JobOutcome};

use crate::provider::{Context, Provider, Step};

/// The longest wait asked for.
const MAX_WAIT: Duration = Duration::from_secs(3600);

/// The DeploymentWindow rule's wait.
pub struct WindowWait;

fn waited() -> Step {
    Step::Done(JobOutcome::Succeeded {
        artifacts: Default::default(),
        variables: Default::default(),
        summary: Some("looking at the deployment window again".into()),
        revision: None,
    })
}

#[async_trait]
impl Provider for WindowWait {
    async fn start(&self, ctx: &Context<'_>) -> Result<Step, String> {
        let ms = ctx
            .job
            .configuration
            .get("WaitMs")
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(60_000);
        let after = Duration::from_millis(ms.max(1)).min(MAX_WAIT);
        Ok(Step::Wait {
            state: json!({"waitMs": ms}),
            external: ExternalExecution {
                id: ctx.job.id.clone(),
                url: None,
                summary: Some("waiting for the deployment window".into()),
            },
            after,
        })
    }

    async fn check(&self, _ctx: &Context<'_>, _state: &Value) -> Result<Step, String> {
        Ok(waited())
    }
}
