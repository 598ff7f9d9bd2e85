//! The approval function: its function URL serves the approval pages of e-mailed links
//! (`sluice_web::approval_page`, the same pages `sluice serve` answers; GET shows, POST decides once; links
//! are checked with the key read from Secrets Manager at cold start), and the web console
//! (`sluice_web::console`), whose people sign in with the stack's key pairs ([`crate::access`], read as the
//! api function reads them). An artifact download is answered with a redirect to a presigned S3 GET that
//! expires after [`DOWNLOAD_SECONDS`].

use sluice_runtime::ports::Directory;
use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::event::lambda_function_urls::{
    LambdaFunctionUrlRequest, LambdaFunctionUrlResponse,
};
use aws_lambda_events::http::HeaderValue;
use sluice_runtime::links::PATH_PREFIX;
use sluice_runtime::Runtime;
use sluice_web::access::Access;
use sluice_web::approval_page::{self, PageRequest};
use sluice_web::console::logs::ActionLogs;
use sluice_web::console::{self, Console, ConsoleReply, ConsoleRequest, Download};

use crate::access::AccessCache;
use crate::config::ApprovalConfig;
use crate::url;
use crate::wiring::{self, RuntimeSettings, WiringError};

/// The approval function's dependencies.
pub struct Approval {
    /// The runtime over the AWS adapters.
    pub runtime: Arc<Runtime>,
    /// The key links are signed with.
    pub key: Vec<u8>,
    /// The stack's principals: a decision through an approver's link is judged with its groups.
    pub directory: Arc<dyn Directory>,
    /// The console, when configured.
    pub console: Option<ConsoleHost>,
}

/// How long a presigned artifact download stays valid.
pub const DOWNLOAD_SECONDS: u64 = 300;

/// What the console needs in AWS.
pub struct ConsoleHost {
    /// Who may sign in, read briefly cached.
    pub access: AccessCache,
    /// Presigns artifact downloads.
    pub s3: aws_sdk_s3::Client,
    /// How long a session lasts, in seconds.
    pub session_lifetime_s: i64,
    /// CodeBuild actions' log lines from CloudWatch Logs.
    pub logs: Option<crate::console_logs::CloudWatchActionLogs>,
}

impl Approval {
    /// Builds clients and adapters, and reads the link key, once.
    pub async fn connect(config: ApprovalConfig) -> Result<Self, WiringError> {
        let sdk = wiring::sdk().await;
        let key = wiring::secret(&sdk, &config.approval_key_secret_arn).await?;
        let settings = RuntimeSettings {
            account: config.account.clone(),
            ..Default::default()
        };
        let runtime = wiring::runtime(&sdk, &config.common, settings)?.runtime;
        let console = match &config.console {
            Some(c) => Some(ConsoleHost {
                access: wiring::access(
                    &sdk,
                    runtime.store.clone(),
                    &c.api_keys_secret_arn,
                    &c.access,
                )
                .await?,
                s3: aws_sdk_s3::Client::new(&sdk),
                session_lifetime_s: c.session_lifetime_s,
                logs: Some(crate::console_logs::CloudWatchActionLogs::new(&sdk)),
            }),
            None => None,
        };
        let directory = Arc::new(crate::access::StackPeople::new(
            runtime.store.clone(),
            &sdk,
            "",
        ));
        Ok(Self {
            runtime,
            key,
            directory,
            console,
        })
    }

    /// Answers one request.
    pub async fn handle(&self, req: LambdaFunctionUrlRequest) -> LambdaFunctionUrlResponse {
        let now_s = self.runtime.env.now_ms().div_euclid(1000);
        let path = req.raw_path.as_deref().unwrap_or("");
        if !path.starts_with(PATH_PREFIX) && console::is_console_path(&url::method(&req), path) {
            if let Some(host) = &self.console {
                return match host.access.get().await {
                    Ok(access) => console_answer(&self.runtime, &access, host, &req, now_s).await,
                    Err(e) => {
                        tracing::error!(error = %e, "the console cannot read people and keys");
                        url::response(console::message(
                            503,
                            "Try again",
                            "People and keys cannot be read just now.",
                        ))
                    }
                };
            }
        }
        url::response(answer(&self.runtime, &self.key, &*self.directory, &req, now_s).await)
    }
}

/// Answers one console request (a path [`console::is_console_path`] routes to the console).
pub async fn console_answer(
    runtime: &Runtime,
    access: &Access,
    host: &ConsoleHost,
    req: &LambdaFunctionUrlRequest,
    now_s: i64,
) -> LambdaFunctionUrlResponse {
    let method = url::method(req);
    let body = if method == "POST" {
        match url::body(req) {
            Ok(b) => b,
            Err(m) => return url::response(console::message(400, "Not read", &m)),
        }
    } else {
        Vec::new()
    };
    // Function URLs pass cookies apart from the headers.
    let cookie = req
        .cookies
        .as_ref()
        .filter(|c| !c.is_empty())
        .map(|c| c.join("; "));
    let source = req
        .request_context
        .http
        .source_ip
        .clone()
        .unwrap_or_default();
    let request = ConsoleRequest {
        method: &method,
        path: req.raw_path.as_deref().unwrap_or("/"),
        query: req.raw_query_string.as_deref().unwrap_or(""),
        cookie: cookie.as_deref().or_else(|| url::header(req, "cookie")),
        host: url::header(req, "host"),
        origin: url::header(req, "origin"),
        referer: url::header(req, "referer"),
        forwarded_proto: url::header(req, "x-forwarded-proto"),
        content_type: url::header(req, "content-type"),
        fragment: url::header(req, "x-sluice-fragment").is_some(),
        body: &body,
        now_s,
        source: &source,
    };
    let context = Console {
        runtime,
        access,
        logs: host.logs.as_ref().map(|l| l as &dyn ActionLogs),
        session_lifetime_s: host.session_lifetime_s,
    };
    let answer = console::answer(&context, request).await;
    console_response(answer, &host.s3).await
}

async fn console_response(
    answer: ConsoleReply,
    s3: &aws_sdk_s3::Client,
) -> LambdaFunctionUrlResponse {
    let mut response = match &answer.download {
        None => url::response(answer.reply),
        Some(d) => download_response(s3, d).await,
    };
    for (name, value) in answer.headers {
        if name.eq_ignore_ascii_case("set-cookie") {
            response.cookies.push(value);
        } else if let Ok(v) = HeaderValue::from_str(&value) {
            response.headers.append(name, v);
        }
    }
    response
}

/// An artifact download: a 303 to a presigned S3 GET valid for [`DOWNLOAD_SECONDS`] (the bytes never pass
/// through the function, whose answers are limited to 6 MB), or 404 saying why there is none.
pub async fn download_response(
    s3: &aws_sdk_s3::Client,
    download: &Download,
) -> LambdaFunctionUrlResponse {
    match presign(s3, &download.bucket, &download.key, &download.file_name).await {
        Ok(location) => {
            let mut r = console::message(
                303,
                "Download",
                "The artifact is at the address this page redirects to.",
            );
            r.headers = vec![("cache-control", "no-store")];
            let mut response = url::response(r);
            if let Ok(v) = HeaderValue::from_str(&location) {
                response.headers.insert("location", v);
            }
            response
        }
        Err(m) => {
            tracing::warn!(bucket = %download.bucket, key = %download.key, error = %m, "no presigned download");
            url::response(console::message(404, "Artifact not available", &m))
        }
    }
}

/// A GET of `bucket/key` that S3 answers without credentials for [`DOWNLOAD_SECONDS`], saved as `file_name`.
async fn presign(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    file_name: &str,
) -> Result<String, String> {
    let config =
        aws_sdk_s3::presigning::PresigningConfig::expires_in(Duration::from_secs(DOWNLOAD_SECONDS))
            .map_err(|e| e.to_string())?;
    let file_name: String = file_name
        .chars()
        .filter(|c| !c.is_control() && *c != '"' && *c != '\\')
        .collect();
    s3.get_object()
        .bucket(bucket)
        .key(key)
        .response_content_disposition(format!("attachment; filename=\"{file_name}\""))
        .response_content_type("application/zip")
        .presigned(config)
        .await
        .map(|p| p.uri().to_owned())
        .map_err(|e| aws_sdk_s3::error::DisplayErrorContext(&e).to_string())
}

/// Answers one function URL request for an approval page.
pub async fn answer(
    runtime: &Runtime,
    key: &[u8],
    directory: &dyn Directory,
    req: &LambdaFunctionUrlRequest,
    now_s: i64,
) -> approval_page::WebReply {
    let path = req.raw_path.as_deref().unwrap_or("");
    let Some(token) = path.strip_prefix(PATH_PREFIX) else {
        return approval_page::message(404, "Not found", "Approval links start with /approvals/.");
    };
    let method = url::method(req);
    let body = if method == "POST" {
        match url::body(req) {
            Ok(b) => b,
            Err(m) => return approval_page::message(400, "Request refused", &m),
        }
    } else {
        Vec::new()
    };
    let request = PageRequest {
        method: &method,
        token,
        query: req.raw_query_string.as_deref().unwrap_or(""),
        content_type: url::header(req, "content-type"),
        body: &body,
        now_s,
    };
    approval_page::answer(runtime, key, directory, request).await
}
