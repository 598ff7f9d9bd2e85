//! The approval pages, answered the same way by `sluice serve` and the approval Lambda function.
//!
//! `GET /approvals/<token>?expires=..&sig=..` shows what waits for approval and a form; it never acts (mail
//! scanners and link previews open links). `POST` to the same URL with `decision=Approved|Rejected` (and an
//! optional `summary`) decides. The signed link is the credential ([`sluice_runtime::links`]); a link is single-use
//! because an approval is decided once: afterwards every use answers 410 Gone. Nothing here speaks HTTP: the
//! transports turn a request into [`PageRequest`] and [`WebReply`] into their response.

use std::fmt::Write as _;
use std::sync::OnceLock;

use sha2::{Digest, Sha256};

use tracing::warn;

use sluice_runtime::approval_links::LinkRefusal;
use sluice_runtime::approval_quorum::Decider;
use sluice_runtime::events::rfc3339;
use sluice_runtime::links::{LinkError, PATH_PREFIX};
use sluice_runtime::ports::Directory;
use sluice_runtime::records::{ApprovalRecord, ApprovalStatus};
use sluice_runtime::{Runtime, RuntimeError};

use crate::console::html::esc;

pub use crate::reply::WebReply;

/// Who decisions through a link are recorded as.
pub const DECIDED_BY: &str = "approval-link";

/// CodePipeline's limit on an approval summary.
const MAX_SUMMARY: usize = 512;

/// Headers every page carries: never cached, nothing loaded or framed (only the console's stylesheet, inline
/// and allowed by its hash), no referrer (the URL is a credential).
fn page_headers() -> Vec<(&'static str, &'static str)> {
    static POLICY: OnceLock<&'static str> = OnceLock::new();
    let policy = POLICY.get_or_init(|| {
        let hash = crate::console::html::base64(&Sha256::digest(crate::console::html::CSS.as_bytes()));
        // Made once per process and kept for its life: the headers are static strings.
        Box::leak(
            format!(
                "default-src 'none'; style-src 'sha256-{hash}'; form-action 'self'; frame-ancestors 'none'; \
                 base-uri 'none'"
            )
            .into_boxed_str(),
        )
    });
    vec![
        ("cache-control", "no-store"),
        ("content-security-policy", policy),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "no-referrer"),
        ("x-frame-options", "DENY"),
    ]
}

/// One request for an approval page, as the transport read it.
#[derive(Debug, Clone, Copy)]
pub struct PageRequest<'a> {
    /// The HTTP method.
    pub method: &'a str,
    /// The token: the path after [`PATH_PREFIX`].
    pub token: &'a str,
    /// The raw query string (without `?`).
    pub query: &'a str,
    /// The `Content-Type` header, if any.
    pub content_type: Option<&'a str>,
    /// The body (read for POST only).
    pub body: &'a [u8],
    /// Now, in seconds since the epoch (links expire).
    pub now_s: i64,
}

/// Answers a request for an approval page: verifies the link with `key`, shows the page (GET) or decides
/// (POST). A decision through an approver's link is that principal's, judged with its groups as `directory`
/// knows them now; through a shared link it is [`DECIDED_BY`]'s.
pub async fn answer(
    runtime: &Runtime,
    key: &[u8],
    directory: &dyn Directory,
    req: PageRequest<'_>,
) -> WebReply {
    if req.method != "GET" && req.method != "POST" {
        let mut r = message(
            405,
            "Method not allowed",
            "Approval pages are opened with GET and answered with POST.",
        );
        r.headers.push(("allow", "GET, POST"));
        return r;
    }
    let token = req.token;
    let (approval, by) = match runtime
        .approval_for_link(key, token, req.query, req.now_s)
        .await
    {
        Ok(found) => found,
        Err(LinkRefusal::Link(e)) => return refused(&e),
        Err(LinkRefusal::NotFound) => {
            return message(
                404,
                "No such approval",
                "This link names an approval that does not exist here (the pipeline may have been deleted).",
            )
        }
        Err(LinkRefusal::Decided(a)) => return already_decided(&a),
        Err(LinkRefusal::DecidedBy(a, name)) => return decided_by(&a, &name),
        Err(LinkRefusal::NotWaiting(a)) => return no_longer_waiting(&a),
        Err(LinkRefusal::Runtime(e)) => return internal(&e),
    };
    let action = format!("{PATH_PREFIX}{token}?{}", req.query);
    if req.method == "GET" {
        return html(200, &request_page(&approval, &action, by.as_deref()));
    }
    let form_type = req
        .content_type
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            v.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    if !form_type {
        return message(
            415,
            "Not a form",
            "Send the decision as a form (Content-Type: application/x-www-form-urlencoded).",
        );
    }
    let (mut decision, mut summary) = (None, None);
    for (name, value) in form_urlencoded::parse(req.body) {
        match name.as_ref() {
            "decision" => decision = Some(value.into_owned()),
            "summary" => summary = Some(value.trim().to_owned()),
            _ => {}
        }
    }
    let approve = match decision.as_deref() {
        Some("Approved") => true,
        Some("Rejected") => false,
        Some(other) => {
            return message(
                400,
                "Unknown decision",
                &format!("The form field decision must be Approved or Rejected, not {other:?}."),
            )
        }
        None => {
            return message(
                400,
                "No decision",
                "The form field decision (Approved or Rejected) is missing.",
            )
        }
    };
    let summary = summary.filter(|s| !s.is_empty());
    if summary
        .as_ref()
        .is_some_and(|s| s.chars().count() > MAX_SUMMARY)
    {
        return message(
            400,
            "Comment too long",
            &format!("The comment (form field summary) must be at most {MAX_SUMMARY} characters."),
        );
    }
    let decider = match by {
        Some(name) => match directory.person(&name).await {
            Ok(person) => Decider {
                groups: person.map(|p| p.groups).unwrap_or_default(),
                name,
            },
            Err(e) => {
                warn!(error = %e, "the directory of principals cannot be read");
                return message(
                    503,
                    "Try again",
                    &format!("Who may decide cannot be read now ({e}); nothing was changed."),
                );
            }
        },
        None => Decider::named(DECIDED_BY),
    };
    match runtime
        .decide_approval_as(token, approve, summary, &decider)
        .await
    {
        Ok(decided) if decided.status == ApprovalStatus::Pending => message(
            200,
            "Decision recorded",
            &format!(
                "{} {}: {}.{}.{} in execution {}. It waits for more approvals: {}. This link no longer works.",
                decider.name,
                if approve { "approved" } else { "rejected" },
                decided.pipeline,
                decided.stage,
                decided.action,
                decided.execution_id,
                sluice_runtime::approval_quorum::progress_of(&decided),
            ),
        ),
        Ok(decided) => {
            let (title, what) = if decided.status == ApprovalStatus::Approved {
                ("Approved", "The pipeline continues.")
            } else {
                ("Rejected", "The action fails, and with it the stage.")
            };
            message(
                200,
                title,
                &format!(
                    "{title}: {}.{}.{} in execution {}. {what} This link no longer works.",
                    decided.pipeline, decided.stage, decided.action, decided.execution_id
                ),
            )
        }
        Err(RuntimeError::Conflict(m)) => message(410, "Already decided", &m),
        Err(RuntimeError::NotFound(m)) => message(404, "No such approval", &m),
        // The action's approval rules refuse a decision through a link (it names no approver).
        Err(RuntimeError::Invalid(m)) => message(403, "Not allowed", &m),
        Err(e) => internal(&e),
    }
}

/// The answer for an approval decided already.
fn already_decided(a: &ApprovalRecord) -> WebReply {
    let when = a.decided_ms.map(rfc3339).unwrap_or_default();
    let by = a.decided_by.as_deref().unwrap_or("someone");
    message(
        410,
        "Already decided",
        &format!(
            "The approval of {}.{}.{} in execution {} was already {} by {by} {when}. \
             Links work once; nothing was changed.",
            a.pipeline,
            a.stage,
            a.action,
            a.execution_id,
            if a.status == ApprovalStatus::Approved {
                "approved"
            } else {
                "rejected"
            },
        ),
    )
}

/// The answer for an approver's link once that approver decided (the approval may wait for others).
fn decided_by(a: &ApprovalRecord, name: &str) -> WebReply {
    message(
        410,
        "Already decided",
        &format!(
            "{name} already decided the approval of {}.{}.{} in execution {}. Links work once; nothing was \
             changed.",
            a.pipeline, a.stage, a.action, a.execution_id
        ),
    )
}

/// The answer for an approval whose action ended without a decision.
fn no_longer_waiting(a: &ApprovalRecord) -> WebReply {
    message(
        410,
        "No longer waiting",
        &format!(
            "The approval of {}.{}.{} in execution {} is no longer waiting: the action ended \
             without a decision (timed out, or the execution stopped).",
            a.pipeline, a.stage, a.action, a.execution_id
        ),
    )
}

fn refused(e: &LinkError) -> WebReply {
    match e {
        LinkError::Malformed(m) => message(400, "Not an approval link", m),
        LinkError::Forged => message(
            403,
            "Link not valid",
            "This link's signature does not match: it was altered, or it was not issued by this server. \
             Use the link exactly as it was sent.",
        ),
        LinkError::Expired { expired_at } => message(
            410,
            "Link expired",
            &format!(
                "This approval link expired at {}. Nothing was changed; the approval can still be \
                 decided with `sluice approve` or PutApprovalResult while it waits.",
                rfc3339(expired_at.saturating_mul(1000))
            ),
        ),
    }
}

fn internal(e: &RuntimeError) -> WebReply {
    warn!(error = %e, "approval page failed");
    message(
        500,
        "Something went wrong",
        &format!("The approval could not be read or decided: {e}. Try again."),
    )
}

// ---------------------------------------------------------------------------------------------- pages

fn document(title: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"referrer\" content=\"no-referrer\">\n<meta name=\"color-scheme\" content=\"light dark\">\n\
         <title>{} - Sluice</title>\n<style>{}</style>\n</head>\n<body>\n\
         <header class=\"top\"><span class=\"brand\">Sluice</span></header>\n\
         <main><div class=\"panel\">\n{body}</div></main>\n</body>\n</html>\n",
        esc(title),
        crate::console::html::CSS
    )
}

/// The page that shows an approval request and the form that answers it.
fn request_page(a: &ApprovalRecord, action: &str, by: Option<&str>) -> String {
    let mut body = String::new();
    let _ = write!(
        body,
        "<h1>Approval requested</h1>\n<dl class=\"kv\">\n<dt>Pipeline</dt><dd>{}</dd>\n<dt>Stage</dt><dd>{}</dd>\n\
         <dt>Action</dt><dd>{}</dd>\n<dt>Execution</dt><dd>{}</dd>\n<dt>Requested</dt><dd>{}</dd>\n",
        esc(&a.pipeline),
        esc(&a.stage),
        esc(&a.action),
        esc(&a.execution_id),
        esc(&rfc3339(a.requested_ms)),
    );
    if let Some(data) = &a.custom_data {
        let _ = writeln!(body, "<dt>Request</dt><dd>{}</dd>", esc(data));
    }
    if let Some(link) = &a.external_link {
        // Only web links become links; anything else (javascript:, data:) is shown as text.
        let lower = link.to_ascii_lowercase();
        if lower.starts_with("https://") || lower.starts_with("http://") {
            let _ = writeln!(
                body,
                "<dt>Review</dt><dd><a href=\"{0}\" rel=\"noopener noreferrer\">{0}</a></dd>",
                esc(link)
            );
        } else {
            let _ = writeln!(body, "<dt>Review</dt><dd>{}</dd>", esc(link));
        }
    }
    if let Some(name) = by {
        let _ = writeln!(body, "<dt>Deciding as</dt><dd>{}</dd>", esc(name));
    }
    if !a.approvers.is_empty() {
        let _ = writeln!(
            body,
            "<dt>Approvers</dt><dd>{}</dd>",
            esc(&a.approvers.join(", "))
        );
    }
    for d in &a.decisions {
        let _ = writeln!(
            body,
            "<dt>{}</dt><dd>{} {}{}</dd>",
            if d.approved { "Approved" } else { "Rejected" },
            esc(&d.principal),
            esc(&rfc3339(d.decided_ms)),
            d.comment
                .as_deref()
                .map(|c| format!(": {}", esc(c)))
                .unwrap_or_default()
        );
    }
    let _ = write!(
        body,
        "</dl>\n<form method=\"post\" action=\"{}\">\n\
         <p><label for=\"summary\">Comment (optional)</label><br>\n\
         <textarea id=\"summary\" name=\"summary\" maxlength=\"{MAX_SUMMARY}\" rows=\"4\" cols=\"60\"></textarea></p>\n\
         <p class=\"row\"><button type=\"submit\" name=\"decision\" value=\"Approved\">Approve</button>\n\
         <button type=\"submit\" name=\"decision\" value=\"Rejected\" class=\"danger\">Reject</button></p>\n</form>\n\
         <p class=\"muted\">Opening this page changes nothing; only the buttons act. The link works once.</p>\n",
        esc(action)
    );
    document(
        &format!("Approve {}.{}.{}", a.pipeline, a.stage, a.action),
        &body,
    )
}

/// A page with a title and one paragraph (transports use it for their own refusals).
pub fn message(status: u16, title: &str, text: &str) -> WebReply {
    html(
        status,
        &document(
            title,
            &format!("<h1>{}</h1>\n<p>{}</p>\n", esc(title), esc(text)),
        ),
    )
}

fn html(status: u16, page: &str) -> WebReply {
    WebReply {
        status,
        content_type: "text/html; charset=utf-8",
        headers: page_headers(),
        body: page.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_what_html_would_read_as_markup() {
        assert_eq!(
            esc(r#"<script>alert("x") & 'y'</script>"#),
            "&lt;script&gt;alert(&quot;x&quot;) &amp; &#39;y&#39;&lt;/script&gt;"
        );
    }

    #[test]
    fn the_request_page_escapes_user_text_and_links_only_web_addresses() {
        let a = ApprovalRecord {
            pipeline: "p".into(),
            execution_id: "e".into(),
            stage: "S".into(),
            action: "A".into(),
            attempt: 1,
            token: "t".into(),
            status: ApprovalStatus::Pending,
            summary: None,
            decided_by: None,
            custom_data: Some("<img src=x onerror=alert(1)>".into()),
            external_link: Some("javascript:alert(1)".into()),
            notification_arn: None,
            requested_ms: 0,
            decided_ms: None,
            decisions: Vec::new(),
            deadline_ms: None,
            approvers: Vec::new(),
            not_approvable_by: None,
            required_approvals: 0,
        };
        let page = request_page(&a, "/approvals/t?expires=1&sig=ab", None);
        assert!(page.contains("&lt;img src=x onerror=alert(1)&gt;"));
        assert!(!page.contains("<img"));
        assert!(!page.contains("href=\"javascript"));
        assert!(page.contains("action=\"/approvals/t?expires=1&amp;sig=ab\""));
        assert!(page.contains("value=\"Approved\"") && page.contains("value=\"Rejected\""));
    }
}
