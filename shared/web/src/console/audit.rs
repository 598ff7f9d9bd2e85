//! The audit log pages: `GET /audit` (every entry the signed-in principal may read) and
//! `GET /pipelines/{name}/audit` (one pipeline's), newest first, paged with `?next=TOKEN`. Each row says who
//! made a state-changing call (principal and key), what it named, when, from where and how it ended. Entries
//! of a pipeline are shown to whoever may view it; the rest (job workers' reports, action types) to admins on
//! every pipeline ([`crate::audit::visible_to`]).

use std::fmt::Write as _;

use sluice_runtime::audit::{AuditEntry, AuditQuery, Outcome};
use sluice_runtime::RuntimeError;

use super::context::{Ctx, Failure};
use super::html::{enc, esc, when, Page};
use super::request::field;

/// Entries a page shows.
const PAGE_SIZE: usize = 50;

/// `GET /audit[?next=TOKEN]`.
pub(super) async fn all(ctx: &Ctx<'_>) -> Result<Page, Failure> {
    let mut page = Page::new("Audit log");
    page.crumbs.push(("Pipelines".into(), "/".into()));
    log(ctx, None, "/audit", page).await
}

/// `GET /pipelines/{name}/audit[?next=TOKEN]`: only for those who may view the pipeline.
pub(super) async fn pipeline(ctx: &Ctx<'_>, name: &str) -> Result<Page, Failure> {
    if ctx.principal.role_on(name).is_none() {
        return Err(Failure {
            status: 403,
            kind: "AccessDeniedException".into(),
            message: format!(
                "{} may not view pipeline {name}, nor its audit log",
                ctx.principal.name
            ),
        });
    }
    let mut page = Page::new(format!("Audit log of {name}"));
    page.crumbs.push(("Pipelines".into(), "/".into()));
    page.crumbs
        .push((name.to_owned(), format!("/pipelines/{}", enc(name))));
    let here = format!("/pipelines/{}/audit", enc(name));
    log(ctx, Some(name), &here, page).await
}

async fn log(
    ctx: &Ctx<'_>,
    name: Option<&str>,
    here: &str,
    mut page: Page,
) -> Result<Page, Failure> {
    page.refresh = false;
    let params = ctx.params();
    let query = AuditQuery {
        pipeline: name.map(str::to_owned),
        since_ms: None,
        after: field(&params, "next").map(str::to_owned),
        limit: PAGE_SIZE,
    };
    let principal = ctx.principal.clone();
    let visible = move |e: &AuditEntry| crate::audit::visible_to(&principal, e);
    let found = ctx
        .console
        .runtime
        .audit_page(&query, &visible)
        .await
        .map_err(|e| match e {
            RuntimeError::Invalid(message) => Failure {
                status: 400,
                kind: "ValidationException".into(),
                message,
            },
            other => Failure {
                status: 503,
                kind: "ServiceUnavailable".into(),
                message: format!("the audit log cannot be read just now: {other}"),
            },
        })?;
    let mut out = format!("<h1>{}</h1>\n", esc(&page.title));
    out.push_str(
        "<p class=\"muted\">Every call that changed something, or tried to, newest first.</p>\n",
    );
    if found.entries.is_empty() {
        out.push_str("<p class=\"notice\">No entries.</p>\n");
    } else {
        out.push_str(
            "<div class=\"table-wrap\"><table class=\"audit\">\n<thead><tr><th scope=\"col\">When</th>\
             <th scope=\"col\">Who</th><th scope=\"col\">From</th><th scope=\"col\">Operation</th>\
             <th scope=\"col\">Target</th><th scope=\"col\">Outcome</th></tr></thead>\n<tbody>\n",
        );
        for e in &found.entries {
            let _ = writeln!(
                out,
                "<tr data-operation=\"{0}\" data-outcome=\"{1}\"><td>{2}</td><td>{3}</td><td>{4}</td>\
                 <td><code>{0}</code></td><td>{5}</td><td>{6}</td></tr>",
                esc(&e.operation),
                e.outcome.name(),
                when(e.at_ms as f64 / 1000.0),
                esc(&e.who()),
                esc(&e.source),
                target(e),
                outcome(e),
            );
        }
        out.push_str("</tbody></table></div>\n");
    }
    let mut nav = Vec::new();
    if query.after.is_some() {
        nav.push(format!("<a href=\"{here}\">Newest</a>"));
    }
    if let Some(next) = &found.next {
        let token: String = form_urlencoded::byte_serialize(next.as_bytes()).collect();
        nav.push(format!(
            "<a href=\"{here}?next={}\" rel=\"next\">Older</a>",
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

/// What the call named, the pipeline and execution as links.
fn target(e: &AuditEntry) -> String {
    let text = esc(&e.target());
    let Some(p) = &e.pipeline else {
        return text;
    };
    let mut html = format!("<a href=\"/pipelines/{}\">{}</a>", enc(p), esc(p));
    let rest = e.target();
    let rest = rest.strip_prefix(p.as_str()).unwrap_or(&rest);
    match &e.execution_id {
        Some(id) => {
            let label = format!("execution {id}");
            let (before, after) = rest.split_once(&label).unwrap_or((rest, ""));
            let _ = write!(
                html,
                "{}<a href=\"/pipelines/{}/executions/{}\">{}</a>{}",
                esc(before),
                enc(p),
                enc(id),
                esc(&label),
                esc(after)
            );
        }
        None => html.push_str(&esc(rest)),
    }
    html
}

/// How it ended, as a badge with its word, and the error's message on hover.
fn outcome(e: &AuditEntry) -> String {
    let kind = match e.outcome {
        Outcome::Ok => "ok",
        Outcome::Refused | Outcome::Failed => "bad",
    };
    let title = e
        .message
        .as_deref()
        .map(|m| format!(" title=\"{}\"", esc(m)))
        .unwrap_or_default();
    format!(
        "<span class=\"badge {kind}\"{title}>{}</span>",
        esc(&e.outcome_text())
    )
}
