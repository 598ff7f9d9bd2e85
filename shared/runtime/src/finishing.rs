//! How runs end: recording a finished state machine run's outcome on its execution (the recorder's job in
//! AWS), and closing executions whose end was never recorded.

use tracing::{info, warn};

use crate::error::{Result, RuntimeError};
use crate::ports::RunState;
use crate::records::{execution_of_run, ExecutionRecord, ExecutionStatus, StageStatus};
use crate::runtime::{RunOutcome, Runtime};
use sluice_definition::contract::error;

impl Runtime {
    /// Closes the records of executions whose state machine run ended without the end being recorded (its
    /// status-change event was lost): every open execution not updated for `quiet_ms` whose current run the
    /// orchestrator reports ended, or missing, is finished as the orchestrator tells (a missing run as failed,
    /// `Sluice.RunLost`). Returns the ids closed. Runs still going, and orchestrators that cannot tell, are left.
    pub async fn close_lost_runs(&self, quiet_ms: i64) -> Result<Vec<String>> {
        let now = self.env.now_ms();
        let mut closed = Vec::new();
        for id in self.open_executions().await? {
            let execution = match self.execution(&id).await {
                Ok(e) => e,
                Err(RuntimeError::ExecutionNotFound(_)) => continue,
                Err(e) => return Err(e),
            };
            if execution.status.is_final() || now - execution.updated_ms < quiet_ms {
                continue;
            }
            let run = execution.run_name(execution.runs.max(1));
            let state = match self.orchestrator.run_state(&execution.pipeline, &run).await {
                Ok(state) => state,
                Err(e) => {
                    warn!(execution = %id, run, error = %e, "cannot ask how a run stands");
                    continue;
                }
            };
            let outcome = match state {
                RunState::Running | RunState::Unknown => continue,
                RunState::Succeeded => RunOutcome::Succeeded,
                RunState::Aborted => RunOutcome::Aborted,
                RunState::Failed { error, cause } => RunOutcome::Failed { error, cause },
                RunState::Missing => RunOutcome::Failed {
                    error: "Sluice.RunLost".into(),
                    cause: format!("the state machine run {run} does not exist"),
                },
            };
            warn!(execution = %id, run, ?outcome, "closing an execution whose end was not recorded");
            self.finish_run(&run, outcome).await?;
            closed.push(id);
        }
        Ok(closed)
    }

    /// Records how a state machine run ended: the execution's final status (the recorder's job in AWS).
    pub async fn finish_run(&self, run: &str, outcome: RunOutcome) -> Result<ExecutionRecord> {
        let id = execution_of_run(run);
        let status_of = |was: ExecutionStatus| match (&outcome, was) {
            (_, ExecutionStatus::Stopping) | (RunOutcome::Aborted, _) => {
                (ExecutionStatus::Stopped, Some("Stopped".to_owned()))
            }
            (RunOutcome::Succeeded, _) => (ExecutionStatus::Succeeded, None),
            (RunOutcome::Failed { error: e, .. }, _) if e == error::SUPERSEDED => (
                ExecutionStatus::Superseded,
                Some("A newer execution took this one's place.".to_owned()),
            ),
            (RunOutcome::Failed { error: e, .. }, _) if e == error::STOPPED => {
                (ExecutionStatus::Stopped, Some("Stopped".to_owned()))
            }
            (RunOutcome::Failed { error: e, cause }, _) => {
                (ExecutionStatus::Failed, Some(format!("{e}: {cause}")))
            }
        };
        let mut summary_from_stage = None;
        if let RunOutcome::Failed { .. } = outcome {
            let stages = self.stages(id).await?;
            summary_from_stage = stages.iter().rev().find_map(|s| {
                (s.status == StageStatus::Failed).then(|| {
                    format!(
                        "Stage {} failed: {}",
                        s.stage,
                        s.error.clone().unwrap_or_default()
                    )
                })
            });
        }
        let before = self.execution(id).await?;
        let record = self
            .update_execution(id, |e| {
                if e.status.is_final() {
                    return false;
                }
                let (status, summary) = status_of(e.status);
                e.status = status;
                e.status_summary = if status == ExecutionStatus::Failed {
                    summary_from_stage.clone().or(summary)
                } else {
                    summary
                };
                true
            })
            .await?;
        // Whatever way it ended, it holds no stage and waits at no gate any more.
        let definition = self.execution_definition(&record).await?;
        for stage in &definition.definition.stages {
            self.release(&record, &stage.name).await?;
        }
        self.release_waits_of(&record).await?;
        if !before.status.is_final() {
            let state = match record.status {
                ExecutionStatus::Succeeded => "SUCCEEDED",
                ExecutionStatus::Superseded => "SUPERSEDED",
                ExecutionStatus::Stopped => "STOPPED",
                _ => "FAILED",
            };
            self.publish(self.config.origin.pipeline_event(
                self.env.new_id(),
                self.env.now_ms(),
                &record.pipeline,
                id,
                record.version,
                state,
            ))
            .await;
            info!(execution = %id, status = ?record.status, "execution finished");
        }
        Ok(record)
    }
}
