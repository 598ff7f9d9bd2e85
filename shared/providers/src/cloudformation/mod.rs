//! `Deploy/AWS/CloudFormation`: stacks and change sets, as CodePipeline's action does them.
//!
//! - `CREATE_UPDATE` creates the stack, or updates it; an update with nothing to change succeeds ("No updates
//!   are to be performed"). A stack in a failed state (`ROLLBACK_COMPLETE`, `*_FAILED`) fails the action.
//! - `REPLACE_ON_FAILURE` does the same, but deletes a stack in a failed state (or `REVIEW_IN_PROGRESS`) and
//!   creates it again.
//! - `DELETE_ONLY` deletes the stack; a stack that does not exist is success.
//! - `CHANGE_SET_REPLACE` (re)creates the named change set (CREATE type for a new stack) and waits until it is
//!   ready; a change set with no changes is success.
//! - `CHANGE_SET_EXECUTE` executes it and waits for the stack; a change set with no changes is success.
//!
//! The template comes from `TemplatePath` (`Artifact::file`), inline up to 51,200 bytes and through S3 above
//! that. Parameters: `TemplateConfiguration`'s `Parameters`, overridden by `ParameterOverrides`, whose values may
//! be `Fn::GetArtifactAtt` (`BucketName`, `ObjectKey`, `URL` of an input artifact) and `Fn::GetParam` (a key of a
//! JSON file in an input artifact). Tags and `StackPolicy` from the configuration file, `Capabilities`
//! (comma-separated), `RoleArn` (not for `CHANGE_SET_EXECUTE`). On success the stack's outputs become the
//! action's output variables, and `OutputFileName` writes them as a JSON object into the output artifact. A
//! failure names the first resource that failed and why, from the stack's events.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_cloudformation::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_cloudformation::types::{ChangeSetType, Stack};
use aws_sdk_cloudformation::Client;
use serde_json::{json, Value};
use sluice_runtime::jobs::{ExternalExecution, JobOutcome};

use crate::artifacts;
use crate::provider::{sdk_error, Context, Provider, Step};

mod inputs;

use inputs::{template, Config};

/// Statuses CloudFormation cannot update a stack from.
const FAILED_STATES: &[&str] = &[
    "ROLLBACK_COMPLETE",
    "ROLLBACK_FAILED",
    "CREATE_FAILED",
    "DELETE_FAILED",
    "UPDATE_ROLLBACK_FAILED",
];

/// The provider.
pub struct CloudFormation;

#[async_trait]
impl Provider for CloudFormation {
    async fn start(&self, ctx: &Context<'_>) -> Result<Step, String> {
        let cfg = Config::read(ctx)?;
        let client = Client::new(ctx.sdk);
        match cfg.mode.as_str() {
            "DELETE_ONLY" => delete(ctx, &client, &cfg).await,
            "CREATE_UPDATE" | "REPLACE_ON_FAILURE" => deploy(ctx, &client, &cfg).await,
            "CHANGE_SET_REPLACE" => create_change_set(ctx, &client, &cfg).await,
            "CHANGE_SET_EXECUTE" => execute_change_set(ctx, &client, &cfg).await,
            other => Err(format!(
                "ActionMode {other} is not one of CREATE_UPDATE, DELETE_ONLY, REPLACE_ON_FAILURE, \
                 CHANGE_SET_REPLACE, CHANGE_SET_EXECUTE"
            )),
        }
    }

    async fn check(&self, ctx: &Context<'_>, state: &Value) -> Result<Step, String> {
        let cfg = Config::read(ctx)?;
        let client = Client::new(ctx.sdk);
        let op = state["operation"].as_str().unwrap_or_default();
        let stack_id = state["stackId"].as_str().unwrap_or(&cfg.stack);
        let since = state["sinceMs"].as_i64().unwrap_or(0);
        if op == "CREATE_CHANGE_SET" {
            return change_set_ready(ctx, &client, &cfg, state).await;
        }
        let stack = describe(&client, stack_id).await?;
        let status = stack.as_ref().map(status_of);
        match settle(op, status.as_deref()) {
            Settled::Wait(s) => Ok(wait(&cfg, state.clone(), stack_id, s)),
            Settled::Deleted => Ok(Step::Done(JobOutcome::Succeeded {
                artifacts: BTreeMap::new(),
                variables: BTreeMap::new(),
                summary: Some(format!("Stack {} deleted", cfg.stack)),
                revision: None,
            })),
            // The failed stack is gone: create it anew.
            Settled::Recreate => create(ctx, &client, &cfg).await,
            Settled::Succeeded(s) => {
                let stack = stack.expect("a stack with a status");
                succeeded(ctx, &cfg, &stack, format!("Stack {} is {s}", cfg.stack)).await
            }
            Settled::Gone => Ok(Step::failed(format!(
                "stack {} does not exist any more",
                cfg.stack
            ))),
            Settled::Failed(s) => Ok(Step::failed(format!(
                "stack {} {}: {}",
                cfg.stack,
                if s == "DELETE_FAILED" {
                    "could not be deleted".to_owned()
                } else {
                    format!("ended {s}")
                },
                failure_reason(&client, stack_id, since).await
            ))),
        }
    }
}

/// Where a stack operation stands, from the operation and the stack's status (`None`: no such stack).
#[derive(Debug, PartialEq, Eq)]
enum Settled<'a> {
    Wait(&'a str),
    Deleted,
    Recreate,
    Succeeded(&'a str),
    Gone,
    Failed(&'a str),
}

fn settle<'a>(op: &str, status: Option<&'a str>) -> Settled<'a> {
    let deleting = matches!(op, "DELETE" | "REPLACE_DELETE");
    match status {
        None | Some("DELETE_COMPLETE") if deleting => {
            if op == "DELETE" {
                Settled::Deleted
            } else {
                Settled::Recreate
            }
        }
        None | Some("DELETE_COMPLETE") => Settled::Gone,
        Some(s @ "DELETE_FAILED") if deleting => Settled::Failed(s),
        // Until the deletion shows, the stack keeps the status it had.
        Some(s) if deleting || s.ends_with("_IN_PROGRESS") => Settled::Wait(s),
        Some(s @ ("CREATE_COMPLETE" | "UPDATE_COMPLETE" | "IMPORT_COMPLETE")) => {
            Settled::Succeeded(s)
        }
        Some(s) => Settled::Failed(s),
    }
}

fn status_of(stack: &Stack) -> String {
    stack
        .stack_status()
        .map(|s| s.as_str().to_owned())
        .unwrap_or_default()
}

fn not_found<E: ProvideErrorMetadata>(e: &SdkError<E>) -> bool {
    e.code() == Some("ValidationError") && e.message().is_some_and(|m| m.contains("does not exist"))
}

/// The stack (by name or id), None when it does not exist.
async fn describe(client: &Client, stack: &str) -> Result<Option<Stack>, String> {
    match client.describe_stacks().stack_name(stack).send().await {
        Ok(out) => Ok(out.stacks().first().cloned()),
        Err(e) if not_found(&e) => Ok(None),
        Err(e) => Err(format!("DescribeStacks {stack}: {}", sdk_error(&e))),
    }
}

fn external(cfg: &Config, stack_id: &str, status: &str) -> ExternalExecution {
    let region = stack_id.split(':').nth(3).unwrap_or("us-east-1");
    ExternalExecution {
        id: stack_id.to_owned(),
        url: Some(format!(
            "https://console.aws.amazon.com/cloudformation/home?region={region}#/stacks/stackinfo?stackId={}",
            stack_id.replace(':', "%3A").replace('/', "%2F")
        )),
        summary: Some(format!("Stack {}: {status}", cfg.stack)),
    }
}

fn wait(cfg: &Config, mut state: Value, stack_id: &str, status: &str) -> Step {
    state["externalIds"] = json!([stack_id]);
    Step::Wait {
        state,
        external: external(cfg, stack_id, status),
        after: Duration::ZERO,
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

async fn delete(ctx: &Context<'_>, client: &Client, cfg: &Config) -> Result<Step, String> {
    let stack = describe(client, &cfg.stack).await?;
    let Some(stack) = stack.filter(|s| status_of(s) != "DELETE_COMPLETE") else {
        return Ok(Step::Done(JobOutcome::Succeeded {
            artifacts: BTreeMap::new(),
            variables: BTreeMap::new(),
            summary: Some(format!(
                "Stack {} does not exist: nothing to delete",
                cfg.stack
            )),
            revision: None,
        }));
    };
    let id = stack.stack_id().unwrap_or(&cfg.stack).to_owned();
    client
        .delete_stack()
        .stack_name(&id)
        .set_role_arn(cfg.role_arn.clone())
        .send()
        .await
        .map_err(|e| format!("DeleteStack {}: {}", cfg.stack, sdk_error(&e)))?;
    let _ = ctx;
    Ok(wait(
        cfg,
        json!({"operation": "DELETE", "stackId": id, "sinceMs": now_ms()}),
        &id,
        "DELETE_IN_PROGRESS",
    ))
}

async fn deploy(ctx: &Context<'_>, client: &Client, cfg: &Config) -> Result<Step, String> {
    let stack = describe(client, &cfg.stack).await?;
    let status = stack.as_ref().map(status_of);
    match status.as_deref() {
        None | Some("DELETE_COMPLETE") => create(ctx, client, cfg).await,
        Some(s) if FAILED_STATES.contains(&s) || s == "REVIEW_IN_PROGRESS" => {
            if cfg.mode != "REPLACE_ON_FAILURE" {
                return Err(format!(
                    "stack {} is {s}, which CloudFormation cannot update: delete it, or use ActionMode \
                     REPLACE_ON_FAILURE",
                    cfg.stack
                ));
            }
            let id = stack
                .as_ref()
                .and_then(|s| s.stack_id())
                .unwrap_or(&cfg.stack)
                .to_owned();
            client
                .delete_stack()
                .stack_name(&id)
                .set_role_arn(cfg.role_arn.clone())
                .send()
                .await
                .map_err(|e| format!("DeleteStack {}: {}", cfg.stack, sdk_error(&e)))?;
            Ok(wait(
                cfg,
                json!({"operation": "REPLACE_DELETE", "stackId": id, "sinceMs": now_ms()}),
                &id,
                "DELETE_IN_PROGRESS",
            ))
        }
        Some(s) if s.ends_with("_IN_PROGRESS") => Err(format!(
            "stack {} is {s}: another operation on it has not finished",
            cfg.stack
        )),
        Some(_) => update(ctx, client, cfg, stack.as_ref()).await,
    }
}

async fn create(ctx: &Context<'_>, client: &Client, cfg: &Config) -> Result<Step, String> {
    let t = template(ctx, cfg).await?;
    let out = client
        .create_stack()
        .stack_name(&cfg.stack)
        .set_template_body(t.body)
        .set_template_url(t.url)
        .set_parameters(Some(t.parameters))
        .set_tags(Some(t.tags).filter(|t| !t.is_empty()))
        .set_stack_policy_body(t.policy)
        .set_capabilities(Some(cfg.capabilities.clone()).filter(|c| !c.is_empty()))
        .set_role_arn(cfg.role_arn.clone())
        .send()
        .await
        .map_err(|e| format!("CreateStack {}: {}", cfg.stack, sdk_error(&e)))?;
    let id = out.stack_id().unwrap_or(&cfg.stack).to_owned();
    Ok(wait(
        cfg,
        json!({"operation": "CREATE", "stackId": id, "sinceMs": now_ms()}),
        &id,
        "CREATE_IN_PROGRESS",
    ))
}

async fn update(
    ctx: &Context<'_>,
    client: &Client,
    cfg: &Config,
    stack: Option<&Stack>,
) -> Result<Step, String> {
    let t = template(ctx, cfg).await?;
    let sent = client
        .update_stack()
        .stack_name(&cfg.stack)
        .set_template_body(t.body)
        .set_template_url(t.url)
        .set_parameters(Some(t.parameters))
        .set_tags(Some(t.tags).filter(|t| !t.is_empty()))
        .set_stack_policy_body(t.policy)
        .set_capabilities(Some(cfg.capabilities.clone()).filter(|c| !c.is_empty()))
        .set_role_arn(cfg.role_arn.clone())
        .send()
        .await;
    match sent {
        Ok(out) => {
            let id = out.stack_id().unwrap_or(&cfg.stack).to_owned();
            Ok(wait(
                cfg,
                json!({"operation": "UPDATE", "stackId": id, "sinceMs": now_ms()}),
                &id,
                "UPDATE_IN_PROGRESS",
            ))
        }
        Err(e)
            if e.message()
                .is_some_and(|m| m.contains("No updates are to be performed")) =>
        {
            let Some(stack) = stack else {
                return Err(format!("stack {} vanished", cfg.stack));
            };
            succeeded(
                ctx,
                cfg,
                stack,
                format!("Stack {}: no updates to perform", cfg.stack),
            )
            .await
        }
        Err(e) => Err(format!("UpdateStack {}: {}", cfg.stack, sdk_error(&e))),
    }
}

async fn create_change_set(
    ctx: &Context<'_>,
    client: &Client,
    cfg: &Config,
) -> Result<Step, String> {
    let name = cfg.change_set.clone().unwrap_or_default();
    let stack = describe(client, &cfg.stack).await?;
    let status = stack.as_ref().map(status_of);
    let kind = match status.as_deref() {
        None | Some("DELETE_COMPLETE" | "REVIEW_IN_PROGRESS") => ChangeSetType::Create,
        Some(s) if s.ends_with("_IN_PROGRESS") => {
            return Err(format!(
                "stack {} is {s}: another operation on it has not finished",
                cfg.stack
            ))
        }
        Some(_) => ChangeSetType::Update,
    };
    if stack.is_some() {
        // A change set of that name is replaced.
        let _ = client
            .delete_change_set()
            .stack_name(&cfg.stack)
            .change_set_name(&name)
            .send()
            .await;
    }
    let t = template(ctx, cfg).await?;
    let out = client
        .create_change_set()
        .stack_name(&cfg.stack)
        .change_set_name(&name)
        .change_set_type(kind)
        .set_template_body(t.body)
        .set_template_url(t.url)
        .set_parameters(Some(t.parameters))
        .set_tags(Some(t.tags).filter(|t| !t.is_empty()))
        .set_capabilities(Some(cfg.capabilities.clone()).filter(|c| !c.is_empty()))
        .set_role_arn(cfg.role_arn.clone())
        .send()
        .await;
    let out = match out {
        Ok(out) => out,
        // Some CloudFormations (and emulators) refuse a change set that changes nothing outright.
        Err(e) if e.message().is_some_and(no_changes) => {
            return Ok(Step::Done(JobOutcome::Succeeded {
                artifacts: BTreeMap::new(),
                variables: BTreeMap::new(),
                summary: Some(format!(
                    "Change set {name} of stack {} has no changes",
                    cfg.stack
                )),
                revision: None,
            }))
        }
        Err(e) => {
            return Err(format!(
                "CreateChangeSet {name} of {}: {}",
                cfg.stack,
                sdk_error(&e)
            ))
        }
    };
    let id = out.stack_id().unwrap_or(&cfg.stack).to_owned();
    let change_set = out.id().unwrap_or(&name).to_owned();
    Ok(wait(
        cfg,
        json!({"operation": "CREATE_CHANGE_SET", "stackId": id, "changeSetId": change_set, "sinceMs": now_ms()}),
        &id,
        "CREATE_PENDING",
    ))
}

/// Whether a change set's status reason says it changes nothing.
fn no_changes(reason: &str) -> bool {
    reason.contains("didn't contain changes") || reason.contains("No updates are to be performed")
}

async fn change_set_ready(
    ctx: &Context<'_>,
    client: &Client,
    cfg: &Config,
    state: &Value,
) -> Result<Step, String> {
    let change_set = state["changeSetId"].as_str().unwrap_or_default();
    let stack_id = state["stackId"].as_str().unwrap_or(&cfg.stack);
    let out = client
        .describe_change_set()
        .change_set_name(change_set)
        .stack_name(stack_id)
        .send()
        .await
        .map_err(|e| format!("DescribeChangeSet {change_set}: {}", sdk_error(&e)))?;
    let status = out
        .status()
        .map(|s| s.as_str().to_owned())
        .unwrap_or_default();
    let reason = out.status_reason().unwrap_or_default();
    let name = cfg.change_set.clone().unwrap_or_default();
    match status.as_str() {
        "CREATE_COMPLETE" => {
            let summary = format!("Change set {name} of stack {} is ready", cfg.stack);
            match describe(client, stack_id)
                .await?
                .filter(|s| status_of(s) != "REVIEW_IN_PROGRESS")
            {
                Some(stack) => succeeded(ctx, cfg, &stack, summary).await,
                None => Ok(Step::Done(JobOutcome::Succeeded {
                    artifacts: BTreeMap::new(),
                    variables: BTreeMap::new(),
                    summary: Some(summary),
                    revision: None,
                })),
            }
        }
        "FAILED" if no_changes(reason) => Ok(Step::Done(JobOutcome::Succeeded {
            artifacts: BTreeMap::new(),
            variables: BTreeMap::new(),
            summary: Some(format!(
                "Change set {name} of stack {} has no changes",
                cfg.stack
            )),
            revision: None,
        })),
        "FAILED" => Ok(Step::failed(format!(
            "change set {name} of stack {} failed: {reason}",
            cfg.stack
        ))),
        other => Ok(wait(cfg, state.clone(), stack_id, other)),
    }
}

async fn execute_change_set(
    ctx: &Context<'_>,
    client: &Client,
    cfg: &Config,
) -> Result<Step, String> {
    let name = cfg.change_set.clone().unwrap_or_default();
    let out = match client
        .describe_change_set()
        .change_set_name(&name)
        .stack_name(&cfg.stack)
        .send()
        .await
    {
        Ok(out) => out,
        Err(e) if e.code() == Some("ChangeSetNotFound") || not_found(&e) => {
            return Err(format!(
            "change set {name} of stack {} does not exist (it is used up once executed: create it \
                 again with CHANGE_SET_REPLACE)",
            cfg.stack
        ))
        }
        Err(e) => return Err(format!("DescribeChangeSet {name}: {}", sdk_error(&e))),
    };
    let status = out
        .status()
        .map(|s| s.as_str().to_owned())
        .unwrap_or_default();
    let reason = out.status_reason().unwrap_or_default();
    let stack_id = out.stack_id().unwrap_or(&cfg.stack).to_owned();
    if status == "FAILED" && no_changes(reason) {
        return match describe(client, &stack_id).await? {
            Some(stack) => {
                succeeded(
                    ctx,
                    cfg,
                    &stack,
                    format!("Change set {name} has no changes"),
                )
                .await
            }
            None => Err(format!("stack {} does not exist", cfg.stack)),
        };
    }
    if status != "CREATE_COMPLETE" {
        return Err(format!(
            "change set {name} of stack {} is {status}, not ready to execute{}",
            cfg.stack,
            if reason.is_empty() {
                String::new()
            } else {
                format!(": {reason}")
            }
        ));
    }
    client
        .execute_change_set()
        .change_set_name(&name)
        .stack_name(&stack_id)
        .send()
        .await
        .map_err(|e| format!("ExecuteChangeSet {name}: {}", sdk_error(&e)))?;
    Ok(wait(
        cfg,
        json!({"operation": "EXECUTE_CHANGE_SET", "stackId": stack_id, "sinceMs": now_ms()}),
        &stack_id,
        "UPDATE_IN_PROGRESS",
    ))
}

/// Success: the stack's outputs as variables and, with `OutputFileName`, as the output artifact.
async fn succeeded(
    ctx: &Context<'_>,
    cfg: &Config,
    stack: &Stack,
    summary: String,
) -> Result<Step, String> {
    let variables: BTreeMap<String, String> = stack
        .outputs()
        .iter()
        .filter_map(|o| {
            Some((
                o.output_key()?.to_owned(),
                o.output_value().unwrap_or_default().to_owned(),
            ))
        })
        .collect();
    let mut artifacts = BTreeMap::new();
    if let (Some(file), Some(output)) = (&cfg.output_file, ctx.job.outputs.first()) {
        let body = serde_json::to_vec_pretty(&variables).map_err(|e| e.to_string())?;
        let info = artifacts::write_output(ctx, output, &[(file.clone(), body)]).await?;
        artifacts.insert(output.name.clone(), info);
    }
    Ok(Step::Done(JobOutcome::Succeeded {
        artifacts,
        variables,
        summary: Some(summary),
        revision: None,
    }))
}

/// Why a stack operation failed: the first resource that failed since it started, from the stack's events.
async fn failure_reason(client: &Client, stack: &str, since_ms: i64) -> String {
    let mut events = Vec::new();
    let mut token = None;
    for _ in 0..10 {
        let out = match client
            .describe_stack_events()
            .stack_name(stack)
            .set_next_token(token.take())
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) => return format!("the stack's events could not be read: {}", sdk_error(&e)),
        };
        let before = events.len();
        events.extend(out.stack_events().iter().map(|e| {
            Event {
                at_ms: e.timestamp().map_or(0, |t| t.to_millis().unwrap_or(0)),
                resource_type: e.resource_type().unwrap_or("?").to_owned(),
                logical_id: e.logical_resource_id().unwrap_or("?").to_owned(),
                status: e
                    .resource_status()
                    .map(|s| s.as_str().to_owned())
                    .unwrap_or_default(),
                reason: e.resource_status_reason().unwrap_or_default().to_owned(),
            }
        }));
        let older = events[before..].iter().any(|e| e.at_ms + 1000 < since_ms);
        token = out.next_token().map(str::to_owned);
        if older || token.is_none() {
            break;
        }
    }
    reason_from(&events, since_ms)
}

/// One stack event, as far as a failure's reason needs it.
struct Event {
    at_ms: i64,
    resource_type: String,
    logical_id: String,
    status: String,
    reason: String,
}

/// The first resource that failed among events listed newest first, else the stack's own reason.
fn reason_from(events: &[Event], since_ms: i64) -> String {
    // A second of slack: the operation's start is our clock, the events are CloudFormation's.
    let recent = events.iter().take_while(|e| e.at_ms + 1000 >= since_ms);
    let mut first_failed = None;
    let mut stack_reason = None;
    for e in recent {
        if e.resource_type == "AWS::CloudFormation::Stack" {
            if stack_reason.is_none() && !e.reason.is_empty() {
                stack_reason = Some(e.reason.clone());
            }
        } else if e.status.ends_with("FAILED") {
            // Newest first: the last failure listed happened first.
            first_failed = Some(format!(
                "{} ({}) {}: {}",
                e.logical_id, e.resource_type, e.status, e.reason
            ));
        }
    }
    first_failed
        .or(stack_reason)
        .unwrap_or_else(|| "no failed resource is recorded in the stack's events".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_settle_by_the_stacks_status() {
        use Settled::*;
        assert_eq!(
            settle("CREATE", Some("CREATE_IN_PROGRESS")),
            Wait("CREATE_IN_PROGRESS")
        );
        assert_eq!(
            settle("CREATE", Some("CREATE_COMPLETE")),
            Succeeded("CREATE_COMPLETE")
        );
        assert_eq!(
            settle("UPDATE", Some("UPDATE_COMPLETE_CLEANUP_IN_PROGRESS")),
            Wait("UPDATE_COMPLETE_CLEANUP_IN_PROGRESS")
        );
        assert_eq!(
            settle("UPDATE", Some("UPDATE_ROLLBACK_COMPLETE")),
            Failed("UPDATE_ROLLBACK_COMPLETE")
        );
        assert_eq!(
            settle("CREATE", Some("ROLLBACK_COMPLETE")),
            Failed("ROLLBACK_COMPLETE")
        );
        assert_eq!(
            settle("CREATE", Some("CREATE_FAILED")),
            Failed("CREATE_FAILED")
        );
        assert_eq!(
            settle("EXECUTE_CHANGE_SET", Some("UPDATE_ROLLBACK_FAILED")),
            Failed("UPDATE_ROLLBACK_FAILED")
        );
        assert_eq!(settle("UPDATE", None), Gone);
        assert_eq!(settle("UPDATE", Some("DELETE_COMPLETE")), Gone);
        assert_eq!(settle("DELETE", None), Deleted);
        assert_eq!(settle("DELETE", Some("DELETE_COMPLETE")), Deleted);
        assert_eq!(
            settle("DELETE", Some("DELETE_FAILED")),
            Failed("DELETE_FAILED")
        );
        assert_eq!(
            settle("DELETE", Some("ROLLBACK_COMPLETE")),
            Wait("ROLLBACK_COMPLETE")
        );
        assert_eq!(settle("REPLACE_DELETE", None), Recreate);
        assert_eq!(
            settle("REPLACE_DELETE", Some("DELETE_IN_PROGRESS")),
            Wait("DELETE_IN_PROGRESS")
        );
    }

    fn event(at_ms: i64, resource_type: &str, id: &str, status: &str, reason: &str) -> Event {
        Event {
            at_ms,
            resource_type: resource_type.into(),
            logical_id: id.into(),
            status: status.into(),
            reason: reason.into(),
        }
    }

    #[test]
    fn the_reason_is_the_first_resource_that_failed_in_this_operation() {
        let stack = "AWS::CloudFormation::Stack";
        let events = [
            event(9_000, stack, "app", "ROLLBACK_COMPLETE", ""),
            event(8_000, "AWS::SQS::Queue", "Jobs", "DELETE_COMPLETE", ""),
            event(
                7_000,
                stack,
                "app",
                "ROLLBACK_IN_PROGRESS",
                "The following resource(s) failed to create: [Bucket].",
            ),
            event(
                6_500,
                "AWS::SQS::Queue",
                "Jobs",
                "CREATE_FAILED",
                "Resource creation cancelled",
            ),
            event(
                6_000,
                "AWS::S3::Bucket",
                "Bucket",
                "CREATE_FAILED",
                "bucket name taken",
            ),
            event(5_000, stack, "app", "CREATE_IN_PROGRESS", "User Initiated"),
            // An earlier operation's failure is not this one's reason.
            event(1_000, "AWS::S3::Bucket", "Bucket", "CREATE_FAILED", "older"),
        ];
        assert_eq!(
            reason_from(&events, 5_000),
            "Bucket (AWS::S3::Bucket) CREATE_FAILED: bucket name taken"
        );
        assert_eq!(
            reason_from(&events[..3], 5_000),
            "The following resource(s) failed to create: [Bucket]."
        );
        assert_eq!(
            reason_from(&events[6..], 5_000),
            "no failed resource is recorded in the stack's events"
        );
    }
}
