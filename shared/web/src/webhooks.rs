//! Webhook deliveries, answered the same way by `sluice serve` and the trigger Lambda function:
//! `POST /webhooks/<pipeline>` (a pipeline's own webhook, for GitHub, GitLab and Bitbucket Cloud: see
//! [`crate::git_webhooks`]), and the deliveries of PutWebhook's named webhooks, `POST /webhooks/named/<name>`
//! ([`deliver_named`]: the webhook's own authentication and filters).
//!
//! [`Delivery`] is a GitHub delivery as a transport that reads only GitHub's headers hands it over;
//! [`deliver`] answers it through [`deliver_git`].

use serde_json::json;
use tracing::{info, warn};

use sluice_runtime::records::TriggerInfo;
use sluice_runtime::triggers::{self, Push};
use sluice_runtime::webhooks::Refusal;
use sluice_runtime::{Runtime, RuntimeError, StartRequest};

use crate::git_webhooks::{body_id, internal, usable_delivery_id};
pub use crate::git_webhooks::{deliver_git, GitDelivery};
use crate::reply::{json_refusal as refuse, json_reply as answer, WebReply};

/// The route prefix of the webhook.
pub const PATH_PREFIX: &str = "/webhooks/";

/// The route prefix of named webhooks, after [`PATH_PREFIX`] (a pipeline name holds no `/`).
pub const NAMED: &str = "named/";

/// The path a named webhook's deliveries are POSTed to.
pub fn webhook_path(name: &str) -> String {
    format!("{PATH_PREFIX}{NAMED}{name}")
}

/// One delivery, as the transport read it (header values trimmed).
#[derive(Debug, Clone, Copy)]
pub struct Delivery<'a> {
    /// The HTTP method.
    pub method: &'a str,
    /// The pipeline: the path after [`PATH_PREFIX`].
    pub pipeline: &'a str,
    /// `X-Hub-Signature-256`.
    pub signature: Option<&'a str>,
    /// `X-GitHub-Event`.
    pub event: Option<&'a str>,
    /// `X-GitHub-Delivery`.
    pub delivery: Option<&'a str>,
    /// `Content-Type`.
    pub content_type: Option<&'a str>,
    /// The raw body, exactly as signed.
    pub body: &'a [u8],
}

/// Answers one GitHub delivery, verified with `secret`: [`deliver_git`] with the headers `req` carries. A
/// transport that has every header at hand calls [`deliver_git`] itself, and so also answers GitLab and
/// Bitbucket Cloud.
pub async fn deliver(runtime: &Runtime, secret: &[u8], req: Delivery<'_>) -> WebReply {
    let headers: Vec<(&str, &str)> = [
        ("x-hub-signature-256", req.signature),
        ("x-github-event", req.event),
        ("x-github-delivery", req.delivery),
        ("content-type", req.content_type),
    ]
    .into_iter()
    .filter_map(|(name, value)| value.map(|v| (name, v)))
    .collect();
    let delivery = GitDelivery {
        method: req.method,
        pipeline: req.pipeline,
        headers: &headers,
        body: req.body,
        changed_files: None,
    };
    deliver_git(runtime, secret, delivery).await
}

/// Answers one delivery to the named webhook `req.pipeline` (the path after [`PATH_PREFIX`] and [`NAMED`]),
/// judged by the webhook's authentication (`source_ip` for `IP`) and filters; a delivery without
/// `X-GitHub-Delivery` is known by its body's hash, so a resent one starts nothing more.
pub async fn deliver_named(
    runtime: &Runtime,
    req: Delivery<'_>,
    source_ip: Option<&str>,
) -> WebReply {
    if req.method != "POST" {
        return refuse(405, "MethodNotAllowed", "webhook deliveries are POSTed");
    }
    let name = req.pipeline;
    let hook = match runtime.webhook(name).await {
        Ok(Some(h)) => h.definition,
        Ok(None) => {
            return refuse(
                404,
                "WebhookNotFound",
                &format!("no webhook named {name:?}"),
            )
        }
        Err(e) => return internal(&e),
    };
    let record = match runtime.pipeline(&hook.target_pipeline, None).await {
        Ok(r) => r,
        Err(RuntimeError::PipelineNotFound(_)) => {
            return refuse(
                404,
                "PipelineNotFound",
                &format!(
                    "webhook {name}'s pipeline {:?} no longer exists",
                    hook.target_pipeline
                ),
            )
        }
        Err(e) => return internal(&e),
    };
    let judged = hook.judge(&record.definition, req.body, req.signature, source_ip);
    // GitHub's ping, once authenticated, is answered whatever the filters say: it never starts anything.
    if req.event == Some("ping") && !matches!(judged, Err(Refusal::Unauthenticated(_))) {
        return answer(200, json!({"message": "pong", "webhook": name}));
    }
    let payload = match judged {
        Ok(p) => p,
        Err(Refusal::Unauthenticated(m)) => {
            warn!(webhook = name, error = %m, "webhook delivery refused");
            return refuse(403, "Unauthenticated", &m);
        }
        Err(Refusal::Skipped(reason)) => {
            info!(webhook = name, reason = %reason, "delivery skipped");
            return answer(200, json!({"started": false, "reason": reason}));
        }
    };
    let delivery = match req.delivery {
        Some(d) if usable_delivery_id(d) => d.to_owned(),
        _ => body_id(req.body),
    };
    let target = record
        .definition
        .actions()
        .find(|(_, _, _, a)| a.name == hook.target_action)
        .map(|(_, _, _, a)| a);
    let pinned: Vec<_> = Push::from_github(&payload)
        .map(|push| {
            triggers::pinned_revisions(&record.definition, &push)
                .into_iter()
                .filter(|r| target.is_some_and(|a| a.name == r.action_name))
                .collect()
        })
        .unwrap_or_default();
    let request = StartRequest {
        trigger: Some(TriggerInfo {
            trigger_type: triggers::TRIGGER_TYPE_V1.to_owned(),
            trigger_detail: format!("{name}:{delivery}"),
            pushed_by: None,
        }),
        source_revisions: pinned,
        ..Default::default()
    };
    let pipeline = hook.target_pipeline.as_str();
    match runtime
        .start_for_delivery(pipeline, &format!("{name}:{delivery}"), request)
        .await
    {
        Ok(d) => {
            if !d.duplicate {
                if let Err(e) = runtime.webhook_triggered(name).await {
                    warn!(webhook = name, error = %e, "the webhook's last trigger was not recorded");
                }
            }
            info!(webhook = name, pipeline, delivery = %delivery, execution = %d.execution.execution_id, duplicate = d.duplicate, "webhook delivery");
            answer(
                200,
                json!({
                    "started": !d.duplicate,
                    "duplicate": d.duplicate,
                    "deliveryId": delivery,
                    "pipelineExecutionId": d.execution.execution_id,
                    "triggerType": triggers::TRIGGER_TYPE_V1,
                }),
            )
        }
        Err(RuntimeError::Invalid(m)) => refuse(400, "CannotStart", &m),
        Err(e) => internal(&e),
    }
}
