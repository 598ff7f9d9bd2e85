//! Stage conditions over the API: ListRuleTypes (the five rule providers), ListRuleExecutions (every rule
//! evaluation of a pipeline's executions, newest execution first, filtered and paged), OverrideStageCondition
//! (a waiting beforeEntry or onSuccess condition let through), and the condition states GetPipelineState
//! shows for each stage.

use std::collections::HashMap;

use sluice_definition::model::{Pipeline, RuleTypeId};
use sluice_runtime::condition_overrides::OverrideError;
use sluice_runtime::conditions::RULE_PROVIDERS;
use sluice_runtime::records::{keys, ExecutionRecord};
use sluice_runtime::rule_executions::{
    ConditionKind, ConditionsRecord, RuleExecutionRecord, RuleStatus,
};

use crate::codepipeline::context::*;
use crate::codepipeline::errors::*;
use crate::codepipeline::request::{decode_token, encode_token};
use crate::codepipeline::types::executions::ErrorDetails;
use crate::codepipeline::types::rules::*;

fn rule_error(r: &RuleExecutionRecord) -> Option<ErrorDetails> {
    (r.status == RuleStatus::Failed).then(|| ErrorDetails {
        code: "RuleFailed".to_owned(),
        message: r
            .error
            .clone()
            .unwrap_or_else(|| "the rule failed".to_owned()),
    })
}

fn external_id(r: &RuleExecutionRecord) -> String {
    r.external.as_ref().map_or_else(|| r.id(), |e| e.id.clone())
}

fn summary(r: &RuleExecutionRecord) -> Option<String> {
    r.summary
        .clone()
        .or_else(|| r.external.as_ref().and_then(|e| e.summary.clone()))
}

/// A rule execution as ListRuleExecutions shows it.
fn detail(r: &RuleExecutionRecord) -> RuleExecutionDetail {
    RuleExecutionDetail {
        pipeline_execution_id: r.execution_id.clone(),
        rule_execution_id: r.id(),
        pipeline_version: r.version,
        stage_name: r.stage.clone(),
        rule_name: r.rule.clone(),
        start_time: seconds(r.started_ms),
        last_update_time: seconds(r.updated_ms),
        updated_by: r.updated_by.clone(),
        status: r.status,
        input: RuleExecutionInputOut {
            rule_type_id: r.rule_type.clone(),
            configuration: r.configuration.clone(),
            resolved_configuration: r.resolved_configuration.clone(),
            role_arn: r.role_arn.clone(),
            region: r.region.clone(),
            input_artifacts: r.input_artifacts.iter().map(artifact_out).collect(),
        },
        output: RuleExecutionOutputOut {
            execution_result: RuleExecutionResultOut {
                external_execution_id: external_id(r),
                external_execution_summary: summary(r).or_else(|| r.error.clone()),
                external_execution_url: r.external.as_ref().and_then(|e| e.url.clone()),
                error_details: rule_error(r),
            },
        },
    }
}

/// A stage's conditions of one kind as GetPipelineState shows them: the evaluation `record` and its rules.
pub(crate) fn condition_state(
    record: &ConditionsRecord,
    rules: &[RuleExecutionRecord],
) -> StageConditionStateOut {
    let mut by_condition: Vec<Vec<&RuleExecutionRecord>> = Vec::new();
    for r in rules
        .iter()
        .filter(|r| r.stage == record.stage && r.kind == record.kind && r.attempt == record.attempt)
    {
        if by_condition.len() <= r.condition {
            by_condition.resize_with(r.condition + 1, Vec::new);
        }
        by_condition[r.condition].push(r);
    }
    let condition_states = by_condition
        .into_iter()
        .map(|rules| ConditionStateOut {
            latest_execution: ConditionExecutionOut {
                status: record.status,
                summary: record.summary.clone(),
                last_status_change: seconds(record.updated_ms),
            },
            rule_states: rules
                .into_iter()
                .map(|r| RuleStateOut {
                    rule_name: r.rule.clone(),
                    latest_execution: RuleExecutionOut {
                        rule_execution_id: r.id(),
                        status: r.status,
                        summary: summary(r).or_else(|| r.error.clone()),
                        last_status_change: seconds(r.updated_ms),
                        last_updated_by: r.updated_by.clone(),
                        external_execution_id: external_id(r),
                        external_execution_url: r.external.as_ref().and_then(|e| e.url.clone()),
                        error_details: rule_error(r),
                    },
                })
                .collect(),
        })
        .collect();
    StageConditionStateOut {
        latest_execution: StageConditionsExecutionOut {
            status: record.status,
            summary: record.summary.clone(),
        },
        condition_states,
    }
}

fn condition_kind(text: &str) -> ApiResult<ConditionKind> {
    match text {
        "BEFORE_ENTRY" => Ok(ConditionKind::BeforeEntry),
        "ON_SUCCESS" => Ok(ConditionKind::OnSuccess),
        other => Err(ApiError::new(
            "ValidationException",
            format!("conditionType {other:?} is not BEFORE_ENTRY or ON_SUCCESS"),
        )),
    }
}

impl Api<'_> {
    pub(crate) async fn list_rule_types(
        &self,
        input: ListRuleTypesInput,
    ) -> ApiResult<ListRuleTypesOutput> {
        let region = &self.runtime.config.origin.region;
        let owner_ok = input
            .rule_owner_filter
            .as_deref()
            .is_none_or(|o| o == "AWS");
        let region_ok = input
            .region_filter
            .as_deref()
            .is_none_or(|r| r == region.as_str());
        if !owner_ok || !region_ok {
            return Ok(ListRuleTypesOutput {
                rule_types: Vec::new(),
            });
        }
        let rule_types = RULE_PROVIDERS
            .iter()
            .map(|p| RuleTypeOut {
                id: RuleTypeId {
                    category: "Rule".into(),
                    owner: Some("AWS".into()),
                    provider: p.provider.into(),
                    version: Some("1".into()),
                },
                rule_configuration_properties: p
                    .properties
                    .iter()
                    .map(|c| RuleConfigurationPropertyOut {
                        name: c.name.into(),
                        required: c.required,
                        key: c.key,
                        secret: false,
                        queryable: false,
                        description: c.description.into(),
                        kind: "String",
                    })
                    .collect(),
                input_artifact_details: ArtifactCounts {
                    minimum_count: 0,
                    maximum_count: p.max_inputs,
                },
            })
            .collect();
        Ok(ListRuleTypesOutput { rule_types })
    }

    pub(crate) async fn list_rule_executions(
        &self,
        input: ListRuleExecutionsInput,
    ) -> ApiResult<ListRuleExecutionsOutput> {
        let name = &input.pipeline_name;
        self.current(name).await?;
        let limit = input.max_results.unwrap_or(100);
        let (filter_id, latest_only) = match input.filter {
            Some(RuleExecutionFilter {
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
        // A token names the execution (by its listing key) and how many of its rule executions were shown.
        let (mut offset, resume) = match input.next_token {
            None => (0, None),
            Some(t) => {
                let text = decode_token("rules", &t)?;
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
        let mut details = Vec::new();
        let mut next = None;
        while let Some(e) = current.take() {
            let mut all = self.runtime.rule_executions(&e.execution_id).await?;
            if latest_only {
                // Only each rule's latest stage attempt.
                let mut newest: HashMap<(String, ConditionKind, usize, String), u32> =
                    HashMap::new();
                for r in &all {
                    let k = (r.stage.clone(), r.kind, r.condition, r.rule.clone());
                    let a = newest.entry(k).or_insert(r.attempt);
                    *a = (*a).max(r.attempt);
                }
                all.retain(|r| {
                    newest.get(&(r.stage.clone(), r.kind, r.condition, r.rule.clone()))
                        == Some(&r.attempt)
                });
            }
            all.sort_by_key(|r| std::cmp::Reverse((r.started_ms, r.attempt)));
            let room = limit - details.len();
            let rest: Vec<RuleExecutionDetail> = all.iter().skip(offset).map(detail).collect();
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
            }
        }
        Ok(ListRuleExecutionsOutput {
            rule_execution_details: details,
            next_token: next.map(|n| encode_token("rules", &n)),
        })
    }

    pub(crate) async fn override_stage_condition(
        &self,
        input: OverrideStageConditionInput,
    ) -> ApiResult<OverrideStageConditionOutput> {
        let name = &input.pipeline_name;
        let kind = condition_kind(&input.condition_type)?;
        let (_, record) = self.current(name).await?;
        if !record
            .definition
            .stages
            .iter()
            .any(|s| s.name == input.stage_name)
        {
            return Err(stage_not_found(name, &input.stage_name));
        }
        let execution = self
            .execution_of(name, &input.pipeline_execution_id)
            .await?;
        match self
            .runtime
            .override_condition(&execution, &input.stage_name, kind, self.caller)
            .await
        {
            Ok(()) => Ok(OverrideStageConditionOutput {}),
            Err(OverrideError::NotOverridable(m)) => {
                Err(ApiError::new("ConditionNotOverridableException", m))
            }
            Err(OverrideError::StageNotFound(m)) => Err(ApiError::new("StageNotFoundException", m)),
            Err(OverrideError::Runtime(e)) => Err(e.into()),
        }
    }

    /// GetPipelineState's beforeEntry, onSuccess and onFailure condition states of each stage of `definition`, from
    /// the newest evaluations in `executions` (newest first).
    pub(crate) async fn condition_states(
        &self,
        definition: &Pipeline,
        executions: &[ExecutionRecord],
    ) -> ApiResult<HashMap<(String, ConditionKind), StageConditionStateOut>> {
        let mut newest: HashMap<
            (String, ConditionKind),
            (ConditionsRecord, Vec<RuleExecutionRecord>),
        > = HashMap::new();
        for e in executions {
            let mut rules: Option<Vec<RuleExecutionRecord>> = None;
            for stage in &definition.stages {
                for kind in [
                    ConditionKind::BeforeEntry,
                    ConditionKind::OnSuccess,
                    ConditionKind::OnFailure,
                ] {
                    let Some(c) = self
                        .runtime
                        .latest_conditions(&e.execution_id, &stage.name, kind)
                        .await?
                    else {
                        continue;
                    };
                    let key = (stage.name.clone(), kind);
                    if newest.get(&key).is_some_and(|(o, _)| {
                        (o.started_ms, o.attempt) >= (c.started_ms, c.attempt)
                    }) {
                        continue;
                    }
                    if rules.is_none() {
                        rules = Some(self.runtime.rule_executions(&e.execution_id).await?);
                    }
                    newest.insert(key, (c, rules.clone().unwrap_or_default()));
                }
            }
        }
        Ok(newest
            .into_iter()
            .map(|(k, (c, rules))| (k, condition_state(&c, &rules)))
            .collect())
    }
}
