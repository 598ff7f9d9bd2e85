//! Rolling a stage back, as CodePipeline does: a rollback is an execution of its own (execution type
//! ROLLBACK) that runs only the rolled-back stage again, with the source revisions, artifacts and variables of
//! the target, the last execution that succeeded through that stage.
//!
//! - [`Runtime::start_rollback`] is the one entry: RollbackStage (trigger `ManualRollback`, a target given), a
//!   failed stage's onFailure ROLLBACK and a stage condition's ROLLBACK (trigger `AutomatedRollback`, the
//!   target found). An automated rollback starts once per failed execution and stage, however often it is
//!   asked for: its `ROLLBACK#<execution>#<stage>` record is written in the same transaction as the execution.
//! - The rollback execution starts its run at the stage (`startAt`, as a retry does). It reads the target's
//!   action records for every other stage (`Runtime::readable_actions` in `inputs.rs`), so its input artifacts
//!   are the target's objects and its `#{namespace.variable}` values the target's; its own records hold only
//!   the stage it runs. When it reaches the next stage's entry gate the rolled-back stage is done: the
//!   execution is recorded SUCCEEDED and its run ends there ([`Runtime::rollback_done_at`]).
//! - One rollback of a stage runs at a time: a `ROLLING#<stage>` record under the pipeline names it, taken in
//!   the rollback's own transaction (a racing RollbackStage is refused, ConflictException) and taken over once
//!   the rollback it names has ended.
//! - A target must be of the pipeline's current version, not a rollback itself, and have succeeded through the
//!   stage (its latest attempt of it); a source stage, a stage running in some execution and a V1 pipeline
//!   cannot be rolled back.

use serde_json::json;
use tracing::{info, warn};

use crate::error::RuntimeError;
use crate::ports::StoreError;
use crate::records::{
    keys, ClientRequestRecord, ExecutionRecord, ExecutionStatus, RollbackMetadata, StageStatus,
    TriggerInfo,
};
use crate::runtime::{put, Runtime};
use sluice_definition::contract::error;
use sluice_definition::model::{Pipeline, PipelineType};

/// Who asked for a rollback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RollbackTrigger {
    /// The runtime, for a stage that failed (onFailure ROLLBACK) or whose condition said ROLLBACK in
    /// `execution_id`: trigger type `AutomatedRollback`, at most one rollback per execution and stage.
    Automated {
        /// The execution whose stage failed.
        execution_id: String,
    },
    /// RollbackStage: trigger type `ManualRollback`.
    Manual {
        /// Who called (an access key id, a user name).
        caller: String,
    },
}

/// Why a stage cannot be rolled back; each is one of CodePipeline's exceptions.
#[derive(Debug, thiserror::Error)]
pub enum RollbackError {
    /// The pipeline has no such stage (StageNotFoundException).
    #[error("{0}")]
    StageNotFound(String),
    /// The pipeline is not of type V2 (ValidationException).
    #[error("{0}")]
    NotV2(String),
    /// The target ran an older version of the pipeline (PipelineExecutionOutdatedException).
    #[error("{0}")]
    Outdated(String),
    /// The stage or target does not allow it: a source stage, a stage in progress, a target that did not
    /// succeed through the stage or is a rollback, or none to roll back to (UnableToRollbackStageException).
    #[error("{0}")]
    Unable(String),
    /// A rollback of the stage is in progress already (ConflictException).
    #[error("{0}")]
    Conflict(String),
    /// The pipeline or target execution is unknown, or the store failed.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
}

type Result<T, E = RollbackError> = std::result::Result<T, E>;

/// The sort key (under the pipeline) of a stage's rollback lock: the rollback execution rolling it back.
fn rolling_key(stage: &str) -> String {
    format!("ROLLING#{stage}")
}

/// Whether an execution succeeded through `stage`: its latest attempt of it succeeded.
fn succeeded_through(stages: &[crate::records::StageRecord], stage: &str) -> bool {
    stages
        .iter()
        .filter(|s| s.stage == stage)
        .max_by_key(|s| s.attempt)
        .is_some_and(|s| s.status == StageStatus::Succeeded)
}

/// The checks on the pipeline and stage themselves.
fn check_stage(definition: &Pipeline, stage: &str) -> Result<()> {
    let name = &definition.name;
    let stage_def = definition
        .stages
        .iter()
        .find(|s| s.name == stage)
        .ok_or_else(|| {
            RollbackError::StageNotFound(format!("pipeline {name} has no stage {stage}"))
        })?;
    if definition.pipeline_type != Some(PipelineType::V2) {
        return Err(RollbackError::NotV2(format!(
            "pipeline {name} is of type V1: only stages of V2 pipelines can be rolled back"
        )));
    }
    if stage_def
        .actions
        .iter()
        .any(|a| a.action_type_id.category == "Source")
    {
        return Err(RollbackError::Unable(format!(
            "stage {stage} of pipeline {name} holds source actions: a source stage cannot be rolled back"
        )));
    }
    Ok(())
}

impl Runtime {
    /// Rolls `stage` of `pipeline` back to `target` (RollbackStage), or, with no target, to the newest
    /// execution of the pipeline's current version that succeeded through it: starts the rollback execution
    /// and answers it. An automated rollback asked for again answers the one it started.
    pub async fn start_rollback(
        &self,
        pipeline: &str,
        stage: &str,
        target: Option<&str>,
        trigger: RollbackTrigger,
    ) -> Result<ExecutionRecord> {
        let record = self.pipeline(pipeline, None).await?;
        let definition = &record.definition;
        check_stage(definition, stage)?;
        let once = match &trigger {
            RollbackTrigger::Automated { execution_id } => {
                Some(keys::rollback(execution_id, stage))
            }
            RollbackTrigger::Manual { .. } => None,
        };
        if let Some(sk) = &once {
            if let Some(started) = self.rollback_started(pipeline, sk).await? {
                return Ok(started);
            }
        }
        let version = definition.version.unwrap_or(1);
        let target = match target {
            Some(id) => self.checked_target(pipeline, stage, version, id).await?,
            None => self.last_good(pipeline, stage, version).await?.ok_or_else(|| {
                RollbackError::Unable(format!(
                    "no execution of version {version} of pipeline {pipeline} succeeded through stage \
                     {stage}: there is nothing to roll back to"
                ))
            })?,
        };
        let lock_version = self.rollback_lock(pipeline, stage).await?;
        self.check_not_running(pipeline, stage).await?;

        let now = self.env.now_ms();
        let trigger = match trigger {
            RollbackTrigger::Automated { execution_id } => TriggerInfo {
                trigger_type: "AutomatedRollback".into(),
                trigger_detail: execution_id,
                pushed_by: None,
            },
            RollbackTrigger::Manual { caller } => TriggerInfo {
                trigger_type: "ManualRollback".into(),
                trigger_detail: caller,
                pushed_by: None,
            },
        };
        let execution = ExecutionRecord {
            pipeline: pipeline.to_owned(),
            execution_id: self.env.new_id(),
            version,
            serial: record.execution_serial(),
            status: ExecutionStatus::InProgress,
            status_summary: None,
            trigger,
            variables: target.variables.clone(),
            source_revisions: target.source_revisions.clone(),
            started_ms: now,
            updated_ms: now,
            runs: 1,
            retry_mode: None,
            start_at: stage.to_owned(),
            stop_reason: None,
            revision_overrides: Vec::new(),
            rollback_metadata: Some(RollbackMetadata {
                rollback_target_pipeline_execution_id: target.execution_id.clone(),
                stage: stage.to_owned(),
            }),
        };
        let id = &execution.execution_id;
        let mut writes = vec![
            put(keys::execution(id), keys::META.into(), None, &execution)?,
            put(
                keys::pipeline(pipeline),
                keys::listed_execution(now, id),
                None,
                &execution,
            )?,
            put(
                keys::OPEN.into(),
                id.clone(),
                None,
                &json!({"executionId": id}),
            )?,
        ];
        // One rollback of a stage at a time: the stage's lock names it, taken in the same transaction.
        writes.push(put(
            keys::pipeline(pipeline),
            rolling_key(stage),
            lock_version,
            &ClientRequestRecord {
                execution_id: id.clone(),
            },
        )?);
        if let Some(sk) = &once {
            writes.push(put(
                keys::pipeline(pipeline),
                sk.clone(),
                None,
                &ClientRequestRecord {
                    execution_id: id.clone(),
                },
            )?);
        }
        match self.store.transact(writes).await {
            Ok(()) => {}
            Err(StoreError::ConditionFailed(_)) => {
                // Another delivery of the same failure started it first: that rollback is the answer.
                if let Some(sk) = &once {
                    if let Some(started) = self.rollback_started(pipeline, sk).await? {
                        return Ok(started);
                    }
                }
                // Another rollback of the stage took the lock first.
                return Err(RollbackError::Conflict(format!(
                    "stage {stage} of pipeline {pipeline} is being rolled back already: try again once \
                     that rollback has finished"
                )));
            }
            Err(e) => return Err(RuntimeError::from(e).into()),
        }
        self.start_run(&execution).await?;
        self.publish(self.config.origin.pipeline_event(
            self.env.new_id(),
            now,
            pipeline,
            id,
            version,
            "STARTED",
        ))
        .await;
        info!(pipeline, stage, execution = %id, target = %target.execution_id, "rollback started");
        Ok(execution)
    }

    /// The RollbackStage task of a failed stage (onFailure ROLLBACK): starts the rollback once; when there is
    /// nothing to roll back to, says why on the failed stage. Either way the failed execution then ends FAILED.
    pub(crate) async fn rollback_failed_stage(
        &self,
        id: &str,
        stage: &str,
        token: &str,
    ) -> crate::error::Result<()> {
        let execution = self.execution(id).await?;
        if execution.rollback_metadata.is_some() {
            // A rollback is never rolled back itself (stage_failed decides FAIL for it; a late task says so).
            self.succeed(token, json!({})).await;
            return Ok(());
        }
        let trigger = RollbackTrigger::Automated {
            execution_id: id.to_owned(),
        };
        match self
            .start_rollback(&execution.pipeline, stage, None, trigger)
            .await
        {
            Ok(rollback) => {
                info!(execution = %id, stage, rollback = %rollback.execution_id, "stage rolled back");
            }
            Err(RollbackError::Runtime(e)) => return Err(e),
            Err(why) => {
                warn!(execution = %id, stage, reason = %why, "the failed stage is not rolled back");
                self.note_on_stage(id, stage, &format!("not rolled back: {why}"))
                    .await?;
            }
        }
        self.succeed(token, json!({})).await;
        Ok(())
    }

    /// A rollback execution reaching the entry of a stage after the one it rolls back: the rollback is done.
    /// Records it SUCCEEDED and ends its run at this gate (answered `Sluice.Stopped`, which the machine takes
    /// to its end; the execution's record is already final, so the recorder changes nothing). Answers whether
    /// it did.
    pub(crate) async fn rollback_done_at(
        &self,
        execution: &ExecutionRecord,
        stage: &str,
        token: &str,
    ) -> crate::error::Result<bool> {
        let Some(meta) = &execution.rollback_metadata else {
            return Ok(false);
        };
        if meta.stage == stage {
            return Ok(false);
        }
        let id = &execution.execution_id;
        let before = self.execution(id).await?;
        let done = self
            .update_execution(id, |e| {
                if e.status != ExecutionStatus::InProgress {
                    return false;
                }
                e.status = ExecutionStatus::Succeeded;
                e.status_summary = Some(format!(
                    "Stage {} rolled back to execution {}",
                    meta.stage, meta.rollback_target_pipeline_execution_id
                ));
                true
            })
            .await?;
        if before.status == ExecutionStatus::InProgress && done.status == ExecutionStatus::Succeeded
        {
            self.publish(self.config.origin.pipeline_event(
                self.env.new_id(),
                self.env.now_ms(),
                &done.pipeline,
                id,
                done.version,
                "SUCCEEDED",
            ))
            .await;
            info!(execution = %id, stage = %meta.stage, "rollback finished");
        }
        let cause = format!("the rollback of stage {} is done", meta.stage);
        self.fail(token, error::STOPPED, &cause).await;
        Ok(true)
    }

    /// The version of the stage's rollback lock when it may be taken (None: there is none yet); Conflict when
    /// the rollback it names has not finished. A lock of a finished (or vanished) rollback is simply taken over,
    /// so it needs no release.
    async fn rollback_lock(&self, pipeline: &str, stage: &str) -> Result<Option<u64>> {
        let Some(lock) = self
            .read::<ClientRequestRecord>(&keys::pipeline(pipeline), &rolling_key(stage))
            .await?
        else {
            return Ok(None);
        };
        let holder = &lock.value.execution_id;
        match self.execution(holder).await {
            Ok(e) if !e.status.is_final() => Err(RollbackError::Conflict(format!(
                "stage {stage} of pipeline {pipeline} is being rolled back by execution {holder}: try again \
                 once it has finished"
            ))),
            Ok(_) | Err(RuntimeError::ExecutionNotFound(_)) => Ok(Some(lock.version)),
            Err(e) => Err(e.into()),
        }
    }

    /// The rollback an automated request started before, if any.
    async fn rollback_started(&self, pipeline: &str, sk: &str) -> Result<Option<ExecutionRecord>> {
        match self
            .read::<ClientRequestRecord>(&keys::pipeline(pipeline), sk)
            .await?
        {
            Some(r) => Ok(Some(self.execution(&r.value.execution_id).await?)),
            None => Ok(None),
        }
    }

    /// A target RollbackStage named, checked: of this pipeline, its current version, not a rollback, and
    /// successful through the stage.
    async fn checked_target(
        &self,
        pipeline: &str,
        stage: &str,
        version: u64,
        id: &str,
    ) -> Result<ExecutionRecord> {
        let target = self.execution(id).await?;
        if target.pipeline != pipeline {
            return Err(RuntimeError::ExecutionNotFound(id.to_owned()).into());
        }
        if target.rollback_metadata.is_some() {
            return Err(RollbackError::Unable(format!(
                "execution {id} is a rollback: a rollback cannot be rolled back to"
            )));
        }
        if target.version != version {
            return Err(RollbackError::Outdated(format!(
                "execution {id} ran version {} of pipeline {pipeline}, which is now at version {version}: \
                 only executions of the current version can be rolled back to",
                target.version
            )));
        }
        if !succeeded_through(&self.stages(id).await?, stage) {
            return Err(RollbackError::Unable(format!(
                "execution {id} did not succeed through stage {stage}: only an execution that did can be \
                 rolled back to"
            )));
        }
        Ok(target)
    }

    /// The newest standard execution of `version` that succeeded through `stage`.
    async fn last_good(
        &self,
        pipeline: &str,
        stage: &str,
        version: u64,
    ) -> Result<Option<ExecutionRecord>> {
        let mut after: Option<String> = None;
        loop {
            let (page, next) = self
                .list_executions_page(pipeline, 50, after.as_deref())
                .await?;
            for e in page {
                // Older executions ran older versions only: none of them can be a target.
                if e.version < version {
                    return Ok(None);
                }
                if e.version == version
                    && e.rollback_metadata.is_none()
                    && succeeded_through(&self.stages(&e.execution_id).await?, stage)
                {
                    return Ok(Some(e));
                }
            }
            match next {
                Some(n) => after = Some(n),
                None => return Ok(None),
            }
        }
    }

    /// Refuses when the stage is running in an execution of the pipeline.
    async fn check_not_running(&self, pipeline: &str, stage: &str) -> Result<()> {
        for id in self.open_executions().await? {
            let execution = match self.execution(&id).await {
                Ok(e) => e,
                Err(RuntimeError::ExecutionNotFound(_)) => continue,
                Err(e) => return Err(e.into()),
            };
            if execution.pipeline != pipeline || execution.status.is_final() {
                continue;
            }
            let running = self
                .stages(&id)
                .await?
                .iter()
                .filter(|s| s.stage == stage)
                .max_by_key(|s| s.attempt)
                .is_some_and(|s| s.status == StageStatus::InProgress);
            let rolling_back = execution
                .rollback_metadata
                .as_ref()
                .is_some_and(|m| m.stage == stage);
            if running && rolling_back {
                return Err(RollbackError::Conflict(format!(
                    "stage {stage} of pipeline {pipeline} is being rolled back by execution {id}: try again \
                     once it has finished"
                )));
            }
            if running {
                return Err(RollbackError::Unable(format!(
                    "stage {stage} of pipeline {pipeline} is in progress in execution {id}: it can be \
                     rolled back once it has finished"
                )));
            }
        }
        Ok(())
    }

    /// Adds a note to the error of a stage's latest attempt (which the execution's summary quotes).
    pub(crate) async fn note_on_stage(
        &self,
        id: &str,
        stage: &str,
        note: &str,
    ) -> crate::error::Result<()> {
        for _ in 0..10 {
            let Some(current) = self.current_stage(id, stage).await? else {
                return Ok(());
            };
            let mut next = current.value.clone();
            let error = next.error.unwrap_or_default();
            if error.contains(note) {
                return Ok(());
            }
            next.error = Some(if error.is_empty() {
                note.to_owned()
            } else {
                format!("{error}; {note}")
            });
            next.updated_ms = self.env.now_ms();
            match self
                .store
                .transact(vec![put(
                    keys::execution(id),
                    keys::stage(stage, next.attempt),
                    Some(current.version),
                    &next,
                )?])
                .await
            {
                Ok(()) => return Ok(()),
                Err(StoreError::ConditionFailed(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_definition::{load, Limits, Syntax};

    const STAGES: &str = r#"
stages:
  - name: Source
    actions:
      - name: Checkout
        actionTypeId: {category: Source, owner: ThirdParty, provider: LocalSource, version: "1"}
        configuration: {Path: src}
        outputArtifacts: [{name: Src}]
  - name: Review
    actions:
      - name: Approve
        actionTypeId: {category: Approval, owner: AWS, provider: Manual, version: "1"}
"#;

    /// What checking `stage` of a pipeline of `kind` answers: Ok, or the error's variant and message.
    fn check(kind: &str, stage: &str) -> std::result::Result<(), (String, String)> {
        let text = format!("name: p\npipelineType: {kind}\n{STAGES}");
        let definition = load(&text, Syntax::Yaml, &Limits::default())
            .expect("valid")
            .pipeline;
        check_stage(&definition, stage).map_err(|e| {
            let variant = format!("{e:?}");
            let variant = variant.split('(').next().unwrap_or_default().to_owned();
            (variant, e.to_string())
        })
    }

    #[test]
    fn only_a_v2_pipeline_s_known_non_source_stage_can_be_rolled_back() {
        assert_eq!(check("V2", "Review"), Ok(()));
        for (kind, stage, variant, says) in [
            ("V2", "Deploy", "StageNotFound", "has no stage Deploy"),
            ("V1", "Deploy", "StageNotFound", "has no stage Deploy"),
            ("V1", "Review", "NotV2", "of type V1"),
            (
                "V2",
                "Source",
                "Unable",
                "a source stage cannot be rolled back",
            ),
        ] {
            let (got, message) = check(kind, stage).expect_err(stage);
            assert_eq!(got, variant, "{kind} {stage}: {message}");
            assert!(message.contains(says), "{kind} {stage}: {message}");
        }
    }

    #[test]
    fn an_execution_succeeded_through_a_stage_when_its_latest_attempt_did() {
        let attempt = |n: u32, status: StageStatus| crate::records::StageRecord {
            execution_id: "e".into(),
            stage: "Deploy".into(),
            attempt: n,
            status,
            started_ms: i64::from(n),
            updated_ms: 0,
            error: None,
        };
        use StageStatus::{Failed, Succeeded};
        assert!(succeeded_through(
            &[attempt(1, Failed), attempt(2, Succeeded)],
            "Deploy"
        ));
        assert!(!succeeded_through(
            &[attempt(1, Succeeded), attempt(2, Failed)],
            "Deploy"
        ));
        assert!(!succeeded_through(&[attempt(1, Succeeded)], "Build"));
        assert!(!succeeded_through(&[], "Deploy"));
    }
}
