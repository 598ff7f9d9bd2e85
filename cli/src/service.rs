//! What every connection of `sluice serve` shares: the runtime, the keys requests are signed with, the
//! approval link key and the webhook secret; and checking a request's signature.

use crate::http::*;
use anyhow::Result;
use hyper::body::Bytes;
use hyper::http::request::Parts;
use hyper::StatusCode;
use sluice_runtime::Runtime;
use sluice_web::access::{Principal, Role};
use sluice_web::sigv4::{self, SignedRequest};
use std::path::PathBuf;
use std::sync::Arc;

/// What every connection shares.
pub(crate) struct Service {
    pub(crate) runtime: Arc<Runtime>,
    /// The access keys API requests must be signed with, and whose they are.
    pub(crate) access: Arc<crate::people::LiveAccess>,
    /// The key approval links are signed with.
    pub(crate) approval_key: Vec<u8>,
    /// The secret webhook deliveries are signed with.
    pub(crate) webhook_secret: Vec<u8>,
    /// Where artifact uploads stream to before they are stored (emptied when the server starts).
    pub(crate) uploads: PathBuf,
    /// Where the agent writes action logs (the console shows them).
    pub(crate) logs: PathBuf,
    /// How long a console session lasts, in seconds.
    pub(crate) session_lifetime_s: i64,
    /// Lists pull requests' changed files with git, for `filePaths` filters.
    pub(crate) changed_files: crate::changed_files::GitChangedFiles,
}

impl Service {
    /// The checks that need no body: well-formed, known key, fresh, every meaningful header signed. Run before
    /// a body is read, so unsigned requests cost nothing.
    pub(crate) fn precheck(&self, parts: &Parts) -> Result<(), (StatusCode, Bytes)> {
        self.precheck_auth(parts).map_err(|e| auth_error(&e))
    }

    /// [`Self::precheck`], telling why.
    pub(crate) fn precheck_auth(&self, parts: &Parts) -> Result<(), sigv4::AuthError> {
        let headers = header_pairs(parts);
        sigv4::precheck(
            &signed(parts, &headers, b""),
            self.access.get().keys(),
            now_s(),
        )
    }

    /// Checks a request's SigV4 signature; answers the access key id that signed it, or the refusal.
    pub(crate) fn authenticate(
        &self,
        parts: &Parts,
        body: &[u8],
    ) -> Result<String, (StatusCode, Bytes)> {
        let headers = header_pairs(parts);
        sigv4::verify(
            &signed(parts, &headers, body),
            self.access.get().keys(),
            now_s(),
        )
        .map_err(|e| auth_error(&e))
    }

    /// Checks a request's signature before its body is read, against the body hash it declares in its signed
    /// `x-amz-content-sha256` header; answers the key id and that hash, which the body must then match.
    pub(crate) fn authenticate_declared(
        &self,
        parts: &Parts,
    ) -> Result<(String, String), (StatusCode, Bytes)> {
        let headers = header_pairs(parts);
        let caller = sigv4::verify_declared(
            &signed(parts, &headers, b""),
            self.access.get().keys(),
            now_s(),
        )
        .map_err(|e| auth_error(&e))?;
        let declared = parts
            .headers
            .get("x-amz-content-sha256")
            .and_then(|v| v.to_str().ok())
            .map(|v| v.trim().to_ascii_lowercase())
            .unwrap_or_default();
        Ok((caller, declared))
    }
}

impl Service {
    /// Whose key signed (None when the key was removed since).
    pub(crate) fn principal(&self, key_id: &str) -> Option<Arc<Principal>> {
        self.access.get().principal(key_id)
    }

    /// Refuses a key whose principal is not an operator on every pipeline: what job workers (agents moving
    /// artifacts for any pipeline) need.
    pub(crate) fn worker(&self, key_id: &str) -> Result<(), (StatusCode, Bytes)> {
        let principal = self.principal(key_id);
        if principal
            .as_ref()
            .and_then(|p| p.role_everywhere())
            .is_some_and(|r| r >= Role::Operator)
        {
            return Ok(());
        }
        let name = principal.map_or_else(|| key_id.to_owned(), |p| p.name.clone());
        Err(error(
            StatusCode::FORBIDDEN,
            "AccessDeniedException",
            &format!(
                "User: {name} is not authorized to move artifacts: that needs operator on every pipeline (`*`)"
            ),
        ))
    }
}

fn header_pairs(parts: &Parts) -> Vec<(String, String)> {
    parts
        .headers
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect()
}

fn signed<'a>(
    parts: &'a Parts,
    headers: &'a [(String, String)],
    body: &'a [u8],
) -> SignedRequest<'a> {
    SignedRequest {
        method: parts.method.as_str(),
        path: parts.uri.path(),
        query: parts.uri.query().unwrap_or(""),
        headers,
        body,
    }
}
