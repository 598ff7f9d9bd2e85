//! Requests and responses of the pipeline operations (Create, Get, Update, Delete, List).

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sluice_definition::{Pipeline, Tag};

/// The role a pipeline declared without `roleArn` is answered with, in the account of the server's settings:
/// CodePipeline's model marks `roleArn` required in every `PipelineDeclaration` it returns, so clients (boto3,
/// the aws CLI, the SDKs) would refuse a definition without one. It stands for "no role of its own": jobs run
/// with Sluice's own credentials, and a definition that sends it back (UpdatePipeline with GetPipeline's output)
/// is stored without a role again.
pub fn default_role_arn(account: &str) -> String {
    format!("arn:aws:iam::{account}:role/{DEFAULT_ROLE_NAME}")
}

/// The name of [`default_role_arn`]'s role.
pub const DEFAULT_ROLE_NAME: &str = "sluice-default-pipeline-role";

/// CreatePipeline's input.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreatePipelineInput {
    /// The definition (read into [`Pipeline`] after its shape is checked).
    pub pipeline: Value,
    /// Tags for the pipeline.
    pub tags: Option<Vec<Tag>>,
}

/// CreatePipeline's output.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreatePipelineOutput {
    /// The stored definition, with its version.
    pub pipeline: Pipeline,
    /// The tags given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<Tag>>,
}

/// UpdatePipeline's input.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdatePipelineInput {
    /// The new definition.
    pub pipeline: Value,
}

/// UpdatePipeline's output.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdatePipelineOutput {
    /// The definition in force, with its version.
    pub pipeline: Pipeline,
}

/// GetPipeline's input.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GetPipelineInput {
    /// The pipeline.
    pub name: String,
    /// A version; the newest when absent.
    pub version: Option<u64>,
}

/// GetPipeline's output.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GetPipelineOutput {
    /// The definition.
    pub pipeline: Pipeline,
    /// Its ARN and times.
    pub metadata: PipelineMetadata,
}

/// A pipeline's ARN and times.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PipelineMetadata {
    /// `arn:aws:codepipeline:<region>:<account>:<name>`.
    pub pipeline_arn: String,
    /// When the pipeline was created (epoch seconds).
    pub created: f64,
    /// When its newest version was made (epoch seconds).
    pub updated: f64,
}

/// DeletePipeline's input.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeletePipelineInput {
    /// The pipeline.
    pub name: String,
}

/// The empty output of operations that return nothing.
#[derive(Debug, Serialize)]
pub struct Empty {}

/// ListPipelines' input.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ListPipelinesInput {
    /// Where the previous page ended.
    pub next_token: Option<String>,
    /// The page size (100 when absent).
    pub max_results: Option<usize>,
}

/// ListPipelines' output.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ListPipelinesOutput {
    /// One page of pipelines, by name.
    pub pipelines: Vec<PipelineSummary>,
    /// Where the next page starts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

/// A pipeline in a listing.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PipelineSummary {
    /// Its name.
    pub name: String,
    /// Its newest version.
    pub version: u64,
    /// V1 or V2.
    pub pipeline_type: String,
    /// SUPERSEDED, QUEUED or PARALLEL.
    pub execution_mode: String,
    /// When it was created.
    pub created: f64,
    /// When its newest version was made.
    pub updated: f64,
}
