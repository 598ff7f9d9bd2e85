//! A pull request's or a push's changed files listed with git, for `sluice serve`'s `filePaths` filters
//! (no host's pull request event lists them, nor Bitbucket's push): a blobless cache clone per repository in
//! `<state>/git-cache`, through `sluice_agent::changed_files`.

use std::path::PathBuf;

use async_trait::async_trait;
use sluice_agent::changed_files::{changed_files, Changes};
use sluice_agent::git::{process_env, provider_of, GitRemote};
use sluice_definition::model::Action;
use sluice_runtime::pull_requests::{ChangedFiles, PullRequest};
use sluice_runtime::triggers::Push;

/// Lists a pull request's or a push's changed files with git against the trigger's source repository, as a
/// fetch of that action would reach it (`SLUICE_GIT_BASE_URL`, `SLUICE_GIT_TOKEN`, the user's credential
/// helpers).
#[derive(Debug)]
pub(crate) struct GitChangedFiles {
    /// Where the cache clones live.
    pub(crate) cache: PathBuf,
}

/// What [`GitChangedFiles`] asks git about.
enum Asked {
    PullRequest {
        destination: String,
        source: String,
        commit: String,
    },
    Push {
        branch: String,
        before: String,
        after: String,
    },
}

impl GitChangedFiles {
    async fn list(&self, source: &Action, asked: Asked) -> Result<Vec<String>, String> {
        let provider = provider_of(&source.action_type_id).ok_or_else(|| {
            format!(
                "{} is not a git source ({}), so it has no repository to list files from",
                source.name, source.action_type_id
            )
        })?;
        let config = source.configuration.clone().unwrap_or_default();
        let remote = GitRemote::for_action(provider, &config, &process_env)
            .map_err(|e| format!("{}: {e}", source.name))?;
        let cache = self.cache.clone();
        tokio::task::spawn_blocking(move || {
            let changes = match &asked {
                Asked::PullRequest {
                    destination,
                    source,
                    commit,
                } => Changes::PullRequest {
                    destination_branch: destination,
                    source_branch: source,
                    commit,
                },
                Asked::Push {
                    branch,
                    before,
                    after,
                } => Changes::Push {
                    branch,
                    before,
                    after,
                },
            };
            changed_files(&remote, &cache, changes)
        })
        .await
        .map_err(|e| format!("the listing task failed: {e}"))?
    }
}

#[async_trait]
impl ChangedFiles for GitChangedFiles {
    async fn changed_files(
        &self,
        _host: &str,
        source: &Action,
        pr: &PullRequest,
    ) -> Result<Vec<String>, String> {
        let asked = Asked::PullRequest {
            destination: pr.destination_branch.clone(),
            source: pr.source_branch.clone(),
            commit: pr.commit.clone(),
        };
        self.list(source, asked).await
    }

    async fn push_files(
        &self,
        _host: &str,
        source: &Action,
        push: &Push,
    ) -> Result<Vec<String>, String> {
        let before = push
            .before
            .clone()
            .ok_or("the push names no commit before it")?;
        let asked = Asked::Push {
            branch: push.git_ref.name().to_owned(),
            before,
            after: push.commit.clone(),
        };
        self.list(source, asked).await
    }
}
