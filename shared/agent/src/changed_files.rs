//! The files a pull request or a push changes, read with git from the repository: what a trigger's
//! `filePaths` filter judges when the event does not list them (no host's pull request event does, nor
//! Bitbucket's push).
//!
//! A bare, blobless cache clone per repository URL (`<cache>/<hash of the URL>.git`, `--filter=blob:none`
//! where the server allows it: names need trees, not contents) is fetched at the branches involved. A pull
//! request's files are `git diff --name-only --no-renames <destination>...<commit>`, the changes of its
//! commits since it left the destination branch, as the hosts show them; a push's are those between the
//! commit before and after it. A rename is both paths. Listings run one at a time per process, so two
//! deliveries never race on a cache.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use sha2::{Digest, Sha256};

use crate::git::GitRemote;

/// What is being asked about.
#[derive(Debug, Clone, Copy)]
pub enum Changes<'a> {
    /// A pull request: its branches and head commit.
    PullRequest {
        /// The branch it merges into.
        destination_branch: &'a str,
        /// The branch it merges from (may be gone once the pull request is closed).
        source_branch: &'a str,
        /// Its head commit.
        commit: &'a str,
    },
    /// A push to a branch, from one commit to another.
    Push {
        /// The branch pushed.
        branch: &'a str,
        /// The commit it pointed at before.
        before: &'a str,
        /// The commit it points at now.
        after: &'a str,
    },
}

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// The cache clone of `url` under `cache`.
fn cache_of(cache: &Path, url: &str) -> PathBuf {
    let digest = Sha256::digest(url.as_bytes());
    let name: String = digest[..10].iter().map(|b| format!("{b:02x}")).collect();
    cache.join(format!("{name}.git"))
}

/// The paths changed, sorted; `Err` says what git said, or which commit is missing.
pub fn changed_files(
    remote: &GitRemote,
    cache: &Path,
    changes: Changes<'_>,
) -> Result<Vec<String>, String> {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let (base_branch, other_branch, wanted) = match changes {
        Changes::PullRequest {
            destination_branch,
            source_branch,
            commit,
        } => (destination_branch, source_branch, vec![commit]),
        Changes::Push {
            branch,
            before,
            after,
        } => (branch, branch, vec![before, after]),
    };
    let repo = cache_of(cache, &remote.url);
    let base = format!("refs/heads/{base_branch}");
    if !repo.join("HEAD").exists() {
        std::fs::create_dir_all(cache)
            .map_err(|e| format!("cannot create {}: {e}", cache.display()))?;
        let scratch = repo.with_extension("partial");
        let _ = std::fs::remove_dir_all(&scratch);
        let dir = scratch.to_str().ok_or("the cache path is not UTF-8")?;
        remote.git(
            None,
            &[
                "clone",
                "--quiet",
                "--bare",
                "--filter=blob:none",
                "--single-branch",
                "--branch",
                base_branch,
                "--",
                &remote.url,
                dir,
            ],
        )?;
        std::fs::rename(&scratch, &repo)
            .map_err(|e| format!("cannot move the cache clone into place: {e}"))?;
    }
    let fetch = |refspecs: &[String]| {
        let mut args = vec!["fetch", "--quiet", "--no-tags", "--force", "origin"];
        args.extend(refspecs.iter().map(String::as_str));
        remote.git(Some(&repo), &args)
    };
    fetch(&[format!("+{base}:{base}")])?;
    let has_commit = |commit: &str| {
        remote
            .git(
                Some(&repo),
                &["cat-file", "-e", &format!("{commit}^{{commit}}")],
            )
            .is_ok()
    };
    for commit in &wanted {
        if !has_commit(commit) && other_branch != base_branch {
            // The pull request's branch (a gone branch is not an error: the commit may be reachable otherwise).
            let other = format!("refs/heads/{other_branch}");
            let _ = fetch(&[format!("+{other}:refs/sluice/source")]);
        }
        if !has_commit(commit) {
            // Hosts that allow fetching a commit by its id (GitHub does; git's own server when configured).
            let _ = fetch(&[(*commit).to_owned()]);
        }
        if !has_commit(commit) {
            return Err(format!(
                "commit {commit} is neither on branch {other_branch} nor fetchable from {}",
                remote.url
            ));
        }
    }
    let range = match changes {
        Changes::PullRequest { commit, .. } => vec![format!("{base}...{commit}")],
        Changes::Push { before, after, .. } => vec![before.to_owned(), after.to_owned()],
    };
    let mut args = vec!["diff", "--name-only", "--no-renames", "-z"];
    args.extend(range.iter().map(String::as_str));
    args.push("--");
    let out = remote.git(Some(&repo), &args)?;
    let mut files: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .split('\0')
        .filter(|f| !f.is_empty())
        .map(str::to_owned)
        .collect();
    files.sort();
    files.dedup();
    Ok(files)
}
