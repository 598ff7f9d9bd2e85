//! The verbs that act through CodePipeline's API ([`Client`]): against the local state folder or, with
//! `--endpoint`, any Sluice API. Text output is built from the API's responses, so it reads the same both
//! ways; `--output json` prints the responses themselves.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::Duration;

use serde_json::{json, Value};

use crate::args::Output;
use crate::client::{CallError, Client};
use crate::usage::{print_json, CmdResult, UsageError};
use sluice_definition::template::TemplatePipeline;

impl From<CallError> for UsageError {
    fn from(e: CallError) -> Self {
        Self(e.to_string())
    }
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

fn dash(v: &Value) -> String {
    v.as_str().map_or_else(|| "—".to_owned(), str::to_owned)
}

/// Every page of a listing operation: `member` from each response, following `nextToken`.
pub async fn all_pages(
    client: &Client,
    operation: &str,
    mut input: Value,
    member: &str,
    limit: usize,
) -> Result<Vec<Value>, CallError> {
    let mut out = Vec::new();
    loop {
        let page = client.call(operation, input.clone()).await?;
        out.extend(page[member].as_array().cloned().unwrap_or_default());
        match page["nextToken"].as_str() {
            Some(t) if out.len() < limit => input["nextToken"] = json!(t),
            _ => break,
        }
    }
    out.truncate(limit);
    Ok(out)
}

/// The pipeline an execution belongs to: named, or found by asking each pipeline.
pub async fn pipeline_of(
    client: &Client,
    pipeline: Option<String>,
    execution: &str,
) -> Result<String, UsageError> {
    if let Some(p) = pipeline {
        return Ok(p);
    }
    for p in all_pages(client, "ListPipelines", json!({}), "pipelines", usize::MAX).await? {
        let name = s(&p["name"]).to_owned();
        match client
            .call(
                "GetPipelineExecution",
                json!({"pipelineName": name, "pipelineExecutionId": execution}),
            )
            .await
        {
            Ok(_) => return Ok(name),
            Err(e) if e.kind == "PipelineExecutionNotFoundException" => {}
            Err(e) => return Err(e.into()),
        }
    }
    Err(UsageError(format!(
        "no pipeline has an execution {execution} (at {})",
        client.describe()
    )))
}

/// `sluice list`: the pipelines.
pub async fn list(client: &Client, output: Output) -> CmdResult {
    let pipelines = all_pages(client, "ListPipelines", json!({}), "pipelines", usize::MAX).await?;
    if output == Output::Json {
        print_json(&json!({ "pipelines": pipelines }));
        return Ok(ExitCode::SUCCESS);
    }
    if pipelines.is_empty() {
        outln!("no pipelines");
        return Ok(ExitCode::SUCCESS);
    }
    outln!(
        "{:<28} {:>7}  {:<5} {:<11} UPDATED",
        "PIPELINE",
        "VERSION",
        "TYPE",
        "MODE"
    );
    for p in pipelines {
        outln!(
            "{:<28} {:>7}  {:<5} {:<11} {}",
            s(&p["name"]),
            p["version"].to_string(),
            s(&p["pipelineType"]),
            s(&p["executionMode"]),
            p["updated"].as_f64().map_or_else(String::new, time_text)
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn time_text(epoch_s: f64) -> String {
    let t = epoch_s as i64;
    let f = sluice_web::sigv4::format_amz_date(t);
    format!(
        "{}-{}-{} {}:{}:{}Z",
        &f[0..4],
        &f[4..6],
        &f[6..8],
        &f[9..11],
        &f[11..13],
        &f[13..15]
    )
}

/// `sluice create` / `sluice update`: stores a definition through the API.
pub async fn put(
    client: &Client,
    definition: Value,
    template: Option<&TemplatePipeline>,
    tags: &[String],
    create: bool,
    output: Output,
) -> CmdResult {
    let mut input = json!({ "pipeline": definition });
    if let Some(t) = template {
        template_before(client, t).await?;
    }
    let template_tags: Vec<Value> = template
        .map(|t| {
            t.properties
                .tags
                .iter()
                .map(|tag| json!({"key": tag.key, "value": tag.value}))
                .collect()
        })
        .unwrap_or_default();
    if create && !(tags.is_empty() && template_tags.is_empty()) {
        let mut list = template_tags;
        for t in tags {
            let (k, v) = t
                .split_once('=')
                .ok_or_else(|| UsageError(format!("--tag takes KEY=VALUE, not {t:?}")))?;
            list.push(json!({"key": k, "value": v}));
        }
        input["tags"] = json!(list);
    }
    let operation = if create {
        "CreatePipeline"
    } else {
        "UpdatePipeline"
    };
    let resp = client.call(operation, input).await?;
    let name = s(&resp["pipeline"]["name"]).to_owned();
    let restarted = match template {
        Some(t) => template_after(client, t, &name, !create, true).await?,
        None => None,
    };
    if output == Output::Json {
        print_json(&resp);
    } else {
        outln!(
            "{} pipeline {} version {}",
            if create { "created" } else { "updated" },
            name,
            resp["pipeline"]["version"]
        );
        if let Some(id) = restarted {
            outln!("started execution {id} (RestartExecutionOnUpdate)");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// What a template declared beside its pipeline, before the pipeline is stored: its custom action types.
pub async fn template_before(
    client: &Client,
    template: &TemplatePipeline,
) -> Result<(), UsageError> {
    for (id, action_type) in &template.custom_action_types {
        match client
            .call("CreateCustomActionType", action_type.clone())
            .await
        {
            Ok(_) => {}
            // Already there from an earlier run or create: the template's resource exists.
            Err(e) if e.message.contains("already exists") => {}
            Err(e) => {
                return Err(UsageError(format!(
                    "Resources.{id}: CreateCustomActionType: {e}"
                )))
            }
        }
    }
    Ok(())
}

/// What a template declared beside its pipeline, once the pipeline is stored: disabled transitions, a restart on
/// update (RestartExecutionOnUpdate), and (`webhooks`: not for a one-shot run) its webhooks, put with PutWebhook.
pub async fn template_after(
    client: &Client,
    template: &TemplatePipeline,
    name: &str,
    updated: bool,
    webhooks: bool,
) -> Result<Option<String>, UsageError> {
    for (stage, reason) in &template.properties.disabled_transitions {
        client
            .call(
                "DisableStageTransition",
                json!({"pipelineName": name, "stageName": stage, "transitionType": "Inbound", "reason": reason}),
            )
            .await
            .map_err(|e| UsageError(format!("DisableInboundStageTransitions {stage}: {e}")))?;
        eprintln!("sluice: the transition into {stage} is disabled: {reason}");
    }
    let this_pipeline = |hook: &Value| hook["targetPipeline"].as_str() == Some(name);
    for (id, hook) in template
        .webhooks
        .iter()
        .filter(|(_, h)| webhooks && this_pipeline(h))
    {
        let mut hook = hook.clone();
        if let Some(o) = hook.as_object_mut() {
            // Properties of the resource, not of the webhook.
            o.remove("registerWithThirdParty");
            o.remove("targetPipelineVersion");
            o.entry("filters").or_insert_with(|| json!([]));
            o.entry("authenticationConfiguration")
                .or_insert_with(|| json!({}));
        }
        let put = client
            .call("PutWebhook", json!({ "webhook": hook }))
            .await
            .map_err(|e| UsageError(format!("Resources.{id}: PutWebhook: {e}")))?;
        eprintln!(
            "sluice: webhook {id} takes deliveries at {} (register it with the repository by hand)",
            s(&put["webhook"]["url"])
        );
    }
    if updated && template.properties.restart_on_update {
        let started = client
            .call("StartPipelineExecution", json!({"name": name}))
            .await
            .map_err(|e| UsageError(format!("RestartExecutionOnUpdate: {e}")))?;
        return Ok(started["pipelineExecutionId"].as_str().map(str::to_owned));
    }
    Ok(None)
}

/// `sluice delete`.
pub async fn delete(client: &Client, name: &str, output: Output) -> CmdResult {
    client
        .call("DeletePipeline", json!({ "name": name }))
        .await?;
    if output == Output::Json {
        print_json(&json!({}));
    } else {
        outln!("deleted pipeline {name}");
    }
    Ok(ExitCode::SUCCESS)
}

/// `sluice start`: starts an execution; answers its id.
pub async fn start(
    client: &Client,
    name: &str,
    vars: &[String],
    client_token: Option<&str>,
) -> Result<String, UsageError> {
    let mut input = json!({ "name": name });
    let mut variables = Vec::new();
    for v in vars {
        let (k, val) = v
            .split_once('=')
            .ok_or_else(|| UsageError(format!("--var takes NAME=VALUE, not {v:?}")))?;
        variables.push(json!({"name": k, "value": val}));
    }
    if !variables.is_empty() {
        input["variables"] = json!(variables);
    }
    if let Some(t) = client_token {
        input["clientRequestToken"] = json!(t);
    }
    let resp = client.call("StartPipelineExecution", input).await?;
    Ok(s(&resp["pipelineExecutionId"]).to_owned())
}

/// Polls an execution until it ends; prints its last line and answers the exit code.
pub async fn wait(client: &Client, pipeline: &str, execution: &str, output: Output) -> CmdResult {
    loop {
        let resp = client
            .call(
                "GetPipelineExecution",
                json!({"pipelineName": pipeline, "pipelineExecutionId": execution}),
            )
            .await?;
        let e = &resp["pipelineExecution"];
        let status = s(&e["status"]);
        if !matches!(status, "InProgress" | "Stopping") {
            if output == Output::Json {
                print_json(&resp);
            } else {
                let mut line = format!("execution {execution} {status}");
                if let Some(summary) = e["statusSummary"].as_str() {
                    line.push_str(&format!(": {summary}"));
                }
                outln!("{line}");
            }
            return Ok(if status == "Succeeded" {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            });
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// `sluice status`: every pipeline with its latest execution, or one pipeline's stages and actions.
pub async fn status(client: &Client, pipeline: Option<&str>, output: Output) -> CmdResult {
    let Some(name) = pipeline else {
        let pipelines =
            all_pages(client, "ListPipelines", json!({}), "pipelines", usize::MAX).await?;
        let mut rows = Vec::new();
        for p in pipelines {
            let latest = client
                .call(
                    "ListPipelineExecutions",
                    json!({"pipelineName": p["name"], "maxResults": 1}),
                )
                .await?;
            rows.push((p, latest["pipelineExecutionSummaries"][0].clone()));
        }
        if output == Output::Json {
            print_json(&json!(rows
                .iter()
                .map(|(p, e)| json!({"pipeline": p, "latestExecution": e}))
                .collect::<Vec<_>>()));
        } else if rows.is_empty() {
            outln!("no pipelines yet: sluice run FILE (or sluice create FILE)");
        } else {
            outln!(
                "{:<28} {:>7}  {:<12} EXECUTION",
                "PIPELINE",
                "VERSION",
                "STATUS"
            );
            for (p, e) in rows {
                outln!(
                    "{:<28} {:>7}  {:<12} {}",
                    s(&p["name"]),
                    p["version"].to_string(),
                    dash(&e["status"]),
                    s(&e["pipelineExecutionId"])
                );
            }
        }
        return Ok(ExitCode::SUCCESS);
    };
    let state = client
        .call("GetPipelineState", json!({ "name": name }))
        .await?;
    let latest = client
        .call(
            "ListPipelineExecutions",
            json!({"pipelineName": name, "maxResults": 1}),
        )
        .await?;
    let latest = &latest["pipelineExecutionSummaries"][0];
    if output == Output::Json {
        // GetPipelineState's response, plus the latest execution's summary.
        let mut state = state.clone();
        state["latestExecution"] = latest.clone();
        print_json(&state);
        return Ok(ExitCode::SUCCESS);
    }
    outln!("pipeline {name} version {}", state["pipelineVersion"]);
    if latest.is_null() {
        outln!("no executions yet");
    } else {
        outln!(
            "latest execution {} {}",
            s(&latest["pipelineExecutionId"]),
            s(&latest["status"])
        );
    }
    for stage in state["stageStates"].as_array().into_iter().flatten() {
        let inbound = &stage["inboundTransitionState"];
        if inbound["enabled"] == json!(false) {
            outln!(
                "  -- transition disabled: {}",
                s(&inbound["disabledReason"])
            );
        }
        let stage_name = s(&stage["stageName"]);
        outln!(
            "  {:<24} {}",
            stage_name,
            dash(&stage["latestExecution"]["status"])
        );
        for action in stage["actionStates"].as_array().into_iter().flatten() {
            let e = &action["latestExecution"];
            let mut line = format!(
                "    {:<22} {}",
                s(&action["actionName"]),
                dash(&e["status"])
            );
            if let Some(m) = e["errorDetails"]["message"].as_str() {
                line.push_str(&format!("  | {m}"));
            }
            outln!("{line}");
            if e["status"] == "InProgress" && e["token"].is_string() {
                outln!(
                    "      waiting for approval: sluice approve {name} {stage_name} {}",
                    s(&action["actionName"])
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `sluice history`: a pipeline's executions, newest first.
pub async fn history(client: &Client, pipeline: &str, limit: usize, output: Output) -> CmdResult {
    let executions = all_pages(
        client,
        "ListPipelineExecutions",
        json!({"pipelineName": pipeline, "maxResults": limit.clamp(1, 100)}),
        "pipelineExecutionSummaries",
        limit,
    )
    .await?;
    let mut full = Vec::new();
    for e in &executions {
        let resp = client
            .call(
                "GetPipelineExecution",
                json!({"pipelineName": pipeline, "pipelineExecutionId": e["pipelineExecutionId"]}),
            )
            .await?;
        full.push(resp["pipelineExecution"].clone());
    }
    if output == Output::Json {
        // Each execution as GetPipelineExecution shows it (with its pipeline version).
        print_json(&json!(full));
        return Ok(ExitCode::SUCCESS);
    }
    outln!(
        "{:<38} {:<12} {:>7} {:>9}  SUMMARY",
        "EXECUTION",
        "STATUS",
        "VERSION",
        "DURATION"
    );
    for (e, full) in executions.iter().zip(&full) {
        let seconds =
            e["lastUpdateTime"].as_f64().unwrap_or(0.0) - e["startTime"].as_f64().unwrap_or(0.0);
        outln!(
            "{:<38} {:<12} {:>7} {:>8.1}s  {}",
            s(&e["pipelineExecutionId"]),
            s(&e["status"]),
            full["pipelineVersion"].to_string(),
            seconds,
            s(&full["statusSummary"])
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `sluice approve` / `sluice reject`: finds the waiting approval's token and decides it.
pub async fn decide(
    client: &Client,
    pipeline: &str,
    stage: &str,
    action: &str,
    summary: Option<String>,
    approve: bool,
    output: Output,
) -> CmdResult {
    let state = client
        .call("GetPipelineState", json!({ "name": pipeline }))
        .await?;
    let stage_state = state["stageStates"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|s| s["stageName"] == stage);
    let waiting = stage_state.and_then(|st| {
        st["actionStates"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|a| a["actionName"] == action)
            .filter(|a| a["latestExecution"]["status"] == "InProgress")
            .and_then(|a| a["latestExecution"]["token"].as_str())
            .map(|t| {
                (
                    t.to_owned(),
                    s(&st["latestExecution"]["pipelineExecutionId"]).to_owned(),
                )
            })
    });
    let Some((token, execution)) = waiting else {
        return Err(UsageError(format!(
            "no approval is waiting at {stage}.{action} of pipeline {pipeline}"
        )));
    };
    let status = if approve { "Approved" } else { "Rejected" };
    let resp = client
        .call(
            "PutApprovalResult",
            json!({
                "pipelineName": pipeline, "stageName": stage, "actionName": action, "token": token,
                "result": {"summary": summary.unwrap_or_default(), "status": status},
            }),
        )
        .await?;
    if output == Output::Json {
        print_json(&resp);
    } else {
        outln!(
            "{} {stage}.{action} of execution {execution}",
            if approve { "approved" } else { "rejected" }
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `sluice stop`.
pub async fn stop(
    client: &Client,
    pipeline: &str,
    execution: &str,
    abandon: bool,
    reason: &str,
    output: Output,
) -> CmdResult {
    let resp = client
        .call(
            "StopPipelineExecution",
            json!({"pipelineName": pipeline, "pipelineExecutionId": execution,
                   "abandon": abandon, "reason": reason}),
        )
        .await?;
    if output == Output::Json {
        print_json(&resp);
    } else {
        outln!(
            "execution {execution} is stopping{}",
            if abandon {
                " (running actions abandoned)"
            } else {
                ""
            }
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `sluice retry`: answers the execution id the retry continues.
pub async fn retry(
    client: &Client,
    pipeline: &str,
    execution: &str,
    stage: &str,
    all_actions: bool,
) -> Result<String, UsageError> {
    let resp = client
        .call(
            "RetryStageExecution",
            json!({"pipelineName": pipeline, "pipelineExecutionId": execution, "stageName": stage,
                   "retryMode": if all_actions { "ALL_ACTIONS" } else { "FAILED_ACTIONS" }}),
        )
        .await?;
    Ok(s(&resp["pipelineExecutionId"]).to_owned())
}

/// `sluice rollback`: answers the rollback execution's id. With no target, the newest standard execution
/// that succeeded through the stage (ListPipelineExecutions' `succeededInStage`) is the target.
pub async fn rollback(
    client: &Client,
    pipeline: &str,
    stage: &str,
    target: Option<String>,
) -> Result<String, UsageError> {
    let target = match target {
        Some(t) => t,
        None => {
            let listed = all_pages(
                client,
                "ListPipelineExecutions",
                json!({"pipelineName": pipeline, "filter": {"succeededInStage": {"stageName": stage}}}),
                "pipelineExecutionSummaries",
                1000,
            )
            .await?;
            listed
                .iter()
                .find(|e| s(&e["executionType"]) != "ROLLBACK")
                .map(|e| s(&e["pipelineExecutionId"]).to_owned())
                .ok_or_else(|| {
                    UsageError(format!(
                        "no execution of {pipeline} succeeded through stage {stage}: nothing to roll back to"
                    ))
                })?
        }
    };
    let resp = client
        .call(
            "RollbackStage",
            json!({"pipelineName": pipeline, "stageName": stage, "targetPipelineExecutionId": target}),
        )
        .await?;
    Ok(s(&resp["pipelineExecutionId"]).to_owned())
}

/// `sluice transition enable|disable`.
pub async fn transition(
    client: &Client,
    pipeline: &str,
    stage: &str,
    enable: bool,
    reason: &str,
    output: Output,
) -> CmdResult {
    let mut input =
        json!({"pipelineName": pipeline, "stageName": stage, "transitionType": "Inbound"});
    if enable {
        client.call("EnableStageTransition", input).await?;
    } else {
        input["reason"] = json!(reason);
        client.call("DisableStageTransition", input).await?;
    }
    if output == Output::Json {
        print_json(&json!({"pipelineName": pipeline, "stageName": stage, "enabled": enable}));
    } else {
        outln!(
            "transition into {pipeline}.{stage} {}",
            if enable { "enabled" } else { "disabled" }
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Reads `KEY=VALUE` pairs.
pub fn pairs(items: &[String], flag: &str) -> Result<BTreeMap<String, String>, UsageError> {
    let mut out = BTreeMap::new();
    for item in items {
        let (k, v) = item
            .split_once('=')
            .ok_or_else(|| UsageError(format!("{flag} takes KEY=VALUE, not {item:?}")))?;
        out.insert(k.to_owned(), v.to_owned());
    }
    Ok(out)
}
