//! Rollback in AWS: the dispatch function's handler (`sluice_functions::dispatch::handle`, with the executor
//! its wiring gives it) runs executions on Step Functions, DynamoDB and S3 (moto), as `aws_jobs.rs` does. A
//! deploy stage with onFailure ROLLBACK fails (its bucket, a pipeline variable, does not exist); its
//! RollbackStage task, delivered twice, starts one rollback execution on Step Functions, which deploys the first
//! execution's artifact to the first execution's bucket, runs no later stage, and is recorded SUCCEEDED; the
//! recorder, given Step Functions' FAILED status change of that run, publishes SUCCEEDED as the record says.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_s3::primitives::ByteStream;
use serde_json::{json, Value};
use sluice_aws::StepFunctionsOrchestrator;
use sluice_definition::contract::TaskRequest;
use sluice_definition::{load, Limits, Syntax};
use sluice_functions::executor::AwsExecutor;
use sluice_runtime::jobs::JobListener;
use sluice_runtime::records::ExecutionStatus;
use sluice_runtime::{Runtime, StartRequest};
use sluice_tests::moto::{self, config, unique, ACCOUNT};
use sluice_tests::moto_stack::MotoStack;
use sluice_tests::{unzipped, zip_of};

const ROLE: &str = "arn:aws:iam::123456789012:role/sluice-pipeline-web";

struct Stack {
    runtime: Arc<Runtime>,
    executor: Arc<AwsExecutor>,
    sfn: Arc<StepFunctionsOrchestrator>,
    s3: aws_sdk_s3::Client,
    _jobs: tempfile::TempDir,
}

/// The runtime as the dispatch function wires it, on moto (`sluice_tests::moto_stack`).
async fn stack() -> Stack {
    let parts = MotoStack::open("rollback").await;
    let jobs = tempfile::tempdir().expect("temp");
    let executor = Arc::new(AwsExecutor::new(
        parts.sdk.clone(),
        parts.store.clone(),
        jobs.path(),
        None,
        None,
    ));
    let runtime = parts.runtime(executor.clone());
    let listener: std::sync::Weak<dyn JobListener> = Arc::downgrade(&runtime) as _;
    executor.set_listener(listener);
    Stack {
        runtime,
        executor,
        sfn: parts.sfn,
        s3: parts.s3,
        _jobs: jobs,
    }
}

impl Stack {
    async fn bucket(&self, prefix: &str) -> String {
        let name = unique(prefix);
        self.s3
            .create_bucket()
            .bucket(&name)
            .send()
            .await
            .expect("bucket");
        name
    }

    async fn upload(&self, bucket: &str, key: &str, files: &[(&str, &str)]) {
        self.s3
            .put_object()
            .bucket(bucket)
            .key(key)
            .body(ByteStream::from(zip_of(files)))
            .send()
            .await
            .unwrap_or_else(|e| panic!("s3://{bucket}/{key}: {e}"));
    }

    async fn read(&self, bucket: &str, key: &str) -> Option<Vec<u8>> {
        let got = self.s3.get_object().bucket(bucket).key(key).send().await;
        Some(got.ok()?.body.collect().await.expect("body").to_vec())
    }

    /// Plays the dispatch function for the run `run` of `pipeline` until it ends, delivering each task once
    /// (and the RollbackStage task twice); its status.
    async fn dispatch(&self, pipeline: &str, run: &str) -> String {
        let arn = self.sfn.execution_arn(pipeline, run);
        let mut seen = HashSet::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            for task in moto::new_tasks(self.sfn.client(), &arn, &mut seen).await {
                let twice = matches!(task.request, TaskRequest::RollbackStage { .. });
                let payload = serde_json::to_value(&task.request).expect("payload");
                for _ in 0..if twice { 2 } else { 1 } {
                    sluice_functions::dispatch::handle(
                        &self.runtime,
                        &self.executor,
                        payload.clone(),
                    )
                    .await
                    .unwrap_or_else(|e| panic!("{}: {e}", moto::describe(&task.request)));
                }
            }
            let status = moto::status(self.sfn.client(), &arn).await;
            if status != "RUNNING" {
                return status;
            }
            assert!(Instant::now() < deadline, "{arn} still RUNNING after 60 s");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// An S3 deploy of the artifact `Src` to `#{variables.Site}`.
fn deploy(name: &str, key: &str, extract: bool) -> Value {
    json!({
        "name": name,
        "actionTypeId": {"category": "Deploy", "owner": "AWS", "provider": "S3", "version": "1"},
        "configuration": {
            "BucketName": "#{variables.Site}", "Extract": extract.to_string(), "ObjectKey": key
        },
        "inputArtifacts": [{"name": "Src"}]
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failed_deploy_rolls_back_once_to_the_last_good_artifact_on_step_functions() {
    let stack = stack().await;
    let sources = stack.bucket("sluice-src").await;
    let site = stack.bucket("sluice-site").await;
    stack
        .upload(&sources, "app.zip", &[("index.html", "v1")])
        .await;
    let name = unique("rollback");
    let doc = json!({"pipeline": {
        "name": name,
        "roleArn": ROLE,
        "pipelineType": "V2",
        "variables": [{"name": "Site", "defaultValue": site}],
        "stages": [
            {"name": "Source", "actions": [{
                "name": "Fetch",
                "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "S3", "version": "1"},
                "configuration": {"S3Bucket": sources, "S3ObjectKey": "app.zip", "PollForSourceChanges": "false"},
                "outputArtifacts": [{"name": "Src"}]
            }]},
            {"name": "Deploy", "onFailure": {"result": "ROLLBACK"},
             "actions": [deploy("Publish", "live", true)]},
            {"name": "Verify", "actions": [deploy("Keep", "kept.zip", false)]}
        ]
    }});
    let pipeline = load(&doc.to_string(), Syntax::Json, &Limits::default())
        .expect("valid")
        .pipeline;
    stack
        .runtime
        .put_pipeline(pipeline, None)
        .await
        .expect("stored");
    let good = stack
        .runtime
        .start_execution(&name, StartRequest::default())
        .await
        .expect("started")
        .execution_id;
    assert_eq!(stack.dispatch(&name, &good).await, "SUCCEEDED");
    assert_eq!(
        stack.read(&site, "live/index.html").await.as_deref(),
        Some(&b"v1"[..])
    );
    stack
        .s3
        .delete_object()
        .bucket(&site)
        .key("kept.zip")
        .send()
        .await
        .expect("delete");

    // v2 to a bucket that does not exist: Deploy fails, and is rolled back.
    stack
        .upload(&sources, "app.zip", &[("index.html", "v2")])
        .await;
    let bad = stack
        .runtime
        .start_execution(
            &name,
            StartRequest {
                variables: [("Site".to_owned(), unique("sluice-missing"))].into(),
                ..StartRequest::default()
            },
        )
        .await
        .expect("started")
        .execution_id;
    assert_eq!(stack.dispatch(&name, &bad).await, "FAILED");
    let rollbacks: Vec<_> = stack
        .runtime
        .list_executions(&name, 10)
        .await
        .expect("list")
        .into_iter()
        .filter(|e| e.rollback_metadata.is_some())
        .collect();
    assert_eq!(rollbacks.len(), 1, "one rollback: {rollbacks:?}");
    let rollback = rollbacks[0].execution_id.clone();
    assert_eq!(
        rollbacks[0]
            .rollback_metadata
            .as_ref()
            .map(|m| m.rollback_target_pipeline_execution_id.as_str()),
        Some(good.as_str())
    );

    // Its run starts at Deploy and ends at Verify's entry, which it does not run.
    assert_eq!(stack.dispatch(&name, &rollback).await, "FAILED");
    // Step Functions says FAILED (Sluice.Stopped at Verify's entry); the recorder reports what the record says.
    let (answer, published) = record_run_end(&stack, &name, &rollback).await;
    assert_eq!(
        answer["status"],
        json!(ExecutionStatus::Succeeded),
        "{answer}"
    );
    assert_eq!(
        published["status"],
        json!(ExecutionStatus::Succeeded),
        "{published}"
    );
    assert!(
        published["statusSummary"]
            .as_str()
            .unwrap_or_default()
            .contains("rolled back"),
        "{published}"
    );
    let swept = sluice_functions::recorder::sweep(&stack.runtime, "Sluice/test", 0)
        .await
        .expect("sweep");
    assert!(
        swept["closed"]
            .as_array()
            .expect("closed")
            .contains(&json!(bad)),
        "{swept}"
    );
    let done = stack.runtime.execution(&rollback).await.expect("record");
    assert_eq!(done.status, ExecutionStatus::Succeeded, "{done:?}");
    let failed = stack.runtime.execution(&bad).await.expect("record");
    assert_eq!(failed.status, ExecutionStatus::Failed, "{failed:?}");
    // v1 again, in the first execution's bucket; Verify's copy was not made again.
    assert_eq!(
        stack.read(&site, "live/index.html").await.as_deref(),
        Some(&b"v1"[..])
    );
    assert_eq!(stack.read(&site, "kept.zip").await, None);
    let actions = stack.runtime.actions(&rollback).await.expect("actions");
    assert_eq!(
        actions
            .iter()
            .map(|a| a.action.as_str())
            .collect::<Vec<_>>(),
        ["Publish"]
    );
    let deployed = stack
        .read(
            &actions[0].input_artifacts[0].object.bucket,
            &actions[0].input_artifacts[0].object.key,
        )
        .await
        .expect("the input artifact");
    assert_eq!(unzipped(&deployed, "index.html"), "v1");
}

/// Plays EventBridge for the recorder function: the `Step Functions Execution Status Change` of the run `run`
/// as Step Functions ended it (FAILED with `Sluice.Stopped`). The recorder's answer, and the result it
/// published on its topic (read from an SQS queue subscribed to it).
async fn record_run_end(stack: &Stack, pipeline: &str, run: &str) -> (Value, Value) {
    use sluice_functions::config::{Common, RecorderConfig};
    let sdk = config().await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let (topic, queue) = moto::topic_to_queue(&sdk, "sluice-results").await;
    let execution_arn = stack.sfn.execution_arn(pipeline, run);
    // arn:aws:states:<region>:<account>:execution:<state machine>:<run>
    let parts: Vec<&str> = execution_arn.split(':').collect();
    let machine = parts[6];
    let recorder = sluice_functions::recorder::Recorder {
        runtime: stack.runtime.clone(),
        config: RecorderConfig {
            common: Common {
                table: "unused".into(),
                event_bus: "default".into(),
                state_machine_prefix: MotoStack::prefix("rollback"),
                metrics_namespace: "Sluice/test".into(),
            },
            notification_topic_arn: topic,
            account: ACCOUNT.into(),
        },
        sns: aws_sdk_sns::Client::new(&sdk),
    };
    let event = json!({
        "source": "aws.states",
        "detail-type": "Step Functions Execution Status Change",
        "detail": {
            "executionArn": execution_arn,
            "stateMachineArn": format!("arn:aws:states:us-east-1:{ACCOUNT}:stateMachine:{machine}"),
            "name": run,
            "status": "FAILED",
            "error": "Sluice.Stopped",
            "cause": "the rollback of stage Deploy is done",
        }
    });
    let answer = recorder.handle(event).await.expect("recorded");
    let bodies = moto::receive(&sqs, &queue, 1).await;
    let published = serde_json::from_str(bodies.first().expect("a published result"))
        .expect("the result is JSON");
    (answer, published)
}
