//! `Deploy/AWS/CodeDeploy` and `Deploy/AWS/CodeDeployToECS`: a CodeDeploy deployment, waited on until it
//! succeeds, fails or is stopped (a failure carries the deployment's error information). Abandoning the action
//! stops the deployment, rolling it back.
//!
//! - CodeDeploy: the input artifact is the revision (an S3 zip; staged in the pipeline's artifact store bucket
//!   when artifacts are not in S3).
//! - CodeDeployToECS: the task definition template (`TaskDefinitionTemplateArtifact`/`...Path`, default
//!   `taskdef.json`) has each `<ImageNContainerName>` placeholder replaced by the `ImageURI` of the
//!   `imageDetail.json` in `ImageNArtifactName`, is registered as a task definition, and the AppSpec
//!   (`AppSpecTemplateArtifact`/`...Path`, default `appspec.yaml`) has `<TASK_DEFINITION>` replaced by its ARN
//!   and goes with the deployment as its content.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_codedeploy::types::{
    AppSpecContent, BundleType, DeploymentInfo, RevisionLocation, RevisionLocationType, S3Location,
};
use aws_sdk_codedeploy::Client;
use serde_json::{json, Value};
use sluice_runtime::jobs::{ExternalExecution, JobOutcome};

use crate::artifacts;
use crate::provider::{sdk_error, Context, Provider, Step};
use crate::task_definitions;

/// The limit on the task definition and AppSpec artifacts' files (CodePipeline's).
const MAX_TEMPLATE_BYTES: usize = 3 * 1024 * 1024;

/// The EC2/on-premises provider.
pub struct CodeDeploy;

/// The ECS blue/green provider.
pub struct CodeDeployToEcs;

fn names(ctx: &Context<'_>) -> Result<(String, String), String> {
    let c = &ctx.job.configuration;
    let get = |k: &str| c.get(k).filter(|v| !v.is_empty()).cloned();
    Ok((
        get("ApplicationName").ok_or("configuration.ApplicationName is required")?,
        get("DeploymentGroupName").ok_or("configuration.DeploymentGroupName is required")?,
    ))
}

#[async_trait]
impl Provider for CodeDeploy {
    async fn start(&self, ctx: &Context<'_>) -> Result<Step, String> {
        let (application, group) = names(ctx)?;
        let input = artifacts::input(ctx, None)?;
        let (bucket, key) = artifacts::s3_location_of(ctx, input).await?;
        let revision = RevisionLocation::builder()
            .revision_type(RevisionLocationType::S3)
            .s3_location(
                S3Location::builder()
                    .bucket(bucket)
                    .key(key)
                    .bundle_type(BundleType::Zip)
                    .build(),
            )
            .build();
        deploy(ctx, &application, &group, revision).await
    }

    async fn check(&self, ctx: &Context<'_>, state: &Value) -> Result<Step, String> {
        check(ctx, state).await
    }

    async fn stop(&self, ctx: &Context<'_>, state: &Value) {
        stop(ctx, state).await;
    }
}

#[async_trait]
impl Provider for CodeDeployToEcs {
    async fn start(&self, ctx: &Context<'_>) -> Result<Step, String> {
        let (application, group) = names(ctx)?;
        let c = &ctx.job.configuration;
        let get = |k: &str| c.get(k).filter(|v| !v.is_empty()).cloned();
        let td_artifact = get("TaskDefinitionTemplateArtifact")
            .ok_or("configuration.TaskDefinitionTemplateArtifact is required")?;
        let td_path = get("TaskDefinitionTemplatePath").unwrap_or_else(|| "taskdef.json".into());
        let spec_artifact = get("AppSpecTemplateArtifact")
            .ok_or("configuration.AppSpecTemplateArtifact is required")?;
        let spec_path = get("AppSpecTemplatePath").unwrap_or_else(|| "appspec.yaml".into());
        let mut taskdef = template(ctx, &td_artifact, &td_path).await?;
        for n in 1..=4 {
            let (Some(artifact), Some(placeholder)) = (
                get(&format!("Image{n}ArtifactName")),
                get(&format!("Image{n}ContainerName")),
            ) else {
                continue;
            };
            let detail =
                artifacts::read_text(ctx, &format!("{artifact}::imageDetail.json")).await?;
            let detail: Value = serde_json::from_str(&detail)
                .map_err(|e| format!("imageDetail.json in {artifact} is not JSON: {e}"))?;
            let uri = detail["ImageURI"]
                .as_str()
                .ok_or_else(|| format!("imageDetail.json in {artifact} has no ImageURI"))?;
            let marker = format!("<{placeholder}>");
            if !taskdef.contains(&marker) {
                return Err(format!(
                    "{td_artifact}::{td_path} has no placeholder {marker} (Image{n}ContainerName)"
                ));
            }
            taskdef = taskdef.replace(&marker, uri);
        }
        let taskdef: Value = serde_json::from_str(&taskdef)
            .map_err(|e| format!("{td_artifact}::{td_path} is not JSON: {e}"))?;
        let arn =
            task_definitions::register(ctx, &taskdef, &format!("{td_artifact}::{td_path}")).await?;
        let spec = template(ctx, &spec_artifact, &spec_path).await?;
        if !spec.contains("<TASK_DEFINITION>") {
            return Err(format!(
                "{spec_artifact}::{spec_path} has no <TASK_DEFINITION> placeholder for the task definition"
            ));
        }
        let spec = spec.replace("<TASK_DEFINITION>", &arn);
        let revision = RevisionLocation::builder()
            .revision_type(RevisionLocationType::AppSpecContent)
            .app_spec_content(AppSpecContent::builder().content(spec).build())
            .build();
        deploy(ctx, &application, &group, revision).await
    }

    async fn check(&self, ctx: &Context<'_>, state: &Value) -> Result<Step, String> {
        check(ctx, state).await
    }

    async fn stop(&self, ctx: &Context<'_>, state: &Value) {
        stop(ctx, state).await;
    }
}

async fn template(ctx: &Context<'_>, artifact: &str, path: &str) -> Result<String, String> {
    let text = artifacts::read_text(ctx, &format!("{artifact}::{path}")).await?;
    if text.len() > MAX_TEMPLATE_BYTES {
        return Err(format!(
            "{artifact}::{path} is over the limit of {MAX_TEMPLATE_BYTES} bytes"
        ));
    }
    Ok(text)
}

async fn deploy(
    ctx: &Context<'_>,
    application: &str,
    group: &str,
    revision: RevisionLocation,
) -> Result<Step, String> {
    let client = Client::new(ctx.sdk);
    let out = client
        .create_deployment()
        .application_name(application)
        .deployment_group_name(group)
        .revision(revision)
        .description(format!(
            "Sluice: {} {}.{}",
            ctx.job.pipeline, ctx.job.stage, ctx.job.action
        ))
        .send()
        .await
        .map_err(|e| {
            format!(
                "CreateDeployment to {application}/{group}: {}",
                sdk_error(&e)
            )
        })?;
    let id = out
        .deployment_id()
        .ok_or("CreateDeployment answered no deployment id")?
        .to_owned();
    Ok(waiting(
        json!({"deploymentId": id, "application": application, "group": group, "externalIds": [id]}),
        "Created",
    ))
}

fn waiting(state: Value, status: &str) -> Step {
    Step::Wait {
        external: external(&state, status),
        state,
        after: Duration::ZERO,
    }
}

fn external(state: &Value, status: &str) -> ExternalExecution {
    let id = state["deploymentId"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    ExternalExecution {
        url: Some(format!(
            "https://console.aws.amazon.com/codesuite/codedeploy/deployments/{id}"
        )),
        summary: Some(format!("Deployment {status}")),
        id,
    }
}

async fn check(ctx: &Context<'_>, state: &Value) -> Result<Step, String> {
    let id = state["deploymentId"].as_str().unwrap_or_default();
    let client = Client::new(ctx.sdk);
    let out = client
        .get_deployment()
        .deployment_id(id)
        .send()
        .await
        .map_err(|e| format!("GetDeployment {id}: {}", sdk_error(&e)))?;
    match outcome(id, out.deployment_info()) {
        Ok(Some(summary)) => Ok(Step::Done(JobOutcome::Succeeded {
            artifacts: BTreeMap::new(),
            variables: BTreeMap::new(),
            summary: Some(summary),
            revision: None,
        })),
        Err(failure) => Ok(Step::failed(failure)),
        Ok(None) => {
            let status = out
                .deployment_info()
                .and_then(|i| i.status())
                .map_or("Created", |s| s.as_str());
            Ok(waiting(state.clone(), status))
        }
    }
}

/// A deployment's end from what CodeDeploy tells of it: a summary on success, the failure's text, or `None`
/// while it goes on.
fn outcome(id: &str, info: Option<&DeploymentInfo>) -> Result<Option<String>, String> {
    let status = info.and_then(|i| i.status()).map(|s| s.as_str());
    match status {
        Some("Succeeded") => Ok(Some("Deployment Succeeded".into())),
        Some(end @ ("Failed" | "Stopped")) => {
            let error = info.and_then(|i| i.error_information());
            Err(format!(
                "deployment {id} {}: {}{}",
                end.to_lowercase(),
                error
                    .and_then(|e| e.code())
                    .map(|c| format!("{} ", c.as_str()))
                    .unwrap_or_default(),
                error
                    .and_then(|e| e.message())
                    .unwrap_or("CodeDeploy gave no error information")
            ))
        }
        _ => Ok(None),
    }
}

async fn stop(ctx: &Context<'_>, state: &Value) {
    let id = state["deploymentId"].as_str().unwrap_or_default();
    let client = Client::new(ctx.sdk);
    if let Err(e) = client
        .stop_deployment()
        .deployment_id(id)
        .auto_rollback_enabled(true)
        .send()
        .await
    {
        tracing::warn!(deployment = id, error = %sdk_error(&e), "could not stop a deployment");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_codedeploy::types::{DeploymentStatus, ErrorCode, ErrorInformation};

    fn info(status: &str, error: Option<ErrorInformation>) -> DeploymentInfo {
        DeploymentInfo::builder()
            .status(DeploymentStatus::from(status))
            .set_error_information(error)
            .build()
    }

    #[test]
    fn a_deployment_ends_succeeded_failed_or_stopped() {
        assert_eq!(outcome("d-1", Some(&info("InProgress", None))), Ok(None));
        assert_eq!(outcome("d-1", Some(&info("Ready", None))), Ok(None));
        assert_eq!(outcome("d-1", None), Ok(None));
        assert_eq!(
            outcome("d-1", Some(&info("Succeeded", None))),
            Ok(Some("Deployment Succeeded".into()))
        );
        let health = ErrorInformation::builder()
            .code(ErrorCode::HealthConstraints)
            .message("The overall deployment failed because too many individual instances failed deployment")
            .build();
        assert_eq!(
            outcome("d-1", Some(&info("Failed", Some(health)))),
            Err("deployment d-1 failed: HEALTH_CONSTRAINTS The overall deployment failed because too many \
                 individual instances failed deployment"
                .into())
        );
        assert_eq!(
            outcome("d-1", Some(&info("Stopped", None))),
            Err("deployment d-1 stopped: CodeDeploy gave no error information".into())
        );
    }
}
