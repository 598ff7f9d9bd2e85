//! The trigger function: GitHub webhook deliveries on its function URL (`POST /webhooks/<pipeline>`, answered by
//! `sluice_core::runtime::webhooks` as `sluice serve` answers them: signature checked in constant time with the
//! secret read from Secrets Manager at cold start, deliveries de-duplicated). ECR and S3 EventBridge events
//! reach it too (template rules): not handled yet, they are acknowledged and logged.

use aws_lambda_events::event::lambda_function_urls::LambdaFunctionUrlResponse;
use serde_json::Value;
use sluice_core::runtime::approval_page::WebReply;
use sluice_core::runtime::dispatch::Runtime;
use sluice_core::runtime::webhooks::{self, Delivery, PATH_PREFIX};
use tracing::info;

use crate::config::TriggerConfig;
use crate::url;
use crate::wiring::{self, RuntimeSettings, WiringError};

/// The trigger function's dependencies.
pub struct Trigger {
    /// The runtime over the AWS adapters.
    pub runtime: Runtime,
    /// GitHub's webhook secret.
    pub secret: Vec<u8>,
}

impl Trigger {
    /// Builds clients and adapters, and reads the webhook secret, once.
    pub async fn connect(config: TriggerConfig) -> Result<Self, WiringError> {
        let sdk = wiring::sdk().await;
        let secret = wiring::secret(&sdk, &config.webhook_secret_arn).await?;
        let settings = RuntimeSettings {
            account: config.account.clone(),
            ..Default::default()
        };
        Ok(Self {
            runtime: wiring::runtime(&sdk, &config.common, settings)?,
            secret,
        })
    }

    /// Answers one event: a function URL request, or an EventBridge event.
    pub async fn handle(&self, event: Value) -> LambdaFunctionUrlResponse {
        url::response(answer(&self.runtime, &self.secret, event).await)
    }
}

/// Answers one event.
pub async fn answer(runtime: &Runtime, secret: &[u8], event: Value) -> WebReply {
    if let Some(source) = event.get("source").and_then(Value::as_str) {
        info!(
            source,
            "EventBridge event ignored: ECR and S3 triggers are not handled yet"
        );
        return url::json_reply(
            200,
            &serde_json::json!({"started": false, "reason": format!("{source} events are not handled yet")}),
        );
    }
    let req = match url::request(event) {
        Ok(r) => r,
        Err(m) => return url::refusal(400, "InvalidRequest", &m),
    };
    let path = req.raw_path.as_deref().unwrap_or("");
    let Some(pipeline) = path.strip_prefix(PATH_PREFIX) else {
        return url::refusal(
            404,
            "NotFound",
            "webhooks are POSTed to /webhooks/<pipeline>",
        );
    };
    let body = match url::body(&req) {
        Ok(b) => b,
        Err(m) => return url::refusal(400, "InvalidRequest", &m),
    };
    let method = url::method(&req);
    let delivery = Delivery {
        method: &method,
        pipeline,
        signature: url::header(&req, "x-hub-signature-256"),
        event: url::header(&req, "x-github-event"),
        delivery: url::header(&req, "x-github-delivery"),
        content_type: url::header(&req, "content-type"),
        body: &body,
    };
    webhooks::deliver(runtime, secret, delivery).await
}
