//! The cfn-resource function: CloudFormation custom resources `Custom::SluicePipeline` and
//! `Custom::SluiceCustomActionType` (whose ServiceToken the stack exports), answered by
//! `sluice_web::cfn_resource` on the runtime, the response PUT to the request's pre-signed `ResponseURL`.

use std::sync::Arc;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Method, Request};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use serde_json::Value;
use sluice_runtime::Runtime;
use tracing::{error, info};

use crate::config::CfnResourceConfig;
use crate::wiring::{self, RuntimeSettings, WiringError};

/// The function's dependencies.
pub struct CfnResource {
    /// The runtime over the AWS adapters.
    pub runtime: Arc<Runtime>,
    http: Http,
}

/// Why the function could not start.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The clients and adapters.
    #[error(transparent)]
    Wiring(#[from] WiringError),
    /// The system's TLS roots.
    #[error("cannot load the system's TLS root certificates: {0}")]
    Roots(std::io::Error),
}

/// Why a response could not be delivered.
#[derive(Debug, thiserror::Error)]
#[error("the response to {url} was not delivered: {message}")]
pub struct DeliveryError {
    url: String,
    message: String,
}

/// The client responses go out with.
pub type Http = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

/// An HTTP(S) client for pre-signed URLs, with the system's root certificates.
pub fn http_client() -> Result<Http, std::io::Error> {
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_native_roots(Arc::new(rustls::crypto::ring::default_provider()))?
        .https_or_http()
        .enable_http1()
        .build();
    Ok(Client::builder(hyper_util::rt::TokioExecutor::new()).build(connector))
}

impl CfnResource {
    /// Builds clients and adapters once.
    pub async fn connect(config: CfnResourceConfig) -> Result<Self, ConnectError> {
        let sdk = wiring::sdk().await;
        let settings = RuntimeSettings::control_plane(
            &config.account,
            &config.bucket,
            &config.state_machine_role_arn,
            &config.dispatch_function_arn,
            config.webhook_url.as_deref(),
        );
        Ok(Self {
            runtime: wiring::runtime(&sdk, &config.common, settings)?.runtime,
            http: http_client().map_err(ConnectError::Roots)?,
        })
    }

    /// Answers one request and delivers the response; the response document.
    pub async fn handle(&self, event: Value) -> Result<Value, DeliveryError> {
        let response = sluice_web::cfn_resource::handle(&self.runtime, &event).await;
        let url = event["ResponseURL"].as_str().unwrap_or_default().to_owned();
        info!(
            request = %event["RequestType"], resource = %event["LogicalResourceId"],
            status = %response["Status"], reason = %response["Reason"], "custom resource"
        );
        deliver(&self.http, &url, &response).await?;
        Ok(response)
    }
}

/// PUTs the response document to the pre-signed URL (no content type: the URL was signed without one).
pub async fn deliver(http: &Http, url: &str, response: &Value) -> Result<(), DeliveryError> {
    let fail = |message: String| DeliveryError {
        url: url.split('?').next().unwrap_or_default().to_owned(),
        message,
    };
    let body = response.to_string();
    let request = Request::builder()
        .method(Method::PUT)
        .uri(url)
        .header("content-length", body.len())
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| fail(e.to_string()))?;
    let answer = http
        .request(request)
        .await
        .map_err(|e| fail(e.to_string()))?;
    let status = answer.status();
    let text = answer
        .into_body()
        .collect()
        .await
        .map(|b| String::from_utf8_lossy(&b.to_bytes()).into_owned())
        .unwrap_or_default();
    if !status.is_success() {
        error!(%status, body = %text, "the response was refused");
        return Err(fail(format!("{status}: {text}")));
    }
    Ok(())
}
