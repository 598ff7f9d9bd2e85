//! Requests and responses of the execution operations (Start, Stop, Get, List, ListActionExecutions).

use serde::{Deserialize, Serialize};
use sluice_definition::ActionTypeId;
use sluice_runtime::records::{ActionStatus, ExecutionStatus};
use std::collections::BTreeMap;

/// A pipeline variable's value given at start.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PipelineVariable {
    /// The variable.
    pub name: String,
    /// Its value.
    pub value: String,
}

/// A source revision override (read, and refused: Sluice does not support them yet).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SourceRevisionOverride {
    /// The source action.
    pub action_name: String,
    /// COMMIT_ID, IMAGE_DIGEST, S3_OBJECT_VERSION_ID or S3_OBJECT_KEY.
    pub revision_type: String,
    /// The revision.
    pub revision_value: String,
}

/// StartPipelineExecution's input.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StartPipelineExecutionInput {
    /// The pipeline.
    pub name: String,
    /// Values of pipeline variables.
    pub variables: Option<Vec<PipelineVariable>>,
    /// Makes the start idempotent: the same token gives the same execution.
    pub client_request_token: Option<String>,
    /// Source revision overrides.
    pub source_revisions: Option<Vec<SourceRevisionOverride>>,
}

/// The output of operations that answer an execution id.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecutionIdOutput {
    /// The execution.
    pub pipeline_execution_id: String,
}

/// StopPipelineExecution's input.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StopPipelineExecutionInput {
    /// The pipeline.
    pub pipeline_name: String,
    /// The execution.
    pub pipeline_execution_id: String,
    /// Abandon in-progress actions instead of letting them finish.
    pub abandon: Option<bool>,
    /// Why.
    pub reason: Option<String>,
}

/// The input of operations that name an execution of a pipeline.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GetPipelineExecutionInput {
    /// The pipeline.
    pub pipeline_name: String,
    /// The execution.
    pub pipeline_execution_id: String,
}

/// GetPipelineExecution's output.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GetPipelineExecutionOutput {
    /// The execution.
    pub pipeline_execution: PipelineExecution,
}

/// One execution, as GetPipelineExecution describes it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PipelineExecution {
    /// The pipeline.
    pub pipeline_name: String,
    /// The version it runs.
    pub pipeline_version: u64,
    /// Its id.
    pub pipeline_execution_id: String,
    /// Its status.
    pub status: ExecutionStatus,
    /// Why it is in that status.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_summary: Option<String>,
    /// The source revisions it runs on, by artifact.
    pub artifact_revisions: Vec<ArtifactRevisionOut>,
    /// Pipeline variables' values.
    pub variables: Vec<ResolvedVariableOut>,
    /// How it started.
    pub trigger: TriggerOut,
    /// The pipeline's execution mode.
    pub execution_mode: String,
    /// STANDARD, or ROLLBACK for a rollback execution.
    pub execution_type: &'static str,
    /// What a rollback execution rolled back to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rollback_metadata: Option<crate::codepipeline::types::rollbacks::PipelineRollbackMetadata>,
}

/// A source artifact's revision.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ArtifactRevisionOut {
    /// The artifact the source action produced.
    pub name: String,
    /// The revision.
    pub revision_id: String,
    /// A summary (a commit message).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revision_summary: Option<String>,
    /// A link to the revision.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revision_url: Option<String>,
}

/// A pipeline variable's value in an execution.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResolvedVariableOut {
    /// The variable.
    pub name: String,
    /// Its value.
    pub resolved_value: String,
}

/// How an execution started.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TriggerOut {
    /// StartPipelineExecution, Webhook, ...
    pub trigger_type: String,
    /// Who or what.
    pub trigger_detail: String,
}

/// ListPipelineExecutions' input.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ListPipelineExecutionsInput {
    /// The pipeline.
    pub pipeline_name: String,
    /// The page size (100 when absent).
    pub max_results: Option<usize>,
    /// Only executions that succeeded in a stage.
    pub filter: Option<PipelineExecutionFilter>,
    /// Where the previous page ended.
    pub next_token: Option<String>,
}

/// ListPipelineExecutions' filter.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PipelineExecutionFilter {
    /// Executions whose latest attempt of this stage succeeded.
    pub succeeded_in_stage: Option<SucceededInStage>,
}

/// A stage an execution must have succeeded in.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SucceededInStage {
    /// The stage.
    pub stage_name: Option<String>,
}

/// ListPipelineExecutions' output.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ListPipelineExecutionsOutput {
    /// One page of executions, newest first.
    pub pipeline_execution_summaries: Vec<PipelineExecutionSummary>,
    /// Where the next page starts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

/// An execution in a listing.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PipelineExecutionSummary {
    /// Its id.
    pub pipeline_execution_id: String,
    /// Its status.
    pub status: ExecutionStatus,
    /// Why it is in that status.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_summary: Option<String>,
    /// When it started.
    pub start_time: f64,
    /// When it last changed.
    pub last_update_time: f64,
    /// Its source revisions, by source action.
    pub source_revisions: Vec<SourceRevisionOut>,
    /// How it started.
    pub trigger: TriggerOut,
    /// Why it was stopped, when it was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_trigger: Option<StopTrigger>,
    /// The pipeline's execution mode.
    pub execution_mode: String,
    /// STANDARD, or ROLLBACK for a rollback execution.
    pub execution_type: &'static str,
    /// What a rollback execution rolled back to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rollback_metadata: Option<crate::codepipeline::types::rollbacks::PipelineRollbackMetadata>,
}

/// A source action's revision.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SourceRevisionOut {
    /// The source action.
    pub action_name: String,
    /// The revision.
    pub revision_id: String,
    /// A summary.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revision_summary: Option<String>,
    /// A link.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revision_url: Option<String>,
}

/// Why an execution was stopped.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StopTrigger {
    /// The reason given.
    pub reason: String,
}

/// ListActionExecutions' input.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ListActionExecutionsInput {
    /// The pipeline.
    pub pipeline_name: String,
    /// Only one execution's actions.
    pub filter: Option<ActionExecutionFilter>,
    /// The page size (100 when absent).
    pub max_results: Option<usize>,
    /// Where the previous page ended.
    pub next_token: Option<String>,
}

/// ListActionExecutions' filter.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ActionExecutionFilter {
    /// Every action attempt of this execution.
    pub pipeline_execution_id: Option<String>,
    /// The actions of this execution, only their latest attempts (`Latest`) or all (`All`).
    pub latest_in_pipeline_execution: Option<LatestInPipelineExecution>,
}

/// ListActionExecutions' `latestInPipelineExecution` filter.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LatestInPipelineExecution {
    /// The execution.
    pub pipeline_execution_id: String,
    /// Latest or All.
    pub start_time_range: String,
}

/// ListActionExecutions' output.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ListActionExecutionsOutput {
    /// One page of action attempts, newest first.
    pub action_execution_details: Vec<ActionExecutionDetail>,
    /// Where the next page starts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

/// One attempt of an action.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionExecutionDetail {
    /// The execution.
    pub pipeline_execution_id: String,
    /// The attempt's id.
    pub action_execution_id: String,
    /// The version the execution runs.
    pub pipeline_version: u64,
    /// The stage.
    pub stage_name: String,
    /// The action.
    pub action_name: String,
    /// When it started.
    pub start_time: f64,
    /// When it last changed.
    pub last_update_time: f64,
    /// Its status.
    pub status: ActionStatus,
    /// What it ran with.
    pub input: ActionExecutionInput,
    /// What it produced.
    pub output: ActionExecutionOutput,
}

/// What an action attempt ran with.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionExecutionInput {
    /// Its provider.
    pub action_type_id: ActionTypeId,
    /// The configuration as declared.
    pub configuration: BTreeMap<String, String>,
    /// The configuration with variables resolved.
    pub resolved_configuration: BTreeMap<String, String>,
    /// The artifacts it read.
    pub input_artifacts: Vec<ArtifactDetailOut>,
    /// Its variable namespace.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// What an action attempt produced.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionExecutionOutput {
    /// The artifacts it wrote.
    pub output_artifacts: Vec<ArtifactDetailOut>,
    /// How it ended.
    pub execution_result: ExecutionResult,
    /// Its output variables.
    pub output_variables: BTreeMap<String, String>,
}

/// An artifact and where its zip is.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ArtifactDetailOut {
    /// The artifact.
    pub name: String,
    /// Its object.
    pub s3location: S3Location,
}

/// A bucket and key.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct S3Location {
    /// The bucket.
    pub bucket: String,
    /// The key.
    pub key: String,
}

/// How an action attempt ended.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecutionResult {
    /// What ran it outside Sluice (a stack, a deployment, an execution), else the job's id.
    pub external_execution_id: String,
    /// A summary for people.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_execution_summary: Option<String>,
    /// A link to it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_execution_url: Option<String>,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_details: Option<ErrorDetails>,
}

/// Why an action failed.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorDetails {
    /// `JobFailed`.
    pub code: String,
    /// The failure.
    pub message: String,
}
