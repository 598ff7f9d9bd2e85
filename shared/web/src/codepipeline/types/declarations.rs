//! Requests and responses of GetActionType and UpdateActionType: the `ActionTypeDeclaration` shape.

use serde::{Deserialize, Serialize};

use sluice_runtime::workers::ArtifactCount;

/// GetActionType's input.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GetActionTypeInput {
    pub category: String,
    pub owner: String,
    pub provider: String,
    pub version: String,
}

/// GetActionType's output.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GetActionTypeOutput {
    pub action_type: ActionTypeDeclaration,
}

/// UpdateActionType's input.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateActionTypeInput {
    pub action_type: ActionTypeDeclaration,
}

/// An action type as GetActionType shows it and UpdateActionType takes it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ActionTypeDeclaration {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub executor: Executor,
    pub id: DeclaredTypeId,
    pub input_artifact_details: ArtifactCount,
    pub output_artifact_details: ArtifactCount,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub permissions: Option<Permissions>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub properties: Option<Vec<ActionTypeProperty>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub urls: Option<ActionTypeUrls>,
}

/// An action type's identifier in a declaration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeclaredTypeId {
    pub category: String,
    pub owner: String,
    pub provider: String,
    pub version: String,
}

/// Who runs an action type's jobs.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Executor {
    pub configuration: ExecutorConfiguration,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy_statements_template: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job_timeout: Option<u32>,
}

/// The executor's settings: a Lambda function, or the workers that poll.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExecutorConfiguration {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lambda_executor_configuration: Option<LambdaExecutorConfiguration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job_worker_executor_configuration: Option<JobWorkerExecutorConfiguration>,
}

/// A Lambda executor.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LambdaExecutorConfiguration {
    pub lambda_function_arn: String,
}

/// A job-worker executor.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct JobWorkerExecutorConfiguration {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub polling_accounts: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub polling_service_principals: Option<Vec<String>>,
}

/// Who may use an action type.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Permissions {
    pub allowed_accounts: Vec<String>,
}

/// One configuration property of an action type.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ActionTypeProperty {
    pub name: String,
    pub optional: bool,
    pub key: bool,
    pub no_echo: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queryable: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// An action type's links.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ActionTypeUrls {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub configuration_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entity_url_template: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub execution_url_template: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revision_url_template: Option<String>,
}
