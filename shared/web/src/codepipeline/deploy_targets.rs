//! ListDeployActionExecutionTargets: what a deploy action execution deployed to.
//!
//! Sluice knows the target of an ECS deploy (the cluster's service) and of a CodeDeploy or CodeDeployToECS
//! deploy (the application's deployment group), with the deployment it ran as (the action's external
//! execution) as the target's one event. Other providers have no targets in Sluice's records: their list is
//! empty, as CodePipeline answers for providers that report none.

use sluice_runtime::records::{ActionRecord, ActionStatus};
use sluice_runtime::RuntimeError;

use crate::codepipeline::context::*;
use crate::codepipeline::errors::*;
use crate::codepipeline::request::*;
use crate::codepipeline::types::revisions::*;

fn not_found(id: &str) -> ApiError {
    ApiError::new(
        "ActionExecutionNotFoundException",
        format!("action execution {id} does not exist"),
    )
}

fn status(s: ActionStatus) -> &'static str {
    match s {
        ActionStatus::InProgress => "InProgress",
        ActionStatus::Abandoned => "Abandoned",
        ActionStatus::Succeeded => "Succeeded",
        ActionStatus::Failed => "Failed",
    }
}

/// The targets Sluice knows of an action attempt.
pub(crate) fn targets_of(a: &ActionRecord) -> Vec<DeployTarget> {
    let id = &a.action_type;
    if id.category != "Deploy" || id.owner != "AWS" {
        return Vec::new();
    }
    let config = |k: &str| a.configuration.get(k).cloned().unwrap_or_default();
    let (target_id, target_type, event) = match id.provider.as_str() {
        "ECS" => (
            format!("{}/{}", config("ClusterName"), config("ServiceName")),
            "ECSService",
            "ServiceDeployment",
        ),
        "CodeDeploy" | "CodeDeployToECS" => (
            format!(
                "{}/{}",
                config("ApplicationName"),
                config("DeploymentGroupName")
            ),
            "CodeDeployDeploymentGroup",
            "Deployment",
        ),
        _ => return Vec::new(),
    };
    let status = status(a.status);
    let end_time = (a.status != ActionStatus::InProgress).then(|| seconds(a.updated_ms));
    let message = match (&a.external, &a.error) {
        (_, Some(error)) => Some(error.clone()),
        (Some(x), None) => Some(match &x.summary {
            Some(summary) => format!("{}: {summary}", x.id),
            None => x.id.clone(),
        }),
        (None, None) => None,
    };
    vec![DeployTarget {
        target_id,
        target_type: target_type.into(),
        status: status.into(),
        start_time: seconds(a.started_ms),
        end_time,
        events: vec![DeployTargetEvent {
            name: event.into(),
            status: status.into(),
            start_time: seconds(a.started_ms),
            end_time,
            context: message.map(|message| DeployTargetEventContext {
                message: Some(message),
            }),
        }],
    }]
}

impl Api<'_> {
    pub(crate) async fn list_deploy_targets(
        &self,
        input: ListDeployTargetsInput,
    ) -> ApiResult<ListDeployTargetsOutput> {
        if let Some(name) = &input.pipeline_name {
            self.current(name).await?;
        }
        let id = &input.action_execution_id;
        let execution_id = id.split('/').next().unwrap_or_default();
        let execution = match self.runtime.execution(execution_id).await {
            Ok(e) => e,
            Err(RuntimeError::ExecutionNotFound(_)) => return Err(not_found(id)),
            Err(e) => return Err(e.into()),
        };
        if input
            .pipeline_name
            .as_ref()
            .is_some_and(|p| *p != execution.pipeline)
        {
            return Err(not_found(id));
        }
        let action = self
            .runtime
            .actions(execution_id)
            .await?
            .into_iter()
            .find(|a| a.job_id() == *id)
            .ok_or_else(|| not_found(id))?;
        let mut targets = targets_of(&action);
        for (i, f) in input.filters.iter().flatten().enumerate() {
            match f.name.as_deref() {
                None => {}
                Some("TARGET_STATUS") => {
                    let values = f.values.clone().unwrap_or_default();
                    targets.retain(|t| values.iter().any(|v| v.eq_ignore_ascii_case(&t.status)));
                }
                Some(other) => {
                    return Err(ApiError::new(
                        "ValidationException",
                        format!(
                            "filters[{i}].name: {other} is not a target filter (TARGET_STATUS)"
                        ),
                    ))
                }
            }
        }
        let start = match &input.next_token {
            Some(t) => decode_token("targets", t)?.parse::<usize>().map_err(|_| {
                ApiError::new(
                    "InvalidNextTokenException",
                    "the next token is not one of ListDeployActionExecutionTargets",
                )
            })?,
            None => 0,
        };
        let limit = input.max_results.unwrap_or(100);
        let page: Vec<DeployTarget> = targets.iter().skip(start).take(limit).cloned().collect();
        let next = start + page.len();
        Ok(ListDeployTargetsOutput {
            targets: page,
            next_token: (next < targets.len()).then(|| encode_token("targets", &next.to_string())),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn action(provider: &str, status: &str, config: serde_json::Value) -> ActionRecord {
        serde_json::from_value(json!({
            "pipeline": "p", "executionId": "e", "stage": "Deploy", "action": "Ship", "attempt": 1, "run": 1,
            "status": status, "token": "t",
            "actionType": {"category": "Deploy", "owner": "AWS", "provider": provider, "version": "1"},
            "startedMs": 1000, "updatedMs": 5000, "configuration": config,
            "inputArtifacts": [], "outputArtifacts": [], "outputVariables": {},
            "summary": null, "error": null, "revision": null,
            "external": {"id": "d-ABC123", "summary": "deployed 3 instances"}
        }))
        .expect("an action record")
    }

    #[test]
    fn an_ecs_deploy_targets_its_service_with_the_deployment_as_event() {
        let a = action(
            "ECS",
            "Succeeded",
            json!({"ClusterName": "web", "ServiceName": "api"}),
        );
        let t = targets_of(&a);
        assert_eq!(t.len(), 1);
        assert_eq!(
            (
                t[0].target_id.as_str(),
                t[0].target_type.as_str(),
                t[0].status.as_str()
            ),
            ("web/api", "ECSService", "Succeeded")
        );
        assert_eq!((t[0].start_time, t[0].end_time), (1.0, Some(5.0)));
        let message = t[0].events[0]
            .context
            .as_ref()
            .and_then(|c| c.message.clone());
        assert_eq!(message.as_deref(), Some("d-ABC123: deployed 3 instances"));
    }

    #[test]
    fn a_codedeploy_deploy_targets_its_deployment_group_and_a_running_one_has_no_end() {
        let a = action(
            "CodeDeploy",
            "InProgress",
            json!({"ApplicationName": "app", "DeploymentGroupName": "prod"}),
        );
        let t = targets_of(&a);
        assert_eq!(t[0].target_id, "app/prod");
        assert_eq!(t[0].target_type, "CodeDeployDeploymentGroup");
        assert_eq!(t[0].end_time, None);
    }

    #[test]
    fn other_providers_have_no_targets() {
        assert!(targets_of(&action("S3", "Succeeded", json!({"BucketName": "b"}))).is_empty());
        assert!(targets_of(&action("CloudFormation", "Failed", json!({}))).is_empty());
    }
}
