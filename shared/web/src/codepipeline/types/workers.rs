//! Requests and responses of the custom action type, job worker and tag operations.

use serde::{Deserialize, Serialize};
use sluice_definition::{ActionTypeId, Tag};
use std::collections::BTreeMap;

use sluice_runtime::workers::{
    ActionTypeSettings, ArtifactCount, ConfigurationProperty, CustomActionType, WorkerJobStatus,
};

/// CreateCustomActionType's input.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateCustomActionTypeInput {
    pub category: String,
    pub provider: String,
    pub version: String,
    pub settings: Option<ActionTypeSettings>,
    pub configuration_properties: Option<Vec<ConfigurationProperty>>,
    pub input_artifact_details: ArtifactCount,
    pub output_artifact_details: ArtifactCount,
    pub tags: Option<Vec<Tag>>,
}

/// An action type, as CodePipeline lists it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionTypeOut {
    pub id: ActionTypeId,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub settings: Option<ActionTypeSettings>,
    pub action_configuration_properties: Vec<ConfigurationProperty>,
    pub input_artifact_details: ArtifactCount,
    pub output_artifact_details: ArtifactCount,
}

impl From<&CustomActionType> for ActionTypeOut {
    fn from(t: &CustomActionType) -> Self {
        Self {
            id: t.id.clone(),
            settings: t.settings.clone(),
            action_configuration_properties: t.configuration_properties.clone(),
            input_artifact_details: t.input_artifact_details,
            output_artifact_details: t.output_artifact_details,
        }
    }
}

/// CreateCustomActionType's output.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateCustomActionTypeOutput {
    pub action_type: ActionTypeOut,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<Tag>>,
}

/// DeleteCustomActionType's input.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeleteCustomActionTypeInput {
    pub category: String,
    pub provider: String,
    pub version: String,
}

/// ListActionTypes' input.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ListActionTypesInput {
    pub action_owner_filter: Option<String>,
    pub next_token: Option<String>,
    #[allow(dead_code)]
    pub region_filter: Option<String>,
}

/// ListActionTypes' output.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ListActionTypesOutput {
    pub action_types: Vec<ActionTypeOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

/// PollForJobs' input.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PollForJobsInput {
    pub action_type_id: ActionTypeId,
    pub max_batch_size: Option<usize>,
    pub query_param: Option<BTreeMap<String, String>>,
}

/// A job, as workers get it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JobOut {
    pub id: String,
    pub data: JobData,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    pub account_id: String,
}

/// A job's data.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JobData {
    pub action_type_id: ActionTypeId,
    pub action_configuration: ActionConfiguration,
    pub pipeline_context: PipelineContext,
    pub input_artifacts: Vec<JobArtifact>,
    pub output_artifacts: Vec<JobArtifact>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub continuation_token: Option<String>,
}

/// An action's configuration.
#[derive(Debug, Serialize)]
pub struct ActionConfiguration {
    pub configuration: BTreeMap<String, String>,
}

/// Where a job comes from.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PipelineContext {
    pub pipeline_name: String,
    pub stage: Named,
    pub action: ActionContext,
    pub pipeline_arn: String,
    pub pipeline_execution_id: String,
}

/// A name.
#[derive(Debug, Serialize)]
pub struct Named {
    pub name: String,
}

/// The action of a job.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionContext {
    pub name: String,
    pub action_execution_id: String,
}

/// An artifact of a job: where to read or write its zip.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JobArtifact {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    pub location: ArtifactLocation,
}

/// An artifact's location.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ArtifactLocation {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub s3_location: S3ArtifactLocation,
}

/// A bucket and key.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct S3ArtifactLocation {
    pub bucket_name: String,
    pub object_key: String,
}

/// PollForJobs' output.
#[derive(Debug, Serialize)]
pub struct PollForJobsOutput {
    pub jobs: Vec<JobOut>,
}

/// AcknowledgeJob's input.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AcknowledgeJobInput {
    pub job_id: String,
    pub nonce: String,
}

/// AcknowledgeJob's output.
#[derive(Debug, Serialize)]
pub struct AcknowledgeJobOutput {
    pub status: WorkerJobStatus,
}

/// GetJobDetails' input.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GetJobDetailsInput {
    pub job_id: String,
}

/// GetJobDetails' output.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GetJobDetailsOutput {
    pub job_details: JobOut,
}

/// PutJobSuccessResult's input.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PutJobSuccessInput {
    pub job_id: String,
    pub current_revision: Option<CurrentRevision>,
    pub continuation_token: Option<String>,
    pub execution_details: Option<ExecutionDetails>,
    pub output_variables: Option<BTreeMap<String, String>>,
}

/// A source revision a worker reports.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CurrentRevision {
    pub revision: String,
    #[allow(dead_code)]
    pub change_identifier: String,
    #[allow(dead_code)]
    pub created: Option<serde_json::Value>,
    pub revision_summary: Option<String>,
}

/// What a worker says about a run.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExecutionDetails {
    pub summary: Option<String>,
    pub external_execution_id: Option<String>,
    #[allow(dead_code)]
    pub percent_complete: Option<u8>,
}

/// PutJobFailureResult's input.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PutJobFailureInput {
    pub job_id: String,
    pub failure_details: FailureDetails,
}

/// Why a job failed.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FailureDetails {
    #[serde(rename = "type")]
    pub kind: String,
    pub message: String,
    pub external_execution_id: Option<String>,
}

/// TagResource's input.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TagResourceInput {
    pub resource_arn: String,
    pub tags: Vec<Tag>,
}

/// UntagResource's input.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UntagResourceInput {
    pub resource_arn: String,
    pub tag_keys: Vec<String>,
}

/// ListTagsForResource's input.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ListTagsInput {
    pub resource_arn: String,
    pub next_token: Option<String>,
    pub max_results: Option<usize>,
}

/// ListTagsForResource's output.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ListTagsOutput {
    pub tags: Vec<Tag>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}
