//! The api function: the CodePipeline-compatible JSON 1.1 API on its function URL (`POST /` with
//! `X-Amz-Target: CodePipeline_20150709.<Operation>`), over `sluice_web::codepipeline::handle_by`, and Sluice's
//! own operations on people and keys (`SluiceAccess_20261206.<Operation>`, `sluice_web::access::admin`).
//!
//! The aws CLI and the SDKs sign CodePipeline requests for the service `codepipeline`, and a function URL with
//! `AuthType: AWS_IAM` accepts only signatures for `lambda`; so the URL has no IAM authentication and this
//! function checks the SigV4 signature itself (`sluice_web::sigv4`, as `sluice serve` does) against the stack's
//! key pairs ([`crate::access`]: the admin pair in `SLUICE_API_KEYS_SECRET_ARN`, and principals' pairs), before
//! anything else. The request is then answered as the principal whose key signed: refused unless its role
//! allows it, recorded as its name. An invoked function's job report is answered as the job (`handle_as`).

use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::event::lambda_function_urls::{
    LambdaFunctionUrlRequest, LambdaFunctionUrlResponse,
};
use sluice_runtime::Runtime;
use sluice_web::access::admin::{self, People};
use sluice_web::access::Access;
use sluice_web::audit;
use sluice_web::codepipeline;
use sluice_web::sigv4::{self, Keys, SignedRequest};
use sluice_web::WebReply;

use crate::access::{AccessCache, StackPeople};
use crate::config::ApiConfig;
use crate::url;
use crate::wiring::{self, RuntimeSettings, WiringError};

/// The content type of CodePipeline's protocol.
pub const CONTENT_TYPE: &str = "application/x-amz-json-1.1";

/// The api function's dependencies.
pub struct Api {
    /// The runtime over the AWS adapters.
    pub runtime: Arc<Runtime>,
    /// Who may sign requests, read briefly cached.
    pub access: AccessCache,
}

impl Api {
    /// Builds clients and adapters once.
    pub async fn connect(config: ApiConfig) -> Result<Self, WiringError> {
        let sdk = wiring::sdk().await;
        let settings = RuntimeSettings::control_plane(
            &config.account,
            &config.bucket,
            &config.state_machine_role_arn,
            &config.dispatch_function_arn,
            config.webhook_url.as_deref(),
        );
        let runtime = wiring::runtime(&sdk, &config.common, settings)?.runtime;
        let access = wiring::access(
            &sdk,
            runtime.store.clone(),
            &config.api_keys_secret_arn,
            &config.access,
        )
        .await?;
        Ok(Self { runtime, access })
    }

    /// Answers one request.
    pub async fn handle(&self, req: LambdaFunctionUrlRequest) -> LambdaFunctionUrlResponse {
        url::response(self.answer(&req, now_s()).await)
    }

    /// Answers one request at `now_s`: the access cache read, the request answered, and the cache forgotten
    /// when the request changed people or keys (so this instance applies the change at once; others within
    /// the cache's time).
    pub async fn answer(&self, req: &LambdaFunctionUrlRequest, now_s: i64) -> WebReply {
        let access = match self.access.get().await {
            Ok(a) => a,
            Err(e) => {
                tracing::error!(error = %e, "the api cannot read people and keys");
                return error_reply(503, "ServiceUnavailableException", &e.to_string());
            }
        };
        let reply = answer(&self.runtime, &access, self.access.people(), req, now_s).await;
        if reply.status == 200
            && url::header(req, "x-amz-target").is_some_and(admin::changes_access)
        {
            self.access.forget().await;
        }
        reply
    }
}

/// Builds an api whose access is read every `ttl` (tests give a short one).
pub fn with_access(
    runtime: Arc<Runtime>,
    people: StackPeople,
    api_keys_secret_arn: &str,
    ttl: Duration,
) -> Api {
    Api {
        runtime,
        access: AccessCache::new(people, api_keys_secret_arn, ttl),
    }
}

fn error_reply(status: u16, kind: &str, message: &str) -> WebReply {
    WebReply {
        status,
        content_type: CONTENT_TYPE,
        headers: Vec::new(),
        body: serde_json::json!({"__type": kind, "message": message}).to_string(),
    }
}

fn now_s() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// The access key id that signed the request, checked against `keys` at `now_s`.
pub fn caller(
    req: &LambdaFunctionUrlRequest,
    body: &[u8],
    keys: &Keys,
    now_s: i64,
) -> Result<String, sigv4::AuthError> {
    let headers: Vec<(String, String)> = req
        .headers
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_ascii_lowercase(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let method = url::method(req);
    let signed = SignedRequest {
        method: &method,
        path: req.raw_path.as_deref().unwrap_or("/"),
        query: req.raw_query_string.as_deref().unwrap_or(""),
        headers: &headers,
        body,
    };
    sigv4::verify(&signed, keys, now_s)
}

/// Answers one API request, once its signature checks out, as the principal whose key signed it.
pub async fn answer<P: People>(
    runtime: &Runtime,
    access: &Access,
    people: &P,
    req: &LambdaFunctionUrlRequest,
    now_s: i64,
) -> WebReply {
    let error = error_reply;
    if url::method(req) != "POST" || req.raw_path.as_deref().unwrap_or("/") != "/" {
        return error(404, "UnknownOperationException", "the API is POST /");
    }
    let Some(target) = url::header(req, "x-amz-target") else {
        return error(
            400,
            "UnknownOperationException",
            "the X-Amz-Target header is missing",
        );
    };
    let body = match url::body(req) {
        Ok(b) => b,
        Err(m) => return error(400, "SerializationException", &m),
    };
    let source = req
        .request_context
        .http
        .source_ip
        .clone()
        .unwrap_or_default();
    let answer = match caller(req, &body, access.keys(), now_s) {
        Ok(key) => match access.principal(&key) {
            Some(principal) if admin::is_access_target(target) => {
                // Recorded in the audit log like the API's changes.
                // Boxed, as every branch here: one answer's state stays off the caller's stack.
                let answer = Box::pin(admin::handle(people, target, &body, &principal));
                Box::pin(audit::recorded(
                    runtime, target, &body, &principal, &source, answer,
                ))
                .await
            }
            Some(principal) => {
                Box::pin(codepipeline::handle_by(
                    runtime, target, &body, &principal, &source,
                ))
                .await
            }
            None => {
                let e = sigv4::AuthError::UnknownKey;
                return error(403, e.kind(), &e.message());
            }
        },
        // A job's report signed by a key Sluice does not know may be an invoked function's: its job id decides.
        Err(sigv4::AuthError::UnknownKey) => {
            match codepipeline::invoked_job_caller(runtime, target, &body).await {
                Some(caller) => {
                    // Recorded as made by the job, as `sluice serve` records it.
                    let answer = Box::pin(codepipeline::handle_as(runtime, target, &body, &caller));
                    let by = sluice_web::access::Principal::admin(&caller);
                    Box::pin(audit::recorded(
                        runtime, target, &body, &by, &source, answer,
                    ))
                    .await
                }
                None => {
                    let e = sigv4::AuthError::UnknownKey;
                    return error(403, e.kind(), &e.message());
                }
            }
        }
        Err(e) => return error(403, e.kind(), &e.message()),
    };
    WebReply {
        status: answer.status,
        content_type: CONTENT_TYPE,
        headers: Vec::new(),
        body: answer.body.to_string(),
    }
}
