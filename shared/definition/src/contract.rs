//! The contract between the compiled state machine and the handlers it calls.
//!
//! The compiler writes payload templates that resolve to a [`TaskRequest`]; the dispatch handler reads them and
//! answers with the outputs below, or fails the task with one of the [`error`] names, which the state machine's
//! `Retry` and `Catch` fields name. Both sides use these definitions, so they cannot drift apart.

use serde::{Deserialize, Serialize};

/// Error names raised by handlers and matched by the generated `Retry`/`Catch` fields.
pub mod error {
    /// A transient problem (throttling, a lost connection): the task is retried with backoff.
    pub const RETRYABLE: &str = "Sluice.Retryable";
    /// An action failed: its stage fails.
    pub const ACTION_FAILED: &str = "Sluice.ActionFailed";
    /// A stage condition's rules did not pass with result FAIL (or ROLLBACK).
    pub const CONDITION_FAILED: &str = "Sluice.ConditionFailed";
    /// A stage failed: the execution fails (the final `Fail` state's error).
    pub const STAGE_FAILED: &str = "Sluice.StageFailed";
    /// A newer execution took this one's place (SUPERSEDED mode).
    pub const SUPERSEDED: &str = "Sluice.Superseded";
    /// Somebody stopped the execution.
    pub const STOPPED: &str = "Sluice.Stopped";
    /// A stage's first action could not pass the entry gate folded into it at once (a disabled transition,
    /// another execution holding the stage, a stop): the machine passes the stage's own gate, which waits.
    pub const GATE: &str = "Sluice.Gate";
    /// The first stage's entry, in a run that starts at a later stage (`startAt`, a retried stage or a
    /// rollback): the machine goes to its `Start` choice. Runs from the first stage never enter that state.
    pub const STARTS_LATER: &str = "Sluice.StartsLater";
    /// A task ran past its `TimeoutSeconds` (the States Language's own error; an approval's `Deadline`).
    pub const TIMEOUT: &str = "States.Timeout";
    /// Errors of the Lambda service itself, retried like [`RETRYABLE`].
    pub const LAMBDA_TRANSIENT: &[&str] = &[
        "Lambda.ServiceException",
        "Lambda.AWSLambdaException",
        "Lambda.SdkClientException",
        "Lambda.TooManyRequestsException",
    ];
}

/// The substitution the state machine uses for the dispatch function's ARN, filled in at deploy time.
pub const DISPATCH_FUNCTION: &str = "DispatchFunctionArn";

/// What each task of the state machine asks the dispatch handler to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all_fields = "camelCase")]
pub enum TaskRequest {
    /// Gate before a stage: honours disabled transitions, execution-mode locks and beforeEntry conditions.
    /// Answers [`GateOutput`].
    EnterStage {
        /// The pipeline's name.
        pipeline: String,
        /// The pipeline version the execution runs.
        version: u64,
        /// The pipeline execution id.
        execution_id: String,
        /// The stage.
        stage: String,
        /// The task token to complete.
        token: String,
    },
    /// Runs one action through its provider. Answers `{}` on success; fails with
    /// [`error::ACTION_FAILED`] when the action fails.
    RunAction {
        /// The pipeline's name.
        pipeline: String,
        /// The pipeline version the execution runs.
        version: u64,
        /// The pipeline execution id.
        execution_id: String,
        /// The stage.
        stage: String,
        /// The action.
        action: String,
        /// The stage attempt, from the entry gate's answer (none when the task enters the stage itself).
        #[serde(default)]
        attempt: u32,
        /// How many times Step Functions retried this task (for idempotency).
        retry: u32,
        /// The action is its stage's first, alone in its runOrder group: the task passes the stage's entry
        /// gate first (the gate is folded into it) and answers [`GateOutput`].
        #[serde(default, skip_serializing_if = "is_false")]
        enter: bool,
        /// The action is its stage's last, alone in its runOrder group: once it succeeded, the task passes
        /// the stage's exit gate too.
        #[serde(default, skip_serializing_if = "is_false")]
        leave: bool,
        /// The runOrder group before it ran in parallel: its results are checked first.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        after_group: Option<GroupResults>,
        /// The task token to complete.
        token: String,
    },
    /// Gate after a stage: evaluates onSuccess conditions, releases the stage's lock.
    LeaveStage {
        /// The pipeline's name.
        pipeline: String,
        /// The pipeline version the execution runs.
        version: u64,
        /// The pipeline execution id.
        execution_id: String,
        /// The stage.
        stage: String,
        /// The stage's last runOrder group ran in parallel: its results are checked first.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        after_group: Option<GroupResults>,
        /// The task token to complete.
        token: String,
    },
    /// Records a stage's failure and decides what follows (onFailure). Answers [`RecoveryOutput`].
    StageFailed {
        /// The pipeline's name.
        pipeline: String,
        /// The pipeline version the execution runs.
        version: u64,
        /// The pipeline execution id.
        execution_id: String,
        /// The stage.
        stage: String,
        /// The error that failed the stage, as Step Functions' Catch gave it.
        error: TaskError,
        /// The task token to complete.
        token: String,
    },
    /// Rolls a stage back to the last successful execution's revisions (onFailure/onSuccess ROLLBACK).
    RollbackStage {
        /// The pipeline's name.
        pipeline: String,
        /// The pipeline version the execution runs.
        version: u64,
        /// The pipeline execution id.
        execution_id: String,
        /// The stage.
        stage: String,
        /// The task token to complete.
        token: String,
    },
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// The results of a runOrder group that ran in parallel, handed to the task after it (the group's check is
/// folded into that task).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupResults {
    /// The group's runOrder.
    pub run_order: u32,
    /// The Parallel state's output: one entry per branch, `{"ok": true}` or the error its branch caught.
    pub results: serde_json::Map<String, serde_json::Value>,
}

impl GroupResults {
    /// Why the group failed, if a branch caught an error.
    pub fn failure(&self, stage: &str) -> Option<String> {
        self.results
            .values()
            .any(|r| r.get("Error").is_some())
            .then(|| {
                format!(
                    "An action of runOrder {} in stage {stage} failed.",
                    self.run_order
                )
            })
    }
}

/// An error as Step Functions' `Catch` records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskError {
    /// The error name.
    #[serde(rename = "Error")]
    pub error: String,
    /// The cause, often JSON text. Absent or null (a task failed without one) reads as empty.
    #[serde(rename = "Cause", default, deserialize_with = "null_as_empty")]
    pub cause: String,
}

fn null_as_empty<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(Option::<String>::deserialize(d)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_or_null_cause_reads_as_empty() {
        for text in [
            r#"{"Error":"E"}"#,
            r#"{"Error":"E","Cause":null}"#,
            r#"{"Error":"E","Cause":""}"#,
        ] {
            let e: TaskError = serde_json::from_str(text).expect(text);
            assert_eq!(e.cause, "", "{text}");
        }
    }
}

/// The entry gate's answer, kept at `$.gate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct GateOutput {
    /// The stage attempt this entry starts (1, then 2 after a retry, ...).
    pub attempt: u32,
    /// True when a beforeEntry condition with result SKIP did not pass: the stage is skipped.
    pub skip: bool,
}

/// The stage-failure task's answer, kept at `$.recovery`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecoveryOutput {
    /// What follows the failure.
    pub decision: Decision,
}

/// What follows a stage failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Decision {
    /// The execution fails.
    Fail,
    /// The stage is entered again (onFailure RETRY).
    Retry,
    /// The stage is rolled back, then the execution fails.
    Rollback,
}

/// The input each state machine execution starts with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecutionInput {
    /// The pipeline execution id (a Step Functions execution may be one attempt of it).
    pub execution_id: String,
    /// The stage to start at: the first stage, or a stage being retried by RetryStageExecution.
    pub start_at: String,
}
