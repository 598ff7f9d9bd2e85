//! Git sources of hosting services run locally, through the built binary against a real git server on loopback
//! (`git http-backend` with basic auth, `sluice_tests::git_server`): each provider fetched with its variables,
//! credentials from SLUICE_GIT_TOKEN and from a GitHub action's OAuthToken, wrong credentials and a missing
//! branch as clear failures, full clones, working copies bound by `--source` and found automatically (with
//! uncommitted changes left out and said), polling under `sluice serve`, and examples/github.

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sluice_tests::git_server::{with_credentials, GitServer, WorkTree};
use sluice_tests::served::Server;
use sluice_tests::{sluice_bin, workspace};

const USER: &str = "kestrel";
const TOKEN: &str = "pat-7f3e1c0d9b";

struct Case {
    dir: tempfile::TempDir,
    server: GitServer,
}

impl Case {
    fn new() -> Self {
        Case {
            dir: tempfile::tempdir().expect("tempdir"),
            server: GitServer::start_temp(Some((USER, TOKEN))),
        }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// A repository on the server with two commits on main (the second adds `src/b.txt`); the working copy.
    fn repository(&self, name: &str) -> (WorkTree, String) {
        self.server.create_repo(name);
        let tree = WorkTree::init(&self.path(&format!("wc-{}", name.replace('/', "-"))));
        tree.write("README.md", "kite\n").commit("First light");
        tree.write("src/b.txt", "b\n");
        let head = tree.commit("Add b\n\nWith a body.");
        tree.push(
            &with_credentials(&self.server.url(name), USER, TOKEN),
            "main",
        );
        (tree, head)
    }

    fn sluice(&self, env: &[(&str, &str)], args: &[&str]) -> Command {
        let mut c = Command::new(sluice_bin());
        c.env_remove("SLUICE_GIT_TOKEN")
            .env_remove("SLUICE_GIT_USERNAME")
            .env("SLUICE_GIT_BASE_URL", self.server.base_url())
            .envs(env.iter().copied())
            .arg("--state-dir")
            .arg(self.path("state"))
            .args(args)
            .current_dir(self.dir.path())
            .stdin(Stdio::null());
        c
    }

    fn run(&self, env: &[(&str, &str)], pipeline: &Value) -> Output {
        let file = self.path("pipeline.json");
        std::fs::write(&file, serde_json::to_vec_pretty(pipeline).expect("json")).expect("write");
        self.sluice(env, &["run", file.to_str().expect("utf-8")])
            .output()
            .expect("sluice runs")
    }
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn token_env() -> [(&'static str, &'static str); 2] {
    [("SLUICE_GIT_TOKEN", TOKEN), ("SLUICE_GIT_USERNAME", USER)]
}

fn source(name: &str, provider: &str, owner: &str, config: Value) -> Value {
    json!({
        "name": name,
        "namespace": name,
        "actionTypeId": {"category": "Source", "owner": owner, "provider": provider, "version": "1"},
        "configuration": config,
        "outputArtifacts": [{"name": format!("{name}Out")}]
    })
}

/// A pipeline of `sources` and one Commands action per check, each reading one source's artifact.
fn pipeline(name: &str, sources: Vec<Value>, checks: Vec<(&str, Vec<String>)>) -> Value {
    let actions: Vec<Value> = checks
        .into_iter()
        .map(|(input, commands)| {
            json!({
                "name": format!("Check{input}"),
                "actionTypeId": {"category": "Compute", "owner": "AWS", "provider": "Commands", "version": "1"},
                "commands": commands,
                "inputArtifacts": [{"name": format!("{input}Out")}]
            })
        })
        .collect();
    json!({
        "name": name,
        "pipelineType": "V2",
        "stages": [
            {"name": "Source", "actions": sources},
            {"name": "Check", "actions": actions}
        ]
    })
}

fn connection(repo: &str, branch: &str, format: &str) -> Value {
    source(
        "Conn",
        "CodeStarSourceConnection",
        "AWS",
        json!({
            "ConnectionArn": "arn:aws:codeconnections:us-east-1:123456789012:connection/0f0e0d0c-1111-2222-3333-444455556666",
            "FullRepositoryId": repo,
            "BranchName": branch,
            "OutputArtifactFormat": format
        }),
    )
}

#[test]
fn each_provider_fetches_over_http_with_its_variables() {
    let case = Case::new();
    let (_, head) = case.repository("tern/kite");
    let (_, ledger_head) = case.repository("ledger");
    let p = pipeline(
        "fetch-all",
        vec![
            connection("tern/kite", "main", "CODE_ZIP"),
            source(
                "Hub",
                "GitHub",
                "ThirdParty",
                json!({"Owner": "tern", "Repo": "kite", "Branch": "main", "OAuthToken": "{{resolve:secretsmanager:gh}}"}),
            ),
            source(
                "Commit",
                "CodeCommit",
                "AWS",
                json!({"RepositoryName": "ledger", "BranchName": "main", "OutputArtifactFormat": "CODEBUILD_CLONE_REF"}),
            ),
        ],
        vec![
            (
                "Conn",
                vec![
                    format!("test \"#{{Conn.CommitId}}\" = {head}"),
                    "test \"#{Conn.FullRepositoryName}\" = tern/kite".into(),
                    "test \"#{Conn.ProviderType}\" = GitHub".into(),
                    "test \"#{Conn.BranchName}\" = main".into(),
                    "case \"#{Conn.ConnectionArn}\" in arn:aws:codeconnections:*) ;; *) exit 1;; esac".into(),
                    "test \"$(cat src/b.txt)\" = b && test -f README.md && test ! -e .git".into(),
                ],
            ),
            (
                "Hub",
                vec![
                    "test \"#{Hub.RepositoryName}\" = kite".into(),
                    format!("test \"#{{Hub.CommitUrl}}\" = \"{}/tern/kite/commit/{head}\"", case.server.base_url()),
                    "test -n \"#{Hub.CommitterDate}\"".into(),
                ],
            ),
            (
                "Commit",
                vec![
                    format!("test \"#{{Commit.CommitId}}\" = {ledger_head}"),
                    "test \"#{Commit.RepositoryName}\" = ledger".into(),
                    // A full clone: history and the branch, at the commit.
                    "test \"$(git log --format=%s | wc -l)\" -eq 2".into(),
                    format!("test \"$(git rev-parse HEAD)\" = {ledger_head}"),
                ],
            ),
        ],
    );
    let out = case.run(&token_env(), &p);
    assert!(out.status.success(), "{}", text(&out));
    let shown = case
        .sluice(&[], &["--output", "json", "history", "fetch-all"])
        .output()
        .expect("history");
    assert!(
        String::from_utf8_lossy(&shown.stdout).contains(&head),
        "the execution's source revisions name the commit: {}",
        text(&shown)
    );
}

#[test]
fn credentials_come_from_the_oauth_token_and_wrong_ones_or_a_missing_branch_fail_clearly() {
    let case = Case::new();
    let (_, head) = case.repository("tern/kite");
    let hub = |token: &str| {
        pipeline(
            "hub",
            vec![source(
                "Hub",
                "GitHub",
                "ThirdParty",
                json!({"Owner": "tern", "Repo": "kite", "Branch": "main", "OAuthToken": token}),
            )],
            vec![("Hub", vec![format!("test \"#{{Hub.CommitId}}\" = {head}")])],
        )
    };
    let user = [("SLUICE_GIT_USERNAME", USER)];
    let out = case.run(&user, &hub(TOKEN));
    assert!(
        out.status.success(),
        "the action's OAuthToken is the credential: {}",
        text(&out)
    );

    // No token anywhere: git's own credential helper answers (here `store`, from a global config file).
    let creds = case.path("git-credentials");
    let port = case
        .server
        .base_url()
        .rsplit(':')
        .next()
        .expect("port")
        .to_owned();
    std::fs::write(
        &creds,
        format!("http://{USER}:{TOKEN}@127.0.0.1%3a{port}\n"),
    )
    .expect("creds");
    let config = case.path("gitconfig");
    std::fs::write(
        &config,
        format!(
            "[credential]\n\thelper = store --file={}\n",
            creds.display()
        ),
    )
    .expect("config");
    let config_path = config.to_str().expect("utf-8").to_owned();
    let out = case.run(&[("GIT_CONFIG_GLOBAL", config_path.as_str())], &hub("****"));
    assert!(
        out.status.success(),
        "a credential helper is asked: {}",
        text(&out)
    );

    let out = case.run(&user, &hub("not-the-token"));
    assert!(!out.status.success());
    assert!(
        text(&out).contains("could not authenticate to") && text(&out).contains("SLUICE_GIT_TOKEN"),
        "{}",
        text(&out)
    );

    let missing = pipeline(
        "nobranch",
        vec![connection("tern/kite", "release/9", "CODE_ZIP")],
        vec![("Conn", vec!["true".into()])],
    );
    let out = case.run(&token_env(), &missing);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("branch release/9 does not exist in"),
        "{}",
        text(&out)
    );
}

#[test]
fn a_bound_working_copy_is_read_instead_of_fetched_without_its_uncommitted_changes() {
    let case = Case::new();
    let (tree, pushed) = case.repository("tern/kite");
    // A local commit the server does not have, and a change not committed.
    tree.write("src/local.txt", "mine\n");
    let local = tree.commit("Local work");
    tree.write("src/draft.txt", "not yet\n");
    let p = pipeline(
        "bound",
        vec![connection("tern/kite", "main", "CODE_ZIP")],
        vec![(
            "Conn",
            vec![
                format!("test \"#{{Conn.CommitId}}\" = {local}"),
                "test -f src/local.txt && test ! -e src/draft.txt".into(),
            ],
        )],
    );
    let file = case.path("pipeline.json");
    std::fs::write(&file, serde_json::to_vec(&p).expect("json")).expect("write");
    let before = case.server.requests();
    let wc = tree.dir().to_str().expect("utf-8").to_owned();
    let out = case
        .sluice(
            &[],
            &[
                "run",
                file.to_str().expect("utf-8"),
                "--source",
                &format!("Conn={wc}"),
            ],
        )
        .output()
        .expect("sluice runs");
    assert!(out.status.success(), "{}", text(&out));
    let said = text(&out);
    assert!(
        said.contains("Source.Conn reads the working copy"),
        "{said}"
    );
    assert!(
        said.contains("1 uncommitted change(s)") && said.contains("src/draft.txt"),
        "the uncommitted change is told: {said}"
    );
    assert_eq!(case.server.requests(), before, "nothing was fetched");

    // Found automatically: run inside the working copy whose remote is the action's repository.
    tree.git(&["remote", "add", "origin", "git@github.com:Tern/Kite.git"]);
    let out = case
        .sluice(&[], &["run", file.to_str().expect("utf-8")])
        .current_dir(tree.dir())
        .output()
        .expect("sluice runs");
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("its remote is the action's repository"),
        "{}",
        text(&out)
    );
    assert_eq!(case.server.requests(), before, "nothing was fetched");

    // --no-bind fetches the pushed commit instead, so the check of the local commit fails.
    let out = case
        .sluice(
            &token_env(),
            &["run", file.to_str().expect("utf-8"), "--no-bind"],
        )
        .current_dir(tree.dir())
        .output()
        .expect("sluice runs");
    assert!(!out.status.success(), "{}", text(&out));
    assert!(case.server.requests() > before);
    assert_ne!(pushed, local);

    let out = case
        .sluice(
            &[],
            &["run", file.to_str().expect("utf-8"), "--source", "Nope=."],
        )
        .output()
        .expect("sluice runs");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out)
        .contains("no git source action named Nope (its git source actions: Source.Conn)"));
}

#[test]
fn serve_polls_sources_and_starts_one_execution_per_change_pinned_to_the_commit() {
    let case = Case::new();
    let (tree, first) = case.repository("tern/kite");
    let base = case.server.base_url();
    let mut env: Vec<(&str, &str)> = vec![
        ("SLUICE_SOURCE_POLL_SECONDS", "0.3"),
        ("SLUICE_GIT_BASE_URL", &base),
    ];
    env.extend(token_env());
    let server = Server::start_env(&case.path("serve"), true, &env);
    let p = pipeline(
        "polled",
        vec![source(
            "Hub",
            "GitHub",
            "ThirdParty",
            json!({"Owner": "tern", "Repo": "kite", "Branch": "main", "OAuthToken": "****"}),
        )],
        vec![("Hub", vec!["test -f README.md".into()])],
    );
    server.ok("CreatePipeline", json!({"pipeline": p}));
    let executions = || {
        server.ok("ListPipelineExecutions", json!({"pipelineName": "polled"}))
            ["pipelineExecutionSummaries"]
            .as_array()
            .expect("summaries")
            .clone()
    };
    // Seen first: recorded, nothing started.
    std::thread::sleep(Duration::from_secs(2));
    assert!(executions().is_empty(), "{}", server.output());
    assert!(!first.is_empty());

    tree.write("src/c.txt", "c\n");
    let second = tree.commit("Add c");
    tree.push(
        &with_credentials(&case.server.url("tern/kite"), USER, TOKEN),
        "main",
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    let started = loop {
        let list = executions();
        if !list.is_empty() {
            break list;
        }
        assert!(
            Instant::now() < deadline,
            "no execution: {}",
            server.output()
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(executions().len(), 1, "one execution per change");
    let summary = &started[0];
    assert_eq!(summary["trigger"]["triggerType"], "PollForSourceChanges");
    let id = summary["pipelineExecutionId"].as_str().expect("id");
    assert_eq!(
        server.wait_done("polled", id),
        "Succeeded",
        "{}",
        server.output()
    );
    let execution = server.ok(
        "GetPipelineExecution",
        json!({"pipelineName": "polled", "pipelineExecutionId": id}),
    );
    assert_eq!(
        execution["pipelineExecution"]["artifactRevisions"][0]["revisionId"], second,
        "{execution}"
    );
}

#[test]
fn the_github_example_runs_bound_and_fetched() {
    for mode in [None, Some("--fetch")] {
        let mut c = Command::new(workspace().join("examples/github/run.sh"));
        c.args(mode)
            .env("SLUICE", sluice_bin())
            .stdin(Stdio::null());
        let out = c.output().expect("the example runs");
        assert!(out.status.success(), "{mode:?}: {}", text(&out));
        let said = text(&out);
        assert!(
            said.contains("execution") && said.contains("Succeeded"),
            "{said}"
        );
        if mode.is_none() {
            assert!(said.contains("reads the working copy"), "{said}");
        }
    }
}

#[test]
fn a_pushed_commit_is_fetched_even_when_the_branch_has_moved_on() {
    let case = Case::new();
    let (tree, pushed) = case.repository("tern/kite");
    let base = case.server.base_url();
    let mut env: Vec<(&str, &str)> = vec![
        ("SLUICE_SOURCE_POLL_SECONDS", "0"),
        ("SLUICE_GIT_BASE_URL", &base),
    ];
    env.extend(token_env());
    let server = Server::start_env(&case.path("serve"), true, &env);
    let p = pipeline(
        "hooked",
        vec![connection("tern/kite", "main", "CODE_ZIP")],
        vec![(
            "Conn",
            vec![
                format!("test \"#{{Conn.CommitId}}\" = {pushed}"),
                "test ! -e src/later.txt".into(),
            ],
        )],
    );
    server.ok("CreatePipeline", json!({"pipeline": p}));
    // The branch moves on before the delivery is handled.
    tree.write("src/later.txt", "later\n");
    tree.commit("Later");
    tree.push(
        &with_credentials(&case.server.url("tern/kite"), USER, TOKEN),
        "main",
    );

    let body = json!({
        "ref": "refs/heads/main",
        "after": pushed,
        "repository": {"full_name": "tern/kite", "default_branch": "main"},
        "head_commit": {"id": pushed, "message": "Add b", "added": ["src/b.txt"]},
        "commits": [{"id": pushed, "message": "Add b", "added": ["src/b.txt"]}]
    })
    .to_string();
    let secret = std::fs::read_to_string(server.state().join("webhook.secret")).expect("secret");
    let signature =
        sluice_runtime::triggers::github_signature(secret.trim().as_bytes(), body.as_bytes());
    let reply = server
        .send(
            "POST",
            "/webhooks/hooked",
            &[
                ("content-type".into(), "application/json".into()),
                ("x-github-event".into(), "push".into()),
                ("x-github-delivery".into(), "5d7c0a4e-delivery-1".into()),
                ("x-hub-signature-256".into(), signature),
            ],
            body.as_bytes(),
        )
        .expect("delivered");
    assert_eq!(reply.status, 200, "{}", reply.body);
    let id = reply.json()["pipelineExecutionId"]
        .as_str()
        .expect("started")
        .to_owned();
    assert_eq!(
        server.wait_done("hooked", &id),
        "Succeeded",
        "{}",
        server.output()
    );

    // An abbreviated commit id (Bitbucket's pull requests send 12 digits) is found among the branches' tips...
    let start = |short: &str| {
        let started = server.ok(
            "StartPipelineExecution",
            json!({"name": "hooked", "sourceRevisions": [
                {"actionName": "Conn", "revisionType": "COMMIT_ID", "revisionValue": short}
            ]}),
        );
        let id = started["pipelineExecutionId"]
            .as_str()
            .expect("id")
            .to_owned();
        (server.wait_done("hooked", &id), id)
    };
    let (status, id) = start(&pushed[..12]);
    assert_eq!(status, "Failed", "not a branch tip yet");
    let failed = server.ok(
        "ListActionExecutions",
        json!({"pipelineName": "hooked", "filter": {"pipelineExecutionId": id}}),
    );
    assert!(
        failed
            .to_string()
            .contains("is not the newest commit of any branch"),
        "{failed}"
    );
    // ... once it is one, it is fetched.
    tree.git(&[
        "push",
        "--quiet",
        &with_credentials(&case.server.url("tern/kite"), USER, TOKEN),
        &format!("{pushed}:refs/heads/feature"),
    ]);
    let (status, _) = start(&pushed[..12]);
    assert_eq!(status, "Succeeded", "{}", server.output());
}
