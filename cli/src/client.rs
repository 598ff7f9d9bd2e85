//! The CLI's way to the control plane: CodePipeline's API, either in-process over the state folder (the same
//! handler `sluice serve` serves) or over HTTP to any Sluice endpoint, local or deployed, signed with SigV4.
//! Every verb that goes through here prints the same output either way, because it reads the same responses.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Method, Request};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::Value;
use sluice_runtime::Runtime;
use sluice_web::codepipeline::{self, TARGET_PREFIX};

use sluice_web::sigv4::{self, Credentials};

/// A failed call: CodePipeline's exception name and message.
#[derive(Debug, Clone)]
pub struct CallError {
    /// The exception name, e.g. `PipelineNotFoundException`.
    pub kind: String,
    /// What the server said.
    pub message: String,
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.kind, self.message)
    }
}

type Https = hyper_rustls::HttpsConnector<HttpConnector>;

/// An HTTP endpoint and how to sign for it.
#[derive(Clone)]
pub struct Remote {
    endpoint: String,
    region: String,
    credentials: Credentials,
    http: hyper_util::client::legacy::Client<Https, Full<Bytes>>,
}

/// Where API calls go.
pub enum Client {
    /// In-process, over a state folder's runtime.
    Local(Arc<Runtime>),
    /// Over HTTP.
    Remote(Box<Remote>),
}

impl Client {
    /// Calls one operation (`CreatePipeline`, ...) with its JSON input.
    pub async fn call(&self, operation: &str, input: Value) -> Result<Value, CallError> {
        let body = serde_json::to_vec(&input).unwrap_or_default();
        match self {
            Self::Local(runtime) => {
                let caller =
                    std::env::var("USER").unwrap_or_else(|_| codepipeline::API_CALLER.into());
                // The state folder's holder may do anything; its changes are audited as `local`.
                let resp = codepipeline::handle_by(
                    runtime,
                    &format!("{TARGET_PREFIX}{operation}"),
                    &body,
                    &sluice_web::access::Principal::admin(&caller),
                    "local",
                )
                .await;
                if resp.status == 200 {
                    Ok(resp.body)
                } else {
                    Err(error_of(&resp.body, resp.status))
                }
            }
            Self::Remote(remote) => remote.call(operation, body).await,
        }
    }

    /// A description of where calls go, for messages.
    pub fn describe(&self) -> String {
        match self {
            Self::Local(_) => "the local state folder".into(),
            Self::Remote(r) => r.endpoint.clone(),
        }
    }

    /// The remote endpoint, when there is one.
    pub fn remote(&self) -> Option<&Remote> {
        match self {
            Self::Local(_) => None,
            Self::Remote(r) => Some(r),
        }
    }
}

fn error_of(body: &Value, status: u16) -> CallError {
    let kind = body["__type"]
        .as_str()
        .map(|t| t.rsplit('#').next().unwrap_or(t).to_owned())
        .unwrap_or_else(|| format!("HTTP {status}"));
    let message = body["message"]
        .as_str()
        .or_else(|| body["Message"].as_str())
        .unwrap_or("")
        .to_owned();
    CallError { kind, message }
}

fn now_s() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

impl Remote {
    /// A client for `endpoint` (http:// or https://), with credentials and region from the standard AWS
    /// configuration: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN, else the profile
    /// (`--profile`, AWS_PROFILE, or `default`) in ~/.aws/credentials; AWS_REGION, AWS_DEFAULT_REGION, the
    /// profile's region in ~/.aws/config, else us-east-1.
    pub fn new(endpoint: &str, profile: Option<&str>) -> Result<Self> {
        let endpoint = endpoint.trim_end_matches('/').to_owned();
        if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
            bail!("--endpoint must be an http:// or https:// URL, not {endpoint:?}");
        }
        endpoint
            .parse::<hyper::Uri>()
            .with_context(|| format!("--endpoint {endpoint:?} is not a valid URL"))?;
        let profile = profile
            .map(str::to_owned)
            .or_else(|| std::env::var("AWS_PROFILE").ok())
            .unwrap_or_else(|| "default".into());
        let credentials = credentials(&profile)?;
        let region = std::env::var("AWS_REGION")
            .or_else(|_| std::env::var("AWS_DEFAULT_REGION"))
            .ok()
            .or_else(|| {
                let section = if profile == "default" {
                    "default".to_owned()
                } else {
                    format!("profile {profile}")
                };
                ini_value(&aws_file("AWS_CONFIG_FILE", "config")?, &section, "region")
            })
            .unwrap_or_else(|| "us-east-1".into());
        // The crypto provider is chosen here, not left to whichever rustls features a build happened to unify
        // (a workspace-wide build enables two, and then rustls cannot choose).
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_native_roots(std::sync::Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .context("cannot load the system's TLS root certificates")?
            .https_or_http()
            .enable_http1()
            .build();
        let http =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build(https);
        Ok(Self {
            endpoint,
            region,
            credentials,
            http,
        })
    }

    async fn call(&self, operation: &str, body: Vec<u8>) -> Result<Value, CallError> {
        let (status, bytes) = self
            .send(
                Method::POST,
                "/",
                vec![
                    ("content-type".into(), "application/x-amz-json-1.1".into()),
                    ("x-amz-target".into(), format!("{TARGET_PREFIX}{operation}")),
                ],
                body,
            )
            .await?;
        let value: Value = serde_json::from_slice(&bytes).unwrap_or_else(
            |_| serde_json::json!({"message": String::from_utf8_lossy(&bytes).into_owned()}),
        );
        if status == 200 {
            Ok(value)
        } else {
            Err(error_of(&value, status))
        }
    }

    /// Sends one signed request; answers the status and body.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        mut headers: Vec<(String, String)>,
        body: Vec<u8>,
    ) -> Result<(u16, Bytes), CallError> {
        let transport = |e: String| CallError {
            kind: "RequestFailed".into(),
            message: format!("cannot reach {}: {e}", self.endpoint),
        };
        let uri: hyper::Uri = format!("{}{path}", self.endpoint)
            .parse()
            .map_err(|e: hyper::http::uri::InvalidUri| transport(e.to_string()))?;
        let host = uri
            .authority()
            .map(|a| a.as_str().to_owned())
            .unwrap_or_default();
        headers.push(("host".into(), host));
        let signed_path = uri.path().to_owned();
        sigv4::sign(
            &sigv4::Outgoing {
                method: method.as_str(),
                path: &signed_path,
                body: &body,
            },
            &mut headers,
            &self.credentials,
            &self.region,
            sigv4::SERVICE,
            now_s(),
        );
        let mut req = Request::builder().method(method).uri(uri);
        for (n, v) in &headers {
            if n != "host" {
                req = req.header(n, v);
            }
        }
        let req = req
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| transport(e.to_string()))?;
        let resp = self
            .http
            .request(req)
            .await
            .map_err(|e| transport(format!("{e:#}")))?;
        let status = resp.status().as_u16();
        let bytes = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| transport(e.to_string()))?
            .to_bytes();
        Ok((status, bytes))
    }
}

fn aws_file(env: &str, name: &str) -> Option<PathBuf> {
    std::env::var_os(env)
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".aws").join(name)))
}

fn credentials(profile: &str) -> Result<Credentials> {
    if let (Ok(id), Ok(secret)) = (
        std::env::var("AWS_ACCESS_KEY_ID"),
        std::env::var("AWS_SECRET_ACCESS_KEY"),
    ) {
        return Ok(Credentials {
            access_key_id: id,
            secret_access_key: secret,
            session_token: std::env::var("AWS_SESSION_TOKEN").ok(),
        });
    }
    let file = aws_file("AWS_SHARED_CREDENTIALS_FILE", "credentials");
    let found = file.as_ref().and_then(|f| {
        Some(Credentials {
            access_key_id: ini_value(f, profile, "aws_access_key_id")?,
            secret_access_key: ini_value(f, profile, "aws_secret_access_key")?,
            session_token: ini_value(f, profile, "aws_session_token"),
        })
    });
    found.with_context(|| {
        format!(
            "no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or add profile [{profile}] to {} \
             (for a local `sluice serve`, the key pair is in its state folder's `keys` file)",
            file.map_or_else(|| "~/.aws/credentials".into(), |f| f.display().to_string())
        )
    })
}

/// A value from an INI file's section (the AWS CLI's config and credentials files).
fn ini_value(path: &Path, section: &str, key: &str) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let mut current = String::new();
    for line in text.lines() {
        let line = line.trim();
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            current = name.trim().to_owned();
        } else if current == section {
            if let Some((k, v)) = line.split_once('=') {
                if k.trim() == key {
                    return Some(v.trim().to_owned());
                }
            }
        }
    }
    None
}
