//! `Deploy/AWS/ECS`: a rolling deployment of an ECS service, as CodePipeline's standard ECS action does it.
//!
//! The input artifact's `FileName` (default `imagedefinitions.json`: `[{"name", "imageUri"}]`) names the image
//! of each container to change. The service's current task definition is copied into a new revision with those
//! images (tags kept), the service is updated to it, and the action waits until the deployment's rollout is
//! COMPLETED (FAILED fails it, with ECS's reason; a newer deployment replacing it fails it), or fails after
//! `DeploymentTimeout` minutes (default 60).

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_ecs::types::{Service, TaskDefinitionField};
use aws_sdk_ecs::Client;
use serde_json::{json, Value};
use sluice_runtime::jobs::{ExternalExecution, JobOutcome};

use crate::artifacts;
use crate::provider::{sdk_error, Context, Provider, Step};

/// The largest image definitions file (CodePipeline's limit).
const MAX_IMAGE_DEFINITIONS: usize = 100 * 1024;

/// The provider.
pub struct Ecs;

#[async_trait]
impl Provider for Ecs {
    async fn start(&self, ctx: &Context<'_>) -> Result<Step, String> {
        let c = &ctx.job.configuration;
        let get = |k: &str| c.get(k).filter(|v| !v.is_empty()).cloned();
        let cluster = get("ClusterName").ok_or("configuration.ClusterName is required")?;
        let service = get("ServiceName").ok_or("configuration.ServiceName is required")?;
        let file = get("FileName").unwrap_or_else(|| "imagedefinitions.json".into());
        let minutes: u64 = match get("DeploymentTimeout") {
            Some(m) => m
                .parse()
                .ok()
                .filter(|m| (1..=60).contains(m))
                .ok_or_else(|| format!("configuration.DeploymentTimeout {m:?} is not a number of minutes from 1 to 60"))?,
            None => 60,
        };
        let images = image_definitions(ctx, &file).await?;
        let client = Client::new(ctx.sdk);
        let current = service_of(&client, &cluster, &service).await?;
        let current_td = current
            .task_definition()
            .ok_or_else(|| format!("service {service} has no task definition"))?
            .to_owned();
        let described = client
            .describe_task_definition()
            .task_definition(&current_td)
            .include(TaskDefinitionField::Tags)
            .send()
            .await
            .map_err(|e| format!("DescribeTaskDefinition {current_td}: {}", sdk_error(&e)))?;
        let td = described
            .task_definition()
            .ok_or_else(|| format!("task definition {current_td} was not found"))?;
        let mut containers = td.container_definitions().to_vec();
        for (name, image) in &images {
            let Some(container) = containers
                .iter_mut()
                .find(|c| c.name() == Some(name.as_str()))
            else {
                let names: Vec<&str> = td
                    .container_definitions()
                    .iter()
                    .filter_map(|c| c.name())
                    .collect();
                return Err(format!(
                    "{file} names container {name}, which task definition {current_td} does not have (its containers: {})",
                    names.join(", ")
                ));
            };
            container.image = Some(image.clone());
        }
        let registered = client
            .register_task_definition()
            .set_family(td.family().map(str::to_owned))
            .set_task_role_arn(td.task_role_arn().map(str::to_owned))
            .set_execution_role_arn(td.execution_role_arn().map(str::to_owned))
            .set_network_mode(td.network_mode().cloned())
            .set_container_definitions(Some(containers))
            .set_volumes(Some(td.volumes().to_vec()).filter(|v| !v.is_empty()))
            .set_placement_constraints(
                Some(td.placement_constraints().to_vec()).filter(|v| !v.is_empty()),
            )
            .set_requires_compatibilities(
                Some(td.requires_compatibilities().to_vec()).filter(|v| !v.is_empty()),
            )
            .set_cpu(td.cpu().map(str::to_owned))
            .set_memory(td.memory().map(str::to_owned))
            .set_tags(Some(described.tags().to_vec()).filter(|t| !t.is_empty()))
            .set_pid_mode(td.pid_mode().cloned())
            .set_ipc_mode(td.ipc_mode().cloned())
            .set_proxy_configuration(td.proxy_configuration().cloned())
            .set_ephemeral_storage(td.ephemeral_storage().cloned())
            .set_runtime_platform(td.runtime_platform().cloned())
            .send()
            .await
            .map_err(|e| format!("RegisterTaskDefinition: {}", sdk_error(&e)))?;
        let new_td = registered
            .task_definition()
            .and_then(|t| t.task_definition_arn())
            .ok_or("RegisterTaskDefinition answered no task definition")?
            .to_owned();
        let updated = client
            .update_service()
            .cluster(&cluster)
            .service(&service)
            .task_definition(&new_td)
            .send()
            .await
            .map_err(|e| format!("UpdateService {service}: {}", sdk_error(&e)))?;
        let deployment = updated
            .service()
            .and_then(|s| {
                s.deployments()
                    .iter()
                    .find(|d| d.task_definition() == Some(new_td.as_str()))
            })
            .and_then(|d| d.id())
            .unwrap_or_default()
            .to_owned();
        let service_arn = updated
            .service()
            .and_then(|s| s.service_arn())
            .unwrap_or(&service)
            .to_owned();
        let state = json!({
            "cluster": cluster,
            "service": service,
            "taskDefinition": new_td,
            "deploymentId": deployment,
            "deadlineMs": now_ms() + (minutes * 60_000) as i64,
            "externalIds": [deployment, service_arn],
        });
        Ok(waiting(state, "IN_PROGRESS"))
    }

    async fn check(&self, ctx: &Context<'_>, state: &Value) -> Result<Step, String> {
        let client = Client::new(ctx.sdk);
        let cluster = state["cluster"].as_str().unwrap_or_default();
        let service_name = state["service"].as_str().unwrap_or_default();
        let new_td = state["taskDefinition"].as_str().unwrap_or_default();
        let deployment_id = state["deploymentId"].as_str().unwrap_or_default();
        let service = service_of(&client, cluster, service_name).await?;
        let deadline = state["deadlineMs"].as_i64().unwrap_or(i64::MAX);
        match rollout(&service, new_td, deployment_id, now_ms() > deadline) {
            Rollout::Done => Ok(Step::Done(JobOutcome::Succeeded {
                artifacts: BTreeMap::new(),
                variables: BTreeMap::new(),
                summary: Some(format!("Service {service_name} runs {new_td}")),
                revision: None,
            })),
            Rollout::Failed(why) => Ok(Step::failed(format!(
                "the deployment of {new_td} to service {service_name} {why}"
            ))),
            Rollout::Going(state_name) => Ok(waiting(state.clone(), &state_name)),
        }
    }
}

/// Where the service's deployment of a new revision stands.
#[derive(Debug, PartialEq, Eq)]
enum Rollout {
    Done,
    Failed(String),
    Going(String),
}

fn rollout(service: &Service, new_td: &str, deployment_id: &str, past_deadline: bool) -> Rollout {
    let ours = service
        .deployments()
        .iter()
        .find(|d| {
            (!deployment_id.is_empty() && d.id() == Some(deployment_id))
                || d.task_definition() == Some(new_td)
        })
        .or_else(|| {
            // A service whose single primary deployment does not name the new revision although the service
            // runs it (the moto emulator keeps the first revision on its deployment): that deployment.
            let only = service.deployments();
            (only.len() == 1
                && only[0].status() == Some("PRIMARY")
                && service.task_definition() == Some(new_td))
            .then(|| &only[0])
        });
    let Some(ours) = ours else {
        return Rollout::Failed("is gone: a newer deployment replaced it".into());
    };
    let state = ours.rollout_state().map(|r| r.as_str().to_owned());
    let settled = state.as_deref() == Some("COMPLETED")
        || (state.is_none()
            && ours.status() == Some("PRIMARY")
            && service.deployments().len() == 1
            && ours.running_count() == ours.desired_count());
    if settled {
        return Rollout::Done;
    }
    if state.as_deref() == Some("FAILED") {
        return Rollout::Failed(format!(
            "failed: {}",
            ours.rollout_state_reason().unwrap_or("no reason given")
        ));
    }
    if past_deadline {
        return Rollout::Failed(format!(
            "did not complete within its DeploymentTimeout ({} of {} tasks running)",
            ours.running_count(),
            ours.desired_count()
        ));
    }
    Rollout::Going(state.unwrap_or_else(|| "IN_PROGRESS".into()))
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn waiting(state: Value, rollout: &str) -> Step {
    let deployment = state["deploymentId"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let cluster = state["cluster"].as_str().unwrap_or_default();
    let service = state["service"].as_str().unwrap_or_default();
    let td = state["taskDefinition"].as_str().unwrap_or_default();
    Step::Wait {
        external: ExternalExecution {
            id: if deployment.is_empty() { td.to_owned() } else { deployment },
            url: Some(format!(
                "https://console.aws.amazon.com/ecs/v2/clusters/{cluster}/services/{service}/deployments"
            )),
            summary: Some(format!("Service {service} deploying {td}: {rollout}")),
        },
        state,
        after: Duration::ZERO,
    }
}

async fn service_of(client: &Client, cluster: &str, service: &str) -> Result<Service, String> {
    let out = client
        .describe_services()
        .cluster(cluster)
        .services(service)
        .send()
        .await
        .map_err(|e| format!("DescribeServices {service} in {cluster}: {}", sdk_error(&e)))?;
    out.services()
        .iter()
        .find(|s| s.status() != Some("INACTIVE"))
        .cloned()
        .ok_or_else(|| format!("cluster {cluster} has no service {service}"))
}

/// The images to deploy, by container name, from the image definitions file.
async fn image_definitions(ctx: &Context<'_>, file: &str) -> Result<Vec<(String, String)>, String> {
    let bytes = artifacts::read_file(ctx, None, file).await?;
    if bytes.len() > MAX_IMAGE_DEFINITIONS {
        return Err(format!(
            "{file} is over the limit of {MAX_IMAGE_DEFINITIONS} bytes"
        ));
    }
    let list: Value =
        serde_json::from_slice(&bytes).map_err(|e| format!("{file} is not JSON: {e}"))?;
    let items = list
        .as_array()
        .ok_or_else(|| format!("{file} is not a JSON array of {{\"name\", \"imageUri\"}}"))?;
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let (Some(name), Some(uri)) = (item["name"].as_str(), item["imageUri"].as_str()) else {
            return Err(format!("{file}[{i}] needs a name and an imageUri"));
        };
        out.push((name.to_owned(), uri.to_owned()));
    }
    if out.is_empty() {
        return Err(format!("{file} names no container"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ecs::types::{Deployment, DeploymentRolloutState};

    fn deployment(
        id: &str,
        td: &str,
        status: &str,
        rollout: Option<&str>,
        running: i32,
    ) -> Deployment {
        Deployment::builder()
            .id(id)
            .task_definition(td)
            .status(status)
            .set_rollout_state(rollout.map(DeploymentRolloutState::from))
            .rollout_state_reason("ECS deployment circuit breaker: tasks failed to start.")
            .running_count(running)
            .desired_count(2)
            .build()
    }

    fn service(td: &str, deployments: Vec<Deployment>) -> Service {
        Service::builder()
            .task_definition(td)
            .set_deployments(Some(deployments))
            .build()
    }

    #[test]
    fn a_rollout_ends_when_ecs_says_so() {
        let (old, new) = ("arn:td/web:1", "arn:td/web:2");
        let going = service(
            new,
            vec![
                deployment("ecs-svc/2", new, "PRIMARY", Some("IN_PROGRESS"), 1),
                deployment("ecs-svc/1", old, "ACTIVE", Some("COMPLETED"), 2),
            ],
        );
        assert_eq!(
            rollout(&going, new, "ecs-svc/2", false),
            Rollout::Going("IN_PROGRESS".into())
        );
        let late = rollout(&going, new, "ecs-svc/2", true);
        assert_eq!(
            late,
            Rollout::Failed(
                "did not complete within its DeploymentTimeout (1 of 2 tasks running)".into()
            )
        );
        let done = service(
            new,
            vec![deployment(
                "ecs-svc/2",
                new,
                "PRIMARY",
                Some("COMPLETED"),
                2,
            )],
        );
        assert_eq!(rollout(&done, new, "ecs-svc/2", false), Rollout::Done);
        let broken = service(
            old,
            vec![
                deployment("ecs-svc/1", old, "PRIMARY", Some("COMPLETED"), 2),
                deployment("ecs-svc/2", new, "ACTIVE", Some("FAILED"), 0),
            ],
        );
        assert_eq!(
            rollout(&broken, new, "ecs-svc/2", false),
            Rollout::Failed(
                "failed: ECS deployment circuit breaker: tasks failed to start.".into()
            )
        );
        let replaced = service(
            "arn:td/web:3",
            vec![deployment(
                "ecs-svc/3",
                "arn:td/web:3",
                "PRIMARY",
                Some("IN_PROGRESS"),
                0,
            )],
        );
        assert_eq!(
            rollout(&replaced, new, "ecs-svc/2", false),
            Rollout::Failed("is gone: a newer deployment replaced it".into())
        );
    }

    #[test]
    fn without_rollout_states_a_lone_primary_deployment_at_its_count_is_done() {
        let new = "arn:td/web:2";
        let counted = service(
            new,
            vec![deployment("ecs-svc/1", "arn:td/web:1", "PRIMARY", None, 2)],
        );
        assert_eq!(rollout(&counted, new, "", false), Rollout::Done);
        let short = service(new, vec![deployment("ecs-svc/1", new, "PRIMARY", None, 1)]);
        assert_eq!(
            rollout(&short, new, "", false),
            Rollout::Going("IN_PROGRESS".into())
        );
    }
}
