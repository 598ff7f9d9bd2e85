//! Git repositories of hosting services, as a local run reaches them: where a source action's repository is,
//! how to authenticate, and `git` itself (the command, so smart HTTP, protocol v2 and the user's credential
//! helpers all work as they do for the user).
//!
//! Where each provider's repository is:
//!
//! | provider | repository URL |
//! |---|---|
//! | `ThirdParty/GitHub` (version 1) | `https://github.com/<Owner>/<Repo>.git` |
//! | `AWS/CodeStarSourceConnection` | `https://github.com/<FullRepositoryId>.git` |
//! | `AWS/CodeCommit` | `https://git-codecommit.<AWS_REGION>.amazonaws.com/v1/repos/<RepositoryName>` |
//!
//! `SLUICE_GIT_BASE_URL` replaces the host part for all three (`<base>/<owner>/<repo>.git`,
//! `<base>/<RepositoryName>.git`): a GitLab or Bitbucket connection, a GitHub Enterprise server, a mirror, or
//! the test suite's git server. A connection's `ProviderType` variable is read from that host's name (GitLab,
//! Bitbucket, else GitHub).
//!
//! Credentials, first found: `SLUICE_GIT_TOKEN` (sent as HTTP basic auth with the user `SLUICE_GIT_USERNAME`,
//! default `x-access-token`, which GitHub, GitLab and Bitbucket all accept for tokens), a GitHub (version 1)
//! action's own `OAuthToken` when it is a literal value, then whatever git finds itself: credential helpers
//! (`git config credential.helper`, the AWS CLI's `codecommit credential-helper`), `.netrc`. Git never
//! prompts (`GIT_TERMINAL_PROMPT=0`); the token reaches git in its environment, never on a command line.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};

use base64::Engine as _;
use sluice_definition::ActionTypeId;

/// Which kind of git source an action is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GitProvider {
    /// `ThirdParty/GitHub`, version 1.
    GitHub,
    /// `AWS/CodeStarSourceConnection`.
    Connection,
    /// `AWS/CodeCommit`.
    CodeCommit,
}

/// One source action's repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitRemote {
    /// The provider.
    pub provider: GitProvider,
    /// The URL git fetches from.
    pub url: String,
    /// How the provider names the repository: `owner/repo`, or CodeCommit's repository name.
    pub repository: String,
    /// The branch the action follows.
    pub branch: String,
    /// `CODE_ZIP` (the tree) or `CODEBUILD_CLONE_REF` (a full clone with `.git`).
    pub full_clone: bool,
    /// GitHub, GitLab or Bitbucket (for a connection's `ProviderType`), CodeCommit.
    pub provider_type: &'static str,
    /// The credential to send, when one was configured.
    token: Option<String>,
}

/// Reads the environment (a parameter, so tests need not set process variables).
pub type EnvFn<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The process environment.
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// The git provider of an action type, if it is one a local run fetches.
pub fn provider_of(id: &ActionTypeId) -> Option<GitProvider> {
    match (
        id.category.as_str(),
        id.owner.as_str(),
        id.provider.as_str(),
    ) {
        ("Source", "ThirdParty", "GitHub") => Some(GitProvider::GitHub),
        ("Source", "AWS", "CodeStarSourceConnection") => Some(GitProvider::Connection),
        ("Source", "AWS", "CodeCommit") => Some(GitProvider::CodeCommit),
        _ => None,
    }
}

/// Whether a configured token is a value (not a template's dynamic reference or CodePipeline's mask).
fn literal_token(value: &str) -> Option<String> {
    let v = value.trim();
    (!v.is_empty() && !v.starts_with("{{resolve:") && !v.chars().all(|c| c == '*'))
        .then(|| v.to_owned())
}

impl GitRemote {
    /// The repository of a git source action with this configuration; `Err` names a missing key.
    pub fn for_action(
        provider: GitProvider,
        config: &BTreeMap<String, String>,
        env: EnvFn<'_>,
    ) -> Result<Self, String> {
        let get = |key: &str| -> Result<String, String> {
            config
                .get(key)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
                .ok_or_else(|| format!("configuration.{key} is required"))
        };
        let base = env("SLUICE_GIT_BASE_URL").map(|b| b.trim_end_matches('/').to_owned());
        let github = || base.clone().unwrap_or_else(|| "https://github.com".into());
        let (repository, branch, url) = match provider {
            GitProvider::GitHub => {
                let repository = format!("{}/{}", get("Owner")?, get("Repo")?);
                let url = format!("{}/{repository}.git", github());
                (repository, get("Branch")?, url)
            }
            GitProvider::Connection => {
                let repository = get("FullRepositoryId")?;
                let url = format!("{}/{repository}.git", github());
                (repository, get("BranchName")?, url)
            }
            GitProvider::CodeCommit => {
                let repository = get("RepositoryName")?;
                let url = match &base {
                    Some(b) => format!("{b}/{repository}.git"),
                    None => {
                        let region = env("AWS_REGION")
                            .or_else(|| env("AWS_DEFAULT_REGION"))
                            .unwrap_or_else(|| "us-east-1".into());
                        format!(
                            "https://git-codecommit.{region}.amazonaws.com/v1/repos/{repository}"
                        )
                    }
                };
                (repository, get("BranchName")?, url)
            }
        };
        let full_clone = match config.get("OutputArtifactFormat").map(String::as_str) {
            None | Some("CODE_ZIP") => false,
            Some("CODEBUILD_CLONE_REF") => true,
            Some(other) => {
                return Err(format!(
                    "configuration.OutputArtifactFormat must be CODE_ZIP or CODEBUILD_CLONE_REF, not {other:?}"
                ))
            }
        };
        let host = base.as_deref().unwrap_or("").to_ascii_lowercase();
        let provider_type = match provider {
            GitProvider::CodeCommit => "CodeCommit",
            _ if host.contains("gitlab") => "GitLab",
            _ if host.contains("bitbucket") => "Bitbucket",
            _ => "GitHub",
        };
        let token = env("SLUICE_GIT_TOKEN").or_else(|| match provider {
            GitProvider::GitHub => config.get("OAuthToken").and_then(|t| literal_token(t)),
            _ => None,
        });
        let token = token.map(|t| {
            let user = env("SLUICE_GIT_USERNAME").unwrap_or_else(|| "x-access-token".into());
            format!("{user}:{t}")
        });
        Ok(GitRemote {
            provider,
            url,
            repository,
            branch,
            full_clone,
            provider_type,
            token,
        })
    }

    /// Runs `git` (in `dir` when given) against this remote's credentials; `Err` says what git said, with
    /// what to do for the usual causes.
    pub fn git(&self, dir: Option<&Path>, args: &[&str]) -> Result<Output, String> {
        let mut cmd = Command::new("git");
        if let Some(dir) = dir {
            cmd.current_dir(dir);
        }
        cmd.args(args)
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("GIT_ASKPASS", "")
            .env_remove("GIT_DIR")
            .env_remove("GIT_WORK_TREE");
        if let Some(token) = &self.token {
            let header = format!(
                "Authorization: Basic {}",
                base64::engine::general_purpose::STANDARD.encode(token)
            );
            cmd.env("GIT_CONFIG_COUNT", "1")
                .env("GIT_CONFIG_KEY_0", "http.extraHeader")
                .env("GIT_CONFIG_VALUE_0", header);
        }
        let output = cmd
            .output()
            .map_err(|e| format!("cannot run git (is it installed and on PATH?): {e}"))?;
        if output.status.success() {
            return Ok(output);
        }
        Err(self.explain(&String::from_utf8_lossy(&output.stderr)))
    }

    fn explain(&self, stderr: &str) -> String {
        let said = stderr
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join(" / ");
        let url = &self.url;
        let lower = said.to_ascii_lowercase();
        if lower.contains("authentication failed")
            || lower.contains("could not read username")
            || lower.contains("could not read password")
            || lower.contains("401")
            || lower.contains("403")
        {
            format!(
                "git could not authenticate to {url}: set SLUICE_GIT_TOKEN (and SLUICE_GIT_USERNAME if the host \
                 wants a user other than x-access-token) or configure a git credential helper for it (git said: {said})"
            )
        } else if lower.contains("couldn't find remote ref") {
            format!(
                "branch {} does not exist in {url} (git said: {said})",
                self.branch
            )
        } else if lower.contains("not found")
            || lower.contains("does not appear to be a git repository")
        {
            format!("no git repository at {url} (git said: {said})")
        } else {
            format!("git failed for {url}: {said}")
        }
    }

    /// The commit the remote's branch points at now, or `None` when the branch does not exist.
    pub fn branch_head(&self) -> Result<Option<String>, String> {
        let refname = format!("refs/heads/{}", self.branch);
        let out = self.git(None, &["ls-remote", "--", &self.url, &refname])?;
        Ok(String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split_once('\t'))
            .find(|(_, name)| *name == refname)
            .map(|(sha, _)| sha.to_owned()))
    }

    /// A web link to a commit, for the hosts whose links are known.
    pub fn commit_url(&self, commit: &str) -> Option<String> {
        let web = self.url.strip_suffix(".git").unwrap_or(&self.url);
        match (self.provider, self.provider_type) {
            (GitProvider::CodeCommit, _) => None,
            (_, "GitLab") => Some(format!("{web}/-/commit/{commit}")),
            (_, "Bitbucket") => Some(format!("{web}/commits/{commit}")),
            _ => Some(format!("{web}/commit/{commit}")),
        }
    }
}

/// The `owner/repo` (or repository name) a git remote URL names: `https://host/owner/repo.git`,
/// `git@host:owner/repo.git`, `ssh://git@host/owner/repo`, CodeCommit's `.../v1/repos/<name>`.
pub fn repository_of_url(url: &str) -> Option<String> {
    let url = url.trim().trim_end_matches('/');
    let path = if let Some((_, rest)) = url.split_once("://") {
        rest.split_once('/')?.1
    } else if let Some((_, rest)) = url.split_once(':') {
        // scp-like: user@host:path
        rest
    } else {
        return None;
    };
    let path = path.trim_end_matches(".git").trim_matches('/');
    if let Some(name) = path.split("v1/repos/").nth(1) {
        return Some(name.to_owned());
    }
    (!path.is_empty()).then(|| path.to_owned())
}

/// Whether a working copy's remote URL is this action's repository (names compared without case, as the
/// hosts do).
pub fn names_repository(remote_url: &str, remote: &GitRemote) -> bool {
    repository_of_url(remote_url).is_some_and(|found| match remote.provider {
        GitProvider::CodeCommit => found
            .rsplit('/')
            .next()
            .is_some_and(|n| n.eq_ignore_ascii_case(&remote.repository)),
        _ => found.eq_ignore_ascii_case(&remote.repository),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn env_of(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn each_provider_has_its_url_and_the_base_replaces_the_host() {
        let none = env_of(&[]);
        let gh = GitRemote::for_action(
            GitProvider::GitHub,
            &config(&[
                ("Owner", "tern"),
                ("Repo", "kite"),
                ("Branch", "dev"),
                ("OAuthToken", "{{resolve:secretsmanager:t}}"),
            ]),
            &none,
        )
        .expect("github");
        assert_eq!(gh.url, "https://github.com/tern/kite.git");
        assert_eq!(gh.token, None, "a dynamic reference is not a token");
        let cc = GitRemote::for_action(
            GitProvider::CodeCommit,
            &config(&[("RepositoryName", "ledger"), ("BranchName", "main")]),
            &env_of(&[("AWS_REGION", "eu-west-3")]),
        )
        .expect("codecommit");
        assert_eq!(
            cc.url,
            "https://git-codecommit.eu-west-3.amazonaws.com/v1/repos/ledger"
        );
        let based = env_of(&[
            ("SLUICE_GIT_BASE_URL", "http://127.0.0.1:9/git/"),
            ("SLUICE_GIT_TOKEN", "s3cret"),
        ]);
        let cs = GitRemote::for_action(
            GitProvider::Connection,
            &config(&[
                (
                    "ConnectionArn",
                    "arn:aws:codeconnections:us-east-1:111122223333:connection/ab",
                ),
                ("FullRepositoryId", "tern/kite"),
                ("BranchName", "main"),
                ("OutputArtifactFormat", "CODEBUILD_CLONE_REF"),
            ]),
            &based,
        )
        .expect("connection");
        assert_eq!(cs.url, "http://127.0.0.1:9/git/tern/kite.git");
        assert!(cs.full_clone);
        assert_eq!(cs.token.as_deref(), Some("x-access-token:s3cret"));
        let missing = GitRemote::for_action(
            GitProvider::Connection,
            &config(&[("BranchName", "main")]),
            &none,
        );
        assert_eq!(
            missing.expect_err("no repository"),
            "configuration.FullRepositoryId is required"
        );
        let bad = GitRemote::for_action(
            GitProvider::CodeCommit,
            &config(&[
                ("RepositoryName", "r"),
                ("BranchName", "b"),
                ("OutputArtifactFormat", "TARBALL"),
            ]),
            &none,
        );
        assert!(bad
            .expect_err("bad format")
            .contains("OutputArtifactFormat"));
    }

    #[test]
    fn remote_urls_name_their_repository() {
        for (url, repo) in [
            ("https://github.com/Tern/Kite.git", Some("Tern/Kite")),
            ("git@github.com:tern/kite.git", Some("tern/kite")),
            (
                "ssh://git@gitlab.com/group/sub/kite",
                Some("group/sub/kite"),
            ),
            (
                "https://git-codecommit.us-east-1.amazonaws.com/v1/repos/ledger",
                Some("ledger"),
            ),
            ("/srv/git/kite", None),
        ] {
            assert_eq!(repository_of_url(url).as_deref(), repo, "{url}");
        }
        let none = env_of(&[]);
        let gh = GitRemote::for_action(
            GitProvider::Connection,
            &config(&[
                ("ConnectionArn", "arn:x"),
                ("FullRepositoryId", "tern/kite"),
                ("BranchName", "main"),
            ]),
            &none,
        )
        .expect("remote");
        assert!(names_repository("git@github.com:Tern/kite.git", &gh));
        assert!(!names_repository("git@github.com:tern/kite-fork.git", &gh));
    }
}
