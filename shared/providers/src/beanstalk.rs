//! `Deploy/AWS/ElasticBeanstalk`: the input artifact becomes an application version (from its S3 zip, staged in
//! the pipeline's artifact store bucket when artifacts are not in S3), the environment is updated to it, and the
//! action waits until the environment is Ready again running that version, reporting its health. An environment
//! that ends up Ready on another version (the update was rolled back) or Terminated fails the action.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_elasticbeanstalk::types::{EnvironmentDescription, S3Location};
use aws_sdk_elasticbeanstalk::Client;
use serde_json::{json, Value};
use sluice_runtime::jobs::{ExternalExecution, JobOutcome};

use crate::artifacts;
use crate::provider::{sdk_error, Context, Provider, Step};

/// The provider.
pub struct Beanstalk;

/// A version label unique to the job's run, within Elastic Beanstalk's 100 characters.
fn version_label(job_id: &str) -> String {
    use sha2::Digest;
    let digest = hex::encode(sha2::Sha256::digest(job_id.as_bytes()));
    format!("sluice-{}", &digest[..24])
}

#[async_trait]
impl Provider for Beanstalk {
    async fn start(&self, ctx: &Context<'_>) -> Result<Step, String> {
        let c = &ctx.job.configuration;
        let get = |k: &str| c.get(k).filter(|v| !v.is_empty()).cloned();
        let application =
            get("ApplicationName").ok_or("configuration.ApplicationName is required")?;
        let environment =
            get("EnvironmentName").ok_or("configuration.EnvironmentName is required")?;
        let input = artifacts::input(ctx, None)?;
        let (bucket, key) = artifacts::s3_location_of(ctx, input).await?;
        let label = version_label(&ctx.job.id);
        let client = Client::new(ctx.sdk);
        client
            .create_application_version()
            .application_name(&application)
            .version_label(&label)
            .description(format!(
                "Sluice: {} {}.{}",
                ctx.job.pipeline, ctx.job.stage, ctx.job.action
            ))
            .source_bundle(S3Location::builder().s3_bucket(bucket).s3_key(key).build())
            .process(true)
            .send()
            .await
            .map_err(|e| {
                format!(
                    "CreateApplicationVersion {label} of {application}: {}",
                    sdk_error(&e)
                )
            })?;
        let out = client
            .update_environment()
            .application_name(&application)
            .environment_name(&environment)
            .version_label(&label)
            .send()
            .await
            .map_err(|e| format!("UpdateEnvironment {environment}: {}", sdk_error(&e)))?;
        let id = out.environment_id().unwrap_or(&environment).to_owned();
        Ok(waiting(
            json!({"application": application, "environment": environment, "environmentId": id, "versionLabel": label, "externalIds": [id]}),
            "Updating",
        ))
    }

    async fn check(&self, ctx: &Context<'_>, state: &Value) -> Result<Step, String> {
        let environment = state["environment"].as_str().unwrap_or_default();
        let label = state["versionLabel"].as_str().unwrap_or_default();
        let client = Client::new(ctx.sdk);
        let out = client
            .describe_environments()
            .environment_names(environment)
            .send()
            .await
            .map_err(|e| format!("DescribeEnvironments {environment}: {}", sdk_error(&e)))?;
        let Some(env) = out.environments().first() else {
            return Ok(Step::failed(format!(
                "environment {environment} does not exist"
            )));
        };
        match settle(environment, label, env) {
            Ok(Some(summary)) => Ok(Step::Done(JobOutcome::Succeeded {
                artifacts: BTreeMap::new(),
                variables: BTreeMap::new(),
                summary: Some(summary),
                revision: None,
            })),
            Err(failure) => Ok(Step::failed(failure)),
            Ok(None) => Ok(waiting(
                state.clone(),
                env.status().map_or("Updating", |s| s.as_str()),
            )),
        }
    }
}

/// Whether the environment's update to `label` is over: a summary once Ready on it, the failure's text, or
/// `None` while it goes on.
fn settle(
    environment: &str,
    label: &str,
    env: &EnvironmentDescription,
) -> Result<Option<String>, String> {
    let status = env.status().map(|s| s.as_str()).unwrap_or_default();
    let health = env.health().map(|h| h.as_str()).unwrap_or_default();
    match status {
        "Ready" if env.version_label() == Some(label) => Ok(Some(format!(
            "Environment {environment} is Ready on {label}, health {health}"
        ))),
        "Ready" => Err(format!(
            "environment {environment} is Ready on version {}, not {label}: the update did not take (see the \
             environment's events)",
            env.version_label().unwrap_or("none")
        )),
        "Terminated" | "Terminating" => Err(format!("environment {environment} is {status}")),
        _ => Ok(None),
    }
}

fn waiting(state: Value, status: &str) -> Step {
    let environment = state["environment"].as_str().unwrap_or_default().to_owned();
    let application = state["application"].as_str().unwrap_or_default().to_owned();
    Step::Wait {
        external: ExternalExecution {
            id: state["environmentId"].as_str().unwrap_or(&environment).to_owned(),
            url: Some(format!(
                "https://console.aws.amazon.com/elasticbeanstalk/home#/application/overview?applicationName={application}"
            )),
            summary: Some(format!("Environment {environment}: {status}")),
        },
        state,
        after: Duration::ZERO,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_labels_are_short_and_one_per_job() {
        let label = version_label("job-7");
        assert_eq!(label, version_label("job-7"));
        assert_ne!(label, version_label("job-8"));
        assert!(label.len() <= 100 && label.starts_with("sluice-"));
    }

    #[test]
    fn an_update_is_over_when_the_environment_is_ready_on_its_version() {
        use aws_sdk_elasticbeanstalk::types::{EnvironmentHealth, EnvironmentStatus};
        let env = |status: &str, label: &str| {
            EnvironmentDescription::builder()
                .status(EnvironmentStatus::from(status))
                .health(EnvironmentHealth::Green)
                .version_label(label)
                .build()
        };
        assert_eq!(settle("web", "v2", &env("Updating", "v1")), Ok(None));
        assert_eq!(
            settle("web", "v2", &env("Ready", "v2")),
            Ok(Some("Environment web is Ready on v2, health Green".into()))
        );
        let rolled_back = settle("web", "v2", &env("Ready", "v1"))
            .expect_err("a version other than the one deployed");
        assert!(
            rolled_back.starts_with("environment web is Ready on version v1, not v2"),
            "{rolled_back}"
        );
        assert_eq!(
            settle("web", "v2", &env("Terminating", "v2")),
            Err("environment web is Terminating".into())
        );
    }
}
