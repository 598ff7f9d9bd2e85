//! What people do to executions and stages: stop (or abandon), retry a failed stage, disable and enable
//! transitions.

use std::collections::BTreeMap;

use crate::error::{Result, RuntimeError};
use crate::ports::{Condition, Order, Write};
use crate::records::{
    keys, ActionStatus, ExecutionRecord, ExecutionStatus, StageStatus, TransitionRecord, Waiter,
};
use crate::runtime::{decode, put, Runtime, Versioned};
use sluice_definition::model::RetryMode;

impl Runtime {
    /// Stops an execution: in-progress actions finish (or, with `abandon`, are abandoned at once).
    pub async fn stop_execution(
        &self,
        id: &str,
        abandon: bool,
        reason: &str,
    ) -> Result<ExecutionRecord> {
        let record = self
            .update_execution(id, |e| {
                if e.status != ExecutionStatus::InProgress {
                    return false;
                }
                e.status = ExecutionStatus::Stopping;
                e.status_summary = Some(reason.to_owned());
                e.stop_reason = Some(reason.to_owned());
                true
            })
            .await?;
        if record.status != ExecutionStatus::Stopping {
            return Err(RuntimeError::Conflict(format!(
                "execution {id} is {:?}, not InProgress",
                record.status
            )));
        }
        self.publish(self.config.origin.pipeline_event(
            self.env.new_id(),
            self.env.now_ms(),
            &record.pipeline,
            id,
            record.version,
            "STOPPING",
        ))
        .await;
        // Executions waiting at a gate stop now: nothing of theirs is running.
        self.release_waits_of(&record).await?;
        self.abandon_conditions_of(&record).await?;
        if abandon {
            for action in self.actions(id).await? {
                if action.status == ActionStatus::InProgress {
                    self.cancel_job(&action.job_id()).await;
                    self.settle_action(
                        &action,
                        ActionStatus::Abandoned,
                        None,
                        Some("Abandoned: the execution was stopped".into()),
                    )
                    .await?;
                }
            }
            self.orchestrator
                .stop_execution(&record.pipeline, &record.run_name(record.runs), reason)
                .await?;
        }
        Ok(record)
    }

    /// Runs a failed stage of an execution again (RetryStageExecution).
    pub async fn retry_stage(
        &self,
        id: &str,
        stage: &str,
        mode: RetryMode,
    ) -> Result<ExecutionRecord> {
        let current = self.execution(id).await?;
        if !matches!(
            current.status,
            ExecutionStatus::Failed | ExecutionStatus::Stopped
        ) {
            return Err(RuntimeError::Conflict(format!(
                "execution {id} is {:?}; only a failed or stopped execution can be retried",
                current.status
            )));
        }
        let stages = self.stages(id).await?;
        let last = stages
            .iter()
            .filter(|s| s.stage == stage)
            .max_by_key(|s| s.attempt)
            .ok_or_else(|| {
                RuntimeError::NotFound(format!("stage {stage} did not run in execution {id}"))
            })?;
        if !matches!(last.status, StageStatus::Failed | StageStatus::Stopped) {
            return Err(RuntimeError::Conflict(format!(
                "stage {stage} of execution {id} is {:?}; only a failed or stopped stage can be retried",
                last.status
            )));
        }
        let mode_name = match mode {
            RetryMode::FailedActions => "FAILED_ACTIONS",
            RetryMode::AllActions => "ALL_ACTIONS",
        };
        let record = self
            .update_execution(id, |e| {
                e.status = ExecutionStatus::InProgress;
                e.status_summary = None;
                e.stop_reason = None;
                e.runs += 1;
                e.retry_mode = Some(mode_name.to_owned());
                e.start_at = stage.to_owned();
                true
            })
            .await?;
        self.start_run(&record).await?;
        Ok(record)
    }

    /// Disables or enables the transition into a stage. Enabling lets waiting executions in.
    pub async fn set_transition(
        &self,
        pipeline: &str,
        stage: &str,
        enabled: bool,
        reason: &str,
        by: &str,
    ) -> Result<()> {
        let def = self.pipeline(pipeline, None).await?.definition;
        if !def.stages.iter().any(|s| s.name == stage) {
            return Err(RuntimeError::NotFound(format!(
                "pipeline {pipeline} has no stage {stage}"
            )));
        }
        let pk = keys::pipeline(pipeline);
        let sk = keys::transition(stage);
        let current = self.store.get(&pk, &sk).await?;
        if enabled {
            if let Some(c) = current {
                self.store
                    .transact(vec![Write::Delete {
                        pk,
                        sk,
                        condition: Condition::Version(c.version),
                    }])
                    .await?;
            }
            let waiters: Vec<Versioned<Waiter>> = self
                .query(
                    &keys::transition_waiters(pipeline, stage),
                    "WAIT#",
                    Order::Ascending,
                )
                .await?;
            for w in waiters {
                let removed = self
                    .store
                    .transact(vec![Write::Delete {
                        pk: keys::transition_waiters(pipeline, stage),
                        sk: keys::waiter(w.value.started_ms, &w.value.execution_id),
                        condition: Condition::Version(w.version),
                    }])
                    .await;
                if removed.is_ok() {
                    let record = self.execution(&w.value.execution_id).await?;
                    self.enter(&record, stage, &w.value.token).await?;
                }
            }
        } else {
            let record = TransitionRecord {
                reason: reason.to_owned(),
                disabled_ms: self.env.now_ms(),
                by: (!by.is_empty()).then(|| by.to_owned()),
            };
            self.store
                .transact(vec![put(pk, sk, current.map(|c| c.version), &record)?])
                .await?;
        }
        Ok(())
    }

    /// The disabled transitions of a pipeline, by stage.
    pub async fn disabled_transitions(
        &self,
        pipeline: &str,
    ) -> Result<BTreeMap<String, TransitionRecord>> {
        let items = self
            .store
            .query(
                &keys::pipeline(pipeline),
                "TRANSITION#",
                Order::Ascending,
                usize::MAX,
                None,
            )
            .await?;
        items
            .into_iter()
            .map(|i| {
                let stage = i.sk.trim_start_matches("TRANSITION#").to_owned();
                decode::<TransitionRecord>(i).map(|v| (stage, v.value))
            })
            .collect()
    }
}
