//! The loopback git server of the test suites: clone, push, ls-remote and fetch over smart HTTP through git's own
//! `git-http-backend`, with and without basic auth.

use sluice_tests::git_server::{git, run, with_credentials, GitServer, WorkTree};

/// Bytes that do not compress, so a pack of them is as large as they are.
fn noise(len: usize) -> Vec<u8> {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

#[test]
fn an_empty_repository_clones() {
    let server = GitServer::start_temp(None);
    server.create_repo("empty");
    let work = tempfile::tempdir().expect("temp");
    let output = git()
        .arg("clone")
        .arg(server.url("empty"))
        .arg(work.path().join("copy"))
        .output()
        .expect("git runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stderr).contains("empty repository"));
    assert!(work.path().join("copy/.git").is_dir());
    assert!(server.requests() >= 1);
}

#[test]
fn pushes_lists_and_clones_back_over_basic_auth() {
    let server = GitServer::start_temp(Some(("robot", "s3cret")));
    server.create_repo("app");
    let url = with_credentials(&server.url("app"), "robot", "s3cret");
    let work = tempfile::tempdir().expect("temp");

    let tree = WorkTree::init(&work.path().join("tree"));
    tree.write("greeting.txt", "hello\n")
        .write("src/lib.rs", "// nothing\n");
    let sha = tree.commit("first");
    tree.push(&url, "main");
    tree.branch("feature");
    tree.write("greeting.txt", "hello, feature\n");
    let feature = tree.commit("second");
    tree.push(&url, "feature");

    let listed = run(git().args(["ls-remote", &url]));
    assert!(
        listed.contains(&format!("{sha}\trefs/heads/main")),
        "{listed}"
    );
    assert!(
        listed.contains(&format!("{feature}\trefs/heads/feature")),
        "{listed}"
    );

    let copy = WorkTree::clone_from(&url, &work.path().join("copy"));
    assert_eq!(copy.head(), sha);
    assert_eq!(
        std::fs::read_to_string(copy.dir().join("greeting.txt")).expect("cloned file"),
        "hello\n"
    );
    copy.git(&["fetch", "--quiet", "origin", "feature"]);
    assert_eq!(copy.git(&["rev-parse", "FETCH_HEAD"]), feature);

    // Without credentials, nothing is served.
    let before = server.requests();
    let output = git()
        .args(["ls-remote", &server.url("app")])
        .output()
        .expect("git runs");
    assert!(!output.status.success());
    assert!(server.requests() > before);
}

#[test]
fn a_wrong_password_fails_with_an_authentication_error() {
    let server = GitServer::start_temp(Some(("robot", "s3cret")));
    server.create_repo("app");
    let work = tempfile::tempdir().expect("temp");
    let tree = WorkTree::init(work.path());
    tree.write("a.txt", "a\n");
    tree.commit("a");

    let wrong = with_credentials(&server.url("app"), "robot", "guess");
    let output = tree.try_push(&wrong, "main");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("Authentication failed") || stderr.contains("401"),
        "{stderr}"
    );

    let output = git()
        .args(["ls-remote", &wrong])
        .output()
        .expect("git runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("Authentication failed") || stderr.contains("401"),
        "{stderr}"
    );
}

#[test]
fn protocol_v2_fetches_a_commit_by_id() {
    let server = GitServer::start_temp(None);
    server.create_repo("app");
    let work = tempfile::tempdir().expect("temp");
    let tree = WorkTree::init(&work.path().join("tree"));
    tree.write("version.txt", "1\n");
    let first = tree.commit("one");
    tree.write("version.txt", "2\n");
    let second = tree.commit("two");
    tree.push(&server.url("app"), "main");

    // The older commit is no branch tip: only its id names it.
    let target = WorkTree::init(&work.path().join("target"));
    let output = target
        .command()
        .args(["-c", "protocol.version=2", "fetch", "--depth=1"])
        .arg(server.url("app"))
        .arg(&first)
        .env("GIT_TRACE_PACKET", "1")
        .output()
        .expect("git runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("version 2"), "not protocol v2:\n{stderr}");
    assert_eq!(target.git(&["rev-parse", "FETCH_HEAD"]), first);
    assert_eq!(target.git(&["show", &format!("{first}:version.txt")]), "1");
    // Shallow: the newer commit did not come along.
    let output = target
        .command()
        .args(["cat-file", "-e", &second])
        .output()
        .expect("git runs");
    assert!(!output.status.success());
}

#[test]
fn a_large_push_is_sent_chunked_and_lands() {
    let server = GitServer::start_temp(Some(("robot", "s3cret")));
    server.create_repo("big");
    let url = with_credentials(&server.url("big"), "robot", "s3cret");
    let work = tempfile::tempdir().expect("temp");
    let tree = WorkTree::init(&work.path().join("tree"));
    let blob = noise(3 * 1024 * 1024);
    tree.write("blob.bin", &blob);
    let sha = tree.commit("big");

    let output = tree
        .command()
        .args(["push", &url, "HEAD:refs/heads/main"])
        .env("GIT_TRACE_CURL", "1")
        .env("GIT_TRACE_CURL_NO_DATA", "1")
        .output()
        .expect("git runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains("Transfer-Encoding: chunked"),
        "the push was not chunked"
    );

    let copy = WorkTree::clone_from(&url, &work.path().join("copy"));
    assert_eq!(copy.head(), sha);
    assert_eq!(
        std::fs::read(copy.dir().join("blob.bin")).expect("cloned blob"),
        blob
    );
}

#[test]
fn a_dropped_server_stops_listening() {
    let server = GitServer::start_temp(None);
    server.create_repo("app");
    let url = server.url("app");
    run(git().args(["ls-remote", &url]));
    drop(server);
    let output = git().args(["ls-remote", &url]).output().expect("git runs");
    assert!(!output.status.success());
}
