//! Custom action types and the jobs their workers poll: CodePipeline's job-worker protocol over the store.
//!
//! An action whose owner is `Custom` is not run by the executor. Its job is queued instead, and waits until a
//! worker (Jenkins-style, or `sluice agent --provider`) polls it (`PollForJobs`), acknowledges it with the
//! nonce it got (`AcknowledgeJob`), and reports how it ended (`PutJobSuccessResult`, `PutJobFailureResult`).
//! A success with a continuation token queues the same action again with that token, as CodePipeline does for
//! long-running work.
//!
//! | pk | sk | item |
//! |---|---|---|
//! | `ACTION_TYPES` | `<category>#<provider>#<version>` | [`CustomActionType`] |
//! | `JOB_QUEUE#<category>#<provider>#<version>` | `<queued:015>#<job id>` | [`QueueEntry`] |
//! | `WORKER_JOB#<job id>` | `META` | [`WorkerJob`] |
//! | `WORKER_JOB_OF#<action attempt's job id>` | `META` | [`JobPointer`]: its newest worker job |

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use tracing::info;

use crate::error::RuntimeError;
use crate::jobs::{ExternalExecution, Job, JobOutcome};
use crate::ports::{Condition, Order, StoreError, Write};
use crate::records::keys;
use crate::records::SourceRevision;
use crate::runtime::Runtime;
use sluice_definition::model::ActionTypeId;

/// How long a polled job that nobody acknowledged stays with its poller before another poll may take it.
pub const DISPATCH_LEASE_MS: i64 = 60_000;

/// The most output variables a job may report, in bytes of names and values (CodePipeline's limit).
pub const MAX_OUTPUT_VARIABLES_BYTES: usize = 122_880;

const ACTION_TYPES: &str = "ACTION_TYPES";

fn type_key(id: &ActionTypeId) -> String {
    format!("{}#{}#{}", id.category, id.provider, id.version)
}
fn queue_key(id: &ActionTypeId) -> String {
    format!("JOB_QUEUE#{}", type_key(id))
}
fn job_key(id: &str) -> String {
    format!("WORKER_JOB#{id}")
}
fn pointer_key(action_job: &str) -> String {
    format!("WORKER_JOB_OF#{action_job}")
}

/// Why a job-worker operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// No such job.
    #[error("job {0} not found")]
    JobNotFound(String),
    /// The nonce is not the one the job was dispatched with.
    #[error("the nonce does not match job {0}'s")]
    InvalidNonce(String),
    /// The job is not in a state that allows this.
    #[error("{0}")]
    InvalidJobState(String),
    /// No such (live) custom action type.
    #[error("{0}")]
    ActionTypeNotFound(String),
    /// The request is wrong.
    #[error("{0}")]
    Invalid(String),
    /// Output variables over the size limit.
    #[error("{0}")]
    OutputVariablesTooLarge(String),
    /// Anything else.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
}

impl From<StoreError> for WorkerError {
    fn from(e: StoreError) -> Self {
        Self::Runtime(e.into())
    }
}

type Result<T, E = WorkerError> = std::result::Result<T, E>;

/// A custom action type, as CreateCustomActionType made it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CustomActionType {
    /// Its id; the owner is always `Custom`.
    pub id: ActionTypeId,
    /// URLs shown for its actions.
    pub settings: Option<ActionTypeSettings>,
    /// The configuration its actions take.
    pub configuration_properties: Vec<ConfigurationProperty>,
    /// How many input artifacts its actions take.
    pub input_artifact_details: ArtifactCount,
    /// How many output artifacts its actions make.
    pub output_artifact_details: ArtifactCount,
    /// Deleted types stay recorded: a deleted id cannot be created again (CodePipeline's rule).
    pub deleted: bool,
    /// When it was created.
    pub created_ms: i64,
}

/// URLs of a custom action type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ActionTypeSettings {
    /// Where the worker's configuration is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub third_party_configuration_url: Option<String>,
    /// A link to the resource an action uses.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entity_url_template: Option<String>,
    /// A link to one run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub execution_url_template: Option<String>,
    /// A link to a revision.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revision_url_template: Option<String>,
}

/// One configuration property of a custom action type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConfigurationProperty {
    /// The key actions set.
    pub name: String,
    /// Whether actions must set it.
    pub required: bool,
    /// Whether it identifies the action (CodePipeline keeps at most one key property).
    pub key: bool,
    /// Whether it is hidden from GetPipeline and job details outside the worker.
    pub secret: bool,
    /// Whether PollForJobs may filter on it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queryable: Option<bool>,
    /// Shown to people.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// String, Number or Boolean.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}

/// Artifact counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ArtifactCount {
    /// At least.
    pub minimum_count: u32,
    /// At most.
    pub maximum_count: u32,
}

/// A worker job's status, in CodePipeline's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum WorkerJobStatus {
    /// Waiting for a worker.
    Queued,
    /// Handed to a poller, not yet acknowledged.
    Dispatched,
    /// Acknowledged: a worker runs it.
    InProgress,
    /// Reported as succeeded (or continued).
    Succeeded,
    /// Reported as failed, or cancelled with its action.
    Failed,
}

impl WorkerJobStatus {
    pub fn is_final(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed)
    }
}

/// A job as workers see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkerJob {
    /// The job id workers use (a UUID).
    pub id: String,
    /// The action attempt's job.
    pub job: Job,
    /// Its status.
    pub status: WorkerJobStatus,
    /// The nonce of its current dispatch.
    pub nonce: Option<String>,
    /// When it was dispatched.
    pub dispatched_ms: Option<i64>,
    /// The token a previous job of the same action continued with.
    pub continuation_token: Option<String>,
    /// When it was queued.
    pub queued_ms: i64,
    /// Its queue entry's sort key (removed once acknowledged or ended).
    pub queue_sk: String,
    /// Handed to a provider that calls back (a Lambda function invoked with it), not queued for workers.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub invoked: bool,
}

/// A queue entry: which job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueEntry {
    /// The worker job id.
    pub job_id: String,
}

/// The newest worker job of an action attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobPointer {
    /// The worker job id.
    pub job_id: String,
}

/// What a worker reports on success.
#[derive(Debug, Clone, Default)]
pub struct JobSuccess {
    /// The revision a source action produced.
    pub revision: Option<SourceRevision>,
    /// Continue later: queue the action's job again with this token.
    pub continuation_token: Option<String>,
    /// A summary for people.
    pub summary: Option<String>,
    /// Output variables.
    pub output_variables: BTreeMap<String, String>,
    /// What the worker ran the job as (its `executionDetails.externalExecutionId`), shown on the action.
    pub external_id: Option<String>,
}

/// The writes that move a job to `next` (from `version`) and drop its queue entry: it is no longer offered.
fn leave_queue(id: &str, version: u64, next: &WorkerJob) -> Result<Vec<Write>> {
    Ok(vec![
        crate::runtime::put(job_key(id), keys::META.into(), Some(version), next)?,
        Write::Delete {
            pk: queue_key(&next.job.action_type),
            sk: next.queue_sk.clone(),
            condition: Condition::None,
        },
    ])
}

/// Whether an action type's provider is invoked with a job id and answers through the job-worker API
/// (`Invoke/AWS/Lambda`).
pub fn is_invoked_type(id: &ActionTypeId) -> bool {
    id.category == "Invoke" && id.owner == "AWS" && id.provider == "Lambda"
}

/// Whether actions of this type are run by job workers (custom action types).
pub fn is_worker_type(id: &ActionTypeId) -> bool {
    id.owner == "Custom"
}

impl Runtime {
    /// The tags kept in a resource's partition (a pipeline's, a custom action type's).
    pub async fn resource_tags(&self, partition: &str) -> Result<Vec<sluice_definition::Tag>> {
        Ok(self
            .read::<crate::records::TagsRecord>(partition, keys::TAGS)
            .await?
            .map(|v| v.value.tags)
            .unwrap_or_default())
    }

    /// Replaces the tags kept in a resource's partition.
    pub async fn put_resource_tags(
        &self,
        partition: &str,
        tags: Vec<sluice_definition::Tag>,
    ) -> Result<()> {
        self.store
            .transact(vec![Write::Put(
                crate::runtime::item(
                    partition.to_owned(),
                    keys::TAGS.into(),
                    self.env.now_ms().max(1) as u64,
                    &crate::records::TagsRecord { tags },
                )?,
                Condition::None,
            )])
            .await?;
        Ok(())
    }

    /// Records a new custom action type (CreateCustomActionType).
    pub async fn create_custom_action_type(
        &self,
        mut action_type: CustomActionType,
    ) -> Result<CustomActionType> {
        action_type.id.owner = "Custom".into();
        let ArtifactCount {
            minimum_count: imin,
            maximum_count: imax,
        } = action_type.input_artifact_details;
        let ArtifactCount {
            minimum_count: omin,
            maximum_count: omax,
        } = action_type.output_artifact_details;
        if imin > imax || omin > omax {
            return Err(WorkerError::Invalid(
                "an artifact minimumCount is greater than its maximumCount".into(),
            ));
        }
        if action_type
            .configuration_properties
            .iter()
            .filter(|p| p.key)
            .count()
            > 1
        {
            return Err(WorkerError::Invalid(
                "at most one configuration property may be a key".into(),
            ));
        }
        let mut names = std::collections::BTreeSet::new();
        for p in &action_type.configuration_properties {
            if !names.insert(p.name.as_str()) {
                return Err(WorkerError::Invalid(format!(
                    "configuration property {:?} is listed twice",
                    p.name
                )));
            }
            if p.secret && p.queryable == Some(true) {
                return Err(WorkerError::Invalid(format!(
                    "configuration property {:?} cannot be both secret and queryable",
                    p.name
                )));
            }
        }
        if action_type
            .configuration_properties
            .iter()
            .filter(|p| p.queryable == Some(true))
            .count()
            > 1
        {
            return Err(WorkerError::Invalid(
                "at most one configuration property may be queryable".into(),
            ));
        }
        action_type.deleted = false;
        action_type.created_ms = self.env.now_ms();
        let key = type_key(&action_type.id);
        match self
            .store
            .transact(vec![crate::runtime::put(
                ACTION_TYPES.into(),
                key,
                None,
                &action_type,
            )?])
            .await
        {
            Ok(()) => Ok(action_type),
            Err(StoreError::ConditionFailed(_)) => Err(WorkerError::Invalid(format!(
                "action type {} already exists (or was deleted: a deleted custom action type cannot be created \
                 again; use a new version)",
                action_type.id
            ))),
            Err(e) => Err(e.into()),
        }
    }

    /// Marks a custom action type deleted (DeleteCustomActionType). Unknown or already deleted types are
    /// accepted, as CodePipeline accepts them.
    pub async fn delete_custom_action_type(&self, id: &ActionTypeId) -> Result<()> {
        for _ in 0..8 {
            let Some(current) = self
                .read::<CustomActionType>(ACTION_TYPES, &type_key(id))
                .await?
            else {
                return Ok(());
            };
            if current.value.deleted {
                return Ok(());
            }
            let mut next = current.value;
            next.deleted = true;
            match self
                .store
                .transact(vec![crate::runtime::put(
                    ACTION_TYPES.into(),
                    type_key(id),
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
        Err(StoreError::Busy("the action type kept changing".into()).into())
    }

    /// The live custom action types.
    pub async fn custom_action_types(&self) -> Result<Vec<CustomActionType>> {
        Ok(self
            .query::<CustomActionType>(ACTION_TYPES, "", Order::Ascending)
            .await?
            .into_iter()
            .map(|v| v.value)
            .filter(|t| !t.deleted)
            .collect())
    }

    /// One live custom action type.
    pub async fn custom_action_type(&self, id: &ActionTypeId) -> Result<Option<CustomActionType>> {
        Ok(self
            .read::<CustomActionType>(ACTION_TYPES, &type_key(id))
            .await?
            .map(|v| v.value)
            .filter(|t| !t.deleted && id.owner == "Custom"))
    }

    /// Queues an action attempt's job for workers. Queuing a job that already has a live worker job does
    /// nothing (a redelivered task).
    pub(crate) async fn queue_worker_job(
        &self,
        job: Job,
        continuation_token: Option<String>,
    ) -> Result<String> {
        let pointer = self
            .read::<JobPointer>(&pointer_key(&job.id), keys::META)
            .await?;
        if continuation_token.is_none() {
            if let Some(p) = &pointer {
                return Ok(p.value.job_id.clone());
            }
        }
        let now = self.env.now_ms();
        let id = self.env.new_id();
        let queue_sk = format!("{now:015}#{id}");
        let record = WorkerJob {
            id: id.clone(),
            status: WorkerJobStatus::Queued,
            nonce: None,
            dispatched_ms: None,
            continuation_token,
            queued_ms: now,
            queue_sk: queue_sk.clone(),
            job,
            invoked: false,
        };
        use crate::runtime::put;
        self.store
            .transact(vec![
                put(job_key(&id), keys::META.into(), None, &record)?,
                put(
                    queue_key(&record.job.action_type),
                    queue_sk,
                    None,
                    &QueueEntry { job_id: id.clone() },
                )?,
                put(
                    pointer_key(&record.job.id),
                    keys::META.into(),
                    pointer.map(|p| p.version),
                    &JobPointer { job_id: id.clone() },
                )?,
            ])
            .await?;
        info!(job = %id, action = %record.job.action, provider = %record.job.action_type.provider, "job queued for workers");
        Ok(id)
    }

    /// Records the job an invoked provider (a Lambda function) is about to be invoked with: in progress at once,
    /// never queued for workers; its results come through the job-worker API like a worker's. Returns its id.
    pub(crate) async fn start_invoked_job(
        &self,
        job: Job,
        continuation_token: Option<String>,
    ) -> Result<String> {
        let pointer = self
            .read::<JobPointer>(&pointer_key(&job.id), keys::META)
            .await?;
        let now = self.env.now_ms();
        let id = self.env.new_id();
        let record = WorkerJob {
            id: id.clone(),
            status: WorkerJobStatus::InProgress,
            nonce: None,
            dispatched_ms: Some(now),
            continuation_token,
            queued_ms: now,
            queue_sk: String::new(),
            job,
            invoked: true,
        };
        use crate::runtime::put;
        self.store
            .transact(vec![
                put(job_key(&id), keys::META.into(), None, &record)?,
                put(
                    pointer_key(&record.job.id),
                    keys::META.into(),
                    pointer.map(|p| p.version),
                    &JobPointer { job_id: id.clone() },
                )?,
            ])
            .await?;
        info!(job = %id, action = %record.job.action, provider = %record.job.action_type.provider, "job invoked");
        Ok(id)
    }

    /// Whether an action attempt's job still waits for or is with a worker.
    pub(crate) async fn worker_job_live(&self, action_job: &str) -> Result<bool> {
        let Some(p) = self
            .read::<JobPointer>(&pointer_key(action_job), keys::META)
            .await?
        else {
            return Ok(false);
        };
        Ok(self
            .read::<WorkerJob>(&job_key(&p.value.job_id), keys::META)
            .await?
            .is_some_and(|j| !j.value.status.is_final()))
    }

    /// Ends an action attempt's worker job without an outcome (its action was abandoned or failed): later
    /// results from the worker are refused.
    pub(crate) async fn cancel_worker_job(&self, action_job: &str) -> Result<()> {
        let Some(p) = self
            .read::<JobPointer>(&pointer_key(action_job), keys::META)
            .await?
        else {
            return Ok(());
        };
        self.end_worker_job(&p.value.job_id, |_| true).await?;
        Ok(())
    }

    /// Moves a worker job to Failed (when `allowed` says so of its current state) and drops its queue entry.
    /// Returns the job as it was.
    async fn end_worker_job(
        &self,
        id: &str,
        allowed: impl Fn(&WorkerJob) -> bool,
    ) -> Result<Option<WorkerJob>> {
        self.finish_worker_job(id, WorkerJobStatus::Failed, allowed)
            .await
    }

    async fn finish_worker_job(
        &self,
        id: &str,
        status: WorkerJobStatus,
        allowed: impl Fn(&WorkerJob) -> bool,
    ) -> Result<Option<WorkerJob>> {
        for _ in 0..8 {
            let Some(current) = self.read::<WorkerJob>(&job_key(id), keys::META).await? else {
                return Ok(None);
            };
            if current.value.status.is_final() || !allowed(&current.value) {
                return Ok(None);
            }
            let mut next = current.value.clone();
            next.status = status;
            let writes = leave_queue(id, current.version, &next)?;
            match self.store.transact(writes).await {
                Ok(()) => return Ok(Some(current.value)),
                Err(StoreError::ConditionFailed(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(StoreError::Busy("the job kept changing".into()).into())
    }

    /// Hands up to `max` queued jobs of an action type to a poller (PollForJobs). `query` keeps only jobs whose
    /// configuration has these values.
    pub async fn poll_jobs(
        &self,
        action_type: &ActionTypeId,
        max: usize,
        query: &BTreeMap<String, String>,
    ) -> Result<Vec<WorkerJob>> {
        let Some(t) = self.custom_action_type(action_type).await? else {
            return Err(WorkerError::ActionTypeNotFound(format!(
                "action type {action_type} does not exist"
            )));
        };
        for key in query.keys() {
            if !t
                .configuration_properties
                .iter()
                .any(|p| &p.name == key && p.queryable == Some(true))
            {
                return Err(WorkerError::Invalid(format!(
                    "queryParam {key:?} is not a queryable configuration property of {action_type}"
                )));
            }
        }
        let now = self.env.now_ms();
        let mut out = Vec::new();
        let entries = self
            .query::<QueueEntry>(&queue_key(action_type), "", Order::Ascending)
            .await?;
        for entry in entries {
            if out.len() >= max {
                break;
            }
            let Some(current) = self
                .read::<WorkerJob>(&job_key(&entry.value.job_id), keys::META)
                .await?
            else {
                continue;
            };
            let job = &current.value;
            let available = match job.status {
                WorkerJobStatus::Queued => true,
                WorkerJobStatus::Dispatched => {
                    job.dispatched_ms.unwrap_or(0) + DISPATCH_LEASE_MS <= now
                }
                _ => false,
            };
            let matches = query
                .iter()
                .all(|(k, v)| job.job.configuration.get(k) == Some(v));
            if !available || !matches {
                continue;
            }
            let mut next = job.clone();
            next.status = WorkerJobStatus::Dispatched;
            next.nonce = Some(self.env.new_id());
            next.dispatched_ms = Some(now);
            match self
                .store
                .transact(vec![crate::runtime::put(
                    job_key(&next.id),
                    keys::META.into(),
                    Some(current.version),
                    &next,
                )?])
                .await
            {
                Ok(()) => out.push(next),
                // Another poller took it.
                Err(StoreError::ConditionFailed(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Ok(out)
    }

    /// A worker job by id.
    pub async fn worker_job(&self, id: &str) -> Result<WorkerJob> {
        self.read::<WorkerJob>(&job_key(id), keys::META)
            .await?
            .map(|v| v.value)
            .ok_or_else(|| WorkerError::JobNotFound(id.to_owned()))
    }

    /// Confirms a worker took a job (AcknowledgeJob); returns its status.
    pub async fn acknowledge_job(&self, id: &str, nonce: &str) -> Result<WorkerJobStatus> {
        for _ in 0..8 {
            let Some(current) = self.read::<WorkerJob>(&job_key(id), keys::META).await? else {
                return Err(WorkerError::JobNotFound(id.to_owned()));
            };
            if current.value.nonce.as_deref() != Some(nonce) {
                return Err(WorkerError::InvalidNonce(id.to_owned()));
            }
            if current.value.status != WorkerJobStatus::Dispatched {
                return Ok(current.value.status);
            }
            let mut next = current.value.clone();
            next.status = WorkerJobStatus::InProgress;
            let writes = leave_queue(id, current.version, &next)?;
            match self.store.transact(writes).await {
                Ok(()) => return Ok(WorkerJobStatus::InProgress),
                Err(StoreError::ConditionFailed(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(StoreError::Busy("the job kept changing".into()).into())
    }

    /// A worker's success (PutJobSuccessResult): continues the action with a new job, or completes it with
    /// the output artifacts the worker uploaded and its output variables.
    pub async fn put_job_success(&self, id: &str, result: JobSuccess) -> Result<()> {
        let size: usize = result
            .output_variables
            .iter()
            .map(|(k, v)| k.len() + v.len())
            .sum();
        if size > MAX_OUTPUT_VARIABLES_BYTES {
            return Err(WorkerError::OutputVariablesTooLarge(format!(
                "output variables take {size} bytes; at most {MAX_OUTPUT_VARIABLES_BYTES} are allowed"
            )));
        }
        let job = self
            .claim_for_result(id, WorkerJobStatus::Succeeded)
            .await?;
        if let Some(external_id) = result.external_id.clone() {
            let external = ExternalExecution {
                id: external_id,
                url: None,
                summary: result.summary.clone(),
            };
            self.record_external(&job.job, external).await?;
        }
        if let Some(token) = result.continuation_token {
            if job.invoked {
                // The function is invoked again with the token, as CodePipeline does.
                if let Err(message) = self.invoke(job.job.clone(), Some(token)).await {
                    self.complete_job(&job.job, JobOutcome::Failed { message })
                        .await?;
                }
                info!(job = %id, "invoked job continued");
                return Ok(());
            }
            let next = self.queue_worker_job(job.job, Some(token)).await?;
            info!(job = %id, next = %next, "job continued");
            return Ok(());
        }
        // Every output artifact must be in place: a success without them is not taken as one. An invoked job's
        // executor knows where they were staged.
        let mut artifacts = BTreeMap::new();
        let mut missing = Vec::new();
        let collected = if job.invoked {
            self.executor.collect_outputs(&job.job).await
        } else {
            None
        };
        match collected {
            Some(Ok(found)) => artifacts = found,
            Some(Err(why)) => missing.push(why),
            None => {
                for o in &job.job.outputs {
                    match self.objects.head(&o.bucket, &o.key).await {
                        Ok(info) => {
                            artifacts.insert(o.name.clone(), info);
                        }
                        Err(_) => missing.push(format!("{} (s3://{}/{})", o.name, o.bucket, o.key)),
                    }
                }
            }
        }
        let outcome = if missing.is_empty() {
            JobOutcome::Succeeded {
                artifacts,
                variables: result.output_variables,
                summary: result.summary,
                revision: result.revision,
            }
        } else {
            JobOutcome::Failed {
                message: format!(
                    "the job worker reported success without uploading output artifact {}",
                    missing.join(", ")
                ),
            }
        };
        self.complete_job(&job.job, outcome).await?;
        Ok(())
    }

    /// A worker's failure (PutJobFailureResult).
    pub async fn put_job_failure(&self, id: &str, kind: &str, message: &str) -> Result<()> {
        let job = self.claim_for_result(id, WorkerJobStatus::Failed).await?;
        self.complete_job(
            &job.job,
            JobOutcome::Failed {
                message: format!("{kind}: {message}"),
            },
        )
        .await?;
        Ok(())
    }

    /// Moves a dispatched or running job to its final state so exactly one result is taken.
    async fn claim_for_result(&self, id: &str, status: WorkerJobStatus) -> Result<WorkerJob> {
        let current = self.worker_job(id).await?;
        if current.status == WorkerJobStatus::Queued || current.status.is_final() {
            return Err(WorkerError::InvalidJobState(format!(
                "job {id} is {:?}: a result is taken only for a dispatched or in-progress job",
                current.status
            )));
        }
        self.finish_worker_job(id, status, |j| {
            matches!(
                j.status,
                WorkerJobStatus::Dispatched | WorkerJobStatus::InProgress
            )
        })
        .await?
        .ok_or_else(|| WorkerError::InvalidJobState(format!("job {id} already has a result")))
    }
}
