//! CodePipeline's API over the runtime, free of any transport: `handle(runtime, X-Amz-Target, body)` answers
//! what an HTTP server (or a Lambda function URL) sends back, so the aws CLI, boto3 and the SDKs work unchanged.
//!
//! The protocol is CodePipeline's JSON 1.1: `POST /` with `X-Amz-Target: CodePipeline_20150709.<Operation>`,
//! request and response members as in the service model (`botocore/data/codepipeline/2015-07-09`), and
//! errors as `{"__type": "PipelineNotFoundException", "message": "..."}`. Client errors are HTTP 400,
//! transient store trouble 503 (which the SDKs retry), anything else 500.
//!
//! Every request is checked against its operation's input shape before it is read (every missing member,
//! unknown member, wrong type and out-of-range value, each named by its path), so an operation's code only
//! sees well-formed input. Timestamps are epoch seconds as numbers, as the SDKs read them.
//!
//! This module routes each operation to its group's module; the request shapes are in [`shapes`], the
//! request and response types in [`types`], reading requests in [`request`] and the errors in [`errors`].

mod action_revisions;
mod action_types;
mod audit_events;
mod context;
mod declarations;
mod deploy_targets;
pub mod errors;
mod executions;
mod jobs;
mod pipelines;
mod request;
mod rollbacks;
mod rules;
mod shapes;
mod stage_control;
mod state;
mod tags;
mod third_party_jobs;
pub mod types;
mod webhooks;

use serde::Serialize;
use serde_json::Value;
use sluice_runtime::Runtime;

use crate::access::{self, Principal, Scope};
use crate::audit::Call;

pub use self::audit_events::LIST_AUDIT_EVENTS;
use self::context::Api;
use self::errors::ApiResult;
pub use self::errors::{ApiError, ApiResponse};
use self::request::read;
use self::shapes::*;

/// The `X-Amz-Target` prefix of CodePipeline's operations.
pub const TARGET_PREFIX: &str = "CodePipeline_20150709.";

/// Who approvals decided through the API are recorded as when the transport names no caller.
pub const API_CALLER: &str = "codepipeline-api";

/// The operations an invoked provider (a Lambda function) reports a job's result with.
pub const REPORT_OPERATIONS: [&str; 2] = ["PutJobSuccessResult", "PutJobFailureResult"];

/// Who reports on an invoked job whose signature Sluice cannot check (a Lambda function signs with its own
/// role's credentials, which Sluice does not hold): a PutJobSuccessResult or PutJobFailureResult for a job that
/// was handed to an invoked provider and has no result yet is taken on the strength of its job id, which is
/// unguessable and known only to the function the job was given to. Any other request: None (refused).
pub async fn invoked_job_caller(runtime: &Runtime, target: &str, body: &[u8]) -> Option<String> {
    let operation = target.strip_prefix(TARGET_PREFIX)?;
    if !REPORT_OPERATIONS.contains(&operation) {
        return None;
    }
    let request: Value = serde_json::from_slice(body).ok()?;
    let id = request["jobId"].as_str()?;
    let job = runtime.worker_job(id).await.ok()?;
    (job.invoked && !job.status.is_final()).then(|| format!("invoked-job:{id}"))
}

/// Answers one CodePipeline API request: `target` is the whole `X-Amz-Target` header, `body` the request body.
pub async fn handle(runtime: &Runtime, target: &str, body: &[u8]) -> ApiResponse {
    handle_as(runtime, target, body, API_CALLER).await
}

/// Answers one request on behalf of `caller` (an access key id, a user name), whom approvals are recorded as.
pub async fn handle_as(runtime: &Runtime, target: &str, body: &[u8], caller: &str) -> ApiResponse {
    handle_as_member(runtime, target, body, caller, &[]).await
}

/// Answers one request on behalf of `caller`, a member of `groups`: approval rules may name groups
/// (`Approvers: group:<name>`).
pub async fn handle_as_member(
    runtime: &Runtime,
    target: &str,
    body: &[u8],
    caller: &str,
    groups: &[String],
) -> ApiResponse {
    match answer(runtime, target, body, caller, groups).await {
        Ok(body) => ApiResponse { status: 200, body },
        Err(e) => e.response(),
    }
}

/// Answers one request on behalf of a principal: refused with `AccessDeniedException` (HTTP 400, as
/// CodePipeline refuses what IAM does not allow) unless one of its roles allows the operation on the pipeline
/// the request names ([`crate::access::need`]); changes are recorded as made by the principal's name, and
/// ListPipelines answers only the pipelines it may view. `source` says where the request came from (the
/// client's address; `console <address>` for the console's calls; `local` in process): every state-changing
/// call, refused ones included, leaves an entry in the audit log ([`crate::audit`]), which
/// [`LIST_AUDIT_EVENTS`] reads.
pub async fn handle_by(
    runtime: &Runtime,
    target: &str,
    body: &[u8],
    principal: &Principal,
    source: &str,
) -> ApiResponse {
    // Sluice's own reading of the audit log, beside CodePipeline's operations.
    if target == LIST_AUDIT_EVENTS {
        return audit_events::list_audit_events(runtime, body, principal).await;
    }
    // A state-changing call leaves an audit entry (see [`crate::audit`]): a refusal before it is answered,
    // anything else once answered. A failed record is logged and never changes the answer.
    let call = target
        .strip_prefix(TARGET_PREFIX)
        .and_then(|operation| Call::start(runtime, operation, body, principal, source));
    if let Err(e) = authorize(target, body, principal) {
        if let Some(call) = call {
            call.refused(runtime, e.kind, &e.message).await;
        }
        return e.response();
    }
    let mut response =
        handle_as_member(runtime, target, body, &principal.name, &principal.groups).await;
    if let Some(call) = call {
        call.answered(runtime, response.status, &response.body)
            .await;
    }
    if response.status == 200 && target.strip_prefix(TARGET_PREFIX) == Some("ListPipelines") {
        if let Some(Value::Array(pipelines)) = response.body.get_mut("pipelines") {
            pipelines.retain(|p| {
                p["name"]
                    .as_str()
                    .is_some_and(|n| principal.role_on(n).is_some())
            });
        }
    }
    response
}

/// Whether `principal` may make this request; the refusal names the operation, the pipeline and the roles.
pub fn authorize(target: &str, body: &[u8], principal: &Principal) -> Result<(), ApiError> {
    let Some(operation) = target.strip_prefix(TARGET_PREFIX) else {
        return Ok(());
    };
    let request: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let Some(need) = access::need(operation, &request) else {
        return Ok(());
    };
    if principal.may(&need) {
        return Ok(());
    }
    let (resource, held) = match &need.scope {
        Scope::Pipeline(p) => (format!("pipeline {p}"), principal.role_on(p)),
        Scope::Everything => (
            "every pipeline (`*`)".to_owned(),
            principal.role_everywhere(),
        ),
        Scope::Anywhere => (
            "any pipeline".to_owned(),
            principal.grants.iter().map(|g| g.role).max(),
        ),
    };
    let has = match held {
        Some(role) => format!("{} is {role} there", principal.name),
        None => format!("{} has no role there", principal.name),
    };
    Err(ApiError::new(
        "AccessDeniedException",
        format!(
            "User: {} is not authorized to perform: codepipeline:{operation} on resource: {resource} (it needs {}; {has})",
            principal.name, need.role
        ),
    ))
}

pub(crate) async fn answer(
    runtime: &Runtime,
    target: &str,
    body: &[u8],
    caller: &str,
    groups: &[String],
) -> ApiResult<Value> {
    let Some(operation) = target.strip_prefix(TARGET_PREFIX) else {
        return Err(unknown_operation(target));
    };
    let api = Api {
        runtime,
        caller,
        groups,
    };
    match operation {
        "CreatePipeline" => reply(api.create_pipeline(read(body, &CREATE_PIPELINE)?).await),
        "GetPipeline" => reply(api.get_pipeline(read(body, &GET_PIPELINE)?).await),
        "UpdatePipeline" => reply(api.update_pipeline(read(body, &UPDATE_PIPELINE)?).await),
        "DeletePipeline" => reply(api.delete_pipeline(read(body, &DELETE_PIPELINE)?).await),
        "ListPipelines" => reply(api.list_pipelines(read(body, &LIST_PIPELINES)?).await),
        "StartPipelineExecution" => reply(api.start_execution(read(body, &START_EXECUTION)?).await),
        "StopPipelineExecution" => reply(api.stop_execution(read(body, &STOP_EXECUTION)?).await),
        "GetPipelineExecution" => reply(api.get_execution(read(body, &GET_EXECUTION)?).await),
        "ListPipelineExecutions" => reply(api.list_executions(read(body, &LIST_EXECUTIONS)?).await),
        "ListActionExecutions" => reply(
            api.list_action_executions(read(body, &LIST_ACTION_EXECUTIONS)?)
                .await,
        ),
        "GetPipelineState" => reply(api.get_state(read(body, &GET_STATE)?).await),
        "PutApprovalResult" => reply(api.put_approval_result(read(body, &PUT_APPROVAL)?).await),
        "EnableStageTransition" => {
            reply(api.enable_transition(read(body, &ENABLE_TRANSITION)?).await)
        }
        "DisableStageTransition" => reply(
            api.disable_transition(read(body, &DISABLE_TRANSITION)?)
                .await,
        ),
        "RetryStageExecution" => reply(api.retry_stage(read(body, &RETRY_STAGE)?).await),
        "RollbackStage" => reply(api.rollback_stage(read(body, &ROLLBACK_STAGE)?).await),
        "CreateCustomActionType" => reply(
            api.create_custom_action_type(read(body, &CREATE_CUSTOM_ACTION_TYPE)?)
                .await,
        ),
        "DeleteCustomActionType" => reply(
            api.delete_custom_action_type(read(body, &DELETE_CUSTOM_ACTION_TYPE)?)
                .await,
        ),
        "ListActionTypes" => reply(api.list_action_types(read(body, &LIST_ACTION_TYPES)?).await),
        "PollForJobs" => reply(api.poll_for_jobs(read(body, &POLL_FOR_JOBS)?).await),
        "AcknowledgeJob" => reply(api.acknowledge_job(read(body, &ACKNOWLEDGE_JOB)?).await),
        "GetJobDetails" => reply(api.get_job_details(read(body, &GET_JOB_DETAILS)?).await),
        "PutJobSuccessResult" => reply(api.put_job_success(read(body, &PUT_JOB_SUCCESS)?).await),
        "PutJobFailureResult" => reply(api.put_job_failure(read(body, &PUT_JOB_FAILURE)?).await),
        "TagResource" => reply(api.tag_resource(read(body, &TAG_RESOURCE)?).await),
        "UntagResource" => reply(api.untag_resource(read(body, &UNTAG_RESOURCE)?).await),
        "ListTagsForResource" => reply(api.list_tags(read(body, &LIST_TAGS)?).await),
        "PutWebhook" => reply(api.put_webhook(read(body, &PUT_WEBHOOK)?).await),
        "ListWebhooks" => reply(api.list_webhooks(read(body, &LIST_WEBHOOKS)?).await),
        "DeleteWebhook" => reply(api.delete_webhook(read(body, &DELETE_WEBHOOK)?).await),
        "RegisterWebhookWithThirdParty" => reply(
            api.register_webhook(read(body, &THIRD_PARTY_WEBHOOK)?)
                .await,
        ),
        "DeregisterWebhookWithThirdParty" => reply(
            api.deregister_webhook(read(body, &THIRD_PARTY_WEBHOOK)?)
                .await,
        ),
        "GetActionType" => reply(api.get_action_type(read(body, &GET_ACTION_TYPE)?).await),
        "UpdateActionType" => reply(
            api.update_action_type(read(body, &UPDATE_ACTION_TYPE)?)
                .await,
        ),
        "PutActionRevision" => reply(
            api.put_action_revision(read(body, &PUT_ACTION_REVISION)?)
                .await,
        ),
        "ListDeployActionExecutionTargets" => reply(
            api.list_deploy_targets(read(body, &LIST_DEPLOY_TARGETS)?)
                .await,
        ),
        "PollForThirdPartyJobs" => reply(
            api.poll_for_third_party_jobs(read(body, &POLL_FOR_THIRD_PARTY_JOBS)?)
                .await,
        ),
        "GetThirdPartyJobDetails" => reply(
            api.get_third_party_job_details(read(body, &GET_THIRD_PARTY_JOB_DETAILS)?)
                .await,
        ),
        "AcknowledgeThirdPartyJob" => reply(
            api.acknowledge_third_party_job(read(body, &ACKNOWLEDGE_THIRD_PARTY_JOB)?)
                .await,
        ),
        "PutThirdPartyJobSuccessResult" => reply(
            api.put_third_party_job_success(read(body, &PUT_THIRD_PARTY_JOB_SUCCESS)?)
                .await,
        ),
        "PutThirdPartyJobFailureResult" => reply(
            api.put_third_party_job_failure(read(body, &PUT_THIRD_PARTY_JOB_FAILURE)?)
                .await,
        ),
        "ListRuleTypes" => reply(api.list_rule_types(read(body, &LIST_RULE_TYPES)?).await),
        "ListRuleExecutions" => reply(
            api.list_rule_executions(read(body, &LIST_RULE_EXECUTIONS)?)
                .await,
        ),
        "OverrideStageCondition" => reply(
            api.override_stage_condition(read(body, &OVERRIDE_STAGE_CONDITION)?)
                .await,
        ),
        _ => Err(unknown_operation(target)),
    }
}

pub(crate) fn unknown_operation(target: &str) -> ApiError {
    ApiError::new(
        "UnknownOperationException",
        format!("{target} is not an operation of CodePipeline_20150709"),
    )
}

pub(crate) fn reply<T: Serialize>(result: ApiResult<T>) -> ApiResult<Value> {
    let output = result?;
    serde_json::to_value(output).map_err(|e| ApiError {
        kind: "InternalFailure",
        message: format!("could not write the response: {e}"),
        status: 500,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An HTTP server or a Lambda runtime spawns `handle`'s future: it must be Send.
    #[allow(dead_code)]
    fn handle_is_send(runtime: &Runtime) {
        fn send<T: Send>(_: T) {}
        send(handle(runtime, "", b""));
    }
}
