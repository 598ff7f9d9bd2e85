//! The console's changes: each form posts here (`POST /pipelines/{name}/actions` with `op`), becomes one
//! CodePipeline API call made as the signed-in key, and answers with a redirect back to the pipeline (or the
//! API's refusal, shown).

use serde_json::{json, Value};
use tracing::info;

use super::context::Ctx;
use super::html::{enc, esc, Page};
use super::request::{field, redirect, ConsoleReply};

/// Carries out one form's change.
pub(super) async fn act(ctx: &Ctx<'_>, name: &str, fields: &[(String, String)]) -> ConsoleReply {
    let get = |key: &str| field(fields, key).unwrap_or("").trim().to_owned();
    let op = get("op");
    // The approvals page sends its forms back to itself; every other form goes back to the pipeline.
    let mut back = if get("back") == super::waiting::PATH {
        super::waiting::PATH.to_owned()
    } else {
        format!("/pipelines/{}", enc(name))
    };
    let call: Result<(&str, Value), String> = match op.as_str() {
        "start" => variables(&get("variables")).map(|vars| {
            let mut input = json!({"name": name});
            if !vars.is_empty() {
                input["variables"] = json!(vars);
            }
            ("StartPipelineExecution", input)
        }),
        "stop" => {
            let mut input = json!({
                "pipelineName": name,
                "pipelineExecutionId": get("executionId"),
                "abandon": get("abandon") == "true",
            });
            if !get("reason").is_empty() {
                input["reason"] = json!(get("reason"));
            }
            Ok(("StopPipelineExecution", input))
        }
        "retry" => Ok((
            "RetryStageExecution",
            json!({
                "pipelineName": name,
                "stageName": get("stage"),
                "pipelineExecutionId": get("executionId"),
                "retryMode": if get("mode") == "ALL_ACTIONS" { "ALL_ACTIONS" } else { "FAILED_ACTIONS" },
            }),
        )),
        "rollback" => Ok((
            "RollbackStage",
            json!({"pipelineName": name, "stageName": get("stage"), "targetPipelineExecutionId": get("target")}),
        )),
        "approve" => {
            let decision = get("decision");
            if decision != "Approved" && decision != "Rejected" {
                Err("The decision must be Approved or Rejected.".to_owned())
            } else {
                let summary = get("summary");
                Ok((
                    "PutApprovalResult",
                    json!({
                        "pipelineName": name,
                        "stageName": get("stage"),
                        "actionName": get("action"),
                        "token": get("token"),
                        "result": {
                            "status": decision,
                            "summary": if summary.is_empty() { format!("{decision} in the console") } else { summary },
                        },
                    }),
                ))
            }
        }
        "transition" => {
            let stage = get("stage");
            if get("enable") == "true" {
                Ok((
                    "EnableStageTransition",
                    json!({"pipelineName": name, "stageName": stage, "transitionType": "Inbound"}),
                ))
            } else {
                let reason = get("reason");
                let reason = if reason.is_empty() {
                    "Disabled in the console".to_owned()
                } else {
                    reason
                };
                Ok((
                    "DisableStageTransition",
                    json!({"pipelineName": name, "stageName": stage, "transitionType": "Inbound", "reason": reason}),
                ))
            }
        }
        other => Err(format!("Unknown change {other:?}.")),
    };
    let (operation, input) = match call {
        Ok(c) => c,
        Err(message) => return refused(ctx, name, 400, "ValidationException", &message),
    };
    match ctx.call(operation, input).await {
        Ok(out) => {
            info!(pipeline = name, operation, key_id = %ctx.session.key_id, "console change");
            if let Some(id) = out["pipelineExecutionId"]
                .as_str()
                .filter(|_| back != super::waiting::PATH)
            {
                back = format!("/pipelines/{}/executions/{}", enc(name), enc(id));
                if operation == "RetryStageExecution" || operation == "StopPipelineExecution" {
                    back = format!("/pipelines/{}", enc(name));
                }
            }
            redirect(&back)
        }
        Err(f) => refused(ctx, name, f.status, &f.kind, &f.message),
    }
}

/// `name=value` lines as the API's pipeline variables.
fn variables(text: &str) -> Result<Vec<Value>, String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| match l.split_once('=') {
            Some((n, v)) if !n.trim().is_empty() => {
                Ok(json!({"name": n.trim(), "value": v.trim()}))
            }
            _ => Err(format!("The variable line {l:?} is not name=value.")),
        })
        .collect()
}

/// The API's refusal, shown with a way back.
fn refused(ctx: &Ctx<'_>, name: &str, status: u16, kind: &str, message: &str) -> ConsoleReply {
    let mut page = Page::new("Not done");
    page.refresh = false;
    page.crumbs.push(("Pipelines".into(), "/".into()));
    page.crumbs
        .push((name.to_owned(), format!("/pipelines/{}", enc(name))));
    page.raw(&format!(
        "<h1>Not done</h1>\n<p class=\"error\" role=\"alert\"><strong>{}</strong>: {}</p>\n\
         <p><a href=\"/pipelines/{}\">Back to {}</a></p>\n",
        esc(kind),
        esc(message),
        enc(name),
        esc(name)
    ));
    let mut r = ctx.render(&page);
    r.reply.status = match (status, kind) {
        (_, "AccessDeniedException") => 403,
        (200, _) => 400,
        (s, _) => s,
    };
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_variables_as_name_value_lines() {
        assert_eq!(
            variables("a=1\n\n b = two=2 \n").expect("variables"),
            vec![
                json!({"name": "a", "value": "1"}),
                json!({"name": "b", "value": "two=2"})
            ]
        );
        assert!(variables("nope").is_err());
    }
}
