//! Jobs in AWS. This version of Sluice runs no provider's jobs inside AWS (there is no CodeBuild, Lambda-invoke
//! or deploy integration yet): such actions fail with a message that says so. Manual approvals are answered by
//! the runtime itself, and custom actions are queued for job workers (PollForJobs through the api function)
//! before the executor is asked, so both work.

use async_trait::async_trait;
use sluice_core::runtime::jobs::{Executor, Job};

/// The executor of the dispatch function: it refuses every job, naming its provider.
#[derive(Debug, Default, Clone, Copy)]
pub struct NotInAws;

/// Why a job of `job`'s provider does not run.
pub fn refusal(job: &Job) -> String {
    let t = &job.action_type;
    format!(
        "provider {}/{}/{} is not run in AWS by this version of Sluice: in AWS only Manual approvals and \
         custom actions (for job workers) run; run this pipeline with `sluice run` or `sluice serve`",
        t.category, t.owner, t.provider
    )
}

#[async_trait]
impl Executor for NotInAws {
    async fn start(&self, job: Job) -> Result<(), String> {
        Err(refusal(&job))
    }

    async fn is_running(&self, _job_id: &str) -> bool {
        false
    }

    async fn cancel(&self, _job_id: &str) {}
}
