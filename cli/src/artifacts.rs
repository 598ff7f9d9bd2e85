//! Job workers' artifacts over HTTP: `GET /artifacts/<bucket>/<key>` fetches an object, `PUT` stores one,
//! `GET /artifacts-info/<bucket>/<key>` describes it; signed like the API.

use crate::http::*;
use crate::service::Service;
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, StatusCode};
use serde_json::json;

/// The largest artifact a job worker may upload through `/artifacts/`.
pub const MAX_ARTIFACT: usize = 512 * 1024 * 1024;

impl Service {
    /// Job workers' artifacts: `GET /artifacts/<bucket>/<key>` fetches an object, `PUT` stores one (visible
    /// only once whole), `GET /artifacts-info/<bucket>/<key>` describes it. Signed like the API.
    pub(crate) async fn artifacts(&self, req: Request<Incoming>) -> (StatusCode, Bytes) {
        let (parts, body) = req.into_parts();
        // Authenticated before anything of the body is read: a PUT by the hash its signature declares, which
        // the body must match as it streams to disk; anything else has no body worth reading.
        let upload = if parts.method == Method::PUT {
            let length = parts
                .headers
                .get(hyper::header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
            if length.is_some_and(|n| n > MAX_ARTIFACT as u64) {
                return error(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "ValidationException",
                    &format!("request body over {MAX_ARTIFACT} bytes"),
                );
            }
            match self.authenticate_declared(&parts) {
                Ok((caller, declared)) => {
                    if let Err(refused) = self.worker(&caller) {
                        return refused;
                    }
                    Some((body, declared))
                }
                Err(refused) => return refused,
            }
        } else {
            if let Err(refused) = self.precheck(&parts) {
                return refused;
            }
            let body = match read_bounded(&parts, body, MAX_BODY).await {
                Ok(b) => b,
                Err(e) => return error(e.status(), "ValidationException", &e.to_string()),
            };
            match self.authenticate(&parts, &body) {
                Ok(caller) => {
                    if let Err(refused) = self.worker(&caller) {
                        return refused;
                    }
                }
                Err(refused) => return refused,
            }
            None
        };
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
            sluice_runtime::ports::ObjectError::Conflict(_) => {
                error(StatusCode::CONFLICT, "ConflictException", &e.to_string())
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
        let scratch = match tempfile::NamedTempFile::new_in(&self.uploads) {
            Ok(f) => f,
            Err(e) => {
                return error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "InternalFailure",
                    &format!("cannot make a temporary file: {e}"),
                )
            }
        };
        if let Some((body, declared)) = upload {
            if info_only {
                return error(
                    StatusCode::NOT_FOUND,
                    "UnknownOperationException",
                    "PUT /artifacts-info/ is not a route",
                );
            }
            if let Err(refused) = stream_to(body, scratch.path(), MAX_ARTIFACT, &declared).await {
                return refused;
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

/// Streams a body into `path`, at most `max` bytes, hashing it as it goes; refused unless its SHA-256 is
/// `declared` (what the signature covered).
async fn stream_to(
    mut body: Incoming,
    path: &std::path::Path,
    max: usize,
    declared: &str,
) -> Result<(), (StatusCode, Bytes)> {
    use http_body_util::BodyExt;
    use sha2::Digest;
    use tokio::io::AsyncWriteExt;
    let internal = |e: std::io::Error| {
        error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalFailure",
            &format!("cannot store the upload: {e}"),
        )
    };
    let mut file = tokio::fs::File::create(path).await.map_err(internal)?;
    let mut hash = sha2::Sha256::new();
    let mut seen = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| {
            error(
                StatusCode::BAD_REQUEST,
                "ValidationException",
                &format!("cannot read the request body: {e}"),
            )
        })?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        seen = seen.saturating_add(data.len());
        if seen > max {
            return Err(error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "ValidationException",
                &format!("request body over {max} bytes"),
            ));
        }
        hash.update(&data);
        file.write_all(&data).await.map_err(internal)?;
    }
    file.flush().await.map_err(internal)?;
    if hex::encode(hash.finalize()) != declared {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "BadDigest",
            "the body does not match its x-amz-content-sha256",
        ));
    }
    Ok(())
}
