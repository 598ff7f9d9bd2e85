//! The dispatch function: the handler every task of a compiled state machine invokes (a `TaskRequest` with its
//! task token), over [`Runtime::handle`]. A failure is reported under the runtime's stable error name
//! (`Sluice.Retryable` for what the state machine retries, `Sluice.InternalError` otherwise): Lambda reports it
//! as `errorType`, which is the error name Step Functions' `Retry`/`Catch` match.
//!
//! CodeBuild build state-change events reach this function too (template rule); Sluice starts no CodeBuild
//! builds yet, so they are acknowledged and ignored.

use aws_config::SdkConfig;
use lambda_runtime::Diagnostic;
use serde_json::{json, Value};
use sluice_aws::ApprovalNotices;
use sluice_core::contract::TaskRequest;
use sluice_core::runtime::dispatch::Runtime;
use tracing::{info, warn};

use crate::config::DispatchConfig;
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
    pub runtime: Runtime,
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
            ..Default::default()
        };
        Ok(Self {
            runtime: wiring::runtime(&sdk, &config.common, settings)?,
        })
    }

    /// Answers one invocation.
    pub async fn handle(&self, event: Value) -> Result<Value, TaskFailure> {
        handle(&self.runtime, event).await
    }
}

/// Answers one invocation: a task request, or a CodeBuild event (ignored).
pub async fn handle(runtime: &Runtime, event: Value) -> Result<Value, TaskFailure> {
    if event.get("source").and_then(Value::as_str) == Some("aws.codebuild") {
        let build = event
            .pointer("/detail/build-id")
            .and_then(Value::as_str)
            .unwrap_or("");
        info!(
            build,
            "CodeBuild event ignored: Sluice starts no CodeBuild builds yet"
        );
        return Ok(json!({"ignored": "Sluice starts no CodeBuild builds yet"}));
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
