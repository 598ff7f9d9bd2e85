//! The api function: the CodePipeline-compatible JSON 1.1 API on its function URL (`POST /` with
//! `X-Amz-Target: CodePipeline_20150709.<Operation>`), over `sluice_web::codepipeline::handle_as`.
//!
//! The aws CLI and the SDKs sign CodePipeline requests for the service `codepipeline`, and a function URL with
//! `AuthType: AWS_IAM` accepts only signatures for `lambda`; so the URL has no IAM authentication and this
//! function checks the SigV4 signature itself (`sluice_web::sigv4`, as `sluice serve` does) against the access
//! keys in the secret `SLUICE_API_KEYS_SECRET_ARN`, before anything else. The caller recorded (e.g. as who
//! decided an approval) is the access key id that signed.

use std::sync::Arc;

use aws_lambda_events::event::lambda_function_urls::{
    LambdaFunctionUrlRequest, LambdaFunctionUrlResponse,
};
use sluice_runtime::Runtime;
use sluice_web::codepipeline;
use sluice_web::sigv4::{self, Keys, SignedRequest};
use sluice_web::WebReply;

use crate::config::ApiConfig;
use crate::url;
use crate::wiring::{self, RuntimeSettings, WiringError};

/// The content type of CodePipeline's protocol.
pub const CONTENT_TYPE: &str = "application/x-amz-json-1.1";

/// The api function's dependencies.
pub struct Api {
    /// The runtime over the AWS adapters.
    pub runtime: Arc<Runtime>,
    /// The access keys requests may be signed with.
    pub keys: Keys,
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
        let secret = wiring::secret(&sdk, &config.api_keys_secret_arn).await?;
        let keys = Keys::parse_secret(&String::from_utf8_lossy(&secret)).map_err(|message| {
            WiringError::Secret {
                arn: config.api_keys_secret_arn.clone(),
                message,
            }
        })?;
        Ok(Self {
            runtime: wiring::runtime(&sdk, &config.common, settings)?.runtime,
            keys,
        })
    }

    /// Answers one request.
    pub async fn handle(&self, req: LambdaFunctionUrlRequest) -> LambdaFunctionUrlResponse {
        url::response(answer(&self.runtime, &self.keys, &req, now_s()).await)
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

/// Answers one API request, once its signature checks out.
pub async fn answer(
    runtime: &Runtime,
    keys: &Keys,
    req: &LambdaFunctionUrlRequest,
    now_s: i64,
) -> WebReply {
    let error = |status: u16, kind: &str, message: &str| WebReply {
        status,
        content_type: CONTENT_TYPE,
        headers: Vec::new(),
        body: serde_json::json!({"__type": kind, "message": message}).to_string(),
    };
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
    let caller = match caller(req, &body, keys, now_s) {
        Ok(key) => key,
        // A job's report signed by a key Sluice does not know may be an invoked function's: its job id decides.
        Err(sigv4::AuthError::UnknownKey) => {
            match codepipeline::invoked_job_caller(runtime, target, &body).await {
                Some(caller) => caller,
                None => {
                    let e = sigv4::AuthError::UnknownKey;
                    return error(403, e.kind(), &e.message());
                }
            }
        }
        Err(e) => return error(403, e.kind(), &e.message()),
    };
    let answer = codepipeline::handle_as(runtime, target, &body, &caller).await;
    WebReply {
        status: answer.status,
        content_type: CONTENT_TYPE,
        headers: Vec::new(),
        body: answer.body.to_string(),
    }
}
