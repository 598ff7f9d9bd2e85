//! LocalSource over a git repository made with the `git` CLI, and over a plain folder.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use crate::support::*;

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", dir)
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn source_job(path: &str, base: &Path) -> sluice_runtime::jobs::Job {
    let mut job = job("Source", action("Source", "ThirdParty", "LocalSource"));
    config(&mut job, &[("Path", path)]);
    job.base_dir = Some(base.display().to_string());
    job.outputs = vec![output("SourceOutput", &[])];
    job
}

#[tokio::test]
async fn a_git_source_is_the_committed_tree_not_the_working_copy() {
    let mut h = Harness::new();
    let repo = h.path().join("repo");
    fs::create_dir(&repo).unwrap();
    git(&repo, &["init", "-q", "-b", "main"]);
    git(&repo, &["config", "user.name", "Test Author"]);
    git(&repo, &["config", "user.email", "author@example.com"]);
    fs::write(repo.join("a.txt"), "committed\n").unwrap();
    fs::create_dir(repo.join("scripts")).unwrap();
    fs::write(repo.join("scripts/run.sh"), "#!/bin/sh\necho run\n").unwrap();
    fs::set_permissions(
        repo.join("scripts/run.sh"),
        fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    fs::write(repo.join("notes.log"), "excluded\n").unwrap();
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-q", "-m", "First line\n\nThe body."]);
    let head = git(&repo, &["rev-parse", "HEAD"]);
    // Dirty the working copy: none of it may reach the artifact.
    fs::write(repo.join("a.txt"), "uncommitted edit\n").unwrap();
    fs::write(repo.join("untracked.txt"), "untracked\n").unwrap();

    let mut job = source_job("repo", h.path());
    config(&mut job, &[("Exclude", "*.log")]);
    let outcome = h.run(job).await;
    let (artifacts, variables) = succeeded(&outcome);
    let files = h.artifact(&artifacts["SourceOutput"]);
    let names: Vec<&str> = files.keys().map(String::as_str).collect();
    assert_eq!(names, ["a.txt", "scripts/run.sh"]);
    assert_eq!(files["a.txt"].0, "committed\n");
    assert_eq!(files["scripts/run.sh"].1 & 0o777, 0o755);
    assert_eq!(variables["CommitId"], head);
    assert_eq!(variables["CommitMessage"], "First line\n\nThe body.");
    assert_eq!(variables["BranchName"], "main");
    assert_eq!(variables["RepositoryName"], "repo");
    let date = &variables["AuthorDate"];
    assert!(
        date.len() == 20 && date.ends_with('Z') && date.as_bytes()[10] == b'T',
        "{date}"
    );
    assert!(variables.contains_key("CommitterDate"));
    match &outcome {
        sluice_runtime::jobs::JobOutcome::Succeeded {
            revision: Some(r), ..
        } => {
            assert_eq!(r.revision_id, head);
            assert_eq!(r.revision_summary.as_deref(), Some("First line"));
        }
        other => panic!("{other:?}"),
    }

    // Another branch, named.
    git(&repo, &["checkout", "-q", "-b", "feature"]);
    git(&repo, &["commit", "-q", "-am", "Feature work"]);
    let feature = git(&repo, &["rev-parse", "HEAD"]);
    git(&repo, &["checkout", "-q", "main"]);
    let mut job = source_job(&repo.display().to_string(), Path::new("/nonexistent"));
    config(&mut job, &[("BranchName", "feature")]);
    let outcome = h.run(job).await;
    let (artifacts, variables) = succeeded(&outcome);
    assert_eq!(variables["CommitId"], feature);
    assert_eq!(variables["BranchName"], "feature");
    assert_eq!(
        h.artifact(&artifacts["SourceOutput"])["a.txt"].0,
        "uncommitted edit\n"
    );

    let mut job = source_job("repo", h.path());
    config(&mut job, &[("BranchName", "nope")]);
    let message = failure(&h.run(job).await).to_string();
    assert!(message.contains("no branch nope"), "{message}");

    // An execution started with a COMMIT_ID revision gets that commit, whatever the branch holds now.
    let pin = |value: &str| sluice_runtime::records::RevisionOverride {
        action_name: "Source".into(),
        revision_type: "COMMIT_ID".into(),
        revision_value: value.into(),
    };
    let mut job = source_job("repo", h.path());
    config(&mut job, &[("BranchName", "feature")]);
    job.revision_override = Some(pin(&head));
    let outcome = h.run(job).await;
    let (artifacts, variables) = succeeded(&outcome);
    assert_eq!(variables["CommitId"], head);
    assert_eq!(
        h.artifact(&artifacts["SourceOutput"])["a.txt"].0,
        "committed\n"
    );
    let mut job = source_job("repo", h.path());
    job.revision_override = Some(pin("0123456789abcdef0123456789abcdef01234567"));
    let message = failure(&h.run(job).await).to_string();
    assert!(message.contains("no commit 0123456789abcdef"), "{message}");
}

#[tokio::test]
async fn a_folder_source_skips_git_sluice_and_excludes() {
    let mut h = Harness::new();
    let folder = h.path().join("project");
    for (path, content) in [
        ("keep.txt", "keep"),
        ("src/lib.rs", "fn main() {}"),
        ("build/out.o", "object"),
        ("deep/trace.log", "log"),
        (".sluice/state.db", "state"),
    ] {
        let p = folder.join(path);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, content).unwrap();
    }
    let run = |h: &mut Harness| {
        let mut job = source_job("project", h.path());
        config(&mut job, &[("Exclude", "*.log, build")]);
        job
    };
    let job = run(&mut h);
    let first = h.run(job).await;
    let (artifacts, variables) = succeeded(&first);
    let names: Vec<String> = h.artifact(&artifacts["SourceOutput"]).into_keys().collect();
    assert_eq!(names, ["keep.txt", "src/lib.rs"]);
    let id = variables["RevisionId"].clone();
    assert_eq!(id.len(), 64);
    assert_eq!(
        variables["FolderPath"],
        folder.canonicalize().unwrap().display().to_string()
    );

    // Same content, same id; an excluded change does not count; a real change does.
    fs::write(folder.join("deep/trace.log"), "more log").unwrap();
    let job = run(&mut h);
    let again = h.run(job).await;
    assert_eq!(succeeded(&again).1["RevisionId"], id);
    fs::write(folder.join("keep.txt"), "changed").unwrap();
    let job = run(&mut h);
    let changed = h.run(job).await;
    assert_ne!(succeeded(&changed).1["RevisionId"], id);

    let job = source_job("missing", h.path());
    let message = failure(&h.run(job).await).to_string();
    assert!(message.contains("does not exist"), "{message}");
}
