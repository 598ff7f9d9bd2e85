//! The files a pull request changes, for pull-request triggers' `filePaths` filters in AWS, and the files a
//! Bitbucket push changes (its events list none): asked of the host that sent the event through its REST
//! API, since the Lambda function runs no git and the stack holds no connection token (a CodeStar connection
//! lends itself to CodeBuild and CodePipeline only).
//!
//! - GitHub: `GET <SLUICE_GITHUB_API_URL>/repos/<owner>/<repo>/pulls/<n>/files` (100 a page; `filename`
//!   and, for a rename, `previous_filename`);
//! - GitLab: `GET <SLUICE_GITLAB_API_URL>/projects/<url-encoded path>/merge_requests/<iid>/diffs` (100 a
//!   page; `old_path`, `new_path`);
//! - Bitbucket Cloud: `GET <SLUICE_BITBUCKET_API_URL>/repositories/<workspace>/<repo>/pullrequests/<id>/diffstat`
//!   (its `next` links followed; `old.path`, `new.path`); a push's, `.../diffstat/<after>..<before>` with
//!   `topic=false` (the plain difference of the two commits).
//!
//! Public repositories need no credential. For private ones, the secret named by `SLUICE_HOST_TOKENS_SECRET`
//! holds a JSON object with a token per host: `GitHub` (sent as a bearer token), `GitLab` (`PRIVATE-TOKEN`),
//! `Bitbucket` (`user:app-password`, sent as basic auth). A missing secret or key means no credential.
//! Listings stop at 3,000 files, as GitHub's API does.

use async_trait::async_trait;
use aws_config::SdkConfig;
use base64::Engine as _;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper::{Method, Request};
use serde_json::Value;
use sluice_definition::model::Action;
use sluice_runtime::pull_requests::{ChangedFiles, PullRequest};
use sluice_runtime::triggers::Push;

use crate::cfn_resource::Http;
pub use crate::config::HostApis;

/// The most files listed, as GitHub's own API stops.
const MAX_FILES: usize = 3000;
/// The largest answer read from a host.
const MAX_PAGE: usize = 8 * 1024 * 1024;

/// Lists a pull request's files through its host's API.
pub struct HostApiFiles {
    http: Http,
    sdk: SdkConfig,
    apis: HostApis,
    tokens_secret: Option<String>,
}

impl std::fmt::Debug for HostApiFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostApiFiles")
            .field("apis", &self.apis)
            .field("tokens_secret", &self.tokens_secret)
            .finish_non_exhaustive()
    }
}

impl HostApiFiles {
    /// A lister over `http`, reading tokens from the secret `tokens_secret` (when given) with `sdk`.
    pub fn new(http: Http, sdk: SdkConfig, apis: HostApis, tokens_secret: Option<String>) -> Self {
        Self {
            http,
            sdk,
            apis,
            tokens_secret,
        }
    }

    /// The host's token from the tokens secret, if there is one.
    async fn token(&self, host: &str) -> Result<Option<String>, String> {
        let Some(secret) = &self.tokens_secret else {
            return Ok(None);
        };
        let out = aws_sdk_secretsmanager::Client::new(&self.sdk)
            .get_secret_value()
            .secret_id(secret)
            .send()
            .await;
        let out = match out {
            Ok(out) => out,
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception()) =>
            {
                return Ok(None)
            }
            Err(e) => {
                return Err(format!(
                    "cannot read the host tokens secret {secret}: {}",
                    aws_sdk_secretsmanager::error::DisplayErrorContext(&e)
                ))
            }
        };
        let text = out.secret_string().unwrap_or_default();
        let json: Value = serde_json::from_str(text).map_err(|_| {
            format!("the host tokens secret {secret} is not a JSON object of tokens by host")
        })?;
        Ok(json[host]
            .as_str()
            .filter(|t| !t.is_empty())
            .map(str::to_owned))
    }

    /// Every path of a Bitbucket diffstat from `first`, its `next` links followed.
    async fn bitbucket_diffstat(&self, first: String, host: &str) -> Result<Vec<String>, String> {
        let auth = self.token(host).await?.map(|t| {
            let basic = base64::engine::general_purpose::STANDARD.encode(t);
            ("authorization", format!("Basic {basic}"))
        });
        let mut files = Vec::new();
        let mut next = Some(first);
        while let Some(url) = next.take() {
            let page = self.page(&url, auth.clone()).await?;
            let listed = items(&page["values"], &url)?;
            for entry in &listed {
                add(&mut files, entry, &[&["old", "path"], &["new", "path"]]);
            }
            if files.len() < MAX_FILES {
                next = page["next"].as_str().map(str::to_owned);
            }
        }
        Ok(files)
    }

    /// One page of JSON from `url`.
    async fn page(&self, url: &str, auth: Option<(&str, String)>) -> Result<Value, String> {
        let mut request = Request::builder()
            .method(Method::GET)
            .uri(url)
            .header("accept", "application/json")
            .header("user-agent", "sluice");
        if let Some((name, value)) = auth {
            request = request.header(name, value);
        }
        let request = request
            .body(Full::new(Bytes::new()))
            .map_err(|e| format!("{url}: {e}"))?;
        let answer = self
            .http
            .request(request)
            .await
            .map_err(|e| format!("cannot reach {url}: {e}"))?;
        let status = answer.status();
        let body = Limited::new(answer.into_body(), MAX_PAGE)
            .collect()
            .await
            .map_err(|e| format!("cannot read {url}'s answer: {e}"))?
            .to_bytes();
        if !status.is_success() {
            let hint = match status.as_u16() {
                401 | 403 | 404 => {
                    " (a private repository needs its host's token in the host tokens secret)"
                }
                _ => "",
            };
            return Err(format!("{url} answered {status}{hint}"));
        }
        serde_json::from_slice(&body).map_err(|e| format!("{url} answered no JSON: {e}"))
    }
}

/// The repository an action's events name: a connection's `FullRepositoryId`, GitHub's `Owner/Repo`.
fn repository_of(source: &Action) -> Result<String, String> {
    let config = source.configuration.as_ref();
    let get = |key: &str| {
        config
            .and_then(|c| c.get(key))
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    if let Some(full) = get("FullRepositoryId") {
        return Ok(full);
    }
    match (get("Owner"), get("Repo")) {
        (Some(owner), Some(repo)) => Ok(format!("{owner}/{repo}")),
        _ => Err(format!(
            "{} names no repository (FullRepositoryId, or Owner and Repo)",
            source.name
        )),
    }
}

/// Adds an entry's paths to `files`.
fn add(files: &mut Vec<String>, entry: &Value, keys: &[&[&str]]) {
    for path in keys {
        let mut v = entry;
        for key in *path {
            v = &v[*key];
        }
        if let Some(p) = v.as_str().filter(|p| !p.is_empty()) {
            files.push(p.to_owned());
        }
    }
}

fn items(page: &Value, url: &str) -> Result<Vec<Value>, String> {
    page.as_array()
        .cloned()
        .ok_or_else(|| format!("{url} answered no list"))
}

fn encode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[async_trait]
impl ChangedFiles for HostApiFiles {
    async fn changed_files(
        &self,
        host: &str,
        source: &Action,
        pr: &PullRequest,
    ) -> Result<Vec<String>, String> {
        let repository = repository_of(source)?;
        let token = if host == "Bitbucket" {
            None
        } else {
            self.token(host).await?
        };
        let n = pr.number;
        let mut files = Vec::new();
        match host {
            "GitHub" => {
                let auth = token.map(|t| ("authorization", format!("Bearer {t}")));
                for page in 1..=MAX_FILES / 100 {
                    let url = format!(
                        "{}/repos/{repository}/pulls/{n}/files?per_page=100&page={page}",
                        self.apis.github.trim_end_matches('/')
                    );
                    let listed = items(&self.page(&url, auth.clone()).await?, &url)?;
                    for entry in &listed {
                        add(&mut files, entry, &[&["filename"], &["previous_filename"]]);
                    }
                    if listed.len() < 100 {
                        break;
                    }
                }
            }
            "GitLab" => {
                let auth = token.map(|t| ("private-token", t));
                for page in 1..=MAX_FILES / 100 {
                    let url = format!(
                        "{}/projects/{}/merge_requests/{n}/diffs?per_page=100&page={page}",
                        self.apis.gitlab.trim_end_matches('/'),
                        encode(&repository)
                    );
                    let listed = items(&self.page(&url, auth.clone()).await?, &url)?;
                    for entry in &listed {
                        add(&mut files, entry, &[&["old_path"], &["new_path"]]);
                    }
                    if listed.len() < 100 {
                        break;
                    }
                }
            }
            "Bitbucket" => {
                let first = format!(
                    "{}/repositories/{repository}/pullrequests/{n}/diffstat?pagelen=100",
                    self.apis.bitbucket.trim_end_matches('/')
                );
                files = self.bitbucket_diffstat(first, host).await?;
            }
            other => return Err(format!("no API to list {other}'s pull request files")),
        }
        files.sort();
        files.dedup();
        Ok(files)
    }

    async fn push_files(
        &self,
        host: &str,
        source: &Action,
        push: &Push,
    ) -> Result<Vec<String>, String> {
        if host != "Bitbucket" {
            return Err(format!(
                "{host}'s push events list their files; none were listed"
            ));
        }
        let repository = repository_of(source)?;
        let before = push
            .before
            .as_deref()
            .ok_or("the push names no commit before it")?;
        let first = format!(
            "{}/repositories/{repository}/diffstat/{}..{before}?topic=false&pagelen=100",
            self.apis.bitbucket.trim_end_matches('/'),
            push.commit
        );
        let mut files = self.bitbucket_diffstat(first, host).await?;
        files.sort();
        files.dedup();
        Ok(files)
    }
}
