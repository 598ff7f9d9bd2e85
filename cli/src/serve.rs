//! `sluice serve`: CodePipeline's JSON 1.1 API over HTTP, authenticated with SigV4, while the engine drives
//! executions. `POST /` with `X-Amz-Target` goes to `sluice_web::codepipeline::handle`; `GET /health` answers
//! `ok` without authentication. Access keys come from a keys file (`ACCESS_KEY_ID SECRET` lines), created with
//! one random pair on first start.
//!
//! Two more routes carry their own credentials instead of SigV4: the approval pages (`/approvals/<token>`,
//! a signed link, see `approvals.rs`) and the GitHub webhook (`POST /webhooks/<pipeline>`, an HMAC of the body,
//! see `webhooks.rs`). Their keys live in the state folder: `approval.key` and `webhook.secret`.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderValue, CONTENT_LENGTH, CONTENT_TYPE};
use hyper::http::request::Parts;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::json;
use sluice_runtime::Runtime;
use sluice_web::codepipeline;
use tokio::net::TcpListener;
use tracing::{info, warn};

use crate::host::Host;
use crate::{approvals, webhooks};
use sluice_web::sigv4::{self, AuthError, Keys, SignedRequest};

/// The largest request body accepted.
pub const MAX_BODY: usize = 1024 * 1024;

/// How much of an oversized body is read (and dropped) before answering 413.
const DRAIN_CAP: usize = 16 * 1024 * 1024;

/// How long in-flight requests get to finish on shutdown.
const DRAIN: Duration = Duration::from_secs(5);

/// What `sluice serve` was asked for.
pub struct ServeOptions {
    /// The address to listen on.
    pub bind: SocketAddr,
    /// The keys file; `<state>/keys` when not given.
    pub keys: Option<PathBuf>,
    /// Allow a non-loopback bind address.
    pub allow_remote: bool,
    /// The URL approval links start with; `http://<bound address>` when not given.
    pub public_url: Option<String>,
}

/// What every connection shares.
pub(crate) struct Service {
    pub(crate) runtime: Arc<Runtime>,
    keys: Keys,
    /// The key approval links are signed with.
    pub(crate) approval_key: Vec<u8>,
    /// The secret webhook deliveries are signed with.
    pub(crate) webhook_secret: Vec<u8>,
}

/// Serves until SIGINT or SIGTERM, then stops the engine (handing its leases back) and returns.
pub async fn serve(host: &Host, options: ServeOptions) -> Result<()> {
    if !options.bind.ip().is_loopback() && !options.allow_remote {
        bail!(
            "refusing to listen on {}: it is not a loopback address (add --allow-remote to serve the network)",
            options.bind
        );
    }
    let keys_path = options
        .keys
        .clone()
        .unwrap_or_else(|| host.state_dir.join("keys"));
    let keys = load_or_create_keys(&keys_path, options.keys.is_none())?;
    let listener = TcpListener::bind(options.bind)
        .await
        .with_context(|| format!("cannot listen on {}", options.bind))?;
    let addr = listener
        .local_addr()
        .context("cannot read the bound address")?;
    let approval_key =
        load_or_create_secret(&host.state_dir.join("approval.key"), "approval link key")?;
    let webhook_path = host.state_dir.join("webhook.secret");
    let webhook_secret = load_or_create_secret(&webhook_path, "webhook secret")?;
    let base_url = match &options.public_url {
        Some(url) => url.trim_end_matches('/').to_owned(),
        None => format!("http://{addr}"),
    };
    let (stop, engine) = host.drive().await?;
    println!("sluice: serving the CodePipeline API on http://{addr}");
    println!(
        "sluice: {} access key(s) from {}",
        keys.len(),
        keys_path.display()
    );
    println!(
        "sluice: configure the aws CLI with `aws configure` (the key pair from that file), then \
         `aws codepipeline list-pipelines --endpoint-url http://{addr} --region us-east-1`"
    );
    println!(
        "sluice: GitHub webhooks at {base_url}/webhooks/PIPELINE (content type application/json), \
         secret in {}",
        webhook_path.display()
    );
    let notifications = host.state_dir.join("notifications.jsonl");
    println!(
        "sluice: approval links are printed here and appended to {}",
        notifications.display()
    );
    let announcer = tokio::spawn(approvals::announce(
        Arc::clone(&host.runtime),
        approval_key.clone(),
        base_url,
        notifications,
    ));
    let service = Arc::new(Service {
        runtime: Arc::clone(&host.runtime),
        keys,
        approval_key,
        webhook_secret,
    });
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok((stream, _)) => stream,
                    Err(e) => {
                        warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let service = Arc::clone(&service);
                let svc = hyper::service::service_fn(move |req| {
                    let service = Arc::clone(&service);
                    async move { Ok::<_, Infallible>(service.respond(req).await) }
                });
                let conn = hyper::server::conn::http1::Builder::new()
                    .timer(hyper_util::rt::TokioTimer::new())
                    .header_read_timeout(Duration::from_secs(30))
                    .serve_connection(TokioIo::new(stream), svc);
                let conn = graceful.watch(conn);
                tokio::spawn(async move {
                    if let Err(e) = conn.await {
                        info!(error = %e, "connection ended with an error");
                    }
                });
            }
            signal = &mut shutdown => {
                if let Err(e) = signal {
                    warn!(error = %e, "cannot wait for signals; stopping");
                }
                break;
            }
        }
    }
    println!("sluice: stopping");
    announcer.abort();
    drop(listener);
    if tokio::time::timeout(DRAIN, graceful.shutdown())
        .await
        .is_err()
    {
        warn!("requests still in flight after the drain period; closing them");
    }
    stop.notify_one();
    let _ = tokio::time::timeout(DRAIN, engine).await;
    Ok(())
}

#[cfg(unix)]
async fn shutdown_signal() -> std::io::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r,
        _ = term.recv() => Ok(()),
    }
}

#[cfg(not(unix))]
async fn shutdown_signal() -> std::io::Result<()> {
    tokio::signal::ctrl_c().await
}

/// Reads the keys file; the default one is created with a random pair (mode 0600) when missing.
fn load_or_create_keys(path: &Path, create: bool) -> Result<Keys> {
    if create && !path.exists() {
        let id = format!(
            "AKIA{}",
            &uuid::Uuid::new_v4().simple().to_string()[..16].to_uppercase()
        );
        let secret = format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        );
        write_private(path, &format!("{id} {}\n", &secret[..40]))
            .with_context(|| format!("cannot create the keys file {}", path.display()))?;
        println!("sluice: created an access key pair in {}", path.display());
    }
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the keys file {}", path.display()))?;
    let keys =
        Keys::parse(&text).map_err(|e| anyhow::anyhow!("keys file {}: {e}", path.display()))?;
    if keys.is_empty() {
        bail!("keys file {} has no key pairs", path.display());
    }
    Ok(keys)
}

/// Reads a secret from a file of hex text; the file is created with 32 random bytes (mode 0600) when missing.
fn load_or_create_secret(path: &Path, what: &str) -> Result<Vec<u8>> {
    if !path.exists() {
        let mut bytes = [0u8; 32];
        getrandom::getrandom(&mut bytes)
            .map_err(|e| anyhow::anyhow!("cannot draw random bytes for the {what}: {e}"))?;
        match write_private(path, &format!("{}\n", hex::encode(bytes))) {
            Ok(()) => println!("sluice: created the {what} {}", path.display()),
            // Another process created it first: read theirs.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => {
                return Err(e)
                    .with_context(|| format!("cannot create the {what} {}", path.display()))
            }
        }
    }
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the {what} {}", path.display()))?;
    let text = text.trim();
    if text.len() < 32 {
        bail!(
            "{what} {} is too short: it needs at least 32 characters (sluice writes 64 hex digits)",
            path.display()
        );
    }
    Ok(text.as_bytes().to_vec())
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)?.write_all(text.as_bytes())
}

pub(crate) type Reply = Response<Full<Bytes>>;

/// A transport-neutral answer as a hyper response.
pub(crate) fn web(answer: sluice_web::WebReply) -> Reply {
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut r = reply(status, answer.content_type, answer.body);
    for (name, value) in answer.headers {
        r.headers_mut()
            .insert(name, HeaderValue::from_static(value));
    }
    r
}

/// A response with a status, a content type and a body.
pub(crate) fn reply(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> Reply {
    let mut resp = Response::new(Full::new(body.into()));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}

const AMZ_JSON: &str = "application/x-amz-json-1.1";

impl Service {
    async fn respond(&self, req: Request<Incoming>) -> Reply {
        let mut resp = self.route(req).await;
        let too_large = resp.status() == StatusCode::PAYLOAD_TOO_LARGE;
        let headers = resp.headers_mut();
        if too_large {
            headers.insert(hyper::header::CONNECTION, HeaderValue::from_static("close"));
        }
        if let Ok(v) = HeaderValue::from_str(&uuid::Uuid::new_v4().to_string()) {
            headers.insert("x-amzn-requestid", v);
        }
        resp
    }

    async fn route(&self, req: Request<Incoming>) -> Reply {
        let path = req.uri().path().to_owned();
        let method = req.method().clone();
        if let Some(token) = path.strip_prefix(approvals::PATH_PREFIX) {
            let token = token.to_owned();
            return approvals::page(self, req, &token).await;
        }
        if let Some(pipeline) = path.strip_prefix(webhooks::PATH_PREFIX) {
            let pipeline = pipeline.to_owned();
            return webhooks::handle(self, req, &pipeline).await;
        }
        match (&method, path.as_str()) {
            (&Method::GET, "/health") => reply(StatusCode::OK, "text/plain; charset=utf-8", "ok"),
            (&Method::POST, "/") => {
                let (status, body) = self.api(req).await;
                reply(status, AMZ_JSON, body)
            }
            (&Method::GET | &Method::PUT, p)
                if p.starts_with("/artifacts/") || p.starts_with("/artifacts-info/") =>
            {
                let (status, body) = self.artifacts(req).await;
                let kind = if status == StatusCode::OK
                    && method == Method::GET
                    && p.starts_with("/artifacts/")
                {
                    "application/zip"
                } else {
                    AMZ_JSON
                };
                reply(status, kind, body)
            }
            _ => {
                let (status, body) = error(
                    StatusCode::NOT_FOUND,
                    "UnknownOperationException",
                    &format!("no route for {method} {path}"),
                );
                reply(status, AMZ_JSON, body)
            }
        }
    }

    /// Checks a request's SigV4 signature; answers the access key id that signed it, or the refusal.
    fn authenticate(&self, parts: &Parts, body: &[u8]) -> Result<String, (StatusCode, Bytes)> {
        let headers: Vec<(String, String)> = parts
            .headers
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let signed = SignedRequest {
            method: parts.method.as_str(),
            path: parts.uri.path(),
            query: parts.uri.query().unwrap_or(""),
            headers: &headers,
            body,
        };
        sigv4::verify(&signed, &self.keys, now_s()).map_err(|e| auth_error(&e))
    }

    async fn api(&self, req: Request<Incoming>) -> (StatusCode, Bytes) {
        let (parts, body) = match read_request(req, MAX_BODY).await {
            Ok(read) => read,
            Err(e) => return error(e.status(), "ValidationException", &e.to_string()),
        };
        let caller = match self.authenticate(&parts, &body) {
            Ok(caller) => caller,
            Err(refused) => return refused,
        };
        let Some(target) = parts
            .headers
            .get("x-amz-target")
            .and_then(|v| v.to_str().ok())
        else {
            return error(
                StatusCode::BAD_REQUEST,
                "UnknownOperationException",
                "X-Amz-Target header is required",
            );
        };
        let resp = codepipeline::handle_as(&self.runtime, target, &body, &caller).await;
        let status = StatusCode::from_u16(resp.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let bytes = serde_json::to_vec(&resp.body).unwrap_or_else(|_| b"{}".to_vec());
        (status, Bytes::from(bytes))
    }
}

/// The largest artifact a job worker may upload through `/artifacts/`.
pub const MAX_ARTIFACT: usize = 512 * 1024 * 1024;

impl Service {
    /// Job workers' artifacts: `GET /artifacts/<bucket>/<key>` fetches an object, `PUT` stores one (visible
    /// only once whole), `GET /artifacts-info/<bucket>/<key>` describes it. Signed like the API.
    async fn artifacts(&self, req: Request<Incoming>) -> (StatusCode, Bytes) {
        let (parts, body) = match read_request(req, MAX_ARTIFACT).await {
            Ok(read) => read,
            Err(e) => return error(e.status(), "ValidationException", &e.to_string()),
        };
        if let Err(refused) = self.authenticate(&parts, &body) {
            return refused;
        }
        let path = parts.uri.path();
        let (info_only, rest) = match path.strip_prefix("/artifacts-info/") {
            Some(rest) => (true, rest),
            None => (false, path.trim_start_matches("/artifacts/")),
        };
        let decoded = percent_decode(rest);
        let Some((bucket, key)) = decoded.as_deref().and_then(|r| r.split_once('/')) else {
            return error(
                StatusCode::BAD_REQUEST,
                "ValidationException",
                "expected /artifacts/<bucket>/<key>",
            );
        };
        let objects = &self.runtime.objects;
        let object_error = |e: sluice_runtime::ports::ObjectError| match e {
            sluice_runtime::ports::ObjectError::NotFound { .. } => {
                error(StatusCode::NOT_FOUND, "NoSuchKey", &e.to_string())
            }
            sluice_runtime::ports::ObjectError::InvalidName(_) => error(
                StatusCode::BAD_REQUEST,
                "ValidationException",
                &e.to_string(),
            ),
            _ => error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalFailure",
                &e.to_string(),
            ),
        };
        let scratch = match tempfile::NamedTempFile::new() {
            Ok(f) => f,
            Err(e) => {
                return error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "InternalFailure",
                    &format!("cannot make a temporary file: {e}"),
                )
            }
        };
        if parts.method == Method::PUT {
            if info_only {
                return error(
                    StatusCode::NOT_FOUND,
                    "UnknownOperationException",
                    "PUT /artifacts-info/ is not a route",
                );
            }
            if let Err(e) = tokio::fs::write(scratch.path(), &body).await {
                return error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "InternalFailure",
                    &e.to_string(),
                );
            }
            return match objects.put_file(bucket, key, scratch.path()).await {
                Ok(info) => (StatusCode::OK, Bytes::from(json!(info).to_string())),
                Err(e) => object_error(e),
            };
        }
        if info_only {
            return match objects.head(bucket, key).await {
                Ok(info) => (StatusCode::OK, Bytes::from(json!(info).to_string())),
                Err(e) => object_error(e),
            };
        }
        match objects.get_file(bucket, key, scratch.path()).await {
            Ok(_) => match tokio::fs::read(scratch.path()).await {
                Ok(bytes) => (StatusCode::OK, Bytes::from(bytes)),
                Err(e) => error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "InternalFailure",
                    &e.to_string(),
                ),
            },
            Err(e) => object_error(e),
        }
    }
}

/// Decodes `%XX` escapes; None when an escape is malformed or the result is not UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Why a request body could not be read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BodyError {
    #[error("request body over {0} bytes")]
    TooLarge(usize),
    #[error("cannot read the request body: {0}")]
    Broken(hyper::Error),
}

impl BodyError {
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            Self::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Broken(_) => StatusCode::BAD_REQUEST,
        }
    }
}

/// Reads a request's head and its body of at most `max` bytes.
pub(crate) async fn read_request(
    req: Request<Incoming>,
    max: usize,
) -> Result<(Parts, Bytes), BodyError> {
    let declared = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > DRAIN_CAP.max(max) as u64) {
        return Err(BodyError::TooLarge(max));
    }
    let (parts, body) = req.into_parts();
    Ok((parts, read_body(body, max).await?))
}

/// Reads a body of at most `max` bytes. An oversized one is read on (discarded) for a moment, up to
/// `DRAIN_CAP`, so the client is done sending and reads the 413 rather than a reset connection.
async fn read_body(mut body: Incoming, max: usize) -> Result<Bytes, BodyError> {
    let mut buf = Vec::new();
    let mut seen = 0usize;
    let mut deadline = None;
    loop {
        let next = match deadline {
            Some(at) => match tokio::time::timeout_at(at, body.frame()).await {
                Ok(next) => next,
                Err(_) => break,
            },
            None => body.frame().await,
        };
        let Some(frame) = next else { break };
        let frame = frame.map_err(BodyError::Broken)?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        seen = seen.saturating_add(data.len());
        if seen <= max {
            buf.extend_from_slice(&data);
        } else if seen > DRAIN_CAP.max(max) {
            break;
        } else if deadline.is_none() {
            buf = Vec::new();
            deadline = Some(tokio::time::Instant::now() + Duration::from_secs(2));
        }
    }
    if seen > max {
        return Err(BodyError::TooLarge(max));
    }
    Ok(Bytes::from(buf))
}

fn error(status: StatusCode, kind: &str, message: &str) -> (StatusCode, Bytes) {
    let body = json!({"__type": kind, "message": message}).to_string();
    (status, Bytes::from(body))
}

fn auth_error(e: &AuthError) -> (StatusCode, Bytes) {
    error(StatusCode::FORBIDDEN, e.kind(), &e.message())
}

pub(crate) fn now_s() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}
