//! What happens when a stage is entered and left: disabled transitions hold an execution at the entry, the
//! execution mode's lock is taken ([`crate::locks`]), `beforeEntry` and `onSuccess` conditions are evaluated,
//! and the stage attempt is recorded and announced.

use serde_json::json;
use tracing::{info, warn};

use crate::condition_gates::Verdict;
use crate::error::{Result, RuntimeError};
use crate::ports::{Condition, Order, StoreError, Write};
use crate::records::{
    keys, ExecutionRecord, ExecutionStatus, LockHolder, StageRecord, StageStatus, Waiter,
};
use crate::rollbacks::{RollbackError, RollbackTrigger};
use crate::rule_executions::{ConditionKind, ConditionsRecord};
use crate::runtime::{find_stage, passed, put, Runtime, Versioned};
use sluice_definition::contract::{error, GateOutput};
use sluice_definition::model::{ConditionResult, ExecutionMode, Pipeline};

impl Runtime {
    /// The entry gate.
    pub(crate) async fn enter(
        &self,
        execution: &ExecutionRecord,
        stage: &str,
        token: &str,
    ) -> Result<()> {
        let id = &execution.execution_id;
        if execution.status == ExecutionStatus::Stopping {
            self.fail(token, error::STOPPED, "the execution was stopped")
                .await;
            return Ok(());
        }
        let pipeline = &execution.pipeline;
        let waiter = Waiter {
            execution_id: id.clone(),
            started_ms: execution.started_ms,
            token: token.to_owned(),
        };
        // A disabled transition holds the execution until it is enabled.
        if self
            .store
            .get(&keys::pipeline(pipeline), &keys::transition(stage))
            .await?
            .is_some()
        {
            let pk = keys::transition_waiters(pipeline, stage);
            let sk = keys::waiter(execution.started_ms, id);
            let existing = self.store.get(&pk, &sk).await?.map(|i| i.version);
            self.store
                .transact(vec![put(pk.clone(), sk.clone(), existing, &waiter)?])
                .await?;
            // Enabled meanwhile? Then go on (whoever deletes the waiter item enters it).
            if self
                .store
                .get(&keys::pipeline(pipeline), &keys::transition(stage))
                .await?
                .is_none()
            {
                if let Some(i) = self.store.get(&pk, &sk).await? {
                    let gone = self
                        .store
                        .transact(vec![Write::Delete {
                            pk,
                            sk,
                            condition: Condition::Version(i.version),
                        }])
                        .await;
                    if gone.is_ok() {
                        return Box::pin(self.enter(execution, stage, token)).await;
                    }
                }
            }
            info!(execution = %id, stage, "waiting: the transition into the stage is disabled");
            return Ok(());
        }
        let record = self.execution_definition(execution).await?;
        let definition = &record.definition;
        let mode = definition.mode();
        if mode != ExecutionMode::Parallel
            && !self
                .acquire_or_wait(execution, stage, mode, &waiter)
                .await?
        {
            return Ok(());
        }
        self.admitted(execution, definition, stage, token).await
    }

    /// A run that starts at a later stage (`startAt`: a retried stage, a rollback) reaching the first stage's
    /// entry, which every run passes first: answers [`error::STARTS_LATER`], and the machine's `Start` choice
    /// sends it on. True when it did.
    pub(crate) async fn starts_later(
        &self,
        execution: &ExecutionRecord,
        stage: &str,
        token: &str,
    ) -> Result<bool> {
        if execution.start_at.is_empty() || execution.start_at == stage {
            return Ok(false);
        }
        let definition = &self.execution_definition(execution).await?.definition;
        let later = definition.stages.first().is_some_and(|s| s.name == stage)
            && definition
                .stages
                .iter()
                .any(|s| s.name == execution.start_at);
        if later {
            let why = format!("the run starts at stage {}", execution.start_at);
            self.fail(token, error::STARTS_LATER, &why).await;
        }
        Ok(later)
    }

    /// The entry gate folded into a stage's first action (see `sluice_definition::compile`): enters at once
    /// when nothing holds the run back, else answers [`error::GATE`] so that the machine passes the stage's
    /// own gate, which waits (a disabled transition, another execution holding the stage, a stop, a
    /// rollback run). The attempt entered, or None when the task was answered.
    pub(crate) async fn enter_now(
        &self,
        id: &str,
        stage: &str,
        token: &str,
    ) -> Result<Option<u32>> {
        let execution = self.execution(id).await?;
        if self.starts_later(&execution, stage, token).await? {
            return Ok(None);
        }
        let current = self.current_stage(id, stage).await?;
        // Entered already: by the stage's gate, or by this task before it was delivered again (a stage that
        // succeeded is never entered again in the same execution, so that is a redelivery too).
        if let Some(c) = current.as_ref().filter(|c| {
            matches!(
                c.value.status,
                StageStatus::InProgress | StageStatus::Succeeded
            )
        }) {
            return Ok(Some(c.value.attempt));
        }
        let pipeline = &execution.pipeline;
        let mut clear = execution.status == ExecutionStatus::InProgress
            && execution.rollback_metadata.is_none()
            && self
                .store
                .get(&keys::pipeline(pipeline), &keys::transition(stage))
                .await?
                .is_none();
        if clear {
            let record = self.execution_definition(&execution).await?;
            let definition = &record.definition;
            find_stage(definition, stage)?;
            clear = definition.mode() == ExecutionMode::Parallel
                || self.try_lock(&keys::lock(pipeline, stage), id).await?;
        }
        if !clear {
            self.fail(token, error::GATE, "the stage's own entry gate decides")
                .await;
            return Ok(None);
        }
        let attempt = current.map_or(1, |c| c.value.attempt + 1);
        if self
            .record_attempt(&execution, stage, attempt, StageStatus::InProgress, None)
            .await?
        {
            info!(execution = %id, stage, attempt, "stage entered");
        }
        Ok(Some(attempt))
    }

    /// Records a stage attempt that starts now (in progress, skipped or failed) and announces it. False when
    /// a concurrent delivery recorded it first: nothing is announced twice.
    async fn record_attempt(
        &self,
        execution: &ExecutionRecord,
        stage: &str,
        attempt: u32,
        status: StageStatus,
        error: Option<String>,
    ) -> Result<bool> {
        let id = &execution.execution_id;
        let now = self.env.now_ms();
        let record = StageRecord {
            execution_id: id.clone(),
            stage: stage.to_owned(),
            attempt,
            status,
            started_ms: now,
            updated_ms: now,
            error,
        };
        let put = put(
            keys::execution(id),
            keys::stage(stage, attempt),
            None,
            &record,
        )?;
        match self.store.transact(vec![put]).await {
            Ok(()) => {}
            Err(StoreError::ConditionFailed(_)) => return Ok(false),
            Err(e) => return Err(e.into()),
        }
        let state = match status {
            StageStatus::InProgress => "STARTED",
            StageStatus::Failed => "FAILED",
            _ => "SKIPPED",
        };
        self.publish(self.config.origin.stage_event(
            self.env.new_id(),
            now,
            &execution.pipeline,
            id,
            execution.version,
            stage,
            state,
        ))
        .await;
        Ok(true)
    }

    /// The execution may enter: evaluate beforeEntry, record the stage attempt, answer the gate.
    pub(crate) async fn admitted(
        &self,
        execution: &ExecutionRecord,
        definition: &Pipeline,
        stage: &str,
        token: &str,
    ) -> Result<()> {
        let id = &execution.execution_id;
        find_stage(definition, stage)?;
        let previous: Vec<Versioned<StageRecord>> = self
            .query(
                &keys::execution(id),
                &keys::stage_prefix(stage),
                Order::Descending,
            )
            .await?;
        // A re-delivered entry of an attempt in progress answers the same.
        if let Some(p) = previous
            .first()
            .filter(|p| p.value.status == StageStatus::InProgress)
        {
            let out = GateOutput {
                attempt: p.value.attempt,
                skip: false,
            };
            self.succeed(token, json!(out)).await;
            return Ok(());
        }
        // A skipped stage is never entered again; an entry delivered again re-answers it.
        if let Some(p) = previous
            .first()
            .filter(|p| p.value.status == StageStatus::Skipped)
        {
            self.release(execution, stage).await?;
            let out = GateOutput {
                attempt: p.value.attempt,
                skip: true,
            };
            self.succeed(token, json!(out)).await;
            return Ok(());
        }
        let attempt = previous.first().map_or(1, |p| p.value.attempt + 1);
        let verdict = self
            .gate_conditions(
                execution,
                definition,
                stage,
                ConditionKind::BeforeEntry,
                attempt,
                token,
            )
            .await?;
        if verdict == Verdict::Waiting {
            info!(execution = %id, stage, attempt, "waiting: the stage's entry conditions are being evaluated");
            return Ok(());
        }
        self.entry_decided(execution, stage, attempt, verdict, token)
            .await
    }

    /// The entry conditions are decided: record the stage attempt (in progress, skipped or failed), announce
    /// it and answer the entry gate.
    pub(crate) async fn entry_decided(
        &self,
        execution: &ExecutionRecord,
        stage: &str,
        attempt: u32,
        verdict: Verdict,
        token: &str,
    ) -> Result<()> {
        let id = &execution.execution_id;
        let (status, skip, failure) = match verdict {
            Verdict::Passed | Verdict::Waiting => (StageStatus::InProgress, false, None),
            Verdict::Failed(ConditionResult::Skip, why) => (StageStatus::Skipped, true, Some(why)),
            Verdict::Failed(_, why) => (StageStatus::Failed, false, Some(why)),
        };
        let error = failure.clone().filter(|_| status == StageStatus::Failed);
        if !self
            .record_attempt(execution, stage, attempt, status, error)
            .await?
        {
            // A concurrent delivery recorded it: answer like it.
            self.succeed(
                token,
                json!(GateOutput {
                    attempt,
                    skip: false
                }),
            )
            .await;
            return Ok(());
        }
        match status {
            StageStatus::Failed => {
                self.release(execution, stage).await?;
                let why = failure.unwrap_or_default();
                self.fail(token, error::CONDITION_FAILED, &why).await;
            }
            _ => {
                if skip {
                    self.release(execution, stage).await?;
                }
                info!(execution = %id, stage, attempt, skip, "stage entered");
                self.succeed(token, json!(GateOutput { attempt, skip }))
                    .await;
            }
        }
        Ok(())
    }

    /// Stage conditions decided after their gate was left waiting: the gate goes on with the token they kept,
    /// unless the execution ended meanwhile.
    pub(crate) async fn conditions_decided(
        &self,
        execution: &ExecutionRecord,
        definition: &Pipeline,
        record: ConditionsRecord,
        verdict: Verdict,
    ) -> Result<()> {
        let execution = self.execution(&execution.execution_id).await?;
        if execution.status.is_final() {
            return Ok(());
        }
        match record.kind {
            ConditionKind::BeforeEntry => {
                self.entry_decided(
                    &execution,
                    &record.stage,
                    record.attempt,
                    verdict,
                    &record.token,
                )
                .await
            }
            ConditionKind::OnSuccess => {
                self.exit_decided(
                    &execution,
                    definition,
                    &record.stage,
                    verdict,
                    &record.token,
                )
                .await
            }
            ConditionKind::OnFailure => {
                let stage_def = find_stage(definition, &record.stage)?;
                self.failure_conditions_decided(&execution, stage_def, &record, &verdict)
                    .await
            }
        }
    }

    /// The exit gate.
    pub(crate) async fn leave(&self, id: &str, stage: &str, token: &str) -> Result<()> {
        let execution = self.execution(id).await?;
        let record = self.execution_definition(&execution).await?;
        let definition = &record.definition;
        find_stage(definition, stage)?;
        let Some(current) = self.current_stage(id, stage).await? else {
            return Err(RuntimeError::Corrupt(format!(
                "stage {stage} left without being entered"
            )));
        };
        if current.value.status == StageStatus::Succeeded {
            // A re-delivery (the first may have died before letting go of the stage).
            self.release(&execution, stage).await?;
            self.succeed(token, passed(current.value.attempt)).await;
            return Ok(());
        }
        let verdict = self
            .gate_conditions(
                &execution,
                definition,
                stage,
                ConditionKind::OnSuccess,
                current.value.attempt,
                token,
            )
            .await?;
        if verdict == Verdict::Waiting {
            info!(execution = %id, stage, "waiting: the stage's success conditions are being evaluated");
            return Ok(());
        }
        self.exit_decided(&execution, definition, stage, verdict, token)
            .await
    }

    /// The success conditions are decided: a failed condition fails the stage (ROLLBACK also starts the
    /// stage's rollback); else the stage succeeded and lets go of its lock.
    pub(crate) async fn exit_decided(
        &self,
        execution: &ExecutionRecord,
        definition: &Pipeline,
        stage: &str,
        verdict: Verdict,
        token: &str,
    ) -> Result<()> {
        let id = &execution.execution_id;
        if let Verdict::Failed(result, why) = verdict {
            if result == ConditionResult::Rollback && execution.rollback_metadata.is_none() {
                let trigger = RollbackTrigger::Automated {
                    execution_id: id.clone(),
                };
                match self
                    .start_rollback(&execution.pipeline, stage, None, trigger)
                    .await
                {
                    Ok(rollback) => {
                        info!(execution = %id, stage, rollback = %rollback.execution_id, "success condition failed: stage rolled back");
                    }
                    Err(RollbackError::Runtime(e)) => return Err(e),
                    Err(e) => {
                        warn!(execution = %id, stage, reason = %e, "success condition failed: the stage is not rolled back");
                    }
                }
            }
            self.fail(token, error::CONDITION_FAILED, &why).await;
            return Ok(());
        }
        let _ = find_stage(definition, stage)?;
        let Some(current) = self.current_stage(id, stage).await? else {
            return Err(RuntimeError::Corrupt(format!(
                "stage {stage} left without being entered"
            )));
        };
        if current.value.status == StageStatus::Succeeded {
            self.release(execution, stage).await?;
            self.succeed(token, passed(current.value.attempt)).await;
            return Ok(());
        }
        let mut done = current.value.clone();
        done.status = StageStatus::Succeeded;
        done.updated_ms = self.env.now_ms();
        let succeeded = put(
            keys::execution(id),
            keys::stage(stage, done.attempt),
            Some(current.version),
            &done,
        )?;
        // The stage's success and letting go of its lock are one commit; when the lock changed meanwhile,
        // they are written one after the other as before.
        let lock_pk = keys::lock(&execution.pipeline, stage);
        let held = self
            .read::<LockHolder>(&lock_pk, keys::HOLDER)
            .await?
            .filter(|h| h.value.execution_id == *id);
        let released = match &held {
            Some(h) => {
                let writes = vec![
                    succeeded.clone(),
                    Write::Delete {
                        pk: lock_pk,
                        sk: keys::HOLDER.into(),
                        condition: Condition::Version(h.version),
                    },
                ];
                match self.store.transact(writes).await {
                    Ok(()) => true,
                    Err(StoreError::ConditionFailed(_)) => {
                        self.store.transact(vec![succeeded]).await?;
                        false
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            None => {
                self.store.transact(vec![succeeded]).await?;
                true
            }
        };
        self.publish(self.config.origin.stage_event(
            self.env.new_id(),
            done.updated_ms,
            &execution.pipeline,
            id,
            execution.version,
            stage,
            "SUCCEEDED",
        ))
        .await;
        match (released, held.is_some()) {
            (true, true) => self.wake_next(&execution.pipeline, stage).await?,
            (true, false) => {}
            (false, _) => self.release(execution, stage).await?,
        }
        info!(execution = %id, stage, "stage succeeded");
        self.succeed(token, passed(done.attempt)).await;
        Ok(())
    }

    pub(crate) async fn current_stage(
        &self,
        id: &str,
        stage: &str,
    ) -> Result<Option<Versioned<StageRecord>>> {
        Ok(self
            .query::<StageRecord>(
                &keys::execution(id),
                &keys::stage_prefix(stage),
                Order::Descending,
            )
            .await?
            .into_iter()
            .next())
    }
}
