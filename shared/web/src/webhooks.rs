//! GitHub-compatible webhook deliveries, answered the same way by `sluice serve` and the trigger Lambda
//! function: `POST /webhooks/<pipeline>`, and the deliveries of PutWebhook's named webhooks,
//! `POST /webhooks/named/<name>` ([`deliver_named`]: the webhook's own authentication and filters).
//!
//! A delivery must carry `X-Hub-Signature-256` (HMAC-SHA256 of the raw body with the webhook secret, checked in
//! constant time), `X-GitHub-Event` and `X-GitHub-Delivery`. `ping` is answered; a `push` is read and judged
//! by [`sluice_runtime::triggers`] (the pipeline's trigger filters, or its source's branch), and a matching one starts
//! an execution once per delivery id ([`Runtime::start_for_delivery`]). Answers are JSON; a skipped push says
//! why.

use serde_json::{json, Value};
use tracing::{info, warn};

use sluice_runtime::records::TriggerInfo;
use sluice_runtime::triggers::{self, Push, SignatureError, Verdict};
use sluice_runtime::webhooks::Refusal;
use sluice_runtime::{Runtime, RuntimeError, StartRequest};

use crate::reply::WebReply;

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

/// Whether a delivery id can key the record of its delivery: 1 to 100 letters, digits or '-'.
fn usable_delivery_id(d: &str) -> bool {
    !d.is_empty() && d.len() <= 100 && d.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

fn answer(status: u16, body: Value) -> WebReply {
    WebReply {
        status,
        content_type: "application/json",
        headers: Vec::new(),
        body: body.to_string(),
    }
}

fn refuse(status: u16, kind: &str, message: &str) -> WebReply {
    answer(status, json!({"error": kind, "message": message}))
}

/// Answers one webhook delivery, verified with `secret`.
pub async fn deliver(runtime: &Runtime, secret: &[u8], req: Delivery<'_>) -> WebReply {
    if req.method != "POST" {
        return refuse(405, "MethodNotAllowed", "webhook deliveries are POSTed");
    }
    let pipeline = req.pipeline;
    // The signature first: nothing about pipelines is told to an unsigned caller.
    if let Err(e) = triggers::verify_github_signature(secret, req.body, req.signature) {
        let status = match e {
            SignatureError::Missing => 401,
            SignatureError::Malformed | SignatureError::Mismatch => 403,
        };
        warn!(pipeline, error = %e, "webhook delivery refused");
        return refuse(status, "InvalidSignature", &e.to_string());
    }
    let Some(event) = req.event else {
        return refuse(400, "MissingHeader", "the X-GitHub-Event header is missing");
    };
    let delivery = match req.delivery {
        Some(d) if usable_delivery_id(d) => d.to_owned(),
        Some(d) => {
            return refuse(
                400,
                "InvalidHeader",
                &format!(
                    "the X-GitHub-Delivery header {d:?} must be 1 to 100 letters, digits or '-'"
                ),
            )
        }
        None => {
            return refuse(
                400,
                "MissingHeader",
                "the X-GitHub-Delivery header is missing",
            )
        }
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
    match event {
        "ping" => {
            return answer(
                200,
                json!({"message": "pong", "pipeline": pipeline, "deliveryId": delivery}),
            )
        }
        "push" => {}
        other => {
            return answer(
                200,
                json!({
                    "started": false,
                    "deliveryId": delivery,
                    "reason": format!("{other} events are not handled (push and ping are)"),
                }),
            )
        }
    }
    let payload = match payload(req.content_type, req.body) {
        Ok(p) => p,
        Err(m) => return refuse(400, "InvalidPayload", &m),
    };
    let push = match Push::from_github(&payload) {
        Ok(p) => p,
        Err(m) => return refuse(400, "InvalidPayload", &format!("push payload: {m}")),
    };
    let (trigger_type, matched) = match triggers::decide(&record.definition, &push) {
        Verdict::Start {
            trigger_type,
            matched,
        } => (trigger_type, matched),
        Verdict::Skip(reason) => {
            info!(pipeline, delivery = %delivery, reason = %reason, "push skipped");
            return answer(
                200,
                json!({"started": false, "deliveryId": delivery, "reason": reason}),
            );
        }
    };
    let request = StartRequest {
        trigger: Some(TriggerInfo {
            trigger_type: trigger_type.to_owned(),
            trigger_detail: delivery.clone(),
        }),
        source_revisions: triggers::pinned_revisions(&record.definition, &push),
        ..Default::default()
    };
    match runtime
        .start_for_delivery(pipeline, &delivery, request)
        .await
    {
        Ok(d) => {
            info!(pipeline, delivery = %delivery, execution = %d.execution.execution_id, duplicate = d.duplicate, "webhook delivery");
            answer(
                200,
                json!({
                    "started": !d.duplicate,
                    "duplicate": d.duplicate,
                    "deliveryId": delivery,
                    "pipelineExecutionId": d.execution.execution_id,
                    "triggerType": trigger_type,
                    "matched": matched,
                    "commit": push.commit,
                }),
            )
        }
        Err(RuntimeError::Invalid(m)) => refuse(400, "CannotStart", &m),
        Err(e) => internal(&e),
    }
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
        _ => {
            use sha2::Digest;
            let digest = sha2::Sha256::digest(req.body);
            format!("body-{}", hex::encode(&digest[..16]))
        }
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

fn internal(e: &RuntimeError) -> WebReply {
    warn!(error = %e, "webhook delivery failed");
    refuse(
        500,
        "InternalError",
        &format!("{e}; the delivery can be redelivered"),
    )
}
