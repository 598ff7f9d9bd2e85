//! Executions: starting one (once per client request token), its records and their listing copies, the
//! stage and action attempts it left, and starting the state machine run an execution record calls for.

use serde_json::json;
use tracing::info;

use crate::error::{Result, RuntimeError};
use crate::ports::{Condition, OrchestratorError, Order, StoreError, Write};
use crate::records::{
    keys, ActionRecord, ClientRequestRecord, ExecutionRecord, ExecutionStatus, ResolvedVariable,
    RevisionOverride, StageRecord, TriggerInfo,
};
use crate::runtime::{decode, put, Runtime, StartRequest, Versioned};
use sluice_definition::contract::ExecutionInput;
use sluice_definition::model::Pipeline;

/// Checks StartPipelineExecution's `sourceRevisions`: each names a source action of the pipeline once, with a
/// revision type its provider has.
pub(crate) fn check_revision_overrides(
    definition: &Pipeline,
    overrides: &[RevisionOverride],
) -> Result<()> {
    for (i, o) in overrides.iter().enumerate() {
        let at = format!("sourceRevisions[{i}]");
        if overrides[..i]
            .iter()
            .any(|p| p.action_name == o.action_name)
        {
            return Err(RuntimeError::Invalid(format!(
                "{at}.actionName: action {} is given a revision more than once",
                o.action_name
            )));
        }
        let Some((_, _, _, action)) = definition
            .actions()
            .find(|(_, _, _, a)| a.name == o.action_name)
        else {
            return Err(RuntimeError::Invalid(format!(
                "{at}.actionName: pipeline {} has no action {}",
                definition.name, o.action_name
            )));
        };
        let id = &action.action_type_id;
        if id.category != "Source" {
            return Err(RuntimeError::Invalid(format!(
                "{at}.actionName: {} is a {} action, not a source action",
                o.action_name, id.category
            )));
        }
        let allowed: &[&str] = match id.provider.as_str() {
            "S3" => &["S3_OBJECT_VERSION_ID", "S3_OBJECT_KEY"],
            "ECR" => &["IMAGE_DIGEST"],
            _ => &["COMMIT_ID"],
        };
        if !allowed.contains(&o.revision_type.as_str()) {
            return Err(RuntimeError::Invalid(format!(
                "{at}.revisionType: {} ({}) takes {}, not {}",
                o.action_name,
                id.provider,
                allowed.join(" or "),
                o.revision_type
            )));
        }
    }
    Ok(())
}

impl Runtime {
    /// Starts an execution of the pipeline's newest version.
    pub async fn start_execution(
        &self,
        pipeline: &str,
        request: StartRequest,
    ) -> Result<ExecutionRecord> {
        self.start_execution_once(pipeline, request, None).await
    }

    /// Starts an execution, once per client request token (StartPipelineExecution's
    /// `clientRequestToken`): a token seen before gives the execution it started, also when two requests
    /// with it race (the token's record is written in the same transaction as the execution).
    pub async fn start_execution_once(
        &self,
        pipeline: &str,
        request: StartRequest,
        client_token: Option<&str>,
    ) -> Result<ExecutionRecord> {
        let started_for = async |token: &str| -> Result<Option<ExecutionRecord>> {
            match self
                .read::<ClientRequestRecord>(
                    &keys::pipeline(pipeline),
                    &keys::client_request(token),
                )
                .await?
            {
                Some(r) => Ok(Some(self.execution(&r.value.execution_id).await?)),
                None => Ok(None),
            }
        };
        if let Some(token) = client_token {
            if let Some(existing) = started_for(token).await? {
                return Ok(existing);
            }
        }
        let record = self.pipeline(pipeline, None).await?;
        let def = &record.definition;
        let mut variables = Vec::new();
        for declared in def.variables.iter().flatten() {
            let value = request
                .variables
                .get(&declared.name)
                .cloned()
                .or_else(|| declared.default_value.clone())
                .ok_or_else(|| {
                    RuntimeError::Invalid(format!(
                        "pipeline variable {} has no default value and was not given one",
                        declared.name
                    ))
                })?;
            variables.push(ResolvedVariable {
                name: declared.name.clone(),
                resolved_value: value,
            });
        }
        for name in request.variables.keys() {
            if !def.variables.iter().flatten().any(|d| &d.name == name) {
                return Err(RuntimeError::Invalid(format!(
                    "pipeline {pipeline} declares no variable {name}"
                )));
            }
        }
        check_revision_overrides(def, &request.source_revisions)?;
        let now = self.env.now_ms();
        let execution = ExecutionRecord {
            pipeline: pipeline.to_owned(),
            execution_id: self.env.new_id(),
            version: def.version.unwrap_or(1),
            serial: record.execution_serial(),
            status: ExecutionStatus::InProgress,
            status_summary: None,
            trigger: request.trigger.unwrap_or(TriggerInfo {
                trigger_type: "StartPipelineExecution".into(),
                trigger_detail: "sluice".into(),
                pushed_by: None,
            }),
            variables,
            source_revisions: Vec::new(),
            started_ms: now,
            updated_ms: now,
            runs: 1,
            retry_mode: None,
            start_at: def
                .stages
                .first()
                .map(|s| s.name.clone())
                .unwrap_or_default(),
            stop_reason: None,
            revision_overrides: request.source_revisions,
            rollback_metadata: None,
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
        if let Some(token) = client_token {
            writes.push(put(
                keys::pipeline(pipeline),
                keys::client_request(token),
                None,
                &ClientRequestRecord {
                    execution_id: id.clone(),
                },
            )?);
        }
        match (self.store.transact(writes).await, client_token) {
            (Ok(()), _) => {}
            (Err(StoreError::ConditionFailed(e)), Some(token)) => {
                // Another request with the same token won the race: its execution is the answer.
                return started_for(token)
                    .await?
                    .ok_or(RuntimeError::Store(StoreError::ConditionFailed(e)));
            }
            (Err(e), _) => return Err(e.into()),
        }
        self.start_run(&execution).await?;
        self.publish(self.config.origin.pipeline_event(
            self.env.new_id(),
            now,
            pipeline,
            id,
            execution.version,
            "STARTED",
        ))
        .await;
        info!(pipeline, execution = %id, "execution started");
        Ok(execution)
    }

    /// One execution.
    pub async fn execution(&self, id: &str) -> Result<ExecutionRecord> {
        Ok(self.execution_v(id).await?.value)
    }

    pub(crate) async fn execution_v(&self, id: &str) -> Result<Versioned<ExecutionRecord>> {
        self.read(&keys::execution(id), keys::META)
            .await?
            .ok_or_else(|| RuntimeError::ExecutionNotFound(id.to_owned()))
    }

    /// A pipeline's executions, newest first.
    pub async fn list_executions(
        &self,
        pipeline: &str,
        limit: usize,
    ) -> Result<Vec<ExecutionRecord>> {
        let items = self
            .store
            .query(
                &keys::pipeline(pipeline),
                "EXECUTION#",
                Order::Descending,
                limit,
                None,
            )
            .await?;
        items
            .into_iter()
            .map(|i| decode(i).map(|v| v.value))
            .collect()
    }

    /// One page of a pipeline's executions, newest first, after the listing key `after`; the key to
    /// continue after when there may be more.
    pub async fn list_executions_page(
        &self,
        pipeline: &str,
        limit: usize,
        after: Option<&str>,
    ) -> Result<(Vec<ExecutionRecord>, Option<String>)> {
        self.page(
            &keys::pipeline(pipeline),
            "EXECUTION#",
            Order::Descending,
            limit,
            after,
        )
        .await
    }

    /// Ids of executions that have not ended (for resuming after a restart).
    pub async fn open_executions(&self) -> Result<Vec<String>> {
        let items = self
            .store
            .query(keys::OPEN, "", Order::Ascending, usize::MAX, None)
            .await?;
        Ok(items.into_iter().map(|i| i.sk).collect())
    }

    /// The stage attempts of an execution, in the order they started.
    pub async fn stages(&self, id: &str) -> Result<Vec<StageRecord>> {
        let mut stages: Vec<StageRecord> = self
            .query::<StageRecord>(&keys::execution(id), "STAGE#", Order::Ascending)
            .await?
            .into_iter()
            .map(|v| v.value)
            .collect();
        stages.sort_by_key(|s| s.started_ms);
        Ok(stages)
    }

    /// The action attempts of an execution, in the order they started.
    pub async fn actions(&self, id: &str) -> Result<Vec<ActionRecord>> {
        let mut actions: Vec<ActionRecord> = self
            .query::<ActionRecord>(&keys::execution(id), "ACTION#", Order::Ascending)
            .await?
            .into_iter()
            .map(|v| v.value)
            .collect();
        actions.sort_by_key(|a| a.started_ms);
        Ok(actions)
    }

    /// Writes an execution's new state to its record and its listing copy.
    pub(crate) async fn save_execution(
        &self,
        current: &Versioned<ExecutionRecord>,
        next: &ExecutionRecord,
    ) -> Result<()> {
        let listed = keys::listed_execution(next.started_ms, &next.execution_id);
        let pk = keys::pipeline(&next.pipeline);
        let listed_version = self.store.get(&pk, &listed).await?.map(|i| i.version);
        let mut writes = vec![
            put(
                keys::execution(&next.execution_id),
                keys::META.into(),
                Some(current.version),
                next,
            )?,
            put(pk, listed, listed_version, next)?,
        ];
        let open_version = self
            .store
            .get(keys::OPEN, &next.execution_id)
            .await?
            .map(|i| i.version);
        match (next.status.is_final(), open_version) {
            (true, Some(v)) => writes.push(Write::Delete {
                pk: keys::OPEN.into(),
                sk: next.execution_id.clone(),
                condition: Condition::Version(v),
            }),
            (false, None) => writes.push(put(
                keys::OPEN.into(),
                next.execution_id.clone(),
                None,
                &json!({"executionId": next.execution_id}),
            )?),
            _ => {}
        }
        self.store.transact(writes).await?;
        Ok(())
    }

    /// Applies `change` to an execution record, retrying when another writer got there first.
    pub(crate) async fn update_execution(
        &self,
        id: &str,
        change: impl Fn(&mut ExecutionRecord) -> bool,
    ) -> Result<ExecutionRecord> {
        for _ in 0..20 {
            let current = self.execution_v(id).await?;
            let mut next = current.value.clone();
            if !change(&mut next) {
                return Ok(current.value);
            }
            next.updated_ms = self.env.now_ms();
            match self.save_execution(&current, &next).await {
                Ok(()) => return Ok(next),
                Err(RuntimeError::Store(StoreError::ConditionFailed(_))) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(RuntimeError::Store(StoreError::Busy(format!(
            "execution {id} kept changing"
        ))))
    }

    /// Starts the state machine run an execution record calls for; starting it again is harmless.
    pub(crate) async fn start_run(&self, execution: &ExecutionRecord) -> Result<()> {
        let input = serde_json::to_value(ExecutionInput {
            execution_id: execution.execution_id.clone(),
            start_at: execution.start_at.clone(),
        })
        .map_err(|e| RuntimeError::Corrupt(e.to_string()))?;
        match self
            .orchestrator
            .start_execution(
                &execution.pipeline,
                execution.serial(),
                &execution.run_name(execution.runs),
                input,
            )
            .await
        {
            Ok(()) | Err(OrchestratorError::ExecutionExists(_)) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Makes sure every open execution's run exists: a crash between recording an execution and starting
    /// its run leaves the record alone otherwise. Call before driving executions.
    pub async fn recover(&self) -> Result<()> {
        for id in self.open_executions().await? {
            let record = self.execution(&id).await?;
            if !record.status.is_final() {
                self.start_run(&record).await?;
            }
        }
        Ok(())
    }
}
