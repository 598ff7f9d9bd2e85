//! Requests and responses of GetPipelineState and the stage control operations (approvals, transitions,
//! retries).

use serde::{Deserialize, Serialize};
use sluice_definition::RetryMode;
use sluice_runtime::records::{ActionStatus, StageStatus};

use crate::codepipeline::types::executions::*;
use crate::codepipeline::types::rules::StageConditionStateOut;

/// GetPipelineState's input (and other inputs that name only a pipeline).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GetPipelineStateInput {
    /// The pipeline.
    pub name: String,
}

/// GetPipelineState's output.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GetPipelineStateOutput {
    /// The pipeline.
    pub pipeline_name: String,
    /// Its newest version.
    pub pipeline_version: u64,
    /// Each stage of the newest version, in order.
    pub stage_states: Vec<StageState>,
    /// When the pipeline was created.
    pub created: f64,
    /// When its newest version was made.
    pub updated: f64,
}

/// A stage's state.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StageState {
    /// The stage.
    pub stage_name: String,
    /// The transition into it.
    pub inbound_transition_state: TransitionState,
    /// Its actions, in definition order.
    pub action_states: Vec<ActionState>,
    /// The latest execution that entered it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latest_execution: Option<StageExecution>,
    /// Its beforeEntry conditions' latest evaluation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before_entry_condition_state: Option<StageConditionStateOut>,
    /// Its onSuccess conditions' latest evaluation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub on_success_condition_state: Option<StageConditionStateOut>,
    /// Its onFailure conditions' latest evaluation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub on_failure_condition_state: Option<StageConditionStateOut>,
}

/// The transition into a stage.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TransitionState {
    /// Whether executions may enter.
    pub enabled: bool,
    /// Why not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disabled_reason: Option<String>,
    /// When it was disabled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_changed_at: Option<f64>,
    /// Who disabled it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_changed_by: Option<String>,
}

/// An execution's passage through a stage.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StageExecution {
    /// The execution.
    pub pipeline_execution_id: String,
    /// The stage's status in it.
    pub status: StageStatus,
    /// STANDARD, or ROLLBACK when a rollback execution ran the stage.
    #[serde(rename = "type")]
    pub kind: &'static str,
}

/// An action's state.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionState {
    /// The action.
    pub action_name: String,
    /// Its revision, for a source action that ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_revision: Option<ActionRevision>,
    /// Its latest attempt.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latest_execution: Option<ActionExecution>,
    /// For an approval: its ExternalEntityLink.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entity_url: Option<String>,
    /// A link to the source revision.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revision_url: Option<String>,
}

/// A source action's current revision.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionRevision {
    /// The revision.
    pub revision_id: String,
    /// Its change identifier (the revision again).
    pub revision_change_id: String,
    /// When the action recorded it.
    pub created: f64,
}

/// An action's latest attempt.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionExecution {
    /// The attempt's id.
    pub action_execution_id: String,
    /// Its status.
    pub status: ActionStatus,
    /// A summary.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// When its status last changed.
    pub last_status_change: f64,
    /// A pending manual approval's token, for PutApprovalResult.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// What ran it outside Sluice (a stack, a deployment, an execution), else the job's id.
    pub external_execution_id: String,
    /// A link to it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_execution_url: Option<String>,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_details: Option<ErrorDetails>,
}

/// PutApprovalResult's input.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PutApprovalResultInput {
    /// The pipeline.
    pub pipeline_name: String,
    /// The approval's stage.
    pub stage_name: String,
    /// The approval action.
    pub action_name: String,
    /// The decision.
    pub result: ApprovalResult,
    /// The approval's token (from GetPipelineState).
    pub token: String,
}

/// An approval decision.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ApprovalResult {
    /// Why.
    pub summary: String,
    /// Approved or Rejected.
    pub status: String,
}

/// PutApprovalResult's output.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PutApprovalResultOutput {
    /// When the decision was recorded.
    pub approved_at: f64,
}

/// EnableStageTransition's input.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EnableStageTransitionInput {
    /// The pipeline.
    pub pipeline_name: String,
    /// The stage.
    pub stage_name: String,
    /// Inbound (into the stage) or Outbound (out of it, into the next stage).
    pub transition_type: String,
}

/// DisableStageTransition's input.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DisableStageTransitionInput {
    /// The pipeline.
    pub pipeline_name: String,
    /// The stage.
    pub stage_name: String,
    /// Inbound or Outbound.
    pub transition_type: String,
    /// Why.
    pub reason: String,
}

/// RetryStageExecution's input.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RetryStageExecutionInput {
    /// The pipeline.
    pub pipeline_name: String,
    /// The failed stage.
    pub stage_name: String,
    /// The execution.
    pub pipeline_execution_id: String,
    /// FAILED_ACTIONS or ALL_ACTIONS.
    pub retry_mode: RetryMode,
}
