//! Executions: the history (paged), one execution (timeline, variables, artifacts, each action's summary,
//! links and log), an action's whole log, and artifact downloads.

use std::fmt::Write as _;

use serde_json::{json, Value};

use super::context::{Ctx, Failure};
use super::html::{badge, duration, enc, esc, external_link, when, Page};
use super::logs::{safe_component, LogRef, LogTail};
use super::pipelines::{short_id, trigger_text};
use super::request::{field, html_reply, ConsoleReply, Download};

/// Executions a history page shows.
const PAGE_SIZE: usize = 25;
/// The lines of a log shown on the execution page.
const TAIL_LINES: usize = 30;
/// The most of a log a page shows (its end).
const MAX_LOG: u64 = 512 * 1024;

/// `GET /pipelines/{name}/executions[?next=TOKEN]`.
pub(super) async fn history(ctx: &Ctx<'_>, name: &str) -> Result<Page, Failure> {
    let params = ctx.params();
    let mut input = json!({"pipelineName": name, "maxResults": PAGE_SIZE});
    if let Some(next) = field(&params, "next") {
        input["nextToken"] = json!(next);
    }
    let listed = ctx.call("ListPipelineExecutions", input).await?;
    let mut page = Page::new("Execution history");
    page.crumbs.push(("Pipelines".into(), "/".into()));
    page.crumbs
        .push((name.to_owned(), format!("/pipelines/{}", enc(name))));
    let mut rows = String::new();
    let executions = listed["pipelineExecutionSummaries"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for e in &executions {
        let id = e["pipelineExecutionId"].as_str().unwrap_or_default();
        let start = e["startTime"].as_f64().unwrap_or(0.0);
        let end = e["lastUpdateTime"].as_f64().unwrap_or(start);
        let running = matches!(e["status"].as_str(), Some("InProgress" | "Stopping"));
        let revisions: Vec<String> = e["sourceRevisions"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|r| {
                let id = r["revisionId"].as_str().unwrap_or_default();
                let short: String = id.chars().take(12).collect();
                format!(
                    "{}: <code title=\"{}\">{}</code>{}",
                    esc(r["actionName"].as_str().unwrap_or_default()),
                    esc(id),
                    esc(&short),
                    r["revisionSummary"]
                        .as_str()
                        .map(|s| format!(" <span class=\"muted\">{}</span>", esc(first_line(s))))
                        .unwrap_or_default()
                )
            })
            .collect();
        let _ = writeln!(
            rows,
            "<tr data-execution=\"{0}\"><td><a href=\"/pipelines/{1}/executions/{2}\"><code>{3}</code></a></td>\
             <td>{4}</td><td>{5}</td><td>{6}</td><td>{7}</td><td>{8}</td></tr>",
            esc(id),
            enc(name),
            enc(id),
            esc(short_id(id)),
            badge(e["status"].as_str().unwrap_or_default()),
            esc(&trigger_text(&e["trigger"])),
            revisions.join("<br>"),
            when(start),
            if running { "running".to_owned() } else { duration(end - start) },
        );
    }
    let mut out = format!("<h1>Execution history of {}</h1>\n", esc(name));
    if executions.is_empty() {
        out.push_str("<p class=\"notice\">No executions yet.</p>\n");
    } else {
        let _ = write!(
            out,
            "<div class=\"table-wrap\"><table>\n<thead><tr><th scope=\"col\">Execution</th><th scope=\"col\">Status</th>\
             <th scope=\"col\">Trigger</th><th scope=\"col\">Source revisions</th><th scope=\"col\">Started</th>\
             <th scope=\"col\">Duration</th></tr></thead>\n<tbody>\n{rows}</tbody></table></div>\n"
        );
    }
    let mut nav = Vec::new();
    if field(&params, "next").is_some() {
        nav.push(format!(
            "<a href=\"/pipelines/{}/executions\">Newest</a>",
            enc(name)
        ));
    }
    if let Some(next) = listed["nextToken"].as_str() {
        let token: String = form_urlencoded::byte_serialize(next.as_bytes()).collect();
        nav.push(format!(
            "<a href=\"/pipelines/{}/executions?next={}\" rel=\"next\">Older</a>",
            enc(name),
            esc(&token)
        ));
    }
    if !nav.is_empty() {
        let _ = writeln!(
            out,
            "<nav aria-label=\"Pages\" class=\"row\">{}</nav>",
            nav.join(" ")
        );
    }
    page.raw(&out);
    Ok(page)
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or("")
}

/// Every attempt of every action of one execution, oldest first.
async fn action_details(ctx: &Ctx<'_>, name: &str, id: &str) -> Result<Vec<Value>, Failure> {
    let mut details = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let mut input =
            json!({"pipelineName": name, "filter": {"pipelineExecutionId": id}, "maxResults": 100});
        if let Some(n) = &next {
            input["nextToken"] = json!(n);
        }
        let listed = ctx.call("ListActionExecutions", input).await?;
        details.extend(
            listed["actionExecutionDetails"]
                .as_array()
                .cloned()
                .unwrap_or_default(),
        );
        match listed["nextToken"].as_str() {
            Some(n) if details.len() < 1000 => next = Some(n.to_owned()),
            _ => break,
        }
    }
    details.sort_by(|a, b| {
        let (x, y) = (
            a["startTime"].as_f64().unwrap_or(0.0),
            b["startTime"].as_f64().unwrap_or(0.0),
        );
        x.total_cmp(&y)
    });
    Ok(details)
}

/// `GET /pipelines/{name}/executions/{id}`.
pub(super) async fn show(ctx: &Ctx<'_>, name: &str, id: &str) -> Result<Page, Failure> {
    let got = ctx
        .call(
            "GetPipelineExecution",
            json!({"pipelineName": name, "pipelineExecutionId": id}),
        )
        .await?;
    let e = &got["pipelineExecution"];
    let details = action_details(ctx, name, id).await?;
    let status = e["status"].as_str().unwrap_or_default();
    let mut page = Page::new(format!("Execution {}", short_id(id)));
    page.crumbs.push(("Pipelines".into(), "/".into()));
    page.crumbs
        .push((name.to_owned(), format!("/pipelines/{}", enc(name))));
    page.crumbs.push((
        "History".into(),
        format!("/pipelines/{}/executions", enc(name)),
    ));
    let start = details
        .iter()
        .filter_map(|d| d["startTime"].as_f64())
        .fold(f64::MAX, f64::min);
    let end = details
        .iter()
        .filter_map(|d| d["lastUpdateTime"].as_f64())
        .fold(0.0, f64::max);
    let mut out = format!(
        "<div class=\"row spread\"><h1>Execution <code>{}</code></h1><span id=\"execution-status\" data-status=\"{}\">{}</span></div>\n\
         <dl class=\"kv panel\"><dt>Id</dt><dd><code>{}</code></dd><dt>Pipeline version</dt><dd>{}</dd>\
         <dt>Trigger</dt><dd>{}</dd><dt>Mode</dt><dd>{} · {}</dd>",
        esc(short_id(id)),
        esc(status),
        badge(status),
        esc(id),
        e["pipelineVersion"].as_u64().unwrap_or(0),
        esc(&trigger_text(&e["trigger"])),
        esc(e["executionMode"].as_str().unwrap_or_default()),
        esc(e["executionType"].as_str().unwrap_or_default()),
    );
    if start < f64::MAX {
        let _ = write!(
            out,
            "<dt>Started</dt><dd>{}</dd><dt>Duration</dt><dd>{}</dd>",
            when(start),
            duration(end - start)
        );
    }
    if let Some(s) = e["statusSummary"].as_str() {
        let _ = write!(out, "<dt>Summary</dt><dd>{}</dd>", esc(s));
    }
    out.push_str("</dl>\n");
    // Timeline: each attempt as a bar over the execution's span.
    if !details.is_empty() {
        let span = (end - start).max(0.001);
        out.push_str("<h2>Timeline</h2>\n<ol class=\"timeline panel\">\n");
        for d in &details {
            let s = d["startTime"].as_f64().unwrap_or(start);
            let f = d["lastUpdateTime"].as_f64().unwrap_or(s);
            let left = ((s - start) / span * 100.0).clamp(0.0, 100.0);
            let width = ((f - s) / span * 100.0).clamp(0.5, 100.0 - left);
            let _ = writeln!(
                out,
                "<li><span>{}.{} {}</span><span class=\"bar\" role=\"img\" aria-label=\"from {} s to {} s\">\
                 <span data-left=\"{left:.1}\" data-width=\"{width:.1}\"></span></span></li>",
                esc(d["stageName"].as_str().unwrap_or_default()),
                esc(d["actionName"].as_str().unwrap_or_default()),
                badge(d["status"].as_str().unwrap_or_default()),
                (s - start).round(),
                (f - start).round(),
            );
        }
        out.push_str("</ol>\n");
    }
    // Variables and source revisions.
    let vars = e["variables"].as_array().cloned().unwrap_or_default();
    if !vars.is_empty() {
        out.push_str("<h2>Variables</h2>\n<dl class=\"kv panel\">");
        for v in &vars {
            let _ = write!(
                out,
                "<dt>{}</dt><dd><code>{}</code></dd>",
                esc(v["name"].as_str().unwrap_or_default()),
                esc(v["resolvedValue"].as_str().unwrap_or_default())
            );
        }
        out.push_str("</dl>\n");
    }
    let revisions = e["artifactRevisions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if !revisions.is_empty() {
        out.push_str("<h2>Source revisions</h2>\n<dl class=\"kv panel\">");
        for r in &revisions {
            let rid = r["revisionId"].as_str().unwrap_or_default();
            let shown = match r["revisionUrl"].as_str() {
                Some(url) => external_link(url, rid),
                None => format!("<code>{}</code>", esc(rid)),
            };
            let _ = write!(
                out,
                "<dt>{}</dt><dd>{shown}{}</dd>",
                esc(r["name"].as_str().unwrap_or_default()),
                r["revisionSummary"]
                    .as_str()
                    .map(|s| format!(" <span class=\"muted\">{}</span>", esc(first_line(s))))
                    .unwrap_or_default()
            );
        }
        out.push_str("</dl>\n");
    }
    out.push_str("<h2>Actions</h2>\n");
    for d in &details {
        let tail = log_tail(ctx, id, d, 16 * 1024).await;
        out.push_str(&action_panel(name, id, d, tail));
    }
    if details.is_empty() {
        out.push_str("<p class=\"muted\">No action has started yet.</p>\n");
    }
    page.raw(&out);
    Ok(page)
}

/// The end of an action attempt's log, from the host's logs (nothing when it has none, or they cannot be read).
async fn log_tail(ctx: &Ctx<'_>, id: &str, d: &Value, max: u64) -> Option<LogTail> {
    let logs = ctx.console.logs?;
    let at = LogRef {
        execution_id: id,
        stage: d["stageName"].as_str().unwrap_or_default(),
        action: d["actionName"].as_str().unwrap_or_default(),
        external_execution_id: d["output"]["executionResult"]["externalExecutionId"].as_str(),
    };
    match logs.tail(&at, max).await {
        Ok(tail) => tail,
        Err(e) => {
            tracing::warn!(error = %e, execution = id, "an action's log could not be read");
            None
        }
    }
}

/// One action attempt: status, times, summary, links, output artifacts, variables and the end of its log.
fn action_panel(name: &str, id: &str, d: &Value, tail: Option<LogTail>) -> String {
    let stage = d["stageName"].as_str().unwrap_or_default();
    let action = d["actionName"].as_str().unwrap_or_default();
    let start = d["startTime"].as_f64().unwrap_or(0.0);
    let end = d["lastUpdateTime"].as_f64().unwrap_or(start);
    let result = &d["output"]["executionResult"];
    let mut out = format!(
        "<section class=\"panel\" data-action=\"{0}.{1}\" data-status=\"{2}\" aria-label=\"{0}.{1}\">\
         <div class=\"row spread\"><h3>{0}.{1}</h3>{3}</div>\
         <div class=\"muted\">{4} · {5} · {6}</div>",
        esc(stage),
        esc(action),
        esc(d["status"].as_str().unwrap_or_default()),
        badge(d["status"].as_str().unwrap_or_default()),
        esc(d["input"]["actionTypeId"]["provider"].as_str().unwrap_or_default()),
        when(start),
        duration(end - start),
    );
    if let Some(s) = result["externalExecutionSummary"].as_str() {
        let _ = write!(out, "<p>{}</p>", esc(s));
    }
    if let Some(m) = result["errorDetails"]["message"].as_str() {
        let _ = write!(out, "<p class=\"error\">{}</p>", esc(m));
    }
    if let Some(url) = result["externalExecutionUrl"].as_str() {
        let _ = write!(out, "<p>{}</p>", external_link(url, "External details"));
    }
    let artifacts = d["output"]["outputArtifacts"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if !artifacts.is_empty() {
        out.push_str("<p>Artifacts: ");
        for a in &artifacts {
            let art = a["name"].as_str().unwrap_or_default();
            let _ = write!(
                out,
                "<a href=\"/pipelines/{}/executions/{}/artifacts/{}/{}/{}\" download data-artifact=\"{}\">{} (zip)</a> ",
                enc(name),
                enc(id),
                enc(stage),
                enc(action),
                enc(art),
                esc(art),
                esc(art)
            );
        }
        out.push_str("</p>");
    }
    let vars = d["output"]["outputVariables"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    if !vars.is_empty() {
        out.push_str("<details><summary>Output variables</summary><dl class=\"kv\">");
        for (k, v) in &vars {
            let _ = write!(
                out,
                "<dt>{}</dt><dd><code>{}</code></dd>",
                esc(k),
                esc(v.as_str().unwrap_or_default())
            );
        }
        out.push_str("</dl></details>");
    }
    if let Some(tail) = tail {
        let lines: Vec<&str> = tail.text.lines().collect();
        let shown = lines[lines.len().saturating_sub(TAIL_LINES)..].join("\n");
        let _ = write!(
            out,
            "<details class=\"log\"><summary>Log (last lines)</summary><pre tabindex=\"0\">{}</pre></details>\
             <p><a href=\"/pipelines/{}/executions/{}/logs/{}/{}\" data-log=\"{}.{}\">Open the whole log</a>{}</p>",
            esc(&shown),
            enc(name),
            enc(id),
            enc(stage),
            enc(action),
            esc(stage),
            esc(action),
            tail.link
                .as_deref()
                .map(|l| format!(" · {}", external_link(l, "in CloudWatch Logs")))
                .unwrap_or_default()
        );
    }
    out.push_str("</section>\n");
    out
}

/// `GET /pipelines/{name}/executions/{id}/logs/{stage}/{action}`: the newest attempt's log, refreshing while
/// the action runs.
pub(super) async fn log(
    ctx: &Ctx<'_>,
    name: &str,
    id: &str,
    stage: &str,
    action: &str,
) -> Result<Page, Failure> {
    // Through the API first: the execution must exist and be this pipeline's.
    ctx.call(
        "GetPipelineExecution",
        json!({"pipelineName": name, "pipelineExecutionId": id}),
    )
    .await?;
    let details = action_details(ctx, name, id).await?;
    let newest = details
        .iter()
        .rev()
        .find(|d| {
            d["stageName"].as_str() == Some(stage) && d["actionName"].as_str() == Some(action)
        })
        .cloned()
        .unwrap_or_else(|| json!({"stageName": stage, "actionName": action}));
    let Some(tail) = log_tail(ctx, id, &newest, MAX_LOG).await else {
        return Err(Failure::not_found(format!(
            "no log of {stage}.{action} in execution {id}"
        )));
    };
    let mut page = Page::new(format!("Log of {stage}.{action}"));
    page.crumbs.push(("Pipelines".into(), "/".into()));
    page.crumbs
        .push((name.to_owned(), format!("/pipelines/{}", enc(name))));
    page.crumbs.push((
        format!("Execution {}", short_id(id)),
        format!("/pipelines/{}/executions/{}", enc(name), enc(id)),
    ));
    page.raw(&format!(
        "<h1>Log of {}.{}</h1>\n<pre id=\"log\" tabindex=\"0\" aria-label=\"log\">{}</pre>\n",
        esc(stage),
        esc(action),
        esc(&tail.text)
    ));
    if let Some(link) = &tail.link {
        page.raw(&format!(
            "<p>{}</p>\n",
            external_link(link, "The whole log in CloudWatch Logs")
        ));
    }
    Ok(page)
}

/// `GET /pipelines/{name}/executions/{id}/artifacts/{stage}/{action}/{artifact}`: the output artifact, as the
/// API lists it, for the transport to send.
pub(super) async fn artifact(
    ctx: &Ctx<'_>,
    name: &str,
    id: &str,
    stage: &str,
    action: &str,
    artifact: &str,
) -> ConsoleReply {
    let details = match action_details(ctx, name, id).await {
        Ok(d) => d,
        Err(f) => return f.reply(ctx),
    };
    let found = details
        .iter()
        .rev()
        .filter(|d| {
            d["stageName"].as_str() == Some(stage) && d["actionName"].as_str() == Some(action)
        })
        .flat_map(|d| {
            d["output"]["outputArtifacts"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .find(|a| a["name"].as_str() == Some(artifact));
    let Some(location) = found.as_ref().map(|a| &a["s3location"]) else {
        return Failure::not_found(format!(
            "{stage}.{action} of execution {id} has no output artifact {artifact}"
        ))
        .reply(ctx);
    };
    let mut r: ConsoleReply = html_reply(200, String::new()).into();
    r.download = Some(Download {
        bucket: location["bucket"].as_str().unwrap_or_default().to_owned(),
        key: location["key"].as_str().unwrap_or_default().to_owned(),
        file_name: format!("{}-{}.zip", safe_component(artifact), short_id(id)),
    });
    r
}
