//! Ports: the small traits the handlers are written against. Adapters implement them twice — SQLite, a folder
//! and in-process channels locally (`shared/local`, `shared/agent`); DynamoDB, S3, Step Functions, SNS and
//! EventBridge in AWS (`shared/aws`) — and both pass the same conformance suites.

use std::path::Path;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use crate::objects::{ObjectError, ObjectInfo};
use crate::records::ApprovalRecord;

/// One item of the store: a partition key, a sort key, a version for conditional writes, and JSON data.
///
/// This is DynamoDB's single-table shape; the SQLite adapter mirrors it as one table. Keys are built by
/// [`super::keys`], so the adapters know nothing of pipelines.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Item {
    /// Partition key.
    pub pk: String,
    /// Sort key.
    pub sk: String,
    /// Raised by one on every write; a conditional write names the version it read.
    pub version: u64,
    /// The item's attributes.
    pub data: Value,
    /// Unix seconds after which the item may disappear (DynamoDB TTL).
    pub expires_at: Option<i64>,
}

/// The condition a write needs to hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    /// Always write.
    None,
    /// The item must not exist.
    Absent,
    /// The item must exist at this version.
    Version(u64),
}

/// One write of a transaction.
#[derive(Debug, Clone, PartialEq)]
pub enum Write {
    /// Puts the item (its `version` is the new version) if the condition holds.
    Put(Item, Condition),
    /// Deletes the item if the condition holds.
    Delete {
        /// Partition key.
        pk: String,
        /// Sort key.
        sk: String,
        /// What must hold.
        condition: Condition,
    },
}

/// Which way a query reads a partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// Sort keys ascending.
    Ascending,
    /// Sort keys descending.
    Descending,
}

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A write's condition did not hold: somebody else wrote first. Nothing of the transaction was written.
    #[error("a conditional write lost: {0}")]
    ConditionFailed(String),
    /// A transient problem (busy database, throttling): try again.
    #[error("store busy: {0}")]
    Busy(String),
    /// Anything else.
    #[error("store failure: {0}")]
    Other(String),
}

/// The store: items under partition and sort keys, with all-or-nothing conditional transactions.
#[async_trait]
pub trait ItemStore: Send + Sync {
    /// Reads one item.
    async fn get(&self, pk: &str, sk: &str) -> Result<Option<Item>, StoreError>;

    /// Reads a partition's items whose sort key starts with `prefix`, in `order`, at most `limit`, starting
    /// after sort key `after` when given.
    async fn query(
        &self,
        pk: &str,
        prefix: &str,
        order: Order,
        limit: usize,
        after: Option<&str>,
    ) -> Result<Vec<Item>, StoreError>;

    /// Applies every write or none: when one condition fails, nothing is written and
    /// [`StoreError::ConditionFailed`] is returned.
    async fn transact(&self, writes: Vec<Write>) -> Result<(), StoreError>;
}

/// Buckets of objects: S3, or a folder. Artifacts are zip objects; S3 sources and deploys use it too.
///
/// Objects move between the store and local files, streamed, never whole in memory; a put is visible only when
/// whole, and a get writes a temporary file renamed into place once its checksum matched.
#[async_trait]
pub trait ObjectStore: Send + Sync {
    /// Stores a local file as `bucket/key`.
    async fn put_file(
        &self,
        bucket: &str,
        key: &str,
        file: &Path,
    ) -> Result<ObjectInfo, ObjectError>;

    /// Stores a local file as `bucket/key` encrypted with the KMS key `kms_key` (a key id, ARN or alias, as in a
    /// pipeline's `artifactStore.encryptionKey.id`; `None`: the store's default). Stores without KMS keep this
    /// default, which ignores the key.
    async fn put_file_encrypted(
        &self,
        bucket: &str,
        key: &str,
        file: &Path,
        kms_key: Option<&str>,
    ) -> Result<ObjectInfo, ObjectError> {
        let _ = kms_key;
        self.put_file(bucket, key, file).await
    }

    /// Fetches `bucket/key` into a local file.
    async fn get_file(
        &self,
        bucket: &str,
        key: &str,
        dest: &Path,
    ) -> Result<ObjectInfo, ObjectError>;

    /// Describes `bucket/key` without fetching it.
    async fn head(&self, bucket: &str, key: &str) -> Result<ObjectInfo, ObjectError>;

    /// Fetches version `version_id` of `bucket/key` into a local file. Stores that keep only the newest version
    /// keep this default: it fetches the newest, and fails naming both unless that is the version asked for.
    async fn get_file_version(
        &self,
        bucket: &str,
        key: &str,
        version_id: &str,
        dest: &Path,
    ) -> Result<ObjectInfo, ObjectError> {
        let info = self.get_file(bucket, key, dest).await?;
        if info.version_id == version_id {
            return Ok(info);
        }
        let _ = std::fs::remove_file(dest);
        Err(ObjectError::Other(format!(
            "s3://{bucket}/{key} version {version_id} was asked for, but this store keeps only the newest \
             version, {}",
            info.version_id
        )))
    }

    /// Stores a local file that the caller gives up as `bucket/key`. `digest` is the file's (size, SHA-256 hex)
    /// when the caller computed it while writing the file. A store that keeps objects as files on the same
    /// filesystem may move the file into place, trusting the digest, instead of copying and hashing it; this
    /// default stores a copy and removes the file.
    async fn put_owned_file(
        &self,
        bucket: &str,
        key: &str,
        file: &Path,
        kms_key: Option<&str>,
        digest: Option<(u64, String)>,
    ) -> Result<ObjectInfo, ObjectError> {
        let _ = digest;
        let info = self.put_file_encrypted(bucket, key, file, kms_key).await?;
        let _ = std::fs::remove_file(file);
        Ok(info)
    }

    /// Opens `bucket/key` for reading in place, its size and SHA-256 checked against its record, when the store
    /// keeps objects as local files (None otherwise: fetch a copy with [`Self::get_file`]).
    async fn open_checked(
        &self,
        bucket: &str,
        key: &str,
    ) -> Result<Option<(ObjectInfo, std::fs::File)>, ObjectError> {
        let _ = (bucket, key);
        Ok(None)
    }
}

/// Why the orchestrator could not act.
#[derive(Debug, thiserror::Error)]
pub enum OrchestratorError {
    /// The token is unknown, expired, or its task already finished.
    #[error("task token is not open: {0}")]
    TaskNotOpen(String),
    /// The execution already exists (starts are idempotent by execution id).
    #[error("execution already exists: {0}")]
    ExecutionExists(String),
    /// Anything else.
    #[error("orchestrator failure: {0}")]
    Other(String),
}

/// How a state machine run stands, as its orchestrator tells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunState {
    /// Still running.
    Running,
    /// Reached its Succeed state.
    Succeeded,
    /// Failed (a timeout is a failure with `States.Timeout`).
    Failed {
        /// The error name.
        error: String,
        /// The cause.
        cause: String,
    },
    /// Aborted.
    Aborted,
    /// The orchestrator has no such run.
    Missing,
    /// The orchestrator cannot tell (the embedded engine, which records every end itself).
    Unknown,
}

/// The engine that runs compiled state machines: Step Functions, or the embedded interpreter.
#[async_trait]
pub trait Orchestrator: Send + Sync {
    /// Makes a pipeline version's state machine available to run (Step Functions: create or update the
    /// pipeline's state machine and publish a version; embedded: keep the definition). Idempotent.
    async fn publish(
        &self,
        pipeline: &str,
        version: u64,
        machine: &Value,
    ) -> Result<(), OrchestratorError>;

    /// Starts an execution of a pipeline version's state machine, named by `name` (idempotent).
    async fn start_execution(
        &self,
        pipeline: &str,
        version: u64,
        name: &str,
        input: Value,
    ) -> Result<(), OrchestratorError>;

    /// Completes a waiting task successfully with `output`.
    async fn send_task_success(&self, token: &str, output: Value) -> Result<(), OrchestratorError>;

    /// Fails a waiting task with an error name (one of [`crate::contract::error`]) and a cause.
    async fn send_task_failure(
        &self,
        token: &str,
        error: &str,
        cause: &str,
    ) -> Result<(), OrchestratorError>;

    /// Aborts a pipeline's execution named `name` at once (StopPipelineExecution with abandon). The pipeline
    /// is named because Step Functions addresses an execution through its state machine.
    async fn stop_execution(
        &self,
        pipeline: &str,
        name: &str,
        cause: &str,
    ) -> Result<(), OrchestratorError>;

    /// How the pipeline's run `name` stands, for closing records whose end was never reported (a lost
    /// status-change event). Orchestrators that report every end themselves keep this default: `Unknown`.
    async fn run_state(&self, _pipeline: &str, _name: &str) -> Result<RunState, OrchestratorError> {
        Ok(RunState::Unknown)
    }
}

/// Where pipeline, stage and action state changes are published: EventBridge, or a local JSONL log.
#[async_trait]
pub trait EventSink: Send + Sync {
    /// Publishes one event (a CodePipeline-shaped EventBridge event: detail-type, detail, ...).
    async fn publish(&self, event: &Value) -> Result<(), String>;

    /// A manual approval started waiting: where CodePipeline publishes its approval notification. Called once,
    /// after the approval is recorded; `expires_s` (unix seconds) is when it times out. Sinks that notify
    /// nobody keep this default, which does nothing.
    async fn approval_requested(
        &self,
        approval: &ApprovalRecord,
        expires_s: i64,
    ) -> Result<(), String> {
        let _ = (approval, expires_s);
        Ok(())
    }

    /// A reminder of an approval still waiting `minutes_before` minutes before its deadline (the action's
    /// `Reminders`). By default it is announced again as when it started waiting, on the same channels.
    async fn approval_reminder(
        &self,
        approval: &ApprovalRecord,
        expires_s: i64,
        minutes_before: u32,
    ) -> Result<(), String> {
        let _ = minutes_before;
        self.approval_requested(approval, expires_s).await
    }
}

/// One principal as a [`Directory`] knows it: its name and its groups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    /// The principal's name.
    pub name: String,
    /// The groups it belongs to.
    pub groups: Vec<String>,
}

/// Who the principals are and their groups: what approval links are issued to (one per approver, groups
/// expanded) and how a decision through a person's link is judged. `sluice serve` reads its principals file,
/// the AWS functions the stack's principals in the store.
#[async_trait]
pub trait Directory: Send + Sync {
    /// Every principal with its groups.
    async fn people(&self) -> Result<Vec<Person>, String>;

    /// One principal, if known.
    async fn person(&self, name: &str) -> Result<Option<Person>, String> {
        Ok(self.people().await?.into_iter().find(|p| p.name == name))
    }
}

/// A [`Directory`] that knows nobody: approvers named outright still get their links; groups expand to no one.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoDirectory;

#[async_trait]
impl Directory for NoDirectory {
    async fn people(&self) -> Result<Vec<Person>, String> {
        Ok(Vec::new())
    }
}

/// Time and identity: the two things the handlers take from the world besides the ports above.
pub trait Env: Send + Sync {
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> i64;

    /// A new unique id (a UUID in the real adapters).
    fn new_id(&self) -> String;
}
