//! The GitHub-compatible webhook of `sluice serve`: `POST /webhooks/<pipeline>`.
//!
//! A delivery must carry `X-Hub-Signature-256` (HMAC-SHA256 of the raw body with the secret in
//! `<state>/webhook.secret`), `X-GitHub-Event` and `X-GitHub-Delivery`. `ping` is answered; a `push` is read
//! and judged by `sluice_core::runtime::triggers` (the pipeline's trigger filters, or its source's branch),
//! and a matching one starts an execution once per delivery id. Answers are JSON; a skipped push says why.

use hyper::body::Incoming;
use hyper::header::CONTENT_TYPE;
use hyper::{Method, Request, StatusCode};
use serde_json::{json, Value};
use sluice_core::runtime::dispatch::{RuntimeError, StartRequest};
use sluice_core::runtime::records::TriggerInfo;
use sluice_core::runtime::triggers::{self, Push, SignatureError, Verdict};
use tracing::{info, warn};

use crate::serve::{self, reply, Reply, Service};

/// The route prefix of the webhook.
pub(crate) const PATH_PREFIX: &str = "/webhooks/";

fn answer(status: StatusCode, body: Value) -> Reply {
    reply(status, "application/json", body.to_string())
}

fn refuse(status: StatusCode, kind: &str, message: &str) -> Reply {
    answer(status, json!({"error": kind, "message": message}))
}

/// Answers one webhook delivery for `pipeline`.
pub(crate) async fn handle(service: &Service, req: Request<Incoming>, pipeline: &str) -> Reply {
    if req.method() != Method::POST {
        return refuse(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            "webhook deliveries are POSTed",
        );
    }
    let (parts, body) = match serve::read_request(req, serve::MAX_BODY).await {
        Ok(read) => read,
        Err(e) => return refuse(e.status(), "RequestRefused", &e.to_string()),
    };
    let header = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    // The signature first: nothing about pipelines is told to an unsigned caller.
    if let Err(e) = triggers::verify_github_signature(
        &service.webhook_secret,
        &body,
        header("x-hub-signature-256"),
    ) {
        let status = match e {
            SignatureError::Missing => StatusCode::UNAUTHORIZED,
            SignatureError::Malformed | SignatureError::Mismatch => StatusCode::FORBIDDEN,
        };
        warn!(pipeline, error = %e, "webhook delivery refused");
        return refuse(status, "InvalidSignature", &e.to_string());
    }
    let Some(event) = header("x-github-event") else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "MissingHeader",
            "the X-GitHub-Event header is missing",
        );
    };
    let delivery = match header("x-github-delivery") {
        Some(d)
            if !d.is_empty()
                && d.len() <= 100
                && d.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') =>
        {
            d.to_owned()
        }
        Some(d) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                "InvalidHeader",
                &format!(
                    "the X-GitHub-Delivery header {d:?} must be 1 to 100 letters, digits or '-'"
                ),
            )
        }
        None => {
            return refuse(
                StatusCode::BAD_REQUEST,
                "MissingHeader",
                "the X-GitHub-Delivery header is missing",
            )
        }
    };
    let record = match service.runtime.pipeline(pipeline, None).await {
        Ok(r) => r,
        Err(RuntimeError::PipelineNotFound(_)) => {
            return refuse(
                StatusCode::NOT_FOUND,
                "PipelineNotFound",
                &format!("no pipeline named {pipeline:?}"),
            )
        }
        Err(e) => return internal(&e),
    };
    match event {
        "ping" => {
            return answer(
                StatusCode::OK,
                json!({"message": "pong", "pipeline": pipeline, "deliveryId": delivery}),
            )
        }
        "push" => {}
        other => {
            return answer(
                StatusCode::OK,
                json!({
                    "started": false,
                    "deliveryId": delivery,
                    "reason": format!("{other} events are not handled (push and ping are)"),
                }),
            )
        }
    }
    let payload = match payload(
        parts
            .headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok()),
        &body,
    ) {
        Ok(p) => p,
        Err(m) => return refuse(StatusCode::BAD_REQUEST, "InvalidPayload", &m),
    };
    let push = match Push::from_github(&payload) {
        Ok(p) => p,
        Err(m) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                "InvalidPayload",
                &format!("push payload: {m}"),
            )
        }
    };
    let (trigger_type, matched) = match triggers::decide(&record.definition, &push) {
        Verdict::Start {
            trigger_type,
            matched,
        } => (trigger_type, matched),
        Verdict::Skip(reason) => {
            info!(pipeline, delivery = %delivery, reason = %reason, "push skipped");
            return answer(
                StatusCode::OK,
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
    match service
        .runtime
        .start_for_delivery(pipeline, &delivery, request)
        .await
    {
        Ok(d) => {
            info!(pipeline, delivery = %delivery, execution = %d.execution.execution_id, duplicate = d.duplicate, "webhook delivery");
            answer(
                StatusCode::OK,
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
        Err(RuntimeError::Invalid(m)) => refuse(StatusCode::BAD_REQUEST, "CannotStart", &m),
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

fn internal(e: &RuntimeError) -> Reply {
    warn!(error = %e, "webhook delivery failed");
    refuse(
        StatusCode::INTERNAL_SERVER_ERROR,
        "InternalError",
        &format!("{e}; the delivery can be redelivered"),
    )
}
