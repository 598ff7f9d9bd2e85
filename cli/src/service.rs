//! What every connection of `sluice serve` shares: the runtime, the keys requests are signed with, the
//! approval link key and the webhook secret; and checking a request's signature.

use crate::http::*;
use anyhow::Result;
use hyper::body::Bytes;
use hyper::http::request::Parts;
use hyper::StatusCode;
use sluice_runtime::Runtime;
use sluice_web::sigv4::{self, Keys, SignedRequest};
use std::sync::Arc;

/// What every connection shares.
pub(crate) struct Service {
    pub(crate) runtime: Arc<Runtime>,
    /// The access keys API requests must be signed with.
    pub(crate) keys: Keys,
    /// The key approval links are signed with.
    pub(crate) approval_key: Vec<u8>,
    /// The secret webhook deliveries are signed with.
    pub(crate) webhook_secret: Vec<u8>,
}

impl Service {
    /// Checks a request's SigV4 signature; answers the access key id that signed it, or the refusal.
    pub(crate) fn authenticate(
        &self,
        parts: &Parts,
        body: &[u8],
    ) -> Result<String, (StatusCode, Bytes)> {
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
}
