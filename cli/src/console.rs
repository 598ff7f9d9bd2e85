//! hyper to the console's transport-neutral pages (`sluice_web::console`): the request's head and form body as
//! plain data in; the reply, its per-request headers (cookies, redirects) and artifact downloads out.

use crate::http::*;
use crate::service::Service;
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderName, HeaderValue};
use hyper::{Request, StatusCode};
use sluice_web::console::{self, Console, ConsoleRequest};

/// The largest console form accepted.
const MAX_FORM: usize = 64 * 1024;

/// The environment variable that sets how long console sessions last, in seconds (12 hours by default).
pub(crate) const SESSION_SECONDS_ENV: &str = "SLUICE_CONSOLE_SESSION_SECONDS";

impl Service {
    /// Answers a console request.
    pub(crate) async fn console(&self, req: Request<Incoming>) -> Reply {
        let (parts, body) = req.into_parts();
        let body = if parts.method == hyper::Method::POST {
            match read_bounded(&parts, body, MAX_FORM).await {
                Ok(b) => b,
                Err(e) => {
                    return web(console::message(
                        e.status().as_u16(),
                        "Not read",
                        &e.to_string(),
                    ))
                }
            }
        } else {
            Bytes::new()
        };
        let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
        let source = peer(&parts);
        let request = ConsoleRequest {
            method: parts.method.as_str(),
            path: parts.uri.path(),
            query: parts.uri.query().unwrap_or(""),
            cookie: header("cookie"),
            host: header("host"),
            origin: header("origin"),
            referer: header("referer"),
            forwarded_proto: header("x-forwarded-proto"),
            content_type: header("content-type"),
            fragment: header("x-sluice-fragment").is_some(),
            body: &body,
            now_s: now_s(),
            source: &source,
        };
        let access = self.access.get();
        let logs = console::logs::LogFiles {
            dir: self.logs.clone(),
        };
        let context = Console {
            runtime: &self.runtime,
            access: &access,
            logs: Some(&logs),
            session_lifetime_s: self.session_lifetime_s,
        };
        let answer = console::answer(&context, request).await;
        let mut resp = match &answer.download {
            None => web(answer.reply),
            Some(d) => {
                let bytes = match self.object_bytes(&d.bucket, &d.key).await {
                    Ok(b) => b,
                    Err(m) => {
                        return web(console::message(404, "Artifact not available", &m));
                    }
                };
                let mut r = reply(StatusCode::OK, "application/zip", bytes);
                let disposition = format!("attachment; filename=\"{}\"", d.file_name);
                if let Ok(v) = HeaderValue::from_str(&disposition) {
                    r.headers_mut().insert("content-disposition", v);
                }
                r.headers_mut()
                    .insert("cache-control", HeaderValue::from_static("no-store"));
                r
            }
        };
        for (name, value) in answer.headers {
            if let Ok(v) = HeaderValue::from_str(&value) {
                resp.headers_mut().append(HeaderName::from_static(name), v);
            }
        }
        resp
    }

    /// An object's bytes, through a scratch file of the uploads folder.
    async fn object_bytes(&self, bucket: &str, key: &str) -> Result<Bytes, String> {
        let scratch = tempfile::NamedTempFile::new_in(&self.uploads).map_err(|e| e.to_string())?;
        self.runtime
            .objects
            .get_file(bucket, key, scratch.path())
            .await
            .map_err(|e| e.to_string())?;
        tokio::fs::read(scratch.path())
            .await
            .map(Bytes::from)
            .map_err(|e| e.to_string())
    }
}
