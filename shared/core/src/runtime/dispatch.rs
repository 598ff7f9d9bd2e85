//! The runtime: the dispatch handler that every task of a compiled state machine calls, and the operations
//! people and the API perform on pipelines and executions. Written once over the ports; the Lambda functions
//! and the embedded host wrap it.
//!
//! Every state change is a conditional write, so a task delivered twice (Step Functions and Lambda retry, a
//! crash and a resume) changes nothing the second time: gates re-answer, finished actions re-report their
//! outcome, running actions are left running.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};
use tracing::{info, warn};

use super::events::Origin;
use super::jobs::{Executor, Job, JobInput, JobListener, JobOutcome, JobOutput};
use super::ports::{
    Condition, Env, EventSink, Item, ItemStore, ObjectStore, Orchestrator, OrchestratorError,
    Order, RunState, StoreError, Write,
};
use super::records::{
    execution_of_run, keys, ActionRecord, ActionStatus, ApprovalRecord, ApprovalStatus,
    ArtifactDetail, ArtifactRevision, ClientRequestRecord, ExecutionRecord, ExecutionStatus,
    LockHolder, PipelineHead, PipelineRecord, ResolvedVariable, RevisionOverride, StageRecord,
    StageStatus, TagsRecord, TransitionRecord, TriggerInfo, Waiter,
};
use super::variables::Scope;
use crate::compile::{compile, default_timeout_minutes};
use crate::contract::{
    error, Decision, ExecutionInput, GateOutput, RecoveryOutput, TaskError, TaskRequest,
};
use crate::definition::{Action, ConditionResult, ExecutionMode, Pipeline, RetryMode, Stage, Tag};
use crate::problem::Problems;
use crate::validate::{validate, Limits};

/// Why a runtime operation failed.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// No such pipeline (or version).
    #[error("pipeline {0} not found")]
    PipelineNotFound(String),
    /// No such execution.
    #[error("pipeline execution {0} not found")]
    ExecutionNotFound(String),
    /// No such stage or action in the pipeline.
    #[error("{0}")]
    NotFound(String),
    /// The definition is invalid.
    #[error("invalid pipeline definition:\n{0}")]
    InvalidDefinition(Problems),
    /// The request is not valid now (e.g. approving an approval that is not pending).
    #[error("{0}")]
    Conflict(String),
    /// The request itself is wrong.
    #[error("{0}")]
    Invalid(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The orchestrator failed.
    #[error(transparent)]
    Orchestrator(#[from] OrchestratorError),
    /// A stored record could not be read.
    #[error("corrupt record {0}")]
    Corrupt(String),
}

impl RuntimeError {
    /// The error name a failed task reports to the state machine: transient problems are retried.
    pub fn error_name(&self) -> &'static str {
        match self {
            Self::Store(StoreError::Busy(_) | StoreError::ConditionFailed(_)) => error::RETRYABLE,
            _ => "Sluice.InternalError",
        }
    }
}

type Result<T, E = RuntimeError> = std::result::Result<T, E>;

/// Settings of a runtime.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// The bucket artifacts are stored in.
    pub artifact_bucket: String,
    /// Account and region for events and ARNs.
    pub origin: Origin,
    /// Validation limits for pipelines created through the runtime.
    pub limits: Limits,
}

/// What a finished state machine run ended with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunOutcome {
    /// It reached its Succeed state.
    Succeeded,
    /// It failed with an error name and cause.
    Failed {
        /// The error name (`Sluice.StageFailed`, `Sluice.Stopped`, ...).
        error: String,
        /// The cause.
        cause: String,
    },
    /// It was aborted.
    Aborted,
}

/// How to start an execution.
#[derive(Debug, Clone, Default)]
pub struct StartRequest {
    /// Values for pipeline variables (others take their defaults).
    pub variables: BTreeMap<String, String>,
    /// Who or what started it.
    pub trigger: Option<TriggerInfo>,
    /// Source revisions to fetch instead of the newest.
    pub source_revisions: Vec<RevisionOverride>,
}

/// The runtime: ports plus configuration.
pub struct Runtime {
    /// The store.
    pub store: Arc<dyn ItemStore>,
    /// The object store (artifacts).
    pub objects: Arc<dyn ObjectStore>,
    /// The state machine engine.
    pub orchestrator: Arc<dyn Orchestrator>,
    /// Where events go.
    pub events: Arc<dyn EventSink>,
    /// Who runs jobs.
    pub executor: Arc<dyn Executor>,
    /// Time and ids.
    pub env: Arc<dyn Env>,
    /// Settings.
    pub config: RuntimeConfig,
}

/// A typed item read from the store, with the version a conditional write needs.
pub(crate) struct Versioned<T> {
    pub(crate) value: T,
    pub(crate) version: u64,
}

pub(crate) fn item<T: Serialize>(pk: String, sk: String, version: u64, value: &T) -> Result<Item> {
    let data = serde_json::to_value(value)
        .map_err(|e| RuntimeError::Corrupt(format!("{pk}/{sk}: {e}")))?;
    Ok(Item {
        pk,
        sk,
        version,
        data,
        expires_at: None,
    })
}

fn decode<T: DeserializeOwned>(item: Item) -> Result<Versioned<T>> {
    let value = serde_json::from_value(item.data)
        .map_err(|e| RuntimeError::Corrupt(format!("{}/{}: {e}", item.pk, item.sk)))?;
    Ok(Versioned {
        value,
        version: item.version,
    })
}

/// Puts `value` at `pk/sk`: creating it when `current` is None, else replacing that version.
pub(crate) fn put<T: Serialize>(
    pk: String,
    sk: String,
    current: Option<u64>,
    value: &T,
) -> Result<Write> {
    let (version, condition) = match current {
        None => (1, Condition::Absent),
        Some(v) => (v + 1, Condition::Version(v)),
    };
    Ok(Write::Put(item(pk, sk, version, value)?, condition))
}

impl Runtime {
    pub(crate) async fn read<T: DeserializeOwned>(
        &self,
        pk: &str,
        sk: &str,
    ) -> Result<Option<Versioned<T>>> {
        self.store.get(pk, sk).await?.map(decode).transpose()
    }

    pub(crate) async fn query<T: DeserializeOwned>(
        &self,
        pk: &str,
        prefix: &str,
        order: Order,
    ) -> Result<Vec<Versioned<T>>> {
        let mut out = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = self
                .store
                .query(pk, prefix, order, 100, after.as_deref())
                .await?;
            let done = page.len() < 100;
            after = page.last().map(|i| i.sk.clone());
            for i in page {
                out.push(decode(i)?);
            }
            if done {
                return Ok(out);
            }
        }
    }

    async fn publish(&self, event: Value) {
        if let Err(e) = self.events.publish(&event).await {
            warn!(error = %e, "could not publish an event");
        }
    }

    // ----------------------------------------------------------------------------------------- pipelines

    /// Creates a pipeline, or a new version of it when the definition changed; returns the version in force.
    pub async fn put_pipeline(
        &self,
        definition: Pipeline,
        base_dir: Option<String>,
    ) -> Result<PipelineRecord> {
        let problems = validate(&definition, &self.config.limits);
        if !problems.is_empty() {
            return Err(RuntimeError::InvalidDefinition(problems));
        }
        let name = definition.name.clone();
        let head: Option<Versioned<PipelineHead>> = self.read(keys::PIPELINES, &name).await?;
        if let Some(h) = &head {
            let current = self.pipeline(&name, Some(h.value.version)).await?;
            let mut same = definition.clone();
            same.version = current.definition.version;
            if same == current.definition && current.base_dir == base_dir {
                return Ok(current);
            }
        }
        self.store_version(definition, base_dir, head, Vec::new())
            .await
    }

    /// Creates a pipeline that must not exist yet (CreatePipeline), with its tags. A pipeline of that name
    /// is a [`RuntimeError::Conflict`], also when another writer creates it at the same moment.
    pub async fn create_pipeline(
        &self,
        definition: Pipeline,
        base_dir: Option<String>,
        tags: Vec<Tag>,
    ) -> Result<PipelineRecord> {
        let problems = validate(&definition, &self.config.limits);
        if !problems.is_empty() {
            return Err(RuntimeError::InvalidDefinition(problems));
        }
        let name = definition.name.clone();
        let in_use = || RuntimeError::Conflict(format!("a pipeline named {name} already exists"));
        if self
            .read::<PipelineHead>(keys::PIPELINES, &name)
            .await?
            .is_some()
        {
            return Err(in_use());
        }
        let tags = put(
            keys::pipeline(&name),
            keys::TAGS.into(),
            self.store
                .get(&keys::pipeline(&name), keys::TAGS)
                .await?
                .map(|i| i.version),
            &TagsRecord { tags },
        )?;
        match self
            .store_version(definition, base_dir, None, vec![tags])
            .await
        {
            Err(RuntimeError::Store(StoreError::ConditionFailed(_))) => Err(in_use()),
            other => other,
        }
    }

    /// Stores a new version of a pipeline, after `head` (None: the pipeline has no head, new or deleted),
    /// with `extra` writes in the same transaction. The head's absence is a condition of the write.
    async fn store_version(
        &self,
        mut definition: Pipeline,
        base_dir: Option<String>,
        head: Option<Versioned<PipelineHead>>,
        extra: Vec<Write>,
    ) -> Result<PipelineRecord> {
        let name = definition.name.clone();
        let now = self.env.now_ms();
        let version = match &head {
            Some(h) => h.value.version + 1,
            // A deleted pipeline's versions stay (its executions may still run, and the orchestrator keeps
            // each version's machine), so a pipeline created again under its name numbers on after them.
            None => self.last_stored_version(&name).await? + 1,
        };
        definition.version = Some(version);
        let record = PipelineRecord {
            definition,
            created_ms: now,
            base_dir,
        };
        let new_head = PipelineHead {
            name: name.clone(),
            version,
            created_ms: head.as_ref().map_or(now, |h| h.value.created_ms),
            updated_ms: now,
        };
        self.orchestrator
            .publish(&name, version, &compile(&record.definition))
            .await?;
        let mut writes = vec![
            put(keys::pipeline(&name), keys::version(version), None, &record)?,
            put(
                keys::PIPELINES.into(),
                name.clone(),
                head.map(|h| h.version),
                &new_head,
            )?,
        ];
        writes.extend(extra);
        self.store.transact(writes).await?;
        info!(pipeline = %name, version, "pipeline version stored");
        Ok(record)
    }

    /// The highest version stored for a pipeline name, 0 when there is none.
    async fn last_stored_version(&self, name: &str) -> Result<u64> {
        let newest = self
            .store
            .query(
                &keys::pipeline(name),
                "VERSION#",
                Order::Descending,
                1,
                None,
            )
            .await?;
        Ok(newest
            .first()
            .and_then(|i| i.sk.trim_start_matches("VERSION#").parse().ok())
            .unwrap_or(0))
    }

    /// Deletes a pipeline (DeletePipeline): its head, tags, transitions, idempotency tokens and execution
    /// listing go; its versions and executions' own records stay for runs that reference them. Refused
    /// ([`RuntimeError::Conflict`]) while an execution of it has not ended. Deleting a pipeline that does
    /// not exist does nothing, as in CodePipeline.
    pub async fn delete_pipeline(&self, name: &str) -> Result<()> {
        let Some(head) = self.read::<PipelineHead>(keys::PIPELINES, name).await? else {
            return Ok(());
        };
        let pk = keys::pipeline(name);
        let mut doomed = Vec::new();
        for prefix in ["EXECUTION#", "TRANSITION#", "REQUEST#", keys::TAGS] {
            let items = self
                .store
                .query(&pk, prefix, Order::Ascending, usize::MAX, None)
                .await?;
            for i in items {
                if prefix == "EXECUTION#" {
                    let listed: ExecutionRecord = decode(i.clone())?.value;
                    if !listed.status.is_final() {
                        return Err(RuntimeError::Conflict(format!(
                            "execution {} of pipeline {name} is {:?}; stop it before deleting the pipeline",
                            listed.execution_id, listed.status
                        )));
                    }
                }
                doomed.push(Write::Delete {
                    pk: i.pk,
                    sk: i.sk,
                    condition: Condition::Version(i.version),
                });
            }
        }
        // The head goes first, alone and conditionally: from then on the pipeline is gone for every reader.
        self.store
            .transact(vec![Write::Delete {
                pk: keys::PIPELINES.into(),
                sk: name.to_owned(),
                condition: Condition::Version(head.version),
            }])
            .await?;
        while !doomed.is_empty() {
            let rest = doomed.split_off(doomed.len().min(25));
            let chunk = std::mem::replace(&mut doomed, rest);
            match self.store.transact(chunk).await {
                Ok(()) | Err(StoreError::ConditionFailed(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        info!(pipeline = %name, "pipeline deleted");
        Ok(())
    }

    /// A pipeline's head (newest version and times), None when there is no such pipeline.
    pub async fn pipeline_head(&self, name: &str) -> Result<Option<PipelineHead>> {
        Ok(self
            .read::<PipelineHead>(keys::PIPELINES, name)
            .await?
            .map(|v| v.value))
    }

    /// A pipeline's tags (set by CreatePipeline).
    pub async fn pipeline_tags(&self, name: &str) -> Result<Vec<Tag>> {
        Ok(self
            .read::<TagsRecord>(&keys::pipeline(name), keys::TAGS)
            .await?
            .map(|v| v.value.tags)
            .unwrap_or_default())
    }

    /// One page of pipelines' newest versions by name, after the name `after`; the name to continue after
    /// when there may be more.
    pub async fn list_pipelines_page(
        &self,
        limit: usize,
        after: Option<&str>,
    ) -> Result<(Vec<PipelineHead>, Option<String>)> {
        self.page(keys::PIPELINES, "", Order::Ascending, limit, after)
            .await
    }

    /// A pipeline version (the newest when `version` is None).
    pub async fn pipeline(&self, name: &str, version: Option<u64>) -> Result<PipelineRecord> {
        let version = match version {
            Some(v) => v,
            None => {
                self.read::<PipelineHead>(keys::PIPELINES, name)
                    .await?
                    .ok_or_else(|| RuntimeError::PipelineNotFound(name.to_owned()))?
                    .value
                    .version
            }
        };
        Ok(self
            .read::<PipelineRecord>(&keys::pipeline(name), &keys::version(version))
            .await?
            .ok_or_else(|| RuntimeError::PipelineNotFound(format!("{name} version {version}")))?
            .value)
    }

    /// Every pipeline's newest version.
    pub async fn list_pipelines(&self) -> Result<Vec<PipelineHead>> {
        Ok(self
            .query::<PipelineHead>(keys::PIPELINES, "", Order::Ascending)
            .await?
            .into_iter()
            .map(|v| v.value)
            .collect())
    }

    // ---------------------------------------------------------------------------------------- executions

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
            status: ExecutionStatus::InProgress,
            status_summary: None,
            trigger: request.trigger.unwrap_or(TriggerInfo {
                trigger_type: "StartPipelineExecution".into(),
                trigger_detail: "sluice".into(),
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

    async fn execution_v(&self, id: &str) -> Result<Versioned<ExecutionRecord>> {
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

    /// One page of a partition: at most `limit` items after `after`, and the sort key of the last one when
    /// another page follows.
    async fn page<T: DeserializeOwned>(
        &self,
        pk: &str,
        prefix: &str,
        order: Order,
        limit: usize,
        after: Option<&str>,
    ) -> Result<(Vec<T>, Option<String>)> {
        let mut items = self
            .store
            .query(pk, prefix, order, limit.saturating_add(1), after)
            .await?;
        let more = items.len() > limit;
        items.truncate(limit);
        let next = if more {
            items.last().map(|i| i.sk.clone())
        } else {
            None
        };
        let values = items
            .into_iter()
            .map(|i| decode(i).map(|v| v.value))
            .collect::<Result<Vec<T>>>()?;
        Ok((values, next))
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
    async fn save_execution(
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
    async fn update_execution(
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
        let definition = self
            .pipeline(&record.pipeline, Some(record.version))
            .await?
            .definition;
        for stage in &definition.stages {
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

    /// Starts the state machine run an execution record calls for; starting it again is harmless.
    async fn start_run(&self, execution: &ExecutionRecord) -> Result<()> {
        let input = serde_json::to_value(ExecutionInput {
            execution_id: execution.execution_id.clone(),
            start_at: execution.start_at.clone(),
        })
        .map_err(|e| RuntimeError::Corrupt(e.to_string()))?;
        match self
            .orchestrator
            .start_execution(
                &execution.pipeline,
                execution.version,
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

    // --------------------------------------------------------------------------------------- transitions

    /// Disables or enables the transition into a stage. Enabling lets waiting executions in.
    pub async fn set_transition(
        &self,
        pipeline: &str,
        stage: &str,
        enabled: bool,
        reason: &str,
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

    // ------------------------------------------------------------------------------------------ approvals

    /// The pending approval of an action, in its newest execution that has one.
    pub async fn pending_approval(
        &self,
        pipeline: &str,
        stage: &str,
        action: &str,
    ) -> Result<Option<ApprovalRecord>> {
        let all: Vec<Versioned<ApprovalRecord>> = self
            .query(
                &keys::approval(pipeline, stage, action),
                "",
                Order::Ascending,
            )
            .await?;
        Ok(all
            .into_iter()
            .map(|v| v.value)
            .filter(|a| a.status == ApprovalStatus::Pending)
            .max_by_key(|a| a.requested_ms))
    }

    /// The approval of an action in one execution (its latest attempt's), if it asked for one.
    pub async fn approval(
        &self,
        pipeline: &str,
        stage: &str,
        action: &str,
        execution_id: &str,
    ) -> Result<Option<ApprovalRecord>> {
        Ok(self
            .read::<ApprovalRecord>(&keys::approval(pipeline, stage, action), execution_id)
            .await?
            .map(|v| v.value))
    }

    /// An approval found by its token.
    pub async fn approval_by_token(&self, token: &str) -> Result<Option<ApprovalRecord>> {
        Ok(self
            .read::<ApprovalRecord>(&keys::approval_token(token), keys::META)
            .await?
            .map(|v| v.value))
    }

    /// Approves or rejects a pending approval, found by its token (PutApprovalResult).
    pub async fn decide_approval(
        &self,
        token: &str,
        approve: bool,
        summary: Option<String>,
        by: &str,
    ) -> Result<ApprovalRecord> {
        let pointer: Versioned<ApprovalRecord> = self
            .read(&keys::approval_token(token), keys::META)
            .await?
            .ok_or_else(|| RuntimeError::NotFound(format!("no approval with token {token}")))?;
        let a = &pointer.value;
        let pk = keys::approval(&a.pipeline, &a.stage, &a.action);
        let current: Versioned<ApprovalRecord> = self
            .read(&pk, &a.execution_id)
            .await?
            .ok_or_else(|| RuntimeError::NotFound(format!("no approval with token {token}")))?;
        if current.value.status != ApprovalStatus::Pending {
            return Err(RuntimeError::Conflict(format!(
                "the approval of {}.{} in execution {} was already {:?}",
                a.stage, a.action, a.execution_id, current.value.status
            )));
        }
        let mut decided = current.value.clone();
        decided.status = if approve {
            ApprovalStatus::Approved
        } else {
            ApprovalStatus::Rejected
        };
        decided.summary = summary.clone();
        decided.decided_by = Some(by.to_owned());
        decided.decided_ms = Some(self.env.now_ms());
        // Both copies in one conditional transaction: a second decision loses.
        self.store
            .transact(vec![
                put(pk, a.execution_id.clone(), Some(current.version), &decided)?,
                put(
                    keys::approval_token(token),
                    keys::META.into(),
                    Some(pointer.version),
                    &decided,
                )?,
            ])
            .await?;
        let action: Versioned<ActionRecord> = self
            .read(
                &keys::execution(&a.execution_id),
                &keys::action(&a.stage, &a.action, a.attempt),
            )
            .await?
            .ok_or_else(|| {
                RuntimeError::Corrupt(format!("approval without action {}.{}", a.stage, a.action))
            })?;
        let text = summary.unwrap_or_default();
        let (status, outcome) = if approve {
            (
                ActionStatus::Succeeded,
                Ok(format!("Approved by {by}. {text}").trim().to_owned()),
            )
        } else {
            (
                ActionStatus::Failed,
                Err(format!("Rejected by {by}. {text}").trim().to_owned()),
            )
        };
        let settled = match &outcome {
            Ok(s) => {
                self.settle_action(&action.value, status, Some(s.clone()), None)
                    .await?
            }
            Err(e) => {
                self.settle_action(&action.value, status, None, Some(e.clone()))
                    .await?
            }
        };
        if settled {
            self.complete_action_token(&action.value.token, outcome.map(|_| ()))
                .await;
        }
        info!(pipeline = %a.pipeline, stage = %a.stage, action = %a.action, approve, "approval decided");
        Ok(decided)
    }

    // ------------------------------------------------------------------------------------------- dispatch

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
                warn!(execution = %execution_id, stage = %stage, "rollback is not supported by this runtime; the execution fails");
                self.succeed(&token, json!({})).await;
                Ok(())
            }
        }
    }

    async fn succeed(&self, token: &str, output: Value) {
        if let Err(e) = self.orchestrator.send_task_success(token, output).await {
            warn!(error = %e, "could not complete a task");
        }
    }

    async fn fail(&self, token: &str, name: &str, cause: &str) {
        if let Err(e) = self
            .orchestrator
            .send_task_failure(token, name, cause)
            .await
        {
            warn!(error = %e, "could not fail a task");
        }
    }

    async fn complete_action_token(&self, token: &str, outcome: std::result::Result<(), String>) {
        match outcome {
            Ok(()) => self.succeed(token, json!({})).await,
            Err(message) => self.fail(token, error::ACTION_FAILED, &message).await,
        }
    }

    /// The entry gate.
    async fn enter(&self, execution: &ExecutionRecord, stage: &str, token: &str) -> Result<()> {
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
        let definition = self
            .pipeline(pipeline, Some(execution.version))
            .await?
            .definition;
        let mode = definition.mode();
        if mode != ExecutionMode::Parallel
            && !self
                .acquire_or_wait(execution, stage, mode, &waiter)
                .await?
        {
            return Ok(());
        }
        self.admitted(execution, &definition, stage, token).await
    }

    /// Takes the stage's lock, or records the execution as waiting for it. True when taken.
    async fn acquire_or_wait(
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

    async fn try_lock(&self, lock_pk: &str, id: &str) -> Result<bool> {
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

    async fn supersede(&self, lock_pk: &str, w: &Versioned<Waiter>) -> Result<()> {
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
    async fn release(&self, execution: &ExecutionRecord, stage: &str) -> Result<()> {
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

    async fn wake_next(&self, pipeline: &str, stage: &str) -> Result<()> {
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
                let definition = self
                    .pipeline(pipeline, Some(record.version))
                    .await?
                    .definition;
                Box::pin(self.admitted(&record, &definition, stage, &next.value.token)).await
            }
            // Someone else took the lock or the waiter: they will wake the rest.
            Err(StoreError::ConditionFailed(_)) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Removes an execution's waits at every gate (it stopped): their tasks fail with Sluice.Stopped.
    async fn release_waits_of(&self, execution: &ExecutionRecord) -> Result<()> {
        let definition = self
            .pipeline(&execution.pipeline, Some(execution.version))
            .await?
            .definition;
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

    /// The execution may enter: evaluate beforeEntry, record the stage attempt, answer the gate.
    async fn admitted(
        &self,
        execution: &ExecutionRecord,
        definition: &Pipeline,
        stage: &str,
        token: &str,
    ) -> Result<()> {
        let id = &execution.execution_id;
        let stage_def = find_stage(definition, stage)?;
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
        let scope = self.scope(execution, definition).await?;
        let verdict = evaluate_conditions(
            stage_def
                .before_entry
                .as_ref()
                .map(|c| c.conditions.as_slice()),
            &scope,
        );
        let now = self.env.now_ms();
        let (status, skip, failure) = match verdict {
            None => (StageStatus::InProgress, false, None),
            Some((ConditionResult::Skip, why)) => (StageStatus::Skipped, true, Some(why)),
            Some((_, why)) => (StageStatus::Failed, false, Some(why)),
        };
        let record = StageRecord {
            execution_id: id.clone(),
            stage: stage.to_owned(),
            attempt,
            status,
            started_ms: now,
            updated_ms: now,
            error: failure.clone().filter(|_| status == StageStatus::Failed),
        };
        match self
            .store
            .transact(vec![put(
                keys::execution(id),
                keys::stage(stage, attempt),
                None,
                &record,
            )?])
            .await
        {
            Ok(()) => {}
            // A concurrent delivery recorded it: answer like it.
            Err(StoreError::ConditionFailed(_)) => {
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

    /// The exit gate.
    async fn leave(&self, id: &str, stage: &str, token: &str) -> Result<()> {
        let execution = self.execution(id).await?;
        let definition = self
            .pipeline(&execution.pipeline, Some(execution.version))
            .await?
            .definition;
        let stage_def = find_stage(&definition, stage)?;
        let Some(current) = self.current_stage(id, stage).await? else {
            return Err(RuntimeError::Corrupt(format!(
                "stage {stage} left without being entered"
            )));
        };
        if current.value.status == StageStatus::Succeeded {
            // A re-delivery (the first may have died before letting go of the stage).
            self.release(&execution, stage).await?;
            self.succeed(token, json!({})).await;
            return Ok(());
        }
        let scope = self.scope(&execution, &definition).await?;
        if let Some((_, why)) = evaluate_conditions(
            stage_def
                .on_success
                .as_ref()
                .map(|c| c.conditions.as_slice()),
            &scope,
        ) {
            self.fail(token, error::CONDITION_FAILED, &why).await;
            return Ok(());
        }
        let mut done = current.value.clone();
        done.status = StageStatus::Succeeded;
        done.updated_ms = self.env.now_ms();
        self.store
            .transact(vec![put(
                keys::execution(id),
                keys::stage(stage, done.attempt),
                Some(current.version),
                &done,
            )?])
            .await?;
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
        self.release(&execution, stage).await?;
        info!(execution = %id, stage, "stage succeeded");
        self.succeed(token, json!({})).await;
        Ok(())
    }

    async fn current_stage(&self, id: &str, stage: &str) -> Result<Option<Versioned<StageRecord>>> {
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

    /// Records a stage's failure and decides what follows.
    async fn stage_failed(
        &self,
        id: &str,
        stage: &str,
        failure: &TaskError,
        token: &str,
    ) -> Result<()> {
        let execution = self.execution(id).await?;
        let definition = self
            .pipeline(&execution.pipeline, Some(execution.version))
            .await?
            .definition;
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
                        self.settle_action(&action, status, None, Some(message.clone()))
                            .await?;
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
        let decision = if stopped || failure.error == error::SUPERSEDED {
            Decision::Fail
        } else {
            decide_recovery(stage_def, attempt)
        };
        info!(execution = %id, stage, ?decision, "stage failed");
        self.succeed(token, json!(RecoveryOutput { decision }))
            .await;
        Ok(())
    }

    /// The values `#{...}` references resolve to in an execution: pipeline variables, the execution id,
    /// and the output variables of every action (by namespace) that succeeded so far.
    async fn scope(&self, execution: &ExecutionRecord, definition: &Pipeline) -> Result<Scope> {
        let mut scope = Scope::default();
        scope.set(
            "codepipeline",
            "PipelineExecutionId",
            &execution.execution_id,
        );
        for v in &execution.variables {
            scope.set("variables", &v.name, &v.resolved_value);
        }
        let actions = self.actions(&execution.execution_id).await?;
        for (_, _, stage, action) in definition.actions() {
            let Some(ns) = &action.namespace else {
                continue;
            };
            if let Some(done) = latest_success(&actions, &stage.name, &action.name) {
                for (k, v) in &done.output_variables {
                    scope.set(ns, k, v);
                }
            }
        }
        Ok(scope)
    }

    /// Runs an action attempt, or re-reports it when it already ran.
    async fn run_action(
        &self,
        id: &str,
        stage: &str,
        action_name: &str,
        attempt: u32,
        token: &str,
    ) -> Result<()> {
        let execution = self.execution(id).await?;
        let record = self
            .pipeline(&execution.pipeline, Some(execution.version))
            .await?;
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
        let actions = self.actions(id).await?;
        // FAILED_ACTIONS retries keep what succeeded in the previous attempt.
        if attempt > 1
            && execution.retry_mode.as_deref() != Some("ALL_ACTIONS")
            && auto_or_failed_actions(stage_def, &execution)
        {
            if let Some(prev) = actions.iter().find(|a| {
                a.stage == stage
                    && a.action == action_name
                    && a.attempt == attempt - 1
                    && a.status == ActionStatus::Succeeded
            }) {
                let mut kept = prev.clone();
                kept.attempt = attempt;
                kept.token = token.to_owned();
                kept.summary = Some(format!(
                    "Kept from attempt {}: it succeeded then.",
                    attempt - 1
                ));
                self.store.transact(vec![put(pk, sk, None, &kept)?]).await?;
                self.succeed(token, json!({})).await;
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
        };
        // Resolve variables and inputs; a problem fails the action (as CodePipeline does), not the task.
        let scope = self.scope(&execution, definition).await?;
        let resolved = resolve_action(action, &scope).and_then(|(config, commands, env)| {
            let inputs = action
                .inputs()
                .map(|name| {
                    producer_output(definition, &actions, name)
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
            let approval = ApprovalRecord {
                pipeline: execution.pipeline.clone(),
                execution_id: id.to_owned(),
                stage: stage.to_owned(),
                action: action_name.to_owned(),
                attempt,
                token: self.env.new_id(),
                status: ApprovalStatus::Pending,
                summary: None,
                decided_by: None,
                custom_data: config.get("CustomData").cloned(),
                external_link: config.get("ExternalEntityLink").cloned(),
                requested_ms: now,
                decided_ms: None,
            };
            let apk = keys::approval(&execution.pipeline, stage, action_name);
            let existing = self.store.get(&apk, id).await?.map(|i| i.version);
            self.store
                .transact(vec![
                    put(apk, id.to_owned(), existing, &approval)?,
                    put(
                        keys::approval_token(&approval.token),
                        keys::META.into(),
                        None,
                        &approval,
                    )?,
                ])
                .await?;
            let expires = super::links::expiry_s(approval.requested_ms, action.timeout_in_minutes);
            if let Err(e) = self.events.approval_requested(&approval, expires).await {
                warn!(error = %e, execution = %id, stage, action = action_name, "could not announce an approval");
            }
            return Ok(());
        }

        let mut job = self.job(&rec, action, commands, env, inputs, &record.base_dir);
        job.revision_override = revision_override(&execution, &rec.action);
        as_the_pipeline_says(&mut job, action, definition);
        if let Err(message) = self.start_job(job).await {
            self.settle_action(&rec, ActionStatus::Failed, None, Some(message.clone()))
                .await?;
            self.fail(token, error::ACTION_FAILED, &message).await;
        }
        Ok(())
    }

    /// A RunAction for an attempt that already has a record: re-report, adopt the new token, or restart a run
    /// that died with its process.
    async fn redelivered(
        &self,
        existing: Versioned<ActionRecord>,
        token: &str,
        base_dir: &Option<String>,
    ) -> Result<()> {
        let mut rec = existing.value;
        match rec.status {
            ActionStatus::Succeeded => {
                self.succeed(token, json!({})).await;
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
        if is_manual(&rec) {
            // Decided, but the decision's process died before it completed the action: finish it now.
            let decided: Option<Versioned<ApprovalRecord>> = self
                .read(
                    &keys::approval(&rec.pipeline, &rec.stage, &rec.action),
                    &rec.execution_id,
                )
                .await?;
            if let Some(a) = decided.filter(|a| a.value.attempt == rec.attempt) {
                let by = a.value.decided_by.clone().unwrap_or_default();
                let outcome = match a.value.status {
                    ApprovalStatus::Pending => None,
                    ApprovalStatus::Approved => Some(Ok(format!("Approved by {by}"))),
                    ApprovalStatus::Rejected => Some(Err(format!("Rejected by {by}"))),
                };
                if let Some(outcome) = outcome {
                    match &outcome {
                        Ok(summary) => {
                            self.settle_action(
                                &rec,
                                ActionStatus::Succeeded,
                                Some(summary.clone()),
                                None,
                            )
                            .await?
                        }
                        Err(why) => {
                            self.settle_action(&rec, ActionStatus::Failed, None, Some(why.clone()))
                                .await?
                        }
                    };
                    self.complete_action_token(token, outcome.map(|_| ())).await;
                    return Ok(());
                }
            }
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
            let definition = self
                .pipeline(&rec.pipeline, Some(execution.version))
                .await?
                .definition;
            let action = find_stage(&definition, &rec.stage)?
                .actions
                .iter()
                .find(|a| a.name == rec.action)
                .ok_or_else(|| RuntimeError::NotFound(format!("no action {}", rec.action)))?
                .clone();
            let scope = self.scope(&execution, &definition).await?;
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
            as_the_pipeline_says(&mut job, &action, &definition);
            if let Err(message) = self.start_job(job).await {
                self.settle_action(&rec, ActionStatus::Failed, None, Some(message.clone()))
                    .await?;
                self.fail(token, error::ACTION_FAILED, &message).await;
            }
        }
        Ok(())
    }

    fn job(
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
        }
    }

    /// Moves an in-progress action to a final status. False when it was not in progress any more.
    async fn settle_action(
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

    async fn action_event(&self, execution: &ExecutionRecord, rec: &ActionRecord, state: &str) {
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

    /// Starts an action attempt's job: custom actions' jobs are queued for job workers, others go to the
    /// executor.
    async fn start_job(&self, job: Job) -> std::result::Result<(), String> {
        if super::workers::is_worker_type(&job.action_type) {
            return self
                .queue_worker_job(job, None)
                .await
                .map(|_| ())
                .map_err(|e| format!("could not queue the job for workers: {e}"));
        }
        self.executor.start(job).await
    }

    /// Whether an action attempt's job is still running (or, for custom actions, with a worker or queued).
    async fn job_running(&self, job_id: &str) -> bool {
        if self.executor.is_running(job_id).await {
            return true;
        }
        match self.worker_job_live(job_id).await {
            Ok(live) => live,
            Err(e) => {
                warn!(job = job_id, error = %e, "cannot read a worker job; taking it as live");
                true
            }
        }
    }

    /// Cancels an action attempt's job wherever it runs.
    async fn cancel_job(&self, job_id: &str) {
        self.executor.cancel(job_id).await;
        if let Err(e) = self.cancel_worker_job(job_id).await {
            warn!(job = job_id, error = %e, "could not cancel a worker job");
        }
    }

    /// Records a job's outcome and completes its action's task.
    pub async fn complete_job(&self, job: &Job, outcome: JobOutcome) -> Result<()> {
        let pk = keys::execution(&job.execution_id);
        let sk = keys::action(&job.stage, &job.action, job.attempt);
        let Some(current) = self.read::<ActionRecord>(&pk, &sk).await? else {
            warn!(job = %job.id, "a job finished for an action that has no record");
            return Ok(());
        };
        if current.value.status != ActionStatus::InProgress || current.value.job_id() != job.id {
            return Ok(());
        }
        let mut next = current.value.clone();
        next.updated_ms = self.env.now_ms();
        let result = match outcome {
            JobOutcome::Succeeded {
                artifacts,
                variables,
                summary,
                revision,
            } => {
                next.status = ActionStatus::Succeeded;
                next.output_artifacts = artifacts
                    .into_iter()
                    .map(|(name, object)| ArtifactDetail { name, object })
                    .collect();
                next.output_variables = variables;
                next.summary = summary;
                next.revision = revision;
                Ok(())
            }
            JobOutcome::Failed { message } => {
                next.status = ActionStatus::Failed;
                next.error = Some(message.clone());
                Err(message)
            }
        };
        match self
            .store
            .transact(vec![put(pk, sk, Some(current.version), &next)?])
            .await
        {
            Ok(()) => {}
            Err(StoreError::ConditionFailed(_)) => return Ok(()),
            Err(e) => return Err(e.into()),
        }
        if let Some(revision) = next.revision.clone() {
            let action_name = next.action.clone();
            self.update_execution(&job.execution_id, |e| {
                if e.source_revisions
                    .iter()
                    .any(|r| r.action_name == action_name)
                {
                    return false;
                }
                e.source_revisions.push(ArtifactRevision {
                    action_name: action_name.clone(),
                    revision: revision.clone(),
                });
                true
            })
            .await?;
        }
        let execution = self.execution(&job.execution_id).await?;
        self.action_event(
            &execution,
            &next,
            if result.is_ok() {
                "SUCCEEDED"
            } else {
                "FAILED"
            },
        )
        .await;
        info!(execution = %job.execution_id, stage = %job.stage, action = %job.action, ok = result.is_ok(), "action finished");
        self.complete_action_token(&next.token, result).await;
        Ok(())
    }
}

#[async_trait]
impl JobListener for Runtime {
    async fn job_finished(&self, job: &Job, outcome: JobOutcome) {
        if let Err(e) = self.complete_job(job, outcome).await {
            warn!(job = %job.id, error = %e, "could not record a job's outcome");
        }
    }
}

/// What the definition says about how a job runs in AWS: the role (the action's `roleArn`, else the
/// pipeline's) and the KMS key of its output artifacts (`artifactStore.encryptionKey.id`).
fn as_the_pipeline_says(job: &mut Job, action: &Action, definition: &Pipeline) {
    job.role_arn = action
        .role_arn
        .clone()
        .or_else(|| definition.role_arn.clone());
    let key = definition
        .artifact_store
        .as_ref()
        .and_then(|s| s.encryption_key.as_ref())
        .map(|k| k.id.clone());
    for output in &mut job.outputs {
        output.encryption_key.clone_from(&key);
    }
}

/// The revision an execution was started with for a source action, if any.
fn revision_override(execution: &ExecutionRecord, action: &str) -> Option<RevisionOverride> {
    execution
        .revision_overrides
        .iter()
        .find(|o| o.action_name == action)
        .cloned()
}

/// Checks StartPipelineExecution's `sourceRevisions`: each names a source action of the pipeline once, with a
/// revision type its provider has.
fn check_revision_overrides(definition: &Pipeline, overrides: &[RevisionOverride]) -> Result<()> {
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

fn find_stage<'p>(definition: &'p Pipeline, stage: &str) -> Result<&'p Stage> {
    definition
        .stages
        .iter()
        .find(|s| s.name == stage)
        .ok_or_else(|| {
            RuntimeError::NotFound(format!("pipeline {} has no stage {stage}", definition.name))
        })
}

fn is_manual_approval(action: &Action) -> bool {
    action.action_type_id.category == "Approval" && action.action_type_id.provider == "Manual"
}

fn is_manual(rec: &ActionRecord) -> bool {
    rec.action_type.category == "Approval" && rec.action_type.provider == "Manual"
}

/// Whether an attempt after the first keeps earlier successes: automatic retries follow the stage's
/// retryMode (FAILED_ACTIONS by default); manual retries follow the retry's mode.
fn auto_or_failed_actions(stage: &Stage, execution: &ExecutionRecord) -> bool {
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

/// The newest successful attempt of an action in an execution.
fn latest_success<'a>(
    actions: &'a [ActionRecord],
    stage: &str,
    action: &str,
) -> Option<&'a ActionRecord> {
    actions
        .iter()
        .filter(|a| a.stage == stage && a.action == action && a.status == ActionStatus::Succeeded)
        .max_by_key(|a| a.attempt)
}

/// Where the artifact `name` is, from the action that produced it in this execution.
fn producer_output(
    definition: &Pipeline,
    actions: &[ActionRecord],
    name: &str,
) -> Option<super::ports::ObjectInfo> {
    let (_, _, stage, producer) = definition
        .actions()
        .find(|(_, _, _, a)| a.outputs().any(|o| o == name))?;
    latest_success(actions, &stage.name, &producer.name)?
        .output_artifacts
        .iter()
        .find(|o| o.name == name)
        .map(|o| o.object.clone())
}

type Resolved = (
    BTreeMap<String, String>,
    Vec<String>,
    BTreeMap<String, String>,
);

/// An action's configuration, commands and environment with references resolved.
fn resolve_action(action: &Action, scope: &Scope) -> std::result::Result<Resolved, String> {
    let mut config = BTreeMap::new();
    for (k, v) in action.configuration.iter().flatten() {
        config.insert(k.clone(), scope.resolve(v)?);
    }
    let commands = action
        .commands
        .iter()
        .flatten()
        .map(|c| scope.resolve(c))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let mut env = BTreeMap::new();
    for e in action.environment_variables.iter().flatten() {
        if e.var_type.as_deref() == Some("SECRETS_MANAGER") {
            return Err(format!(
                "environment variable {} comes from Secrets Manager, which this runtime cannot read",
                e.name
            ));
        }
        env.insert(e.name.clone(), scope.resolve(&e.value)?);
    }
    Ok((config, commands, env))
}

/// Evaluates conditions; Some((result, why)) when a rule did not pass.
fn evaluate_conditions(
    conditions: Option<&[crate::definition::Condition]>,
    scope: &Scope,
) -> Option<(ConditionResult, String)> {
    for condition in conditions.into_iter().flatten() {
        let result = condition.result.unwrap_or(ConditionResult::Fail);
        for rule in condition.rules.iter().flatten() {
            if let Err(why) = evaluate_rule(rule, scope) {
                return Some((result, format!("rule {} did not pass: {why}", rule.name)));
            }
        }
    }
    None
}

/// Evaluates one rule. VariableCheck is evaluated here; rules that need AWS services fail with a reason.
fn evaluate_rule(rule: &crate::definition::Rule, scope: &Scope) -> std::result::Result<(), String> {
    let config = rule.configuration.clone().unwrap_or_default();
    match rule.rule_type_id.provider.as_str() {
        "VariableCheck" => {
            let variable = config
                .get("Variable")
                .ok_or("VariableCheck needs Variable")?;
            let expected = config.get("Value").ok_or("VariableCheck needs Value")?;
            let operator = config.get("Operator").map_or("EQ", String::as_str);
            let actual = scope.resolve(variable)?;
            let expected = scope.resolve(expected)?;
            let ok = match operator {
                "EQ" => actual == expected,
                "NE" => actual != expected,
                "CONTAINS" => actual.contains(&expected),
                "GT" | "LT" | "GE" | "LE" => {
                    let (a, b) = (actual.parse::<f64>(), expected.parse::<f64>());
                    let (Ok(a), Ok(b)) = (a, b) else {
                        return Err(format!(
                            "{operator} compares numbers, not {actual:?} and {expected:?}"
                        ));
                    };
                    match operator {
                        "GT" => a > b,
                        "LT" => a < b,
                        "GE" => a >= b,
                        _ => a <= b,
                    }
                }
                other => return Err(format!("unknown operator {other}")),
            };
            if ok {
                Ok(())
            } else {
                Err(format!("{actual:?} {operator} {expected:?} is false"))
            }
        }
        other => Err(format!(
            "the {other} rule needs AWS and cannot be evaluated by this runtime"
        )),
    }
}

/// What follows a failed stage attempt: onFailure's result, one automatic retry at most.
fn decide_recovery(stage: &Stage, attempt: u32) -> Decision {
    let Some(on_failure) = &stage.on_failure else {
        return Decision::Fail;
    };
    match on_failure.result {
        Some(ConditionResult::Retry) if attempt < 2 => Decision::Retry,
        Some(ConditionResult::Rollback) => Decision::Rollback,
        _ => Decision::Fail,
    }
}

/// A failure as people read it: the cause, else the error name.
fn failure_message(failure: &TaskError) -> String {
    if failure.cause.is_empty() {
        failure.error.clone()
    } else if failure.error == error::ACTION_FAILED {
        failure.cause.clone()
    } else {
        format!("{}: {}", failure.error, failure.cause)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::definition::{Condition as Cond, Rule, RuleTypeId};

    fn variable_check(variable: &str, operator: &str, value: &str) -> Rule {
        Rule {
            name: "check".into(),
            rule_type_id: RuleTypeId {
                category: "Rule".into(),
                owner: Some("AWS".into()),
                provider: "VariableCheck".into(),
                version: Some("1".into()),
            },
            configuration: Some(
                [
                    ("Variable", variable),
                    ("Operator", operator),
                    ("Value", value),
                ]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
            ),
            commands: None,
            input_artifacts: None,
            role_arn: None,
            region: None,
            timeout_in_minutes: None,
        }
    }

    #[test]
    fn variable_checks_compare_resolved_values() {
        let mut scope = Scope::default();
        scope.set("variables", "env", "prod");
        scope.set("variables", "n", "3");
        let check = |rule: Rule| evaluate_rule(&rule, &scope);
        assert!(check(variable_check("#{variables.env}", "EQ", "prod")).is_ok());
        assert!(check(variable_check("#{variables.env}", "NE", "prod")).is_err());
        assert!(check(variable_check("#{variables.n}", "GT", "2")).is_ok());
        assert!(check(variable_check("#{variables.n}", "LE", "2")).is_err());
        assert!(check(variable_check("#{variables.env}", "GT", "2")).is_err());
    }

    #[test]
    fn a_failing_rule_gives_its_conditions_result() {
        let scope = Scope::default();
        let conditions = vec![Cond {
            result: Some(ConditionResult::Skip),
            rules: Some(vec![variable_check("a", "EQ", "b")]),
        }];
        let verdict = evaluate_conditions(Some(&conditions), &scope);
        assert_eq!(verdict.map(|v| v.0), Some(ConditionResult::Skip));
    }
}
