//! Git sources of hosting services run locally: `ThirdParty/GitHub` (version 1), `AWS/CodeStarSourceConnection`
//! and `AWS/CodeCommit` ([`crate::git`] says where each repository is and how git authenticates).
//!
//! Fetched: `git fetch --depth=1` of the branch (or of the commit the execution is pinned to) into the job's
//! scratch folder, and the commit's tree zipped (`CODE_ZIP`), or a full `git clone` checked out at the commit
//! and zipped with its `.git` (`CODEBUILD_CLONE_REF`).
//!
//! Bound to a working copy (`sluice run --source ACTION=PATH`, or automatically when the working copy's
//! remote is the action's repository): the working copy's checked-out commit, read the same way. Changes not
//! committed are not in the artifact, and the log says which files they are.
//!
//! Variables as CodePipeline publishes them: CodeCommit `CommitId`, `CommitMessage`, `AuthorDate`,
//! `CommitterDate`, `BranchName`, `RepositoryName`; a connection `CommitId`, `CommitMessage`, `AuthorDate`,
//! `BranchName`, `ConnectionArn`, `FullRepositoryName`, `ProviderType`; GitHub `CommitId`, `CommitMessage`,
//! `AuthorDate`, `CommitterDate`, `BranchName`, `CommitUrl`, `RepositoryName`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use git2::{Repository, StatusOptions};

use crate::error::JobError;
use crate::git::{process_env, GitProvider, GitRemote};
use crate::job::{blocking, JobContext, Success};
use crate::log::JobLog;
use crate::providers::local_source::{describe_commit, from_git, git_failed, Found};
use crate::zip_files::build::{self, Selection};

pub(crate) async fn run(ctx: &JobContext, provider: GitProvider) -> Result<Success, JobError> {
    let remote = GitRemote::for_action(provider, &ctx.job.configuration, &process_env)
        .map_err(JobError::Failed)?;
    let pinned = match &ctx.job.revision_override {
        None => None,
        Some(o) if o.revision_type == "COMMIT_ID" => Some(o.revision_value.clone()),
        Some(o) => {
            return Err(JobError::failed(format!(
                "a git source is pinned by a COMMIT_ID source revision, not {}",
                o.revision_type
            )))
        }
    };
    let output = ctx.first_output()?;
    let scratch = ctx.scratch.clone();
    let log = ctx.log.clone();
    let binding = ctx.binding.clone();
    let job_remote = remote.clone();
    let mut found = blocking(move || match binding {
        Some(path) => bound(&job_remote, &path, pinned.as_deref(), &scratch, &log),
        None => fetched(&job_remote, pinned.as_deref(), &scratch, &log),
    })
    .await?;
    publish_variables(&remote, &ctx.job.configuration, &mut found);
    ctx.log_skipped(&found.summary);
    ctx.log.line(&format!(
        "Source revision {} of {} ({} files)",
        found.revision.revision_id,
        remote.repository,
        found.summary.entries.len()
    ));
    let info = ctx
        .put_owned_output(output, &ctx.scratch.join("source.zip"), Some(&found.digest))
        .await?;
    Ok(Success {
        artifacts: BTreeMap::from([(output.name.clone(), info)]),
        variables: found.variables,
        summary: found.revision.revision_summary.clone(),
        revision: Some(found.revision),
    })
}

/// The provider's own variable set, from what reading the commit found.
fn publish_variables(remote: &GitRemote, config: &BTreeMap<String, String>, found: &mut Found) {
    let vars = &mut found.variables;
    vars.remove("RevisionId");
    vars.insert("BranchName".into(), remote.branch.clone());
    let commit = found.revision.revision_id.clone();
    match remote.provider {
        GitProvider::CodeCommit => {
            vars.insert("RepositoryName".into(), remote.repository.clone());
        }
        GitProvider::Connection => {
            vars.remove("CommitterDate");
            vars.remove("RepositoryName");
            vars.insert(
                "ConnectionArn".into(),
                config.get("ConnectionArn").cloned().unwrap_or_default(),
            );
            vars.insert("FullRepositoryName".into(), remote.repository.clone());
            vars.insert("ProviderType".into(), remote.provider_type.into());
        }
        GitProvider::GitHub => {
            let name = remote.repository.rsplit('/').next().unwrap_or_default();
            vars.insert("RepositoryName".into(), name.to_owned());
            if let Some(url) = remote.commit_url(&commit) {
                vars.insert("CommitUrl".into(), url);
            }
        }
    }
    found.revision.revision_url = remote.commit_url(&commit);
}

fn fetched(
    remote: &GitRemote,
    pinned: Option<&str>,
    scratch: &Path,
    log: &Arc<JobLog>,
) -> Result<Found, JobError> {
    let mut want = pinned.map_or_else(|| format!("refs/heads/{}", remote.branch), str::to_owned);
    log.line(&format!("Fetching {want} from {}", remote.url));
    if remote.full_clone {
        let dir = scratch.join("clone");
        let target = dir.to_string_lossy().into_owned();
        remote
            .git(
                None,
                &[
                    "clone",
                    "-q",
                    "--branch",
                    &remote.branch,
                    "--",
                    &remote.url,
                    &target,
                ],
            )
            .map_err(JobError::Failed)?;
        return full_clone(remote, &dir, pinned, scratch);
    }
    let dir = scratch.join("fetch.git");
    let target = dir.to_string_lossy().into_owned();
    remote
        .git(None, &["init", "-q", "--bare", &target])
        .map_err(JobError::Failed)?;
    // A server fetches a commit by its full id only; an abbreviated one (Bitbucket's pull-request events send
    // 12 digits) is found among the branches' newest commits.
    let abbreviated = pinned.filter(|sha| sha.len() < 40);
    if abbreviated.is_some() {
        want = "+refs/heads/*:refs/remotes/origin/*".into();
    }
    remote
        .git(
            Some(&dir),
            &[
                "fetch",
                "-q",
                "--depth=1",
                "--no-tags",
                "--",
                &remote.url,
                &want,
            ],
        )
        .map_err(|e| {
            JobError::failed(match pinned {
                Some(sha) if e.contains("not our ref") || e.contains("remote ref") => {
                    format!("commit {sha} is not in {}: {e}", remote.url)
                }
                _ => e,
            })
        })?;
    let fetched = abbreviated.map_or_else(|| "FETCH_HEAD".to_owned(), str::to_owned);
    let head = remote
        .git(
            Some(&dir),
            &["rev-parse", "--verify", &format!("{fetched}^{{commit}}")],
        )
        .map_err(|e| match abbreviated {
            Some(sha) => JobError::failed(format!(
                "commit {sha} is not the newest commit of any branch of {}: {e}",
                remote.url
            )),
            None => JobError::Failed(e),
        })?;
    let sha = String::from_utf8_lossy(&head.stdout).trim().to_owned();
    let repo = Repository::open_bare(&dir).map_err(git_failed(&dir, "cannot open the fetch"))?;
    from_git(
        &repo,
        &dir,
        Some(&remote.branch),
        Some(&sha),
        &Selection::all(),
        &scratch.join("source.zip"),
    )
}

/// A clone in `dir` checked out at the pinned commit (else the branch's), zipped with its `.git`.
fn full_clone(
    remote: &GitRemote,
    dir: &Path,
    pinned: Option<&str>,
    scratch: &Path,
) -> Result<Found, JobError> {
    if let Some(sha) = pinned {
        remote
            .git(Some(dir), &["checkout", "-q", "--detach", sha])
            .map_err(|e| JobError::failed(format!("commit {sha} is not in {}: {e}", remote.url)))?;
    }
    let repo = Repository::open(dir).map_err(git_failed(dir, "cannot open the clone"))?;
    let commit = repo
        .head()
        .and_then(|h| h.peel_to_commit())
        .map_err(git_failed(dir, "the clone has no commit checked out"))?;
    let (variables, revision) = describe_commit(&commit, &remote.branch, &remote.repository);
    drop(commit);
    drop(repo);
    let (summary, digest) =
        build::zip_folder_with_digest(dir, &Selection::all(), &scratch.join("source.zip"))?;
    Ok(Found {
        summary,
        digest,
        variables,
        revision,
    })
}

/// Reads a bound working copy's checked-out commit (or the pinned one), saying what it leaves out.
fn bound(
    remote: &GitRemote,
    path: &Path,
    pinned: Option<&str>,
    scratch: &Path,
    log: &Arc<JobLog>,
) -> Result<Found, JobError> {
    let repo = Repository::discover(path).map_err(|e| {
        JobError::failed(format!(
            "the working copy bound to this action, {}, is not a git repository: {}",
            path.display(),
            e.message()
        ))
    })?;
    let root: PathBuf = repo.workdir().unwrap_or_else(|| repo.path()).to_path_buf();
    let head = repo.head().map_err(git_failed(
        &root,
        "HEAD does not name a commit (no commits yet?)",
    ))?;
    let on = head.shorthand().unwrap_or("HEAD").to_owned();
    let sha = match pinned {
        Some(sha) => sha.to_owned(),
        None => head
            .peel_to_commit()
            .map_err(git_failed(&root, "HEAD is not a commit"))?
            .id()
            .to_string(),
    };
    log.line(&format!(
        "Reading the working copy {} (bound to this action instead of fetching {}): commit {sha} on {on}{}",
        root.display(),
        remote.url,
        if on == remote.branch {
            String::new()
        } else {
            format!(" (the action follows {})", remote.branch)
        }
    ));
    if let Some(line) = uncommitted(&repo) {
        log.line(&line);
    }
    if remote.full_clone {
        let dir = scratch.join("clone");
        let (src, target) = (
            root.to_string_lossy().into_owned(),
            dir.to_string_lossy().into_owned(),
        );
        remote
            .git(
                None,
                &["clone", "-q", "--no-hardlinks", "--", &src, &target],
            )
            .map_err(JobError::Failed)?;
        remote
            .git(Some(&dir), &["remote", "set-url", "origin", &remote.url])
            .map_err(JobError::Failed)?;
        return full_clone(remote, &dir, Some(&sha), scratch);
    }
    from_git(
        &repo,
        &root,
        Some(&remote.branch),
        Some(&sha),
        &Selection::all(),
        &scratch.join("source.zip"),
    )
}

/// What the working copy at `path` has that its checked-out commit does not: one line, or none when it is
/// clean (or not a repository).
pub fn uncommitted_in(path: &Path) -> Option<String> {
    Repository::discover(path)
        .ok()
        .and_then(|r| uncommitted(&r))
}

/// What a working copy has that its commit does not: one line, or none when it is clean.
fn uncommitted(repo: &Repository) -> Option<String> {
    let mut options = StatusOptions::new();
    options
        .include_untracked(true)
        .recurse_untracked_dirs(true)
        .exclude_submodules(true);
    let statuses = repo.statuses(Some(&mut options)).ok()?;
    let paths: Vec<String> = statuses
        .iter()
        .filter(|s| !s.status().is_ignored())
        .filter_map(|s| s.path().map(str::to_owned))
        .collect();
    if paths.is_empty() {
        return None;
    }
    let shown: Vec<&str> = paths.iter().take(5).map(String::as_str).collect();
    Some(format!(
        "{} uncommitted change(s) in the working copy are NOT in this run (commit them to include them): {}{}",
        paths.len(),
        shown.join(", "),
        if paths.len() > shown.len() { ", ..." } else { "" }
    ))
}

/// The working copy around `path`: its root and its remotes' URLs.
pub fn working_copy_remotes(path: &Path) -> Option<(PathBuf, Vec<String>)> {
    let repo = Repository::discover(path).ok()?;
    let root = repo.workdir()?.to_path_buf();
    let names = repo.remotes().ok()?;
    let urls = names
        .iter()
        .flatten()
        .filter_map(|name| repo.find_remote(name).ok()?.url().map(str::to_owned))
        .collect();
    Some((root, urls))
}

/// The commit a working copy has checked out, and the branch (or `HEAD`), for telling people what a bound run
/// reads.
pub fn working_copy_head(path: &Path) -> Option<(String, String)> {
    let repo = Repository::discover(path).ok()?;
    let head = repo.head().ok()?;
    let on = head.shorthand().unwrap_or("HEAD").to_owned();
    let commit = head.peel_to_commit().ok()?.id().to_string();
    Some((commit, on))
}
