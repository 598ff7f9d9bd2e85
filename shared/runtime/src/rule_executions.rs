//! The records stage conditions leave, and reading them: one [`ConditionsRecord`] per evaluation of a stage's
//! conditions of one kind (beforeEntry, onSuccess, onFailure) in a stage attempt, holding the gate's (or the
//! failed-stage task's) token while rules run or wait, and one [`RuleExecutionRecord`] per rule evaluated (ListRuleExecutions,
//! GetPipelineState's condition states).
//!
//! | pk | sk | item |
//! |---|---|---|
//! | `EXECUTION#<id>` | `CONDITIONS#<stage>#<kind>#<attempt:04>` | [`ConditionsRecord`] |
//! | `EXECUTION#<id>` | `RULE#<stage>#<kind>#<attempt:04>#<condition:02>#<rule>` | [`RuleExecutionRecord`] |

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::ports::Order;
use crate::records::{keys, ArtifactDetail, ExternalExecution};
use crate::runtime::{Runtime, Versioned};
use sluice_definition::model::{ConditionResult, RuleTypeId};

/// Where a stage's conditions are evaluated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ConditionKind {
    /// Before the stage is entered.
    BeforeEntry,
    /// When its actions succeeded, before it is left.
    OnSuccess,
    /// When it failed: the result (ROLLBACK, RETRY) applies only if every rule passes.
    OnFailure,
}

impl ConditionKind {
    /// As the API names it (OverrideStageCondition's conditionType).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BeforeEntry => "BEFORE_ENTRY",
            Self::OnSuccess => "ON_SUCCESS",
            Self::OnFailure => "ON_FAILURE",
        }
    }

    /// As the definition names it.
    pub fn field(self) -> &'static str {
        match self {
            Self::BeforeEntry => "beforeEntry",
            Self::OnSuccess => "onSuccess",
            Self::OnFailure => "onFailure",
        }
    }
}

impl fmt::Display for ConditionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// CodePipeline's condition execution statuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ConditionStatus {
    /// Rules are running or waiting.
    InProgress,
    /// Every rule passed.
    Succeeded,
    /// A rule did not pass: the condition's result was applied.
    Failed,
    /// The execution ended (stopped, superseded) while rules ran.
    Abandoned,
    /// Somebody overrode it (OverrideStageCondition): the gate went on.
    Overridden,
}

impl ConditionStatus {
    /// Whether it is decided.
    pub fn is_final(self) -> bool {
        self != Self::InProgress
    }
}

/// CodePipeline's rule execution statuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RuleStatus {
    /// Running or waiting.
    InProgress,
    /// Passed.
    Succeeded,
    /// Did not pass.
    Failed,
    /// Given up: another rule decided the condition, or it was overridden.
    Abandoned,
}

/// One evaluation of a stage's conditions of one kind, in one stage attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConditionsRecord {
    /// The pipeline.
    pub pipeline: String,
    /// The execution.
    pub execution_id: String,
    /// The pipeline version it runs.
    pub version: u64,
    /// The stage.
    pub stage: String,
    /// beforeEntry, onSuccess or onFailure.
    pub kind: ConditionKind,
    /// The stage attempt.
    pub attempt: u32,
    /// Where it stands.
    pub status: ConditionStatus,
    /// The gate task's token, completed when the conditions are decided.
    pub token: String,
    /// The result applied when a condition failed (FAIL, SKIP, ROLLBACK).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<ConditionResult>,
    /// Why, for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// When it started.
    pub started_ms: i64,
    /// When it last changed.
    pub updated_ms: i64,
    /// Who overrode it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overridden_by: Option<String>,
}

/// One rule's evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RuleExecutionRecord {
    /// The pipeline.
    pub pipeline: String,
    /// The execution.
    pub execution_id: String,
    /// The pipeline version it runs.
    pub version: u64,
    /// The stage.
    pub stage: String,
    /// beforeEntry, onSuccess or onFailure.
    pub kind: ConditionKind,
    /// The stage attempt.
    pub attempt: u32,
    /// The condition's index in its list.
    pub condition: usize,
    /// The rule's name.
    pub rule: String,
    /// How many jobs it has run (a Commands build, each look of a waiting deployment window).
    pub check: u32,
    /// Where it stands.
    pub status: RuleStatus,
    /// Its provider.
    pub rule_type: RuleTypeId,
    /// Its configuration as declared.
    pub configuration: BTreeMap<String, String>,
    /// Its configuration with references resolved.
    pub resolved_configuration: BTreeMap<String, String>,
    /// The role it runs as.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
    /// The region it runs in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// What it reads.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub input_artifacts: Vec<ArtifactDetail>,
    /// When it started.
    pub started_ms: i64,
    /// When it last changed.
    pub updated_ms: i64,
    /// A summary for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// Why it did not pass.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// What runs it outside Sluice (a build, an alarm, a function).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external: Option<ExternalExecution>,
    /// Who last changed it (an override's caller).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_by: Option<String>,
}

/// The prefix of rule jobs' ids: `rule:<execution>/<stage>/<kind>/<attempt>/<condition>/<rule>/<check>`.
pub const RULE_JOB_PREFIX: &str = "rule:";

impl RuleExecutionRecord {
    /// Its id (ListRuleExecutions' ruleExecutionId).
    pub fn id(&self) -> String {
        format!(
            "{}/{}/{}/{}/{}/{}",
            self.execution_id, self.stage, self.kind, self.attempt, self.condition, self.rule
        )
    }

    /// The id of the job of its current check.
    pub fn job_id(&self) -> String {
        format!("{RULE_JOB_PREFIX}{}/{}", self.id(), self.check)
    }
}

/// What a rule job's id names: (execution, stage, kind, attempt, condition, rule, check).
pub fn parse_rule_job(
    id: &str,
) -> Option<(String, String, ConditionKind, u32, usize, String, u32)> {
    let rest = id.strip_prefix(RULE_JOB_PREFIX)?;
    let parts: Vec<&str> = rest.split('/').collect();
    let [execution, stage, kind, attempt, condition, rule, check] = parts.as_slice() else {
        return None;
    };
    let kind = match *kind {
        "BEFORE_ENTRY" => ConditionKind::BeforeEntry,
        "ON_SUCCESS" => ConditionKind::OnSuccess,
        "ON_FAILURE" => ConditionKind::OnFailure,
        _ => return None,
    };
    Some((
        (*execution).to_owned(),
        (*stage).to_owned(),
        kind,
        attempt.parse().ok()?,
        condition.parse().ok()?,
        (*rule).to_owned(),
        check.parse().ok()?,
    ))
}

/// Key builders of the condition records.
pub mod rule_keys {
    use super::ConditionKind;

    /// The prefix of every rule execution of an execution.
    pub const RULES: &str = "RULE#";

    /// A conditions evaluation's sort key.
    pub fn conditions(stage: &str, kind: ConditionKind, attempt: u32) -> String {
        format!("CONDITIONS#{stage}#{kind}#{attempt:04}")
    }

    /// The prefix of a stage's conditions evaluations of a kind.
    pub fn conditions_prefix(stage: &str, kind: ConditionKind) -> String {
        format!("CONDITIONS#{stage}#{kind}#")
    }

    /// A rule execution's sort key.
    pub fn rule(
        stage: &str,
        kind: ConditionKind,
        attempt: u32,
        condition: usize,
        rule: &str,
    ) -> String {
        format!("RULE#{stage}#{kind}#{attempt:04}#{condition:02}#{rule}")
    }

    /// The prefix of the rule executions of one conditions evaluation.
    pub fn rules_of(stage: &str, kind: ConditionKind, attempt: u32) -> String {
        format!("RULE#{stage}#{kind}#{attempt:04}#")
    }
}

impl Runtime {
    /// Every rule execution of an execution, by stage, kind, attempt, condition and rule.
    pub async fn rule_executions(&self, execution_id: &str) -> Result<Vec<RuleExecutionRecord>> {
        Ok(self
            .query::<RuleExecutionRecord>(
                &keys::execution(execution_id),
                rule_keys::RULES,
                Order::Ascending,
            )
            .await?
            .into_iter()
            .map(|v| v.value)
            .collect())
    }

    /// The newest conditions evaluation of a stage's conditions of `kind` in an execution.
    pub async fn latest_conditions(
        &self,
        execution_id: &str,
        stage: &str,
        kind: ConditionKind,
    ) -> Result<Option<ConditionsRecord>> {
        Ok(self
            .latest_conditions_versioned(execution_id, stage, kind)
            .await?
            .map(|v| v.value))
    }

    pub(crate) async fn latest_conditions_versioned(
        &self,
        execution_id: &str,
        stage: &str,
        kind: ConditionKind,
    ) -> Result<Option<Versioned<ConditionsRecord>>> {
        Ok(self
            .query::<ConditionsRecord>(
                &keys::execution(execution_id),
                &rule_keys::conditions_prefix(stage, kind),
                Order::Descending,
            )
            .await?
            .into_iter()
            .next())
    }

    /// The rule executions of one conditions evaluation.
    pub(crate) async fn rules_of(
        &self,
        execution_id: &str,
        stage: &str,
        kind: ConditionKind,
        attempt: u32,
    ) -> Result<Vec<Versioned<RuleExecutionRecord>>> {
        self.query(
            &keys::execution(execution_id),
            &rule_keys::rules_of(stage, kind, attempt),
            Order::Ascending,
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_job_ids_read_back() {
        let id = "rule:e-1/Deploy/ON_SUCCESS/2/0/Alarm-check.v2/3";
        let parsed = parse_rule_job(id).expect("a rule job");
        assert_eq!(
            parsed,
            (
                "e-1".into(),
                "Deploy".into(),
                ConditionKind::OnSuccess,
                2,
                0,
                "Alarm-check.v2".into(),
                3
            )
        );
        assert_eq!(parse_rule_job("e-1/Deploy/Build/1/1"), None);
    }
}
