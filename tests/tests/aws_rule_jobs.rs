//! Stage conditions' rules in AWS: the dispatch function's handler (`sluice_functions::dispatch::handle`, with
//! the `AwsExecutor`) runs executions on Step Functions, DynamoDB and S3 (moto), as `aws_jobs.rs` does.
//!
//! - A Commands rule runs as a build of the Commands project; the suite plays CodeBuild (its state-change
//!   event, found by the build's `SLUICE_JOB_ID`), and the event decides the rule and the stage.
//! - A DeploymentWindow that is closed keeps a wait in the store (`AWS_WAIT#`); the one-minute `check-waiting`
//!   schedule looks at it once due, and the stage is entered when the window has opened.
//! - A CloudWatchAlarm rule with WaitTime watches its alarm (PutMetricAlarm, SetAlarmState on moto): it waits
//!   while the alarm is OK and fails the stage when the alarm goes to ALARM within the wait.
//!
//! Needs moto (`AWS_ENDPOINT_URL`), as every `aws_*` suite.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_s3::primitives::ByteStream;
use serde_json::{json, Value};
use sluice_aws::StepFunctionsOrchestrator;
use sluice_definition::{load, Limits, Syntax};
use sluice_functions::executor::AwsExecutor;
use sluice_runtime::jobs::{Executor, JobListener};
use sluice_runtime::rule_executions::{RuleExecutionRecord, RuleStatus};
use sluice_runtime::{Runtime, StartRequest};
use sluice_tests::moto::{self, unique, ACCOUNT};
use sluice_tests::moto_stack::MotoStack;
use sluice_tests::zip_of;

struct Stack {
    runtime: Arc<Runtime>,
    executor: Arc<AwsExecutor>,
    sfn: Arc<StepFunctionsOrchestrator>,
    s3: aws_sdk_s3::Client,
    sdk: aws_config::SdkConfig,
    _jobs: tempfile::TempDir,
}

async fn stack(commands_project: Option<&str>) -> Stack {
    let parts = MotoStack::open("rulejobs").await;
    let jobs = tempfile::tempdir().expect("temp");
    let executor = Arc::new(AwsExecutor::new(
        parts.sdk.clone(),
        parts.store.clone(),
        jobs.path(),
        commands_project.map(str::to_owned),
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
        sdk: parts.sdk,
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

    /// A pipeline: Source (the zip `app.zip` of a new bucket holding `index.html`), then Deploy (an S3 deploy
    /// to a new bucket) with `conditions` merged into its declaration. Stored and started: the execution id.
    async fn start(&self, name: &str, conditions: Value) -> String {
        let sources = self.bucket("sluice-src").await;
        let site = self.bucket("sluice-site").await;
        self.s3
            .put_object()
            .bucket(&sources)
            .key("app.zip")
            .body(ByteStream::from(zip_of(&[("index.html", "v1")])))
            .send()
            .await
            .expect("upload");
        let mut deploy = json!({"name": "Deploy", "actions": [{
            "name": "Publish",
            "actionTypeId": {"category": "Deploy", "owner": "AWS", "provider": "S3", "version": "1"},
            "configuration": {"BucketName": site, "Extract": "true"},
            "inputArtifacts": [{"name": "Src"}]
        }]});
        for (k, v) in conditions.as_object().expect("conditions") {
            deploy[k] = v.clone();
        }
        let doc = json!({"pipeline": {
            "name": name,
            "roleArn": "arn:aws:iam::123456789012:role/sluice-pipeline-rules",
            "pipelineType": "V2",
            "stages": [
                {"name": "Source", "actions": [{
                    "name": "Fetch",
                    "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "S3", "version": "1"},
                    "configuration": {"S3Bucket": sources, "S3ObjectKey": "app.zip", "PollForSourceChanges": "false"},
                    "outputArtifacts": [{"name": "Src"}]
                }]},
                deploy
            ]
        }});
        let pipeline = load(&doc.to_string(), Syntax::Json, &Limits::default())
            .unwrap_or_else(|e| panic!("valid: {e}"))
            .pipeline;
        self.runtime
            .put_pipeline(pipeline, None)
            .await
            .expect("stored");
        self.runtime
            .start_execution(name, StartRequest::default())
            .await
            .expect("started")
            .execution_id
    }

    /// Plays the dispatch function (each new task once) until `done` holds of the execution's rule executions
    /// ("RUNNING") or its run ends (its status).
    async fn dispatch(
        &self,
        pipeline: &str,
        id: &str,
        seen: &mut HashSet<i64>,
        mut done: impl FnMut(&[RuleExecutionRecord]) -> bool,
    ) -> String {
        let arn = self.sfn.execution_arn(pipeline, id);
        let deadline = Instant::now() + Duration::from_secs(150);
        loop {
            for task in moto::new_tasks(self.sfn.client(), &arn, seen).await {
                let payload = serde_json::to_value(&task.request).expect("payload");
                sluice_functions::dispatch::handle(&self.runtime, &self.executor, payload)
                    .await
                    .unwrap_or_else(|e| panic!("{}: {e}", moto::describe(&task.request)));
            }
            if done(&self.rules(id).await) {
                return "RUNNING".into();
            }
            let status = moto::status(self.sfn.client(), &arn).await;
            if status != "RUNNING" {
                return status;
            }
            assert!(Instant::now() < deadline, "{arn} still RUNNING");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn rules(&self, id: &str) -> Vec<RuleExecutionRecord> {
        self.runtime.rule_executions(id).await.expect("rules")
    }

    /// The one-minute schedule's event, as EventBridge delivers it: how many waits it looked at.
    async fn check_waiting(&self) -> u64 {
        let answer = sluice_functions::dispatch::handle(
            &self.runtime,
            &self.executor,
            json!({"sluice": "check-waiting"}),
        )
        .await
        .expect("check-waiting");
        answer["lookedAt"].as_u64().expect("a count")
    }

    /// Plays the schedule and the dispatch function until the execution's run ends: its status.
    async fn until_done(&self, pipeline: &str, id: &str, seen: &mut HashSet<i64>) -> String {
        let deadline = Instant::now() + Duration::from_secs(180);
        loop {
            self.check_waiting().await;
            let status = self
                .dispatch(pipeline, id, seen, |rules| {
                    rules.iter().all(|r| r.status == RuleStatus::InProgress)
                })
                .await;
            if status != "RUNNING" {
                return status;
            }
            assert!(Instant::now() < deadline, "{id} never ended");
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}

fn unix_seconds() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

async fn project(sdk: &aws_config::SdkConfig, name: &str) {
    sluice_tests::moto::codebuild_project(sdk, name).await;
}

/// The builds of `project` so far, oldest first, with the value of their `SLUICE_JOB_ID`.
async fn builds(sdk: &aws_config::SdkConfig, project: &str) -> Vec<(String, String)> {
    let codebuild = aws_sdk_codebuild::Client::new(sdk);
    let ids = codebuild
        .list_builds_for_project()
        .project_name(project)
        .send()
        .await
        .expect("list builds")
        .ids()
        .to_vec();
    if ids.is_empty() {
        return Vec::new();
    }
    let got = codebuild
        .batch_get_builds()
        .set_ids(Some(ids))
        .send()
        .await
        .expect("get builds");
    got.builds()
        .iter()
        .map(|b| {
            let job = b
                .environment()
                .map(|e| e.environment_variables())
                .unwrap_or_default()
                .iter()
                .find(|v| v.name() == "SLUICE_JOB_ID")
                .map(|v| v.value().to_owned())
                .unwrap_or_default();
            (b.arn().unwrap_or_default().to_owned(), job)
        })
        .collect()
}

/// CodeBuild's "Build State Change" event for a build of Sluice's job `job_id`.
fn build_event(build_arn: &str, project: &str, status: &str, job_id: &str) -> Value {
    json!({
        "version": "0",
        "id": "5d1c0a8e-0000-4000-8000-00000000b12e",
        "detail-type": "CodeBuild Build State Change",
        "source": "aws.codebuild",
        "account": ACCOUNT,
        "time": "2026-12-06T10:00:00Z",
        "region": "us-east-1",
        "resources": [build_arn],
        "detail": {
            "build-status": status,
            "project-name": project,
            "build-id": build_arn,
            "current-phase": "COMPLETED",
            "current-phase-context": "[: ]",
            "version": "1",
            "additional-information": {
                "build-complete": true,
                "environment": {
                    "image": "aws/codebuild/standard:7.0",
                    "type": "LINUX_CONTAINER",
                    "environment-variables": [
                        {"name": "SLUICE_JOB_ID", "value": job_id, "type": "PLAINTEXT"}
                    ]
                },
                "phases": [
                    {"phase-type": "SUBMITTED", "phase-status": "SUCCEEDED"},
                    {"phase-type": "BUILD", "phase-status": if status == "SUCCEEDED" { "SUCCEEDED" } else { "FAILED" },
                     "phase-context": ["COMMAND_EXECUTION_ERROR: Error while executing command: test -f index.html. Reason: exit status 1"]},
                    {"phase-type": "COMPLETED"}
                ]
            }
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_commands_rule_runs_as_a_build_whose_event_decides_the_stage() {
    let commands = unique("sluice-rule-commands");
    let stack = stack(Some(&commands)).await;
    project(&stack.sdk, &commands).await;
    let smoke = json!({"onSuccess": {"conditions": [{"result": "FAIL", "rules": [{
        "name": "Smoke",
        "ruleTypeId": {"category": "Rule", "owner": "AWS", "provider": "Commands", "version": "1"},
        "commands": ["test -f index.html"],
        "inputArtifacts": [{"name": "Src"}]
    }]}]}});
    let mut known_builds = HashSet::new();
    for (build_status, expected) in [("SUCCEEDED", "SUCCEEDED"), ("FAILED", "FAILED")] {
        let name = unique("smoke");
        let id = stack.start(&name, smoke.clone()).await;
        let mut seen = HashSet::new();
        let status = stack
            .dispatch(&name, &id, &mut seen, |rules| {
                rules
                    .iter()
                    .any(|r| r.status == RuleStatus::InProgress && r.check == 1)
            })
            .await;
        assert_eq!(status, "RUNNING");
        let rule = stack.rules(&id).await.remove(0);
        // The rule's build (StartBuild may follow the rule's record by a moment): the project's new build
        // (moto does not answer a build's environment overrides, so its SLUICE_JOB_ID is not compared).
        let started = Instant::now();
        let build = loop {
            let fresh: Vec<(String, String)> = builds(&stack.sdk, &commands)
                .await
                .into_iter()
                .filter(|(arn, _)| !known_builds.contains(arn))
                .collect();
            if let [b] = fresh.as_slice() {
                assert!(b.1.is_empty() || b.1 == rule.job_id(), "{b:?}");
                break b.clone();
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "no one new build of {}: {fresh:?}",
                rule.job_id()
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        };
        known_builds.insert(build.0.clone());
        let event = build_event(&build.0, &commands, build_status, &rule.job_id());
        sluice_functions::dispatch::handle(&stack.runtime, &stack.executor, event)
            .await
            .expect("build event");
        let status = stack.dispatch(&name, &id, &mut seen, |_| false).await;
        assert_eq!(status, expected, "{:?}", stack.rules(&id).await);
        let rule = stack.rules(&id).await.remove(0);
        if expected == "SUCCEEDED" {
            assert_eq!(rule.status, RuleStatus::Succeeded, "{rule:?}");
        } else {
            assert_eq!(rule.status, RuleStatus::Failed, "{rule:?}");
            let error = rule.error.clone().unwrap_or_default();
            assert!(error.contains("test -f index.html"), "{error}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_closed_deployment_window_waits_in_the_store_until_the_schedule_finds_it_open() {
    let stack = stack(None).await;
    // Open only during the next minute (the one after, when this one is nearly over), in UTC.
    let now_s = unix_seconds();
    let opens_s = (now_s / 60 + if now_s % 60 < 50 { 1 } else { 2 }) * 60;
    let cron = format!("* {} {} ? * *", (opens_s / 60) % 60, (opens_s / 3600) % 24);
    let window = json!({"beforeEntry": {"conditions": [{"result": "FAIL", "rules": [{
        "name": "Window",
        "ruleTypeId": {"category": "Rule", "owner": "AWS", "provider": "DeploymentWindow", "version": "1"},
        "configuration": {"Cron": cron, "TimeZone": "UTC"}
    }]}]}});
    let name = unique("window");
    let id = stack.start(&name, window).await;
    let mut seen = HashSet::new();
    let status = stack
        .dispatch(&name, &id, &mut seen, |rules| {
            rules.iter().any(|r| r.check >= 1)
        })
        .await;
    assert_eq!(status, "RUNNING");
    let rule = stack.rules(&id).await.remove(0);
    assert_eq!(rule.status, RuleStatus::InProgress, "{rule:?}");
    // The window's wait is kept in the store, not in this process: the schedule finds nothing due yet.
    assert!(stack.executor.is_running(&rule.job_id()).await);
    assert_eq!(stack.check_waiting().await, 0);
    assert!(stack
        .runtime
        .stages(&id)
        .await
        .expect("stages")
        .iter()
        .all(|s| s.stage != "Deploy"));

    let status = stack.until_done(&name, &id, &mut seen).await;
    assert_eq!(status, "SUCCEEDED");
    let entered_s = unix_seconds();
    assert!(
        entered_s >= opens_s,
        "entered at {entered_s}, before the window opened at {opens_s} ({cron})"
    );
    let rule = stack.rules(&id).await.remove(0);
    assert_eq!(rule.status, RuleStatus::Succeeded, "{rule:?}");
    assert!(!stack.executor.is_running(&rule.job_id()).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cloudwatch_alarm_rule_fails_the_stage_when_its_alarm_fires_within_the_wait() {
    let stack = stack(None).await;
    let cloudwatch = aws_sdk_cloudwatch::Client::new(&stack.sdk);
    let alarm = unique("sluice-errors");
    cloudwatch
        .put_metric_alarm()
        .alarm_name(&alarm)
        .namespace("Sluice/Tests")
        .metric_name("Errors")
        .statistic(aws_sdk_cloudwatch::types::Statistic::Sum)
        .period(60)
        .evaluation_periods(1)
        .threshold(1.0)
        .comparison_operator(
            aws_sdk_cloudwatch::types::ComparisonOperator::GreaterThanOrEqualToThreshold,
        )
        .send()
        .await
        .expect("alarm");
    let set = async |state: aws_sdk_cloudwatch::types::StateValue| {
        cloudwatch
            .set_alarm_state()
            .alarm_name(&alarm)
            .state_value(state)
            .state_reason("set by the test")
            .send()
            .await
            .expect("SetAlarmState");
    };
    set(aws_sdk_cloudwatch::types::StateValue::Ok).await;
    let watched = json!({"onSuccess": {"conditions": [{"result": "FAIL", "rules": [{
        "name": "Errors",
        "ruleTypeId": {"category": "Rule", "owner": "AWS", "provider": "CloudWatchAlarm", "version": "1"},
        "configuration": {"AlarmName": alarm, "WaitTime": "5"}
    }]}]}});
    let name = unique("watched");
    let id = stack.start(&name, watched).await;
    let mut seen = HashSet::new();
    let status = stack
        .dispatch(&name, &id, &mut seen, |rules| {
            rules.iter().any(|r| r.check >= 1)
        })
        .await;
    assert_eq!(status, "RUNNING");
    let rule = stack.rules(&id).await.remove(0);
    assert_eq!(rule.status, RuleStatus::InProgress, "{rule:?}");
    // Looked at again once due, the alarm still OK: the rule keeps watching.
    let started = Instant::now();
    while stack.check_waiting().await == 0 {
        assert!(started.elapsed() < Duration::from_secs(40), "never due");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let rule = stack.rules(&id).await.remove(0);
    assert_eq!(rule.status, RuleStatus::InProgress, "{rule:?}");
    assert!(stack.executor.is_running(&rule.job_id()).await);

    // The alarm fires within the five minutes: the next look fails the rule and the stage.
    set(aws_sdk_cloudwatch::types::StateValue::Alarm).await;
    let status = stack.until_done(&name, &id, &mut seen).await;
    assert_eq!(status, "FAILED");
    assert!(started.elapsed() < Duration::from_secs(120));
    let rule = stack.rules(&id).await.remove(0);
    assert_eq!(rule.status, RuleStatus::Failed, "{rule:?}");
    let error = rule.error.clone().unwrap_or_default();
    assert!(error.contains(&alarm) && error.contains("ALARM"), "{error}");
}
