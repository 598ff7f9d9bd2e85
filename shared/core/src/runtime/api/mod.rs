//! CodePipeline's API over the runtime, free of any transport: `handle(runtime, X-Amz-Target, body)` answers
//! what an HTTP server (or a Lambda function URL) sends back, so the aws CLI, boto3 and the SDKs work unchanged.
//!
//! The protocol is CodePipeline's JSON 1.1: `POST /` with `X-Amz-Target: CodePipeline_20150709.<Operation>`,
//! request and response members as in the service model (`botocore/data/codepipeline/2015-07-09`), and
//! errors as `{"__type": "PipelineNotFoundException", "message": "..."}`. Client errors are HTTP 400,
//! transient store trouble 503 (which the SDKs retry), anything else 500.
//!
//! Every request is checked against its operation's input shape before it is read (every missing member,
//! unknown member, wrong type and out-of-range value, each named by its path), so an operation's code only
//! sees well-formed input. Timestamps are epoch seconds as numbers, as the SDKs read them.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tracing::warn;

use super::dispatch::{Runtime, RuntimeError, StartRequest};
use super::jobs::SourceRevision;
use super::ports::{ObjectInfo, StoreError};
use super::records::{
    keys, ActionRecord, ActionStatus, ApprovalStatus, ArtifactDetail, ExecutionRecord,
    ExecutionStatus, PipelineHead, PipelineRecord, RevisionOverride, StageRecord, StageStatus,
};
use crate::definition::schema::{self, Charset, Field, Kind};
use crate::definition::{ActionTypeId, DefinitionError, Document, Pipeline, RetryMode, Tag};
use crate::problem::{JsonPath, Problems};

mod workers;

/// The `X-Amz-Target` prefix of CodePipeline's operations.
pub const TARGET_PREFIX: &str = "CodePipeline_20150709.";

/// Who approvals decided through the API are recorded as when the transport names no caller.
pub const API_CALLER: &str = "codepipeline-api";

/// What an API call answers: the HTTP status and the JSON body.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiResponse {
    /// The HTTP status: 200, 400 for client errors, 5xx for the service's own trouble.
    pub status: u16,
    /// The response document, or `{"__type": ..., "message": ...}` for an error.
    pub body: Value,
}

/// An error as CodePipeline reports it: its type name (the service model's exception shape), a message and
/// the HTTP status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind}: {message}")]
pub struct ApiError {
    /// The exception's name, e.g. `PipelineNotFoundException`.
    pub kind: &'static str,
    /// What went wrong, for people.
    pub message: String,
    /// The HTTP status.
    pub status: u16,
}

impl ApiError {
    /// A client error (HTTP 400).
    pub fn new(kind: &'static str, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            status: 400,
        }
    }

    /// The error as a response.
    pub fn response(&self) -> ApiResponse {
        ApiResponse {
            status: self.status,
            body: json!({"__type": self.kind, "message": self.message}),
        }
    }
}

impl From<RuntimeError> for ApiError {
    fn from(e: RuntimeError) -> Self {
        let message = e.to_string();
        match e {
            RuntimeError::PipelineNotFound(_) => Self::new("PipelineNotFoundException", message),
            RuntimeError::ExecutionNotFound(_) => {
                Self::new("PipelineExecutionNotFoundException", message)
            }
            RuntimeError::NotFound(_) => Self::new("ResourceNotFoundException", message),
            RuntimeError::InvalidDefinition(problems) => {
                Self::new("InvalidStructureException", problems.to_string())
            }
            RuntimeError::Conflict(_) => Self::new("ConflictException", message),
            RuntimeError::Invalid(_) => Self::new("ValidationException", message),
            RuntimeError::Store(StoreError::Busy(_) | StoreError::ConditionFailed(_)) => Self {
                kind: "ServiceUnavailableException",
                message,
                status: 503,
            },
            RuntimeError::Store(_) | RuntimeError::Orchestrator(_) | RuntimeError::Corrupt(_) => {
                warn!(error = %message, "internal failure answering an API request");
                Self {
                    kind: "InternalFailure",
                    message,
                    status: 500,
                }
            }
        }
    }
}

type ApiResult<T> = Result<T, ApiError>;

/// Answers one CodePipeline API request: `target` is the whole `X-Amz-Target` header, `body` the request body.
pub async fn handle(runtime: &Runtime, target: &str, body: &[u8]) -> ApiResponse {
    handle_as(runtime, target, body, API_CALLER).await
}

/// Answers one request on behalf of `caller` (an access key id, a user name), whom approvals are recorded as.
pub async fn handle_as(runtime: &Runtime, target: &str, body: &[u8], caller: &str) -> ApiResponse {
    match answer(runtime, target, body, caller).await {
        Ok(body) => ApiResponse { status: 200, body },
        Err(e) => e.response(),
    }
}

async fn answer(runtime: &Runtime, target: &str, body: &[u8], caller: &str) -> ApiResult<Value> {
    let Some(operation) = target.strip_prefix(TARGET_PREFIX) else {
        return Err(unknown_operation(target));
    };
    let api = Api { runtime, caller };
    match operation {
        "CreatePipeline" => reply(api.create_pipeline(read(body, &CREATE_PIPELINE)?).await),
        "GetPipeline" => reply(api.get_pipeline(read(body, &GET_PIPELINE)?).await),
        "UpdatePipeline" => reply(api.update_pipeline(read(body, &UPDATE_PIPELINE)?).await),
        "DeletePipeline" => reply(api.delete_pipeline(read(body, &DELETE_PIPELINE)?).await),
        "ListPipelines" => reply(api.list_pipelines(read(body, &LIST_PIPELINES)?).await),
        "StartPipelineExecution" => reply(api.start_execution(read(body, &START_EXECUTION)?).await),
        "StopPipelineExecution" => reply(api.stop_execution(read(body, &STOP_EXECUTION)?).await),
        "GetPipelineExecution" => reply(api.get_execution(read(body, &GET_EXECUTION)?).await),
        "ListPipelineExecutions" => reply(api.list_executions(read(body, &LIST_EXECUTIONS)?).await),
        "ListActionExecutions" => reply(
            api.list_action_executions(read(body, &LIST_ACTION_EXECUTIONS)?)
                .await,
        ),
        "GetPipelineState" => reply(api.get_state(read(body, &GET_STATE)?).await),
        "PutApprovalResult" => reply(api.put_approval_result(read(body, &PUT_APPROVAL)?).await),
        "EnableStageTransition" => {
            reply(api.enable_transition(read(body, &ENABLE_TRANSITION)?).await)
        }
        "DisableStageTransition" => reply(
            api.disable_transition(read(body, &DISABLE_TRANSITION)?)
                .await,
        ),
        "RetryStageExecution" => reply(api.retry_stage(read(body, &RETRY_STAGE)?).await),
        "CreateCustomActionType" => reply(
            api.create_custom_action_type(read(body, &workers::CREATE_CUSTOM_ACTION_TYPE)?)
                .await,
        ),
        "DeleteCustomActionType" => reply(
            api.delete_custom_action_type(read(body, &workers::DELETE_CUSTOM_ACTION_TYPE)?)
                .await,
        ),
        "ListActionTypes" => reply(
            api.list_action_types(read(body, &workers::LIST_ACTION_TYPES)?)
                .await,
        ),
        "PollForJobs" => reply(
            api.poll_for_jobs(read(body, &workers::POLL_FOR_JOBS)?)
                .await,
        ),
        "AcknowledgeJob" => reply(
            api.acknowledge_job(read(body, &workers::ACKNOWLEDGE_JOB)?)
                .await,
        ),
        "GetJobDetails" => reply(
            api.get_job_details(read(body, &workers::GET_JOB_DETAILS)?)
                .await,
        ),
        "PutJobSuccessResult" => reply(
            api.put_job_success(read(body, &workers::PUT_JOB_SUCCESS)?)
                .await,
        ),
        "PutJobFailureResult" => reply(
            api.put_job_failure(read(body, &workers::PUT_JOB_FAILURE)?)
                .await,
        ),
        "TagResource" => reply(api.tag_resource(read(body, &workers::TAG_RESOURCE)?).await),
        "UntagResource" => reply(
            api.untag_resource(read(body, &workers::UNTAG_RESOURCE)?)
                .await,
        ),
        "ListTagsForResource" => reply(api.list_tags(read(body, &workers::LIST_TAGS)?).await),
        _ => Err(unknown_operation(target)),
    }
}

fn unknown_operation(target: &str) -> ApiError {
    ApiError::new(
        "UnknownOperationException",
        format!("{target} is not an operation of CodePipeline_20150709"),
    )
}

fn reply<T: Serialize>(result: ApiResult<T>) -> ApiResult<Value> {
    let output = result?;
    serde_json::to_value(output).map_err(|e| ApiError {
        kind: "InternalFailure",
        message: format!("could not write the response: {e}"),
        status: 500,
    })
}

// ------------------------------------------------------------------------------------------ reading requests

/// Reads a request body: JSON, an object, matching the operation's input shape, then typed.
fn read<T: DeserializeOwned>(body: &[u8], shape: &Kind) -> ApiResult<T> {
    let value: Value = if body.iter().all(u8::is_ascii_whitespace) {
        // The CLI sends `{}` for an operation without members; an empty body means the same.
        json!({})
    } else {
        serde_json::from_slice(body).map_err(|e| {
            ApiError::new(
                "ValidationException",
                format!("the request body is not valid JSON: {e}"),
            )
        })?
    };
    if !value.is_object() {
        return Err(ApiError::new(
            "ValidationException",
            format!(
                "the request body must be a JSON object, not {}",
                schema::describe(&value)
            ),
        ));
    }
    let mut problems = Problems::default();
    schema::check(&value, shape, &JsonPath::root(), &mut problems);
    if !problems.is_empty() {
        return Err(validation(&problems));
    }
    // The shape was checked, so this only fails on a disagreement between the shape and the type.
    serde_json::from_value(value).map_err(|e| ApiError::new("ValidationException", e.to_string()))
}

/// Shape problems in CodePipeline's words: `1 validation error detected: Value null at 'pipelineName' failed
/// to satisfy constraint: Member must not be null`.
fn validation(problems: &Problems) -> ApiError {
    let details: Vec<String> = problems
        .iter()
        .map(|p| {
            if p.message == "required field is missing" {
                format!(
                    "Value null at '{}' failed to satisfy constraint: Member must not be null",
                    p.path
                )
            } else {
                format!(
                    "Value at '{}' failed to satisfy constraint: {}",
                    p.path, p.message
                )
            }
        })
        .collect();
    let n = details.len();
    ApiError::new(
        "ValidationException",
        format!(
            "{n} validation error{} detected: {}",
            if n == 1 { "" } else { "s" },
            details.join("; ")
        ),
    )
}

/// Reads the `pipeline` member of CreatePipeline and UpdatePipeline (its shape is already checked).
fn definition(value: Value) -> ApiResult<Pipeline> {
    Document::from_value(value)
        .map(|d| d.pipeline)
        .map_err(|e| match e {
            DefinitionError::Invalid(problems) => ApiError::new(
                "ValidationException",
                problems
                    .iter()
                    .map(|p| format!("pipeline.{p}"))
                    .collect::<Vec<_>>()
                    .join("\n"),
            ),
            other => ApiError::new("ValidationException", other.to_string()),
        })
}

// ------------------------------------------------------------------------------------------ input shapes

const fn req(name: &'static str, kind: &'static Kind) -> Field {
    Field {
        name,
        kind,
        required: true,
    }
}

const fn opt(name: &'static str, kind: &'static Kind) -> Field {
    Field {
        name,
        kind,
        required: false,
    }
}

static NAME: Kind = Kind::Str {
    min: 1,
    max: 100,
    charset: Charset::Name,
};
// Ids and tokens are UUIDs in CodePipeline; Sluice's ids come from the runtime's Env, so any text is read.
static ID: Kind = Kind::Str {
    min: 1,
    max: 200,
    charset: Charset::Any,
};
static NEXT_TOKEN: Kind = Kind::Str {
    min: 1,
    max: 2048,
    charset: Charset::Any,
};
static MAX_100: Kind = Kind::Int { min: 1, max: 100 };
static TRANSITION_TYPE: Kind = Kind::Enum(&["Inbound", "Outbound"]);

static CREATE_PIPELINE: Kind = Kind::Obj(&[
    req("pipeline", &schema::PIPELINE),
    opt("tags", &schema::TAGS),
]);
static UPDATE_PIPELINE: Kind = Kind::Obj(&[req("pipeline", &schema::PIPELINE)]);
static GET_PIPELINE: Kind = Kind::Obj(&[
    req("name", &NAME),
    opt(
        "version",
        &Kind::Int {
            min: 1,
            max: i64::MAX,
        },
    ),
]);
static DELETE_PIPELINE: Kind = Kind::Obj(&[req("name", &NAME)]);
static LIST_PIPELINES: Kind = Kind::Obj(&[
    opt("nextToken", &NEXT_TOKEN),
    opt("maxResults", &Kind::Int { min: 1, max: 1000 }),
]);
static START_EXECUTION: Kind = Kind::Obj(&[
    req("name", &NAME),
    opt(
        "variables",
        &Kind::List {
            item: &Kind::Obj(&[
                req(
                    "name",
                    &Kind::Str {
                        min: 1,
                        max: 128,
                        charset: Charset::Namespace,
                    },
                ),
                req(
                    "value",
                    &Kind::Str {
                        min: 1,
                        max: 1000,
                        charset: Charset::Any,
                    },
                ),
            ]),
            min: 1,
            max: 50,
        },
    ),
    opt(
        "clientRequestToken",
        &Kind::Str {
            min: 1,
            max: 128,
            charset: Charset::Token,
        },
    ),
    opt(
        "sourceRevisions",
        &Kind::List {
            item: &Kind::Obj(&[
                req("actionName", &NAME),
                req(
                    "revisionType",
                    &Kind::Enum(&[
                        "COMMIT_ID",
                        "IMAGE_DIGEST",
                        "S3_OBJECT_VERSION_ID",
                        "S3_OBJECT_KEY",
                    ]),
                ),
                req(
                    "revisionValue",
                    &Kind::Str {
                        min: 1,
                        max: 1500,
                        charset: Charset::Any,
                    },
                ),
            ]),
            min: 0,
            max: 50,
        },
    ),
]);
static STOP_EXECUTION: Kind = Kind::Obj(&[
    req("pipelineName", &NAME),
    req("pipelineExecutionId", &ID),
    opt("abandon", &Kind::Bool),
    opt(
        "reason",
        &Kind::Str {
            min: 0,
            max: 200,
            charset: Charset::Any,
        },
    ),
]);
static GET_EXECUTION: Kind =
    Kind::Obj(&[req("pipelineName", &NAME), req("pipelineExecutionId", &ID)]);
static LIST_EXECUTIONS: Kind = Kind::Obj(&[
    req("pipelineName", &NAME),
    opt("maxResults", &MAX_100),
    opt(
        "filter",
        &Kind::Obj(&[opt(
            "succeededInStage",
            &Kind::Obj(&[opt("stageName", &NAME)]),
        )]),
    ),
    opt("nextToken", &NEXT_TOKEN),
]);
static LIST_ACTION_EXECUTIONS: Kind = Kind::Obj(&[
    req("pipelineName", &NAME),
    opt(
        "filter",
        &Kind::Obj(&[
            opt("pipelineExecutionId", &ID),
            opt(
                "latestInPipelineExecution",
                &Kind::Obj(&[
                    req("pipelineExecutionId", &ID),
                    req("startTimeRange", &Kind::Enum(&["Latest", "All"])),
                ]),
            ),
        ]),
    ),
    opt("maxResults", &MAX_100),
    opt("nextToken", &NEXT_TOKEN),
]);
static GET_STATE: Kind = Kind::Obj(&[req("name", &NAME)]);
static PUT_APPROVAL: Kind = Kind::Obj(&[
    req("pipelineName", &NAME),
    req("stageName", &NAME),
    req("actionName", &NAME),
    req(
        "result",
        &Kind::Obj(&[
            req(
                "summary",
                &Kind::Str {
                    min: 0,
                    max: 512,
                    charset: Charset::Any,
                },
            ),
            req("status", &Kind::Enum(&["Approved", "Rejected"])),
        ]),
    ),
    req("token", &ID),
]);
static ENABLE_TRANSITION: Kind = Kind::Obj(&[
    req("pipelineName", &NAME),
    req("stageName", &NAME),
    req("transitionType", &TRANSITION_TYPE),
]);
static DISABLE_TRANSITION: Kind = Kind::Obj(&[
    req("pipelineName", &NAME),
    req("stageName", &NAME),
    req("transitionType", &TRANSITION_TYPE),
    req(
        "reason",
        &Kind::Str {
            min: 1,
            max: 300,
            charset: Charset::Any,
        },
    ),
]);
static RETRY_STAGE: Kind = Kind::Obj(&[
    req("pipelineName", &NAME),
    req("stageName", &NAME),
    req("pipelineExecutionId", &ID),
    req("retryMode", &Kind::Enum(&["FAILED_ACTIONS", "ALL_ACTIONS"])),
]);

// ------------------------------------------------------------------------------------ requests and responses

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
    /// STANDARD (Sluice has no rollback executions).
    pub execution_type: &'static str,
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
    /// STANDARD.
    pub execution_type: &'static str,
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
    /// The job's id.
    pub external_execution_id: String,
    /// A summary for people.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_execution_summary: Option<String>,
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

/// GetPipelineState's input (and other inputs that name only a pipeline).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GetPipelineStateInput {
    /// The pipeline.
    pub name: String,
}

/// GetPipelineState's output.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GetPipelineStateOutput {
    /// The pipeline.
    pub pipeline_name: String,
    /// Its newest version.
    pub pipeline_version: u64,
    /// Each stage of the newest version, in order.
    pub stage_states: Vec<StageState>,
    /// When the pipeline was created.
    pub created: f64,
    /// When its newest version was made.
    pub updated: f64,
}

/// A stage's state.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StageState {
    /// The stage.
    pub stage_name: String,
    /// The transition into it.
    pub inbound_transition_state: TransitionState,
    /// Its actions, in definition order.
    pub action_states: Vec<ActionState>,
    /// The latest execution that entered it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latest_execution: Option<StageExecution>,
}

/// The transition into a stage.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TransitionState {
    /// Whether executions may enter.
    pub enabled: bool,
    /// Why not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disabled_reason: Option<String>,
    /// When it was disabled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_changed_at: Option<f64>,
}

/// An execution's passage through a stage.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StageExecution {
    /// The execution.
    pub pipeline_execution_id: String,
    /// The stage's status in it.
    pub status: StageStatus,
    /// STANDARD.
    #[serde(rename = "type")]
    pub kind: &'static str,
}

/// An action's state.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionState {
    /// The action.
    pub action_name: String,
    /// Its revision, for a source action that ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_revision: Option<ActionRevision>,
    /// Its latest attempt.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latest_execution: Option<ActionExecution>,
    /// For an approval: its ExternalEntityLink.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entity_url: Option<String>,
    /// A link to the source revision.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revision_url: Option<String>,
}

/// A source action's current revision.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionRevision {
    /// The revision.
    pub revision_id: String,
    /// Its change identifier (the revision again).
    pub revision_change_id: String,
    /// When the action recorded it.
    pub created: f64,
}

/// An action's latest attempt.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionExecution {
    /// The attempt's id.
    pub action_execution_id: String,
    /// Its status.
    pub status: ActionStatus,
    /// A summary.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// When its status last changed.
    pub last_status_change: f64,
    /// A pending manual approval's token, for PutApprovalResult.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// The job's id.
    pub external_execution_id: String,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_details: Option<ErrorDetails>,
}

/// PutApprovalResult's input.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PutApprovalResultInput {
    /// The pipeline.
    pub pipeline_name: String,
    /// The approval's stage.
    pub stage_name: String,
    /// The approval action.
    pub action_name: String,
    /// The decision.
    pub result: ApprovalResult,
    /// The approval's token (from GetPipelineState).
    pub token: String,
}

/// An approval decision.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ApprovalResult {
    /// Why.
    pub summary: String,
    /// Approved or Rejected.
    pub status: String,
}

/// PutApprovalResult's output.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PutApprovalResultOutput {
    /// When the decision was recorded.
    pub approved_at: f64,
}

/// EnableStageTransition's input.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EnableStageTransitionInput {
    /// The pipeline.
    pub pipeline_name: String,
    /// The stage.
    pub stage_name: String,
    /// Inbound (into the stage) or Outbound (out of it, into the next stage).
    pub transition_type: String,
}

/// DisableStageTransition's input.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DisableStageTransitionInput {
    /// The pipeline.
    pub pipeline_name: String,
    /// The stage.
    pub stage_name: String,
    /// Inbound or Outbound.
    pub transition_type: String,
    /// Why.
    pub reason: String,
}

/// RetryStageExecution's input.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RetryStageExecutionInput {
    /// The pipeline.
    pub pipeline_name: String,
    /// The failed stage.
    pub stage_name: String,
    /// The execution.
    pub pipeline_execution_id: String,
    /// FAILED_ACTIONS or ALL_ACTIONS.
    pub retry_mode: RetryMode,
}

// ------------------------------------------------------------------------------------------ the operations

/// Epoch seconds, as the SDKs read CodePipeline's timestamps.
fn seconds(ms: i64) -> f64 {
    ms as f64 / 1000.0
}

/// Page tokens: opaque (hex) text naming what the page ended after, tagged with what it lists.
fn encode_token(kind: &str, key: &str) -> String {
    format!("{kind}:{key}")
        .bytes()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn decode_token(kind: &str, token: &str) -> ApiResult<String> {
    let invalid = || {
        ApiError::new(
            "InvalidNextTokenException",
            "the next token is not one this operation gave",
        )
    };
    let bytes = (0..token.len())
        .step_by(2)
        .map(|i| {
            token
                .get(i..i + 2)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        })
        .collect::<Option<Vec<u8>>>()
        .ok_or_else(invalid)?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    text.strip_prefix(kind)
        .and_then(|rest| rest.strip_prefix(':'))
        .map(str::to_owned)
        .ok_or_else(invalid)
}

struct Api<'a> {
    runtime: &'a Runtime,
    caller: &'a str,
}

impl Api<'_> {
    fn pipeline_not_found(&self, name: &str) -> ApiError {
        ApiError::new(
            "PipelineNotFoundException",
            format!(
                "Account '{}' does not have a pipeline with name '{name}'",
                self.runtime.config.origin.account
            ),
        )
    }

    fn execution_not_found(name: &str, id: &str) -> ApiError {
        ApiError::new(
            "PipelineExecutionNotFoundException",
            format!("Pipeline execution ID {id} does not exist in the pipeline {name}"),
        )
    }

    /// The pipeline's head and newest version, or PipelineNotFoundException.
    async fn current(&self, name: &str) -> ApiResult<(PipelineHead, PipelineRecord)> {
        let head = self
            .runtime
            .pipeline_head(name)
            .await?
            .ok_or_else(|| self.pipeline_not_found(name))?;
        let record = self.runtime.pipeline(name, Some(head.version)).await?;
        Ok((head, record))
    }

    /// An execution of the named pipeline (which must exist), or PipelineExecutionNotFoundException.
    async fn execution_of(&self, name: &str, id: &str) -> ApiResult<ExecutionRecord> {
        self.current(name).await?;
        match self.runtime.execution(id).await {
            Ok(e) if e.pipeline == name => Ok(e),
            Ok(_) | Err(RuntimeError::ExecutionNotFound(_)) => {
                Err(Self::execution_not_found(name, id))
            }
            Err(e) => Err(e.into()),
        }
    }

    fn arn(&self, name: &str) -> String {
        let origin = &self.runtime.config.origin;
        format!(
            "arn:aws:codepipeline:{}:{}:{name}",
            origin.region, origin.account
        )
    }

    async fn create_pipeline(&self, input: CreatePipelineInput) -> ApiResult<CreatePipelineOutput> {
        let definition = definition(input.pipeline)?;
        self.check_custom_actions(&definition).await?;
        let name = definition.name.clone();
        let record = self
            .runtime
            .create_pipeline(definition, None, input.tags.clone().unwrap_or_default())
            .await
            .map_err(|e| match e {
                RuntimeError::Conflict(_) => ApiError::new(
                    "PipelineNameInUseException",
                    format!("A pipeline with the name {name} already exists"),
                ),
                other => other.into(),
            })?;
        Ok(CreatePipelineOutput {
            pipeline: record.definition,
            tags: input.tags,
        })
    }

    async fn get_pipeline(&self, input: GetPipelineInput) -> ApiResult<GetPipelineOutput> {
        let (head, newest) = self.current(&input.name).await?;
        let record = match input.version {
            None => newest,
            Some(v) => match self.runtime.pipeline(&input.name, Some(v)).await {
                Ok(r) if v <= head.version => r,
                Ok(_) | Err(RuntimeError::PipelineNotFound(_)) => {
                    return Err(ApiError::new(
                        "PipelineVersionNotFoundException",
                        format!("Pipeline {} has no version {v}", input.name),
                    ))
                }
                Err(e) => return Err(e.into()),
            },
        };
        let mut pipeline = record.definition;
        self.mask_secrets(&mut pipeline).await?;
        Ok(GetPipelineOutput {
            pipeline,
            metadata: PipelineMetadata {
                pipeline_arn: self.arn(&input.name),
                created: seconds(head.created_ms),
                updated: seconds(head.updated_ms),
            },
        })
    }

    async fn update_pipeline(&self, input: UpdatePipelineInput) -> ApiResult<UpdatePipelineOutput> {
        let mut definition = definition(input.pipeline)?;
        // The definition's folder (a pipeline `sluice run` stored) stays, so relative paths still resolve.
        let (_, current) = self.current(&definition.name).await?;
        self.unmask_secrets(&mut definition, &current.definition);
        self.check_custom_actions(&definition).await?;
        let record = self
            .runtime
            .put_pipeline(definition, current.base_dir)
            .await?;
        Ok(UpdatePipelineOutput {
            pipeline: record.definition,
        })
    }

    async fn delete_pipeline(&self, input: DeletePipelineInput) -> ApiResult<Empty> {
        self.runtime.delete_pipeline(&input.name).await?;
        Ok(Empty {})
    }

    async fn list_pipelines(&self, input: ListPipelinesInput) -> ApiResult<ListPipelinesOutput> {
        let after = input
            .next_token
            .map(|t| decode_token("pipelines", &t))
            .transpose()?;
        let (heads, next) = self
            .runtime
            .list_pipelines_page(input.max_results.unwrap_or(100), after.as_deref())
            .await?;
        let mut pipelines = Vec::new();
        for head in heads {
            let definition = self
                .runtime
                .pipeline(&head.name, Some(head.version))
                .await?
                .definition;
            pipelines.push(PipelineSummary {
                name: head.name,
                version: head.version,
                pipeline_type: format!("{:?}", definition.kind()),
                execution_mode: definition.mode().to_string(),
                created: seconds(head.created_ms),
                updated: seconds(head.updated_ms),
            });
        }
        Ok(ListPipelinesOutput {
            pipelines,
            next_token: next.map(|k| encode_token("pipelines", &k)),
        })
    }

    async fn start_execution(
        &self,
        input: StartPipelineExecutionInput,
    ) -> ApiResult<ExecutionIdOutput> {
        let mut variables = BTreeMap::new();
        for v in input.variables.unwrap_or_default() {
            if variables.insert(v.name.clone(), v.value).is_some() {
                return Err(ApiError::new(
                    "ValidationException",
                    format!("variable {} is given more than once", v.name),
                ));
            }
        }
        self.current(&input.name).await?;
        let execution = self
            .runtime
            .start_execution_once(
                &input.name,
                StartRequest {
                    variables,
                    trigger: None,
                    source_revisions: input
                        .source_revisions
                        .unwrap_or_default()
                        .into_iter()
                        .map(|o| RevisionOverride {
                            action_name: o.action_name,
                            revision_type: o.revision_type,
                            revision_value: o.revision_value,
                        })
                        .collect(),
                },
                input.client_request_token.as_deref(),
            )
            .await?;
        Ok(ExecutionIdOutput {
            pipeline_execution_id: execution.execution_id,
        })
    }

    async fn stop_execution(
        &self,
        input: StopPipelineExecutionInput,
    ) -> ApiResult<ExecutionIdOutput> {
        let name = &input.pipeline_name;
        let id = &input.pipeline_execution_id;
        let execution = self.execution_of(name, id).await?;
        match execution.status {
            ExecutionStatus::InProgress => {}
            ExecutionStatus::Stopping => {
                return Err(ApiError::new(
                    "DuplicatedStopRequestException",
                    format!("Pipeline execution {id} is already being stopped"),
                ))
            }
            status => {
                return Err(ApiError::new(
                    "PipelineExecutionNotStoppableException",
                    format!("Pipeline execution {id} is {status:?} and cannot be stopped"),
                ))
            }
        }
        let reason = input
            .reason
            .filter(|r| !r.is_empty())
            .unwrap_or_else(|| "Stopped by StopPipelineExecution".to_owned());
        self.runtime
            .stop_execution(id, input.abandon.unwrap_or(false), &reason)
            .await
            .map_err(|e| match e {
                // It ended (or another stop came) between the read and the stop.
                RuntimeError::Conflict(m) => {
                    ApiError::new("PipelineExecutionNotStoppableException", m)
                }
                other => other.into(),
            })?;
        Ok(ExecutionIdOutput {
            pipeline_execution_id: id.clone(),
        })
    }

    async fn get_execution(
        &self,
        input: GetPipelineExecutionInput,
    ) -> ApiResult<GetPipelineExecutionOutput> {
        let name = &input.pipeline_name;
        let e = self
            .execution_of(name, &input.pipeline_execution_id)
            .await?;
        let definition = self
            .runtime
            .pipeline(name, Some(e.version))
            .await?
            .definition;
        let artifact_revisions = e
            .source_revisions
            .iter()
            .map(|r| {
                let artifact = definition
                    .actions()
                    .find(|(_, _, _, a)| a.name == r.action_name)
                    .and_then(|(_, _, _, a)| a.outputs().next().map(str::to_owned))
                    .unwrap_or_else(|| r.action_name.clone());
                ArtifactRevisionOut {
                    name: artifact,
                    revision_id: r.revision.revision_id.clone(),
                    revision_summary: r.revision.revision_summary.clone(),
                    revision_url: r.revision.revision_url.clone(),
                }
            })
            .collect();
        Ok(GetPipelineExecutionOutput {
            pipeline_execution: PipelineExecution {
                pipeline_name: e.pipeline,
                pipeline_version: e.version,
                pipeline_execution_id: e.execution_id,
                status: e.status,
                status_summary: e.status_summary,
                artifact_revisions,
                variables: e
                    .variables
                    .into_iter()
                    .map(|v| ResolvedVariableOut {
                        name: v.name,
                        resolved_value: v.resolved_value,
                    })
                    .collect(),
                trigger: TriggerOut {
                    trigger_type: e.trigger.trigger_type,
                    trigger_detail: e.trigger.trigger_detail,
                },
                execution_mode: definition.mode().to_string(),
                execution_type: "STANDARD",
            },
        })
    }

    async fn list_executions(
        &self,
        input: ListPipelineExecutionsInput,
    ) -> ApiResult<ListPipelineExecutionsOutput> {
        let name = &input.pipeline_name;
        self.current(name).await?;
        let after = input
            .next_token
            .map(|t| decode_token("executions", &t))
            .transpose()?;
        let (executions, next) = self
            .runtime
            .list_executions_page(name, input.max_results.unwrap_or(100), after.as_deref())
            .await?;
        let in_stage = input
            .filter
            .and_then(|f| f.succeeded_in_stage)
            .and_then(|s| s.stage_name);
        let mut modes: HashMap<u64, String> = HashMap::new();
        let mut summaries = Vec::new();
        for e in executions {
            if let Some(stage) = &in_stage {
                let stages = self.runtime.stages(&e.execution_id).await?;
                let latest = stages
                    .iter()
                    .filter(|s| &s.stage == stage)
                    .max_by_key(|s| s.attempt);
                if latest.is_none_or(|s| s.status != StageStatus::Succeeded) {
                    continue;
                }
            }
            let mode = match modes.get(&e.version) {
                Some(m) => m.clone(),
                None => {
                    let m = self
                        .runtime
                        .pipeline(name, Some(e.version))
                        .await?
                        .definition
                        .mode()
                        .to_string();
                    modes.insert(e.version, m.clone());
                    m
                }
            };
            summaries.push(PipelineExecutionSummary {
                stop_trigger: e.stop_reason.map(|reason| StopTrigger { reason }),
                pipeline_execution_id: e.execution_id,
                status: e.status,
                status_summary: e.status_summary,
                start_time: seconds(e.started_ms),
                last_update_time: seconds(e.updated_ms),
                source_revisions: e
                    .source_revisions
                    .into_iter()
                    .map(|r| SourceRevisionOut {
                        action_name: r.action_name,
                        revision_id: r.revision.revision_id,
                        revision_summary: r.revision.revision_summary,
                        revision_url: r.revision.revision_url,
                    })
                    .collect(),
                trigger: TriggerOut {
                    trigger_type: e.trigger.trigger_type,
                    trigger_detail: e.trigger.trigger_detail,
                },
                execution_mode: mode,
                execution_type: "STANDARD",
            });
        }
        Ok(ListPipelineExecutionsOutput {
            pipeline_execution_summaries: summaries,
            next_token: next.map(|k| encode_token("executions", &k)),
        })
    }

    /// The action attempts of one execution as ListActionExecutions shows them, newest first.
    async fn action_details(
        &self,
        execution: &ExecutionRecord,
        latest_only: bool,
        definitions: &mut HashMap<u64, Pipeline>,
    ) -> ApiResult<Vec<ActionExecutionDetail>> {
        if let Entry::Vacant(slot) = definitions.entry(execution.version) {
            slot.insert(
                self.runtime
                    .pipeline(&execution.pipeline, Some(execution.version))
                    .await?
                    .definition,
            );
        }
        let definition = definitions.get(&execution.version);
        let mut actions = self.runtime.actions(&execution.execution_id).await?;
        if latest_only {
            let mut latest: BTreeMap<(String, String), ActionRecord> = BTreeMap::new();
            for a in actions {
                let key = (a.stage.clone(), a.action.clone());
                if latest.get(&key).is_none_or(|l| a.attempt > l.attempt) {
                    latest.insert(key, a);
                }
            }
            actions = latest.into_values().collect();
        }
        actions.sort_by(|a, b| {
            (b.started_ms, b.attempt, &b.stage, &b.action).cmp(&(
                a.started_ms,
                a.attempt,
                &a.stage,
                &a.action,
            ))
        });
        let mut details: Vec<ActionExecutionDetail> = actions
            .into_iter()
            .map(|a| {
                let declared = definition.and_then(|d| {
                    d.stages
                        .iter()
                        .find(|s| s.name == a.stage)
                        .and_then(|s| s.actions.iter().find(|x| x.name == a.action))
                });
                ActionExecutionDetail {
                    pipeline_execution_id: a.execution_id.clone(),
                    action_execution_id: a.job_id(),
                    pipeline_version: execution.version,
                    stage_name: a.stage.clone(),
                    action_name: a.action.clone(),
                    start_time: seconds(a.started_ms),
                    last_update_time: seconds(a.updated_ms),
                    status: a.status,
                    input: ActionExecutionInput {
                        action_type_id: a.action_type.clone(),
                        configuration: declared
                            .and_then(|d| d.configuration.clone())
                            .unwrap_or_default(),
                        resolved_configuration: a.configuration.clone(),
                        input_artifacts: a.input_artifacts.iter().map(artifact_out).collect(),
                        namespace: declared.and_then(|d| d.namespace.clone()),
                    },
                    output: ActionExecutionOutput {
                        output_artifacts: a.output_artifacts.iter().map(artifact_out).collect(),
                        execution_result: ExecutionResult {
                            external_execution_id: a.job_id(),
                            external_execution_summary: a.summary.clone(),
                            error_details: error_details(&a),
                        },
                        output_variables: a.output_variables,
                    },
                }
            })
            .collect();
        self.mask_action_secrets(&mut details).await?;
        Ok(details)
    }

    async fn list_action_executions(
        &self,
        input: ListActionExecutionsInput,
    ) -> ApiResult<ListActionExecutionsOutput> {
        let name = &input.pipeline_name;
        self.current(name).await?;
        let limit = input.max_results.unwrap_or(100);
        let (filter_id, latest_only) = match input.filter {
            Some(ActionExecutionFilter {
                latest_in_pipeline_execution: Some(l),
                ..
            }) => (
                Some(l.pipeline_execution_id),
                l.start_time_range == "Latest",
            ),
            Some(f) => (f.pipeline_execution_id, false),
            None => (None, false),
        };
        let filtered = match &filter_id {
            Some(id) => Some(self.execution_of(name, id).await?),
            None => None,
        };
        // A token names the execution (by its listing key) and how many of its attempts were shown.
        let (mut offset, resume) = match input.next_token {
            None => (0, None),
            Some(t) => {
                let text = decode_token("actions", &t)?;
                let (sk, n) = text
                    .rsplit_once('|')
                    .and_then(|(sk, n)| Some((sk.to_owned(), n.parse::<usize>().ok()?)))
                    .ok_or_else(|| {
                        ApiError::new("InvalidNextTokenException", "malformed next token")
                    })?;
                (n, Some(sk))
            }
        };
        let listed = |e: &ExecutionRecord| keys::listed_execution(e.started_ms, &e.execution_id);
        let mut current: Option<ExecutionRecord> = match (&filtered, resume) {
            (Some(e), _) => Some(e.clone()),
            (None, Some(sk)) => {
                let id = sk.rsplit('#').next().unwrap_or_default();
                match self.runtime.execution(id).await {
                    Ok(e) if e.pipeline == *name && listed(&e) == sk => Some(e),
                    _ => {
                        return Err(ApiError::new(
                            "InvalidNextTokenException",
                            "the next token names no execution of this pipeline",
                        ))
                    }
                }
            }
            (None, None) => self
                .runtime
                .list_executions_page(name, 1, None)
                .await?
                .0
                .pop(),
        };
        let mut definitions = HashMap::new();
        let mut details = Vec::new();
        let mut next = None;
        while let Some(e) = current.take() {
            let all = self
                .action_details(&e, latest_only, &mut definitions)
                .await?;
            let room = limit - details.len();
            let rest: Vec<ActionExecutionDetail> = all.into_iter().skip(offset).collect();
            if rest.len() > room {
                next = Some(format!("{}|{}", listed(&e), offset + room));
                details.extend(rest.into_iter().take(room));
                break;
            }
            details.extend(rest);
            offset = 0;
            if filtered.is_none() {
                current = self
                    .runtime
                    .list_executions_page(name, 1, Some(&listed(&e)))
                    .await?
                    .0
                    .pop();
                if details.len() == limit {
                    next = current.as_ref().map(|c| format!("{}|0", listed(c)));
                    break;
                }
            }
        }
        Ok(ListActionExecutionsOutput {
            action_execution_details: details,
            next_token: next.map(|k| encode_token("actions", &k)),
        })
    }

    async fn get_state(&self, input: GetPipelineStateInput) -> ApiResult<GetPipelineStateOutput> {
        /// How many of the newest executions the state is read from.
        const RECENT: usize = 25;
        let name = &input.name;
        let (head, record) = self.current(name).await?;
        let transitions = self.runtime.disabled_transitions(name).await?;
        let (executions, _) = self
            .runtime
            .list_executions_page(name, RECENT, None)
            .await?;
        // The latest attempt of each stage and action across recent executions, by when it started.
        let mut stages: HashMap<String, StageRecord> = HashMap::new();
        let mut actions: HashMap<(String, String), ActionRecord> = HashMap::new();
        for e in &executions {
            for s in self.runtime.stages(&e.execution_id).await? {
                let newer = stages
                    .get(&s.stage)
                    .is_none_or(|o| (s.started_ms, s.attempt) > (o.started_ms, o.attempt));
                if newer {
                    stages.insert(s.stage.clone(), s);
                }
            }
            for a in self.runtime.actions(&e.execution_id).await? {
                let key = (a.stage.clone(), a.action.clone());
                let newer = actions
                    .get(&key)
                    .is_none_or(|o| (a.started_ms, a.attempt) > (o.started_ms, o.attempt));
                if newer {
                    actions.insert(key, a);
                }
            }
        }
        let mut stage_states = Vec::new();
        for stage in &record.definition.stages {
            let mut action_states = Vec::new();
            for action in &stage.actions {
                let latest = actions.get(&(stage.name.clone(), action.name.clone()));
                let mut token = None;
                let mut entity_url = None;
                if let Some(a) = latest {
                    if let Some(approval) = self
                        .runtime
                        .approval(name, &stage.name, &action.name, &a.execution_id)
                        .await?
                        .filter(|p| p.attempt == a.attempt)
                    {
                        entity_url = approval.external_link.clone();
                        if approval.status == ApprovalStatus::Pending
                            && a.status == ActionStatus::InProgress
                        {
                            token = Some(approval.token);
                        }
                    }
                }
                action_states.push(ActionState {
                    action_name: action.name.clone(),
                    current_revision: latest.and_then(|a| {
                        a.revision.as_ref().map(|r| ActionRevision {
                            revision_id: r.revision_id.clone(),
                            revision_change_id: r.revision_id.clone(),
                            created: seconds(a.updated_ms),
                        })
                    }),
                    revision_url: latest
                        .and_then(|a| a.revision.as_ref())
                        .and_then(|r: &SourceRevision| r.revision_url.clone()),
                    latest_execution: latest.map(|a| ActionExecution {
                        action_execution_id: a.job_id(),
                        status: a.status,
                        summary: a.summary.clone(),
                        last_status_change: seconds(a.updated_ms),
                        token,
                        external_execution_id: a.job_id(),
                        error_details: error_details(a),
                    }),
                    entity_url,
                });
            }
            let transition = transitions.get(&stage.name);
            stage_states.push(StageState {
                stage_name: stage.name.clone(),
                inbound_transition_state: TransitionState {
                    enabled: transition.is_none(),
                    disabled_reason: transition.map(|t| t.reason.clone()),
                    last_changed_at: transition.map(|t| seconds(t.disabled_ms)),
                },
                action_states,
                latest_execution: stages.get(&stage.name).map(|s| StageExecution {
                    pipeline_execution_id: s.execution_id.clone(),
                    status: s.status,
                    kind: "STANDARD",
                }),
            });
        }
        Ok(GetPipelineStateOutput {
            pipeline_name: name.clone(),
            pipeline_version: head.version,
            stage_states,
            created: seconds(head.created_ms),
            updated: seconds(head.updated_ms),
        })
    }

    async fn put_approval_result(
        &self,
        input: PutApprovalResultInput,
    ) -> ApiResult<PutApprovalResultOutput> {
        let (name, stage, action) = (&input.pipeline_name, &input.stage_name, &input.action_name);
        let (_, record) = self.current(name).await?;
        let stage_def = record
            .definition
            .stages
            .iter()
            .find(|s| &s.name == stage)
            .ok_or_else(|| stage_not_found(name, stage))?;
        if !stage_def.actions.iter().any(|a| &a.name == action) {
            return Err(ApiError::new(
                "ActionNotFoundException",
                format!("Stage {stage} of pipeline {name} has no action {action}"),
            ));
        }
        let invalid = || {
            ApiError::new(
                "InvalidApprovalTokenException",
                format!("The token {} is not the pending approval of {stage}.{action} in pipeline {name}", input.token),
            )
        };
        let approval = self
            .runtime
            .approval_by_token(&input.token)
            .await?
            .filter(|a| &a.pipeline == name && &a.stage == stage && &a.action == action)
            .ok_or_else(invalid)?;
        let completed = || {
            ApiError::new(
                "ApprovalAlreadyCompletedException",
                format!(
                    "The approval of {stage}.{action} in execution {} was already {:?}",
                    approval.execution_id, approval.status
                ),
            )
        };
        if approval.status != ApprovalStatus::Pending {
            return Err(completed());
        }
        // An approval whose action ended without it (timed out, stopped) has expired.
        let waiting = self
            .runtime
            .actions(&approval.execution_id)
            .await?
            .into_iter()
            .any(|a| {
                &a.stage == stage
                    && &a.action == action
                    && a.attempt == approval.attempt
                    && a.status == ActionStatus::InProgress
            });
        if !waiting {
            return Err(invalid());
        }
        let summary = Some(input.result.summary).filter(|s| !s.is_empty());
        let decided = self
            .runtime
            .decide_approval(
                &input.token,
                input.result.status == "Approved",
                summary,
                self.caller,
            )
            .await
            .map_err(|e| match e {
                RuntimeError::Conflict(_) => completed(),
                RuntimeError::NotFound(_) => invalid(),
                other => other.into(),
            })?;
        Ok(PutApprovalResultOutput {
            approved_at: seconds(
                decided
                    .decided_ms
                    .unwrap_or_else(|| self.runtime.env.now_ms()),
            ),
        })
    }

    /// The stage whose inbound transition a request means: the stage itself (Inbound) or the next one
    /// (Outbound: the transition out of a stage is the one into its successor).
    async fn transition_target(
        &self,
        name: &str,
        stage: &str,
        transition_type: &str,
    ) -> ApiResult<String> {
        let (_, record) = self.current(name).await?;
        let stages = &record.definition.stages;
        let i = stages
            .iter()
            .position(|s| s.name == stage)
            .ok_or_else(|| stage_not_found(name, stage))?;
        if transition_type == "Inbound" {
            return Ok(stage.to_owned());
        }
        stages.get(i + 1).map(|s| s.name.clone()).ok_or_else(|| {
            ApiError::new(
                "ValidationException",
                format!("Stage {stage} is the last stage of pipeline {name}: it has no outbound transition"),
            )
        })
    }

    async fn enable_transition(&self, input: EnableStageTransitionInput) -> ApiResult<Empty> {
        let target = self
            .transition_target(
                &input.pipeline_name,
                &input.stage_name,
                &input.transition_type,
            )
            .await?;
        self.runtime
            .set_transition(&input.pipeline_name, &target, true, "")
            .await?;
        Ok(Empty {})
    }

    async fn disable_transition(&self, input: DisableStageTransitionInput) -> ApiResult<Empty> {
        let target = self
            .transition_target(
                &input.pipeline_name,
                &input.stage_name,
                &input.transition_type,
            )
            .await?;
        self.runtime
            .set_transition(&input.pipeline_name, &target, false, &input.reason)
            .await?;
        Ok(Empty {})
    }

    async fn retry_stage(&self, input: RetryStageExecutionInput) -> ApiResult<ExecutionIdOutput> {
        let (name, stage, id) = (
            &input.pipeline_name,
            &input.stage_name,
            &input.pipeline_execution_id,
        );
        let (_, record) = self.current(name).await?;
        if !record.definition.stages.iter().any(|s| &s.name == stage) {
            return Err(stage_not_found(name, stage));
        }
        self.execution_of(name, id).await?;
        let retried = self
            .runtime
            .retry_stage(id, stage, input.retry_mode)
            .await
            .map_err(|e| match e {
                RuntimeError::Conflict(m) | RuntimeError::NotFound(m) => {
                    ApiError::new("StageNotRetryableException", m)
                }
                other => other.into(),
            })?;
        Ok(ExecutionIdOutput {
            pipeline_execution_id: retried.execution_id,
        })
    }
}

fn stage_not_found(name: &str, stage: &str) -> ApiError {
    ApiError::new(
        "StageNotFoundException",
        format!("Pipeline {name} has no stage {stage}"),
    )
}

fn artifact_out(a: &ArtifactDetail) -> ArtifactDetailOut {
    let ObjectInfo { bucket, key, .. } = &a.object;
    ArtifactDetailOut {
        name: a.name.clone(),
        s3location: S3Location {
            bucket: bucket.clone(),
            key: key.clone(),
        },
    }
}

fn error_details(a: &ActionRecord) -> Option<ErrorDetails> {
    (a.status == ActionStatus::Failed).then(|| ErrorDetails {
        code: "JobFailed".to_owned(),
        message: a.error.clone().unwrap_or_else(|| "failed".to_owned()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(body: &str, shape: &Kind, expected: &str) {
        let got = read::<Value>(body.as_bytes(), shape)
            .map(|_| "ok".to_owned())
            .unwrap_or_else(|e| format!("{}: {}", e.kind, e.message));
        assert_eq!(got, expected, "{body}");
    }

    #[test]
    fn requests_are_checked_against_their_shape() {
        check(r#"{"name": "p"}"#, &GET_STATE, "ok");
        check("", &LIST_PIPELINES, "ok");
        check(
            "{}",
            &GET_STATE,
            "ValidationException: 1 validation error detected: Value null at 'name' failed to satisfy constraint: Member must not be null",
        );
        check(
            r#"{"pipelineName": "p", "pipelineExecutionId": 7, "abandon": "yes"}"#,
            &STOP_EXECUTION,
            "ValidationException: 2 validation errors detected: Value at 'pipelineExecutionId' failed to satisfy constraint: expected a string, found a whole number; Value at 'abandon' failed to satisfy constraint: expected true or false, found a string",
        );
        check(
            r#"{"name": "p", "nmae": "q"}"#,
            &GET_STATE,
            "ValidationException: 1 validation error detected: Value at 'nmae' failed to satisfy constraint: unknown field (did you mean \"name\"?)",
        );
        check(
            "[1]",
            &GET_STATE,
            "ValidationException: the request body must be a JSON object, not a list",
        );
        assert!(read::<Value>(b"{", &GET_STATE)
            .expect_err("not JSON")
            .message
            .starts_with("the request body is not valid JSON"));
    }

    /// An HTTP server or a Lambda runtime spawns `handle`'s future: it must be Send.
    #[allow(dead_code)]
    fn handle_is_send(runtime: &Runtime) {
        fn send<T: Send>(_: T) {}
        send(handle(runtime, "", b""));
    }

    #[test]
    fn page_tokens_round_trip_and_refuse_strangers() {
        let t = encode_token("pipelines", "a#b|1");
        assert_eq!(decode_token("pipelines", &t).expect("round trip"), "a#b|1");
        for bad in ["zz", "abc", &encode_token("actions", "x")] {
            assert_eq!(
                decode_token("pipelines", bad).expect_err("refused").kind,
                "InvalidNextTokenException"
            );
        }
    }
}
