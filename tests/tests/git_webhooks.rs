//! A pipeline's webhook beyond GitHub pushes, through the built binary under `sluice serve`: GitLab pushes
//! (`X-Gitlab-Token`), Bitbucket Cloud pushes (`X-Hub-Signature`), pull request triggers, and
//! `DetectChanges: "false"`. The pipelines' sources are `CodeStarSourceConnection`s, which nothing fetches
//! here: what is checked is which executions start, and that each is pinned to the delivered commit. Pull
//! requests judged by `filePaths` have their changed files listed with git from a loopback git server.

use std::path::Path;
use std::process::Command;

use serde_json::{json, Value};
use sluice_runtime::bitbucket_events::bitbucket_signature;
use sluice_runtime::triggers::github_signature;
use sluice_tests::git_server::{with_credentials, GitServer, WorkTree};
use sluice_tests::served::{Reply, Server};

const PUSHED: &str = "3a3b3c3d3e3f40414243444546474849404b4c4d";
const TAGGED: &str = "5a5b5c5d5e5f60616263646566676869606b6c6d";
const PR_HEAD: &str = "7a7b7c7d7e7f80818283848586878889808b8c8d";

fn stages(detect_changes: Option<&str>) -> Value {
    let mut configuration = json!({
        "ConnectionArn": "arn:aws:codestar-connections:eu-west-1:123456789012:connection/0f0e0d0c-aaaa-bbbb-cccc-0123456789ab",
        "FullRepositoryId": "harbour/tide",
        "BranchName": "main"
    });
    if let Some(d) = detect_changes {
        configuration["DetectChanges"] = json!(d);
    }
    json!([
        {"name": "Source", "actions": [{
            "name": "Code",
            "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "CodeStarSourceConnection", "version": "1"},
            "configuration": configuration,
            "outputArtifacts": [{"name": "Src"}]
        }]},
        {"name": "Build", "actions": [{
            "name": "List",
            "actionTypeId": {"category": "Compute", "owner": "AWS", "provider": "Commands", "version": "1"},
            "commands": ["ls"],
            "inputArtifacts": [{"name": "Src"}]
        }]}
    ])
}

/// A server with `pushed` (push filters: main, tags v*), `reviewed` (pull requests into main or release/*,
/// opened or updated), `quiet` (no triggers, DetectChanges false) and `follows` (no triggers, the same
/// source detecting changes).
fn serve(dir: &Path) -> Server {
    let server = Server::start(dir);
    let pipelines = [
        json!({
            "name": "pushed", "pipelineType": "V2", "stages": stages(None),
            "triggers": [{"providerType": "CodeStarSourceConnection", "gitConfiguration": {
                "sourceActionName": "Code",
                "push": [{"branches": {"includes": ["main"]}}, {"tags": {"includes": ["v*"]}}]
            }}]
        }),
        json!({
            "name": "reviewed", "pipelineType": "V2", "stages": stages(None),
            "triggers": [{"providerType": "CodeStarSourceConnection", "gitConfiguration": {
                "sourceActionName": "Code",
                "pullRequest": [{"events": ["OPEN", "UPDATED"], "branches": {"includes": ["main", "release/*"]}}]
            }}]
        }),
        json!({"name": "quiet", "pipelineType": "V2", "stages": stages(Some("false"))}),
        json!({"name": "follows", "pipelineType": "V2", "stages": stages(Some("true"))}),
    ];
    for pipeline in pipelines {
        server.ok("CreatePipeline", json!({ "pipeline": pipeline }));
    }
    server
}

fn secret(server: &Server) -> String {
    std::fs::read_to_string(server.state().join("webhook.secret"))
        .expect("the webhook secret")
        .trim()
        .to_owned()
}

fn post(server: &Server, pipeline: &str, headers: &[(&str, String)], body: &[u8]) -> Reply {
    let mut all = vec![("content-type".to_owned(), "application/json".to_owned())];
    all.extend(headers.iter().map(|(n, v)| ((*n).to_owned(), v.clone())));
    server
        .send("POST", &format!("/webhooks/{pipeline}"), &all, body)
        .expect("request")
}

fn executions(server: &Server, pipeline: &str) -> Vec<Value> {
    server.ok("ListPipelineExecutions", json!({"pipelineName": pipeline}))
        ["pipelineExecutionSummaries"]
        .as_array()
        .expect("summaries")
        .clone()
}

/// The revisions an execution was started with, as `sluice show` records them.
fn pinned(server: &Server, id: &str) -> Value {
    let out = Command::new(sluice_tests::sluice_bin())
        .arg("--state-dir")
        .arg(server.state())
        .args(["--output", "json", "show", id])
        .output()
        .expect("sluice show");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let shown: Value = serde_json::from_slice(&out.stdout).expect("json");
    shown["execution"]["revisionOverrides"].clone()
}

fn commit_pin(commit: &str) -> Value {
    json!([{"actionName": "Code", "revisionType": "COMMIT_ID", "revisionValue": commit}])
}

fn started(r: &Reply) -> String {
    assert_eq!(r.status, 200, "{}", r.body);
    let body = r.json();
    assert_eq!(body["started"], true, "{body}");
    body["pipelineExecutionId"]
        .as_str()
        .expect("an execution id")
        .to_owned()
}

fn skipped(r: &Reply) -> String {
    assert_eq!(r.status, 200, "{}", r.body);
    let body = r.json();
    assert_eq!(body["started"], false, "{body}");
    assert!(body.get("pipelineExecutionId").is_none(), "{body}");
    body["reason"].as_str().expect("a reason").to_owned()
}

fn gitlab_push(git_ref: &str, commit: &str) -> Vec<u8> {
    json!({
        "object_kind": if git_ref.starts_with("refs/tags/") { "tag_push" } else { "push" },
        "before": "0000000000000000000000000000000000000000",
        "after": commit,
        "ref": git_ref,
        "checkout_sha": commit,
        "user_name": "Rosalind Franklin",
        "user_username": "rosalind",
        "project": {"path_with_namespace": "harbour/tide", "default_branch": "main"},
        "commits": [{"id": commit, "message": "photo 51", "added": ["plates/51.txt"], "modified": [], "removed": []}],
        "total_commits_count": 1
    })
    .to_string()
    .into_bytes()
}

fn gitlab(event: &str, uuid: &str, token: Option<&str>) -> Vec<(&'static str, String)> {
    let mut h = vec![
        ("x-gitlab-event", event.to_owned()),
        ("x-gitlab-event-uuid", uuid.to_owned()),
        ("user-agent", "GitLab/17.0.0".to_owned()),
    ];
    if let Some(t) = token {
        h.push(("x-gitlab-token", t.to_owned()));
    }
    h
}

#[test]
fn a_gitlab_push_with_the_token_starts_one_execution_pinned_to_its_commit() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = serve(dir.path());
    let token = secret(&server);
    let body = gitlab_push("refs/heads/main", PUSHED);
    let uuid = "0b6bd3c8-3f53-4a33-9e4e-6a0a2f1f7c11";

    let missing = post(&server, "pushed", &gitlab("Push Hook", uuid, None), &body);
    assert_eq!(missing.status, 401, "{}", missing.body);
    assert!(missing.body.contains("X-Gitlab-Token"), "{}", missing.body);
    let wrong = post(
        &server,
        "pushed",
        &gitlab("Push Hook", uuid, Some("not-the-secret")),
        &body,
    );
    assert_eq!(wrong.status, 403, "{}", wrong.body);
    assert_eq!(wrong.json()["error"], "InvalidToken");
    assert!(executions(&server, "pushed").is_empty());

    let first = post(
        &server,
        "pushed",
        &gitlab("Push Hook", uuid, Some(&token)),
        &body,
    );
    let id = started(&first);
    assert_eq!(first.json()["triggerType"], "WebhookV2");
    assert_eq!(first.json()["commit"], PUSHED);
    assert_eq!(first.json()["deliveryId"], uuid);
    let listed = executions(&server, "pushed");
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["pipelineExecutionId"], id.as_str());
    assert_eq!(listed[0]["trigger"]["triggerType"], "WebhookV2");
    assert_eq!(pinned(&server, &id), commit_pin(PUSHED));

    // GitLab retries with the same event UUID: the first execution is the answer.
    let again = post(
        &server,
        "pushed",
        &gitlab("Push Hook", uuid, Some(&token)),
        &body,
    );
    assert_eq!(again.status, 200, "{}", again.body);
    assert_eq!(again.json()["duplicate"], true, "{}", again.body);
    assert_eq!(again.json()["started"], false, "{}", again.body);
    assert_eq!(again.json()["pipelineExecutionId"], id.as_str());
    assert_eq!(executions(&server, "pushed").len(), 1);

    // A tag push runs the tagged commit; a push the filters do not select says why.
    let tag = post(
        &server,
        "pushed",
        &gitlab("Tag Push Hook", "tag-1", Some(&token)),
        &gitlab_push("refs/tags/v3.1", TAGGED),
    );
    assert_eq!(pinned(&server, &started(&tag)), commit_pin(TAGGED));
    let dev = post(
        &server,
        "pushed",
        &gitlab("Push Hook", "dev-1", Some(&token)),
        &gitlab_push("refs/heads/dev", PUSHED),
    );
    assert!(
        skipped(&dev).contains("branch dev matches none of the includes"),
        "{}",
        dev.body
    );
    let bad = post(
        &server,
        "pushed",
        &gitlab("Push Hook", "bad-1", Some(&token)),
        br#"{"ref": "refs/heads/main"}"#,
    );
    assert_eq!(bad.status, 400, "{}", bad.body);
    assert_eq!(bad.json()["message"], "Push Hook payload: after is missing");
    assert_eq!(executions(&server, "pushed").len(), 2);
}

fn bitbucket_change(kind: &str, name: &str, hash: &str) -> Value {
    json!({
        "new": {"type": kind, "name": name, "target": {"type": "commit", "hash": hash, "message": "tide tables\n"}},
        "old": null,
        "created": true, "closed": false, "forced": false, "truncated": false
    })
}

fn bitbucket_push(changes: Value) -> Vec<u8> {
    json!({
        "actor": {"display_name": "Marie Tharp", "nickname": "marie", "type": "user"},
        "repository": {"full_name": "harbour/tide", "name": "tide", "type": "repository"},
        "push": {"changes": changes}
    })
    .to_string()
    .into_bytes()
}

fn bitbucket(event: &str, request: &str, signature: Option<String>) -> Vec<(&'static str, String)> {
    let mut h = vec![
        ("x-event-key", event.to_owned()),
        ("x-request-uuid", request.to_owned()),
        (
            "x-hook-uuid",
            "5e0a3c4e-8f2b-4d61-9a7e-1c2d3e4f5a6b".to_owned(),
        ),
        ("user-agent", "Bitbucket-Webhooks/2.0".to_owned()),
    ];
    if let Some(s) = signature {
        h.push(("x-hub-signature", s));
    }
    h
}

#[test]
fn a_signed_bitbucket_push_starts_once_per_change() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = serve(dir.path());
    let key = secret(&server);
    let body = bitbucket_push(json!([bitbucket_change("branch", "main", PUSHED)]));
    let good = bitbucket_signature(key.as_bytes(), &body);

    let missing = post(
        &server,
        "pushed",
        &bitbucket("repo:push", "r-1", None),
        &body,
    );
    assert_eq!(missing.status, 401, "{}", missing.body);
    let forged = bitbucket_signature(b"someone else's secret", &body);
    let wrong = post(
        &server,
        "pushed",
        &bitbucket("repo:push", "r-1", Some(forged)),
        &body,
    );
    assert_eq!(wrong.status, 403, "{}", wrong.body);
    assert!(wrong.body.contains("X-Hub-Signature"), "{}", wrong.body);
    assert!(executions(&server, "pushed").is_empty());

    let first = post(
        &server,
        "pushed",
        &bitbucket("repo:push", "r-1", Some(good.clone())),
        &body,
    );
    let id = started(&first);
    assert_eq!(pinned(&server, &id), commit_pin(PUSHED));
    let again = post(
        &server,
        "pushed",
        &bitbucket("repo:push", "r-1", Some(good)),
        &body,
    );
    assert_eq!(again.json()["duplicate"], true, "{}", again.body);
    assert_eq!(again.json()["pipelineExecutionId"], id.as_str());
    assert_eq!(executions(&server, "pushed").len(), 1);

    // A branch, a tag and a branch the filters do not select, in one delivery: two executions.
    let several = bitbucket_push(json!([
        bitbucket_change("branch", "main", PUSHED),
        bitbucket_change("tag", "v9", TAGGED),
        bitbucket_change("branch", "scratch", PUSHED)
    ]));
    let sig = bitbucket_signature(key.as_bytes(), &several);
    let r = post(
        &server,
        "pushed",
        &bitbucket("repo:push", "r-2", Some(sig.clone())),
        &several,
    );
    let first_id = started(&r);
    let changes = r.json()["changes"].as_array().expect("changes").clone();
    assert_eq!(changes.len(), 3, "{}", r.body);
    assert_eq!(changes[0]["pipelineExecutionId"], first_id.as_str());
    let tag_id = changes[1]["pipelineExecutionId"]
        .as_str()
        .expect("the tag started")
        .to_owned();
    assert_eq!(pinned(&server, &tag_id), commit_pin(TAGGED));
    assert_eq!(changes[2]["started"], false);
    assert!(changes[2]["reason"]
        .as_str()
        .is_some_and(|m| m.contains("branch scratch")));
    assert_eq!(executions(&server, "pushed").len(), 3);
    // Redelivered: nothing more.
    let r = post(
        &server,
        "pushed",
        &bitbucket("repo:push", "r-2", Some(sig)),
        &several,
    );
    assert_eq!(r.json()["started"], false, "{}", r.body);
    assert_eq!(r.json()["pipelineExecutionId"], first_id.as_str());
    assert_eq!(executions(&server, "pushed").len(), 3);
}

fn github_pull_request(action: &str, number: u64, into: &str) -> Vec<u8> {
    json!({
        "action": action,
        "number": number,
        "pull_request": {
            "number": number,
            "title": "Spring tides",
            "state": "open",
            "head": {"ref": "feature/spring", "sha": PR_HEAD},
            "base": {"ref": into, "sha": PUSHED}
        },
        "repository": {"full_name": "harbour/tide", "default_branch": "main"}
    })
    .to_string()
    .into_bytes()
}

fn github(server: &Server, pipeline: &str, event: &str, delivery: &str, body: &[u8]) -> Reply {
    let sig = github_signature(secret(server).as_bytes(), body);
    post(
        server,
        pipeline,
        &[
            ("x-github-event", event.to_owned()),
            ("x-github-delivery", delivery.to_owned()),
            ("x-hub-signature-256", sig),
        ],
        body,
    )
}

#[test]
fn pull_requests_into_the_filtered_branches_start_the_head_commit() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = serve(dir.path());

    let opened = github(
        &server,
        "reviewed",
        "pull_request",
        "pr-1",
        &github_pull_request("opened", 12, "main"),
    );
    let id = started(&opened);
    let body = opened.json();
    assert_eq!(body["triggerType"], "WebhookV2");
    assert_eq!(body["commit"], PR_HEAD);
    assert_eq!(body["pullRequest"]["number"], 12);
    assert_eq!(pinned(&server, &id), commit_pin(PR_HEAD));
    let listed = executions(&server, "reviewed");
    assert_eq!(listed.len(), 1, "{listed:?}");
    let detail = listed[0]["trigger"]["triggerDetail"]
        .as_str()
        .expect("detail");
    assert!(detail.contains("pull request #12"), "{detail}");

    // Into a branch the filter does not name, closed (not among the events), or a push: nothing starts.
    let elsewhere = github(
        &server,
        "reviewed",
        "pull_request",
        "pr-2",
        &github_pull_request("opened", 13, "experiments"),
    );
    let reason = skipped(&elsewhere);
    assert!(
        reason.contains("destination branch experiments matches none of the includes"),
        "{reason}"
    );
    let closed = github(
        &server,
        "reviewed",
        "pull_request",
        "pr-3",
        &github_pull_request("closed", 12, "main"),
    );
    assert!(skipped(&closed).contains("CLOSED is not one of the events"));
    let push = json!({
        "ref": "refs/heads/main", "after": PUSHED,
        "repository": {"full_name": "harbour/tide", "default_branch": "main"},
        "commits": [{"id": PUSHED, "modified": ["a"]}]
    })
    .to_string();
    let r = github(&server, "reviewed", "push", "push-1", push.as_bytes());
    assert!(skipped(&r).contains("pull requests only"));
    // A pipeline without pullRequest filters is not started by pull requests.
    let r = github(
        &server,
        "pushed",
        "pull_request",
        "pr-4",
        &github_pull_request("opened", 14, "main"),
    );
    assert!(skipped(&r).contains("no pullRequest filters"));
    assert_eq!(executions(&server, "reviewed").len(), 1);
    assert!(executions(&server, "pushed").is_empty());

    // A GitLab merge request is judged the same way: updated, into release/2.
    let mr = json!({
        "object_kind": "merge_request",
        "project": {"path_with_namespace": "harbour/tide", "default_branch": "main"},
        "object_attributes": {
            "iid": 5, "title": "Neap tides", "action": "update",
            "source_branch": "feature/neap", "target_branch": "release/2",
            "last_commit": {"id": TAGGED}
        }
    })
    .to_string();
    let r = post(
        &server,
        "reviewed",
        &gitlab("Merge Request Hook", "mr-1", Some(&secret(&server))),
        mr.as_bytes(),
    );
    assert_eq!(pinned(&server, &started(&r)), commit_pin(TAGGED));
    assert_eq!(executions(&server, "reviewed").len(), 2);
}

fn github_pull_request_at(action: &str, number: u64, head: &str) -> Vec<u8> {
    let mut body: Value =
        serde_json::from_slice(&github_pull_request(action, number, "main")).expect("json");
    body["pull_request"]["head"]["sha"] = json!(head);
    body.to_string().into_bytes()
}

#[test]
fn file_path_filters_judge_the_files_a_pull_request_changes_read_with_git() {
    let dir = tempfile::tempdir().expect("temp dir");
    let git = GitServer::start_temp(Some(("tide", "s3cret")));
    git.create_repo("harbour/tide");
    let push_url = with_credentials(&git.url("harbour/tide"), "tide", "s3cret");
    let work = WorkTree::init(&dir.path().join("work"));
    work.write("src/moon.rs", "fn main() {}\n")
        .write("docs/tides.md", "# Tides\n");
    let first = work.commit("first");
    work.push(&push_url, "main");
    // The pull request's branch changes docs only, then src too; main moves on with a src change meanwhile,
    // which is not the pull request's.
    work.branch("feature/spring");
    work.write("docs/tides.md", "# Spring tides\n");
    let docs_only = work.commit("docs");
    work.push(&push_url, "feature/spring");
    work.git(&["checkout", "--quiet", "main"]);
    work.write("src/sun.rs", "// sun\n");
    work.commit("main moves on");
    work.push(&push_url, "main");
    work.git(&["checkout", "--quiet", "feature/spring"]);

    let base = git.base_url();
    let server = Server::start_env(
        &dir.path().join("served"),
        true,
        &[
            ("SLUICE_GIT_BASE_URL", base.as_str()),
            ("SLUICE_GIT_USERNAME", "tide"),
            ("SLUICE_GIT_TOKEN", "s3cret"),
        ],
    );
    let definition = json!({"pipeline": {
        "name": "sources", "pipelineType": "V2", "stages": stages(None),
        "triggers": [{"providerType": "CodeStarSourceConnection", "gitConfiguration": {
            "sourceActionName": "Code",
            "pullRequest": [{"branches": {"includes": ["main"]}, "filePaths": {"includes": ["src/**"], "excludes": ["src/sun.rs"]}}]
        }}]
    }});
    server.ok("CreatePipeline", definition.clone());

    let r = github(
        &server,
        "sources",
        "pull_request",
        "fp-1",
        &github_pull_request_at("opened", 21, &docs_only),
    );
    let reason = skipped(&r);
    assert!(
        reason.contains("none of the 1 changed file(s) is selected by filePaths"),
        "{reason}"
    );
    assert_eq!(r.json()["pullRequest"]["changedFiles"], 1, "{}", r.body);

    work.write("src/moon.rs", "fn main() { tide() }\n");
    let with_src = work.commit("src");
    work.push(&push_url, "feature/spring");
    let r = github(
        &server,
        "sources",
        "pull_request",
        "fp-2",
        &github_pull_request_at("synchronize", 21, &with_src),
    );
    let id = started(&r);
    assert_eq!(r.json()["pullRequest"]["changedFiles"], 2, "{}", r.body);
    assert_eq!(pinned(&server, &id), commit_pin(&with_src));

    // A commit the repository does not have: the delivery fails (so the host can send it again), saying why.
    let r = github(
        &server,
        "sources",
        "pull_request",
        "fp-3",
        &github_pull_request_at("synchronize", 21, PR_HEAD),
    );
    assert_eq!(r.status, 502, "{}", r.body);
    let message = r.json()["message"].as_str().unwrap_or_default().to_owned();
    assert!(
        message.contains(PR_HEAD) && message.contains("could not be listed"),
        "{message}"
    );

    // Wrong credentials: the same, and git's refusal explained.
    let wrong = Server::start_env(
        &dir.path().join("wrong"),
        true,
        &[
            ("SLUICE_GIT_BASE_URL", base.as_str()),
            ("SLUICE_GIT_USERNAME", "tide"),
            ("SLUICE_GIT_TOKEN", "not-it"),
        ],
    );
    wrong.ok("CreatePipeline", definition);
    let r = github(
        &wrong,
        "sources",
        "pull_request",
        "fp-4",
        &github_pull_request_at("opened", 21, &with_src),
    );
    assert_eq!(r.status, 502, "{}", r.body);
    assert!(r.body.contains("could not authenticate"), "{}", r.body);
    assert_eq!(executions(&server, "sources").len(), 1);
    assert!(executions(&wrong, "sources").is_empty());

    // Bitbucket's pushes list no files either: a push filter with filePaths has them listed between the
    // commits before and after the push.
    server.ok(
        "CreatePipeline",
        json!({"pipeline": {
            "name": "pushes", "pipelineType": "V2", "stages": stages(None),
            "triggers": [{"providerType": "CodeStarSourceConnection", "gitConfiguration": {
                "sourceActionName": "Code",
                "push": [{"branches": {"includes": ["feature/*"]}, "filePaths": {"includes": ["src/**"]}}]
            }}]
        }}),
    );
    let moved = |before: &str, after: &str| {
        let mut change = bitbucket_change("branch", "feature/spring", after);
        change["old"] = json!({"type": "branch", "name": "feature/spring",
                               "target": {"type": "commit", "hash": before}});
        change["created"] = json!(false);
        bitbucket_push(json!([change]))
    };
    let docs_push = moved(&first, &docs_only);
    let sig = bitbucket_signature(secret(&server).as_bytes(), &docs_push);
    let r = post(
        &server,
        "pushes",
        &bitbucket("repo:push", "bb-docs", Some(sig)),
        &docs_push,
    );
    let reason = skipped(&r);
    assert!(
        reason.contains("none of the 1 changed file(s) is selected by filePaths"),
        "{reason}"
    );
    let src_push = moved(&docs_only, &with_src);
    let sig = bitbucket_signature(secret(&server).as_bytes(), &src_push);
    let r = post(
        &server,
        "pushes",
        &bitbucket("repo:push", "bb-src", Some(sig)),
        &src_push,
    );
    assert_eq!(pinned(&server, &started(&r)), commit_pin(&with_src));
}

#[test]
fn detect_changes_false_keeps_pushes_from_starting_a_pipeline() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = serve(dir.path());
    let push = json!({
        "ref": "refs/heads/main", "after": PUSHED,
        "repository": {"full_name": "harbour/tide", "default_branch": "main"},
        "commits": [{"id": PUSHED, "modified": ["a"]}]
    })
    .to_string();
    let r = github(&server, "quiet", "push", "q-1", push.as_bytes());
    assert!(skipped(&r).contains("DetectChanges false"), "{}", r.body);
    let r = post(
        &server,
        "quiet",
        &gitlab("Push Hook", "q-2", Some(&secret(&server))),
        &gitlab_push("refs/heads/main", PUSHED),
    );
    assert!(skipped(&r).contains("DetectChanges false"));
    assert!(executions(&server, "quiet").is_empty());

    // The same source detecting changes is started, pinned to the pushed commit.
    let r = github(&server, "follows", "push", "f-1", push.as_bytes());
    let id = started(&r);
    assert_eq!(r.json()["triggerType"], "Webhook");
    assert_eq!(pinned(&server, &id), commit_pin(PUSHED));
}
