//! The Lambda function binaries themselves, run by `cargo lambda watch` (which builds them for the host and
//! serves the Lambda Invoke API) against the moto emulator, invoked with fixture events:
//! - dispatch: the real task payloads (with their task tokens) of a `hello` execution on moto's Step
//!   Functions, relayed from the execution history until the execution ends; the Source action fails with the
//!   "not run in AWS" message, and a payload that is no task fails with the stable error name;
//! - recorder: the execution's status-change event closes its record; the sweep answers its measures;
//! - trigger: a GitHub push with a valid signature is read and judged, a forged one refused;
//! - approval: a POST with a validly signed link reaches the store, a forged link is refused;
//! - api: ListPipelines signed with the key in the api's secret, and a forged signature refused.
//!
//! Needs `AWS_ENDPOINT_URL` (moto) and `.venv-lambda` (infra/cargo-lambda.sh); scripts/test.sh sees to both.

use std::collections::HashSet;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sluice_aws::{AwsNotifier, DynamoStore, S3ObjectStore, StartTarget};
use sluice_definition::{load, Limits, Syntax};
use sluice_functions::executor::AwsExecutor;
use sluice_functions::wiring::SystemEnv;
use sluice_runtime::events::Origin;
use sluice_runtime::links;
use sluice_runtime::records::{ActionStatus, ExecutionStatus};
use sluice_runtime::triggers::github_signature;
use sluice_runtime::{Runtime, RuntimeConfig, StartRequest};
use sluice_tests::moto::{self, config, unique, ACCOUNT};
use sluice_tests::{fixture, lambda, workspace};

/// The api's secret access key in this suite (the template generates one per stack).
const API_SECRET: &str = "api-secret-for-the-functions-test";

/// `cargo lambda watch` in its own process group, killed (the whole group) when dropped.
struct Watch {
    child: Child,
    port: u16,
}

impl Watch {
    fn start(env_file: &std::path::Path) -> Self {
        let bin = workspace().join(".venv-lambda/bin");
        assert!(
            bin.join("cargo-lambda").exists(),
            "cargo-lambda is not installed: run infra/cargo-lambda.sh (scripts/test.sh does)"
        );
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let path = format!(
            "{}:{}",
            bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let child = Command::new(bin.join("cargo-lambda"))
            .args([
                "lambda",
                "watch",
                "--ignore-changes",
                "-A",
                "127.0.0.1",
                "-P",
            ])
            .arg(port.to_string())
            .arg("--env-file")
            .arg(env_file)
            .current_dir(workspace())
            .env("PATH", path)
            .stdin(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("cargo lambda watch starts");
        let watch = Self { child, port };
        let deadline = Instant::now() + Duration::from_secs(60);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "cargo lambda watch did not listen in 60 s"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        watch
    }

    /// Invokes a function through the Lambda Invoke API: the HTTP status and the JSON answer. The first call of
    /// each function builds it.
    fn invoke(&self, function: &str, event: &Value) -> (u16, Value) {
        let body = event.to_string();
        let request = format!(
            "POST /2015-03-31/functions/{function}/invocations HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.port,
            body.len()
        );
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(900)))
            .expect("timeout");
        stream.write_all(request.as_bytes()).expect("send");
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).expect("answer");
        let text = String::from_utf8_lossy(&raw);
        let (head, rest) = text.split_once("\r\n\r\n").expect("an HTTP answer");
        let status: u16 = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .expect("a status");
        let chunked = head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked");
        let body = if chunked {
            dechunk(rest)
        } else {
            rest.to_owned()
        };
        let value = serde_json::from_str(&body)
            .unwrap_or_else(|e| panic!("{function} answered {status} with non-JSON ({e}): {body}"));
        (status, value)
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", "--", &format!("-{}", self.child.id())])
            .status();
        let _ = self.child.wait();
    }
}

fn dechunk(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some((size, tail)) = rest.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&tail[..n]);
        rest = tail[n..].trim_start_matches("\r\n");
    }
    out
}

/// A function URL request (payload format 2.0) from the fixture.
fn url_request(
    method: &str,
    path: &str,
    query: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Value {
    lambda::url_request(method, path, query, headers, body.as_bytes(), false)
}

async fn secret(sdk: &aws_config::SdkConfig, name: &str, value: &str) -> String {
    aws_sdk_secretsmanager::Client::new(sdk)
        .create_secret()
        .name(name)
        .secret_string(value)
        .send()
        .await
        .expect("secret")
        .arn()
        .expect("an ARN")
        .to_owned()
}

async fn topic(sdk: &aws_config::SdkConfig, name: &str) -> String {
    aws_sdk_sns::Client::new(sdk)
        .create_topic()
        .name(name)
        .send()
        .await
        .expect("topic")
        .topic_arn()
        .expect("an ARN")
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_function_binaries_answer_their_events_under_cargo_lambda_watch() {
    let sdk = config().await;
    moto::enable_step_functions_execution();

    // The stack's resources on the emulator.
    let dynamo = aws_sdk_dynamodb::Client::new(&sdk);
    let table = unique("sluice-fn");
    DynamoStore::create_table(&dynamo, &table)
        .await
        .expect("table");
    let s3 = aws_sdk_s3::Client::new(&sdk);
    let bucket = unique("sluice-fn");
    s3.create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("bucket");
    let approval_topic = topic(&sdk, &unique("sluice-fn-approvals")).await;
    let results_topic = topic(&sdk, &unique("sluice-fn-results")).await;
    let link_key = "approval-link-key-for-the-functions-test";
    let webhook_secret = "It's a Secret to Everybody";
    let link_secret_arn = secret(&sdk, &unique("sluice-fn-link"), link_key).await;
    let webhook_secret_arn = secret(&sdk, &unique("sluice-fn-hook"), webhook_secret).await;
    let api_keys =
        json!({"accessKeyId": "sluice-admin", "secretAccessKey": API_SECRET}).to_string();
    let api_keys_arn = secret(&sdk, &unique("sluice-fn-api"), &api_keys).await;
    let prefix = format!("fn{}-", std::process::id());

    // The pipeline and an execution, started in-process (moto cannot start state machine versions, which the
    // functions' orchestrator starts; CheckedLatest starts the machine itself).
    let sfn = Arc::new(moto::orchestrator(
        &sdk,
        &prefix,
        StartTarget::CheckedLatest,
    ));
    let store = Arc::new(DynamoStore::new(dynamo, table.clone()));
    let jobs = tempfile::tempdir().expect("temp");
    let runtime = Runtime {
        store: store.clone(),
        objects: Arc::new(S3ObjectStore::new(s3)),
        orchestrator: sfn.clone(),
        events: Arc::new(AwsNotifier::from_sdk(&sdk, "default", None)),
        executor: Arc::new(AwsExecutor::new(sdk.clone(), store, jobs.path(), None)),
        env: Arc::new(SystemEnv),
        config: RuntimeConfig {
            artifact_bucket: bucket.clone(),
            origin: Origin {
                account: ACCOUNT.into(),
                region: "us-east-1".into(),
            },
            limits: Limits::default(),
        },
    };
    let dir = workspace().join("examples/hello");
    let text = std::fs::read_to_string(dir.join("pipeline.yaml")).expect("hello");
    let pipeline = load(&text, Syntax::Yaml, &Limits::default())
        .expect("valid")
        .pipeline;
    runtime
        .put_pipeline(pipeline, Some(dir.to_string_lossy().into_owned()))
        .await
        .expect("stored");
    let id = runtime
        .start_execution("hello", StartRequest::default())
        .await
        .expect("started")
        .execution_id;

    // Every function's settings, as template.yaml sets them, plus the standard AWS settings.
    let env_file = tempfile::NamedTempFile::new().expect("env file");
    let mut vars = vec![
        ("SLUICE_TABLE", table.clone()),
        ("SLUICE_EVENT_BUS", "default".to_owned()),
        ("SLUICE_STATE_MACHINE_PREFIX", prefix.clone()),
        (
            "SLUICE_METRICS_NAMESPACE",
            "Sluice/functions-test".to_owned(),
        ),
        ("SLUICE_BUCKET", bucket.clone()),
        (
            "SLUICE_KMS_KEY_ARN",
            "arn:aws:kms:us-east-1:123456789012:key/test".to_owned(),
        ),
        ("SLUICE_APPROVAL_TOPIC_ARN", approval_topic),
        (
            "SLUICE_APPROVAL_URL",
            "https://approvals.example/".to_owned(),
        ),
        ("SLUICE_APPROVAL_KEY_SECRET_ARN", link_secret_arn),
        ("SLUICE_PIPELINE_ROLE_PREFIX", "sluice-pipeline-".to_owned()),
        ("SLUICE_NOTIFICATION_TOPIC_ARN", results_topic),
        ("SLUICE_WEBHOOK_SECRET_ARN", webhook_secret_arn),
        (
            "SLUICE_STATE_MACHINE_ROLE_ARN",
            "arn:aws:iam::123456789012:role/sluice-states".to_owned(),
        ),
        (
            "SLUICE_DISPATCH_FUNCTION_ARN",
            "arn:aws:lambda:us-east-1:123456789012:function:sluice-dispatch".to_owned(),
        ),
        ("SLUICE_API_KEYS_SECRET_ARN", api_keys_arn),
    ];
    for name in [
        "AWS_ENDPOINT_URL",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_REGION",
    ] {
        vars.push((name, std::env::var(name).unwrap_or_else(|_| "test".into())));
    }
    let lines: String = vars.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
    std::fs::write(env_file.path(), lines).expect("env written");
    let watch = Watch::start(env_file.path());

    // dispatch: relay each scheduled task's payload, token included, until the execution ends.
    let arn = sfn.execution_arn("hello", &id);
    let mut seen = HashSet::new();
    let mut relayed = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(1200);
    let status = loop {
        for task in moto::new_tasks(sfn.client(), &arn, &mut seen).await {
            let payload = serde_json::to_value(&task.request).expect("payload");
            let (code, answer) = watch.invoke("sluice-dispatch", &payload);
            assert_eq!(
                (code, &answer),
                (200, &json!({})),
                "{}",
                moto::describe(&task.request)
            );
            relayed.push(moto::describe(&task.request));
        }
        let status = moto::status(sfn.client(), &arn).await;
        if status != "RUNNING" {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "{arn} still RUNNING; relayed {relayed:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(status, "FAILED", "relayed {relayed:?}");
    assert_eq!(
        relayed[..2],
        ["enter Source", "run Source.Checkout"],
        "{relayed:?}"
    );
    let checkout = runtime
        .actions(&id)
        .await
        .expect("actions")
        .into_iter()
        .find(|a| a.action == "Checkout")
        .expect("Checkout recorded");
    assert_eq!(checkout.status, ActionStatus::Failed);
    let summary = serde_json::to_string(&checkout).expect("json");
    assert!(
        summary.contains("is not run in AWS by this version of Sluice"),
        "{summary}"
    );
    // Not a task: the stable error name, as Lambda reports it (errorType).
    let (code, answer) = watch.invoke("sluice-dispatch", &json!({"op": "Nonsense"}));
    assert_eq!(code, 500, "{answer}");
    assert_eq!(answer["errorType"], "Sluice.InvalidRequest", "{answer}");

    // recorder: the status-change event closes the record.
    let text = std::fs::read_to_string(fixture("functions/execution-status-change.json"))
        .expect("fixture");
    let mut event: Value = serde_json::from_str(&text).expect("JSON");
    event["detail"]["executionArn"] = json!(arn);
    event["detail"]["stateMachineArn"] = json!(format!(
        "arn:aws:states:us-east-1:{ACCOUNT}:stateMachine:{prefix}hello"
    ));
    event["detail"]["name"] = json!(id);
    event["detail"]["status"] = json!("FAILED");
    event["detail"]["error"] = json!("Sluice.StageFailed");
    event["detail"]["cause"] = json!("Source failed");
    let (code, answer) = watch.invoke("sluice-recorder", &event);
    assert_eq!(code, 200, "{answer}");
    assert_eq!(answer["status"], "Failed", "{answer}");
    assert_eq!(
        runtime.execution(&id).await.expect("record").status,
        ExecutionStatus::Failed
    );
    event["detail"]["stateMachineArn"] = json!(format!(
        "arn:aws:states:us-east-1:{ACCOUNT}:stateMachine:other-hello"
    ));
    let (code, answer) = watch.invoke("sluice-recorder", &event);
    assert_eq!(
        (code, answer["ignored"].is_string()),
        (200, true),
        "{answer}"
    );

    // recorder: the five-minute sweep measures what is still open (the record just closed is not).
    let (code, answer) = watch.invoke("sluice-recorder", &json!({"sluice": "sweep"}));
    assert_eq!(code, 200, "{answer}");
    assert!(
        answer["oldestRunningExecutionAgeSeconds"].is_u64(),
        "{answer}"
    );
    assert_eq!(answer["oldestWaitingApprovalAgeSeconds"], 0, "{answer}");

    // trigger: a signed push is read and judged against the pipeline; a forged one is refused.
    let push = std::fs::read_to_string(fixture("functions/github-push.json")).expect("fixture");
    let good = github_signature(webhook_secret.as_bytes(), push.as_bytes());
    let headers = |sig: &'static str| -> Vec<(&'static str, &'static str)> {
        vec![
            ("content-type", "application/json"),
            ("x-github-event", "push"),
            ("x-github-delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958"),
            ("x-hub-signature-256", sig),
        ]
    };
    let good: &'static str = Box::leak(good.into_boxed_str());
    let (code, answer) = watch.invoke(
        "sluice-trigger",
        &url_request("POST", "/webhooks/hello", "", &headers(good), &push),
    );
    assert_eq!(code, 200, "{answer}");
    let reply: Value =
        serde_json::from_str(answer["body"].as_str().expect("a body")).expect("JSON");
    assert_eq!(answer["statusCode"], 200, "{answer}");
    assert_eq!(
        reply["deliveryId"], "72d3162e-cc78-11e3-81ab-4c9367dc0958",
        "{reply}"
    );
    // hello's source follows main and the push is to a feature branch: the verified push is read, judged
    // against the stored pipeline and skipped, saying why. (A matching push starts the pipeline's state
    // machine version, which moto cannot start; see StartTarget in shared/aws/src/sfn.rs.)
    assert_eq!(reply["started"], false, "{reply}");
    assert!(
        reply["reason"]
            .as_str()
            .unwrap_or("")
            .contains("follows main"),
        "{reply}"
    );
    let forged = "sha256=0000000000000000000000000000000000000000000000000000000000000000";
    let (_, answer) = watch.invoke(
        "sluice-trigger",
        &url_request("POST", "/webhooks/hello", "", &headers(forged), &push),
    );
    assert_eq!(answer["statusCode"], 403, "{answer}");
    assert!(
        answer["body"]
            .as_str()
            .unwrap_or("")
            .contains("InvalidSignature"),
        "{answer}"
    );

    // approval: a validly signed link passes the check and reaches the store (no such approval there); a
    // forged one is refused before anything is read.
    let token = "0f8fad5b-d9cb-469f-a165-70867728950e";
    let expires = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs() as i64
        + 3600;
    let query = links::query(link_key.as_bytes(), token, expires);
    let form = [("content-type", "application/x-www-form-urlencoded")];
    let path = format!("{}{token}", links::PATH_PREFIX);
    let (code, answer) = watch.invoke(
        "sluice-approval",
        &url_request("POST", &path, &query, &form, "decision=Approved"),
    );
    assert_eq!(code, 200, "{answer}");
    assert_eq!(answer["statusCode"], 404, "{answer}");
    assert!(
        answer["body"]
            .as_str()
            .unwrap_or("")
            .contains("No such approval"),
        "{answer}"
    );
    let forged = links::query(b"another key", token, expires);
    let (_, answer) = watch.invoke(
        "sluice-approval",
        &url_request("POST", &path, &forged, &form, "decision=Approved"),
    );
    assert_eq!(answer["statusCode"], 403, "{answer}");
    assert!(
        answer["body"]
            .as_str()
            .unwrap_or("")
            .contains("Link not valid"),
        "{answer}"
    );

    // api: ListPipelines, signed as the aws CLI signs it with the key in the api's secret; a forged signature
    // is refused before anything is read.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    let target = "CodePipeline_20150709.ListPipelines";
    let forged = lambda::signed_api_call(target, "{}", ("sluice-admin", "not-the-secret"), now);
    let (code, answer) = watch.invoke("sluice-api", &forged);
    assert_eq!(
        (code, &answer["statusCode"]),
        (200, &json!(403)),
        "{answer}"
    );
    let list = lambda::signed_api_call(target, "{}", ("sluice-admin", API_SECRET), now);
    let (code, answer) = watch.invoke("sluice-api", &list);
    assert_eq!(
        (code, &answer["statusCode"]),
        (200, &json!(200)),
        "{answer}"
    );
    let listed: Value =
        serde_json::from_str(answer["body"].as_str().expect("a body")).expect("JSON");
    let names: Vec<&str> = listed["pipelines"]
        .as_array()
        .expect("pipelines")
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert_eq!(names, ["hello"], "{listed}");
    drop(watch);
}
