//! The one router of `sluice serve`: each path to its transport-neutral handler (the console, approval pages,
//! webhooks, the CodePipeline API, job workers' artifacts, health).

use crate::http::*;
use crate::service::Service;
use crate::{approvals, webhooks};
use hyper::body::{Bytes, Incoming};
use hyper::header::HeaderValue;
use hyper::{Method, Request, StatusCode};
use sluice_web::codepipeline;
use sluice_web::sigv4;

impl Service {
    pub(crate) async fn respond(&self, req: Request<Incoming>) -> Reply {
        let mut resp = self.route(req).await;
        // Refused before their body was read (too large, or not authentic): the connection is not reused.
        let too_large = matches!(
            resp.status(),
            StatusCode::PAYLOAD_TOO_LARGE | StatusCode::FORBIDDEN
        );
        let headers = resp.headers_mut();
        if too_large {
            headers.insert(hyper::header::CONNECTION, HeaderValue::from_static("close"));
        }
        if let Ok(v) = HeaderValue::from_str(&uuid::Uuid::new_v4().to_string()) {
            headers.insert("x-amzn-requestid", v);
        }
        resp
    }

    pub(crate) async fn route(&self, req: Request<Incoming>) -> Reply {
        let path = req.uri().path().to_owned();
        let method = req.method().clone();
        if let Some(token) = path.strip_prefix(approvals::PATH_PREFIX) {
            let token = token.to_owned();
            return approvals::page(self, req, &token).await;
        }
        if sluice_web::console::is_console_path(method.as_str(), &path) {
            return self.console(req).await;
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

    pub(crate) async fn api(&self, req: Request<Incoming>) -> (StatusCode, Bytes) {
        let (parts, body) = req.into_parts();
        let target = parts
            .headers
            .get("x-amz-target")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        // Nothing is buffered for a request that cannot be authentic. A job's report signed with a key Sluice
        // does not know may be an invoked function's: its job id decides, once the body is read.
        let by_job = match self.precheck_auth(&parts) {
            Ok(()) => false,
            Err(sigv4::AuthError::UnknownKey)
                if codepipeline::REPORT_OPERATIONS
                    .iter()
                    .any(|op| target == format!("{}{op}", codepipeline::TARGET_PREFIX)) =>
            {
                true
            }
            Err(e) => return auth_error(&e),
        };
        let body = match read_bounded(&parts, body, MAX_BODY).await {
            Ok(read) => read,
            Err(e) => return error(e.status(), "ValidationException", &e.to_string()),
        };
        // An invoked function's report, or the principal whose key signed.
        let caller = if by_job {
            match codepipeline::invoked_job_caller(&self.runtime, &target, &body).await {
                Some(caller) => Err(caller),
                None => return auth_error(&sigv4::AuthError::UnknownKey),
            }
        } else {
            match self.authenticate(&parts, &body) {
                Ok(key) => match self.principal(&key) {
                    Some(p) => Ok(p),
                    None => return auth_error(&sigv4::AuthError::UnknownKey),
                },
                Err(refused) => return refused,
            }
        };
        if target.is_empty() {
            return error(
                StatusCode::BAD_REQUEST,
                "UnknownOperationException",
                "X-Amz-Target header is required",
            );
        }
        let resp = match caller {
            // Sluice's own operations on people and keys, over the files `self.access` reads.
            Ok(principal) if sluice_web::access::admin::is_access_target(&target) => {
                // Recorded in the audit log like the API's changes.
                let answer = sluice_web::access::admin::handle(
                    self.access.files(),
                    &target,
                    &body,
                    &principal,
                );
                sluice_web::audit::recorded(
                    &self.runtime,
                    &target,
                    &body,
                    &principal,
                    &peer(&parts),
                    answer,
                )
                .await
            }
            Ok(principal) => {
                codepipeline::handle_by(&self.runtime, &target, &body, &principal, &peer(&parts))
                    .await
            }
            Err(job) => {
                // An invoked function's report, recorded as made by the job.
                let answer = codepipeline::handle_as(&self.runtime, &target, &body, &job);
                let by = sluice_web::access::Principal::admin(&job);
                sluice_web::audit::recorded(
                    &self.runtime,
                    &target,
                    &body,
                    &by,
                    &peer(&parts),
                    answer,
                )
                .await
            }
        };
        let status = StatusCode::from_u16(resp.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let bytes = serde_json::to_vec(&resp.body).unwrap_or_else(|_| b"{}".to_vec());
        (status, Bytes::from(bytes))
    }
}
