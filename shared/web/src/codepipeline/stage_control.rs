//! PutApprovalResult, EnableStageTransition, DisableStageTransition and RetryStageExecution.

use sluice_runtime::approval_quorum::Decider;
use sluice_runtime::records::{ActionStatus, ApprovalStatus};
use sluice_runtime::RuntimeError;

use crate::codepipeline::context::*;
use crate::codepipeline::errors::*;
use crate::codepipeline::types::executions::*;
use crate::codepipeline::types::pipelines::*;
use crate::codepipeline::types::state::*;

impl Api<'_> {
    pub(crate) async fn put_approval_result(
        &self,
        input: PutApprovalResultInput,
    ) -> ApiResult<PutApprovalResultOutput> {
        let (name, stage, action) = (&input.pipeline_name, &input.stage_name, &input.action_name);
        let (_, record) = self.current(name).await?;
        let stage_def = record
            .definition
            .stages
            .iter()
            .find(|s| &s.name == stage)
            .ok_or_else(|| stage_not_found(name, stage))?;
        if !stage_def.actions.iter().any(|a| &a.name == action) {
            return Err(ApiError::new(
                "ActionNotFoundException",
                format!("Stage {stage} of pipeline {name} has no action {action}"),
            ));
        }
        let invalid = || {
            ApiError::new(
                "InvalidApprovalTokenException",
                format!("The token {} is not the pending approval of {stage}.{action} in pipeline {name}", input.token),
            )
        };
        let approval = self
            .runtime
            .approval_by_token(&input.token)
            .await?
            .filter(|a| &a.pipeline == name && &a.stage == stage && &a.action == action)
            .ok_or_else(invalid)?;
        let completed = || {
            ApiError::new(
                "ApprovalAlreadyCompletedException",
                format!(
                    "The approval of {stage}.{action} in execution {} was already {:?}",
                    approval.execution_id, approval.status
                ),
            )
        };
        if approval.status != ApprovalStatus::Pending {
            return Err(completed());
        }
        // An approval whose action ended without it (timed out, stopped) has expired.
        let waiting = self
            .runtime
            .actions(&approval.execution_id)
            .await?
            .into_iter()
            .any(|a| {
                &a.stage == stage
                    && &a.action == action
                    && a.attempt == approval.attempt
                    && a.status == ActionStatus::InProgress
            });
        if !waiting {
            return Err(invalid());
        }
        let summary = Some(input.result.summary).filter(|s| !s.is_empty());
        let decided = self
            .runtime
            .decide_approval_as(
                &input.token,
                input.result.status == "Approved",
                summary,
                &Decider {
                    name: self.caller.to_owned(),
                    groups: self.groups.to_vec(),
                },
            )
            .await
            .map_err(|e| match e {
                RuntimeError::Conflict(_) => completed(),
                RuntimeError::NotFound(_) => invalid(),
                // The approval rules refuse this decider: who may decide, no self-approval, once each.
                RuntimeError::Invalid(why) => ApiError::new("ValidationException", why),
                other => other.into(),
            })?;
        Ok(PutApprovalResultOutput {
            approved_at: seconds(
                decided
                    .decided_ms
                    .unwrap_or_else(|| self.runtime.env.now_ms()),
            ),
        })
    }

    /// The stage whose inbound transition a request means: the stage itself (Inbound) or the next one
    /// (Outbound: the transition out of a stage is the one into its successor).
    pub(crate) async fn transition_target(
        &self,
        name: &str,
        stage: &str,
        transition_type: &str,
    ) -> ApiResult<String> {
        let (_, record) = self.current(name).await?;
        let stages = &record.definition.stages;
        let i = stages
            .iter()
            .position(|s| s.name == stage)
            .ok_or_else(|| stage_not_found(name, stage))?;
        if transition_type == "Inbound" {
            return Ok(stage.to_owned());
        }
        stages.get(i + 1).map(|s| s.name.clone()).ok_or_else(|| {
            ApiError::new(
                "ValidationException",
                format!("Stage {stage} is the last stage of pipeline {name}: it has no outbound transition"),
            )
        })
    }

    pub(crate) async fn enable_transition(
        &self,
        input: EnableStageTransitionInput,
    ) -> ApiResult<Empty> {
        let target = self
            .transition_target(
                &input.pipeline_name,
                &input.stage_name,
                &input.transition_type,
            )
            .await?;
        self.runtime
            .set_transition(&input.pipeline_name, &target, true, "", self.caller)
            .await?;
        Ok(Empty {})
    }

    pub(crate) async fn disable_transition(
        &self,
        input: DisableStageTransitionInput,
    ) -> ApiResult<Empty> {
        let target = self
            .transition_target(
                &input.pipeline_name,
                &input.stage_name,
                &input.transition_type,
            )
            .await?;
        self.runtime
            .set_transition(
                &input.pipeline_name,
                &target,
                false,
                &input.reason,
                self.caller,
            )
            .await?;
        Ok(Empty {})
    }

    pub(crate) async fn retry_stage(
        &self,
        input: RetryStageExecutionInput,
    ) -> ApiResult<ExecutionIdOutput> {
        let (name, stage, id) = (
            &input.pipeline_name,
            &input.stage_name,
            &input.pipeline_execution_id,
        );
        let (_, record) = self.current(name).await?;
        if !record.definition.stages.iter().any(|s| &s.name == stage) {
            return Err(stage_not_found(name, stage));
        }
        self.execution_of(name, id).await?;
        let retried = self
            .runtime
            .retry_stage(id, stage, input.retry_mode)
            .await
            .map_err(|e| match e {
                RuntimeError::Conflict(m) | RuntimeError::NotFound(m) => {
                    ApiError::new("StageNotRetryableException", m)
                }
                other => other.into(),
            })?;
        Ok(ExecutionIdOutput {
            pipeline_execution_id: retried.execution_id,
        })
    }
}
