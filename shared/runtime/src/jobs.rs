//! Jobs: what the dispatch handler hands an executor to run one action attempt, and what comes back.
//!
//! Every provider except manual approval runs as a job. Locally the in-process agent (`shared/agent`) runs it;
//! a custom action's job is polled by a job worker; in AWS a provider's service does the work. The job carries
//! everything already resolved (variables substituted, artifact objects located), so an executor needs nothing
//! but the object store.

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use sluice_definition::model::ActionTypeId;

use crate::objects::ObjectInfo;
pub use crate::records::{ExternalExecution, SourceRevision};

/// One action attempt to run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Job {
    /// Unique per action attempt: `<execution>/<stage>/<action>/<attempt>`.
    pub id: String,
    /// The pipeline.
    pub pipeline: String,
    /// The pipeline execution.
    pub execution_id: String,
    /// The stage.
    pub stage: String,
    /// The action.
    pub action: String,
    /// The stage attempt.
    pub attempt: u32,
    /// Which provider runs it.
    pub action_type: ActionTypeId,
    /// The action's configuration, `#{...}` references resolved.
    pub configuration: BTreeMap<String, String>,
    /// The Commands action's commands, references resolved.
    pub commands: Vec<String>,
    /// Environment variables, references resolved.
    pub environment: BTreeMap<String, String>,
    /// Input artifacts, in the definition's order (the first is the primary source).
    pub inputs: Vec<JobInput>,
    /// Output artifacts to produce.
    pub outputs: Vec<JobOutput>,
    /// Variables the Commands action exports.
    pub output_variables: Vec<String>,
    /// How long the job may run.
    pub timeout_seconds: u64,
    /// The folder relative paths of local providers are resolved against (the definition file's folder).
    pub base_dir: Option<String>,
    /// For a source action: the revision the execution was started with, to fetch instead of the newest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision_override: Option<crate::records::RevisionOverride>,
    /// The IAM role the action works as in AWS: the action's `roleArn`, else the pipeline's. Local executors
    /// ignore it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
    /// The S3 bucket the pipeline names as its artifact store (`artifactStore.location`): where providers that
    /// hand artifacts to AWS services stage them when the job's own objects are not in S3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_store: Option<String>,
    /// The AWS region the action works in (the action's or rule's `region`): providers' calls go there;
    /// None is the host's own region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// For a provider that answers through the API (Lambda invoke): the job id it is invoked with and the
    /// continuation token of the run it continues.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invocation: Option<Invocation>,
}

/// How an invoked provider (a Lambda function) is told which job it works on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Invocation {
    /// The job id the function reports with (PutJobSuccessResult): unguessable, it is the function's
    /// credential for that call.
    pub job_id: String,
    /// The continuation token of the previous invocation's success, if this one continues it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub continuation_token: Option<String>,
}

/// An input artifact: a zip object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobInput {
    /// The artifact's name.
    pub name: String,
    /// Where the zip is.
    pub object: ObjectInfo,
}

/// An output artifact to produce: zip it and store it at `bucket/key`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobOutput {
    /// The artifact's name.
    pub name: String,
    /// The Commands action's `files` globs (relative to the workspace).
    pub files: Vec<String>,
    /// The bucket to store the zip in.
    pub bucket: String,
    /// The key to store the zip at.
    pub key: String,
    /// The KMS key to encrypt the zip with: the pipeline's `artifactStore.encryptionKey.id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption_key: Option<String>,
}

/// How a job ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "status")]
pub enum JobOutcome {
    /// The action succeeded.
    Succeeded {
        /// The output artifacts produced, by name.
        artifacts: BTreeMap<String, ObjectInfo>,
        /// Output variables (a source's CommitId, a build's exported variables, ...).
        variables: BTreeMap<String, String>,
        /// A one-line summary for people.
        summary: Option<String>,
        /// The source revision, for source actions.
        revision: Option<SourceRevision>,
    },
    /// The action failed.
    Failed {
        /// What went wrong, for people.
        message: String,
    },
}

/// Runs jobs. `start` returns once the job is under way; the outcome is reported to the [`JobListener`] the
/// executor was given.
#[async_trait]
pub trait Executor: Send + Sync {
    /// Starts a job. Starting a job id that is already running does nothing.
    async fn start(&self, job: Job) -> Result<(), String>;

    /// Whether a job with this id is running now (false after the process that ran it died).
    async fn is_running(&self, job_id: &str) -> bool;

    /// Cancels a running job (its process group is killed); unknown ids are ignored. The job then finishes
    /// as failed, reported as usual.
    async fn cancel(&self, job_id: &str);

    /// The output artifacts of an invoked job (see [`Job::invocation`]) that reported success through the
    /// API, moved where the runtime keeps artifacts when they were staged elsewhere. `None`: the runtime finds
    /// them in its own object store.
    async fn collect_outputs(
        &self,
        _job: &Job,
    ) -> Option<Result<BTreeMap<String, ObjectInfo>, String>> {
        None
    }
}

/// Hears how jobs ended: the dispatch runtime records the outcome and completes the action's task.
#[async_trait]
pub trait JobListener: Send + Sync {
    /// A job ended.
    async fn job_finished(&self, job: &Job, outcome: JobOutcome);

    /// A running job's external execution became known (or changed): recorded on its action.
    async fn job_progress(&self, _job: &Job, _external: ExternalExecution) {}
}
