//! `sluice serve`: CodePipeline's JSON 1.1 API over HTTP, authenticated with SigV4, while the engine drives
//! executions. `POST /` with `X-Amz-Target` goes to `sluice_core::runtime::api::handle`; `GET /health` answers
//! `ok` without authentication. Access keys come from a keys file (`ACCESS_KEY_ID SECRET` lines), created with
//! one random pair on first start.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderValue, CONTENT_LENGTH, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::json;
use sluice_core::runtime::api;
use sluice_core::runtime::dispatch::Runtime;
use tokio::net::TcpListener;
use tracing::{info, warn};

use crate::host::Host;
use crate::sigv4::{self, AuthError, Keys, SignedRequest};

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
}

/// What every connection shares.
struct Service {
    runtime: Arc<Runtime>,
    keys: Keys,
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
    let service = Arc::new(Service {
        runtime: Arc::clone(&host.runtime),
        keys,
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
    if keys.len() == 0 {
        bail!("keys file {} has no key pairs", path.display());
    }
    Ok(keys)
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

type Reply = Response<Full<Bytes>>;

impl Service {
    async fn respond(&self, req: Request<Incoming>) -> Reply {
        let is_health = req.method() == Method::GET && req.uri().path() == "/health";
        let (status, body) = if is_health {
            (StatusCode::OK, Bytes::from_static(b"ok"))
        } else {
            self.answer(req).await
        };
        let mut resp = Response::new(Full::new(body));
        *resp.status_mut() = status;
        let headers = resp.headers_mut();
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static(if is_health {
                "text/plain; charset=utf-8"
            } else {
                "application/x-amz-json-1.1"
            }),
        );
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            headers.insert(hyper::header::CONNECTION, HeaderValue::from_static("close"));
        }
        if let Ok(v) = HeaderValue::from_str(&uuid::Uuid::new_v4().to_string()) {
            headers.insert("x-amzn-requestid", v);
        }
        resp
    }

    async fn answer(&self, req: Request<Incoming>) -> (StatusCode, Bytes) {
        let path = req.uri().path().to_owned();
        match (req.method(), path.as_str()) {
            (&Method::POST, "/") => self.api(req).await,
            (&Method::GET | &Method::PUT, p)
                if p.starts_with("/artifacts/") || p.starts_with("/artifacts-info/") =>
            {
                self.artifacts(req).await
            }
            _ => error(
                StatusCode::NOT_FOUND,
                "UnknownOperationException",
                &format!("no route for {} {path}", req.method()),
            ),
        }
    }

    async fn api(&self, req: Request<Incoming>) -> (StatusCode, Bytes) {
        let too_big = || {
            error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "ValidationException",
                &format!("request body over {MAX_BODY} bytes"),
            )
        };
        let declared = req
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > DRAIN_CAP as u64) {
            return too_big();
        }
        let (parts, body) = req.into_parts();
        let body = match read_body(body, MAX_BODY).await {
            Ok(body) => body,
            Err(BodyError::TooLarge) => return too_big(),
            Err(BodyError::Broken(e)) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "ValidationException",
                    &format!("cannot read the request body: {e}"),
                )
            }
        };
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
            body: &body,
        };
        let caller = match sigv4::verify(&signed, &self.keys, now_s()) {
            Ok(caller) => caller,
            Err(e) => return auth_error(&e),
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
        let resp = api::handle_as(&self.runtime, target, &body, &caller).await;
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
        let (parts, body) = req.into_parts();
        let body = match read_body(body, MAX_ARTIFACT).await {
            Ok(body) => body,
            Err(BodyError::TooLarge) => {
                return error(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "ValidationException",
                    &format!("artifact over {MAX_ARTIFACT} bytes"),
                )
            }
            Err(BodyError::Broken(e)) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "ValidationException",
                    &format!("cannot read the request body: {e}"),
                )
            }
        };
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
            body: &body,
        };
        if let Err(e) = sigv4::verify(&signed, &self.keys, now_s()) {
            return auth_error(&e);
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
        let object_error = |e: sluice_core::runtime::ports::ObjectError| match e {
            sluice_core::runtime::ports::ObjectError::NotFound { .. } => {
                error(StatusCode::NOT_FOUND, "NoSuchKey", &e.to_string())
            }
            sluice_core::runtime::ports::ObjectError::InvalidName(_) => error(
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

enum BodyError {
    TooLarge,
    Broken(hyper::Error),
}

/// Reads a body of at most `MAX_BODY` bytes. An oversized one is read on (discarded) for a moment, up to
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
        return Err(BodyError::TooLarge);
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

fn now_s() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}
