//! A failed stage attempt: recorded (its running actions failed or abandoned with it), its lock released,
//! and what follows decided from `onFailure` (fail, retry once, roll back: the `S (rollback)` task then
//! starts the rollback execution, `crate::rollbacks`; a rollback execution itself is never rolled back).

use serde_json::json;
use tracing::info;

use crate::error::Result;
use crate::records::{keys, ActionStatus, ExecutionStatus, StageStatus};
use crate::runtime::{find_stage, put, Runtime};
use sluice_definition::contract::{error, Decision, RecoveryOutput, TaskError};
use sluice_definition::model::{ConditionResult, Stage};

/// What follows a failed stage attempt: onFailure's result, one automatic retry at most.
pub(crate) fn decide_recovery(stage: &Stage, attempt: u32) -> Decision {
    let Some(on_failure) = &stage.on_failure else {
        return Decision::Fail;
    };
    match on_failure.result {
        Some(ConditionResult::Retry) if attempt < 2 => Decision::Retry,
        Some(ConditionResult::Rollback) => Decision::Rollback,
        _ => Decision::Fail,
    }
}

/// A failure as people read it: the cause, else the error name.
pub(crate) fn failure_message(failure: &TaskError) -> String {
    if failure.cause.is_empty() {
        failure.error.clone()
    } else if failure.error == error::ACTION_FAILED {
        failure.cause.clone()
    } else {
        format!("{}: {}", failure.error, failure.cause)
    }
}

impl Runtime {
    /// Records a stage's failure and decides what follows.
    pub(crate) async fn stage_failed(
        &self,
        id: &str,
        stage: &str,
        failure: &TaskError,
        token: &str,
    ) -> Result<()> {
        let execution = self.execution(id).await?;
        let definition = self
            .pipeline(&execution.pipeline, Some(execution.version))
            .await?
            .definition;
        let stage_def = find_stage(&definition, stage)?;
        let stopped =
            failure.error == error::STOPPED || execution.status == ExecutionStatus::Stopping;
        let message = failure_message(failure);
        let mut attempt = 1;
        if let Some(current) = self.current_stage(id, stage).await? {
            attempt = current.value.attempt;
            if current.value.status == StageStatus::InProgress {
                let mut done = current.value.clone();
                done.status = if stopped {
                    StageStatus::Stopped
                } else {
                    StageStatus::Failed
                };
                done.error = Some(message.clone());
                done.updated_ms = self.env.now_ms();
                self.store
                    .transact(vec![put(
                        keys::execution(id),
                        keys::stage(stage, attempt),
                        Some(current.version),
                        &done,
                    )?])
                    .await?;
                // Actions still marked running failed with the stage (a timeout, a lost worker).
                for action in self.actions(id).await? {
                    if action.stage == stage
                        && action.attempt == attempt
                        && action.status == ActionStatus::InProgress
                    {
                        self.cancel_job(&action.job_id()).await;
                        let status = if stopped {
                            ActionStatus::Abandoned
                        } else {
                            ActionStatus::Failed
                        };
                        self.settle_action(&action, status, None, Some(message.clone()))
                            .await?;
                    }
                }
                self.publish(self.config.origin.stage_event(
                    self.env.new_id(),
                    done.updated_ms,
                    &execution.pipeline,
                    id,
                    execution.version,
                    stage,
                    if stopped { "STOPPED" } else { "FAILED" },
                ))
                .await;
            }
        }
        self.release(&execution, stage).await?;
        let decision = if stopped || failure.error == error::SUPERSEDED {
            Decision::Fail
        } else {
            match decide_recovery(stage_def, attempt) {
                // A rollback execution that fails is not rolled back in turn.
                Decision::Rollback if execution.rollback_metadata.is_some() => Decision::Fail,
                decision => decision,
            }
        };
        info!(execution = %id, stage, ?decision, "stage failed");
        self.succeed(token, json!(RecoveryOutput { decision }))
            .await;
        Ok(())
    }
}
