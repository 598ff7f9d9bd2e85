//! Approval pages of `sluice serve`, and the announcer that makes their links known.
//!
//! `GET /approvals/<token>?expires=..&sig=..` shows what waits for approval and a form; it never acts (mail
//! scanners and link previews open links). `POST` to the same URL with `decision=Approved|Rejected` (and an
//! optional `summary`) decides. The signed link is the credential (`sluice_core::runtime::links`); a link is
//! single-use because an approval is decided once: afterwards every use answers 410 Gone.
//!
//! The announcer polls the store for approvals that started waiting and, once per approval, prints the link
//! and appends CodePipeline's SNS approval message to `<state>/notifications.jsonl`.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE};
use hyper::{Method, Request, StatusCode};
use sluice_core::runtime::approval_links::LinkRefusal;
use sluice_core::runtime::dispatch::{Runtime, RuntimeError};
use sluice_core::runtime::events::rfc3339;
use sluice_core::runtime::links::{self, LinkError};
use sluice_core::runtime::notifications::{self, ApprovalLinks};
use sluice_core::runtime::ports::Order;
use sluice_core::runtime::records::{keys, ActionStatus, ApprovalRecord, ApprovalStatus};
use tracing::warn;

use crate::serve::{self, now_s, reply, Reply, Service};

pub(crate) use links::PATH_PREFIX;

/// Who decisions through a link are recorded as.
const DECIDED_BY: &str = "approval-link";

/// CodePipeline's limit on an approval summary.
const MAX_SUMMARY: usize = 512;

/// How often the announcer looks for new approvals.
const POLL: Duration = Duration::from_millis(500);

/// Answers a request for an approval page.
pub(crate) async fn page(service: &Service, req: Request<Incoming>, token: &str) -> Reply {
    let method = req.method().clone();
    if method != Method::GET && method != Method::POST {
        let mut r = message(
            StatusCode::METHOD_NOT_ALLOWED,
            "Method not allowed",
            "Approval pages are opened with GET and answered with POST.",
        );
        r.headers_mut()
            .insert(hyper::header::ALLOW, HeaderValue::from_static("GET, POST"));
        return r;
    }
    let query = req.uri().query().unwrap_or("").to_owned();
    let approval = match service
        .runtime
        .approval_for_link(&service.approval_key, token, &query, now_s())
        .await
    {
        Ok(a) => a,
        Err(LinkRefusal::Link(e)) => return refused(&e),
        Err(LinkRefusal::NotFound) => {
            return message(
                StatusCode::NOT_FOUND,
                "No such approval",
                "This link names an approval that does not exist here (the pipeline may have been deleted).",
            )
        }
        Err(LinkRefusal::Decided(a)) => return already_decided(&a),
        Err(LinkRefusal::NotWaiting(a)) => return no_longer_waiting(&a),
        Err(LinkRefusal::Runtime(e)) => return internal(&e),
    };
    let action = format!("{PATH_PREFIX}{token}?{query}");
    if method == Method::GET {
        return html(StatusCode::OK, &request_page(&approval, &action));
    }
    let (parts, body) = match serve::read_request(req, serve::MAX_BODY).await {
        Ok(read) => read,
        Err(e) => return message(e.status(), "Request refused", &e.to_string()),
    };
    let form_type = parts
        .headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            v.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    if !form_type {
        return message(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Not a form",
            "Send the decision as a form (Content-Type: application/x-www-form-urlencoded).",
        );
    }
    let (mut decision, mut summary) = (None, None);
    for (name, value) in form_urlencoded::parse(&body) {
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
                StatusCode::BAD_REQUEST,
                "Unknown decision",
                &format!("The form field decision must be Approved or Rejected, not {other:?}."),
            )
        }
        None => {
            return message(
                StatusCode::BAD_REQUEST,
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
            StatusCode::BAD_REQUEST,
            "Comment too long",
            &format!("The comment (form field summary) must be at most {MAX_SUMMARY} characters."),
        );
    }
    match service
        .runtime
        .decide_approval(token, approve, summary, DECIDED_BY)
        .await
    {
        Ok(decided) => {
            let (title, what) = if approve {
                ("Approved", "The pipeline continues.")
            } else {
                ("Rejected", "The action fails, and with it the stage.")
            };
            message(
                StatusCode::OK,
                title,
                &format!(
                    "{title}: {}.{}.{} in execution {}. {what} This link no longer works.",
                    decided.pipeline, decided.stage, decided.action, decided.execution_id
                ),
            )
        }
        Err(RuntimeError::Conflict(m)) => message(StatusCode::GONE, "Already decided", &m),
        Err(RuntimeError::NotFound(m)) => message(StatusCode::NOT_FOUND, "No such approval", &m),
        Err(e) => internal(&e),
    }
}

/// The answer for an approval decided already.
fn already_decided(a: &ApprovalRecord) -> Reply {
    let when = a.decided_ms.map(rfc3339).unwrap_or_default();
    let by = a.decided_by.as_deref().unwrap_or("someone");
    message(
        StatusCode::GONE,
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

/// The answer for an approval whose action ended without a decision.
fn no_longer_waiting(a: &ApprovalRecord) -> Reply {
    message(
        StatusCode::GONE,
        "No longer waiting",
        &format!(
            "The approval of {}.{}.{} in execution {} is no longer waiting: the action ended \
             without a decision (timed out, or the execution stopped).",
            a.pipeline, a.stage, a.action, a.execution_id
        ),
    )
}

fn refused(e: &LinkError) -> Reply {
    match e {
        LinkError::Malformed(m) => message(StatusCode::BAD_REQUEST, "Not an approval link", m),
        LinkError::Forged => message(
            StatusCode::FORBIDDEN,
            "Link not valid",
            "This link's signature does not match: it was altered, or it was not issued by this server. \
             Use the link exactly as it was sent.",
        ),
        LinkError::Expired { expired_at } => message(
            StatusCode::GONE,
            "Link expired",
            &format!(
                "This approval link expired at {}. Nothing was changed; the approval can still be \
                 decided with `sluice approve` or PutApprovalResult while it waits.",
                rfc3339(expired_at.saturating_mul(1000))
            ),
        ),
    }
}

fn internal(e: &RuntimeError) -> Reply {
    warn!(error = %e, "approval page failed");
    message(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Something went wrong",
        &format!("The approval could not be read or decided: {e}. Try again."),
    )
}

// ---------------------------------------------------------------------------------------------- pages

/// Text made safe for HTML content and attribute values.
fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn document(title: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"referrer\" content=\"no-referrer\">\n<title>{} - Sluice</title>\n</head>\n<body>\n{body}</body>\n</html>\n",
        esc(title)
    )
}

/// The page that shows an approval request and the form that answers it.
fn request_page(a: &ApprovalRecord, action: &str) -> String {
    let mut body = String::new();
    let _ = write!(
        body,
        "<h1>Approval requested</h1>\n<dl>\n<dt>Pipeline</dt><dd>{}</dd>\n<dt>Stage</dt><dd>{}</dd>\n\
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
    let _ = write!(
        body,
        "</dl>\n<form method=\"post\" action=\"{}\">\n\
         <p><label for=\"summary\">Comment (optional)</label><br>\n\
         <textarea id=\"summary\" name=\"summary\" maxlength=\"{MAX_SUMMARY}\" rows=\"4\" cols=\"60\"></textarea></p>\n\
         <p><button type=\"submit\" name=\"decision\" value=\"Approved\">Approve</button>\n\
         <button type=\"submit\" name=\"decision\" value=\"Rejected\">Reject</button></p>\n</form>\n\
         <p>Opening this page changes nothing; only the buttons act. The link works once.</p>\n",
        esc(action)
    );
    document(
        &format!("Approve {}.{}.{}", a.pipeline, a.stage, a.action),
        &body,
    )
}

/// A page with a title and one paragraph.
fn message(status: StatusCode, title: &str, text: &str) -> Reply {
    html(
        status,
        &document(
            title,
            &format!("<h1>{}</h1>\n<p>{}</p>\n", esc(title), esc(text)),
        ),
    )
}

fn html(status: StatusCode, page: &str) -> Reply {
    let mut r = reply(status, "text/html; charset=utf-8", page.to_owned());
    let h = r.headers_mut();
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        "content-security-policy",
        HeaderValue::from_static(
            "default-src 'none'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    r
}

// ------------------------------------------------------------------------------------------ announcer

/// Announces every approval that starts waiting, once, until the task is aborted.
pub(crate) async fn announce(runtime: Arc<Runtime>, key: Vec<u8>, base_url: String, out: PathBuf) {
    let mut announced = HashSet::new();
    loop {
        if let Err(e) = announce_new(&runtime, &key, &base_url, &out, &mut announced).await {
            warn!(error = %e, "cannot look for waiting approvals");
        }
        tokio::time::sleep(POLL).await;
    }
}

async fn announce_new(
    runtime: &Runtime,
    key: &[u8],
    base_url: &str,
    out: &std::path::Path,
    announced: &mut HashSet<String>,
) -> anyhow::Result<()> {
    for head in runtime.list_pipelines().await? {
        let record = runtime.pipeline(&head.name, None).await?;
        let manual: Vec<(String, String)> = record
            .definition
            .actions()
            .filter(|(_, _, _, a)| {
                a.action_type_id.category == "Approval" && a.action_type_id.provider == "Manual"
            })
            .map(|(_, _, s, a)| (s.name.clone(), a.name.clone()))
            .collect();
        for (stage, action) in manual {
            for approval in pending(runtime, &head.name, &stage, &action).await? {
                if announced.contains(&approval.token) {
                    continue;
                }
                let Some(ended) = action_ended(runtime, &approval).await? else {
                    continue; // Its action is not recorded yet: next time.
                };
                announced.insert(approval.token.clone());
                if ended {
                    continue;
                }
                let timeout = runtime
                    .execution(&approval.execution_id)
                    .await
                    .ok()
                    .map(|e| e.version);
                let timeout = match timeout {
                    Some(v) => runtime
                        .pipeline(&head.name, Some(v))
                        .await
                        .ok()
                        .and_then(|p| {
                            p.definition
                                .actions()
                                .find(|(_, _, s, a)| s.name == stage && a.name == action)
                                .and_then(|(_, _, _, a)| a.timeout_in_minutes)
                        }),
                    None => None,
                };
                let expires = links::expiry_s(approval.requested_ms, timeout);
                let url = format!("{base_url}{}", links::path(key, &approval.token, expires));
                let message = notifications::approval_message(
                    &approval,
                    &ApprovalLinks {
                        region: runtime.config.origin.region.clone(),
                        console_link: format!("{base_url}/"),
                        review_link: url.clone(),
                        expires_s: expires,
                    },
                );
                append_line(out, &message.to_string())?;
                println!(
                    "sluice: approval waiting for {}.{}.{}: {url}",
                    approval.pipeline, approval.stage, approval.action
                );
            }
        }
    }
    Ok(())
}

/// The pending approvals of an action, across executions.
async fn pending(
    runtime: &Runtime,
    pipeline: &str,
    stage: &str,
    action: &str,
) -> anyhow::Result<Vec<ApprovalRecord>> {
    let pk = keys::approval(pipeline, stage, action);
    let mut out = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = runtime
            .store
            .query(&pk, "", Order::Ascending, 100, after.as_deref())
            .await?;
        let done = page.len() < 100;
        after = page.last().map(|i| i.sk.clone());
        for item in page {
            let a: ApprovalRecord = serde_json::from_value(item.data)
                .map_err(|e| anyhow::anyhow!("corrupt approval {}/{}: {e}", item.pk, item.sk))?;
            if a.status == ApprovalStatus::Pending {
                out.push(a);
            }
        }
        if done {
            return Ok(out);
        }
    }
}

/// Whether the approval's action attempt ended (None when it is not recorded).
async fn action_ended(runtime: &Runtime, a: &ApprovalRecord) -> anyhow::Result<Option<bool>> {
    Ok(runtime
        .actions(&a.execution_id)
        .await?
        .iter()
        .find(|r| r.stage == a.stage && r.action == a.action && r.attempt == a.attempt)
        .map(|r| r.status != ActionStatus::InProgress))
}

/// Appends one line to a file readable by its owner only (the links in it are credentials).
fn append_line(path: &std::path::Path, line: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.append(true).create(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .map_err(|e| anyhow::anyhow!("cannot open {}: {e}", path.display()))?;
    file.write_all(format!("{line}\n").as_bytes())
        .map_err(|e| anyhow::anyhow!("cannot append to {}: {e}", path.display()))
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
            requested_ms: 0,
            decided_ms: None,
        };
        let page = request_page(&a, "/approvals/t?expires=1&sig=ab");
        assert!(page.contains("&lt;img src=x onerror=alert(1)&gt;"));
        assert!(!page.contains("<img"));
        assert!(!page.contains("href=\"javascript"));
        assert!(page.contains("action=\"/approvals/t?expires=1&amp;sig=ab\""));
        assert!(page.contains("value=\"Approved\"") && page.contains("value=\"Rejected\""));
    }
}
