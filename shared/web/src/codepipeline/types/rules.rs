//! Requests and responses of the stage-condition operations (ListRuleTypes, ListRuleExecutions,
//! OverrideStageCondition) and GetPipelineState's condition states.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sluice_definition::model::RuleTypeId;
use sluice_runtime::rule_executions::{ConditionStatus, RuleStatus};

use crate::codepipeline::types::executions::{ArtifactDetailOut, ErrorDetails};

/// ListRuleTypes' input.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ListRuleTypesInput {
    /// Only rules of this owner (AWS).
    pub rule_owner_filter: Option<String>,
    /// Only rules available in this region.
    pub region_filter: Option<String>,
}

/// ListRuleTypes' output.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ListRuleTypesOutput {
    /// The rule types.
    pub rule_types: Vec<RuleTypeOut>,
}

/// A rule type.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RuleTypeOut {
    /// Its id.
    pub id: RuleTypeId,
    /// Its configuration properties.
    pub rule_configuration_properties: Vec<RuleConfigurationPropertyOut>,
    /// How many input artifacts it reads.
    pub input_artifact_details: ArtifactCounts,
}

/// A rule type's configuration property.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RuleConfigurationPropertyOut {
    /// Its name.
    pub name: String,
    /// Whether a rule must set it.
    pub required: bool,
    /// Whether it identifies the rule's resource.
    pub key: bool,
    /// Whether it is secret.
    pub secret: bool,
    /// Whether it can be queried.
    pub queryable: bool,
    /// What it means.
    pub description: String,
    /// String.
    #[serde(rename = "type")]
    pub kind: &'static str,
}

/// The least and most input artifacts.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ArtifactCounts {
    /// The least.
    pub minimum_count: u32,
    /// The most.
    pub maximum_count: u32,
}

/// ListRuleExecutions' input.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ListRuleExecutionsInput {
    /// The pipeline.
    pub pipeline_name: String,
    /// Which executions.
    pub filter: Option<RuleExecutionFilter>,
    /// At most this many.
    pub max_results: Option<usize>,
    /// Where the previous page ended.
    pub next_token: Option<String>,
}

/// Which rule executions to list.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RuleExecutionFilter {
    /// Only this execution's.
    pub pipeline_execution_id: Option<String>,
    /// Only this execution's, all or the latest of each rule.
    pub latest_in_pipeline_execution: Option<LatestInExecution>,
}

/// The latest rule executions of one execution.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LatestInExecution {
    /// The execution.
    pub pipeline_execution_id: String,
    /// Latest or All.
    pub start_time_range: String,
}

/// ListRuleExecutions' output.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ListRuleExecutionsOutput {
    /// The rule executions, newest execution first.
    pub rule_execution_details: Vec<RuleExecutionDetail>,
    /// The next page's token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

/// One rule execution.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RuleExecutionDetail {
    /// The pipeline execution.
    pub pipeline_execution_id: String,
    /// The rule execution's id.
    pub rule_execution_id: String,
    /// The pipeline version the execution ran.
    pub pipeline_version: u64,
    /// The stage.
    pub stage_name: String,
    /// The rule.
    pub rule_name: String,
    /// When it started.
    pub start_time: f64,
    /// When it last changed.
    pub last_update_time: f64,
    /// Who last changed it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_by: Option<String>,
    /// Its status.
    pub status: RuleStatus,
    /// What it ran with.
    pub input: RuleExecutionInputOut,
    /// How it ended.
    pub output: RuleExecutionOutputOut,
}

/// What a rule ran with.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RuleExecutionInputOut {
    /// Its provider.
    pub rule_type_id: RuleTypeId,
    /// Its configuration as declared.
    pub configuration: BTreeMap<String, String>,
    /// Its configuration with references resolved.
    pub resolved_configuration: BTreeMap<String, String>,
    /// The role it ran as.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
    /// The region it ran in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// What it read.
    pub input_artifacts: Vec<ArtifactDetailOut>,
}

/// How a rule ended.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RuleExecutionOutputOut {
    /// Its result.
    pub execution_result: RuleExecutionResultOut,
}

/// A rule's result.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RuleExecutionResultOut {
    /// What ran it.
    pub external_execution_id: String,
    /// A summary.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_execution_summary: Option<String>,
    /// A link to it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_execution_url: Option<String>,
    /// Why it did not pass.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_details: Option<ErrorDetails>,
}

/// OverrideStageCondition's input.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OverrideStageConditionInput {
    /// The pipeline.
    pub pipeline_name: String,
    /// The stage.
    pub stage_name: String,
    /// The execution.
    pub pipeline_execution_id: String,
    /// BEFORE_ENTRY or ON_SUCCESS.
    pub condition_type: String,
}

/// OverrideStageCondition's output: empty.
#[derive(Debug, Serialize)]
pub struct OverrideStageConditionOutput {}

/// A stage's conditions of one kind in GetPipelineState.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StageConditionStateOut {
    /// The latest evaluation.
    pub latest_execution: StageConditionsExecutionOut,
    /// Each condition.
    pub condition_states: Vec<ConditionStateOut>,
}

/// The latest evaluation of a stage's conditions.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StageConditionsExecutionOut {
    /// Its status.
    pub status: ConditionStatus,
    /// Why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
}

/// One condition's state.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConditionStateOut {
    /// Its latest evaluation.
    pub latest_execution: ConditionExecutionOut,
    /// Its rules.
    pub rule_states: Vec<RuleStateOut>,
}

/// A condition's latest evaluation.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConditionExecutionOut {
    /// Its status.
    pub status: ConditionStatus,
    /// Why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// When it last changed.
    pub last_status_change: f64,
}

/// A rule's state.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RuleStateOut {
    /// The rule.
    pub rule_name: String,
    /// Its latest execution.
    pub latest_execution: RuleExecutionOut,
}

/// A rule's latest execution.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RuleExecutionOut {
    /// Its id.
    pub rule_execution_id: String,
    /// Its status.
    pub status: RuleStatus,
    /// A summary.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// When its status last changed.
    pub last_status_change: f64,
    /// Who last changed it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_updated_by: Option<String>,
    /// What ran it.
    pub external_execution_id: String,
    /// A link to it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_execution_url: Option<String>,
    /// Why it did not pass.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_details: Option<ErrorDetails>,
}
