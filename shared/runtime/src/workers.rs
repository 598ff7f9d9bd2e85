//! Custom action types, partner action types and the records of the jobs their workers poll: CodePipeline's
//! job-worker protocol over the store (the queue itself is [`crate::job_queue`]).
//!
//! An action whose owner is `Custom`, or a partner's (owner `ThirdParty`, a provider that is not built in:
//! [`sluice_definition::providers::is_partner`]), is not run by the executor. Its job is queued instead, and
//! waits until a worker (Jenkins-style, or `sluice agent --provider`) polls it (`PollForJobs`; a partner:
//! `PollForThirdPartyJobs`, then `GetThirdPartyJobDetails` with the job's client id), acknowledges it with the
//! nonce it got (`AcknowledgeJob`), and reports how it ended (`PutJobSuccessResult`, `PutJobFailureResult`).
//! A success with a continuation token queues the same action again with that token, as CodePipeline does for
//! long-running work.
//!
//! | pk | sk | item |
//! |---|---|---|
//! | `ACTION_TYPES` | `<category>#<provider>#<version>` | [`CustomActionType`] |
//! | `ACTION_TYPES` | `ThirdParty#<category>#<provider>#<version>` | a partner type's declaration (UpdateActionType) |
//! | `JOB_QUEUE#<category>#<provider>#<version>` | `<queued:015>#<job id>` | [`QueueEntry`] (custom types) |
//! | `JOB_QUEUE#ThirdParty#<category>#<provider>#<version>` | `<queued:015>#<job id>` | [`QueueEntry`] (partners) |
//! | `WORKER_JOB#<job id>` | `META` | [`WorkerJob`] |
//! | `WORKER_JOB_OF#<action attempt's job id>` | `META` | [`JobPointer`]: its newest worker job |

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::RuntimeError;
use crate::jobs::Job;
use crate::ports::{Condition, Order, StoreError, Write};
use crate::records::keys;
use crate::records::SourceRevision;
use crate::runtime::Runtime;
use sluice_definition::model::ActionTypeId;
use sluice_definition::providers;

/// How long a polled job that nobody acknowledged stays with its poller before another poll may take it.
pub const DISPATCH_LEASE_MS: i64 = 60_000;

/// The most output variables a job may report, in bytes of names and values (CodePipeline's limit).
pub const MAX_OUTPUT_VARIABLES_BYTES: usize = 122_880;

const ACTION_TYPES: &str = "ACTION_TYPES";

/// A type's sort key in `ACTION_TYPES` (custom types without their owner, as they always were).
fn type_key(id: &ActionTypeId) -> String {
    let key = format!("{}#{}#{}", id.category, id.provider, id.version);
    if id.owner == "Custom" {
        key
    } else {
        format!("{}#{key}", id.owner)
    }
}
pub(crate) fn queue_key(id: &ActionTypeId) -> String {
    format!("JOB_QUEUE#{}", type_key(id))
}
pub(crate) fn job_key(id: &str) -> String {
    format!("WORKER_JOB#{id}")
}
pub(crate) fn pointer_key(action_job: &str) -> String {
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

pub(crate) type Result<T, E = WorkerError> = std::result::Result<T, E>;

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
    /// What GetActionType shows as its description (set by UpdateActionType).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Who may poll for its jobs and for how long a job may run (UpdateActionType's job-worker executor).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_worker: Option<JobWorkerSettings>,
    /// The accounts that may use it (UpdateActionType's `permissions.allowedAccounts`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_accounts: Option<Vec<String>>,
}

/// A job-worker executor's settings, as UpdateActionType gives them and GetActionType shows them again.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobWorkerSettings {
    /// Accounts whose workers poll.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub polling_accounts: Option<Vec<String>>,
    /// Service principals that poll.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub polling_service_principals: Option<Vec<String>>,
    /// How long a job may run, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_timeout: Option<u32>,
    /// The policy statements the executor's role gets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_statements_template: Option<String>,
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
    /// A partner's job: the client id its first PollForThirdPartyJobs handed out, which every later
    /// third-party call must give back as its `clientToken`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
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

/// Whether an action type's provider is invoked with a job id and answers through the job-worker API
/// (`Invoke/AWS/Lambda`).
pub fn is_invoked_type(id: &ActionTypeId) -> bool {
    id.category == "Invoke" && id.owner == "AWS" && id.provider == "Lambda"
}

/// Whether actions of this type are run by job workers (custom action types and partners' types).
pub fn is_worker_type(id: &ActionTypeId) -> bool {
    id.owner == "Custom" || providers::is_partner(id)
}

/// The checks CreateCustomActionType and UpdateActionType make of a type.
fn check_type(action_type: &CustomActionType) -> Result<()> {
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
    let properties = &action_type.configuration_properties;
    if properties.iter().filter(|p| p.key).count() > 1 {
        return Err(WorkerError::Invalid(
            "at most one configuration property may be a key".into(),
        ));
    }
    let mut names = std::collections::BTreeSet::new();
    for p in properties {
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
    if properties
        .iter()
        .filter(|p| p.queryable == Some(true))
        .count()
        > 1
    {
        return Err(WorkerError::Invalid(
            "at most one configuration property may be queryable".into(),
        ));
    }
    Ok(())
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
        check_type(&action_type)?;
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
        self.stored_types("Custom").await
    }

    /// The partner action types declared with UpdateActionType.
    pub async fn partner_action_types(&self) -> Result<Vec<CustomActionType>> {
        self.stored_types("ThirdParty").await
    }

    async fn stored_types(&self, owner: &str) -> Result<Vec<CustomActionType>> {
        Ok(self
            .query::<CustomActionType>(ACTION_TYPES, "", Order::Ascending)
            .await?
            .into_iter()
            .map(|v| v.value)
            .filter(|t| !t.deleted && t.id.owner == owner)
            .collect())
    }

    /// A partner action type's declaration, when UpdateActionType gave one.
    pub async fn partner_action_type(&self, id: &ActionTypeId) -> Result<Option<CustomActionType>> {
        if !providers::is_partner(id) {
            return Ok(None);
        }
        Ok(self
            .read::<CustomActionType>(ACTION_TYPES, &type_key(id))
            .await?
            .map(|v| v.value)
            .filter(|t| !t.deleted))
    }

    /// Replaces a live custom action type's declaration, or declares a partner type (UpdateActionType): the
    /// id, the creation time and the deleted mark are the stored ones'.
    pub async fn update_action_type(&self, mut next: CustomActionType) -> Result<CustomActionType> {
        check_type(&next)?;
        let partner = providers::is_partner(&next.id);
        let key = type_key(&next.id);
        for _ in 0..8 {
            let current = self.read::<CustomActionType>(ACTION_TYPES, &key).await?;
            let version = match &current {
                Some(c) if !c.value.deleted => {
                    next.created_ms = c.value.created_ms;
                    Some(c.version)
                }
                None if partner => {
                    next.created_ms = self.env.now_ms();
                    None
                }
                _ => {
                    return Err(WorkerError::ActionTypeNotFound(format!(
                        "action type {} does not exist",
                        next.id
                    )))
                }
            };
            next.deleted = false;
            let write = crate::runtime::put(ACTION_TYPES.into(), key.clone(), version, &next)?;
            match self.store.transact(vec![write]).await {
                Ok(()) => return Ok(next),
                Err(StoreError::ConditionFailed(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(StoreError::Busy("the action type kept changing".into()).into())
    }

    /// One live custom action type.
    pub async fn custom_action_type(&self, id: &ActionTypeId) -> Result<Option<CustomActionType>> {
        Ok(self
            .read::<CustomActionType>(ACTION_TYPES, &type_key(id))
            .await?
            .map(|v| v.value)
            .filter(|t| !t.deleted && id.owner == "Custom"))
    }
}
