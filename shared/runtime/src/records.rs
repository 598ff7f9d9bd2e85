//! The records an execution leaves in the store, and where each lives (keys).
//!
//! The store is one table of items under partition and sort keys (DynamoDB's single-table shape):
//!
//! | pk | sk | item | serves |
//! |---|---|---|---|
//! | `PIPELINES` | `<name>` | [`PipelineHead`] | list pipelines |
//! | `PIPELINE#<name>` | `VERSION#<v:010>` | [`PipelineRecord`] | get a pipeline, any version |
//! | `PIPELINE#<name>` | `EXECUTION#<start:015>#<id>` | [`ExecutionRecord`] (copy) | executions newest first |
//! | `PIPELINE#<name>` | `TRANSITION#<stage>` | [`TransitionRecord`] | disabled transitions |
//! | `PIPELINE#<name>` | `TAGS` | [`TagsRecord`] | a pipeline's tags |
//! | `PIPELINE#<name>` | `REQUEST#<token>` | [`ClientRequestRecord`] | idempotent starts |
//! | `PIPELINE#<name>` | `ROLLBACK#<id>#<stage>` | [`ClientRequestRecord`] | one automatic rollback per failure |
//! | `EXECUTION#<id>` | `META` | [`ExecutionRecord`] | one execution |
//! | `EXECUTION#<id>` | `STAGE#<stage>#<attempt:04>` | [`StageRecord`] | stage attempts |
//! | `EXECUTION#<id>` | `ACTION#<stage>#<action>#<attempt:04>` | [`ActionRecord`] | action attempts |
//! | `OPEN` | `<id>` | execution id | executions to resume after a restart |
//! | `LOCK#<pipeline>#<stage>` | `HOLDER` | [`LockHolder`] | stage locks (SUPERSEDED, QUEUED) |
//! | `LOCK#<pipeline>#<stage>` | `WAIT#<start:015>#<id>` | [`Waiter`] | executions waiting for a stage |
//! | `TRANSITION#<pipeline>#<stage>` | `WAIT#<start:015>#<id>` | [`Waiter`] | executions held by a disabled transition |
//! | `APPROVAL#<pipeline>#<stage>#<action>` | `<id>` | [`ApprovalRecord`] | the approvals of an action |
//! | `APPROVAL_TOKEN#<token>` | `META` | [`ApprovalRecord`] (copy) | an approval by its token |
//! | `APPROVAL_REMINDERS` | `<due:015>#<token>#<minutes>` | [`ReminderRecord`] | reminders due, oldest first |
//! | `WEBHOOK#<pipeline>` | `DELIVERY#<id>` | [`DeliveryRecord`] (with an expiry) | webhook deliveries seen |
//! | `WEBHOOKS` | `<name>` | [`WebhookRecord`](crate::webhooks::WebhookRecord) | PutWebhook's webhooks |

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use sluice_definition::model::{ActionTypeId, Pipeline};
use sluice_definition::Tag;

use crate::objects::ObjectInfo;

/// Key builders, so no other module spells a key.
pub mod keys {
    /// The partition listing every pipeline.
    pub const PIPELINES: &str = "PIPELINES";
    /// The partition listing open executions.
    pub const OPEN: &str = "OPEN";
    /// The partition of PutWebhook's webhooks.
    pub const WEBHOOKS: &str = "WEBHOOKS";
    /// The sort key of an execution's own record and an approval token's record.
    pub const META: &str = "META";
    /// The sort key of a stage lock's holder.
    pub const HOLDER: &str = "HOLDER";
    /// The sort key of a pipeline's tags.
    pub const TAGS: &str = "TAGS";

    /// A pipeline's partition.
    pub fn pipeline(name: &str) -> String {
        format!("PIPELINE#{name}")
    }
    /// A pipeline version's sort key.
    pub fn version(v: u64) -> String {
        format!("VERSION#{v:010}")
    }
    /// The sort key of an execution in its pipeline's listing.
    pub fn listed_execution(started_ms: i64, id: &str) -> String {
        format!("EXECUTION#{started_ms:015}#{id}")
    }
    /// The sort key of a stage's transition switch.
    pub fn transition(stage: &str) -> String {
        format!("TRANSITION#{stage}")
    }
    /// The sort key of a StartPipelineExecution client request token, in its pipeline's partition.
    pub fn client_request(token: &str) -> String {
        format!("REQUEST#{token}")
    }
    /// The sort key of the automatic rollback of `stage` after it failed in execution `id`.
    pub fn rollback(id: &str, stage: &str) -> String {
        format!("ROLLBACK#{id}#{stage}")
    }
    /// An execution's partition.
    pub fn execution(id: &str) -> String {
        format!("EXECUTION#{id}")
    }
    /// A stage attempt's sort key.
    pub fn stage(stage: &str, attempt: u32) -> String {
        format!("STAGE#{stage}#{attempt:04}")
    }
    /// The sort-key prefix of a stage's attempts.
    pub fn stage_prefix(stage: &str) -> String {
        format!("STAGE#{stage}#")
    }
    /// An action attempt's sort key.
    pub fn action(stage: &str, action: &str, attempt: u32) -> String {
        format!("ACTION#{stage}#{action}#{attempt:04}")
    }
    /// The sort-key prefix of every attempt of one action.
    pub fn action_attempts_prefix(stage: &str, action: &str) -> String {
        format!("ACTION#{stage}#{action}#")
    }
    /// A stage lock's partition.
    pub fn lock(pipeline: &str, stage: &str) -> String {
        format!("LOCK#{pipeline}#{stage}")
    }
    /// The partition of executions held by a disabled transition.
    pub fn transition_waiters(pipeline: &str, stage: &str) -> String {
        format!("TRANSITION#{pipeline}#{stage}")
    }
    /// A waiter's sort key: ordered by the execution's start.
    pub fn waiter(started_ms: i64, id: &str) -> String {
        format!("WAIT#{started_ms:015}#{id}")
    }
    /// The partition of an action's approvals.
    pub fn approval(pipeline: &str, stage: &str, action: &str) -> String {
        format!("APPROVAL#{pipeline}#{stage}#{action}")
    }
    /// The partition of an approval found by its token.
    pub fn approval_token(token: &str) -> String {
        format!("APPROVAL_TOKEN#{token}")
    }
    /// The partition of approval reminders not yet sent.
    pub const APPROVAL_REMINDERS: &str = "APPROVAL_REMINDERS";
    /// A reminder's sort key: when it is due, the approval's token, minutes before the deadline.
    pub fn approval_reminder(due_ms: i64, token: &str, minutes_before: u32) -> String {
        format!("{due_ms:015}#{token}#{minutes_before}")
    }
    /// The partition of a pipeline's webhook deliveries.
    pub fn webhook(pipeline: &str) -> String {
        format!("WEBHOOK#{pipeline}")
    }
    /// A webhook delivery's sort key.
    pub fn delivery(id: &str) -> String {
        format!("DELIVERY#{id}")
    }
}

/// A webhook delivery that started (or is starting) an execution; kept for a while so a redelivery of the
/// same id starts nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryRecord {
    /// The delivery id (GitHub's `X-GitHub-Delivery`).
    pub delivery_id: String,
    /// When it was first received.
    pub received_ms: i64,
    /// The execution it started, once started.
    pub execution_id: Option<String>,
}

/// A pipeline's newest version, for listings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PipelineHead {
    /// The pipeline's name.
    pub name: String,
    /// Its newest version.
    pub version: u64,
    /// When it was created.
    pub created_ms: i64,
    /// When its newest version was made.
    pub updated_ms: i64,
    /// The stored serial of this pipeline's version 0: versions are numbered from 1 again when a pipeline is
    /// deleted and created again, while the versions it had before stay stored (and published to the
    /// orchestrator) under serials no later version takes. Version `v` is stored as serial `base + v`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub base: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl PipelineHead {
    /// The stored serial of version `v` of this pipeline.
    pub fn serial(&self, v: u64) -> u64 {
        self.base + v
    }
}

/// One version of a pipeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PipelineRecord {
    /// The definition, with `version` set.
    pub definition: Pipeline,
    /// When this version was made.
    pub created_ms: i64,
    /// The folder local providers resolve relative paths against (the definition file's folder).
    pub base_dir: Option<String>,
    /// Where it is stored ([`PipelineHead::base`]): set when read, never stored.
    #[serde(skip)]
    pub serial: u64,
}

impl PipelineRecord {
    /// What an execution of this version records as its serial: None when it is the version itself.
    pub fn execution_serial(&self) -> Option<u64> {
        Some(self.serial).filter(|s| *s != 0 && Some(*s) != self.definition.version)
    }
}

/// A pipeline's tags.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TagsRecord {
    /// The tags, as CreatePipeline gave them.
    pub tags: Vec<Tag>,
}

/// The execution a StartPipelineExecution client request token started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientRequestRecord {
    /// The execution.
    pub execution_id: String,
}

/// CodePipeline's pipeline execution statuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExecutionStatus {
    /// Running.
    InProgress,
    /// Asked to stop; in-progress actions finish (or are abandoned).
    Stopping,
    /// Stopped.
    Stopped,
    /// Every stage succeeded.
    Succeeded,
    /// A newer execution took its place.
    Superseded,
    /// A stage failed.
    Failed,
    /// Cancelled (a pipeline update while it waited).
    Cancelled,
}

impl ExecutionStatus {
    /// Whether the execution has ended.
    pub fn is_final(self) -> bool {
        !matches!(self, Self::InProgress | Self::Stopping)
    }
}

/// CodePipeline's stage execution statuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum StageStatus {
    /// Running.
    InProgress,
    /// Every action succeeded.
    Succeeded,
    /// An action or a condition failed.
    Failed,
    /// Stopped with the execution.
    Stopped,
    /// Skipped by a beforeEntry condition.
    Skipped,
    /// Cancelled.
    Cancelled,
}

/// CodePipeline's action execution statuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ActionStatus {
    /// Running, or waiting (approvals).
    InProgress,
    /// Given up (stop with abandon, a crash of the run that ran it).
    Abandoned,
    /// Done.
    Succeeded,
    /// Failed.
    Failed,
}

/// How an execution was started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TriggerInfo {
    /// CodePipeline's trigger type: StartPipelineExecution, Webhook, PutActionRevision, ...
    pub trigger_type: String,
    /// Who or what: a user, a webhook delivery id.
    pub trigger_detail: String,
    /// Who pushed the commit, when the trigger names one (a webhook's pusher): Sluice's own, kept out of
    /// CodePipeline's answers; approval rules refuse that principal's approval unless self-approval is allowed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pushed_by: Option<String>,
}

/// A pipeline variable's value in one execution.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResolvedVariable {
    /// The variable's name.
    pub name: String,
    /// Its value.
    pub resolved_value: String,
}

/// A source action's revision in an execution.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArtifactRevision {
    /// The source action.
    pub action_name: String,
    /// Its revision.
    pub revision: SourceRevision,
}

/// A source revision an execution was started with (StartPipelineExecution's `sourceRevisions`): the source
/// action fetches this revision instead of its newest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RevisionOverride {
    /// The source action.
    pub action_name: String,
    /// COMMIT_ID, IMAGE_DIGEST, S3_OBJECT_VERSION_ID or S3_OBJECT_KEY.
    pub revision_type: String,
    /// The commit id, digest, version id or key.
    pub revision_value: String,
}

/// One pipeline execution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecutionRecord {
    /// The pipeline.
    pub pipeline: String,
    /// The execution id.
    pub execution_id: String,
    /// The pipeline version it runs.
    pub version: u64,
    /// The stored serial of that version when it differs from the version (a pipeline deleted and created
    /// again, see [`PipelineHead::base`]): where its definition is stored and what the orchestrator runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial: Option<u64>,
    /// Its status.
    pub status: ExecutionStatus,
    /// Why it ended that way.
    pub status_summary: Option<String>,
    /// How it started.
    pub trigger: TriggerInfo,
    /// Pipeline variables' values.
    pub variables: Vec<ResolvedVariable>,
    /// Source revisions, as source actions finish.
    pub source_revisions: Vec<ArtifactRevision>,
    /// When it started.
    pub started_ms: i64,
    /// When it last changed.
    pub updated_ms: i64,
    /// How many state machine runs it took: 1, plus one per RetryStageExecution.
    pub runs: u32,
    /// The retry mode of the latest retry (FAILED_ACTIONS keeps earlier successes).
    pub retry_mode: Option<String>,
    /// The stage the latest run started at.
    pub start_at: String,
    /// The reason StopPipelineExecution gave, kept after the stop (the summary then says how it ended).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_reason: Option<String>,
    /// Source revisions it was started with.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub revision_overrides: Vec<RevisionOverride>,
    /// Set on a rollback execution (execution type ROLLBACK): the stage it runs again and the execution
    /// whose revisions, artifacts and variables it runs it with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback_metadata: Option<RollbackMetadata>,
}

/// What a rollback execution rolls back, and to what.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RollbackMetadata {
    /// The execution rolled back to (CodePipeline's `rollbackTargetPipelineExecutionId`).
    pub rollback_target_pipeline_execution_id: String,
    /// The stage rolled back: the only stage the rollback execution runs.
    pub stage: String,
}

impl ExecutionRecord {
    /// The stored serial of the pipeline version it runs.
    pub fn serial(&self) -> u64 {
        self.serial.unwrap_or(self.version)
    }

    /// The name of the state machine run `n` (1-based): the execution id, then `<id>.retry-<n-1>`.
    pub fn run_name(&self, n: u32) -> String {
        run_name(&self.execution_id, n)
    }
}

/// The state machine run name of an execution's run `n`.
pub fn run_name(execution_id: &str, n: u32) -> String {
    if n <= 1 {
        execution_id.to_owned()
    } else {
        format!("{execution_id}.retry-{}", n - 1)
    }
}

/// The execution id a state machine run name belongs to.
pub fn execution_of_run(run: &str) -> &str {
    run.split_once(".retry-").map_or(run, |(id, _)| id)
}

/// One attempt of a stage in an execution.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StageRecord {
    /// The execution.
    pub execution_id: String,
    /// The stage.
    pub stage: String,
    /// The attempt (1, 2 after a retry, ...).
    pub attempt: u32,
    /// Its status.
    pub status: StageStatus,
    /// When it started.
    pub started_ms: i64,
    /// When it last changed.
    pub updated_ms: i64,
    /// Why it failed.
    pub error: Option<String>,
}

/// An artifact an action read or produced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArtifactDetail {
    /// The artifact's name.
    pub name: String,
    /// Where its zip is.
    pub object: ObjectInfo,
}

/// One attempt of an action in an execution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionRecord {
    /// The pipeline.
    pub pipeline: String,
    /// The execution.
    pub execution_id: String,
    /// The stage.
    pub stage: String,
    /// The action.
    pub action: String,
    /// The stage attempt.
    pub attempt: u32,
    /// How many times it was started in this attempt (more than 1 only after a crash interrupted a run).
    pub run: u32,
    /// Its status.
    pub status: ActionStatus,
    /// The task token that waits for it.
    pub token: String,
    /// Its provider.
    pub action_type: ActionTypeId,
    /// When it started.
    pub started_ms: i64,
    /// When it last changed.
    pub updated_ms: i64,
    /// The configuration it ran with, variables resolved.
    pub configuration: BTreeMap<String, String>,
    /// What it read.
    pub input_artifacts: Vec<ArtifactDetail>,
    /// What it produced.
    pub output_artifacts: Vec<ArtifactDetail>,
    /// Its output variables.
    pub output_variables: BTreeMap<String, String>,
    /// A summary for people.
    pub summary: Option<String>,
    /// Why it failed.
    pub error: Option<String>,
    /// Its source revision (source actions).
    pub revision: Option<SourceRevision>,
    /// What it runs as outside Sluice (a stack, a deployment), once known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external: Option<ExternalExecution>,
    /// Its task also passes the stage's exit gate once it succeeded (the gate is folded into it).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub leaves_stage: bool,
}

impl ActionRecord {
    /// The id of the job that runs this attempt's current run.
    pub fn job_id(&self) -> String {
        format!(
            "{}/{}/{}/{}/{}",
            self.execution_id, self.stage, self.action, self.attempt, self.run
        )
    }
}

/// A disabled transition into a stage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TransitionRecord {
    /// Why it was disabled.
    pub reason: String,
    /// When.
    pub disabled_ms: i64,
    /// Who disabled it (a principal's name), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
}

/// The execution holding a stage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LockHolder {
    /// The execution.
    pub execution_id: String,
}

/// An execution waiting to enter a stage, with the gate task's token to complete when it may.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Waiter {
    /// The execution.
    pub execution_id: String,
    /// When the execution started (older executions are superseded by newer ones).
    pub started_ms: i64,
    /// The entry gate's task token.
    pub token: String,
}

/// An approval's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ApprovalStatus {
    /// Waiting for a person.
    Pending,
    /// Approved.
    Approved,
    /// Rejected.
    Rejected,
    /// Not decided: its action ended first (the deadline passed, or the execution stopped or failed).
    Expired,
}

/// A manual approval request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApprovalRecord {
    /// The pipeline.
    pub pipeline: String,
    /// The execution.
    pub execution_id: String,
    /// The stage.
    pub stage: String,
    /// The action.
    pub action: String,
    /// The stage attempt.
    pub attempt: u32,
    /// The approval token (PutApprovalResult's token, the links' id).
    pub token: String,
    /// Its state.
    pub status: ApprovalStatus,
    /// The approver's summary.
    pub summary: Option<String>,
    /// Who decided.
    pub decided_by: Option<String>,
    /// CustomData from the configuration, variables resolved.
    pub custom_data: Option<String>,
    /// ExternalEntityLink from the configuration.
    pub external_link: Option<String>,
    /// NotificationArn from the configuration: the SNS topic the approval is announced on (besides Sluice's
    /// own channel).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notification_arn: Option<String>,
    /// When it was requested.
    pub requested_ms: i64,
    /// When it was decided.
    pub decided_ms: Option<i64>,
    /// Every decision so far, in order (one per principal): who, when, which way, with what comment.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub decisions: Vec<ApprovalDecision>,
    /// When it fails if still waiting, for an action with approval rules (`Deadline`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline_ms: Option<i64>,
    /// The action's `Approvers` as written (`alice`, `group:leads`) when it names any: whom links are issued
    /// to, one each. Empty: anyone who may operate the pipeline decides, through one shared link.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub approvers: Vec<String>,
    /// Who may not approve it: the principal who started the execution or pushed its commit, when the action
    /// does not allow self-approval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_approvable_by: Option<String>,
    /// How many approvals settle it, for an action with approval rules (0: one, as in CodePipeline).
    #[serde(default, skip_serializing_if = "is_zero_u32")]
    pub required_approvals: u32,
}

fn is_zero_u32(n: &u32) -> bool {
    *n == 0
}

/// One principal's decision on an approval.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApprovalDecision {
    /// Who decided (a principal's name, or what the transport calls the caller).
    pub principal: String,
    /// Approved (else rejected).
    pub approved: bool,
    /// When.
    pub decided_ms: i64,
    /// The comment given with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// An approval reminder waiting to be sent: the approval is announced again when it falls due, unless it was
/// decided or its action ended before.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReminderRecord {
    /// The approval's token.
    pub token: String,
    /// When it is due.
    pub due_ms: i64,
    /// How long before the deadline, in minutes.
    pub minutes_before: u32,
}

/// A source action's revision, as CodePipeline reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SourceRevision {
    /// The commit id, S3 version id or image digest.
    pub revision_id: String,
    /// The commit message or a description.
    pub revision_summary: Option<String>,
    /// A link to the revision, when there is one.
    pub revision_url: Option<String>,
}

/// What a job runs as outside Sluice, once known: a stack, a deployment, an execution. Shown in
/// GetPipelineState and ListActionExecutions while the job runs and after.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExternalExecution {
    /// Its id (a stack id, a deployment id, an execution ARN).
    pub id: String,
    /// A link to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// One line for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
}
