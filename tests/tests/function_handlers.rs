//! The Lambda functions' handlers (`sluice-functions`) in-process over the embedded adapters: no Lambda, no AWS.
//! What the binaries' suite (tests/tests/functions.rs) cannot reach on moto is checked here: the approval
//! function showing and deciding a real waiting approval once (and the recorder's sweep measuring its wait), and
//! the trigger function starting an execution once per delivery from a base64-encoded form delivery, as
//! function URLs send them, and listing pull requests' changed files through the hosts' APIs (a loopback
//! stand-in; the tokens secret on moto).

use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_lambda_events::event::lambda_function_urls::LambdaFunctionUrlRequest;
use base64::Engine as _;
use serde_json::{json, Value};
use sluice_definition::{load, Limits, Syntax};
use sluice_functions::executor::AwsExecutor;
use sluice_runtime::bitbucket_events::bitbucket_signature;
use sluice_runtime::links;
use sluice_runtime::ports::Env;
use sluice_runtime::records::ExecutionStatus;
use sluice_runtime::triggers::github_signature;
use sluice_runtime::{Runtime, StartRequest};
use sluice_tests::embedded::{wire, TestEnv};
use sluice_tests::{fixture, lambda};
use sluice_web::sigv4::Keys;
use tokio::sync::Notify;

/// A function URL request (payload format 2.0) from the fixture; the body is sent base64-encoded.
fn url_request(
    method: &str,
    path: &str,
    query: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Value {
    lambda::url_request(method, path, query, headers, body, true)
}

fn typed(event: &Value) -> LambdaFunctionUrlRequest {
    serde_json::from_value(event.clone()).expect("a function URL request")
}

struct Pipeline {
    runtime: Arc<Runtime>,
    env: Arc<TestEnv>,
    stop: Arc<Notify>,
    _dir: tempfile::TempDir,
}

async fn gate_pipeline() -> Pipeline {
    let dir = tempfile::tempdir().expect("temp");
    let env = TestEnv::at(1_800_000_000_000);
    let (runtime, engine) = wire(dir.path(), env.clone());
    let src = dir.path().join("src");
    std::fs::create_dir_all(&src).expect("src");
    std::fs::write(src.join("greeting.txt"), "hello").expect("file");
    let doc = load(
        &sluice_tests::gate_pipeline(&src, "Ship it?").to_string(),
        Syntax::Json,
        &Limits::default(),
    )
    .expect("valid");
    runtime
        .put_pipeline(doc.pipeline, None)
        .await
        .expect("stored");
    let stop = Arc::new(Notify::new());
    tokio::spawn(Arc::clone(&engine).run(Arc::clone(&stop)));
    Pipeline {
        runtime,
        env,
        stop,
        _dir: dir,
    }
}

async fn until<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(60);
    while !check().await {
        assert!(Instant::now() < deadline, "{what}: not within 60 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_approval_function_shows_then_decides_a_waiting_approval_once() {
    let p = gate_pipeline().await;
    let id = p
        .runtime
        .start_execution("gate", StartRequest::default())
        .await
        .expect("started")
        .execution_id;
    until("approval waiting", || async {
        p.runtime
            .pending_approval("gate", "Approval", "Review")
            .await
            .expect("read")
            .is_some()
    })
    .await;
    let token = p
        .runtime
        .pending_approval("gate", "Approval", "Review")
        .await
        .expect("read")
        .expect("pending")
        .token;
    // The recorder's sweep sees the approval (and the execution) waiting.
    p.env.advance_ms(120_000);
    let swept = sluice_functions::recorder::sweep(&p.runtime, "Sluice/test", 0)
        .await
        .expect("sweep");
    assert_eq!(swept["oldestWaitingApprovalAgeSeconds"], 120, "{swept}");
    assert_eq!(swept["oldestRunningExecutionAgeSeconds"], 120, "{swept}");

    let key = b"approval-link-key";
    let now_s = p.env.now_ms() / 1000;
    let query = links::query(key, &token, now_s + 3600);
    let path = format!("{}{token}", links::PATH_PREFIX);
    let answer = |event: Value| {
        let runtime = Arc::clone(&p.runtime);
        async move {
            sluice_functions::approval::answer(
                &runtime,
                key,
                &sluice_runtime::ports::NoDirectory,
                &typed(&event),
                now_s,
            )
            .await
        }
    };

    let page = answer(url_request("GET", &path, &query, &[], b"")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("Ship it?"), "{}", page.body);
    let form = [("content-type", "application/x-www-form-urlencoded")];
    let post = url_request(
        "POST",
        &path,
        &query,
        &form,
        b"decision=Approved&summary=looks+good",
    );
    let decided = answer(post.clone()).await;
    assert_eq!(decided.status, 200, "{}", decided.body);
    assert!(decided.body.contains("Approved"), "{}", decided.body);
    let again = answer(post).await;
    assert_eq!(again.status, 410, "{}", again.body);
    let approval = p
        .runtime
        .approval_by_token(&token)
        .await
        .expect("read")
        .expect("recorded");
    assert_eq!(approval.decided_by.as_deref(), Some("approval-link"));
    assert_eq!(approval.summary.as_deref(), Some("looks good"));
    let swept = sluice_functions::recorder::sweep(&p.runtime, "Sluice/test", 0)
        .await
        .expect("sweep");
    assert_eq!(swept["oldestWaitingApprovalAgeSeconds"], 0, "{swept}");

    until("execution ends", || async {
        p.runtime
            .execution(&id)
            .await
            .expect("read")
            .status
            .is_final()
    })
    .await;
    assert_eq!(
        p.runtime.execution(&id).await.expect("read").status,
        ExecutionStatus::Succeeded
    );
    p.stop.notify_one();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_trigger_function_starts_once_per_delivery_from_a_base64_form() {
    let p = gate_pipeline().await;
    let secret = b"It's a Secret to Everybody";
    let mut push: Value = serde_json::from_str(
        &std::fs::read_to_string(fixture("functions/github-push.json")).expect("fixture"),
    )
    .expect("JSON");
    push["ref"] = json!("refs/heads/main");
    let form: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("payload", &push.to_string())
        .finish();
    let signature = github_signature(secret, form.as_bytes());
    let headers = [
        ("content-type", "application/x-www-form-urlencoded"),
        ("x-github-event", "push"),
        ("x-github-delivery", "d-1"),
        ("x-hub-signature-256", signature.as_str()),
    ];
    let event = url_request("POST", "/webhooks/gate", "", &headers, form.as_bytes());
    let first = sluice_functions::trigger::answer(&p.runtime, secret, event.clone()).await;
    assert_eq!(first.status, 200, "{}", first.body);
    let first: Value = serde_json::from_str(&first.body).expect("JSON");
    assert_eq!(
        (&first["started"], &first["duplicate"]),
        (&json!(true), &json!(false)),
        "{first}"
    );
    let again = sluice_functions::trigger::answer(&p.runtime, secret, event).await;
    let again: Value = serde_json::from_str(&again.body).expect("JSON");
    assert_eq!(again["duplicate"], true, "{again}");
    assert_eq!(again["pipelineExecutionId"], first["pipelineExecutionId"]);

    let forged = url_request(
        "POST",
        "/webhooks/gate",
        "",
        &[
            ("x-hub-signature-256", "sha256=00"),
            ("x-github-event", "push"),
        ],
        form.as_bytes(),
    );
    let refused = sluice_functions::trigger::answer(&p.runtime, secret, forged).await;
    assert_eq!(refused.status, 403, "{}", refused.body);

    // GitLab's push, told apart by its headers, authenticated by its token.
    let gitlab = json!({
        "object_kind": "push",
        "ref": "refs/heads/main",
        "before": "0000000000000000000000000000000000000000",
        "after": "9f1c2b3a4d5e6f708192a3b4c5d6e7f809112233",
        "checkout_sha": "9f1c2b3a4d5e6f708192a3b4c5d6e7f809112233",
        "user_username": "heron",
        "project": {"path_with_namespace": "marsh/gate", "default_branch": "main"},
        "commits": [{"id": "9f1c2b3a4d5e6f708192a3b4c5d6e7f809112233", "message": "Wire the gate",
                     "added": ["gate.txt"], "modified": [], "removed": []}]
    })
    .to_string();
    let token = String::from_utf8_lossy(secret).into_owned();
    let gitlab_push = |token: &str| {
        url_request(
            "POST",
            "/webhooks/gate",
            "",
            &[
                ("content-type", "application/json"),
                ("x-gitlab-event", "Push Hook"),
                ("x-gitlab-event-uuid", "2b7f0c1e-gl-1"),
                ("x-gitlab-token", token),
            ],
            gitlab.as_bytes(),
        )
    };
    let wrong = sluice_functions::trigger::answer(&p.runtime, secret, gitlab_push("nope")).await;
    assert_eq!(wrong.status, 403, "{}", wrong.body);
    let started = sluice_functions::trigger::answer(&p.runtime, secret, gitlab_push(&token)).await;
    assert_eq!(started.status, 200, "{}", started.body);
    let started: Value = serde_json::from_str(&started.body).expect("JSON");
    assert_eq!(started["started"], true, "{started}");
    assert_ne!(started["pipelineExecutionId"], first["pipelineExecutionId"]);
    let ecr = json!({"source": "aws.ecr", "detail-type": "ECR Image Action", "id": "e-1",
        "detail": {"action-type": "DELETE", "result": "SUCCESS", "repository-name": "r", "image-tag": "latest"}});
    let ignored = sluice_functions::trigger::answer(&p.runtime, secret, ecr).await;
    assert!(
        ignored.body.contains("not a new source revision"),
        "{}",
        ignored.body
    );
    p.stop.notify_one();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_function_checks_signatures_and_dispatch_names_its_errors() {
    let p = gate_pipeline().await;
    // Signed as the aws CLI signs CodePipeline calls, with a key the function knows: answered, and the
    // caller is the key. Unsigned, unknown keys, a changed body and stale signatures get 403.
    let keys = Keys::parse("AKIDRELEASEMANAGER release-manager-secret").expect("keys");
    let now = 1_800_000_000;
    let target = "CodePipeline_20150709.ListPipelines";
    let req = typed(&lambda::signed_api_call(
        target,
        "{}",
        ("AKIDRELEASEMANAGER", "release-manager-secret"),
        now,
    ));
    assert_eq!(
        sluice_functions::api::caller(&req, b"{}", &keys, now).as_deref(),
        Ok("AKIDRELEASEMANAGER")
    );
    // Only the keys matter here (no principals): every pair is an admin.
    let access = sluice_web::access::Access::admins(keys.clone());
    let people = sluice_functions::access::StackPeople::new(
        p.runtime.store.clone(),
        &aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .build(),
        "unused/",
    );
    let listed = sluice_functions::api::answer(&p.runtime, &access, &people, &req, now).await;
    assert_eq!(listed.status, 200, "{}", listed.body);
    assert_eq!(listed.content_type, "application/x-amz-json-1.1");
    assert!(listed.body.contains("\"gate\""), "{}", listed.body);

    let unsigned = typed(&url_request(
        "POST",
        "/",
        "",
        &[("x-amz-target", target)],
        b"{}",
    ));
    let forged = typed(&lambda::signed_api_call(
        target,
        "{}",
        ("AKIDRELEASEMANAGER", "a-guessed-secret"),
        now,
    ));
    let unknown = typed(&lambda::signed_api_call(
        target,
        "{}",
        ("AKIDSOMEONEELSE", "release-manager-secret"),
        now,
    ));
    let mut changed = lambda::signed_api_call(
        target,
        "{}",
        ("AKIDRELEASEMANAGER", "release-manager-secret"),
        now,
    );
    changed["body"] = json!("{\"maxResults\": 1}");
    let changed = typed(&changed);
    for (what, req, at, kind) in [
        (
            "unsigned",
            &unsigned,
            now,
            "MissingAuthenticationTokenException",
        ),
        ("forged", &forged, now, "InvalidSignatureException"),
        ("unknown key", &unknown, now, "UnrecognizedClientException"),
        ("changed body", &changed, now, "InvalidSignatureException"),
        ("stale", &req, now + 16 * 60, "InvalidSignatureException"),
    ] {
        let refused = sluice_functions::api::answer(&p.runtime, &access, &people, req, at).await;
        assert_eq!(refused.status, 403, "{what}: {}", refused.body);
        assert!(refused.body.contains(kind), "{what}: {}", refused.body);
    }

    let jobs = tempfile::tempdir().expect("temp");
    let executor = AwsExecutor::new(
        aws_config::SdkConfig::builder().build(),
        p.runtime.store.clone(),
        jobs.path(),
        None,
        None,
    );
    let failure =
        sluice_functions::dispatch::handle(&p.runtime, &executor, json!({"op": "Nonsense"}))
            .await
            .expect_err("not a task");
    assert_eq!(failure.name, "Sluice.InvalidRequest");
    // A finished build that Sluice did not start (no SLUICE_JOB_ID among its variables).
    let build = json!({"source": "aws.codebuild", "detail": {
        "build-id": "arn:aws:codebuild:us-east-1:123456789012:build/other:1",
        "build-status": "SUCCEEDED",
        "additional-information": {"environment": {"environment-variables": [
            {"name": "STAGE", "value": "prod", "type": "PLAINTEXT"}
        ]}}
    }});
    let ignored = sluice_functions::dispatch::handle(&p.runtime, &executor, build)
        .await
        .expect("ignored");
    assert!(ignored["ignored"].is_string());
    p.stop.notify_one();
}

/// An S3 object and an ECR image each start the pipeline whose source follows them, once per event id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_trigger_function_starts_pipelines_on_s3_and_ecr_events_once() {
    let dir = tempfile::tempdir().expect("temp");
    let (runtime, _engine) = wire(dir.path(), TestEnv::at(1_800_000_000_000));
    let source = |name: &str, provider: &str, configuration: Value| {
        json!({
            "name": name,
            "pipelineType": "V2",
            "stages": [
                {"name": "Source", "actions": [{
                    "name": "Fetch",
                    "actionTypeId": {"category": "Source", "owner": "AWS", "provider": provider, "version": "1"},
                    "configuration": configuration,
                    "outputArtifacts": [{"name": "Src"}]
                }]},
                {"name": "Build", "actions": [{
                    "name": "Greet",
                    "actionTypeId": {"category": "Compute", "owner": "AWS", "provider": "Commands", "version": "1"},
                    "commands": ["ls"],
                    "inputArtifacts": [{"name": "Src"}]
                }]}
            ]
        })
        .to_string()
    };
    for text in [
        source(
            "from-s3",
            "S3",
            json!({"S3Bucket": "uploads", "S3ObjectKey": "app.zip", "PollForSourceChanges": "false"}),
        ),
        source("from-ecr", "ECR", json!({"RepositoryName": "app"})),
    ] {
        let doc = load(&text, Syntax::Json, &Limits::default()).expect("valid");
        runtime
            .put_pipeline(doc.pipeline, None)
            .await
            .expect("stored");
    }
    let secret = b"unused";
    let s3 = |id: &str, key: &str| {
        json!({"version": "0", "id": id, "detail-type": "Object Created", "source": "aws.s3",
            "account": "123456789012", "region": "us-east-1", "resources": ["arn:aws:s3:::uploads"],
            "detail": {"bucket": {"name": "uploads"},
                "object": {"key": key, "size": 10, "version-id": format!("v-{id}")}}})
    };
    let answer = |event: Value| {
        let runtime = Arc::clone(&runtime);
        async move {
            let reply = sluice_functions::trigger::answer(&runtime, secret, event).await;
            assert_eq!(reply.status, 200, "{}", reply.body);
            serde_json::from_str::<Value>(&reply.body).expect("JSON")
        }
    };

    let first = answer(s3("ev-1", "app.zip")).await;
    assert_eq!(
        first["started"].as_array().map(Vec::len),
        Some(1),
        "{first}"
    );
    assert_eq!(first["started"][0]["pipeline"], "from-s3");
    assert_eq!(first["started"][0]["duplicate"], false);
    let again = answer(s3("ev-1", "app.zip")).await;
    assert_eq!(again["started"][0]["duplicate"], true, "{again}");
    assert_eq!(
        again["started"][0]["pipelineExecutionId"],
        first["started"][0]["pipelineExecutionId"]
    );
    let other = answer(s3("ev-2", "other.zip")).await;
    assert_eq!(other["started"], json!([]), "{other}");
    let id = first["started"][0]["pipelineExecutionId"]
        .as_str()
        .expect("id");
    let trigger = runtime.execution(id).await.expect("record").trigger;
    assert_eq!(
        (
            trigger.trigger_type.as_str(),
            trigger.trigger_detail.as_str()
        ),
        ("CloudWatchEvent", "arn:aws:s3:::uploads")
    );
    // The execution fetches the version the event announced, not whatever is newest when it runs.
    let pinned = runtime
        .execution(id)
        .await
        .expect("record")
        .revision_overrides;
    assert_eq!(
        serde_json::to_value(&pinned).expect("json"),
        json!([{"actionName": "Fetch", "revisionType": "S3_OBJECT_VERSION_ID", "revisionValue": "v-ev-1"}])
    );

    let ecr = |tag: &str| {
        json!({"version": "0", "id": format!("ev-ecr-{tag}"), "detail-type": "ECR Image Action", "source": "aws.ecr",
            "resources": [], "detail": {"action-type": "PUSH", "result": "SUCCESS",
            "repository-name": "app", "image-tag": tag,
            "image-digest": "sha256:7f5b0c8e2a11d1c4b0f0e6c3d9a8b7e6f5d4c3b2a1908f7e6d5c4b3a29180706"}})
    };
    let latest = answer(ecr("latest")).await;
    assert_eq!(latest["started"][0]["pipeline"], "from-ecr", "{latest}");
    let ecr_id = latest["started"][0]["pipelineExecutionId"]
        .as_str()
        .expect("id");
    let pinned = runtime
        .execution(ecr_id)
        .await
        .expect("record")
        .revision_overrides;
    assert_eq!(
        (
            pinned[0].revision_type.as_str(),
            pinned[0].revision_value.as_str()
        ),
        (
            "IMAGE_DIGEST",
            "sha256:7f5b0c8e2a11d1c4b0f0e6c3d9a8b7e6f5d4c3b2a1908f7e6d5c4b3a29180706"
        )
    );
    let tagged = answer(ecr("v2")).await;
    assert_eq!(tagged["started"], json!([]), "{tagged}");
}

/// A stand-in for the hosts' REST APIs on loopback (the hosts themselves are out of reach here), answering the
/// documented shapes of GitHub's pull request files, GitLab's merge request diffs and Bitbucket's diffstat,
/// and recording each request's path and Authorization headers.
struct HostApis {
    base: String,
    seen: Arc<std::sync::Mutex<Vec<(String, String)>>>,
}

impl HostApis {
    fn start() -> HostApis {
        use std::io::{BufRead, BufReader, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (record, next) = (seen.clone(), base.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { break };
                let mut reader = BufReader::new(stream.try_clone().expect("clone"));
                let mut line = String::new();
                reader.read_line(&mut line).expect("request line");
                let path = line.split_whitespace().nth(1).unwrap_or("").to_owned();
                let mut auth = String::new();
                loop {
                    let mut header = String::new();
                    reader.read_line(&mut header).expect("header");
                    if header.trim().is_empty() {
                        break;
                    }
                    let lower = header.to_ascii_lowercase();
                    if lower.starts_with("authorization:") || lower.starts_with("private-token:") {
                        auth = header.trim().to_owned();
                    }
                }
                record.lock().expect("lock").push((path.clone(), auth));
                let docs: Vec<Value> = (0..100)
                    .map(|i| json!({"filename": format!("docs/page{i}.md"), "status": "modified"}))
                    .collect();
                let (status, body) = match path.as_str() {
                    "/gh/repos/marsh/gate/pulls/7/files?per_page=100&page=1" => {
                        ("200 OK", json!(docs))
                    }
                    "/gh/repos/marsh/gate/pulls/7/files?per_page=100&page=2" => (
                        "200 OK",
                        json!([{"filename": "src/tide.rs", "previous_filename": "src/moon.rs", "status": "renamed"}]),
                    ),
                    "/gl/projects/marsh%2Fgate/merge_requests/8/diffs?per_page=100&page=1" => (
                        "200 OK",
                        json!([{"old_path": "docs/a.md", "new_path": "docs/a.md", "new_file": false}]),
                    ),
                    "/bb/repositories/marsh/gate/pullrequests/9/diffstat?pagelen=100" => (
                        "200 OK",
                        json!({"values": [{"status": "added", "old": null, "new": {"path": "docs/b.md"}}],
                               "next": format!("{next}/bb/diffstat-2")}),
                    ),
                    "/bb/repositories/marsh/gate/diffstat/c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00..0ddba11000000000000000000000000000000000?topic=false&pagelen=100" => (
                        "200 OK",
                        json!({"values": [{"status": "modified", "old": {"path": "src/gate.rs"}, "new": {"path": "src/gate.rs"}}]}),
                    ),
                    "/bb/diffstat-2" => (
                        "200 OK",
                        json!({"values": [{"status": "removed", "old": {"path": "src/c.rs"}, "new": null}]}),
                    ),
                    _ => ("404 Not Found", json!({"message": "Not Found"})),
                };
                let body = body.to_string();
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        HostApis { base, seen }
    }

    fn seen(&self, path_start: &str) -> Vec<(String, String)> {
        let seen = self.seen.lock().expect("lock");
        seen.iter()
            .filter(|(p, _)| p.starts_with(path_start))
            .cloned()
            .collect()
    }
}

/// The trigger function lists a pull request's changed files through its host's API when a `filePaths`
/// filter needs them: GitHub's pages, GitLab's diffs and Bitbucket's diffstat with its `next` links, with the
/// tokens of the host tokens secret (read from Secrets Manager on moto) where it has one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_trigger_function_lists_pull_request_files_through_the_hosts_apis() {
    use sluice_functions::pull_request_files::{HostApiFiles, HostApis as Apis};
    let dir = tempfile::tempdir().expect("temp");
    let env = TestEnv::at(1_800_000_000_000);
    let (runtime, _engine) = wire(dir.path(), env);
    let pipeline = json!({
        "name": "gate-prs", "pipelineType": "V2",
        "stages": [
            {"name": "Source", "actions": [{
                "name": "Code",
                "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "CodeStarSourceConnection", "version": "1"},
                "configuration": {"ConnectionArn": "arn:aws:codestar-connections:us-east-1:123456789012:connection/4d3c2b1a-0000-1111-2222-333344445555",
                                  "FullRepositoryId": "marsh/gate", "BranchName": "main"},
                "outputArtifacts": [{"name": "Src"}]
            }]},
            {"name": "Build", "actions": [{
                "name": "List",
                "actionTypeId": {"category": "Compute", "owner": "AWS", "provider": "Commands", "version": "1"},
                "commands": ["ls"],
                "inputArtifacts": [{"name": "Src"}]
            }]}
        ],
        "triggers": [{"providerType": "CodeStarSourceConnection", "gitConfiguration": {
            "sourceActionName": "Code",
            "pullRequest": [{"branches": {"includes": ["main"]}, "filePaths": {"includes": ["src/**"]}}],
            "push": [{"branches": {"includes": ["main"]}, "filePaths": {"includes": ["src/**"]}}]
        }}]
    });
    let doc = load(&pipeline.to_string(), Syntax::Json, &Limits::default()).expect("valid");
    runtime
        .put_pipeline(doc.pipeline, None)
        .await
        .expect("stored");

    let apis = HostApis::start();
    let sdk = sluice_tests::moto::config().await;
    let tokens = sluice_tests::moto::unique("sluice-source/host-tokens");
    aws_sdk_secretsmanager::Client::new(&sdk)
        .create_secret()
        .name(&tokens)
        .secret_string(json!({"GitHub": "ghp_tide", "Bitbucket": "heron:app-pw"}).to_string())
        .send()
        .await
        .expect("secret");
    let lister = HostApiFiles::new(
        sluice_functions::cfn_resource::http_client().expect("http"),
        sdk,
        Apis {
            github: format!("{}/gh", apis.base),
            gitlab: format!("{}/gl", apis.base),
            bitbucket: format!("{}/bb", apis.base),
        },
        Some(tokens),
    );
    let secret = b"estuary";
    let commit = "c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00";
    let deliver = |headers: Vec<(&'static str, String)>, body: String| {
        let runtime = runtime.clone();
        let lister = &lister;
        async move {
            let pairs: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
            let event = url_request("POST", "/webhooks/gate-prs", "", &pairs, body.as_bytes());
            let reply =
                sluice_functions::trigger::answer_with(&runtime, secret, Some(lister), event).await;
            let json: Value = serde_json::from_str(&reply.body).unwrap_or(Value::Null);
            (reply.status, json)
        }
    };
    let github = |number: u64, delivery: &str| {
        let body = json!({
            "action": "opened", "number": number,
            "pull_request": {"number": number, "title": "Tides", "head": {"ref": "feature/tide", "sha": commit},
                             "base": {"ref": "main", "sha": commit}},
            "repository": {"full_name": "marsh/gate", "default_branch": "main"}
        })
        .to_string();
        let headers = vec![
            ("content-type", "application/json".to_owned()),
            ("x-github-event", "pull_request".to_owned()),
            ("x-github-delivery", delivery.to_owned()),
            (
                "x-hub-signature-256",
                github_signature(secret, body.as_bytes()),
            ),
        ];
        (headers, body)
    };

    // GitHub: 100 docs on page 1, a rename into src/ on page 2: started, with the bearer token.
    let (headers, body) = github(7, "gh-7");
    let (status, answer) = deliver(headers, body).await;
    assert_eq!(
        (status, &answer["started"]),
        (200, &json!(true)),
        "{answer}"
    );
    assert_eq!(answer["pullRequest"]["changedFiles"], 102, "{answer}");
    let asked = apis.seen("/gh/repos/marsh/gate/pulls/7/");
    assert_eq!(asked.len(), 2, "{asked:?}");
    assert!(
        asked.iter().all(|(_, a)| a.ends_with("Bearer ghp_tide")),
        "{asked:?}"
    );

    // GitLab: docs only, so skipped; no GitLab token in the secret, so none sent.
    let mr = json!({
        "object_kind": "merge_request",
        "project": {"path_with_namespace": "marsh/gate", "default_branch": "main"},
        "object_attributes": {"iid": 8, "title": "Docs", "action": "open", "source_branch": "docs",
                              "target_branch": "main", "last_commit": {"id": commit}}
    })
    .to_string();
    let headers = vec![
        ("content-type", "application/json".to_owned()),
        ("x-gitlab-event", "Merge Request Hook".to_owned()),
        ("x-gitlab-event-uuid", "gl-8".to_owned()),
        (
            "x-gitlab-token",
            String::from_utf8_lossy(secret).into_owned(),
        ),
    ];
    let (status, answer) = deliver(headers, mr).await;
    assert_eq!(
        (status, &answer["started"]),
        (200, &json!(false)),
        "{answer}"
    );
    let reason = answer["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("none of the 1 changed file(s) is selected by filePaths"),
        "{reason}"
    );
    assert_eq!(
        apis.seen("/gl/"),
        [(
            "/gl/projects/marsh%2Fgate/merge_requests/8/diffs?per_page=100&page=1".to_owned(),
            String::new()
        )]
    );

    // Bitbucket: a removed src file on the `next` page: started, with basic auth.
    let pr = json!({
        "pullrequest": {"id": 9, "title": "Drop c", "source": {"branch": {"name": "drop-c"}, "commit": {"hash": commit}},
                        "destination": {"branch": {"name": "main"}}},
        "repository": {"full_name": "marsh/gate"}
    })
    .to_string();
    let headers = vec![
        ("content-type", "application/json".to_owned()),
        ("x-event-key", "pullrequest:created".to_owned()),
        ("x-request-uuid", "bb-9".to_owned()),
        (
            "x-hub-signature",
            bitbucket_signature(secret, pr.as_bytes()),
        ),
    ];
    let (status, answer) = deliver(headers, pr).await;
    assert_eq!(
        (status, &answer["started"]),
        (200, &json!(true)),
        "{answer}"
    );
    let basic = base64::engine::general_purpose::STANDARD.encode("heron:app-pw");
    assert_eq!(apis.seen("/bb/").len(), 2);
    assert!(apis
        .seen("/bb/")
        .iter()
        .all(|(_, a)| a.ends_with(&format!("Basic {basic}"))));

    // A Bitbucket push lists no files: its diffstat between the commits after and before is asked for.
    let push = json!({
        "repository": {"full_name": "marsh/gate"},
        "push": {"changes": [{
            "new": {"type": "branch", "name": "main", "target": {"type": "commit", "hash": commit, "message": "gate"}},
            "old": {"type": "branch", "name": "main", "target": {"type": "commit", "hash": "0ddba11000000000000000000000000000000000"}},
            "created": false, "closed": false, "forced": false
        }]}
    })
    .to_string();
    let headers = vec![
        ("content-type", "application/json".to_owned()),
        ("x-event-key", "repo:push".to_owned()),
        ("x-request-uuid", "bb-push-1".to_owned()),
        (
            "x-hub-signature",
            bitbucket_signature(secret, push.as_bytes()),
        ),
    ];
    let (status, answer) = deliver(headers, push).await;
    assert_eq!(
        (status, &answer["started"]),
        (200, &json!(true)),
        "{answer}"
    );
    assert_eq!(apis.seen("/bb/repositories/marsh/gate/diffstat/").len(), 1);

    // A pull request the host does not know: the delivery fails, so the host may send it again.
    let (headers, body) = github(10, "gh-10");
    let (status, answer) = deliver(headers, body).await;
    assert_eq!(status, 502, "{answer}");
    let message = answer["message"].as_str().unwrap_or_default();
    assert!(message.contains("answered 404 Not Found"), "{message}");
}
