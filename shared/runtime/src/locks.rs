//! Execution-mode locks: in QUEUED and SUPERSEDED mode one execution holds a stage at a time; the others wait
//! in the lock's partition (first come, first served), or are superseded by a newer one.

use tracing::info;

use crate::error::Result;
use crate::ports::{Condition, Order, StoreError, Write};
use crate::records::{keys, ExecutionRecord, ExecutionStatus, LockHolder, Waiter};
use crate::runtime::{decode, put, Runtime, Versioned};
use sluice_definition::contract::error;
use sluice_definition::model::ExecutionMode;

impl Runtime {
    /// Takes the stage's lock, or records the execution as waiting for it. True when taken.
    pub(crate) async fn acquire_or_wait(
        &self,
        execution: &ExecutionRecord,
        stage: &str,
        mode: ExecutionMode,
        waiter: &Waiter,
    ) -> Result<bool> {
        let id = &execution.execution_id;
        let lock_pk = keys::lock(&execution.pipeline, stage);
        if self.try_lock(&lock_pk, id).await? {
            return Ok(true);
        }
        if mode == ExecutionMode::Superseded {
            // A newer execution replaces older ones waiting for the same stage.
            let waiting: Vec<Versioned<Waiter>> =
                self.query(&lock_pk, "WAIT#", Order::Ascending).await?;
            for w in waiting {
                if w.value.execution_id == *id {
                    continue;
                }
                if w.value.started_ms <= execution.started_ms {
                    self.supersede(&lock_pk, &w).await?;
                } else {
                    // A newer one already waits: this one is superseded at once.
                    self.fail(
                        &waiter.token,
                        error::SUPERSEDED,
                        "a newer execution is waiting for this stage",
                    )
                    .await;
                    return Ok(false);
                }
            }
        }
        let sk = keys::waiter(execution.started_ms, id);
        let existing = self.store.get(&lock_pk, &sk).await?.map(|i| i.version);
        self.store
            .transact(vec![put(lock_pk.clone(), sk.clone(), existing, waiter)?])
            .await?;
        // The holder may have left between our attempt and our waiting: try once more.
        if let Some(i) = self.store.get(&lock_pk, &sk).await? {
            if self.try_lock(&lock_pk, id).await? {
                let _ = self
                    .store
                    .transact(vec![Write::Delete {
                        pk: lock_pk,
                        sk,
                        condition: Condition::Version(i.version),
                    }])
                    .await;
                return Ok(true);
            }
        }
        info!(execution = %id, stage, "waiting: another execution holds the stage");
        Ok(false)
    }

    pub(crate) async fn try_lock(&self, lock_pk: &str, id: &str) -> Result<bool> {
        let holder = LockHolder {
            execution_id: id.to_owned(),
        };
        match self
            .store
            .transact(vec![put(
                lock_pk.to_owned(),
                keys::HOLDER.into(),
                None,
                &holder,
            )?])
            .await
        {
            Ok(()) => Ok(true),
            Err(StoreError::ConditionFailed(_)) => {
                let current: Option<Versioned<LockHolder>> =
                    self.read(lock_pk, keys::HOLDER).await?;
                Ok(current.is_some_and(|h| h.value.execution_id == id))
            }
            Err(e) => Err(e.into()),
        }
    }

    pub(crate) async fn supersede(&self, lock_pk: &str, w: &Versioned<Waiter>) -> Result<()> {
        let deleted = self
            .store
            .transact(vec![Write::Delete {
                pk: lock_pk.to_owned(),
                sk: keys::waiter(w.value.started_ms, &w.value.execution_id),
                condition: Condition::Version(w.version),
            }])
            .await;
        if deleted.is_ok() {
            info!(execution = %w.value.execution_id, "superseded");
            self.fail(
                &w.value.token,
                error::SUPERSEDED,
                "a newer execution took this one's place",
            )
            .await;
        }
        Ok(())
    }

    /// Releases a stage's lock and lets the next waiting execution in.
    pub(crate) async fn release(&self, execution: &ExecutionRecord, stage: &str) -> Result<()> {
        let lock_pk = keys::lock(&execution.pipeline, stage);
        let holder: Option<Versioned<LockHolder>> = self.read(&lock_pk, keys::HOLDER).await?;
        let Some(h) = holder.filter(|h| h.value.execution_id == execution.execution_id) else {
            return Ok(());
        };
        self.store
            .transact(vec![Write::Delete {
                pk: lock_pk.clone(),
                sk: keys::HOLDER.into(),
                condition: Condition::Version(h.version),
            }])
            .await?;
        self.wake_next(&execution.pipeline, stage).await
    }

    pub(crate) async fn wake_next(&self, pipeline: &str, stage: &str) -> Result<()> {
        let lock_pk = keys::lock(pipeline, stage);
        let waiting: Vec<Versioned<Waiter>> =
            self.query(&lock_pk, "WAIT#", Order::Ascending).await?;
        // QUEUED: first come, first served. SUPERSEDED: only the newest is left waiting anyway.
        let Some(next) = waiting.into_iter().next() else {
            return Ok(());
        };
        let holder = LockHolder {
            execution_id: next.value.execution_id.clone(),
        };
        let taken = self
            .store
            .transact(vec![
                put(lock_pk.clone(), keys::HOLDER.into(), None, &holder)?,
                Write::Delete {
                    pk: lock_pk,
                    sk: keys::waiter(next.value.started_ms, &next.value.execution_id),
                    condition: Condition::Version(next.version),
                },
            ])
            .await;
        match taken {
            Ok(()) => {
                let record = self.execution(&next.value.execution_id).await?;
                if record.status == ExecutionStatus::Stopping {
                    self.fail(
                        &next.value.token,
                        error::STOPPED,
                        "the execution was stopped",
                    )
                    .await;
                    return Box::pin(self.release(&record, stage)).await;
                }
                let definition = self.execution_pipeline(&record).await?.definition;
                Box::pin(self.admitted(&record, &definition, stage, &next.value.token)).await
            }
            // Someone else took the lock or the waiter: they will wake the rest.
            Err(StoreError::ConditionFailed(_)) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Removes an execution's waits at every gate (it stopped): their tasks fail with Sluice.Stopped.
    pub(crate) async fn release_waits_of(&self, execution: &ExecutionRecord) -> Result<()> {
        let definition = self.execution_pipeline(execution).await?.definition;
        for stage in &definition.stages {
            for pk in [
                keys::lock(&execution.pipeline, &stage.name),
                keys::transition_waiters(&execution.pipeline, &stage.name),
            ] {
                let sk = keys::waiter(execution.started_ms, &execution.execution_id);
                let Some(i) = self.store.get(&pk, &sk).await? else {
                    continue;
                };
                let w: Versioned<Waiter> = decode(i)?;
                let gone = self
                    .store
                    .transact(vec![Write::Delete {
                        pk,
                        sk,
                        condition: Condition::Version(w.version),
                    }])
                    .await;
                if gone.is_ok() {
                    self.fail(&w.value.token, error::STOPPED, "the execution was stopped")
                        .await;
                }
            }
        }
        Ok(())
    }
}
