//! The api function: the CodePipeline-compatible JSON 1.1 API on its function URL (`POST /` with
//! `X-Amz-Target: CodePipeline_20150709.<Operation>`), over `sluice_core::runtime::api::handle_as`. Lambda has
//! checked the SigV4 signature (`AuthType: AWS_IAM`) before the function runs; the caller recorded (e.g. as
//! who decided an approval) is the IAM identity in `requestContext.authorizer.iam`.

use std::sync::Arc;

use aws_lambda_events::event::lambda_function_urls::{
    LambdaFunctionUrlRequest, LambdaFunctionUrlResponse,
};
use sluice_core::runtime::api::{self, API_CALLER};
use sluice_core::runtime::approval_page::WebReply;
use sluice_core::runtime::dispatch::Runtime;

use crate::config::ApiConfig;
use crate::url;
use crate::wiring::{self, RuntimeSettings, WiringError};

/// The content type of CodePipeline's protocol.
pub const CONTENT_TYPE: &str = "application/x-amz-json-1.1";

/// The api function's dependencies.
pub struct Api {
    /// The runtime over the AWS adapters.
    pub runtime: Arc<Runtime>,
}

impl Api {
    /// Builds clients and adapters once.
    pub async fn connect(config: ApiConfig) -> Result<Self, WiringError> {
        let sdk = wiring::sdk().await;
        let settings = RuntimeSettings {
            account: config.account.clone(),
            bucket: config.bucket.clone(),
            approvals: None,
            state_machine_role_arn: config.state_machine_role_arn.clone(),
            dispatch_function_arn: config.dispatch_function_arn.clone(),
            commands_project: None,
        };
        Ok(Self {
            runtime: wiring::runtime(&sdk, &config.common, settings)?.runtime,
        })
    }

    /// Answers one request.
    pub async fn handle(&self, req: LambdaFunctionUrlRequest) -> LambdaFunctionUrlResponse {
        url::response(answer(&self.runtime, &req).await)
    }
}

/// Who signed the request: the IAM user or role ARN, else the caller id; [`API_CALLER`] when neither is there.
pub fn caller(req: &LambdaFunctionUrlRequest) -> String {
    let iam = req
        .request_context
        .authorizer
        .as_ref()
        .and_then(|a| a.iam.as_ref());
    iam.and_then(|i| i.user_arn.clone().or_else(|| i.caller_id.clone()))
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| API_CALLER.to_owned())
}

/// Answers one API request.
pub async fn answer(runtime: &Runtime, req: &LambdaFunctionUrlRequest) -> WebReply {
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
    let answer = api::handle_as(runtime, target, &body, &caller(req)).await;
    WebReply {
        status: answer.status,
        content_type: CONTENT_TYPE,
        headers: Vec::new(),
        body: answer.body.to_string(),
    }
}
