//! Polled sources in AWS (`PollForSourceChanges`, on unless `false` for S3, CodeCommit and GitHub version 1
//! sources, as in CodePipeline): the trigger function's `{"sluice": "poll-sources"}` schedule (template rule,
//! each minute) reads each polled source's newest revision and reports it to the runtime
//! ([`sluice_runtime::source_polls`]), which starts one execution per change, pinned to what was found.
//!
//! Each source is read as its action's role (the action's `roleArn`, else the pipeline's), as CodePipeline polls
//! as the pipeline's role:
//! - S3: HeadObject; the revision is the version id (pinned as `S3_OBJECT_VERSION_ID`), else the ETag.
//! - CodeCommit: GetBranch; the branch's commit (pinned as `COMMIT_ID`).
//! - GitHub (version 1): the smart HTTP ref advertisement of `<SLUICE_GITHUB_URL>/<Owner>/<Repo>.git` with the
//!   token as basic auth `x-access-token:<token>` ([`crate::git_refs`]); the branch's commit (pinned as
//!   `COMMIT_ID`). A `{{resolve:secretsmanager:...}}` token is read from Secrets Manager first.
//!
//! A source that cannot be read is logged and reported; the others are polled all the same, and the next
//! schedule tries again.

use std::collections::BTreeMap;

use aws_config::SdkConfig;
use base64::Engine as _;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper::{Method, Request};
use serde_json::{json, Value};
use sluice_definition::Pipeline;
use sluice_runtime::records::RevisionOverride;
use sluice_runtime::source_polls::{PollOutcome, PolledKind, PolledSource};
use sluice_runtime::Runtime;
use tracing::{info, warn};

use crate::cfn_resource::{http_client, Http};
use crate::git_sources::{resolve_reference, Reference, SecretReference, COMMIT_ID};

/// The `sluice` field of the poll schedule's event.
pub const POLL_EVENT: &str = "poll-sources";

/// The largest ref advertisement read (repositories with very many refs are cut off there, and refused).
const MAX_ADVERTISEMENT: usize = 16 * 1024 * 1024;

/// What a poll found of one source: the revision to compare, and the pin to start with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// The revision (a version id, an ETag, a commit).
    pub revision: String,
    /// What the execution is pinned to, if the provider can be.
    pub pin: Option<RevisionOverride>,
}

/// Reads sources' newest revisions.
pub struct Poller {
    sdk: SdkConfig,
    http: Http,
    github_url: String,
}

impl std::fmt::Debug for Poller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Poller")
            .field("github_url", &self.github_url)
            .finish_non_exhaustive()
    }
}

impl Poller {
    /// A poller over `sdk` (the function's; roles are assumed from it), reaching GitHub at `github_url`.
    pub fn new(sdk: SdkConfig, github_url: impl Into<String>) -> Result<Self, std::io::Error> {
        Ok(Self {
            sdk,
            http: http_client()?,
            github_url: github_url.into().trim_end_matches('/').to_owned(),
        })
    }

    /// Polls every polled source of every pipeline once; answers what was started and what could not be read.
    pub async fn poll(&self, runtime: &Runtime) -> Result<Value, String> {
        let pipelines = runtime
            .polled_pipelines()
            .await
            .map_err(|e| e.to_string())?;
        let mut roles: BTreeMap<Option<String>, Result<SdkConfig, String>> = BTreeMap::new();
        let (mut polled, mut started, mut failed) = (0, Vec::new(), Vec::new());
        for (pipeline, sources) in pipelines {
            for source in sources {
                polled += 1;
                let role = role_of(&pipeline, &source.action);
                if !roles.contains_key(&role) {
                    let sdk = crate::roles::assume(&self.sdk, role.as_deref(), "sluice-poll").await;
                    roles.insert(role.clone(), sdk);
                }
                let outcome = match &roles[&role] {
                    Ok(sdk) => self.poll_one(runtime, sdk, &pipeline.name, &source).await,
                    Err(e) => Err(e.clone()),
                };
                match outcome {
                    Ok(PollOutcome::Started { execution_id }) => {
                        info!(pipeline = %pipeline.name, action = %source.action, execution = %execution_id, "a polled source changed");
                        started.push(json!({
                            "pipeline": pipeline.name,
                            "action": source.action,
                            "pipelineExecutionId": execution_id,
                        }));
                    }
                    Ok(PollOutcome::First | PollOutcome::Unchanged) => {}
                    Err(error) => {
                        warn!(pipeline = %pipeline.name, action = %source.action, %error, "cannot poll a source");
                        failed.push(json!({
                            "pipeline": pipeline.name,
                            "action": source.action,
                            "error": error,
                        }));
                    }
                }
            }
        }
        Ok(json!({"polled": polled, "started": started, "failed": failed}))
    }

    async fn poll_one(
        &self,
        runtime: &Runtime,
        sdk: &SdkConfig,
        pipeline: &str,
        source: &PolledSource,
    ) -> Result<PollOutcome, String> {
        let found = self.newest(sdk, &source.action, &source.kind).await?;
        runtime
            .source_polled(pipeline, &source.action, &found.revision, found.pin)
            .await
            .map_err(|e| e.to_string())
    }

    /// The newest revision of one source, read as `sdk`'s credentials.
    pub async fn newest(
        &self,
        sdk: &SdkConfig,
        action: &str,
        kind: &PolledKind,
    ) -> Result<Found, String> {
        let pin = |revision_type: &str, value: &str| {
            Some(RevisionOverride {
                action_name: action.to_owned(),
                revision_type: revision_type.to_owned(),
                revision_value: value.to_owned(),
            })
        };
        match kind {
            PolledKind::S3 { bucket, key } => {
                let head = aws_sdk_s3::Client::new(sdk)
                    .head_object()
                    .bucket(bucket)
                    .key(key)
                    .send()
                    .await
                    .map_err(|e| {
                        format!(
                            "cannot read s3://{bucket}/{key}: {}",
                            aws_sdk_s3::error::DisplayErrorContext(&e)
                        )
                    })?;
                match head.version_id().filter(|v| !v.is_empty() && *v != "null") {
                    Some(version) => Ok(Found {
                        revision: version.to_owned(),
                        pin: pin("S3_OBJECT_VERSION_ID", version),
                    }),
                    None => Ok(Found {
                        revision: head
                            .e_tag()
                            .ok_or_else(|| format!("s3://{bucket}/{key} has no ETag"))?
                            .to_owned(),
                        pin: None,
                    }),
                }
            }
            PolledKind::CodeCommit { repository, branch } => {
                let out = aws_sdk_codecommit::Client::new(sdk)
                    .get_branch()
                    .repository_name(repository)
                    .branch_name(branch)
                    .send()
                    .await
                    .map_err(|e| {
                        format!(
                            "cannot read branch {branch} of CodeCommit repository {repository}: {}",
                            aws_sdk_codecommit::error::DisplayErrorContext(&e)
                        )
                    })?;
                let commit = branch_commit(out.branch(), repository, branch)?;
                Ok(Found {
                    pin: pin(COMMIT_ID, &commit),
                    revision: commit,
                })
            }
            PolledKind::GitHub {
                owner,
                repo,
                branch,
                token,
            } => {
                let token = self.token(sdk, token).await?;
                let commit = self.github_head(owner, repo, branch, &token).await?;
                Ok(Found {
                    pin: pin(COMMIT_ID, &commit),
                    revision: commit,
                })
            }
        }
    }

    /// The token a GitHub source's `OAuthToken` stands for.
    async fn token(&self, sdk: &SdkConfig, configured: &str) -> Result<String, String> {
        match resolve_reference(configured) {
            None => Ok(configured.to_owned()),
            Some(Reference::SecretsManager(secret)) => read_secret(sdk, &secret).await,
            Some(Reference::Parameter(name)) => Err(format!(
                "the OAuthToken is the SSM parameter {name}: polling reads tokens from Secrets Manager \
                 ({{{{resolve:secretsmanager:...}}}}) or the configuration only"
            )),
        }
    }

    /// The commit `refs/heads/<branch>` of `<owner>/<repo>` points at, from the ref advertisement.
    async fn github_head(
        &self,
        owner: &str,
        repo: &str,
        branch: &str,
        token: &str,
    ) -> Result<String, String> {
        let url = format!(
            "{}/{owner}/{repo}.git/info/refs?service=git-upload-pack",
            self.github_url
        );
        let shown = format!("{}/{owner}/{repo}.git", self.github_url);
        let auth =
            base64::engine::general_purpose::STANDARD.encode(format!("x-access-token:{token}"));
        let request = Request::builder()
            .method(Method::GET)
            .uri(&url)
            .header("authorization", format!("Basic {auth}"))
            .header("user-agent", "git/2 (sluice)")
            .header("accept", "*/*")
            .body(Full::new(Bytes::new()))
            .map_err(|e| format!("{shown}: {e}"))?;
        let answer = self
            .http
            .request(request)
            .await
            .map_err(|e| format!("cannot reach {shown}: {e}"))?;
        let status = answer.status();
        if !status.is_success() {
            return Err(format!(
                "{shown} answered {status} to the ref advertisement request{}",
                if status.as_u16() == 401 || status.as_u16() == 404 {
                    " (is the OAuthToken valid for this repository?)"
                } else {
                    ""
                }
            ));
        }
        let body = Limited::new(answer.into_body(), MAX_ADVERTISEMENT)
            .collect()
            .await
            .map_err(|e| format!("cannot read {shown}'s refs: {e}"))?
            .to_bytes();
        crate::git_refs::branch_head(&body, branch)
            .map_err(|e| format!("{shown}: {e}"))?
            .ok_or_else(|| format!("{shown} has no branch {branch}"))
    }
}

/// The commit GetBranch answered for `branch`.
pub fn branch_commit(
    info: Option<&aws_sdk_codecommit::types::BranchInfo>,
    repository: &str,
    branch: &str,
) -> Result<String, String> {
    info.and_then(|b| b.commit_id())
        .filter(|c| !c.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| format!("CodeCommit answered no commit for branch {branch} of {repository}"))
}

/// The role a source action is read as: its own, else the pipeline's.
fn role_of(pipeline: &Pipeline, action: &str) -> Option<String> {
    pipeline
        .actions()
        .find(|(_, _, _, a)| a.name == action)
        .and_then(|(_, _, _, a)| a.role_arn.clone())
        .or_else(|| pipeline.role_arn.clone())
        .filter(|r| !r.is_empty())
}

/// A secret's value: its string, or one key of its JSON.
async fn read_secret(sdk: &SdkConfig, secret: &SecretReference) -> Result<String, String> {
    let out = aws_sdk_secretsmanager::Client::new(sdk)
        .get_secret_value()
        .secret_id(&secret.secret_id)
        .set_version_stage(secret.version_stage.clone())
        .set_version_id(secret.version_id.clone())
        .send()
        .await
        .map_err(|e| {
            format!(
                "cannot read secret {}: {}",
                secret.secret_id,
                aws_sdk_secretsmanager::error::DisplayErrorContext(&e)
            )
        })?;
    let text = out
        .secret_string()
        .ok_or_else(|| format!("secret {} has no secret string", secret.secret_id))?;
    let Some(key) = &secret.json_key else {
        return Ok(text.to_owned());
    };
    let json: Value = serde_json::from_str(text).map_err(|_| {
        format!(
            "secret {} is not JSON, so it has no key {key}",
            secret.secret_id
        )
    })?;
    json[key]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("secret {} has no string key {key}", secret.secret_id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_codecommit::types::BranchInfo;

    #[test]
    fn a_branch_is_read_as_its_commit() {
        let info = BranchInfo::builder()
            .branch_name("main")
            .commit_id("3e5d7f9a1b2c4d6e8f0a1b2c3d4e5f6a7b8c9d0e")
            .build();
        assert_eq!(
            branch_commit(Some(&info), "ledger", "main"),
            Ok("3e5d7f9a1b2c4d6e8f0a1b2c3d4e5f6a7b8c9d0e".to_owned())
        );
        let empty = BranchInfo::builder().branch_name("main").build();
        for answer in [Some(&empty), None] {
            assert!(branch_commit(answer, "ledger", "main")
                .expect_err("no commit")
                .contains("no commit for branch main of ledger"));
        }
    }
}
