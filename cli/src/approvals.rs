//! Approval pages of `sluice serve`, and the announcer that makes their links known.
//!
//! `GET /approvals/<token>?expires=..&sig=..` shows what waits for approval and a form; it never acts (mail
//! scanners and link previews open links). `POST` to the same URL with `decision=Approved|Rejected` (and an
//! optional `summary`) decides. The signed link is the credential (`sluice_runtime::links`); a link is
//! single-use because an approval is decided once: afterwards every use answers 410 Gone.
//!
//! The announcer polls the store for approvals that started waiting and, once per approval, prints the link
//! and appends CodePipeline's SNS approval message to `<state>/notifications.jsonl`; it announces them again
//! when their reminders (`Reminders`) fall due.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::header::CONTENT_TYPE;
use hyper::{Method, Request};
use sluice_host::notices;
use sluice_runtime::links;
use sluice_runtime::notifications::{self, ApprovalLinks};
use sluice_runtime::ports::Directory;
use sluice_runtime::records::{ActionStatus, ApprovalRecord};
use sluice_runtime::Runtime;
use sluice_web::approval_page::{self, PageRequest};
use tracing::warn;

use crate::http::{self, now_s, Reply};
use crate::service::Service;

pub(crate) use links::PATH_PREFIX;

/// How often the announcer looks for new approvals.
const POLL: Duration = Duration::from_millis(500);

/// Answers a request for an approval page: the page logic is `sluice_web::approval_page`'s, shared
/// with the approval Lambda function.
pub(crate) async fn page(service: &Service, req: Request<Incoming>, token: &str) -> Reply {
    let method = req.method().as_str().to_owned();
    let query = req.uri().query().unwrap_or("").to_owned();
    let (content_type, body) = if req.method() == Method::POST {
        match http::read_request(req, http::MAX_BODY).await {
            Ok((parts, body)) => (
                parts
                    .headers
                    .get(CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned),
                body,
            ),
            Err(e) => {
                let status = e.status();
                return http::web(approval_page::message(
                    status.as_u16(),
                    "Request refused",
                    &e.to_string(),
                ));
            }
        }
    } else {
        (None, Default::default())
    };
    let request = PageRequest {
        method: &method,
        token,
        query: &query,
        content_type: content_type.as_deref(),
        body: &body,
        now_s: now_s(),
    };
    let directory: &dyn Directory = &*service.access;
    http::web(
        approval_page::answer(&service.runtime, &service.approval_key, directory, request).await,
    )
}

// ------------------------------------------------------------------------------------------ announcer

/// Announces every approval that starts waiting, once, until the task is aborted.
/// Links go to each approver the action names (groups expanded with `directory`).
pub(crate) async fn announce(
    runtime: Arc<Runtime>,
    directory: Arc<dyn Directory>,
    key: Vec<u8>,
    base_url: String,
    out: PathBuf,
) {
    let mut announced = HashSet::new();
    let channel = Channel {
        runtime: &runtime,
        directory: &*directory,
        key: &key,
        base_url: &base_url,
        out: &out,
    };
    loop {
        if let Err(e) = announce_new(&channel, &mut announced).await {
            warn!(error = %e, "cannot look for waiting approvals");
        }
        if let Err(e) = remind_due(&channel).await {
            warn!(error = %e, "cannot send approval reminders");
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Where and how approvals are announced.
struct Channel<'a> {
    runtime: &'a Runtime,
    directory: &'a dyn Directory,
    key: &'a [u8],
    base_url: &'a str,
    out: &'a std::path::Path,
}

async fn announce_new(
    channel: &Channel<'_>,
    announced: &mut HashSet<String>,
) -> anyhow::Result<()> {
    let runtime = channel.runtime;
    for head in runtime.list_pipelines().await? {
        for approval in runtime.pending_approvals(&head.name).await? {
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
            let (stage, action) = (&approval.stage, &approval.action);
            let timeout = match runtime.execution(&approval.execution_id).await {
                Ok(execution) => runtime
                    .execution_pipeline(&execution)
                    .await
                    .ok()
                    .and_then(|p| {
                        p.definition
                            .actions()
                            .find(|(_, _, s, a)| &s.name == stage && &a.name == action)
                            .and_then(|(_, _, _, a)| a.timeout_in_minutes)
                    }),
                Err(_) => None,
            };
            // An action with approval rules records its deadline (`Deadline`); the link expires with it.
            let expires = approval.deadline_ms.map_or_else(
                || links::expiry_s(approval.requested_ms, timeout),
                |d| d.div_euclid(1000),
            );
            publish(channel, &approval, expires, None).await?;
        }
    }
    Ok(())
}

/// Announces again the approvals whose reminders (`Reminders`) fell due, each once.
async fn remind_due(channel: &Channel<'_>) -> anyhow::Result<()> {
    for (approval, minutes_before) in channel.runtime.take_due_reminders().await? {
        let expires = approval.deadline_ms.map_or_else(
            || links::expiry_s(approval.requested_ms, None),
            |d| d.div_euclid(1000),
        );
        publish(channel, &approval, expires, Some(minutes_before)).await?;
    }
    Ok(())
}

/// Appends the approval's message to the channel's file, publishes it on the action's NotificationArn, prints
/// its links (one per approver who has not decided, when the action names approvers). `reminder`: the minutes
/// before the deadline of a reminder.
async fn publish(
    channel: &Channel<'_>,
    approval: &ApprovalRecord,
    expires: i64,
    reminder: Option<u32>,
) -> anyhow::Result<()> {
    let note = reminder.map_or_else(String::new, |minutes| {
        format!(
            " (reminder: {} before its deadline)",
            sluice_definition::approval_rules::describe_minutes(minutes)
        )
    });
    let people = if approval.approvers.is_empty() {
        Vec::new()
    } else {
        channel.directory.people().await.unwrap_or_else(|e| {
            warn!(error = %e, "cannot read the principals: approver groups expand to no one");
            Vec::new()
        })
    };
    let mut links = ApprovalLinks::issue(
        channel.key,
        channel.base_url,
        &channel.runtime.config.origin.region,
        approval,
        expires,
        &people,
    );
    links.reminder_minutes_before = reminder;
    let message = notifications::approval_message(approval, &links);
    append_line(channel.out, &message.to_string())?;
    if let Some(topic) = &approval.notification_arn {
        // As CodePipeline does: the action's topic gets the notice too.
        if let Err(e) = notices::publish_approval(topic, approval, &links).await {
            warn!(error = %e, "cannot publish an approval notice to its NotificationArn");
            eprintln!("sluice: {e}");
        }
    }
    if links.approver_links.is_empty() {
        outln!(
            "sluice: approval waiting for {}.{}.{}{note}: {}",
            approval.pipeline,
            approval.stage,
            approval.action,
            links.review_link
        );
    }
    for (who, link) in &links.approver_links {
        outln!(
            "sluice: approval waiting for {}.{}.{}{note}, {who}'s link: {link}",
            approval.pipeline,
            approval.stage,
            approval.action
        );
    }
    Ok(())
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
