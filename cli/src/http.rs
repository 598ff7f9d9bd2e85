//! hyper on one side, the transport-neutral answers on the other: replies, bounded request bodies, errors in
//! the API's JSON shape.

use anyhow::Result;
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderValue, CONTENT_LENGTH, CONTENT_TYPE};
use hyper::http::request::Parts;
use hyper::{Request, Response, StatusCode};
use serde_json::json;
use sluice_web::sigv4::AuthError;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The largest request body accepted.
pub const MAX_BODY: usize = 1024 * 1024;

/// How much of an oversized body is read (and dropped) before answering 413.
pub(crate) const DRAIN_CAP: usize = 16 * 1024 * 1024;

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

pub(crate) const AMZ_JSON: &str = "application/x-amz-json-1.1";

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

/// Reads the body of a request whose head was already taken apart (and checked): at most `max` bytes.
pub(crate) async fn read_bounded(
    parts: &Parts,
    body: Incoming,
    max: usize,
) -> Result<Bytes, BodyError> {
    let declared = parts
        .headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > DRAIN_CAP.max(max) as u64) {
        return Err(BodyError::TooLarge(max));
    }
    read_body(body, max).await
}

/// Reads a body of at most `max` bytes. An oversized one is read on (discarded) for a moment, up to
/// `DRAIN_CAP`, so the client is done sending and reads the 413 rather than a reset connection.
pub(crate) async fn read_body(mut body: Incoming, max: usize) -> Result<Bytes, BodyError> {
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

pub(crate) fn error(status: StatusCode, kind: &str, message: &str) -> (StatusCode, Bytes) {
    let body = json!({"__type": kind, "message": message}).to_string();
    (status, Bytes::from(body))
}

pub(crate) fn auth_error(e: &AuthError) -> (StatusCode, Bytes) {
    error(StatusCode::FORBIDDEN, e.kind(), &e.message())
}

pub(crate) fn now_s() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Decodes `%XX` escapes; None when an escape is malformed or the result is not UTF-8.
pub(crate) fn percent_decode(s: &str) -> Option<String> {
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

/// The client's address (what `sluice serve` put in the request's extensions), or `unknown`.
pub(crate) fn peer(parts: &hyper::http::request::Parts) -> String {
    parts
        .extensions
        .get::<std::net::SocketAddr>()
        .map_or_else(|| "unknown".to_owned(), |a| a.ip().to_string())
}
