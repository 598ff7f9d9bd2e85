//! `Source/ThirdParty/LocalSource`, Sluice's own source: a git repository or a plain folder on this machine.
//!
//! `Path` is relative to the job's `base_dir` (the definition's folder) when relative. `Exclude` is a
//! comma-separated list of globs left out of the artifact (a pattern without `/` matches a name at any depth).
//!
//! A git repository (Path is its root, or a bare repository) is read with libgit2 (the `git2` crate), never by
//! running `git`: the revision is the commit at `BranchName` (default HEAD) and the artifact is that commit's
//! tree, so uncommitted changes in the working copy never leak into a run. Variables as CodeCommit's:
//! `CommitId` (also as `RevisionId`), `CommitMessage`, `AuthorDate`, `CommitterDate`, `BranchName`, `RepositoryName`. Submodules are
//! left out, with a line in the log.
//!
//! A plain folder is zipped as it is, without `.git` and `.sluice` folders; its revision id is a SHA-256 over
//! the sorted (path, content digest) pairs, so an unchanged folder keeps its id. Variables `FolderPath`,
//! `RevisionId`.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use git2::{ObjectType, Repository, RepositoryOpenFlags, TreeWalkMode, TreeWalkResult};
use sluice_runtime::jobs::SourceRevision;

use crate::error::JobError;
use crate::job::{blocking, JobContext, Success};
use crate::zip_files::build::{self, ArchiveDigest, Selection, ZipBuilder};
use crate::zip_files::ZipSummary;

/// A source read: the zip's summary, the action's variables, the revision.
pub(crate) struct Found {
    pub summary: ZipSummary,
    /// The archive's size and SHA-256, computed as it was written.
    pub digest: ArchiveDigest,
    pub variables: BTreeMap<String, String>,
    pub revision: SourceRevision,
}

pub(crate) async fn run(ctx: &JobContext) -> Result<Success, JobError> {
    let configured = ctx.required("Path")?;
    let path = match (Path::new(configured).is_absolute(), &ctx.job.base_dir) {
        (false, Some(base)) => Path::new(base).join(configured),
        _ => PathBuf::from(configured),
    };
    let branch = ctx.config("BranchName").map(str::to_string);
    // StartPipelineExecution's sourceRevisions: this commit instead of the branch's newest.
    let commit = ctx
        .job
        .revision_override
        .as_ref()
        .map(|o| o.revision_value.clone());
    let exclude: Vec<String> = ctx
        .config("Exclude")
        .map(|list| {
            list.split(',')
                .map(|p| p.trim().to_string())
                .filter(|p| !p.is_empty())
                .collect()
        })
        .unwrap_or_default();
    let output = ctx.first_output()?;
    let zip = ctx.scratch.join("source.zip");
    let dest = zip.clone();
    let found = blocking(move || {
        let selection = Selection::all().excluding(&exclude)?;
        if !path.exists() {
            return Err(JobError::failed(format!(
                "LocalSource Path {} does not exist",
                path.display()
            )));
        }
        match open_repository(&path)? {
            Some(repo) => from_git(
                &repo,
                &path,
                branch.as_deref(),
                commit.as_deref(),
                &selection,
                &dest,
            ),
            None => {
                if commit.is_some() {
                    return Err(JobError::failed(format!(
                        "a COMMIT_ID source revision needs a git repository, and {} is not one",
                        path.display()
                    )));
                }
                if branch.is_some() {
                    return Err(JobError::failed(format!(
                        "LocalSource has a BranchName but {} is not a git repository",
                        path.display()
                    )));
                }
                from_folder(&path, selection, &dest)
            }
        }
    })
    .await?;
    ctx.log_skipped(&found.summary);
    ctx.log.line(&format!(
        "Source revision {} ({} files)",
        found.revision.revision_id,
        found.summary.entries.len()
    ));
    let info = ctx
        .put_owned_output(output, &zip, Some(&found.digest))
        .await?;
    Ok(Success {
        artifacts: BTreeMap::from([(output.name.clone(), info)]),
        variables: found.variables,
        summary: found.revision.revision_summary.clone(),
        revision: Some(found.revision),
    })
}

/// The repository at exactly `path` (no search upwards, no `GIT_DIR` from the environment), if it is one.
fn open_repository(path: &Path) -> Result<Option<Repository>, JobError> {
    match Repository::open_ext(
        path,
        RepositoryOpenFlags::NO_SEARCH,
        std::iter::empty::<&OsStr>(),
    ) {
        Ok(repo) => Ok(Some(repo)),
        Err(e) if path.join(".git").exists() => Err(JobError::failed(format!(
            "{} looks like a git repository but cannot be read: {}",
            path.display(),
            e.message()
        ))),
        Err(_) => Ok(None),
    }
}

pub(crate) fn git_failed<'a>(
    path: &'a Path,
    what: &str,
) -> impl FnOnce(git2::Error) -> JobError + 'a {
    let what = what.to_string();
    move |e| {
        JobError::failed(format!(
            "git repository {}: {what}: {}",
            path.display(),
            e.message()
        ))
    }
}

/// Whether a link target, seen from the folder `parent`, stays inside the tree when read as written.
fn stays_inside(parent: &str, target: &str) -> bool {
    if target.starts_with('/') {
        return false;
    }
    let mut depth: Vec<&str> = parent.split('/').filter(|p| !p.is_empty()).collect();
    for part in target.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if depth.pop().is_none() {
                    return false;
                }
            }
            other => depth.push(other),
        }
    }
    true
}

pub(crate) fn from_git(
    repo: &Repository,
    path: &Path,
    branch: Option<&str>,
    pinned: Option<&str>,
    selection: &Selection,
    dest: &Path,
) -> Result<Found, JobError> {
    let (commit, branch_name) = match (pinned, branch) {
        (Some(rev), _) => {
            let commit = repo
                .revparse_single(rev)
                .and_then(|o| o.peel_to_commit())
                .map_err(git_failed(path, &format!("no commit {rev}")))?;
            (commit, branch.unwrap_or("HEAD").to_string())
        }
        (None, branch) => match branch {
            Some(name) => {
                let reference = repo
                    .resolve_reference_from_short_name(name)
                    .map_err(git_failed(path, &format!("no branch {name}")))?;
                let commit = reference
                    .peel_to_commit()
                    .map_err(git_failed(path, &format!("{name} is not a commit")))?;
                (commit, name.to_string())
            }
            None => {
                let head = repo.head().map_err(git_failed(
                    path,
                    "HEAD does not name a commit (no commits yet?)",
                ))?;
                let name = head.shorthand().unwrap_or("HEAD").to_string();
                let commit = head
                    .peel_to_commit()
                    .map_err(git_failed(path, "HEAD is not a commit"))?;
                (commit, name)
            }
        },
    };
    let tree = commit
        .tree()
        .map_err(git_failed(path, "cannot read the commit's tree"))?;

    // Collected first: the walk's callback cannot return errors.
    let mut entries: Vec<(String, git2::Oid, i32)> = Vec::new();
    let mut notes: Vec<String> = Vec::new();
    tree.walk(TreeWalkMode::PreOrder, |dir, entry| {
        let Some(name) = entry.name() else {
            notes.push(format!(
                "skipped {dir}{}: its name is not UTF-8",
                String::from_utf8_lossy(entry.name_bytes())
            ));
            return TreeWalkResult::Skip;
        };
        let rel = format!("{dir}{name}");
        if selection.excluded(&rel, name) {
            return TreeWalkResult::Skip;
        }
        match entry.kind() {
            Some(ObjectType::Blob) => entries.push((rel, entry.id(), entry.filemode())),
            Some(ObjectType::Commit) => notes.push(format!(
                "skipped submodule {rel}: submodules are not fetched"
            )),
            _ => {}
        }
        TreeWalkResult::Ok
    })
    .map_err(git_failed(path, "cannot walk the commit's tree"))?;

    let mut builder = ZipBuilder::create(dest)?;
    for note in notes {
        builder.skip(note);
    }
    for (rel, oid, mode) in entries {
        let blob = repo
            .find_blob(oid)
            .map_err(git_failed(path, &format!("cannot read {rel}")))?;
        if mode == 0o120_000 {
            let target = String::from_utf8_lossy(blob.content()).into_owned();
            let parent = rel.rsplit_once('/').map(|(p, _)| p).unwrap_or("");
            if stays_inside(parent, &target) {
                builder.add_symlink(&rel, &target)?;
            } else {
                builder.skip(format!(
                    "skipped symlink {rel} -> {target}: it points outside the repository"
                ));
            }
            continue;
        }
        let unix_mode = if mode == 0o100_755 { 0o755 } else { 0o644 };
        let mut content = blob.content();
        builder.add_file(&rel, unix_mode, blob.size() as u64, &mut content)?;
    }
    let (summary, digest) = builder.finish_with_digest()?;

    let repository_name = repo
        .workdir()
        .unwrap_or_else(|| repo.path())
        .components()
        .next_back()
        .map(|c| {
            c.as_os_str()
                .to_string_lossy()
                .trim_end_matches(".git")
                .to_string()
        })
        .unwrap_or_default();
    let (variables, revision) = describe_commit(&commit, &branch_name, &repository_name);
    Ok(Found {
        summary,
        digest,
        variables,
        revision,
    })
}

/// A commit's variables as CodeCommit names them (`CommitId`, also as `RevisionId`, `CommitMessage`,
/// `AuthorDate`, `CommitterDate`, `BranchName`, `RepositoryName`) and its revision.
pub(crate) fn describe_commit(
    commit: &git2::Commit<'_>,
    branch_name: &str,
    repository_name: &str,
) -> (BTreeMap<String, String>, SourceRevision) {
    let message = String::from_utf8_lossy(commit.message_bytes())
        .trim_end()
        .to_string();
    let first_line = message.lines().next().unwrap_or_default().to_string();
    let commit_id = commit.id().to_string();
    let variables = BTreeMap::from([
        ("CommitId".to_string(), commit_id.clone()),
        // The same name a plain folder gives its revision, so a pipeline reads one variable either way.
        ("RevisionId".to_string(), commit_id.clone()),
        ("CommitMessage".to_string(), message),
        (
            "AuthorDate".to_string(),
            rfc3339(commit.author().when().seconds()),
        ),
        (
            "CommitterDate".to_string(),
            rfc3339(commit.committer().when().seconds()),
        ),
        ("BranchName".to_string(), branch_name.to_string()),
        ("RepositoryName".to_string(), repository_name.to_string()),
    ]);
    let revision = SourceRevision {
        revision_id: commit_id,
        revision_summary: Some(first_line),
        revision_url: None,
    };
    (variables, revision)
}

fn from_folder(path: &Path, selection: Selection, dest: &Path) -> Result<Found, JobError> {
    let selection = selection.skipping_names(&[".git", ".sluice"]);
    let (summary, digest) = build::zip_folder_with_digest(path, &selection, dest)?;
    let id = summary.content_id();
    let folder = path
        .canonicalize()
        .unwrap_or_else(|_| path.to_path_buf())
        .display()
        .to_string();
    let variables = BTreeMap::from([
        ("FolderPath".to_string(), folder.clone()),
        ("RevisionId".to_string(), id.clone()),
    ]);
    let described = format!("folder {folder} ({} files)", summary.entries.len());
    Ok(Found {
        summary,
        digest,
        variables,
        revision: SourceRevision {
            revision_id: id,
            revision_summary: Some(described),
            revision_url: None,
        },
    })
}

/// Unix seconds as `YYYY-MM-DDTHH:MM:SSZ` (UTC), as CodeCommit's date variables read.
fn rfc3339(seconds: i64) -> String {
    sluice_runtime::events::rfc3339(seconds.saturating_mul(1000))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_utc_rfc3339() {
        for (secs, text) in [
            (0, "1970-01-01T00:00:00Z"),
            (951_782_400, "2000-02-29T00:00:00Z"),
            (1_700_000_000, "2023-11-14T22:13:20Z"),
            (-1, "1969-12-31T23:59:59Z"),
        ] {
            assert_eq!(rfc3339(secs), text);
        }
    }

    #[test]
    fn link_targets_are_checked_as_written() {
        for (parent, target, inside) in [
            ("", "a/b", true),
            ("x", "../y", true),
            ("", "../y", false),
            ("x/y", "../../..", false),
            ("", "/etc", false),
        ] {
            assert_eq!(stays_inside(parent, target), inside, "{parent} {target}");
        }
    }
}
