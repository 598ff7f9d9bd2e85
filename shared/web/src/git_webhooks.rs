//! A pipeline's own webhook, `POST /webhooks/<pipeline>`, as GitHub, GitLab and Bitbucket Cloud deliver to it,
//! told apart by their headers and each authenticated with the one webhook secret:
//!
//! | host | event header | authentication | delivery id |
//! |---|---|---|---|
//! | GitHub | `X-GitHub-Event` | `X-Hub-Signature-256`: HMAC-SHA256 of the body | `X-GitHub-Delivery` |
//! | GitLab | `X-Gitlab-Event` | `X-Gitlab-Token`: the secret itself | `X-Gitlab-Event-UUID`, else `Idempotency-Key`, else the body's hash |
//! | Bitbucket Cloud | `X-Event-Key` | `X-Hub-Signature`: HMAC-SHA256 of the body | `X-Request-UUID`, else `X-Hook-UUID` and the body's hash |
//!
//! Authentication comes first (401 without it, 403 when wrong): nothing about pipelines is told to a caller
//! without the secret. The event is then read by `sluice_runtime`'s readers
//! ([`sluice_runtime::git_events`], [`sluice_runtime::gitlab_events`], [`sluice_runtime::bitbucket_events`])
//! and judged: pushes by [`triggers::decide`], pull requests by [`pull_requests::decide`]. A start happens once per delivery id ([`Runtime::start_for_delivery`]); a
//! Bitbucket push of several changes starts at most one execution per change, change `i` known as
//! `<delivery>-<i>`. Answers are JSON: `started`, the execution id, or the reason nothing started.

use serde_json::{json, Value};
use tracing::{info, warn};

use sluice_definition::model::Pipeline;
use sluice_runtime::bitbucket_events::{bitbucket_event, verify_bitbucket_signature};
use sluice_runtime::git_events::{github_event, AuthError, GitEvent};
use sluice_runtime::gitlab_events::{gitlab_event, verify_gitlab_token};
use sluice_runtime::pull_requests::{self, ChangedFiles, PullRequest};
use sluice_runtime::records::TriggerInfo;
use sluice_runtime::triggers::{self, Push, SignatureError, Verdict};
use sluice_runtime::{Runtime, RuntimeError, StartRequest};

use crate::reply::{json_refusal as refuse, json_reply as answer, WebReply};

/// One delivery to a pipeline's webhook, as the transport read it.
#[derive(Debug, Clone, Copy)]
pub struct GitDelivery<'a> {
    /// The HTTP method.
    pub method: &'a str,
    /// The pipeline: the path after `/webhooks/`.
    pub pipeline: &'a str,
    /// The request's headers (names in any case, values trimmed).
    pub headers: &'a [(&'a str, &'a str)],
    /// The raw body, exactly as signed.
    pub body: &'a [u8],
    /// Who lists a pull request's changed files when a `filePaths` filter needs them (no host's event lists
    /// them); `None`: such filters cannot match.
    pub changed_files: Option<&'a dyn ChangedFiles>,
}

impl<'a> GitDelivery<'a> {
    /// The first value of header `name`, whatever its case.
    pub fn header(&self, name: &str) -> Option<&'a str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
    }
}

/// Who sent a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Host {
    GitHub,
    GitLab,
    Bitbucket,
}

impl Host {
    /// By the event header; a delivery with none is taken as GitHub's (and refused as such).
    fn of(req: &GitDelivery<'_>) -> Self {
        if req.header("x-github-event").is_some() {
            Self::GitHub
        } else if req.header("x-gitlab-event").is_some() {
            Self::GitLab
        } else if req.header("x-event-key").is_some() {
            Self::Bitbucket
        } else {
            Self::GitHub
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::GitHub => "GitHub",
            Self::GitLab => "GitLab",
            Self::Bitbucket => "Bitbucket",
        }
    }

    fn event_header(self) -> &'static str {
        match self {
            Self::GitHub => "X-GitHub-Event",
            Self::GitLab => "X-Gitlab-Event",
            Self::Bitbucket => "X-Event-Key",
        }
    }
}

/// Whether a delivery id can key the record of its delivery: 1 to 100 letters, digits or '-'.
pub(crate) fn usable_delivery_id(d: &str) -> bool {
    !d.is_empty() && d.len() <= 100 && d.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// A delivery id from the body's hash, for deliveries that carry none: a resent body is the same delivery.
pub(crate) fn body_id(body: &[u8]) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(body);
    format!("body-{}", hex::encode(&digest[..16]))
}

pub(crate) fn internal(e: &RuntimeError) -> WebReply {
    warn!(error = %e, "webhook delivery failed");
    refuse(
        500,
        "InternalError",
        &format!("{e}; the delivery can be redelivered"),
    )
}

/// Checks the delivery's secret or signature the host's way.
fn authenticate(host: Host, secret: &[u8], req: &GitDelivery<'_>) -> Result<(), WebReply> {
    let (kind, refused) = match host {
        Host::GitHub => (
            "InvalidSignature",
            triggers::verify_github_signature(secret, req.body, req.header("x-hub-signature-256"))
                .map_err(|e| (e == SignatureError::Missing, e.to_string())),
        ),
        Host::GitLab => (
            "InvalidToken",
            verify_gitlab_token(secret, req.header("x-gitlab-token"))
                .map_err(|e| (matches!(e, AuthError::Missing(_)), e.to_string())),
        ),
        Host::Bitbucket => (
            "InvalidSignature",
            verify_bitbucket_signature(secret, req.body, req.header("x-hub-signature"))
                .map_err(|e| (matches!(e, AuthError::Missing(_)), e.to_string())),
        ),
    };
    refused.map_err(|(missing, message)| {
        warn!(pipeline = req.pipeline, host = host.name(), error = %message, "webhook delivery refused");
        refuse(if missing { 401 } else { 403 }, kind, &message)
    })
}

/// The header's value as a delivery id: `Ok(None)` when absent, a 400 when unusable.
fn id_header(req: &GitDelivery<'_>, name: &str) -> Result<Option<String>, WebReply> {
    match req.header(name) {
        None => Ok(None),
        // Bitbucket writes its UUIDs in braces.
        Some(v) => {
            let v = v.trim_start_matches('{').trim_end_matches('}');
            if usable_delivery_id(v) {
                Ok(Some(v.to_owned()))
            } else {
                Err(refuse(
                    400,
                    "InvalidHeader",
                    &format!("the {name} header {v:?} must be 1 to 100 letters, digits or '-'"),
                ))
            }
        }
    }
}

/// The id a delivery is deduplicated by, the host's way.
fn delivery_id(host: Host, req: &GitDelivery<'_>) -> Result<String, WebReply> {
    match host {
        Host::GitHub => id_header(req, "X-GitHub-Delivery")?.ok_or_else(|| {
            refuse(
                400,
                "MissingHeader",
                "the X-GitHub-Delivery header is missing",
            )
        }),
        Host::GitLab => Ok(match id_header(req, "X-Gitlab-Event-UUID")? {
            Some(id) => id,
            None => id_header(req, "Idempotency-Key")?.unwrap_or_else(|| body_id(req.body)),
        }),
        Host::Bitbucket => Ok(match id_header(req, "X-Request-UUID")? {
            Some(id) => id,
            None => match id_header(req, "X-Hook-UUID")? {
                Some(hook) => format!("{hook}-{}", body_id(req.body)),
                None => body_id(req.body),
            },
        }),
    }
}

/// Answers one delivery to a pipeline's webhook, authenticated with `secret`.
pub async fn deliver_git(runtime: &Runtime, secret: &[u8], req: GitDelivery<'_>) -> WebReply {
    if req.method != "POST" {
        return refuse(405, "MethodNotAllowed", "webhook deliveries are POSTed");
    }
    let pipeline = req.pipeline;
    let host = Host::of(&req);
    if let Err(refused) = authenticate(host, secret, &req) {
        return refused;
    }
    let Some(event) = req.header(host.event_header()) else {
        return refuse(
            400,
            "MissingHeader",
            &format!("the {} header is missing", host.event_header()),
        );
    };
    let delivery = match delivery_id(host, &req) {
        Ok(d) => d,
        Err(refused) => return refused,
    };
    let record = match runtime.pipeline(pipeline, None).await {
        Ok(r) => r,
        Err(RuntimeError::PipelineNotFound(_)) => {
            return refuse(
                404,
                "PipelineNotFound",
                &format!("no pipeline named {pipeline:?}"),
            )
        }
        Err(e) => return internal(&e),
    };
    if host == Host::GitHub && event == "ping" {
        return answer(
            200,
            json!({"message": "pong", "pipeline": pipeline, "deliveryId": delivery}),
        );
    }
    let read = payload(req.header("content-type"), req.body).and_then(|p| match host {
        Host::GitHub => github_event(event, &p),
        Host::GitLab => gitlab_event(event, &p),
        Host::Bitbucket => bitbucket_event(event, &p),
    });
    let starts = Starts {
        runtime,
        definition: &record.definition,
        pipeline,
        host,
        changed_files: req.changed_files,
    };
    match read {
        Err(m) => refuse(400, "InvalidPayload", &m),
        Ok(GitEvent::Ignored(reason)) => answer(
            200,
            json!({"started": false, "deliveryId": delivery, "reason": reason}),
        ),
        Ok(GitEvent::Pushes(pushes)) => starts.pushes(&delivery, &pushes).await,
        Ok(GitEvent::PullRequest(pr)) => match starts.pull_request(&delivery, &pr).await {
            Ok(a) => answer(200, a),
            Err(refused) => refused,
        },
    }
}

/// What starting an execution for a delivery needs.
struct Starts<'a> {
    runtime: &'a Runtime,
    definition: &'a Pipeline,
    pipeline: &'a str,
    host: Host,
    changed_files: Option<&'a dyn ChangedFiles>,
}

impl Starts<'_> {
    /// Each push judged and started on its own; one push is answered as itself, several with the first
    /// execution (if any) and every change's answer in `changes`.
    async fn pushes(&self, delivery: &str, pushes: &[Push]) -> WebReply {
        if pushes.is_empty() {
            return answer(
                200,
                json!({"started": false, "deliveryId": delivery, "reason": "the push carries no changes"}),
            );
        }
        let mut answers = Vec::new();
        for (i, push) in pushes.iter().enumerate() {
            let id = if pushes.len() == 1 {
                delivery.to_owned()
            } else {
                format!("{delivery}-{i}")
            };
            match self.push(&id, push).await {
                Ok(a) => answers.push(a),
                Err(refused) => return refused,
            }
        }
        if answers.len() == 1 {
            return answer(200, answers.remove(0));
        }
        let started = answers.iter().any(|a| a["started"] == true);
        let mut top = match answers
            .iter()
            .find(|a| a.get("pipelineExecutionId").is_some())
        {
            Some(first) => first.clone(),
            None => {
                let reasons: Vec<String> = answers
                    .iter()
                    .enumerate()
                    .map(|(i, a)| {
                        format!(
                            "push.changes[{i}] ({}): {}",
                            a["ref"].as_str().unwrap_or_default(),
                            a["reason"].as_str().unwrap_or_default()
                        )
                    })
                    .collect();
                json!({"reason": reasons.join("; ")})
            }
        };
        top["started"] = json!(started);
        top["deliveryId"] = json!(delivery);
        top["changes"] = Value::Array(answers);
        answer(200, top)
    }

    async fn push(&self, id: &str, push: &Push) -> Result<Value, WebReply> {
        let mut push = push.clone();
        if let (Some(source), Some(lister)) = (
            triggers::files_needed(self.definition, &push),
            self.changed_files,
        ) {
            match lister.push_files(self.host.name(), source, &push).await {
                Ok(files) => push.changed_files = files,
                Err(why) => {
                    warn!(pipeline = self.pipeline, delivery = %id, why = %why, "cannot list a push's changed files");
                    return Err(refuse(
                        502,
                        "ChangedFilesUnavailable",
                        &format!(
                            "the push to {} needs the files it changes (a push filter has filePaths), and they could not be listed from {}'s repository: {why}",
                            push.git_ref, source.name
                        ),
                    ));
                }
            }
        }
        let push = &push;
        let described = push.git_ref.to_string();
        let (trigger_type, matched) = match triggers::decide(self.definition, push) {
            Verdict::Start {
                trigger_type,
                matched,
            } => (trigger_type, matched),
            Verdict::Skip(reason) => {
                info!(pipeline = self.pipeline, host = self.host.name(), delivery = %id, reason = %reason, "push skipped");
                return Ok(
                    json!({"started": false, "deliveryId": id, "ref": described, "reason": reason}),
                );
            }
        };
        let request = StartRequest {
            trigger: Some(TriggerInfo {
                trigger_type: trigger_type.to_owned(),
                trigger_detail: id.to_owned(),
                pushed_by: push.pusher.clone(),
            }),
            source_revisions: triggers::pinned_revisions(self.definition, push),
            ..Default::default()
        };
        let facts = json!({
            "triggerType": trigger_type,
            "matched": matched,
            "ref": described,
            "commit": push.commit,
        });
        self.start(id, request, facts).await
    }

    async fn pull_request(&self, delivery: &str, pr: &PullRequest) -> Result<Value, WebReply> {
        let mut pr = pr.clone();
        if let (Some(source), Some(lister)) = (
            pull_requests::files_needed(self.definition, &pr),
            self.changed_files,
        ) {
            match lister.changed_files(self.host.name(), source, &pr).await {
                Ok(files) => pr.changed_files = Some(files),
                Err(why) => {
                    warn!(pipeline = self.pipeline, delivery, why = %why, "cannot list a pull request's changed files");
                    return Err(refuse(
                        502,
                        "ChangedFilesUnavailable",
                        &format!(
                            "{} needs the files it changes (a pullRequest filter has filePaths), and they could not be listed from {}'s repository: {why}",
                            pr.describe(),
                            source.name
                        ),
                    ));
                }
            }
        }
        let pr = &pr;
        let about = json!({
            "number": pr.number,
            "event": pr.event.as_str(),
            "title": pr.title,
            "sourceBranch": pr.source_branch,
            "destinationBranch": pr.destination_branch,
            "changedFiles": pr.changed_files.as_ref().map(Vec::len),
        });
        let (trigger_type, matched) = match pull_requests::decide(self.definition, pr) {
            Verdict::Start {
                trigger_type,
                matched,
            } => (trigger_type, matched),
            Verdict::Skip(reason) => {
                info!(pipeline = self.pipeline, host = self.host.name(), delivery, reason = %reason, "pull request skipped");
                return Ok(json!({
                    "started": false,
                    "deliveryId": delivery,
                    "pullRequest": about,
                    "reason": reason,
                }));
            }
        };
        let request = StartRequest {
            trigger: Some(TriggerInfo {
                trigger_type: trigger_type.to_owned(),
                trigger_detail: format!("{delivery}: {}", pr.describe()),
                pushed_by: None,
            }),
            source_revisions: pull_requests::pinned_revisions(self.definition, pr),
            ..Default::default()
        };
        let facts = json!({
            "triggerType": trigger_type,
            "matched": matched,
            "commit": pr.commit,
            "pullRequest": about,
        });
        self.start(delivery, request, facts).await
    }

    /// Starts once per `id`; the answer is `facts` with `started`, `duplicate`, `deliveryId` and
    /// `pipelineExecutionId`.
    async fn start(
        &self,
        id: &str,
        request: StartRequest,
        facts: Value,
    ) -> Result<Value, WebReply> {
        let d = match self
            .runtime
            .start_for_delivery(self.pipeline, id, request)
            .await
        {
            Ok(d) => d,
            Err(RuntimeError::Invalid(m)) => return Err(refuse(400, "CannotStart", &m)),
            Err(e) => return Err(internal(&e)),
        };
        info!(pipeline = self.pipeline, host = self.host.name(), delivery = %id, execution = %d.execution.execution_id, duplicate = d.duplicate, "webhook delivery");
        let mut a = json!({
            "started": !d.duplicate,
            "duplicate": d.duplicate,
            "deliveryId": id,
            "pipelineExecutionId": d.execution.execution_id,
        });
        if let (Some(a), Value::Object(facts)) = (a.as_object_mut(), facts) {
            a.extend(facts);
        }
        Ok(a)
    }
}

/// The event's JSON: the body itself, or its `payload` field when GitHub sends a form.
fn payload(content_type: Option<&str>, body: &[u8]) -> Result<Value, String> {
    let media = content_type
        .and_then(|c| c.split(';').next())
        .map(|c| c.trim().to_ascii_lowercase());
    let json_text: std::borrow::Cow<'_, [u8]> =
        if media.as_deref() == Some("application/x-www-form-urlencoded") {
            let field = form_urlencoded::parse(body)
                .find(|(k, _)| k == "payload")
                .map(|(_, v)| v.into_owned())
                .ok_or("the form has no payload field")?;
            field.into_bytes().into()
        } else {
            body.into()
        };
    serde_json::from_slice(&json_text).map_err(|e| {
        format!(
            "the payload is not JSON: {e} (line {}, column {})",
            e.line(),
            e.column()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req<'a>(headers: &'a [(&'a str, &'a str)], body: &'a [u8]) -> GitDelivery<'a> {
        GitDelivery {
            method: "POST",
            pipeline: "p",
            headers,
            body,
            changed_files: None,
        }
    }

    #[test]
    fn hosts_are_told_apart_by_their_event_headers() {
        let cases: [(&[(&str, &str)], Host); 5] = [
            (&[("X-GitHub-Event", "push")], Host::GitHub),
            (&[("x-gitlab-event", "Push Hook")], Host::GitLab),
            (&[("X-Event-Key", "repo:push")], Host::Bitbucket),
            // GitHub's header wins: GitHub sends no X-Event-Key, a proxy might add anything.
            (
                &[("x-event-key", "repo:push"), ("x-github-event", "push")],
                Host::GitHub,
            ),
            (&[], Host::GitHub),
        ];
        for (headers, host) in cases {
            assert_eq!(Host::of(&req(headers, b"")), host, "{headers:?}");
        }
    }

    #[test]
    fn delivery_ids_fall_back_the_hosts_way() {
        let body = b"{\"a\":1}";
        let id = |host, headers: &[(&str, &str)]| {
            delivery_id(host, &req(headers, body)).map_err(|r| (r.status, r.body))
        };
        assert_eq!(
            id(
                Host::GitLab,
                &[("X-Gitlab-Event-UUID", "e-1"), ("Idempotency-Key", "k-1")]
            ),
            Ok("e-1".into())
        );
        assert_eq!(
            id(Host::GitLab, &[("Idempotency-Key", "k-1")]),
            Ok("k-1".into())
        );
        assert_eq!(id(Host::GitLab, &[]), Ok(body_id(body)));
        assert_eq!(
            id(
                Host::Bitbucket,
                &[("X-Request-UUID", "{r-1}"), ("X-Hook-UUID", "h-1")]
            ),
            Ok("r-1".into())
        );
        assert_eq!(
            id(Host::Bitbucket, &[("X-Hook-UUID", "h-1")]),
            Ok(format!("h-1-{}", body_id(body)))
        );
        let bad = id(Host::GitLab, &[("X-Gitlab-Event-UUID", "not ok")]).expect_err("refused");
        assert_eq!(bad.0, 400);
        assert!(bad.1.contains("X-Gitlab-Event-UUID"), "{}", bad.1);
        assert_eq!(id(Host::GitHub, &[]).expect_err("refused").0, 400);
    }
}
