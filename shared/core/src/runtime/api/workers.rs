//! The API's job-worker and tag operations: custom action types (CreateCustomActionType, ListActionTypes,
//! DeleteCustomActionType), the jobs their workers poll (PollForJobs, AcknowledgeJob, GetJobDetails,
//! PutJobSuccessResult, PutJobFailureResult), and tags on pipelines and custom action types (TagResource,
//! UntagResource, ListTagsForResource).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{opt, req, Api, ApiError, ApiResult, Empty, NEXT_TOKEN};
use crate::definition::schema::{self, Charset, Kind};
use crate::definition::{ActionTypeId, Pipeline, Tag};
use crate::providers::{self, Owner};
use crate::runtime::jobs::SourceRevision;
use crate::runtime::workers::{
    ActionTypeSettings, ArtifactCount, ConfigurationProperty, CustomActionType, JobSuccess,
    WorkerError, WorkerJob, WorkerJobStatus,
};

impl From<WorkerError> for ApiError {
    fn from(e: WorkerError) -> Self {
        let message = e.to_string();
        match e {
            WorkerError::JobNotFound(_) => Self::new("JobNotFoundException", message),
            WorkerError::InvalidNonce(_) => Self::new("InvalidNonceException", message),
            WorkerError::InvalidJobState(_) => Self::new("InvalidJobStateException", message),
            WorkerError::ActionTypeNotFound(_) => Self::new("ActionTypeNotFoundException", message),
            WorkerError::Invalid(_) => Self::new("ValidationException", message),
            WorkerError::OutputVariablesTooLarge(_) => {
                Self::new("OutputVariablesSizeExceededException", message)
            }
            WorkerError::Runtime(e) => e.into(),
        }
    }
}

// ------------------------------------------------------------------------------------------ input shapes

const fn text(min: usize, max: usize) -> Kind {
    Kind::Str {
        min,
        max,
        charset: Charset::Any,
    }
}
const fn token(min: usize, max: usize) -> Kind {
    Kind::Str {
        min,
        max,
        charset: Charset::Token,
    }
}

static CATEGORY: Kind = Kind::Enum(&[
    "Source", "Build", "Deploy", "Test", "Invoke", "Approval", "Compute",
]);
static PROVIDER: Kind = token(1, 35);
static VERSION: Kind = token(1, 9);
static COUNT: Kind = Kind::Int { min: 0, max: 5 };
static ARTIFACT_DETAILS: Kind =
    Kind::Obj(&[req("minimumCount", &COUNT), req("maximumCount", &COUNT)]);
static URL: Kind = text(1, 2048);
static JOB_ID: Kind = text(1, 200);
static RESOURCE_ARN: Kind = text(1, 1011);

pub(super) static CREATE_CUSTOM_ACTION_TYPE: Kind = Kind::Obj(&[
    req("category", &CATEGORY),
    req("provider", &PROVIDER),
    req("version", &VERSION),
    opt(
        "settings",
        &Kind::Obj(&[
            opt("thirdPartyConfigurationUrl", &URL),
            opt("entityUrlTemplate", &URL),
            opt("executionUrlTemplate", &URL),
            opt("revisionUrlTemplate", &URL),
        ]),
    ),
    opt(
        "configurationProperties",
        &Kind::List {
            item: &Kind::Obj(&[
                req("name", &text(1, 50)),
                req("required", &Kind::Bool),
                req("key", &Kind::Bool),
                req("secret", &Kind::Bool),
                opt("queryable", &Kind::Bool),
                opt("description", &text(1, 160)),
                opt("type", &Kind::Enum(&["String", "Number", "Boolean"])),
            ]),
            min: 0,
            max: 10,
        },
    ),
    req("inputArtifactDetails", &ARTIFACT_DETAILS),
    req("outputArtifactDetails", &ARTIFACT_DETAILS),
    opt("tags", &schema::TAGS),
]);
pub(super) static DELETE_CUSTOM_ACTION_TYPE: Kind = Kind::Obj(&[
    req("category", &CATEGORY),
    req("provider", &PROVIDER),
    req("version", &VERSION),
]);
pub(super) static LIST_ACTION_TYPES: Kind = Kind::Obj(&[
    opt(
        "actionOwnerFilter",
        &Kind::Enum(&["AWS", "ThirdParty", "Custom"]),
    ),
    opt("nextToken", &NEXT_TOKEN),
    opt("regionFilter", &text(4, 30)),
]);
pub(super) static POLL_FOR_JOBS: Kind = Kind::Obj(&[
    req("actionTypeId", &schema::ACTION_TYPE_ID),
    opt("maxBatchSize", &Kind::Int { min: 1, max: 100 }),
    opt(
        "queryParam",
        &Kind::Config {
            max_key: 50,
            max_value: 50,
        },
    ),
]);
pub(super) static ACKNOWLEDGE_JOB: Kind =
    Kind::Obj(&[req("jobId", &JOB_ID), req("nonce", &text(1, 50))]);
pub(super) static GET_JOB_DETAILS: Kind = Kind::Obj(&[req("jobId", &JOB_ID)]);
pub(super) static PUT_JOB_SUCCESS: Kind = Kind::Obj(&[
    req("jobId", &JOB_ID),
    opt(
        "currentRevision",
        &Kind::Obj(&[
            req("revision", &text(1, 1500)),
            req("changeIdentifier", &text(1, 100)),
            opt("created", &Kind::Any),
            opt("revisionSummary", &text(1, 2048)),
        ]),
    ),
    opt("continuationToken", &text(1, 2048)),
    opt(
        "executionDetails",
        &Kind::Obj(&[
            opt("summary", &text(1, 2048)),
            opt("externalExecutionId", &text(1, 1500)),
            opt("percentComplete", &Kind::Int { min: 0, max: 100 }),
        ]),
    ),
    opt(
        "outputVariables",
        &Kind::Config {
            max_key: 128,
            max_value: 122_880,
        },
    ),
]);
pub(super) static PUT_JOB_FAILURE: Kind = Kind::Obj(&[
    req("jobId", &JOB_ID),
    req(
        "failureDetails",
        &Kind::Obj(&[
            req(
                "type",
                &Kind::Enum(&[
                    "JobFailed",
                    "ConfigurationError",
                    "PermissionError",
                    "RevisionOutOfSync",
                    "RevisionUnavailable",
                    "SystemUnavailable",
                ]),
            ),
            req("message", &text(1, 5000)),
            opt("externalExecutionId", &text(1, 1500)),
        ]),
    ),
]);
pub(super) static TAG_RESOURCE: Kind = Kind::Obj(&[
    req("resourceArn", &RESOURCE_ARN),
    req("tags", &schema::TAGS),
]);
pub(super) static UNTAG_RESOURCE: Kind = Kind::Obj(&[
    req("resourceArn", &RESOURCE_ARN),
    req(
        "tagKeys",
        &Kind::List {
            item: &text(1, 128),
            min: 0,
            max: 50,
        },
    ),
]);
pub(super) static LIST_TAGS: Kind = Kind::Obj(&[
    req("resourceArn", &RESOURCE_ARN),
    opt("nextToken", &NEXT_TOKEN),
    opt("maxResults", &Kind::Int { min: 1, max: 100 }),
]);

// ------------------------------------------------------------------------------------ requests and responses

/// CreateCustomActionType's input.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateCustomActionTypeInput {
    category: String,
    provider: String,
    version: String,
    settings: Option<ActionTypeSettings>,
    configuration_properties: Option<Vec<ConfigurationProperty>>,
    input_artifact_details: ArtifactCount,
    output_artifact_details: ArtifactCount,
    tags: Option<Vec<Tag>>,
}

/// An action type, as CodePipeline lists it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionTypeOut {
    id: ActionTypeId,
    #[serde(skip_serializing_if = "Option::is_none")]
    settings: Option<ActionTypeSettings>,
    action_configuration_properties: Vec<ConfigurationProperty>,
    input_artifact_details: ArtifactCount,
    output_artifact_details: ArtifactCount,
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
    action_type: ActionTypeOut,
    #[serde(skip_serializing_if = "Option::is_none")]
    tags: Option<Vec<Tag>>,
}

/// DeleteCustomActionType's input.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeleteCustomActionTypeInput {
    category: String,
    provider: String,
    version: String,
}

/// ListActionTypes' input.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ListActionTypesInput {
    action_owner_filter: Option<String>,
    next_token: Option<String>,
    #[allow(dead_code)]
    region_filter: Option<String>,
}

/// ListActionTypes' output.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ListActionTypesOutput {
    action_types: Vec<ActionTypeOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

/// PollForJobs' input.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PollForJobsInput {
    action_type_id: ActionTypeId,
    max_batch_size: Option<usize>,
    query_param: Option<BTreeMap<String, String>>,
}

/// A job, as workers get it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JobOut {
    id: String,
    data: JobData,
    #[serde(skip_serializing_if = "Option::is_none")]
    nonce: Option<String>,
    account_id: String,
}

/// A job's data.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JobData {
    action_type_id: ActionTypeId,
    action_configuration: ActionConfiguration,
    pipeline_context: PipelineContext,
    input_artifacts: Vec<JobArtifact>,
    output_artifacts: Vec<JobArtifact>,
    #[serde(skip_serializing_if = "Option::is_none")]
    continuation_token: Option<String>,
}

/// An action's configuration.
#[derive(Debug, Serialize)]
pub struct ActionConfiguration {
    configuration: BTreeMap<String, String>,
}

/// Where a job comes from.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PipelineContext {
    pipeline_name: String,
    stage: Named,
    action: ActionContext,
    pipeline_arn: String,
    pipeline_execution_id: String,
}

/// A name.
#[derive(Debug, Serialize)]
pub struct Named {
    name: String,
}

/// The action of a job.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionContext {
    name: String,
    action_execution_id: String,
}

/// An artifact of a job: where to read or write its zip.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JobArtifact {
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    revision: Option<String>,
    location: ArtifactLocation,
}

/// An artifact's location.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ArtifactLocation {
    #[serde(rename = "type")]
    kind: &'static str,
    s3_location: S3ArtifactLocation,
}

/// A bucket and key.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct S3ArtifactLocation {
    bucket_name: String,
    object_key: String,
}

/// PollForJobs' output.
#[derive(Debug, Serialize)]
pub struct PollForJobsOutput {
    jobs: Vec<JobOut>,
}

/// AcknowledgeJob's input.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AcknowledgeJobInput {
    job_id: String,
    nonce: String,
}

/// AcknowledgeJob's output.
#[derive(Debug, Serialize)]
pub struct AcknowledgeJobOutput {
    status: WorkerJobStatus,
}

/// GetJobDetails' input.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GetJobDetailsInput {
    job_id: String,
}

/// GetJobDetails' output.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GetJobDetailsOutput {
    job_details: JobOut,
}

/// PutJobSuccessResult's input.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PutJobSuccessInput {
    job_id: String,
    current_revision: Option<CurrentRevision>,
    continuation_token: Option<String>,
    execution_details: Option<ExecutionDetails>,
    output_variables: Option<BTreeMap<String, String>>,
}

/// A source revision a worker reports.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CurrentRevision {
    revision: String,
    #[allow(dead_code)]
    change_identifier: String,
    #[allow(dead_code)]
    created: Option<serde_json::Value>,
    revision_summary: Option<String>,
}

/// What a worker says about a run.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExecutionDetails {
    summary: Option<String>,
    external_execution_id: Option<String>,
    #[allow(dead_code)]
    percent_complete: Option<u8>,
}

/// PutJobFailureResult's input.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PutJobFailureInput {
    job_id: String,
    failure_details: FailureDetails,
}

/// Why a job failed.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FailureDetails {
    #[serde(rename = "type")]
    kind: String,
    message: String,
    external_execution_id: Option<String>,
}

/// TagResource's input.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TagResourceInput {
    resource_arn: String,
    tags: Vec<Tag>,
}

/// UntagResource's input.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UntagResourceInput {
    resource_arn: String,
    tag_keys: Vec<String>,
}

/// ListTagsForResource's input.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ListTagsInput {
    resource_arn: String,
    next_token: Option<String>,
    max_results: Option<usize>,
}

/// ListTagsForResource's output.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ListTagsOutput {
    tags: Vec<Tag>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

/// The built-in action types, as ListActionTypes shows them.
fn built_in_types(owner: Option<&str>) -> Vec<ActionTypeOut> {
    providers::BUILT_IN
        .iter()
        .filter(|p| owner.is_none_or(|o| p.owner.as_str() == o))
        .map(|p| {
            let property = |name: &&str, required: bool| ConfigurationProperty {
                name: (*name).to_owned(),
                required,
                key: false,
                secret: false,
                queryable: None,
                description: None,
                kind: None,
            };
            ActionTypeOut {
                id: ActionTypeId {
                    category: p.category.as_str().to_owned(),
                    owner: p.owner.as_str().to_owned(),
                    provider: p.provider.to_owned(),
                    version: p.version.to_owned(),
                },
                settings: None,
                action_configuration_properties: p
                    .required
                    .iter()
                    .map(|n| property(n, true))
                    .chain(p.optional.iter().map(|n| property(n, false)))
                    .collect(),
                input_artifact_details: ArtifactCount {
                    minimum_count: u32::from(p.inputs.0),
                    maximum_count: u32::from(p.inputs.1),
                },
                output_artifact_details: ArtifactCount {
                    minimum_count: u32::from(p.outputs.0),
                    maximum_count: u32::from(p.outputs.1),
                },
            }
        })
        .collect()
}

/// What GetPipeline shows instead of a secret configuration value.
pub(super) const SECRET_MASK: &str = "****";

/// Replaces the values of `secrets` in a configuration with the mask.
fn mask(config: &mut BTreeMap<String, String>, secrets: &[String]) {
    for name in secrets {
        if let Some(v) = config.get_mut(name) {
            *v = SECRET_MASK.into();
        }
    }
}

/// A resource an ARN names.
enum Resource {
    Pipeline(String),
    ActionType(ActionTypeId),
}

impl Api<'_> {
    /// The job as a worker sees it.
    fn job_out(&self, job: &WorkerJob, with_nonce: bool) -> JobOut {
        let j = &job.job;
        let artifact =
            |name: &str, bucket: &str, key: &str, revision: Option<String>| JobArtifact {
                name: name.to_owned(),
                revision,
                location: ArtifactLocation {
                    kind: "S3",
                    s3_location: S3ArtifactLocation {
                        bucket_name: bucket.to_owned(),
                        object_key: key.to_owned(),
                    },
                },
            };
        JobOut {
            id: job.id.clone(),
            nonce: if with_nonce { job.nonce.clone() } else { None },
            account_id: self.runtime.config.origin.account.clone(),
            data: JobData {
                action_type_id: j.action_type.clone(),
                action_configuration: ActionConfiguration {
                    configuration: j.configuration.clone(),
                },
                pipeline_context: PipelineContext {
                    pipeline_name: j.pipeline.clone(),
                    stage: Named {
                        name: j.stage.clone(),
                    },
                    action: ActionContext {
                        name: j.action.clone(),
                        action_execution_id: j.id.clone(),
                    },
                    pipeline_arn: self.arn(&j.pipeline),
                    pipeline_execution_id: j.execution_id.clone(),
                },
                input_artifacts: j
                    .inputs
                    .iter()
                    .map(|i| {
                        artifact(
                            &i.name,
                            &i.object.bucket,
                            &i.object.key,
                            Some(i.object.version_id.clone()).filter(|v| !v.is_empty()),
                        )
                    })
                    .collect(),
                output_artifacts: j
                    .outputs
                    .iter()
                    .map(|o| artifact(&o.name, &o.bucket, &o.key, None))
                    .collect(),
                continuation_token: job.continuation_token.clone(),
            },
        }
    }

    /// Refuses a definition whose custom actions name an action type that does not exist, or leave out a
    /// required configuration property, or set one the type does not have.
    pub(super) async fn check_custom_actions(&self, pipeline: &Pipeline) -> ApiResult<()> {
        for (si, ai, _, action) in pipeline.actions() {
            let id = &action.action_type_id;
            if id.owner != Owner::Custom.as_str() {
                continue;
            }
            let at = format!("pipeline.stages[{si}].actions[{ai}]");
            let Some(t) = self.runtime.custom_action_type(id).await? else {
                return Err(ApiError::new(
                    "InvalidActionDeclarationException",
                    format!(
                        "{at}.actionTypeId: action type {id} does not exist (create it with CreateCustomActionType)"
                    ),
                ));
            };
            let config = action.configuration.clone().unwrap_or_default();
            for p in &t.configuration_properties {
                if p.required && !config.contains_key(&p.name) {
                    return Err(ApiError::new(
                        "InvalidActionDeclarationException",
                        format!(
                            "{at}.configuration: {id} requires the configuration property {:?}",
                            p.name
                        ),
                    ));
                }
            }
            for key in config.keys() {
                if !t.configuration_properties.iter().any(|p| &p.name == key) {
                    return Err(ApiError::new(
                        "InvalidActionDeclarationException",
                        format!(
                            "{at}.configuration.{key}: {id} has no configuration property {key:?}"
                        ),
                    ));
                }
            }
            let inputs = action.input_artifacts.as_ref().map_or(0, Vec::len) as u32;
            let outputs = action.output_artifacts.as_ref().map_or(0, Vec::len) as u32;
            let ArtifactCount {
                minimum_count,
                maximum_count,
            } = t.input_artifact_details;
            if !(minimum_count..=maximum_count).contains(&inputs) {
                return Err(ApiError::new(
                    "InvalidActionDeclarationException",
                    format!("{at}.inputArtifacts: {id} takes {minimum_count} to {maximum_count} input artifacts, found {inputs}"),
                ));
            }
            let ArtifactCount {
                minimum_count,
                maximum_count,
            } = t.output_artifact_details;
            if !(minimum_count..=maximum_count).contains(&outputs) {
                return Err(ApiError::new(
                    "InvalidActionDeclarationException",
                    format!("{at}.outputArtifacts: {id} makes {minimum_count} to {maximum_count} output artifacts, found {outputs}"),
                ));
            }
        }
        Ok(())
    }

    /// The names of a custom action type's secret configuration properties (none for other types).
    async fn secret_properties(&self, id: &ActionTypeId) -> ApiResult<Vec<String>> {
        Ok(self
            .runtime
            .custom_action_type(id)
            .await?
            .map(|t| {
                t.configuration_properties
                    .into_iter()
                    .filter(|p| p.secret)
                    .map(|p| p.name)
                    .collect()
            })
            .unwrap_or_default())
    }

    /// Hides the values of custom actions' secret configuration properties, as GetPipeline shows them.
    pub(super) async fn mask_secrets(&self, pipeline: &mut Pipeline) -> ApiResult<()> {
        for stage in &mut pipeline.stages {
            for action in &mut stage.actions {
                if action.action_type_id.owner != Owner::Custom.as_str() {
                    continue;
                }
                let secrets = self.secret_properties(&action.action_type_id).await?;
                if let Some(config) = action.configuration.as_mut() {
                    mask(config, &secrets);
                }
            }
        }
        Ok(())
    }

    /// Hides custom actions' secret configuration values in ListActionExecutions, declared and resolved.
    pub(super) async fn mask_action_secrets(
        &self,
        details: &mut [super::ActionExecutionDetail],
    ) -> ApiResult<()> {
        for d in details {
            let input = &mut d.input;
            if input.action_type_id.owner != Owner::Custom.as_str() {
                continue;
            }
            let secrets = self.secret_properties(&input.action_type_id).await?;
            mask(&mut input.configuration, &secrets);
            mask(&mut input.resolved_configuration, &secrets);
        }
        Ok(())
    }

    /// UpdatePipeline with a definition read from GetPipeline carries masked secrets: keep the stored values.
    pub(super) fn unmask_secrets(&self, pipeline: &mut Pipeline, current: &Pipeline) {
        for stage in &mut pipeline.stages {
            for action in &mut stage.actions {
                let Some(config) = action.configuration.as_mut() else {
                    continue;
                };
                let before = current
                    .stages
                    .iter()
                    .find(|s| s.name == stage.name)
                    .and_then(|s| s.actions.iter().find(|a| a.name == action.name))
                    .and_then(|a| a.configuration.as_ref());
                for (k, v) in config.iter_mut() {
                    if v == SECRET_MASK {
                        if let Some(old) = before.and_then(|b| b.get(k)) {
                            v.clone_from(old);
                        }
                    }
                }
            }
        }
    }

    pub(super) async fn create_custom_action_type(
        &self,
        input: CreateCustomActionTypeInput,
    ) -> ApiResult<CreateCustomActionTypeOutput> {
        let id = ActionTypeId {
            category: input.category,
            owner: Owner::Custom.as_str().to_owned(),
            provider: input.provider,
            version: input.version,
        };
        let created = self
            .runtime
            .create_custom_action_type(CustomActionType {
                id: id.clone(),
                settings: input.settings,
                configuration_properties: input.configuration_properties.unwrap_or_default(),
                input_artifact_details: input.input_artifact_details,
                output_artifact_details: input.output_artifact_details,
                deleted: false,
                created_ms: 0,
            })
            .await?;
        if let Some(tags) = &input.tags {
            self.runtime
                .put_resource_tags(&action_type_resource(&id), tags.clone())
                .await?;
        }
        Ok(CreateCustomActionTypeOutput {
            action_type: (&created).into(),
            tags: input.tags,
        })
    }

    pub(super) async fn delete_custom_action_type(
        &self,
        input: DeleteCustomActionTypeInput,
    ) -> ApiResult<Empty> {
        let id = ActionTypeId {
            category: input.category,
            owner: Owner::Custom.as_str().to_owned(),
            provider: input.provider,
            version: input.version,
        };
        self.runtime.delete_custom_action_type(&id).await?;
        Ok(Empty {})
    }

    pub(super) async fn list_action_types(
        &self,
        input: ListActionTypesInput,
    ) -> ApiResult<ListActionTypesOutput> {
        if input.next_token.is_some() {
            return Err(ApiError::new(
                "InvalidNextTokenException",
                "the next token does not come from a ListActionTypes response (every type fits one page)",
            ));
        }
        let owner = input.action_owner_filter.as_deref();
        let mut action_types = built_in_types(owner);
        if owner.is_none_or(|o| o == "Custom") {
            action_types.extend(
                self.runtime
                    .custom_action_types()
                    .await?
                    .iter()
                    .map(ActionTypeOut::from),
            );
        }
        Ok(ListActionTypesOutput {
            action_types,
            next_token: None,
        })
    }

    pub(super) async fn poll_for_jobs(
        &self,
        input: PollForJobsInput,
    ) -> ApiResult<PollForJobsOutput> {
        let jobs = self
            .runtime
            .poll_jobs(
                &input.action_type_id,
                input.max_batch_size.unwrap_or(1),
                &input.query_param.unwrap_or_default(),
            )
            .await?;
        Ok(PollForJobsOutput {
            jobs: jobs.iter().map(|j| self.job_out(j, true)).collect(),
        })
    }

    pub(super) async fn acknowledge_job(
        &self,
        input: AcknowledgeJobInput,
    ) -> ApiResult<AcknowledgeJobOutput> {
        let status = self
            .runtime
            .acknowledge_job(&input.job_id, &input.nonce)
            .await?;
        Ok(AcknowledgeJobOutput { status })
    }

    pub(super) async fn get_job_details(
        &self,
        input: GetJobDetailsInput,
    ) -> ApiResult<GetJobDetailsOutput> {
        let job = self.runtime.worker_job(&input.job_id).await?;
        Ok(GetJobDetailsOutput {
            job_details: self.job_out(&job, false),
        })
    }

    pub(super) async fn put_job_success(&self, input: PutJobSuccessInput) -> ApiResult<Empty> {
        let details = input.execution_details;
        let summary = details.as_ref().and_then(|d| {
            match (d.summary.clone(), d.external_execution_id.clone()) {
                (Some(s), Some(x)) => Some(format!("{s} ({x})")),
                (s, x) => s.or(x),
            }
        });
        self.runtime
            .put_job_success(
                &input.job_id,
                JobSuccess {
                    revision: input.current_revision.map(|r| SourceRevision {
                        revision_id: r.revision,
                        revision_summary: r.revision_summary,
                        revision_url: None,
                    }),
                    continuation_token: input.continuation_token,
                    summary,
                    output_variables: input.output_variables.unwrap_or_default(),
                },
            )
            .await?;
        Ok(Empty {})
    }

    pub(super) async fn put_job_failure(&self, input: PutJobFailureInput) -> ApiResult<Empty> {
        let d = input.failure_details;
        let message = match d.external_execution_id {
            Some(x) => format!("{} (external execution {x})", d.message),
            None => d.message,
        };
        self.runtime
            .put_job_failure(&input.job_id, &d.kind, &message)
            .await?;
        Ok(Empty {})
    }

    /// What an ARN names: a pipeline or a custom action type of this account and region.
    async fn resource(&self, arn: &str) -> ApiResult<Resource> {
        let origin = &self.runtime.config.origin;
        let prefix = format!("arn:aws:codepipeline:{}:{}:", origin.region, origin.account);
        let invalid = || {
            ApiError::new(
                "InvalidArnException",
                format!("{arn:?} is not the ARN of a pipeline or custom action type of account {} in region {} (expected {prefix}NAME or {prefix}actiontype:Custom/CATEGORY/PROVIDER/VERSION)", origin.account, origin.region),
            )
        };
        let rest = arn.strip_prefix(&prefix).ok_or_else(invalid)?;
        if let Some(t) = rest.strip_prefix("actiontype:") {
            let parts: Vec<&str> = t.split('/').collect();
            let [owner, category, provider, version] = parts[..] else {
                return Err(invalid());
            };
            let id = ActionTypeId {
                category: category.to_owned(),
                owner: owner.to_owned(),
                provider: provider.to_owned(),
                version: version.to_owned(),
            };
            if self.runtime.custom_action_type(&id).await?.is_none() {
                return Err(ApiError::new(
                    "ResourceNotFoundException",
                    format!("action type {id} does not exist"),
                ));
            }
            return Ok(Resource::ActionType(id));
        }
        if rest.is_empty() || rest.contains(':') || rest.contains('/') {
            return Err(invalid());
        }
        if self.runtime.pipeline_head(rest).await?.is_none() {
            return Err(ApiError::new(
                "ResourceNotFoundException",
                format!("The resource with the ARN {arn} cannot be found"),
            ));
        }
        Ok(Resource::Pipeline(rest.to_owned()))
    }

    async fn tags_of(&self, resource: &Resource) -> ApiResult<Vec<Tag>> {
        Ok(match resource {
            Resource::Pipeline(name) => self.runtime.pipeline_tags(name).await?,
            Resource::ActionType(id) => {
                self.runtime
                    .resource_tags(&action_type_resource(id))
                    .await?
            }
        })
    }

    async fn set_tags(&self, resource: &Resource, tags: Vec<Tag>) -> ApiResult<()> {
        let key = match resource {
            Resource::Pipeline(name) => crate::runtime::records::keys::pipeline(name),
            Resource::ActionType(id) => action_type_resource(id),
        };
        self.runtime.put_resource_tags(&key, tags).await?;
        Ok(())
    }

    pub(super) async fn tag_resource(&self, input: TagResourceInput) -> ApiResult<Empty> {
        let resource = self.resource(&input.resource_arn).await?;
        for t in &input.tags {
            if t.key.starts_with("aws:") {
                return Err(ApiError::new(
                    "InvalidTagsException",
                    format!("tag key {:?}: the aws: prefix is reserved", t.key),
                ));
            }
        }
        let mut tags = self.tags_of(&resource).await?;
        for t in input.tags {
            match tags.iter_mut().find(|x| x.key == t.key) {
                Some(existing) => existing.value = t.value,
                None => tags.push(t),
            }
        }
        if tags.len() > 50 {
            return Err(ApiError::new(
                "TooManyTagsException",
                format!(
                    "a resource may have at most 50 tags; this would give it {}",
                    tags.len()
                ),
            ));
        }
        self.set_tags(&resource, tags).await?;
        Ok(Empty {})
    }

    pub(super) async fn untag_resource(&self, input: UntagResourceInput) -> ApiResult<Empty> {
        let resource = self.resource(&input.resource_arn).await?;
        let mut tags = self.tags_of(&resource).await?;
        tags.retain(|t| !input.tag_keys.contains(&t.key));
        self.set_tags(&resource, tags).await?;
        Ok(Empty {})
    }

    pub(super) async fn list_tags(&self, input: ListTagsInput) -> ApiResult<ListTagsOutput> {
        let resource = self.resource(&input.resource_arn).await?;
        let tags = self.tags_of(&resource).await?;
        let start = match &input.next_token {
            None => 0,
            Some(t) => super::decode_token("tags", t)?
                .parse::<usize>()
                .map_err(|_| {
                    ApiError::new("InvalidNextTokenException", "the next token is not valid")
                })?,
        };
        let max = input.max_results.unwrap_or(50);
        let page: Vec<Tag> = tags.iter().skip(start).take(max).cloned().collect();
        let next_token = (start + page.len() < tags.len())
            .then(|| super::encode_token("tags", &(start + page.len()).to_string()));
        Ok(ListTagsOutput {
            tags: page,
            next_token,
        })
    }
}

/// The store partition holding a custom action type's tags.
fn action_type_resource(id: &ActionTypeId) -> String {
    format!(
        "ACTION_TYPE#{}#{}#{}#{}",
        id.owner, id.category, id.provider, id.version
    )
}
