//! The dispatch handler: the one entry every task of a compiled state machine calls.
//!
//! Every state change is a conditional write, so a task delivered twice (Step Functions and Lambda retry, a
//! crash and a resume) changes nothing the second time: gates re-answer, finished actions re-report their
//! outcome, running actions are left running.

use crate::error::Result;
use crate::runtime::Runtime;
use sluice_definition::contract::TaskRequest;

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
                token,
                ..
            } => {
                self.run_action(&execution_id, &stage, &action, attempt, &token)
                    .await
            }
            TaskRequest::LeaveStage {
                execution_id,
                stage,
                token,
                ..
            } => self.leave(&execution_id, &stage, &token).await,
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
}
