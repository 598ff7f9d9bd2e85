//! The LambdaInvoke rule end to end on this machine, as `lambda_actions.rs` runs Lambda invoke actions:
//! `sluice serve` invokes a real function binary (`tests/job-function`, served by `cargo lambda watch` behind
//! the Lambda Invoke API) with CodePipeline's job event for the rule, and the function reports the rule's result
//! through the CodePipeline API at `sluice serve` (PutJobSuccessResult / PutJobFailureResult). A function that
//! reports success lets the stage through (after a continuation, invoked again with its token); one that
//! reports failure fails the rule with its message, and the stage.
//!
//! Needs moto (`AWS_ENDPOINT_URL`) and `.venv-lambda` (infra/cargo-lambda.sh); scripts/test.sh sees to both.

use serde_json::{json, Value};
use sluice_tests::moto::{config, unique};
use sluice_tests::served::Server;
use sluice_tests::watch::{free_port, Watch};

const FUNCTION: &str = "sluice-test-job";

/// Source, then Deploy (a Commands action) whose onSuccess condition is a LambdaInvoke rule of the job function
/// with `mode` as its UserParameters.
fn definition(name: &str, src: &str, store: &str, mode: &str) -> Value {
    json!({"pipeline": {
        "name": name,
        "roleArn": "arn:aws:iam::123456789012:role/sluice-test",
        "pipelineType": "V2",
        "artifactStore": {"type": "S3", "location": store},
        "stages": [
            {"name": "Source", "actions": [{
                "name": "Src",
                "actionTypeId": {"category": "Source", "owner": "ThirdParty", "provider": "LocalSource", "version": "1"},
                "configuration": {"Path": src},
                "outputArtifacts": [{"name": "Src"}]
            }]},
            {"name": "Deploy",
             "onSuccess": {"conditions": [{"result": "FAIL", "rules": [{
                "name": "Verdict",
                "ruleTypeId": {"category": "Rule", "owner": "AWS", "provider": "LambdaInvoke", "version": "1"},
                "configuration": {"FunctionName": FUNCTION, "UserParameters": mode}
             }]}]},
             "actions": [{
                "name": "Ship",
                "actionTypeId": {"category": "Compute", "owner": "AWS", "provider": "Commands", "version": "1"},
                "commands": ["cat hello.txt"],
                "inputArtifacts": [{"name": "Src"}]
            }]}
        ]
    }})
}

/// The rule's execution detail of execution `id`, as ListRuleExecutions answers it.
fn verdict(server: &Server, pipeline: &str, id: &str) -> Value {
    let listed = server.ok(
        "ListRuleExecutions",
        json!({"pipelineName": pipeline, "filter": {"pipelineExecutionId": id}}),
    );
    let details = listed["ruleExecutionDetails"].as_array().expect("details");
    assert_eq!(details.len(), 1, "{listed}");
    details[0].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lambda_invoke_rules_run_a_real_function_that_reports_the_verdict() {
    let sdk = config().await;
    let store = unique("sluice-lambda-rules");
    aws_sdk_s3::Client::new(&sdk)
        .create_bucket()
        .bucket(&store)
        .send()
        .await
        .expect("bucket");
    let dir = tempfile::tempdir().expect("temp");
    let src = dir.path().join("src");
    std::fs::create_dir_all(&src).expect("src");
    std::fs::write(src.join("hello.txt"), "hello").expect("file");

    let watch_port = free_port();
    std::env::set_var(
        "AWS_ENDPOINT_URL_LAMBDA",
        format!("http://127.0.0.1:{watch_port}"),
    );
    let server = Server::start(&dir.path().join("server"));
    let env_file = dir.path().join("function.env");
    let mut vars = vec![format!("AWS_ENDPOINT_URL_CODEPIPELINE={}", server.url())];
    for name in [
        "AWS_ENDPOINT_URL",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_REGION",
    ] {
        vars.push(format!(
            "{name}={}",
            std::env::var(name).unwrap_or_else(|_| "test".into())
        ));
    }
    std::fs::write(&env_file, vars.join("\n") + "\n").expect("env file");
    let watch = Watch::start_at(&env_file, watch_port);
    // The first invocation builds the function.
    let (status, _) = watch.invoke(FUNCTION, &json!({"warm": "up"}));
    assert_ne!(status, 200, "a non-job event is an error");
    let src_path = src.to_str().expect("utf-8");

    for (mode, expected, rule_status) in [
        ("continue", "Succeeded", "Succeeded"),
        ("fail", "Failed", "Failed"),
    ] {
        let name = unique("lambda-rule");
        server.ok("CreatePipeline", definition(&name, src_path, &store, mode));
        let id = server.ok("StartPipelineExecution", json!({"name": name}))["pipelineExecutionId"]
            .as_str()
            .expect("id")
            .to_owned();
        let status = server.wait_done(&name, &id);
        let detail = verdict(&server, &name, &id);
        assert_eq!(status, expected, "{mode}: {detail}\n{}", server.output());
        assert_eq!(detail["status"], rule_status, "{mode}: {detail}");
        assert_eq!(detail["input"]["ruleTypeId"]["provider"], "LambdaInvoke");
        assert_eq!(
            detail["input"]["resolvedConfiguration"]["FunctionName"],
            FUNCTION
        );
        if mode == "fail" {
            let said = detail.to_string();
            assert!(said.contains("the function says no"), "{detail}");
        }
    }
}
