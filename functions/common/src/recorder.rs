//! The recorder function: closes execution records however the state machine ended. (1) `Step Functions
//! Execution Status Change` events for Sluice's state machines: [`Runtime::finish_run`] (which releases stage
//! locks and emits the pipeline event), the pipeline result on the notification topic, and the
//! `ExecutionsFailed` metric. (2) The five-minute `{"sluice": "sweep"}`: closes the records of executions whose
//! end event was lost ([`Runtime::close_lost_runs`]: DescribeExecution of every open execution quiet for
//! [`LOST_AFTER_MS`]), then the `OldestRunningExecutionAgeSeconds` and `OldestWaitingApprovalAgeSeconds` metrics.

use std::sync::Arc;

use aws_config::SdkConfig;
use serde_json::{json, Value};
use sluice_runtime::ports::Order;
use sluice_runtime::records::{
    keys, ApprovalRecord, ApprovalStatus, ExecutionRecord, ExecutionStatus,
};
use sluice_runtime::{RunOutcome, Runtime, RuntimeError};
use tracing::{info, warn};

use crate::config::RecorderConfig;
use crate::dispatch::{TaskFailure, INVALID_REQUEST};
use crate::metrics;
use crate::wiring::{self, RuntimeSettings, WiringError};

/// How long an open execution stays unchanged before the sweep asks Step Functions how its run stands.
pub const LOST_AFTER_MS: i64 = 10 * 60 * 1000;

/// The recorder's dependencies.
pub struct Recorder {
    /// The runtime over the AWS adapters.
    pub runtime: Arc<Runtime>,
    /// Settings.
    pub config: RecorderConfig,
    /// Where pipeline results are published.
    pub sns: aws_sdk_sns::Client,
}

impl Recorder {
    /// Builds clients and adapters once.
    pub async fn connect(config: RecorderConfig) -> Result<Self, WiringError> {
        let sdk: SdkConfig = wiring::sdk().await;
        let settings = RuntimeSettings {
            account: config.account.clone(),
            ..Default::default()
        };
        Ok(Self {
            runtime: wiring::runtime(&sdk, &config.common, settings)?.runtime,
            sns: aws_sdk_sns::Client::new(&sluice_aws::sfn::control_plane(&sdk)),
            config,
        })
    }

    /// Answers one event.
    pub async fn handle(&self, event: Value) -> Result<Value, TaskFailure> {
        if event.get("sluice").and_then(Value::as_str) == Some("sweep") {
            return sweep(
                &self.runtime,
                &self.config.common.metrics_namespace,
                LOST_AFTER_MS,
            )
            .await;
        }
        let Some(ended) = ended(&event, &self.config.common.state_machine_prefix)? else {
            return Ok(json!({"ignored": "not the end of a Sluice execution"}));
        };
        let record = match self.runtime.finish_run(&ended.run, ended.outcome).await {
            Ok(r) => r,
            Err(RuntimeError::ExecutionNotFound(id)) => {
                warn!(run = %ended.run, execution = %id, "status change for an unknown execution");
                return Ok(json!({"ignored": format!("no execution {id}")}));
            }
            Err(e) => return Err(failure(e)),
        };
        let failed = record.status == ExecutionStatus::Failed;
        metrics::emit(
            &self.config.common.metrics_namespace,
            "ExecutionsFailed",
            "Count",
            if failed { 1.0 } else { 0.0 },
            self.runtime.env.now_ms(),
        );
        self.notify(&record).await;
        info!(pipeline = %record.pipeline, execution = %record.execution_id, status = ?record.status, "execution closed");
        Ok(json!({
            "pipeline": record.pipeline,
            "pipelineExecutionId": record.execution_id,
            "status": record.status,
        }))
    }

    /// Publishes the result; a failure is logged (the record and the event are what count).
    async fn notify(&self, record: &ExecutionRecord) {
        let message = result_message(record);
        let sent = self
            .sns
            .publish()
            .topic_arn(&self.config.notification_topic_arn)
            .subject(format!("Sluice: {} {:?}", record.pipeline, record.status))
            .message(message.to_string())
            .send()
            .await;
        if let Err(e) = sent {
            warn!(error = %aws_sdk_sns::error::DisplayErrorContext(&e), "cannot publish the pipeline result");
        }
    }
}

/// The notification of a closed execution.
pub fn result_message(record: &ExecutionRecord) -> Value {
    json!({
        "pipeline": record.pipeline,
        "pipelineExecutionId": record.execution_id,
        "status": record.status,
        "statusSummary": record.status_summary,
    })
}

/// A run that ended, read from a status-change event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ended {
    /// The Step Functions execution name: the run name.
    pub run: String,
    /// How it ended.
    pub outcome: RunOutcome,
}

/// Reads a `Step Functions Execution Status Change` event: the ended run of a state machine with `prefix`, or
/// None for a status that is no end (RUNNING) or a state machine that is not Sluice's.
pub fn ended(event: &Value, prefix: &str) -> Result<Option<Ended>, TaskFailure> {
    let invalid = |m: &str| TaskFailure {
        name: INVALID_REQUEST.into(),
        message: m.to_owned(),
    };
    if event.get("detail-type").and_then(Value::as_str)
        != Some("Step Functions Execution Status Change")
    {
        return Err(invalid(
            "expected a Step Functions Execution Status Change event or {\"sluice\": \"sweep\"}",
        ));
    }
    let detail = event.get("detail").ok_or_else(|| invalid("no detail"))?;
    let text = |k: &str| detail.get(k).and_then(Value::as_str).unwrap_or("");
    // arn:aws:states:<region>:<account>:stateMachine:<name>[:<version>]
    let machine = text("stateMachineArn").split(':').nth(6).unwrap_or("");
    if !machine.starts_with(prefix) {
        return Ok(None);
    }
    let run = text("name");
    if run.is_empty() {
        return Err(invalid("the event's detail has no execution name"));
    }
    let outcome = match text("status") {
        "SUCCEEDED" => RunOutcome::Succeeded,
        "ABORTED" => RunOutcome::Aborted,
        "TIMED_OUT" => RunOutcome::Failed {
            error: "States.Timeout".into(),
            cause: "the state machine timed out".into(),
        },
        "FAILED" => RunOutcome::Failed {
            error: text("error").to_owned(),
            cause: text("cause").to_owned(),
        },
        _ => return Ok(None),
    };
    Ok(Some(Ended {
        run: run.to_owned(),
        outcome,
    }))
}

fn failure(e: RuntimeError) -> TaskFailure {
    TaskFailure {
        name: e.error_name().into(),
        message: e.to_string(),
    }
}

/// The sweep: closes executions whose run ended unrecorded (quiet for `lost_after_ms`), then the ages of the
/// oldest running execution and of the oldest waiting approval (0 when none).
pub async fn sweep(
    runtime: &Runtime,
    namespace: &str,
    lost_after_ms: i64,
) -> Result<Value, TaskFailure> {
    let closed = runtime
        .close_lost_runs(lost_after_ms)
        .await
        .map_err(failure)?;
    let now = runtime.env.now_ms();
    let mut oldest_ms = now;
    let open = runtime.open_executions().await.map_err(failure)?;
    for id in &open {
        match runtime.execution(id).await {
            Ok(e) if !e.status.is_final() => oldest_ms = oldest_ms.min(e.started_ms),
            Ok(_) | Err(RuntimeError::ExecutionNotFound(_)) => {}
            Err(e) => return Err(failure(e)),
        }
    }
    let age_s = (now - oldest_ms).max(0) / 1000;
    metrics::emit(
        namespace,
        "OldestRunningExecutionAgeSeconds",
        "Seconds",
        age_s as f64,
        now,
    );
    let approval_ms = oldest_waiting_approval(runtime).await?.unwrap_or(now);
    let approval_s = (now - approval_ms).max(0) / 1000;
    metrics::emit(
        namespace,
        "OldestWaitingApprovalAgeSeconds",
        "Seconds",
        approval_s as f64,
        now,
    );
    Ok(json!({
        "closed": closed,
        "open": open.len(),
        "oldestRunningExecutionAgeSeconds": age_s,
        "oldestWaitingApprovalAgeSeconds": approval_s,
    }))
}

/// When the oldest approval still waiting was requested: pending approvals of Manual actions of every
/// pipeline's current version, in executions that have not ended.
async fn oldest_waiting_approval(runtime: &Runtime) -> Result<Option<i64>, TaskFailure> {
    const PAGE: usize = 100;
    let mut oldest: Option<i64> = None;
    for head in runtime.list_pipelines().await.map_err(failure)? {
        let record = runtime.pipeline(&head.name, None).await.map_err(failure)?;
        let manual = record.definition.actions().filter(|(_, _, _, a)| {
            a.action_type_id.category == "Approval" && a.action_type_id.provider == "Manual"
        });
        for (_, _, stage, action) in manual {
            let pk = keys::approval(&head.name, &stage.name, &action.name);
            let mut after: Option<String> = None;
            loop {
                let page = runtime
                    .store
                    .query(&pk, "", Order::Ascending, PAGE, after.as_deref())
                    .await
                    .map_err(|e| failure(e.into()))?;
                after = page.last().map(|i| i.sk.clone());
                let done = page.len() < PAGE;
                for item in page {
                    let Ok(a) = serde_json::from_value::<ApprovalRecord>(item.data) else {
                        warn!(pk = %item.pk, sk = %item.sk, "unreadable approval record");
                        continue;
                    };
                    if a.status != ApprovalStatus::Pending
                        || oldest.is_some_and(|o| o <= a.requested_ms)
                    {
                        continue;
                    }
                    match runtime.execution(&a.execution_id).await {
                        Ok(e) if !e.status.is_final() => oldest = Some(a.requested_ms),
                        Ok(_) | Err(RuntimeError::ExecutionNotFound(_)) => {}
                        Err(e) => return Err(failure(e)),
                    }
                }
                if done {
                    break;
                }
            }
        }
    }
    Ok(oldest)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(machine: &str, status: &str) -> Value {
        json!({
            "source": "aws.states",
            "detail-type": "Step Functions Execution Status Change",
            "detail": {
                "executionArn": format!("arn:aws:states:us-east-1:123456789012:execution:{machine}:e-1"),
                "stateMachineArn": format!("arn:aws:states:us-east-1:123456789012:stateMachine:{machine}:3"),
                "name": "e-1",
                "status": status,
                "error": "Sluice.StageFailed",
                "cause": "Build failed",
            }
        })
    }

    fn check(machine: &str, status: &str, expected: Option<RunOutcome>) {
        let got = ended(&event(machine, status), "sluice-").expect("read");
        assert_eq!(got.map(|e| e.outcome), expected, "{machine} {status}");
    }

    #[test]
    fn reads_how_a_sluice_state_machine_ended() {
        check("sluice-p", "SUCCEEDED", Some(RunOutcome::Succeeded));
        check("sluice-p", "ABORTED", Some(RunOutcome::Aborted));
        check(
            "sluice-p",
            "FAILED",
            Some(RunOutcome::Failed {
                error: "Sluice.StageFailed".into(),
                cause: "Build failed".into(),
            }),
        );
        check("sluice-p", "RUNNING", None);
        check("someone-elses", "SUCCEEDED", None);
    }

    #[test]
    fn refuses_an_event_of_another_kind() {
        let err = ended(&json!({"detail-type": "Object Created"}), "sluice-").expect_err("refused");
        assert_eq!(err.name, INVALID_REQUEST);
    }
}
