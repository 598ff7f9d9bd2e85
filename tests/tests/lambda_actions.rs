//! The Lambda invoke action end to end on this machine: `sluice serve` invokes a real function binary
//! (`tests/job-function`, which knows nothing of Sluice, served by `cargo lambda watch` behind the Lambda Invoke
//! API) with CodePipeline's job event. The function reads its input artifact with the event's artifact
//! credentials (from STS, on moto), writes its output artifact where the event says (the pipeline's artifact store
//! bucket, on moto), and reports through the CodePipeline API at `sluice serve` (its standard
//! `AWS_ENDPOINT_URL_CODEPIPELINE`), signed with keys Sluice does not know: the job id is its credential.
//!
//! - A success brings the output artifact back into the run's own store, with the function's variables and
//!   execution details; a continuation token invokes the function again with it; a failure fails the action
//!   with the function's message.
//! - A report for a job that already has a result, or for an unknown job, is refused.
//! - `sluice run`, which has no API for a function to reach, refuses a Lambda action before it starts.
//!
//! Needs moto (`AWS_ENDPOINT_URL`) and `.venv-lambda` (infra/cargo-lambda.sh); scripts/test.sh sees to both.

use serde_json::{json, Value};
use sluice_tests::moto::{config, unique};
use sluice_tests::served::Server;
use sluice_tests::watch::{free_port, Watch};

const FUNCTION: &str = "sluice-test-job";

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
            {"name": "Invoke", "actions": [{
                "name": "Copy",
                "namespace": "Copy",
                "actionTypeId": {"category": "Invoke", "owner": "AWS", "provider": "Lambda", "version": "1"},
                "configuration": {"FunctionName": FUNCTION, "UserParameters": mode},
                "inputArtifacts": [{"name": "Src"}],
                "outputArtifacts": [{"name": "Copied"}]
            }, {
                "name": "Again",
                "namespace": "Again",
                "actionTypeId": {"category": "Invoke", "owner": "AWS", "provider": "Lambda", "version": "1"},
                "configuration": {"FunctionName": FUNCTION, "UserParameters": "continue"}
            }]},
            {"name": "Check", "actions": [{
                "name": "Look",
                "actionTypeId": {"category": "Compute", "owner": "AWS", "provider": "Commands", "version": "1"},
                "commands": [
                    "test \"#{Copy.Files}\" = 2",
                    "grep -q hello.txt listing.txt",
                    "grep -q 'from the source' notes/b.txt",
                    "test \"#{Again.Round}\" = round-2"
                ],
                "inputArtifacts": [{"name": "Copied"}]
            }]}
        ]
    }})
}

fn action<'a>(executions: &'a Value, name: &str) -> &'a Value {
    executions["actionExecutionDetails"]
        .as_array()
        .expect("details")
        .iter()
        .find(|d| d["actionName"] == name)
        .unwrap_or_else(|| panic!("no {name} in {executions}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lambda_actions_run_a_real_function_that_reports_through_the_api() {
    let sdk = config().await;
    let store = unique("sluice-lambda-store");
    aws_sdk_s3::Client::new(&sdk)
        .create_bucket()
        .bucket(&store)
        .send()
        .await
        .expect("bucket");
    let dir = tempfile::tempdir().expect("temp");
    let src = dir.path().join("src");
    std::fs::create_dir_all(src.join("notes")).expect("src");
    std::fs::write(src.join("hello.txt"), "hello").expect("file");
    std::fs::write(src.join("notes/b.txt"), "from the source").expect("file");

    // sluice serve invokes functions at the watch's port; the function reports to the server.
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
    // The first invocation builds the function; an event that is no job fails in it.
    let (status, _) = watch.invoke(FUNCTION, &json!({"warm": "up"}));
    assert_ne!(status, 200, "a non-job event is an error");

    let name = unique("lambda");
    let src_path = src.to_str().expect("utf-8");
    server.ok(
        "CreatePipeline",
        definition(&name, src_path, &store, "copy"),
    );
    let id = server.ok("StartPipelineExecution", json!({"name": name}))["pipelineExecutionId"]
        .as_str()
        .expect("id")
        .to_owned();
    let status = server.wait_done(&name, &id);
    let executions = server.ok(
        "ListActionExecutions",
        json!({"pipelineName": name, "filter": {"pipelineExecutionId": id}}),
    );
    assert_eq!(status, "Succeeded", "{executions}\n{}", server.output());
    let copy = action(&executions, "Copy");
    assert_eq!(copy["output"]["outputVariables"]["Files"], "2", "{copy}");
    let result = &copy["output"]["executionResult"];
    assert_eq!(
        result["externalExecutionSummary"], "copied 2 files",
        "{copy}"
    );
    let job_id = result["externalExecutionId"]
        .as_str()
        .expect("external id")
        .strip_prefix("copy-")
        .expect("the function's own id")
        .to_owned();
    let again = action(&executions, "Again");
    assert_eq!(
        again["output"]["outputVariables"]["Round"], "round-2",
        "{again}"
    );

    // The job has its result: another report for it, or one for a job that never was, is refused.
    let late = server.call(
        "PutJobSuccessResult",
        &json!({"jobId": job_id, "outputVariables": {"Files": "9"}}),
    );
    assert_eq!(late.status, 400, "{}", late.body);
    let unknown = server.call(
        "PutJobFailureResult",
        &json!({"jobId": "no-such-job", "failureDetails": {"type": "JobFailed", "message": "x"}}),
    );
    assert_eq!(unknown.status, 400, "{}", unknown.body);

    // A function that reports failure fails its action with its message.
    let failing = unique("lambda-fail");
    server.ok(
        "CreatePipeline",
        definition(&failing, src_path, &store, "fail"),
    );
    let id = server.ok("StartPipelineExecution", json!({"name": failing}))["pipelineExecutionId"]
        .as_str()
        .expect("id")
        .to_owned();
    assert_eq!(server.wait_done(&failing, &id), "Failed");
    let executions = server.ok(
        "ListActionExecutions",
        json!({"pipelineName": failing, "filter": {"pipelineExecutionId": id}}),
    );
    let copy = action(&executions, "Copy");
    assert_eq!(copy["status"], "Failed", "{copy}");
    let message = copy["output"]["executionResult"]["errorDetails"]["message"]
        .as_str()
        .or(copy["errorDetails"]["message"].as_str())
        .unwrap_or_default();
    assert!(message.contains("the function says no"), "{copy}");
}

#[test]
fn sluice_run_refuses_a_lambda_action_saying_where_it_runs() {
    let dir = tempfile::tempdir().expect("temp");
    std::fs::create_dir_all(dir.path().join("src")).expect("src");
    let file = dir.path().join("pipeline.json");
    std::fs::write(
        &file,
        definition("refused", "src", "sluice-lambda-store", "copy").to_string(),
    )
    .expect("definition");
    let out = sluice_tests::sluice()
        .arg("--state-dir")
        .arg(dir.path().join("state"))
        .arg("run")
        .arg(&file)
        .output()
        .expect("sluice runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("Invoke.Copy") && stderr.contains("sluice serve"),
        "{stderr}"
    );
}
