//! The pipelines list and one pipeline's view: stages in order, actions by runOrder (side by side when they
//! run together), statuses, transitions, and the forms that steer them (which post to [`super::forms`]).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::{json, Value};

use super::context::{Ctx, Failure};
use super::html::{badge, duration, enc, esc, external_link, hidden, when, Page};

/// `GET /`: every pipeline with its latest execution's status, trigger and time.
pub(super) async fn list(ctx: &Ctx<'_>) -> Result<Page, Failure> {
    let listed = ctx.call("ListPipelines", json!({})).await?;
    let mut page = Page::new("Pipelines");
    let mut rows = String::new();
    let pipelines = listed["pipelines"].as_array().cloned().unwrap_or_default();
    for p in &pipelines {
        let name = p["name"].as_str().unwrap_or_default();
        let latest = ctx
            .call(
                "ListPipelineExecutions",
                json!({"pipelineName": name, "maxResults": 1}),
            )
            .await?;
        let e = &latest["pipelineExecutionSummaries"][0];
        let (status, trigger, started) = if e.is_null() {
            (
                "<span class=\"muted\">never run</span>".to_owned(),
                String::new(),
                String::new(),
            )
        } else {
            (
                format!(
                    "<a href=\"/pipelines/{}/executions/{}\">{}</a>",
                    enc(name),
                    enc(e["pipelineExecutionId"].as_str().unwrap_or_default()),
                    badge(e["status"].as_str().unwrap_or_default())
                ),
                trigger_text(&e["trigger"]),
                when(e["startTime"].as_f64().unwrap_or(0.0)),
            )
        };
        let _ = writeln!(
            rows,
            "<tr data-pipeline=\"{0}\"><td><a href=\"/pipelines/{1}\">{0}</a></td><td>{2}</td><td>{3}</td>\
             <td>{4}</td><td>{5}</td></tr>",
            esc(name),
            enc(name),
            status,
            esc(&trigger),
            started,
            p["version"].as_u64().unwrap_or(0)
        );
    }
    page.raw("<h1>Pipelines</h1>\n");
    if pipelines.is_empty() {
        page.raw(
            "<p class=\"notice\">No pipelines yet. Create one with <code>sluice create</code> or \
             <code>aws codepipeline create-pipeline --endpoint-url …</code>.</p>\n",
        );
    } else {
        page.raw(&format!(
            "<div class=\"table-wrap\"><table>\n<caption class=\"muted\">{} pipeline(s)</caption>\n\
             <thead><tr><th scope=\"col\">Pipeline</th><th scope=\"col\">Latest execution</th>\
             <th scope=\"col\">Trigger</th><th scope=\"col\">Started</th><th scope=\"col\">Version</th></tr></thead>\n\
             <tbody>\n{rows}</tbody></table></div>\n",
            pipelines.len()
        ));
    }
    Ok(page)
}

/// A trigger as one line: `StartPipelineExecution (AKIA…)`, `Webhook (push to main)`.
pub(super) fn trigger_text(trigger: &Value) -> String {
    let kind = trigger["triggerType"].as_str().unwrap_or_default();
    match trigger["triggerDetail"].as_str() {
        Some(d) if !d.is_empty() => format!("{kind} ({d})"),
        _ => kind.to_owned(),
    }
}

/// The start and last update of each action's newest attempt in the executions given, by (stage, action).
async fn action_times(
    ctx: &Ctx<'_>,
    name: &str,
    executions: &[String],
) -> Result<BTreeMap<(String, String, String), (f64, f64)>, Failure> {
    let mut times = BTreeMap::new();
    for id in executions {
        let listed = ctx
            .call(
                "ListActionExecutions",
                json!({"pipelineName": name, "filter": {"pipelineExecutionId": id}}),
            )
            .await?;
        for d in listed["actionExecutionDetails"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let key = (
                id.clone(),
                d["stageName"].as_str().unwrap_or_default().to_owned(),
                d["actionName"].as_str().unwrap_or_default().to_owned(),
            );
            let start = d["startTime"].as_f64().unwrap_or(0.0);
            let end = d["lastUpdateTime"].as_f64().unwrap_or(start);
            let entry = times.entry(key).or_insert((start, end));
            if start >= entry.0 {
                *entry = (start, end);
            }
        }
    }
    Ok(times)
}

/// `GET /pipelines/{name}`.
pub(super) async fn show(ctx: &Ctx<'_>, name: &str) -> Result<Page, Failure> {
    let got = ctx.call("GetPipeline", json!({"name": name})).await?;
    let state = ctx.call("GetPipelineState", json!({"name": name})).await?;
    let recent = ctx
        .call(
            "ListPipelineExecutions",
            json!({"pipelineName": name, "maxResults": 20}),
        )
        .await?;
    let declaration = &got["pipeline"];
    let recent = recent["pipelineExecutionSummaries"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let stage_states = state["stageStates"].as_array().cloned().unwrap_or_default();
    let mut latest_ids: Vec<String> = Vec::new();
    for s in &stage_states {
        if let Some(id) = s["latestExecution"]["pipelineExecutionId"].as_str() {
            if !latest_ids.iter().any(|x| x == id) && latest_ids.len() < 4 {
                latest_ids.push(id.to_owned());
            }
        }
    }
    let times = action_times(ctx, name, &latest_ids).await?;
    let v2 = declaration["pipelineType"].as_str() == Some("V2");
    let here = format!("/pipelines/{}", enc(name));

    let mut page = Page::new(name);
    page.crumbs.push(("Pipelines".into(), "/".into()));
    let mut out = String::new();
    let _ = writeln!(
        out,
        "<div class=\"row spread\"><h1>{}</h1><p class=\"row\"><a href=\"{here}/executions\">History</a>\
         <a href=\"{here}/definition\">Definition</a><span class=\"muted\">version {}</span></p></div>",
        esc(name),
        state["pipelineVersion"].as_u64().unwrap_or(0)
    );
    if !ctx.steers(name) {
        out.push_str(
            "<p class=\"muted\" id=\"watch-only\">You can watch this pipeline; starting, stopping, retrying, \
             approving and switching transitions need the operator role on it.</p>\n",
        );
    }
    out.push_str(&release_form(ctx, name, declaration));
    for e in recent
        .iter()
        .filter(|e| matches!(e["status"].as_str(), Some("InProgress" | "Stopping")))
    {
        out.push_str(&stop_form(ctx, name, e));
    }
    out.push_str("<div class=\"stages\">\n");
    let declared_stages = declaration["stages"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for (i, stage) in declared_stages.iter().enumerate() {
        let stage_name = stage["name"].as_str().unwrap_or_default();
        let st = stage_states
            .iter()
            .find(|s| s["stageName"].as_str() == Some(stage_name))
            .cloned()
            .unwrap_or(Value::Null);
        if i > 0 {
            out.push_str(&transition(
                ctx,
                name,
                stage_name,
                &st["inboundTransitionState"],
            ));
        }
        out.push_str(&stage_card(ctx, name, stage, &st, &times, &recent, v2));
    }
    out.push_str("</div>\n");
    page.raw(&out);
    Ok(page)
}

/// The Release change form: starts an execution, with pipeline variables (`name=value` lines).
fn release_form(ctx: &Ctx<'_>, name: &str, declaration: &Value) -> String {
    if !ctx.steers(name) {
        return String::new();
    }
    let vars: Vec<String> = declaration["variables"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|v| {
            format!(
                "{}={}",
                v["name"].as_str().unwrap_or_default(),
                v["defaultValue"].as_str().unwrap_or_default()
            )
        })
        .collect();
    let variables = if vars.is_empty() {
        String::new()
    } else {
        format!(
            "<details><summary>Variables</summary><p><label for=\"variables\">Pipeline variables, one \
             <code>name=value</code> a line</label><textarea id=\"variables\" name=\"variables\" rows=\"3\" \
             placeholder=\"{}\"></textarea></p></details>",
            esc(&vars.join("\n"))
        )
    };
    format!(
        "<form method=\"post\" action=\"/pipelines/{}/actions\" class=\"panel\" data-op=\"start\">{}{}\
         <button type=\"submit\">Release change</button>{variables}</form>\n",
        enc(name),
        ctx.csrf_field(),
        hidden("op", "start"),
    )
}

/// Stop and Abandon for a running execution.
fn stop_form(ctx: &Ctx<'_>, name: &str, e: &Value) -> String {
    if !ctx.steers(name) {
        return String::new();
    }
    let id = e["pipelineExecutionId"].as_str().unwrap_or_default();
    let field = format!("reason-{}", esc(id));
    format!(
        "<form method=\"post\" action=\"/pipelines/{pipeline}/actions\" class=\"panel inline\" data-op=\"stop\">\
         {csrf}{op}{exec}<span>Execution <a href=\"/pipelines/{pipeline}/executions/{link}\"><code>{short}</code></a> \
         {status}</span><label for=\"{field}\" class=\"muted\">Reason</label>\
         <input type=\"text\" id=\"{field}\" name=\"reason\" maxlength=\"200\">\
         <button type=\"submit\" name=\"abandon\" value=\"false\" class=\"secondary\">Stop</button>\
         <button type=\"submit\" name=\"abandon\" value=\"true\" class=\"danger\">Abandon</button></form>\n",
        pipeline = enc(name),
        csrf = ctx.csrf_field(),
        op = hidden("op", "stop"),
        exec = hidden("executionId", id),
        link = enc(id),
        short = esc(short_id(id)),
        status = badge(e["status"].as_str().unwrap_or_default()),
    )
}

/// The first block of an execution id: enough to tell executions apart on screen.
pub(super) fn short_id(id: &str) -> &str {
    id.split('-').next().unwrap_or(id)
}

/// Who last switched a transition, and when (nothing when it never was).
fn changed_by(t: &Value) -> String {
    match (t["lastChangedBy"].as_str(), t["lastChangedAt"].as_f64()) {
        (Some(by), Some(at)) => format!(
            " <span class=\"muted changed-by\">(by {} {})</span>",
            esc(by),
            when(at)
        ),
        (Some(by), None) => format!(" <span class=\"muted changed-by\">(by {})</span>", esc(by)),
        _ => String::new(),
    }
}

/// The transition into a stage, with its switch.
fn transition(ctx: &Ctx<'_>, name: &str, stage: &str, t: &Value) -> String {
    let enabled = t["enabled"].as_bool().unwrap_or(true);
    let changed = changed_by(t);
    if !ctx.steers(name) {
        return format!(
            "<div class=\"transition{}\" data-transition=\"{}\" data-enabled=\"{enabled}\"><span class=\"muted\">into {}: {}{}{changed}</span></div>\n",
            if enabled { "" } else { " disabled" },
            esc(stage),
            esc(stage),
            if enabled { "enabled" } else { "<strong>disabled</strong>" },
            t["disabledReason"]
                .as_str()
                .map(|r| format!(" — {}", esc(r)))
                .unwrap_or_default()
        );
    }
    let form_start = format!(
        "<form method=\"post\" action=\"/pipelines/{}/actions\" class=\"inline\" data-op=\"transition\" \
         data-stage=\"{}\">{}{}{}",
        enc(name),
        esc(stage),
        ctx.csrf_field(),
        hidden("op", "transition"),
        hidden("stage", stage),
    );
    if enabled {
        format!(
            "<div class=\"transition\" data-transition=\"{0}\" data-enabled=\"true\"><span class=\"muted\">↓ into {0}: \
             enabled{changed}</span>{form_start}<label for=\"why-{0}\" class=\"muted\">Reason</label>\
             <input type=\"text\" id=\"why-{0}\" name=\"reason\" maxlength=\"300\" placeholder=\"why\">\
             <button type=\"submit\" name=\"enable\" value=\"false\" class=\"secondary\">Disable transition</button>\
             </form></div>\n",
            esc(stage)
        )
    } else {
        format!(
            "<div class=\"transition disabled\" data-transition=\"{0}\" data-enabled=\"false\"><span>⏸ into {0}: \
             <strong>disabled</strong>{1}{changed}</span>{form_start}\
             <button type=\"submit\" name=\"enable\" value=\"true\">Enable transition</button></form></div>\n",
            esc(stage),
            t["disabledReason"]
                .as_str()
                .map(|r| format!(" — {}", esc(r)))
                .unwrap_or_default()
        )
    }
}

/// One stage: its latest execution, its actions by runOrder, Retry and Roll back.
fn stage_card(
    ctx: &Ctx<'_>,
    name: &str,
    stage: &Value,
    st: &Value,
    times: &BTreeMap<(String, String, String), (f64, f64)>,
    recent: &[Value],
    v2: bool,
) -> String {
    let stage_name = stage["name"].as_str().unwrap_or_default();
    let latest = &st["latestExecution"];
    let exec_id = latest["pipelineExecutionId"].as_str().unwrap_or_default();
    let status = latest["status"].as_str().unwrap_or("");
    let mut out = format!(
        "<section class=\"stage\" data-stage=\"{0}\" data-status=\"{1}\" aria-labelledby=\"stage-{0}\">\n\
         <div class=\"row spread\"><h2 id=\"stage-{0}\">{0}</h2><div class=\"row\">",
        esc(stage_name),
        esc(status)
    );
    let mut span: Option<(f64, f64)> = None;
    for ((e, s, _), (start, end)) in times {
        if e == exec_id && s == stage_name {
            span = Some(span.map_or((*start, *end), |(a, b)| (a.min(*start), b.max(*end))));
        }
    }
    if !exec_id.is_empty() {
        let _ = write!(
            out,
            "{} <a href=\"/pipelines/{}/executions/{}\" title=\"the execution this stage last ran\"><code>{}</code></a>",
            badge(status),
            enc(name),
            enc(exec_id),
            esc(short_id(exec_id))
        );
        if let Some((start, end)) = span {
            let _ = write!(
                out,
                " <span class=\"muted\">{} · {}</span>",
                when(start),
                duration(end - start)
            );
        }
    } else {
        out.push_str("<span class=\"muted\">not run yet</span>");
    }
    out.push_str("</div></div>\n");
    let mut groups: BTreeMap<u64, Vec<&Value>> = BTreeMap::new();
    for a in stage["actions"].as_array().into_iter().flatten() {
        groups
            .entry(a["runOrder"].as_u64().unwrap_or(1))
            .or_default()
            .push(a);
    }
    for (order, actions) in groups {
        let _ = write!(out, "<div class=\"group\" data-run-order=\"{order}\">");
        for a in actions {
            let action_name = a["name"].as_str().unwrap_or_default();
            let state = st["actionStates"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|s| s["actionName"].as_str() == Some(action_name))
                .cloned()
                .unwrap_or(Value::Null);
            let time = times.get(&(
                exec_id.to_owned(),
                stage_name.to_owned(),
                action_name.to_owned(),
            ));
            out.push_str(&action_card(ctx, name, stage_name, a, &state, time));
        }
        out.push_str("</div>\n");
    }
    if status == "Failed" && ctx.steers(name) {
        let _ = writeln!(
            out,
            "<form method=\"post\" action=\"/pipelines/{}/actions\" class=\"inline\" data-op=\"retry\" data-stage=\"{}\">\
             {}{}{}{}<button type=\"submit\" name=\"mode\" value=\"FAILED_ACTIONS\">Retry failed actions</button>\
             <button type=\"submit\" name=\"mode\" value=\"ALL_ACTIONS\" class=\"secondary\">Retry all actions</button></form>",
            enc(name),
            esc(stage_name),
            ctx.csrf_field(),
            hidden("op", "retry"),
            hidden("stage", stage_name),
            hidden("executionId", exec_id),
        );
    }
    if v2 && ctx.steers(name) {
        out.push_str(&rollback_form(ctx, name, stage_name, exec_id, recent));
    }
    out.push_str("</section>\n");
    out
}

/// Roll back: to an earlier succeeded execution (V2 pipelines only, as in CodePipeline).
fn rollback_form(
    ctx: &Ctx<'_>,
    name: &str,
    stage: &str,
    current: &str,
    recent: &[Value],
) -> String {
    let targets: Vec<&Value> = recent
        .iter()
        .filter(|e| {
            e["status"].as_str() == Some("Succeeded")
                && e["pipelineExecutionId"].as_str() != Some(current)
                && e["executionType"].as_str() != Some("ROLLBACK")
        })
        .take(10)
        .collect();
    if targets.is_empty() {
        return String::new();
    }
    let options: String = targets
        .iter()
        .map(|e| {
            let id = e["pipelineExecutionId"].as_str().unwrap_or_default();
            format!(
                "<option value=\"{}\">{} ({})</option>",
                esc(id),
                esc(short_id(id)),
                esc(&super::html::rfc_short(
                    e["startTime"].as_f64().unwrap_or(0.0)
                ))
            )
        })
        .collect();
    format!(
        "<details><summary>Roll back {0}</summary><form method=\"post\" action=\"/pipelines/{1}/actions\" \
         class=\"inline\" data-op=\"rollback\" data-stage=\"{0}\">{2}{3}{4}\
         <label for=\"target-{0}\">to execution</label><select id=\"target-{0}\" name=\"target\">{options}</select>\
         <button type=\"submit\" class=\"secondary\">Roll back</button></form></details>\n",
        esc(stage),
        enc(name),
        ctx.csrf_field(),
        hidden("op", "rollback"),
        hidden("stage", stage),
    )
}

/// One action: its status, summary, times, links, and for a waiting approval the Approve/Reject form.
fn action_card(
    ctx: &Ctx<'_>,
    name: &str,
    stage: &str,
    declared: &Value,
    state: &Value,
    time: Option<&(f64, f64)>,
) -> String {
    let action = declared["name"].as_str().unwrap_or_default();
    let kind = &declared["actionTypeId"];
    let latest = &state["latestExecution"];
    let status = latest["status"].as_str().unwrap_or("");
    let mut out = format!(
        "<div class=\"action\" data-action=\"{0}.{1}\" data-status=\"{2}\"><div class=\"row spread\">\
         <span class=\"name\">{1}</span>{3}</div><div class=\"muted\">{4} · {5}</div>",
        esc(stage),
        esc(action),
        esc(status),
        if status.is_empty() { "<span class=\"muted\">—</span>".to_owned() } else { badge(status) },
        esc(kind["category"].as_str().unwrap_or_default()),
        esc(kind["provider"].as_str().unwrap_or_default()),
    );
    if let Some((start, end)) = time {
        let _ = write!(
            out,
            "<div class=\"muted\">{} · {}</div>",
            when(*start),
            duration(end - start)
        );
    }
    if let Some(summary) = latest["summary"].as_str() {
        let _ = write!(out, "<div>{}</div>", esc(summary));
    }
    if let Some(msg) = latest["errorDetails"]["message"].as_str() {
        let _ = write!(out, "<div class=\"error\">{}</div>", esc(msg));
    }
    if let Some(url) = latest["externalExecutionUrl"].as_str() {
        let _ = write!(out, "<div>{}</div>", external_link(url, "Details"));
    }
    if let Some(url) = state["entityUrl"].as_str() {
        let _ = write!(out, "<div>{}</div>", external_link(url, "Resource"));
    }
    if let (Some(token), "InProgress", Some("Approval"), true) = (
        latest["token"].as_str(),
        status,
        kind["category"].as_str(),
        ctx.steers(name),
    ) {
        let _ = write!(
            out,
            "<form method=\"post\" action=\"/pipelines/{0}/actions\" data-op=\"approve\" data-action=\"{1}.{2}\">\
             {3}{4}{5}{6}{7}<p><label for=\"comment-{1}-{2}\">Comment</label>\
             <textarea id=\"comment-{1}-{2}\" name=\"summary\" rows=\"2\" maxlength=\"512\"></textarea></p>\
             <p class=\"row\"><button type=\"submit\" name=\"decision\" value=\"Approved\">Approve</button>\
             <button type=\"submit\" name=\"decision\" value=\"Rejected\" class=\"danger\">Reject</button></p></form>",
            enc(name),
            esc(stage),
            esc(action),
            ctx.csrf_field(),
            hidden("op", "approve"),
            hidden("stage", stage),
            hidden("action", action),
            hidden("token", token),
        );
    }
    out.push_str("</div>");
    out
}
