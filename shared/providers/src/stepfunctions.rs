//! `Invoke/AWS/StepFunctions`: starts an execution of `StateMachineArn` and, for a Standard state machine, waits
//! for it: SUCCEEDED succeeds the action, FAILED, TIMED_OUT and ABORTED fail it with the execution's error and
//! cause. An Express state machine's action succeeds once the execution started.
//!
//! The input is `Input` (`InputType` `Literal`, the default: the text itself, `{}` when absent) or the contents
//! of the file `Input` names in the input artifact (`FilePath`). The execution is named
//! `<ExecutionNamePrefix>-<action execution>` (at most 80 characters). Output variables: `StateMachineArn`, and
//! `ExecutionArn` for a Standard machine; its output artifact holds the execution's output as `output.json`.
//! Abandoning the action stops the execution.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_sfn::Client;
use serde_json::{json, Value};
use sluice_runtime::jobs::{ExternalExecution, JobOutcome};

use crate::artifacts;
use crate::provider::{sdk_error, Context, Provider, Step};

/// The file the output artifact holds the execution's output in.
pub const OUTPUT_FILE: &str = "output.json";

/// The provider.
pub struct StepFunctions;

/// An execution name from the prefix and the job: `[0-9A-Za-z_-]`, at most 80 characters.
fn execution_name(prefix: Option<&str>, job_id: &str) -> String {
    use sha2::Digest;
    let id = hex::encode(sha2::Sha256::digest(job_id.as_bytes()));
    let id = &id[..32];
    match prefix {
        Some(p) => {
            let p: String = p
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
                .take(80 - 33)
                .collect();
            format!("{p}-{id}")
        }
        None => id.to_owned(),
    }
}

#[async_trait]
impl Provider for StepFunctions {
    async fn start(&self, ctx: &Context<'_>) -> Result<Step, String> {
        let c = &ctx.job.configuration;
        let get = |k: &str| c.get(k).filter(|v| !v.is_empty()).cloned();
        let machine = get("StateMachineArn").ok_or("configuration.StateMachineArn is required")?;
        let input = match get("InputType").as_deref().unwrap_or("Literal") {
            "Literal" => get("Input").unwrap_or_else(|| "{}".into()),
            "FilePath" => {
                let path = get("Input").ok_or(
                    "configuration.Input (the file's path) is required with InputType FilePath",
                )?;
                artifacts::read_text(ctx, &path).await?
            }
            other => return Err(format!("InputType {other} is not Literal or FilePath")),
        };
        serde_json::from_str::<Value>(&input)
            .map_err(|e| format!("the execution's input is not JSON: {e}"))?;
        let client = Client::new(ctx.sdk);
        let described = client
            .describe_state_machine()
            .state_machine_arn(&machine)
            .send()
            .await
            .map_err(|e| format!("DescribeStateMachine {machine}: {}", sdk_error(&e)))?;
        let express = described.r#type().as_str() == "EXPRESS";
        let name = execution_name(get("ExecutionNamePrefix").as_deref(), &ctx.job.id);
        let started = client
            .start_execution()
            .state_machine_arn(&machine)
            .name(&name)
            .input(input)
            .send()
            .await
            .map_err(|e| format!("StartExecution of {machine}: {}", sdk_error(&e)))?;
        let execution = started.execution_arn().to_owned();
        if express {
            return Ok(Step::Done(JobOutcome::Succeeded {
                artifacts: BTreeMap::new(),
                variables: BTreeMap::from([("StateMachineArn".to_owned(), machine)]),
                summary: Some(format!("Express execution {name} started")),
                revision: None,
            }));
        }
        Ok(waiting(
            json!({"stateMachineArn": machine, "executionArn": execution, "externalIds": [execution]}),
            "RUNNING",
        ))
    }

    async fn check(&self, ctx: &Context<'_>, state: &Value) -> Result<Step, String> {
        let execution = state["executionArn"].as_str().unwrap_or_default();
        let machine = state["stateMachineArn"].as_str().unwrap_or_default();
        let client = Client::new(ctx.sdk);
        let out = client
            .describe_execution()
            .execution_arn(execution)
            .send()
            .await
            .map_err(|e| format!("DescribeExecution {execution}: {}", sdk_error(&e)))?;
        match out.status().as_str() {
            "SUCCEEDED" => {
                let mut artifacts = BTreeMap::new();
                if let Some(output) = ctx.job.outputs.first() {
                    let body = out.output().unwrap_or("null").as_bytes().to_vec();
                    let info =
                        artifacts::write_output(ctx, output, &[(OUTPUT_FILE.to_owned(), body)])
                            .await?;
                    artifacts.insert(output.name.clone(), info);
                }
                Ok(Step::Done(JobOutcome::Succeeded {
                    artifacts,
                    variables: BTreeMap::from([
                        ("StateMachineArn".to_owned(), machine.to_owned()),
                        ("ExecutionArn".to_owned(), execution.to_owned()),
                    ]),
                    summary: Some(format!(
                        "Execution {} succeeded",
                        out.name().unwrap_or(execution)
                    )),
                    revision: None,
                }))
            }
            "RUNNING" | "PENDING_REDRIVE" => Ok(waiting(state.clone(), out.status().as_str())),
            other => Ok(Step::failed(format!(
                "execution {execution} ended {other}: {}{}",
                out.error().unwrap_or("no error name"),
                out.cause().map(|c| format!(": {c}")).unwrap_or_default()
            ))),
        }
    }

    async fn stop(&self, ctx: &Context<'_>, state: &Value) {
        let execution = state["executionArn"].as_str().unwrap_or_default();
        let client = Client::new(ctx.sdk);
        if let Err(e) = client
            .stop_execution()
            .execution_arn(execution)
            .cause("the pipeline action was abandoned")
            .send()
            .await
        {
            tracing::warn!(execution, error = %sdk_error(&e), "could not stop an execution");
        }
    }
}

fn waiting(state: Value, status: &str) -> Step {
    let execution = state["executionArn"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let region = execution
        .split(':')
        .nth(3)
        .unwrap_or("us-east-1")
        .to_owned();
    Step::Wait {
        external: ExternalExecution {
            url: Some(format!(
                "https://console.aws.amazon.com/states/home?region={region}#/v2/executions/details/{execution}"
            )),
            summary: Some(format!("Execution {status}")),
            id: execution,
        },
        state,
        after: Duration::ZERO,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn execution_names_are_valid_and_one_per_job() {
        let name = execution_name(Some("deploy run/α:1"), "job-7");
        assert!(name.starts_with("deployrun1-"), "{name}");
        assert_eq!(name, execution_name(Some("deploy run/α:1"), "job-7"));
        assert_ne!(name, execution_name(Some("deploy run/α:1"), "job-8"));
        let long = execution_name(Some(&"x".repeat(200)), "job-7");
        assert_eq!(long.len(), 80);
        assert!(long
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
        assert_eq!(execution_name(None, "job-7").len(), 32);
    }
}
