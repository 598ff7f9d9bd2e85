//! RollbackStage's request, and what executions show of a rollback.

use serde::{Deserialize, Serialize};

/// RollbackStage's input.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RollbackStageInput {
    /// The pipeline.
    pub pipeline_name: String,
    /// The stage to roll back.
    pub stage_name: String,
    /// The execution to roll the stage back to.
    pub target_pipeline_execution_id: String,
}

/// A rollback execution's `rollbackMetadata`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PipelineRollbackMetadata {
    /// The execution the stage was rolled back to.
    pub rollback_target_pipeline_execution_id: String,
}
