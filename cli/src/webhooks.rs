//! The webhooks of `sluice serve`: a pipeline's own at `POST /webhooks/<pipeline>`, and PutWebhook's named
//! webhooks at `POST /webhooks/named/<name>` (their own authentication, the caller's address for `IP`).
//!
//! A pipeline's webhook takes GitHub (`X-Hub-Signature-256`: HMAC-SHA256 of the raw body), GitLab
//! (`X-Gitlab-Token`: the secret itself) and Bitbucket Cloud (`X-Hub-Signature`: HMAC-SHA256 of the body)
//! deliveries, all with the secret in `<state>/webhook.secret`; `sluice_web::git_webhooks` answers them (the
//! trigger Lambda function answers GitHub's with the same code). Answers are JSON; a skipped event says why.
//! A pull request (or a Bitbucket push, which lists no files) judged by a `filePaths` filter has its changed
//! files listed with git (`changed_files.rs`).

use hyper::body::Incoming;
use hyper::header::CONTENT_TYPE;
use hyper::{Method, Request};
use serde_json::json;
use sluice_web::webhooks::{self, Delivery, GitDelivery};

use crate::http::{self, reply, Reply};
use crate::service::Service;

pub(crate) use webhooks::PATH_PREFIX;

/// Answers one webhook delivery for `pipeline`: the logic is `sluice_web::webhooks`'s, shared with
/// the trigger Lambda function.
pub(crate) async fn handle(service: &Service, req: Request<Incoming>, pipeline: &str) -> Reply {
    let peer = req.extensions().get::<std::net::SocketAddr>().copied();
    let method = req.method().as_str().to_owned();
    let (parts, body) = if req.method() == Method::POST {
        match http::read_request(req, http::MAX_BODY).await {
            Ok((parts, body)) => (Some(parts), body),
            Err(e) => {
                return reply(
                    e.status(),
                    "application/json",
                    json!({"error": "RequestRefused", "message": e.to_string()}).to_string(),
                )
            }
        }
    } else {
        (None, Default::default())
    };
    let header = |name: &str| {
        parts
            .as_ref()
            .and_then(|p| p.headers.get(name))
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    match pipeline.strip_prefix(webhooks::NAMED) {
        Some(name) => {
            let delivery = Delivery {
                method: &method,
                pipeline: name,
                signature: header("x-hub-signature-256"),
                event: header("x-github-event"),
                delivery: header("x-github-delivery"),
                content_type: header(CONTENT_TYPE.as_str()),
                body: &body,
            };
            let ip = peer.map(|p| p.ip().to_string());
            http::web(webhooks::deliver_named(&service.runtime, delivery, ip.as_deref()).await)
        }
        None => {
            // Every header, so that GitLab's and Bitbucket's deliveries are told apart and checked too.
            let headers: Vec<(&str, &str)> = parts
                .iter()
                .flat_map(|p| p.headers.iter())
                .filter_map(|(n, v)| Some((n.as_str(), v.to_str().ok()?.trim())))
                .collect();
            let delivery = GitDelivery {
                method: &method,
                pipeline,
                headers: &headers,
                body: &body,
                changed_files: Some(&service.changed_files),
            };
            http::web(
                webhooks::deliver_git(&service.runtime, &service.webhook_secret, delivery).await,
            )
        }
    }
}
