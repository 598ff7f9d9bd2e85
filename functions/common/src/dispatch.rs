//! The dispatch function: the handler every task of a compiled state machine invokes (a `TaskRequest` with its
//! task token), over [`Runtime::handle`]. A failure is reported under the runtime's stable error name
//! (`Sluice.Retryable` for what the state machine retries, `Sluice.InternalError` otherwise): Lambda reports it
//! as `errorType`, which is the error name Step Functions' `Retry`/`Catch` match.
//!
//! CodeBuild build state-change events reach this function too (template rule): a finished build of a Sluice job
//! completes its action ([`crate::builds`]); other builds' events are acknowledged and ignored. So do the state
//! changes of CloudFormation stacks, ECS deployments, CodeDeploy deployments and Step Functions executions, and
//! the one-minute `{"sluice": "check-waiting"}`: each looks at the AWS actions waiting on that work
//! ([`crate::waits`]); the one-minute check also sends the approval reminders that fell due.

use std::sync::Arc;

use aws_config::SdkConfig;
use lambda_runtime::Diagnostic;
use serde_json::{json, Value};
use sluice_aws::ApprovalNotices;
use sluice_definition::contract::TaskRequest;
use sluice_runtime::Runtime;
use tracing::{info, warn};

use crate::config::DispatchConfig;
use crate::executor::AwsExecutor;
use crate::wiring::{self, RuntimeSettings, WiringError};

/// The error name of an event that is neither a task request nor a build event.
pub const INVALID_REQUEST: &str = "Sluice.InvalidRequest";

/// A failed invocation: a stable error name and a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{name}: {message}")]
pub struct TaskFailure {
    /// The error name Step Functions sees.
    pub name: String,
    /// What went wrong.
    pub message: String,
}

impl From<TaskFailure> for Diagnostic {
    fn from(f: TaskFailure) -> Self {
        Diagnostic {
            error_type: f.name,
            error_message: f.message,
        }
    }
}

/// The dispatch function's dependencies.
pub struct Dispatch {
    /// The runtime over the AWS adapters.
    pub runtime: Arc<Runtime>,
    /// The runtime's executor, which started the builds whose events arrive here.
    pub executor: Arc<AwsExecutor>,
}

impl Dispatch {
    /// Builds clients and adapters, and reads the approval-link key, once.
    pub async fn connect(config: DispatchConfig) -> Result<Self, WiringError> {
        let sdk: SdkConfig = wiring::sdk().await;
        let link_key = wiring::secret(&sdk, &config.approval_key_secret_arn).await?;
        let settings = RuntimeSettings {
            account: config.account.clone(),
            bucket: config.bucket.clone(),
            approvals: Some(ApprovalNotices {
                topic_arn: config.approval_topic_arn.clone(),
                base_url: config.approval_url.trim_end_matches('/').to_owned(),
                link_key,
            }),
            commands_project: config.commands_project.clone(),
            sources_project: config.sources_project.clone(),
            artifact_role: config.artifact_role_arn.clone(),
            ..Default::default()
        };
        let wired = wiring::runtime(&sdk, &config.common, settings)?;
        Ok(Self {
            runtime: wired.runtime,
            executor: wired.executor,
        })
    }

    /// Answers one invocation.
    pub async fn handle(&self, event: Value) -> Result<Value, TaskFailure> {
        handle(&self.runtime, &self.executor, event).await
    }
}

/// The sources of the state-change events that move waiting AWS actions on (template rule).
pub const PROVIDER_EVENT_SOURCES: [&str; 4] = [
    "aws.cloudformation",
    "aws.ecs",
    "aws.codedeploy",
    "aws.states",
];

fn retryable(message: String) -> TaskFailure {
    warn!(error = %message, "could not look at waiting jobs");
    TaskFailure {
        name: sluice_definition::contract::error::RETRYABLE.into(),
        message,
    }
}

/// Answers one invocation: a task request, a CodeBuild build's state change, an AWS service's state change
/// about a waiting action, or the check-waiting schedule.
pub async fn handle(
    runtime: &Runtime,
    executor: &AwsExecutor,
    event: Value,
) -> Result<Value, TaskFailure> {
    if event.get("source").and_then(Value::as_str) == Some("aws.codebuild") {
        return build_changed(runtime, executor, &event).await;
    }
    if PROVIDER_EVENT_SOURCES.contains(
        &event
            .get("source")
            .and_then(Value::as_str)
            .unwrap_or_default(),
    ) {
        let looked = executor.provider_event(&event).await.map_err(retryable)?;
        return Ok(json!({"lookedAt": looked}));
    }
    if event.get("sluice").and_then(Value::as_str) == Some("check-waiting") {
        let looked = executor.check_due().await.map_err(retryable)?;
        // Approval reminders (`Reminders`) fall due by the minute too: each is claimed once, however many
        // instances sweep, and published on the approval topic and the action's NotificationArn.
        let reminded = match runtime.send_due_reminders().await {
            Ok(n) => n,
            Err(e) => {
                warn!(error = %e, "approval reminders not sent this minute");
                0
            }
        };
        return Ok(json!({"lookedAt": looked, "remindersSent": reminded}));
    }
    let request: TaskRequest = serde_json::from_value(event).map_err(|e| {
        warn!(error = %e, "not a task request");
        TaskFailure {
            name: INVALID_REQUEST.into(),
            message: format!("not a task request: {e}"),
        }
    })?;
    match runtime.handle(request).await {
        Ok(()) => Ok(json!({})),
        Err(e) => {
            warn!(error = %e, error_name = e.error_name(), "task failed");
            Err(TaskFailure {
                name: e.error_name().into(),
                message: e.to_string(),
            })
        }
    }
}

/// A CodeBuild build changed state: a finished build of a Sluice job completes its action.
async fn build_changed(
    runtime: &Runtime,
    executor: &AwsExecutor,
    event: &Value,
) -> Result<Value, TaskFailure> {
    let build = event
        .pointer("/detail/build-id")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let finished = executor.build_finished(event).await.map_err(|message| {
        warn!(build, error = %message, "cannot finish a build's job");
        TaskFailure {
            name: sluice_definition::contract::error::RETRYABLE.into(),
            message,
        }
    })?;
    let Some((job, outcome)) = finished else {
        return Ok(json!({"ignored": format!("build {build} finishes no Sluice job")}));
    };
    info!(build, job = %job.id, "build finished its job");
    runtime.complete_job(&job, outcome).await.map_err(|e| {
        warn!(error = %e, error_name = e.error_name(), "could not complete a build's job");
        TaskFailure {
            name: e.error_name().into(),
            message: e.to_string(),
        }
    })?;
    Ok(json!({"completed": job.id}))
}
