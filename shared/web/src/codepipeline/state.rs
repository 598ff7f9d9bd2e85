//! GetPipelineState: each stage's latest execution, its actions' latest runs and the transitions.

use sluice_runtime::records::SourceRevision;
use sluice_runtime::records::{ActionRecord, ActionStatus, ApprovalStatus, StageRecord};
use sluice_runtime::rule_executions::ConditionKind;
use std::collections::HashMap;

use crate::codepipeline::context::*;
use crate::codepipeline::errors::*;
use crate::codepipeline::rollbacks::execution_type;
use crate::codepipeline::types::state::*;

impl Api<'_> {
    pub(crate) async fn get_state(
        &self,
        input: GetPipelineStateInput,
    ) -> ApiResult<GetPipelineStateOutput> {
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
        let mut conditions = self
            .condition_states(&record.definition, &executions)
            .await?;
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
                        summary: a
                            .summary
                            .clone()
                            .or_else(|| a.external.as_ref().and_then(|e| e.summary.clone())),
                        last_status_change: seconds(a.updated_ms),
                        token,
                        external_execution_id: a
                            .external
                            .as_ref()
                            .map_or_else(|| a.job_id(), |e| e.id.clone()),
                        external_execution_url: a.external.as_ref().and_then(|e| e.url.clone()),
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
                    last_changed_by: transition.and_then(|t| t.by.clone()),
                },
                action_states,
                latest_execution: stages.get(&stage.name).map(|s| StageExecution {
                    pipeline_execution_id: s.execution_id.clone(),
                    status: s.status,
                    kind: executions
                        .iter()
                        .find(|e| e.execution_id == s.execution_id)
                        .map_or("STANDARD", execution_type),
                }),
                before_entry_condition_state: conditions
                    .remove(&(stage.name.clone(), ConditionKind::BeforeEntry)),
                on_success_condition_state: conditions
                    .remove(&(stage.name.clone(), ConditionKind::OnSuccess)),
                on_failure_condition_state: conditions
                    .remove(&(stage.name.clone(), ConditionKind::OnFailure)),
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
}
