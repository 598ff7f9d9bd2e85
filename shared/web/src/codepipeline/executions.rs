//! StartPipelineExecution, StopPipelineExecution, GetPipelineExecution, ListPipelineExecutions and
//! ListActionExecutions.

use sluice_definition::Pipeline;
use sluice_runtime::records::{
    keys, ActionRecord, ExecutionRecord, ExecutionStatus, RevisionOverride, StageStatus,
};
use sluice_runtime::{RuntimeError, StartRequest};
use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap};

use crate::codepipeline::context::*;
use crate::codepipeline::errors::*;
use crate::codepipeline::request::*;
use crate::codepipeline::rollbacks::{execution_type, rollback_metadata};
use crate::codepipeline::types::executions::*;

impl Api<'_> {
    pub(crate) async fn start_execution(
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
                    // Who started it, as CodePipeline records the caller (the default "sluice" otherwise).
                    trigger: (self.caller != super::API_CALLER).then(|| {
                        sluice_runtime::records::TriggerInfo {
                            trigger_type: "StartPipelineExecution".into(),
                            trigger_detail: self.caller.to_owned(),
                            pushed_by: None,
                        }
                    }),
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

    pub(crate) async fn stop_execution(
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

    pub(crate) async fn get_execution(
        &self,
        input: GetPipelineExecutionInput,
    ) -> ApiResult<GetPipelineExecutionOutput> {
        let name = &input.pipeline_name;
        let e = self
            .execution_of(name, &input.pipeline_execution_id)
            .await?;
        let definition = self.runtime.execution_pipeline(&e).await?.definition;
        let (execution_type, rollback_metadata) = (execution_type(&e), rollback_metadata(&e));
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
                execution_type,
                rollback_metadata,
            },
        })
    }

    pub(crate) async fn list_executions(
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
                        .execution_pipeline(&e)
                        .await?
                        .definition
                        .mode()
                        .to_string();
                    modes.insert(e.version, m.clone());
                    m
                }
            };
            summaries.push(PipelineExecutionSummary {
                execution_type: execution_type(&e),
                rollback_metadata: rollback_metadata(&e),
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
            });
        }
        Ok(ListPipelineExecutionsOutput {
            pipeline_execution_summaries: summaries,
            next_token: next.map(|k| encode_token("executions", &k)),
        })
    }

    /// The action attempts of one execution as ListActionExecutions shows them, newest first.
    pub(crate) async fn action_details(
        &self,
        execution: &ExecutionRecord,
        latest_only: bool,
        definitions: &mut HashMap<u64, Pipeline>,
    ) -> ApiResult<Vec<ActionExecutionDetail>> {
        if let Entry::Vacant(slot) = definitions.entry(execution.version) {
            slot.insert(self.runtime.execution_pipeline(execution).await?.definition);
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
                            external_execution_id: a
                                .external
                                .as_ref()
                                .map_or_else(|| a.job_id(), |e| e.id.clone()),
                            external_execution_summary: a
                                .summary
                                .clone()
                                .or_else(|| a.external.as_ref().and_then(|e| e.summary.clone())),
                            external_execution_url: a.external.as_ref().and_then(|e| e.url.clone()),
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

    pub(crate) async fn list_action_executions(
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
}
