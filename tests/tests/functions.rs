//! The Lambda function binaries themselves, run by `cargo lambda watch` (which builds them for the host and
//! serves the Lambda Invoke API) against the moto emulator, invoked with fixture events:
//! - dispatch: the real task payloads (with their task tokens) of a `hello` execution on moto's Step
//!   Functions, relayed from the execution history until the execution ends; the Source action fails with the
//!   "not run in AWS" message, and a payload that is no task fails with the stable error name;
//! - recorder: the execution's status-change event closes its record; the sweep answers its measures;
//! - trigger: a GitHub push with a valid signature is read and judged, a forged one refused;
//! - approval: a POST with a validly signed link reaches the store, a forged link is refused;
//! - api: ListPipelines signed with the key in the api's secret, and a forged signature refused;
//! - a Lambda invoke action: dispatch invokes the job function `tests/job-function` (through the watch, as
//!   `AWS_ENDPOINT_URL_LAMBDA`), which reads its input with the event's artifact credentials, writes its output
//!   and reports PutJobSuccessResult to the api function (the watch's function URL route, as the function's
//!   `AWS_ENDPOINT_URL_CODEPIPELINE`); the execution succeeds with the function's output and variables;
//! - cfn-resource: CloudFormation's Create and Delete requests for a `Custom::SluicePipeline`, each answered by
//!   a PUT to the request's `ResponseURL` (a loopback server standing in for S3's pre-signed URL); the pipeline
//!   is stored, then gone.
//!
//! Needs `AWS_ENDPOINT_URL` (moto) and `.venv-lambda` (infra/cargo-lambda.sh); scripts/test.sh sees to both.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sluice_aws::{AwsNotifier, DynamoStore, S3ObjectStore, StartTarget, StepFunctionsOrchestrator};
use sluice_definition::{load, Limits, Syntax};
use sluice_functions::executor::AwsExecutor;
use sluice_functions::wiring::SystemEnv;
use sluice_runtime::events::Origin;
use sluice_runtime::links;
use sluice_runtime::records::{ActionStatus, ExecutionStatus};
use sluice_runtime::triggers::github_signature;
use sluice_runtime::{Runtime, RuntimeConfig, StartRequest};
use sluice_tests::catcher::Catcher;
use sluice_tests::moto::{self, config, unique, ACCOUNT};
use sluice_tests::watch::{free_port, Watch};
use sluice_tests::{fixture, lambda, unzipped, workspace, zip_of};

/// The api's secret access key in this suite (the template generates one per stack).
const API_SECRET: &str = "api-secret-for-the-functions-test";

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

/// Plays Step Functions' side: relays each scheduled task's payload, token included, to the dispatch function
/// until the execution ends; its status and the tasks relayed.
async fn relay(
    watch: &Watch,
    sfn: &StepFunctionsOrchestrator,
    arn: &str,
    deadline: Instant,
) -> (String, Vec<String>) {
    let mut seen = HashSet::new();
    let mut relayed = Vec::new();
    loop {
        for task in moto::new_tasks(sfn.client(), arn, &mut seen).await {
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
        let status = moto::status(sfn.client(), arn).await;
        if status != "RUNNING" {
            return (status, relayed);
        }
        assert!(
            Instant::now() < deadline,
            "{arn} still RUNNING; relayed {relayed:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
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
        executor: Arc::new(AwsExecutor::new(
            sdk.clone(),
            store,
            jobs.path(),
            None,
            None,
        )),
        env: Arc::new(SystemEnv),
        definitions: Default::default(),
        config: RuntimeConfig {
            artifact_bucket: bucket.clone(),
            origin: Origin {
                account: ACCOUNT.into(),
                region: "us-east-1".into(),
            },
            limits: Limits::default(),
            webhook_base_url: Default::default(),
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
    // Lambda invoke actions: the dispatch function invokes through the watch, and the job function reports to
    // the api function behind the watch's function URL route.
    let port = free_port();
    let mut vars = vec![
        (
            "AWS_ENDPOINT_URL_LAMBDA",
            format!("http://127.0.0.1:{port}"),
        ),
        (
            "AWS_ENDPOINT_URL_CODEPIPELINE",
            format!("http://127.0.0.1:{port}/lambda-url/sluice-api"),
        ),
        (
            "SLUICE_ARTIFACT_ROLE_ARN",
            "arn:aws:iam::123456789012:role/sluice-artifacts".to_owned(),
        ),
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
    let watch = Watch::start_at(env_file.path(), port);

    // dispatch: relay each scheduled task's payload, token included, until the execution ends.
    let arn = sfn.execution_arn("hello", &id);
    let deadline = Instant::now() + Duration::from_secs(1200);
    let (status, relayed) = relay(&watch, &sfn, &arn, deadline).await;
    assert_eq!(status, "FAILED", "relayed {relayed:?}");
    // The action enters its stage itself, then fails (LocalSource does not run in AWS).
    assert_eq!(
        relayed[..2],
        ["run Source.Checkout", "failed Source"],
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

    // A Lambda invoke action: the dispatch function invokes the job function (tests/job-function) with
    // CodePipeline's job event; the function reads its input with the event's artifact credentials, writes its
    // output and reports PutJobSuccessResult to the api function, which completes the action's task.
    let (code, _) = watch.invoke("sluice-test-job", &json!({"warm": "up"}));
    assert_ne!(
        code, 200,
        "a non-job event is an error (and the function is built now)"
    );
    let sources = unique("sluice-fn-src");
    let s3 = aws_sdk_s3::Client::new(&sdk);
    s3.create_bucket()
        .bucket(&sources)
        .send()
        .await
        .expect("bucket");
    s3.put_object()
        .bucket(&sources)
        .key("app.zip")
        .body(zip_of(&[("hello.txt", "hello"), ("notes/b.txt", "from the source")]).into())
        .send()
        .await
        .expect("source");
    let invoke = load(
        &json!({"pipeline": {
            "name": "invoke",
            "roleArn": "arn:aws:iam::123456789012:role/sluice-pipeline-invoke",
            "pipelineType": "V2",
            "stages": [
                {"name": "Source", "actions": [{
                    "name": "Fetch",
                    "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "S3", "version": "1"},
                    "configuration": {"S3Bucket": sources, "S3ObjectKey": "app.zip", "PollForSourceChanges": "false"},
                    "outputArtifacts": [{"name": "Src"}]
                }]},
                {"name": "Invoke", "actions": [{
                    "name": "Copy",
                    "actionTypeId": {"category": "Invoke", "owner": "AWS", "provider": "Lambda", "version": "1"},
                    "configuration": {"FunctionName": "sluice-test-job", "UserParameters": "copy"},
                    "inputArtifacts": [{"name": "Src"}],
                    "outputArtifacts": [{"name": "Copied"}]
                }]}
            ]
        }})
        .to_string(),
        Syntax::Json,
        &Limits::default(),
    )
    .expect("valid")
    .pipeline;
    runtime.put_pipeline(invoke, None).await.expect("stored");
    let id = runtime
        .start_execution("invoke", StartRequest::default())
        .await
        .expect("started")
        .execution_id;
    let arn = sfn.execution_arn("invoke", &id);
    let (status, relayed) = relay(&watch, &sfn, &arn, deadline).await;
    let actions = runtime.actions(&id).await.expect("actions");
    assert_eq!(status, "SUCCEEDED", "relayed {relayed:?}: {actions:?}");
    let copy = actions.iter().find(|a| a.action == "Copy").expect("Copy");
    assert_eq!(copy.status, ActionStatus::Succeeded, "{copy:?}");
    assert_eq!(copy.output_variables["Files"], "2", "{copy:?}");
    let out = &copy.output_artifacts[0].object;
    let zipped = s3
        .get_object()
        .bucket(&out.bucket)
        .key(&out.key)
        .send()
        .await
        .expect("output artifact")
        .body
        .collect()
        .await
        .expect("body")
        .to_vec();
    assert!(unzipped(&zipped, "listing.txt").contains("notes/b.txt"));

    // cfn-resource: CloudFormation's requests, answered by a PUT to the pre-signed ResponseURL.
    let catcher = Catcher::start();
    let token = "arn:aws:lambda:us-east-1:123456789012:function:sluice-cfn-resource";
    let cfn_request = |kind: &str, physical: Option<&str>| {
        let mut r = json!({
            "RequestType": kind,
            "ServiceToken": token,
            "ResponseURL": format!("{}/cfn-response/{kind}?X-Amz-Signature=0f1e", catcher.base),
            "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/site/0c6d4ef0-b2a1-11ef-9c1e-0a1b2c3d4e5f",
            "RequestId": format!("fn-{kind}"),
            "ResourceType": "Custom::SluicePipeline",
            "LogicalResourceId": "Pipeline",
            "ResourceProperties": {
                "ServiceToken": token,
                "Name": "from-cfn",
                "RoleArn": "arn:aws:iam::123456789012:role/sluice-pipeline-site",
                "ArtifactStore": {"Type": "S3", "Location": bucket},
                "Stages": [
                    {"Name": "Source", "Actions": [{
                        "Name": "Fetch",
                        "ActionTypeId": {"Category": "Source", "Owner": "AWS", "Provider": "S3", "Version": "1"},
                        "Configuration": {"S3Bucket": sources, "S3ObjectKey": "app.zip", "PollForSourceChanges": "false"},
                        "OutputArtifacts": [{"Name": "Src"}]
                    }]},
                    {"Name": "Invoke", "Actions": [{
                        "Name": "Copy",
                        "ActionTypeId": {"Category": "Invoke", "Owner": "AWS", "Provider": "Lambda", "Version": "1"},
                        "Configuration": {"FunctionName": "sluice-test-job"},
                        "InputArtifacts": [{"Name": "Src"}]
                    }]}
                ]
            }
        });
        if let Some(p) = physical {
            r["PhysicalResourceId"] = json!(p);
        }
        r
    };
    let (code, answer) = watch.invoke("sluice-cfn-resource", &cfn_request("Create", None));
    assert_eq!(code, 200, "{answer}");
    let put = catcher
        .next(Duration::from_secs(60))
        .expect("the response was PUT");
    assert_eq!(
        (put.method.as_str(), put.target.as_str()),
        ("PUT", "/cfn-response/Create?X-Amz-Signature=0f1e")
    );
    let response: Value = serde_json::from_slice(&put.body).expect("a JSON response");
    assert_eq!(response["Status"], "SUCCESS", "{response}");
    assert_eq!(response["PhysicalResourceId"], "from-cfn");
    assert_eq!(
        response["Data"],
        json!({"Name": "from-cfn", "Version": "1"})
    );
    assert_eq!(response["RequestId"], "fn-Create");
    let stored = runtime.pipeline("from-cfn", None).await.expect("stored");
    assert_eq!(stored.definition.stages.len(), 2);

    let (code, answer) = watch.invoke(
        "sluice-cfn-resource",
        &cfn_request("Delete", Some("from-cfn")),
    );
    assert_eq!(code, 200, "{answer}");
    let put = catcher
        .next(Duration::from_secs(60))
        .expect("the response was PUT");
    let response: Value = serde_json::from_slice(&put.body).expect("a JSON response");
    assert_eq!(response["Status"], "SUCCESS", "{response}");
    assert!(runtime.pipeline("from-cfn", None).await.is_err());
    drop(watch);
}
