//! The trigger function: GitHub webhook deliveries on its function URL (`POST /webhooks/<pipeline>`, and
//! PutWebhook's named webhooks at `POST /webhooks/named/<name>`, answered by
//! `sluice_web::webhooks` as `sluice serve` answers them: signature checked in constant time with the
//! secret read from Secrets Manager at cold start, deliveries de-duplicated). S3 `Object Created`, ECR
//! `Image Action` (PUSH, SUCCESS) and `CodeCommit Repository State Change` (a branch created or updated)
//! EventBridge events start every pipeline whose first stage has an S3 source action on that bucket and key, an
//! ECR source action on that repository and tag (default `latest`), or a CodeCommit source action on that
//! repository and branch, pinned to the announced version, digest or commit, once per event id (EventBridge
//! delivers at least once). The `{"sluice": "poll-sources"}` schedule polls sources ([`crate::polls`]).

use std::sync::Arc;

use aws_lambda_events::event::lambda_function_urls::LambdaFunctionUrlResponse;
use serde_json::{json, Value};
use sluice_definition::Pipeline;
use sluice_runtime::pull_requests::ChangedFiles;
use sluice_runtime::records::{RevisionOverride, TriggerInfo};
use sluice_runtime::{Runtime, StartRequest};
use sluice_web::git_webhooks::{self, GitDelivery};
use sluice_web::webhooks::{self, Delivery, PATH_PREFIX};
use sluice_web::WebReply;
use tracing::{info, warn};

use crate::cfn_resource::http_client;
use crate::config::TriggerConfig;
use crate::dispatch::TaskFailure;
use crate::polls::{Poller, POLL_EVENT};
use crate::pull_request_files::HostApiFiles;
use crate::url;
use crate::wiring::{self, RuntimeSettings, WiringError};

/// The trigger function's dependencies.
pub struct Trigger {
    /// The runtime over the AWS adapters.
    pub runtime: Arc<Runtime>,
    /// GitHub's webhook secret.
    pub secret: Vec<u8>,
    /// What the poll schedule polls sources with.
    pub poller: Poller,
    /// Who lists pull requests' changed files for `filePaths` filters.
    pub changed_files: HostApiFiles,
}

impl Trigger {
    /// Builds clients and adapters, and reads the webhook secret, once.
    pub async fn connect(config: TriggerConfig) -> Result<Self, WiringError> {
        let sdk = wiring::sdk().await;
        let secret = wiring::secret(&sdk, &config.webhook_secret_arn).await?;
        let settings = RuntimeSettings {
            account: config.account.clone(),
            ..Default::default()
        };
        let tls = |e: std::io::Error| {
            WiringError::Adapter(format!(
                "cannot load the system's TLS root certificates: {e}"
            ))
        };
        let poller = Poller::new(sdk.clone(), config.github_url.clone()).map_err(tls)?;
        let changed_files = HostApiFiles::new(
            http_client().map_err(tls)?,
            sdk.clone(),
            config.host_apis.clone(),
            config.host_tokens_secret.clone(),
        );
        Ok(Self {
            runtime: wiring::runtime(&sdk, &config.common, settings)?.runtime,
            secret,
            poller,
            changed_files,
        })
    }

    /// Answers one event: a function URL request, or an EventBridge event. A service event that could not be
    /// handled fails the invocation, so that EventBridge's asynchronous invocation retries it.
    pub async fn handle(&self, event: Value) -> Result<LambdaFunctionUrlResponse, TaskFailure> {
        if event.get("sluice").and_then(Value::as_str) == Some(POLL_EVENT) {
            let polled = self.poller.poll(&self.runtime).await.map_err(|message| {
                warn!(error = %message, "cannot poll sources");
                TaskFailure {
                    name: "Sluice.InternalError".into(),
                    message,
                }
            })?;
            return Ok(url::response(url::json_reply(200, &polled)));
        }
        let from_service = event.get("source").is_some();
        let reply = answer_with(
            &self.runtime,
            &self.secret,
            Some(&self.changed_files),
            event,
        )
        .await;
        if from_service && reply.status >= 500 {
            return Err(TaskFailure {
                name: "Sluice.InternalError".into(),
                message: reply.body,
            });
        }
        Ok(url::response(reply))
    }
}

/// Answers one event; pull requests judged by `filePaths` filters cannot match (see [`answer_with`]).
pub async fn answer(runtime: &Runtime, secret: &[u8], event: Value) -> WebReply {
    answer_with(runtime, secret, None, event).await
}

/// Answers one event, listing pull requests' changed files with `changed_files` when a filter needs them.
pub async fn answer_with(
    runtime: &Runtime,
    secret: &[u8],
    changed_files: Option<&dyn ChangedFiles>,
    event: Value,
) -> WebReply {
    if event.get("source").is_some() {
        return service_event(runtime, &event).await;
    }
    let req = match url::request(event) {
        Ok(r) => r,
        Err(m) => return url::refusal(400, "InvalidRequest", &m),
    };
    let path = req.raw_path.as_deref().unwrap_or("");
    let Some(pipeline) = path.strip_prefix(PATH_PREFIX) else {
        return url::refusal(
            404,
            "NotFound",
            "webhooks are POSTed to /webhooks/<pipeline>",
        );
    };
    let body = match url::body(&req) {
        Ok(b) => b,
        Err(m) => return url::refusal(400, "InvalidRequest", &m),
    };
    let method = url::method(&req);
    let delivery = Delivery {
        method: &method,
        pipeline,
        signature: url::header(&req, "x-hub-signature-256"),
        event: url::header(&req, "x-github-event"),
        delivery: url::header(&req, "x-github-delivery"),
        content_type: url::header(&req, "content-type"),
        body: &body,
    };
    match pipeline.strip_prefix(webhooks::NAMED) {
        Some(name) => {
            let source_ip = req.request_context.http.source_ip.as_deref();
            let delivery = Delivery {
                pipeline: name,
                ..delivery
            };
            webhooks::deliver_named(runtime, delivery, source_ip).await
        }
        None => {
            // GitHub, GitLab and Bitbucket deliveries, told apart by their headers.
            let headers: Vec<(&str, &str)> = req
                .headers
                .iter()
                .filter_map(|(name, value)| Some((name.as_str(), value.to_str().ok()?.trim())))
                .collect();
            let git = GitDelivery {
                method: &method,
                pipeline,
                headers: &headers,
                body: &body,
                changed_files,
            };
            git_webhooks::deliver_git(runtime, secret, git).await
        }
    }
}

/// A new source revision announced by an AWS service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceEvent {
    /// An S3 object was created.
    S3 {
        /// The bucket.
        bucket: String,
        /// The object key.
        key: String,
        /// The version created (versioned buckets).
        version_id: Option<String>,
    },
    /// An image was pushed to ECR.
    Ecr {
        /// The repository.
        repository: String,
        /// The tag pushed.
        tag: String,
        /// The image pushed.
        digest: Option<String>,
    },
    /// A CodeCommit branch was created or moved.
    CodeCommit {
        /// The repository.
        repository: String,
        /// The branch.
        branch: String,
        /// The commit it points at now.
        commit: String,
    },
}

impl SourceEvent {
    /// The revision to start `action` with: the S3 version or the image digest the event announced.
    pub fn pinned(&self, action: &str) -> Option<RevisionOverride> {
        let (revision_type, value) = match self {
            Self::S3 { version_id, .. } => ("S3_OBJECT_VERSION_ID", version_id.as_ref()?),
            Self::Ecr { digest, .. } => ("IMAGE_DIGEST", digest.as_ref()?),
            Self::CodeCommit { commit, .. } => (crate::git_sources::COMMIT_ID, commit),
        };
        Some(RevisionOverride {
            action_name: action.to_owned(),
            revision_type: revision_type.to_owned(),
            revision_value: value.clone(),
        })
    }

    /// Reads an EventBridge event; None for events that announce no new revision (other services, failed
    /// or non-push ECR actions, untagged images, deleted CodeCommit references and tags).
    pub fn from_eventbridge(event: &Value) -> Option<Self> {
        let text = |path: &str| event.pointer(path).and_then(Value::as_str);
        match (text("/source")?, text("/detail-type")?) {
            ("aws.s3", "Object Created") => Some(Self::S3 {
                bucket: text("/detail/bucket/name")?.to_owned(),
                key: text("/detail/object/key")?.to_owned(),
                version_id: text("/detail/object/version-id")
                    .filter(|v| !v.is_empty())
                    .map(str::to_owned),
            }),
            ("aws.ecr", "ECR Image Action")
                if text("/detail/action-type") == Some("PUSH")
                    && text("/detail/result") == Some("SUCCESS") =>
            {
                Some(Self::Ecr {
                    repository: text("/detail/repository-name")?.to_owned(),
                    tag: text("/detail/image-tag")
                        .filter(|t| !t.is_empty())?
                        .to_owned(),
                    digest: text("/detail/image-digest")
                        .filter(|d| !d.is_empty())
                        .map(str::to_owned),
                })
            }
            ("aws.codecommit", "CodeCommit Repository State Change")
                if matches!(
                    text("/detail/event"),
                    Some("referenceCreated" | "referenceUpdated")
                ) && text("/detail/referenceType") == Some("branch") =>
            {
                Some(Self::CodeCommit {
                    repository: text("/detail/repositoryName")?.to_owned(),
                    branch: text("/detail/referenceName")?.to_owned(),
                    commit: text("/detail/commitId")
                        .filter(|c| !c.is_empty())?
                        .to_owned(),
                })
            }
            _ => None,
        }
    }

    /// The source action of `pipeline`'s first stage that follows this revision, if any.
    pub fn source_action<'a>(&self, pipeline: &'a Pipeline) -> Option<&'a str> {
        let first = pipeline.stages.first()?;
        first.actions.iter().find_map(|a| {
            let t = &a.action_type_id;
            let config = |k: &str| {
                a.configuration
                    .as_ref()
                    .and_then(|c| c.get(k))
                    .map(String::as_str)
            };
            let follows = t.category == "Source"
                && t.owner == "AWS"
                && match self {
                    Self::S3 { bucket, key, .. } => {
                        t.provider == "S3"
                            && config("S3Bucket") == Some(bucket.as_str())
                            && config("S3ObjectKey") == Some(key.as_str())
                    }
                    Self::Ecr {
                        repository, tag, ..
                    } => {
                        t.provider == "ECR"
                            && config("RepositoryName") == Some(repository.as_str())
                            && config("ImageTag").unwrap_or("latest") == tag
                    }
                    Self::CodeCommit {
                        repository, branch, ..
                    } => {
                        t.provider == "CodeCommit"
                            && config("RepositoryName") == Some(repository.as_str())
                            && config("BranchName") == Some(branch.as_str())
                    }
                };
            follows.then_some(a.name.as_str())
        })
    }
}

/// Starts the pipelines an S3, ECR or CodeCommit event concerns, once per event id.
async fn service_event(runtime: &Runtime, event: &Value) -> WebReply {
    let source = event.get("source").and_then(Value::as_str).unwrap_or("");
    let Some(revision) = SourceEvent::from_eventbridge(event) else {
        info!(
            source,
            "EventBridge event announces no source revision: ignored"
        );
        return url::json_reply(
            200,
            &json!({"started": [], "reason": "not a new source revision"}),
        );
    };
    let id = event.get("id").and_then(Value::as_str).unwrap_or("");
    if id.is_empty()
        || id.len() > 100
        || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        return url::refusal(400, "InvalidEvent", "the event has no usable id");
    }
    let detail = event
        .pointer("/resources/0")
        .and_then(Value::as_str)
        .unwrap_or(source)
        .to_owned();
    let heads = match runtime.list_pipelines().await {
        Ok(h) => h,
        Err(e) => return url::refusal(500, "InternalError", &e.to_string()),
    };
    let mut started = Vec::new();
    for head in heads {
        let record = match runtime.pipeline(&head.name, None).await {
            Ok(r) => r,
            Err(e) => return url::refusal(500, "InternalError", &e.to_string()),
        };
        let Some(action) = revision.source_action(&record.definition) else {
            continue;
        };
        let request = StartRequest {
            trigger: Some(TriggerInfo {
                trigger_type: "CloudWatchEvent".into(),
                trigger_detail: detail.clone(),
                pushed_by: None,
            }),
            // The execution fetches the revision the event announced, not whatever is newest when it runs.
            source_revisions: revision.pinned(action).into_iter().collect(),
            ..Default::default()
        };
        match runtime.start_for_delivery(&head.name, id, request).await {
            Ok(d) => {
                info!(pipeline = %head.name, action, execution = %d.execution.execution_id, duplicate = d.duplicate, "started by {source}");
                started.push(json!({
                    "pipeline": head.name,
                    "action": action,
                    "pipelineExecutionId": d.execution.execution_id,
                    "duplicate": d.duplicate,
                }));
            }
            Err(e) => {
                // The invocation fails and is retried; pipelines started already are not started twice (same id).
                warn!(pipeline = %head.name, error = %e, "cannot start");
                return url::refusal(500, "InternalError", &format!("{}: {e}", head.name));
            }
        }
    }
    url::json_reply(200, &json!({"started": started}))
}
