//! `GET /waiting`: the approvals waiting for the signed-in principal — pending on a pipeline it may operate,
//! naming it (or a group of its) among the approvers or naming nobody, not started or pushed by it when
//! self-approval is refused, and not decided by it yet — each with its decisions so far and the Approve/Reject
//! form; then the other pending approvals of the pipelines it may view, with what they wait for.

use std::fmt::Write as _;

use sluice_runtime::approval_quorum::{awaits, progress_of, Decider};
use sluice_runtime::records::ApprovalRecord;

use super::context::{Ctx, Failure};
use super::html::{enc, esc, hidden, when, Page};

/// The page's path, which its forms come back to.
pub(crate) const PATH: &str = "/waiting";

/// `GET /waiting`.
pub(super) async fn page(ctx: &Ctx<'_>) -> Result<Page, Failure> {
    let runtime = ctx.console.runtime;
    let me = Decider {
        name: ctx.principal.name.clone(),
        groups: ctx.principal.groups.clone(),
    };
    let failed = |e: sluice_runtime::RuntimeError| Failure {
        status: 500,
        kind: "InternalError".into(),
        message: e.to_string(),
    };
    let (mut mine, mut others) = (Vec::new(), Vec::new());
    for head in runtime.list_pipelines().await.map_err(failed)? {
        if ctx.principal.role_on(&head.name).is_none() {
            continue;
        }
        let steers = ctx.steers(&head.name);
        for approval in runtime
            .pending_approvals(&head.name)
            .await
            .map_err(failed)?
        {
            if steers && awaits(&approval, &me) {
                mine.push(approval);
            } else {
                others.push(approval);
            }
        }
    }
    let mut page = Page::new("Waiting for you");
    page.crumbs.push(("Pipelines".into(), "/".into()));
    let mut out = String::from(
        "<h1>Waiting for you</h1>\n<section aria-label=\"Waiting for you\" data-list=\"mine\">\n",
    );
    if mine.is_empty() {
        out.push_str("<p class=\"muted\">No approval waits for you.</p>\n");
    }
    for a in &mine {
        out.push_str(&card(ctx, a, true));
    }
    out.push_str("</section>\n");
    if !others.is_empty() {
        out.push_str(
            "<h2>Waiting for others</h2>\n<section aria-label=\"Waiting for others\" data-list=\"others\">\n",
        );
        for a in &others {
            out.push_str(&card(ctx, a, false));
        }
        out.push_str("</section>\n");
    }
    page.raw(&out);
    Ok(page)
}

/// One approval: where it waits, its approvers, its decisions so far, and the form when it is `yours`.
fn card(ctx: &Ctx<'_>, a: &ApprovalRecord, yours: bool) -> String {
    let mut out = format!(
        "<div class=\"action\" data-approval=\"{0}.{1}.{2}\"><div class=\"row spread\"><span class=\"name\">\
         <a href=\"/pipelines/{3}\">{0}</a> · {1}.{2}</span><span class=\"muted\">{4}</span></div>\
         <div class=\"muted\">execution <a href=\"/pipelines/{3}/executions/{5}\">{6}</a> · requested {7}</div>",
        esc(&a.pipeline),
        esc(&a.stage),
        esc(&a.action),
        enc(&a.pipeline),
        esc(&progress_of(a)),
        enc(&a.execution_id),
        esc(a.execution_id.get(..8).unwrap_or(&a.execution_id)),
        when(a.requested_ms as f64 / 1000.0),
    );
    if let Some(data) = &a.custom_data {
        let _ = write!(out, "<div>{}</div>", esc(data));
    }
    if !a.approvers.is_empty() {
        let _ = write!(
            out,
            "<div class=\"muted\">Approvers: {}</div>",
            esc(&a.approvers.join(", "))
        );
    }
    if let Some(deadline) = a.deadline_ms {
        let _ = write!(
            out,
            "<div class=\"muted\">Deadline {}</div>",
            when(deadline as f64 / 1000.0)
        );
    }
    if !a.decisions.is_empty() {
        out.push_str("<ul class=\"decisions\">");
        for d in &a.decisions {
            let _ = write!(
                out,
                "<li data-principal=\"{0}\">{1} by {0}, {2}{3}</li>",
                esc(&d.principal),
                if d.approved { "Approved" } else { "Rejected" },
                when(d.decided_ms as f64 / 1000.0),
                d.comment
                    .as_deref()
                    .map(|c| format!(": {}", esc(c)))
                    .unwrap_or_default()
            );
        }
        out.push_str("</ul>");
    }
    if yours {
        let id = format!("{}-{}-{}", a.pipeline, a.stage, a.action);
        let _ = write!(
            out,
            "<form method=\"post\" action=\"/pipelines/{0}/actions\" data-op=\"approve\">{1}{2}{3}{4}{5}{6}\
             <p><label for=\"comment-{7}\">Comment</label>\
             <textarea id=\"comment-{7}\" name=\"summary\" rows=\"2\" maxlength=\"512\"></textarea></p>\
             <p class=\"row\"><button type=\"submit\" name=\"decision\" value=\"Approved\">Approve</button>\
             <button type=\"submit\" name=\"decision\" value=\"Rejected\" class=\"danger\">Reject</button></p></form>",
            enc(&a.pipeline),
            ctx.csrf_field(),
            hidden("op", "approve"),
            hidden("stage", &a.stage),
            hidden("action", &a.action),
            hidden("token", &a.token),
            hidden("back", PATH),
            esc(&id),
        );
    } else if a.not_approvable_by.as_deref() == Some(ctx.principal.name.as_str()) {
        out.push_str("<div class=\"muted\">You started this execution, so others decide.</div>");
    } else if a
        .decisions
        .iter()
        .any(|d| d.principal == ctx.principal.name)
    {
        out.push_str("<div class=\"muted\">You decided; it waits for others.</div>");
    }
    out.push_str("</div>\n");
    out
}
