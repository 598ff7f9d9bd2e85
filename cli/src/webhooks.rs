//! The GitHub-compatible webhook of `sluice serve`: `POST /webhooks/<pipeline>`.
//!
//! A delivery must carry `X-Hub-Signature-256` (HMAC-SHA256 of the raw body with the secret in
//! `<state>/webhook.secret`), `X-GitHub-Event` and `X-GitHub-Delivery`. `ping` is answered; a `push` is read
//! and judged by `sluice_core::runtime::triggers` (the pipeline's trigger filters, or its source's branch),
//! and a matching one starts an execution once per delivery id. Answers are JSON; a skipped push says why.

use hyper::body::Incoming;
use hyper::header::CONTENT_TYPE;
use hyper::http::request::Parts;
use hyper::{Method, Request};
use serde_json::json;
use sluice_core::runtime::webhooks::{self, Delivery};

use crate::approvals;
use crate::serve::{self, reply, Reply, Service};

pub(crate) use webhooks::PATH_PREFIX;

/// Answers one webhook delivery for `pipeline`: the logic is `sluice_core::runtime::webhooks`'s, shared with
/// the trigger Lambda function.
pub(crate) async fn handle(service: &Service, req: Request<Incoming>, pipeline: &str) -> Reply {
    let method = req.method().as_str().to_owned();
    if req.method() != Method::POST {
        return approvals::web(
            webhooks::deliver(
                &service.runtime,
                &service.webhook_secret,
                delivery(&method, pipeline, None, &[]),
            )
            .await,
        );
    }
    let (parts, body) = match serve::read_request(req, serve::MAX_BODY).await {
        Ok(read) => read,
        Err(e) => {
            return reply(
                e.status(),
                "application/json",
                json!({"error": "RequestRefused", "message": e.to_string()}).to_string(),
            )
        }
    };
    let d = Delivery {
        signature: header(&parts, "x-hub-signature-256"),
        event: header(&parts, "x-github-event"),
        delivery: header(&parts, "x-github-delivery"),
        content_type: header(&parts, CONTENT_TYPE.as_str()),
        ..delivery(&method, pipeline, None, &body)
    };
    approvals::web(webhooks::deliver(&service.runtime, &service.webhook_secret, d).await)
}

fn header<'a>(parts: &'a Parts, name: &str) -> Option<&'a str> {
    parts
        .headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

fn delivery<'a>(
    method: &'a str,
    pipeline: &'a str,
    signature: Option<&'a str>,
    body: &'a [u8],
) -> Delivery<'a> {
    Delivery {
        method,
        pipeline,
        signature,
        event: None,
        delivery: None,
        content_type: None,
        body,
    }
}
