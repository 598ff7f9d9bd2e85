//! The approval function: its function URL serves the approval pages of e-mailed links
//! (`sluice_web::approval_page`, the same pages `sluice serve` answers). GET shows, POST decides once;
//! links are checked with the key read from Secrets Manager at cold start.

use std::sync::Arc;

use aws_lambda_events::event::lambda_function_urls::{
    LambdaFunctionUrlRequest, LambdaFunctionUrlResponse,
};
use sluice_runtime::links::PATH_PREFIX;
use sluice_runtime::Runtime;
use sluice_web::approval_page::{self, PageRequest};

use crate::config::ApprovalConfig;
use crate::url;
use crate::wiring::{self, RuntimeSettings, WiringError};

/// The approval function's dependencies.
pub struct Approval {
    /// The runtime over the AWS adapters.
    pub runtime: Arc<Runtime>,
    /// The key links are signed with.
    pub key: Vec<u8>,
}

impl Approval {
    /// Builds clients and adapters, and reads the link key, once.
    pub async fn connect(config: ApprovalConfig) -> Result<Self, WiringError> {
        let sdk = wiring::sdk().await;
        let key = wiring::secret(&sdk, &config.approval_key_secret_arn).await?;
        let settings = RuntimeSettings {
            account: config.account.clone(),
            ..Default::default()
        };
        Ok(Self {
            runtime: wiring::runtime(&sdk, &config.common, settings)?.runtime,
            key,
        })
    }

    /// Answers one request.
    pub async fn handle(&self, req: LambdaFunctionUrlRequest) -> LambdaFunctionUrlResponse {
        let now_s = self.runtime.env.now_ms().div_euclid(1000);
        url::response(answer(&self.runtime, &self.key, &req, now_s).await)
    }
}

/// Answers one function URL request for an approval page.
pub async fn answer(
    runtime: &Runtime,
    key: &[u8],
    req: &LambdaFunctionUrlRequest,
    now_s: i64,
) -> approval_page::WebReply {
    let path = req.raw_path.as_deref().unwrap_or("");
    let Some(token) = path.strip_prefix(PATH_PREFIX) else {
        return approval_page::message(404, "Not found", "Approval links start with /approvals/.");
    };
    let method = url::method(req);
    let body = if method == "POST" {
        match url::body(req) {
            Ok(b) => b,
            Err(m) => return approval_page::message(400, "Request refused", &m),
        }
    } else {
        Vec::new()
    };
    let request = PageRequest {
        method: &method,
        token,
        query: req.raw_query_string.as_deref().unwrap_or(""),
        content_type: url::header(req, "content-type"),
        body: &body,
        now_s,
    };
    approval_page::answer(runtime, key, request).await
}
