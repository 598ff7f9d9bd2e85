//! Requests and responses of the partner (third-party) job operations.

use serde::{Deserialize, Serialize};
use sluice_definition::ActionTypeId;

use crate::codepipeline::types::workers::{
    CurrentRevision, ExecutionDetails, FailureDetails, JobData,
};
use sluice_runtime::workers::WorkerJobStatus;

/// PollForThirdPartyJobs' input.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PollForThirdPartyJobsInput {
    pub action_type_id: ActionTypeId,
    pub max_batch_size: Option<usize>,
}

/// A job a partner polled: which, and the client id to give back as `clientToken`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ThirdPartyJob {
    pub client_id: String,
    pub job_id: String,
}

/// PollForThirdPartyJobs' output.
#[derive(Debug, Serialize)]
pub struct PollForThirdPartyJobsOutput {
    pub jobs: Vec<ThirdPartyJob>,
}

/// GetThirdPartyJobDetails' input.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GetThirdPartyJobDetailsInput {
    pub job_id: String,
    pub client_token: String,
}

/// A partner job's details.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ThirdPartyJobDetails {
    pub id: String,
    pub data: JobData,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
}

/// GetThirdPartyJobDetails' output.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GetThirdPartyJobDetailsOutput {
    pub job_details: ThirdPartyJobDetails,
}

/// AcknowledgeThirdPartyJob's input.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AcknowledgeThirdPartyJobInput {
    pub job_id: String,
    pub nonce: String,
    pub client_token: String,
}

/// AcknowledgeThirdPartyJob's output.
#[derive(Debug, Serialize)]
pub struct AcknowledgeThirdPartyJobOutput {
    pub status: WorkerJobStatus,
}

/// PutThirdPartyJobSuccessResult's input.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PutThirdPartyJobSuccessInput {
    pub job_id: String,
    pub client_token: String,
    pub current_revision: Option<CurrentRevision>,
    pub continuation_token: Option<String>,
    pub execution_details: Option<ExecutionDetails>,
}

/// PutThirdPartyJobFailureResult's input.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PutThirdPartyJobFailureInput {
    pub job_id: String,
    pub client_token: String,
    pub failure_details: FailureDetails,
}
