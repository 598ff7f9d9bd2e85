//! A failed stage attempt: recorded (its running actions failed or abandoned with it), its lock released,
//! and what follows decided from `onFailure` (fail, retry once, roll back: the `S (rollback)` task then
//! starts the rollback execution, `crate::rollbacks`; a rollback execution itself is never rolled back).
//!
//! onFailure conditions are CodePipeline's: when the stage fails their rules are evaluated (recorded as rule
//! executions, as beforeEntry's are, `condition_gates.rs`), and the result applies only when every rule
//! passes; a rule that does not pass leaves the stage failed. While rules run the `S (failed)` task's token
//! waits on the conditions record and is answered when they are decided
//! ([`Runtime::failure_conditions_decided`]); a redelivered task adopts the evaluation begun before.

use serde_json::json;
use tracing::info;

use crate::condition_gates::Verdict;
use crate::error::Result;
use crate::records::{keys, ActionStatus, ExecutionRecord, ExecutionStatus, StageStatus};
use crate::rule_executions::{ConditionKind, ConditionsRecord};
use crate::runtime::{find_stage, put, Runtime};
use sluice_definition::contract::{error, Decision, RecoveryOutput, TaskError};
use sluice_definition::model::{ConditionResult, Stage};

/// What follows a failed stage attempt when onFailure's conditions (if any) are met: onFailure's result (or
/// its condition's), one automatic retry at most.
pub(crate) fn decide_recovery(stage: &Stage, attempt: u32) -> Decision {
    let Some(on_failure) = &stage.on_failure else {
        return Decision::Fail;
    };
    let result = on_failure.result.or_else(|| {
        on_failure
            .conditions
            .iter()
            .flatten()
            .find_map(|c| c.result)
    });
    match result {
        Some(ConditionResult::Retry) if attempt < 2 => Decision::Retry,
        Some(ConditionResult::Rollback) => Decision::Rollback,
        _ => Decision::Fail,
    }
}

/// Whether the stage's onFailure has conditions whose rules decide.
fn has_failure_conditions(stage: &Stage) -> bool {
    stage
        .on_failure
        .as_ref()
        .and_then(|f| f.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.rules.iter().flatten().next().is_some()))
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
        let definition = self.execution_pipeline(&execution).await?.definition;
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
                        let timed_out = failure.error == error::TIMEOUT;
                        let why = self
                            .approval_ended(&action, timed_out)
                            .await?
                            .unwrap_or_else(|| message.clone());
                        self.settle_action(&action, status, None, Some(why)).await?;
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
        let planned = if stopped || failure.error == error::SUPERSEDED {
            Decision::Fail
        } else {
            planned_recovery(&execution, stage_def, attempt)
        };
        let decision = if planned != Decision::Fail && has_failure_conditions(stage_def) {
            let verdict = self
                .gate_conditions(
                    &execution,
                    &definition,
                    stage,
                    ConditionKind::OnFailure,
                    attempt,
                    token,
                )
                .await?;
            match verdict {
                Verdict::Waiting => {
                    info!(execution = %id, stage, attempt, "waiting: the stage's failure conditions are being evaluated");
                    return Ok(());
                }
                verdict => self.met_or_not(id, stage, planned, &verdict).await?,
            }
        } else {
            planned
        };
        info!(execution = %id, stage, ?decision, "stage failed");
        self.succeed(token, json!(RecoveryOutput { decision }))
            .await;
        Ok(())
    }

    /// onFailure conditions decided after the `S (failed)` task was left waiting: it is answered now with
    /// the token they kept.
    pub(crate) async fn failure_conditions_decided(
        &self,
        execution: &ExecutionRecord,
        stage_def: &Stage,
        record: &ConditionsRecord,
        verdict: &Verdict,
    ) -> Result<()> {
        let planned = planned_recovery(execution, stage_def, record.attempt);
        let decision = self
            .met_or_not(&execution.execution_id, &record.stage, planned, verdict)
            .await?;
        info!(execution = %execution.execution_id, stage = %record.stage, ?decision, "stage failed; failure conditions decided");
        self.succeed(&record.token, json!(RecoveryOutput { decision }))
            .await;
        Ok(())
    }

    /// The decision once the onFailure conditions are decided: the planned one when they are met, else FAIL
    /// (and the failed stage says why).
    async fn met_or_not(
        &self,
        id: &str,
        stage: &str,
        planned: Decision,
        verdict: &Verdict,
    ) -> Result<Decision> {
        match verdict {
            Verdict::Passed => Ok(planned),
            Verdict::Waiting => Ok(Decision::Fail),
            Verdict::Failed(_, why) => {
                let what = match planned {
                    Decision::Rollback => "not rolled back",
                    _ => "not retried",
                };
                self.note_on_stage(id, stage, &format!("{what}: {why}"))
                    .await?;
                Ok(Decision::Fail)
            }
        }
    }
}

/// onFailure's decision for a stage attempt, before its conditions: a rollback execution that fails is not
/// rolled back in turn.
fn planned_recovery(execution: &ExecutionRecord, stage_def: &Stage, attempt: u32) -> Decision {
    match decide_recovery(stage_def, attempt) {
        Decision::Rollback if execution.rollback_metadata.is_some() => Decision::Fail,
        decision => decision,
    }
}
