//! The dispatch handler: the one entry every task of a compiled state machine calls.
//!
//! Every state change is a conditional write, so a task delivered twice (Step Functions and Lambda retry, a
//! crash and a resume) changes nothing the second time: gates re-answer, finished actions re-report their
//! outcome, running actions are left running.

use crate::error::Result;
use crate::runtime::Runtime;
use sluice_definition::contract::{error, GroupResults, TaskRequest};

impl Runtime {
    /// Handles one task of a state machine. The task's token is completed now or later (a gate that
    /// waits, an action that runs); an error means the task itself failed and should be failed with
    /// [`RuntimeError::error_name`].
    pub async fn handle(&self, request: TaskRequest) -> Result<()> {
        match request {
            TaskRequest::EnterStage {
                execution_id,
                stage,
                token,
                ..
            } => {
                let record = self.execution(&execution_id).await?;
                if self.starts_later(&record, &stage, &token).await? {
                    return Ok(());
                }
                if self.rollback_done_at(&record, &stage, &token).await? {
                    return Ok(());
                }
                self.enter(&record, &stage, &token).await
            }
            TaskRequest::RunAction {
                execution_id,
                stage,
                action,
                attempt,
                enter,
                leave,
                after_group,
                token,
                ..
            } => {
                if self
                    .group_failed(after_group.as_ref(), &stage, &token)
                    .await
                {
                    return Ok(());
                }
                let attempt = if enter {
                    match self.enter_now(&execution_id, &stage, &token).await? {
                        Some(attempt) => attempt,
                        None => return Ok(()),
                    }
                } else {
                    attempt
                };
                self.run_action(&execution_id, &stage, &action, attempt, leave, &token)
                    .await
            }
            TaskRequest::LeaveStage {
                execution_id,
                stage,
                after_group,
                token,
                ..
            } => {
                if self
                    .group_failed(after_group.as_ref(), &stage, &token)
                    .await
                {
                    return Ok(());
                }
                self.leave(&execution_id, &stage, &token).await
            }
            TaskRequest::StageFailed {
                execution_id,
                stage,
                error,
                token,
                ..
            } => {
                self.stage_failed(&execution_id, &stage, &error, &token)
                    .await
            }
            TaskRequest::RollbackStage {
                execution_id,
                stage,
                token,
                ..
            } => {
                self.rollback_failed_stage(&execution_id, &stage, &token)
                    .await
            }
        }
    }

    /// Fails the task when the parallel group before it had an action fail (the group's check, folded into
    /// the task after it). True when it did.
    async fn group_failed(&self, group: Option<&GroupResults>, stage: &str, token: &str) -> bool {
        match group.and_then(|g| g.failure(stage)) {
            Some(why) => {
                self.fail(token, error::ACTION_FAILED, &why).await;
                true
            }
            None => false,
        }
    }
}
