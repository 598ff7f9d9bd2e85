//! Requests and responses of PutActionRevision and ListDeployActionExecutionTargets.

use serde::{Deserialize, Serialize};

/// PutActionRevision's input.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PutActionRevisionInput {
    pub pipeline_name: String,
    pub stage_name: String,
    pub action_name: String,
    pub action_revision: ActionRevisionIn,
}

/// The revision a source reports.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ActionRevisionIn {
    pub revision_id: String,
    pub revision_change_id: String,
    #[allow(dead_code)]
    pub created: serde_json::Value,
}

/// PutActionRevision's output.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PutActionRevisionOutput {
    pub new_revision: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pipeline_execution_id: Option<String>,
}

/// ListDeployActionExecutionTargets' input.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ListDeployTargetsInput {
    pub pipeline_name: Option<String>,
    pub action_execution_id: String,
    pub filters: Option<Vec<TargetFilter>>,
    pub max_results: Option<usize>,
    pub next_token: Option<String>,
}

/// A filter on the targets.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TargetFilter {
    pub name: Option<String>,
    pub values: Option<Vec<String>>,
}

/// ListDeployActionExecutionTargets' output.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ListDeployTargetsOutput {
    pub targets: Vec<DeployTarget>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

/// One target of a deploy action.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeployTarget {
    pub target_id: String,
    pub target_type: String,
    pub status: String,
    pub start_time: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_time: Option<f64>,
    pub events: Vec<DeployTargetEvent>,
}

/// One event of a target's deployment.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeployTargetEvent {
    pub name: String,
    pub status: String,
    pub start_time: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_time: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context: Option<DeployTargetEventContext>,
}

/// What an event says.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeployTargetEventContext {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}
