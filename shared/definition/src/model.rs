//! The pipeline definition types, field for field as CodePipeline's `PipelineDeclaration`.
//!
//! Field order follows CodePipeline's service model so that writing a definition back out prints it the way
//! `aws codepipeline get-pipeline` does. Optional fields stay absent when absent: a definition read and written
//! again is the same JSON.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// A whole pipeline: CodePipeline's `PipelineDeclaration`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Pipeline {
    /// The pipeline's name, unique in its account and region.
    pub name: String,
    /// The IAM role the service assumes (required by CodePipeline's API; optional for local runs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
    /// Where artifacts are kept, for a single-region pipeline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_store: Option<ArtifactStore>,
    /// Where artifacts are kept, per region, for a cross-region pipeline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_stores: Option<BTreeMap<String, ArtifactStore>>,
    /// The stages, run in order.
    pub stages: Vec<Stage>,
    /// The pipeline's version number, raised on every update.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
    /// How executions share the pipeline (V2 pipelines only for QUEUED and PARALLEL).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution_mode: Option<ExecutionMode>,
    /// V1 or V2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pipeline_type: Option<PipelineType>,
    /// Pipeline-level variables, set at execution start (V2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variables: Option<Vec<VariableDeclaration>>,
    /// Git triggers with push and pull-request filters (V2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub triggers: Option<Vec<Trigger>>,
}

impl Pipeline {
    /// The execution mode in force (CodePipeline's default is SUPERSEDED).
    pub fn mode(&self) -> ExecutionMode {
        self.execution_mode.unwrap_or(ExecutionMode::Superseded)
    }

    /// The pipeline type in force (CodePipeline's default is V1).
    pub fn kind(&self) -> PipelineType {
        self.pipeline_type.unwrap_or(PipelineType::V1)
    }

    /// Every action with its stage index and action index, in definition order.
    pub fn actions(&self) -> impl Iterator<Item = (usize, usize, &Stage, &Action)> {
        self.stages.iter().enumerate().flat_map(|(si, stage)| {
            stage
                .actions
                .iter()
                .enumerate()
                .map(move |(ai, action)| (si, ai, stage, action))
        })
    }
}

/// An S3 artifact store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ArtifactStore {
    /// Always `S3`.
    #[serde(rename = "type")]
    pub store_type: String,
    /// The bucket name.
    pub location: String,
    /// The KMS key that encrypts artifacts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption_key: Option<EncryptionKey>,
}

/// A KMS key reference.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EncryptionKey {
    /// Key id, ARN or alias.
    pub id: String,
    /// Always `KMS`.
    #[serde(rename = "type")]
    pub key_type: String,
}

/// How executions of one pipeline share its stages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ExecutionMode {
    /// A newer execution waiting to enter a stage replaces an older waiting one.
    Superseded,
    /// Executions wait in line, one per stage at a time.
    Queued,
    /// Executions run independently of each other.
    Parallel,
}

impl fmt::Display for ExecutionMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Superseded => "SUPERSEDED",
            Self::Queued => "QUEUED",
            Self::Parallel => "PARALLEL",
        })
    }
}

/// CodePipeline's pipeline types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PipelineType {
    /// The original pipeline type.
    V1,
    /// Pipelines with triggers, variables, conditions and the QUEUED and PARALLEL modes.
    V2,
}

/// A pipeline-level variable.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VariableDeclaration {
    /// Referenced as `#{variables.NAME}`.
    pub name: String,
    /// Used when an execution does not set it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_value: Option<String>,
    /// For people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// A trigger that starts executions from git events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Trigger {
    /// CodePipeline knows `CodeStarSourceConnection`.
    pub provider_type: String,
    /// Which source action it starts, and on which events.
    pub git_configuration: GitConfiguration,
}

/// The events a trigger listens to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GitConfiguration {
    /// The source action whose repository the trigger watches.
    pub source_action_name: String,
    /// Push filters; any one matching starts an execution.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub push: Option<Vec<GitPushFilter>>,
    /// Pull-request filters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull_request: Option<Vec<GitPullRequestFilter>>,
}

/// A push filter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GitPushFilter {
    /// Tag name globs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<FilterCriteria>,
    /// Branch name globs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branches: Option<FilterCriteria>,
    /// Changed file path globs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_paths: Option<FilterCriteria>,
}

/// A pull-request filter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GitPullRequestFilter {
    /// OPEN, UPDATED, CLOSED.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events: Option<Vec<String>>,
    /// Branch name globs (of the destination branch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branches: Option<FilterCriteria>,
    /// Changed file path globs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_paths: Option<FilterCriteria>,
}

/// Glob lists to include and exclude.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FilterCriteria {
    /// Globs that select.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub includes: Option<Vec<String>>,
    /// Globs that reject, winning over includes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub excludes: Option<Vec<String>>,
}

/// A stage: actions grouped by runOrder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Stage {
    /// Unique in the pipeline.
    pub name: String,
    /// Reserved by CodePipeline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blockers: Option<Vec<Blocker>>,
    /// The stage's actions.
    pub actions: Vec<Action>,
    /// What to do when the stage fails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_failure: Option<FailureConditions>,
    /// Checks run when the stage succeeds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_success: Option<Conditions>,
    /// Checks run before the stage is entered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before_entry: Option<Conditions>,
}

impl Stage {
    /// The distinct runOrder values of this stage's actions, ascending.
    pub fn run_orders(&self) -> Vec<u32> {
        let mut orders: Vec<u32> = self.actions.iter().map(Action::run_order).collect();
        orders.sort_unstable();
        orders.dedup();
        orders
    }
}

/// Reserved by CodePipeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Blocker {
    /// The blocker's name.
    pub name: String,
    /// Always `Schedule`.
    #[serde(rename = "type")]
    pub blocker_type: String,
}

/// A stage's onFailure: a result, or conditions deciding one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FailureConditions {
    /// ROLLBACK, FAIL or RETRY.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<ConditionResult>,
    /// How a RETRY retries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_configuration: Option<RetryConfiguration>,
    /// Conditions whose result applies when their rules fail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditions: Option<Vec<Condition>>,
}

/// onSuccess and beforeEntry: conditions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Conditions {
    /// Exactly one condition, as CodePipeline allows today.
    pub conditions: Vec<Condition>,
}

/// How an automatic stage retry retries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RetryConfiguration {
    /// FAILED_ACTIONS or ALL_ACTIONS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_mode: Option<RetryMode>,
}

/// Which actions a stage retry runs again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RetryMode {
    /// Only the actions that failed.
    FailedActions,
    /// Every action of the stage.
    AllActions,
}

/// A condition: rules, and what happens when they do not pass.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Condition {
    /// The result when a rule does not pass.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<ConditionResult>,
    /// Up to five rules.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rules: Option<Vec<Rule>>,
}

/// The outcome a condition or failure setting calls for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ConditionResult {
    /// Roll the stage back to the last successful execution's revisions.
    Rollback,
    /// Fail the stage.
    Fail,
    /// Retry the stage.
    Retry,
    /// Skip the stage.
    Skip,
}

impl fmt::Display for ConditionResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Rollback => "ROLLBACK",
            Self::Fail => "FAIL",
            Self::Retry => "RETRY",
            Self::Skip => "SKIP",
        })
    }
}

/// A rule of a condition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Rule {
    /// Unique in its condition.
    pub name: String,
    /// Which rule provider checks it.
    pub rule_type_id: RuleTypeId,
    /// The rule's settings.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "config::optional"
    )]
    pub configuration: Option<BTreeMap<String, String>>,
    /// Commands, for the Commands rule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commands: Option<Vec<String>>,
    /// Artifacts the rule reads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_artifacts: Option<Vec<ArtifactRef>>,
    /// The role the rule runs with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
    /// The region the rule runs in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// How long the rule may take.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_in_minutes: Option<u32>,
}

/// A rule provider.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RuleTypeId {
    /// Always `Rule`.
    pub category: String,
    /// Always `AWS`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// LambdaInvoke, VariableCheck, CloudWatchAlarm, DeploymentWindow, Commands.
    pub provider: String,
    /// Usually `1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// An action: one step of a stage, run by a provider.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Action {
    /// Unique in its stage.
    pub name: String,
    /// Which provider runs it.
    pub action_type_id: ActionTypeId,
    /// Actions of a stage run in runOrder groups; equal runOrders run in parallel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_order: Option<u32>,
    /// The provider's settings, keyed as CodePipeline spells them.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "config::optional"
    )]
    pub configuration: Option<BTreeMap<String, String>>,
    /// Shell commands, for the Commands action.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commands: Option<Vec<String>>,
    /// Artifacts the action produces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_artifacts: Option<Vec<OutputArtifact>>,
    /// Artifacts the action reads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_artifacts: Option<Vec<ArtifactRef>>,
    /// Variables the Commands action exports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_variables: Option<Vec<String>>,
    /// The role the action runs with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
    /// The region the action runs in (cross-region actions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// The name under which the action's output variables are referenced: `#{NAMESPACE.VAR}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// How long the action may run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_in_minutes: Option<u32>,
    /// Environment for the Commands action.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment_variables: Option<Vec<EnvironmentVariable>>,
}

impl Action {
    /// The runOrder in force (CodePipeline's default is 1).
    pub fn run_order(&self) -> u32 {
        self.run_order.unwrap_or(1)
    }

    /// Input artifact names, in order.
    pub fn inputs(&self) -> impl Iterator<Item = &str> {
        self.input_artifacts
            .iter()
            .flatten()
            .map(|a| a.name.as_str())
    }

    /// Output artifact names, in order.
    pub fn outputs(&self) -> impl Iterator<Item = &str> {
        self.output_artifacts
            .iter()
            .flatten()
            .map(|a| a.name.as_str())
    }

    /// A configuration value.
    pub fn config(&self, key: &str) -> Option<&str> {
        self.configuration
            .as_ref()
            .and_then(|c| c.get(key))
            .map(String::as_str)
    }
}

/// Which provider runs an action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ActionTypeId {
    /// Source, Build, Test, Deploy, Approval, Invoke or Compute.
    pub category: String,
    /// AWS, ThirdParty or Custom.
    pub owner: String,
    /// The provider's name, e.g. `CodeBuild`.
    pub provider: String,
    /// The provider's version, e.g. `1`.
    pub version: String,
}

impl fmt::Display for ActionTypeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{}/{}/{}",
            self.category, self.owner, self.provider, self.version
        )
    }
}

/// An artifact an action produces.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OutputArtifact {
    /// Unique in the pipeline.
    pub name: String,
    /// Globs of the files the Commands action puts in the artifact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub files: Option<Vec<String>>,
}

/// A reference to an artifact by name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ArtifactRef {
    /// The artifact's name.
    pub name: String,
}

/// An environment variable of the Commands action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EnvironmentVariable {
    /// The variable's name.
    pub name: String,
    /// Its value, or the secret's id for SECRETS_MANAGER.
    pub value: String,
    /// PLAINTEXT (default) or SECRETS_MANAGER.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub var_type: Option<String>,
}

/// Configuration maps: CodePipeline's values are strings; YAML authors write `false` and `3` unquoted, which
/// are read as the strings CodePipeline would have been sent.
mod config {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Deserializer};
    use serde_json::Value;

    pub fn optional<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<BTreeMap<String, String>>, D::Error> {
        let raw: Option<BTreeMap<String, Value>> = Option::deserialize(d)?;
        raw.map(|m| {
            m.into_iter()
                .map(|(k, v)| match v {
                    Value::String(s) => Ok((k, s)),
                    Value::Bool(b) => Ok((k, b.to_string())),
                    Value::Number(n) => Ok((k, n.to_string())),
                    other => Err(serde::de::Error::custom(format!(
                        "configuration value of {k} must be a string, not {other}"
                    ))),
                })
                .collect()
        })
        .transpose()
    }
}
