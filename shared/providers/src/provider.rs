//! What a provider that calls AWS is: work started with one call, then looked at again until it ends. Nothing
//! here waits: a host calls [`Provider::start`] once, and [`Provider::check`] when an event or a timer says it
//! may have moved on, keeping the [`Step::Wait`] state in between (a file locally, the store in AWS), so a
//! 40-minute stack update holds no thread and no Lambda invocation, and a host that died picks the work up
//! where it was.

use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_cloudformation::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use serde_json::Value;
use sluice_runtime::jobs::{ExternalExecution, Job, JobOutcome};
use sluice_runtime::ports::ObjectStore;

/// Everything a provider works with for one job.
pub struct Context<'a> {
    /// The job: its configuration (references resolved), inputs, outputs, role and timeout.
    pub job: &'a Job,
    /// The AWS settings it calls with: the user's standard ones locally, the action's role in AWS.
    pub sdk: &'a SdkConfig,
    /// Where the job's input artifacts are and its output artifacts go (a folder locally, S3 in AWS).
    pub objects: &'a dyn ObjectStore,
    /// A folder of the job's own, for files it fetches or makes; removed by the host.
    pub scratch: &'a Path,
    /// Whether `objects` is S3 in the account the SDK reaches: then artifacts can be handed to AWS services
    /// where they are; else they are staged in the pipeline's artifact store bucket first.
    pub objects_in_s3: bool,
    /// The role artifact credentials are minted from for providers that hand them out (Lambda); else the
    /// job's role.
    pub artifact_role: Option<String>,
}

/// Where a job stands after a call.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// It ended.
    Done(JobOutcome),
    /// It goes on outside Sluice: look again after `after` (sooner if an event says it moved).
    Wait {
        /// What the provider needs to look again (ids, the operation it started, when it started).
        state: Value,
        /// What it runs as, for people.
        external: ExternalExecution,
        /// When to look again.
        after: Duration,
    },
    /// It goes on outside Sluice and its outcome comes another way (an invoked Lambda function reports through
    /// the API): nothing more to look at.
    Detached {
        /// What it runs as, for people.
        external: ExternalExecution,
    },
}

impl Step {
    /// A failure with a message.
    pub fn failed(message: impl Into<String>) -> Self {
        Self::Done(JobOutcome::Failed {
            message: message.into(),
        })
    }
}

/// A provider that calls AWS services.
#[async_trait]
pub trait Provider: Send + Sync {
    /// Starts the job's work. An error fails the action with its message.
    async fn start(&self, ctx: &Context<'_>) -> Result<Step, String>;

    /// Looks at started work again. An error is a passing trouble (throttling, the network): the host looks
    /// again later; a failure of the work itself is `Ok(Step::Done(Failed))`.
    async fn check(&self, ctx: &Context<'_>, state: &Value) -> Result<Step, String>;

    /// Stops started work whose action was abandoned, as CodePipeline does for this provider (a CodeDeploy
    /// deployment is stopped; a stack update is left to finish).
    async fn stop(&self, _ctx: &Context<'_>, _state: &Value) {}

    /// The ids that events about this work carry (a stack id, a deployment id, an execution ARN), so a host
    /// that hears events can find the job they are about.
    fn event_ids(&self, state: &Value) -> Vec<String> {
        state["externalIds"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect()
    }
}

/// The settings a job's provider calls AWS with: `sdk` in the job's region (the action's `region`) when it
/// has one, as CodePipeline runs a cross-region action's calls in that region.
pub fn in_job_region(sdk: &SdkConfig, job: &Job) -> SdkConfig {
    match &job.region {
        Some(region) => sdk
            .to_builder()
            .region(aws_config::Region::new(region.clone()))
            .build(),
        None => sdk.clone(),
    }
}

/// The next wait when work is still going: from a quarter second, growing by half each time, at most `cap`.
pub fn backoff(previous: Duration, cap: Duration) -> Duration {
    if previous.is_zero() {
        return Duration::from_millis(250).min(cap);
    }
    (previous + previous / 2).min(cap)
}

/// How an AWS SDK error reads for people: the service's code and message when it answered, else what went
/// wrong on the way (the SDK's error with its causes).
pub fn sdk_error<E, R>(e: &SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match (e.code(), e.message()) {
        (Some(code), Some(message)) => format!("{code}: {message}"),
        (Some(code), None) => code.to_owned(),
        _ => DisplayErrorContext(e).to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_grow_by_half_up_to_the_cap() {
        let cap = Duration::from_secs(10);
        let mut d = Duration::ZERO;
        let mut seen = Vec::new();
        for _ in 0..8 {
            d = backoff(d, cap);
            seen.push(d.as_millis());
        }
        assert_eq!(seen, [250, 375, 562, 843, 1265, 1898, 2847, 4271]);
    }
}
