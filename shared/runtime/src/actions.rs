//! Running an action attempt: resolving its configuration and inputs, recording it, asking for an approval or
//! starting its job; re-delivered tasks re-report, adopt the new token or restart a run lost with its process;
//! settling an attempt's final status.

use std::collections::BTreeMap;

use tracing::{info, warn};

use crate::error::{Result, RuntimeError};
use crate::inputs::*;
use crate::jobs::{Job, JobInput, JobOutput};
use crate::ports::StoreError;
use crate::records::{
    keys, ActionRecord, ActionStatus, ArtifactDetail, ExecutionRecord, ExecutionStatus,
    RevisionOverride,
};
use crate::runtime::{find_stage, put, Runtime, Versioned};
use sluice_definition::compile::default_timeout_minutes;
use sluice_definition::contract::error;
use sluice_definition::model::{Action, ArtifactStore, Pipeline, RetryMode, Stage};

/// The artifact store of an action or rule working in `region` (None: the pipeline's own region, `home`):
/// the `artifactStores` entry of that region in a cross-region pipeline, else the pipeline's `artifactStore`.
pub(crate) fn store_of<'a>(
    definition: &'a Pipeline,
    region: Option<&str>,
    home: &str,
) -> Option<&'a ArtifactStore> {
    match &definition.artifact_stores {
        Some(stores) => stores.get(region.unwrap_or(home)),
        None => definition.artifact_store.as_ref(),
    }
}

/// What the definition says about where and how a job runs: the role (the action's `roleArn`, else the
/// pipeline's), its region (the action's `region`), and its artifact store (see [`store_of`]): its outputs
/// are stored in that store's bucket (`location`) under its KMS key (`encryptionKey.id`). Without a declared
/// store, outputs stay in the runtime's own bucket.
pub(crate) fn as_the_pipeline_says(
    job: &mut Job,
    action: &Action,
    definition: &Pipeline,
    home: &str,
) {
    job.role_arn = action
        .role_arn
        .clone()
        .or_else(|| definition.role_arn.clone());
    job.region.clone_from(&action.region);
    let store = store_of(definition, action.region.as_deref(), home);
    let key = store
        .and_then(|s| s.encryption_key.as_ref())
        .map(|k| k.id.clone());
    let location = store.map(|s| s.location.clone()).filter(|l| !l.is_empty());
    for output in &mut job.outputs {
        output.encryption_key.clone_from(&key);
        if let Some(bucket) = &location {
            output.bucket.clone_from(bucket);
        }
    }
    job.artifact_store = location;
}

/// The revision an execution was started with for a source action, if any.
pub(crate) fn revision_override(
    execution: &ExecutionRecord,
    action: &str,
) -> Option<RevisionOverride> {
    execution
        .revision_overrides
        .iter()
        .find(|o| o.action_name == action)
        .cloned()
}

pub(crate) fn is_manual_approval(action: &Action) -> bool {
    action.action_type_id.category == "Approval" && action.action_type_id.provider == "Manual"
}

pub(crate) fn is_manual(rec: &ActionRecord) -> bool {
    rec.action_type.category == "Approval" && rec.action_type.provider == "Manual"
}

/// Whether an attempt after the first keeps earlier successes: automatic retries follow the stage's
/// retryMode (FAILED_ACTIONS by default); manual retries follow the retry's mode.
pub(crate) fn auto_or_failed_actions(stage: &Stage, execution: &ExecutionRecord) -> bool {
    match execution.retry_mode.as_deref() {
        Some(mode) => mode == "FAILED_ACTIONS",
        None => stage
            .on_failure
            .as_ref()
            .and_then(|f| f.retry_configuration.as_ref())
            .and_then(|r| r.retry_mode)
            .is_none_or(|m| m == RetryMode::FailedActions),
    }
}

impl Runtime {
    /// Runs an action attempt, or re-reports it when it already ran.
    pub(crate) async fn run_action(
        &self,
        id: &str,
        stage: &str,
        action_name: &str,
        attempt: u32,
        leave: bool,
        token: &str,
    ) -> Result<()> {
        let execution = self.execution(id).await?;
        let record = self.execution_definition(&execution).await?;
        let definition = &record.definition;
        let stage_def = find_stage(definition, stage)?;
        let action = stage_def
            .actions
            .iter()
            .find(|a| a.name == action_name)
            .ok_or_else(|| {
                RuntimeError::NotFound(format!("stage {stage} has no action {action_name}"))
            })?;
        let pk = keys::execution(id);
        let sk = keys::action(stage, action_name, attempt);

        if let Some(existing) = self.read::<ActionRecord>(&pk, &sk).await? {
            return self.redelivered(existing, token, &record.base_dir).await;
        }
        if execution.status == ExecutionStatus::Stopping {
            self.fail(token, error::STOPPED, "the execution was stopped")
                .await;
            return Ok(());
        }
        // FAILED_ACTIONS retries keep what succeeded in the previous attempt.
        if attempt > 1
            && execution.retry_mode.as_deref() != Some("ALL_ACTIONS")
            && auto_or_failed_actions(stage_def, &execution)
        {
            let attempts = self.action_attempts(&execution, stage, action_name).await?;
            if let Some(prev) = attempts.iter().find(|a| {
                a.stage == stage
                    && a.action == action_name
                    && a.attempt == attempt - 1
                    && a.status == ActionStatus::Succeeded
            }) {
                let mut kept = prev.clone();
                kept.attempt = attempt;
                kept.token = token.to_owned();
                kept.leaves_stage = leave;
                kept.summary = Some(format!(
                    "Kept from attempt {}: it succeeded then.",
                    attempt - 1
                ));
                self.store.transact(vec![put(pk, sk, None, &kept)?]).await?;
                self.complete_action(&kept, token, Ok(())).await;
                return Ok(());
            }
        }

        let now = self.env.now_ms();
        let mut rec = ActionRecord {
            pipeline: execution.pipeline.clone(),
            execution_id: id.to_owned(),
            stage: stage.to_owned(),
            action: action_name.to_owned(),
            attempt,
            run: 1,
            status: ActionStatus::InProgress,
            token: token.to_owned(),
            action_type: action.action_type_id.clone(),
            started_ms: now,
            updated_ms: now,
            configuration: BTreeMap::new(),
            input_artifacts: Vec::new(),
            output_artifacts: Vec::new(),
            output_variables: BTreeMap::new(),
            summary: None,
            error: None,
            revision: None,
            external: None,
            leaves_stage: leave,
        };
        // Resolve variables and inputs; a problem fails the action (as CodePipeline does), not the task. Only
        // the records of the actions producing its inputs and the namespaces it refers to are read.
        let scope = self.action_scope(&execution, definition, action).await?;
        let mut located = Vec::new();
        for name in action.inputs() {
            let object = self.input_object(&execution, definition, name).await?;
            located.push((name, object));
        }
        let resolved = resolve_action(action, &scope).and_then(|(config, commands, env)| {
            let inputs = located
                .into_iter()
                .map(|(name, object)| {
                    object
                        .map(|object| ArtifactDetail {
                            name: name.to_owned(),
                            object,
                        })
                        .ok_or_else(|| {
                            format!(
                                "input artifact {name} has no stored revision in this execution"
                            )
                        })
                })
                .collect::<std::result::Result<Vec<_>, String>>()?;
            Ok((config, commands, env, inputs))
        });
        let (config, commands, env, inputs) = match resolved {
            Ok(r) => r,
            Err(message) => {
                rec.status = ActionStatus::Failed;
                rec.error = Some(message.clone());
                match self.store.transact(vec![put(pk, sk, None, &rec)?]).await {
                    Ok(()) | Err(StoreError::ConditionFailed(_)) => {}
                    Err(e) => return Err(e.into()),
                }
                self.action_event(&execution, &rec, "FAILED").await;
                self.fail(token, error::ACTION_FAILED, &message).await;
                return Ok(());
            }
        };
        rec.configuration = config.clone();
        rec.input_artifacts = inputs.clone();
        match self
            .store
            .transact(vec![put(pk.clone(), sk.clone(), None, &rec)?])
            .await
        {
            Ok(()) => {}
            Err(StoreError::ConditionFailed(_)) => {
                // A concurrent delivery got there first.
                if let Some(existing) = self.read::<ActionRecord>(&pk, &sk).await? {
                    return self.redelivered(existing, token, &record.base_dir).await;
                }
                return Ok(());
            }
            Err(e) => return Err(e.into()),
        }
        self.action_event(&execution, &rec, "STARTED").await;
        info!(execution = %id, stage, action = action_name, attempt, "action started");

        if is_manual_approval(action) {
            return self.request_approval(&rec, action.timeout_in_minutes).await;
        }

        let mut job = self.job(&rec, action, commands, env, inputs, &record.base_dir);
        job.revision_override = revision_override(&execution, &rec.action);
        as_the_pipeline_says(&mut job, action, definition, &self.config.origin.region);
        if let Err(message) = self.start_job(job).await {
            self.settle_action(&rec, ActionStatus::Failed, None, Some(message.clone()))
                .await?;
            self.fail(token, error::ACTION_FAILED, &message).await;
        }
        Ok(())
    }

    /// Whether the attempt's approval was asked for (its record exists for this attempt).
    async fn approval_requested(&self, rec: &ActionRecord) -> Result<bool> {
        Ok(self
            .read::<crate::records::ApprovalRecord>(
                &keys::approval(&rec.pipeline, &rec.stage, &rec.action),
                &rec.execution_id,
            )
            .await?
            .is_some_and(|a| a.value.attempt == rec.attempt))
    }

    /// Records `token` as the attempt's task token (a redelivery's), unless another writer changed the record.
    async fn adopt_token(&self, version: u64, rec: &ActionRecord, token: &str) -> Result<()> {
        if rec.token == token {
            return Ok(());
        }
        let mut next = rec.clone();
        next.token = token.to_owned();
        next.updated_ms = self.env.now_ms();
        let pk = keys::execution(&rec.execution_id);
        let sk = keys::action(&rec.stage, &rec.action, rec.attempt);
        match self
            .store
            .transact(vec![put(pk, sk, Some(version), &next)?])
            .await
        {
            Ok(()) | Err(StoreError::ConditionFailed(_)) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// A RunAction for an attempt that already has a record: re-report, adopt the new token, or restart a run
    /// that died with its process.
    pub(crate) async fn redelivered(
        &self,
        existing: Versioned<ActionRecord>,
        token: &str,
        base_dir: &Option<String>,
    ) -> Result<()> {
        let mut rec = existing.value;
        match rec.status {
            ActionStatus::Succeeded => {
                self.complete_action(&rec, token, Ok(())).await;
                return Ok(());
            }
            ActionStatus::Failed | ActionStatus::Abandoned => {
                let why = rec
                    .error
                    .clone()
                    .unwrap_or_else(|| "the action failed".into());
                self.fail(token, error::ACTION_FAILED, &why).await;
                return Ok(());
            }
            ActionStatus::InProgress => {}
        }
        if is_manual(&rec) && self.settle_decided_approval(&rec, token).await? {
            return Ok(());
        }
        if is_manual(&rec) && !self.approval_requested(&rec).await? {
            // The process that recorded the attempt died before it asked for the approval: ask now.
            self.adopt_token(existing.version, &rec, token).await?;
            let execution = self.execution(&rec.execution_id).await?;
            let definition = self.execution_pipeline(&execution).await?.definition;
            let timeout = find_stage(&definition, &rec.stage)?
                .actions
                .iter()
                .find(|a| a.name == rec.action)
                .and_then(|a| a.timeout_in_minutes);
            warn!(execution = %rec.execution_id, stage = %rec.stage, action = %rec.action, "asking for an approval whose request was lost");
            return self.request_approval(&rec, timeout).await;
        }
        let running = !is_manual(&rec) && self.job_running(&rec.job_id()).await;
        let restart = !is_manual(&rec) && !running;
        if rec.token == token && !restart {
            return Ok(());
        }
        let pk = keys::execution(&rec.execution_id);
        let sk = keys::action(&rec.stage, &rec.action, rec.attempt);
        rec.token = token.to_owned();
        if restart {
            rec.run += 1;
        }
        rec.updated_ms = self.env.now_ms();
        match self
            .store
            .transact(vec![put(pk, sk, Some(existing.version), &rec)?])
            .await
        {
            Ok(()) => {}
            Err(StoreError::ConditionFailed(_)) => return Ok(()),
            Err(e) => return Err(e.into()),
        }
        if restart {
            let execution = self.execution(&rec.execution_id).await?;
            let record = self.execution_definition(&execution).await?;
            let definition = &record.definition;
            let action = find_stage(definition, &rec.stage)?
                .actions
                .iter()
                .find(|a| a.name == rec.action)
                .ok_or_else(|| RuntimeError::NotFound(format!("no action {}", rec.action)))?
                .clone();
            let scope = self.action_scope(&execution, definition, &action).await?;
            let (_, commands, env) =
                resolve_action(&action, &scope).map_err(RuntimeError::Invalid)?;
            warn!(execution = %rec.execution_id, stage = %rec.stage, action = %rec.action, run = rec.run, "restarting an action whose run was lost");
            let mut job = self.job(
                &rec,
                &action,
                commands,
                env,
                rec.input_artifacts.clone(),
                base_dir,
            );
            job.revision_override = revision_override(&execution, &rec.action);
            as_the_pipeline_says(&mut job, &action, definition, &self.config.origin.region);
            if let Err(message) = self.start_job(job).await {
                self.settle_action(&rec, ActionStatus::Failed, None, Some(message.clone()))
                    .await?;
                self.fail(token, error::ACTION_FAILED, &message).await;
            }
        }
        Ok(())
    }

    pub(crate) fn job(
        &self,
        rec: &ActionRecord,
        action: &Action,
        commands: Vec<String>,
        environment: BTreeMap<String, String>,
        inputs: Vec<ArtifactDetail>,
        base_dir: &Option<String>,
    ) -> Job {
        let outputs = action
            .output_artifacts
            .iter()
            .flatten()
            .map(|o| JobOutput {
                name: o.name.clone(),
                files: o.files.clone().unwrap_or_default(),
                bucket: self.config.artifact_bucket.clone(),
                key: format!(
                    "{}/{}/{}-{}-{}",
                    rec.pipeline, o.name, rec.execution_id, rec.attempt, rec.run
                ),
                encryption_key: None,
            })
            .collect();
        let minutes = action
            .timeout_in_minutes
            .unwrap_or_else(|| default_timeout_minutes(action));
        Job {
            id: rec.job_id(),
            pipeline: rec.pipeline.clone(),
            execution_id: rec.execution_id.clone(),
            stage: rec.stage.clone(),
            action: rec.action.clone(),
            attempt: rec.attempt,
            action_type: rec.action_type.clone(),
            configuration: rec.configuration.clone(),
            commands,
            environment,
            inputs: inputs
                .into_iter()
                .map(|i| JobInput {
                    name: i.name,
                    object: i.object,
                })
                .collect(),
            outputs,
            output_variables: action.output_variables.clone().unwrap_or_default(),
            timeout_seconds: u64::from(minutes) * 60,
            base_dir: base_dir.clone(),
            revision_override: None,
            role_arn: None,
            artifact_store: None,
            region: None,
            invocation: None,
        }
    }

    /// Moves an in-progress action to a final status. False when it was not in progress any more.
    pub(crate) async fn settle_action(
        &self,
        rec: &ActionRecord,
        status: ActionStatus,
        summary: Option<String>,
        error_message: Option<String>,
    ) -> Result<bool> {
        let pk = keys::execution(&rec.execution_id);
        let sk = keys::action(&rec.stage, &rec.action, rec.attempt);
        for _ in 0..20 {
            let Some(current) = self.read::<ActionRecord>(&pk, &sk).await? else {
                return Ok(false);
            };
            if current.value.status != ActionStatus::InProgress {
                return Ok(false);
            }
            let mut next = current.value.clone();
            next.status = status;
            next.summary = summary.clone().or(next.summary);
            next.error = error_message.clone();
            next.updated_ms = self.env.now_ms();
            match self
                .store
                .transact(vec![put(
                    pk.clone(),
                    sk.clone(),
                    Some(current.version),
                    &next,
                )?])
                .await
            {
                Ok(()) => {
                    let execution = self.execution(&rec.execution_id).await?;
                    let state = match status {
                        ActionStatus::Succeeded => "SUCCEEDED",
                        ActionStatus::Abandoned => "ABANDONED",
                        _ => "FAILED",
                    };
                    self.action_event(&execution, &next, state).await;
                    return Ok(true);
                }
                Err(StoreError::ConditionFailed(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(RuntimeError::Store(StoreError::Busy(
            "action record kept changing".into(),
        )))
    }

    pub(crate) async fn action_event(
        &self,
        execution: &ExecutionRecord,
        rec: &ActionRecord,
        state: &str,
    ) {
        self.publish(self.config.origin.action_event(
            self.env.new_id(),
            self.env.now_ms(),
            &rec.pipeline,
            &rec.execution_id,
            execution.version,
            &rec.stage,
            &rec.action,
            &rec.action_type,
            state,
        ))
        .await;
    }
}
