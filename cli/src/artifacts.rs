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
