//! RollbackStage, and how executions show a rollback: `executionType` ROLLBACK and `rollbackMetadata`.

use sluice_runtime::records::ExecutionRecord;
use sluice_runtime::rollbacks::{RollbackError, RollbackTrigger};
use sluice_runtime::RuntimeError;

use crate::codepipeline::context::*;
use crate::codepipeline::errors::*;
use crate::codepipeline::types::executions::ExecutionIdOutput;
use crate::codepipeline::types::rollbacks::*;

/// An execution's `executionType`: ROLLBACK for a rollback execution, else STANDARD.
pub(crate) fn execution_type(e: &ExecutionRecord) -> &'static str {
    if e.rollback_metadata.is_some() {
        "ROLLBACK"
    } else {
        "STANDARD"
    }
}

/// A rollback execution's `rollbackMetadata`.
pub(crate) fn rollback_metadata(e: &ExecutionRecord) -> Option<PipelineRollbackMetadata> {
    e.rollback_metadata
        .as_ref()
        .map(|m| PipelineRollbackMetadata {
            rollback_target_pipeline_execution_id: m.rollback_target_pipeline_execution_id.clone(),
        })
}

impl Api<'_> {
    pub(crate) async fn rollback_stage(
        &self,
        input: RollbackStageInput,
    ) -> ApiResult<ExecutionIdOutput> {
        let (name, stage, target) = (
            &input.pipeline_name,
            &input.stage_name,
            &input.target_pipeline_execution_id,
        );
        self.current(name).await?;
        let trigger = RollbackTrigger::Manual {
            caller: self.caller.to_owned(),
        };
        let started = self
            .runtime
            .start_rollback(name, stage, Some(target), trigger)
            .await
            .map_err(|e| match e {
                RollbackError::StageNotFound(_) => stage_not_found(name, stage),
                RollbackError::NotV2(m) => ApiError::new("ValidationException", m),
                RollbackError::Outdated(m) => {
                    ApiError::new("PipelineExecutionOutdatedException", m)
                }
                RollbackError::Unable(m) => ApiError::new("UnableToRollbackStageException", m),
                RollbackError::Conflict(m) => ApiError::new("ConflictException", m),
                RollbackError::Runtime(RuntimeError::ExecutionNotFound(_)) => {
                    Self::execution_not_found(name, target)
                }
                RollbackError::Runtime(RuntimeError::PipelineNotFound(_)) => {
                    self.pipeline_not_found(name)
                }
                RollbackError::Runtime(other) => other.into(),
            })?;
        Ok(ExecutionIdOutput {
            pipeline_execution_id: started.execution_id,
        })
    }
}
