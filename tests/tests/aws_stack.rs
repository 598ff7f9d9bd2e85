//! The AWS side of the orchestrator and event ports against an AWS endpoint (moto under `make test`):
//! `StepFunctionsOrchestrator` publishes compiled machines as state machine versions and runs executions whose
//! tasks this suite completes in the dispatch function's place, reading each task's payload and token from the
//! execution history; `AwsNotifier` puts events on an EventBridge bus and approval notifications on an SNS
//! topic, both read back through SQS.
//!
//! Every test makes its own resources (unique names), so runs never see each other's.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sluice_aws::{ApprovalNotices, AwsNotifier, StartTarget, StepFunctionsOrchestrator};
use sluice_definition::compile::{compile, substitute};
use sluice_definition::contract::{error, ExecutionInput, TaskRequest, DISPATCH_FUNCTION};
use sluice_definition::{load, Limits, Syntax};
use sluice_runtime::events::Origin;
use sluice_runtime::links;
use sluice_runtime::notifications::{self, ApprovalLinks};
use sluice_runtime::ports::{EventSink, Orchestrator, OrchestratorError};
use sluice_runtime::records::{ApprovalRecord, ApprovalStatus};
use sluice_tests::moto::{self, config, unique, ACCOUNT};

use sluice_tests::moto::DISPATCH_ARN;

/// A two-stage pipeline; `third` adds a Deploy stage (the second version).
fn pipeline(name: &str, third: bool) -> Value {
    let mut text = format!(
        r#"
name: {name}
pipelineType: V2
stages:
  - name: Source
    actions:
      - name: Checkout
        actionTypeId: {{category: Source, owner: ThirdParty, provider: LocalSource, version: "1"}}
        configuration: {{Path: .}}
        outputArtifacts: [{{name: Src}}]
  - name: Build
    actions:
      - name: Greet
        actionTypeId: {{category: Compute, owner: AWS, provider: Commands, version: "1"}}
        commands: [echo hello]
        inputArtifacts: [{{name: Src}}]
"#
    );
    if third {
        text.push_str(
            r#"  - name: Deploy
    actions:
      - name: Ship
        actionTypeId: {category: Compute, owner: AWS, provider: Commands, version: "1"}
        commands: [echo ship]
        inputArtifacts: [{name: Src}]
"#,
        );
    }
    let doc = load(&text, Syntax::Yaml, &Limits::default()).unwrap_or_else(|e| panic!("{e}"));
    let values = [(DISPATCH_FUNCTION.to_owned(), DISPATCH_ARN.to_owned())].into();
    substitute(&compile(&doc.pipeline), &values).expect("substitute")
}

async fn orchestrator(start_target: StartTarget) -> StepFunctionsOrchestrator {
    moto::enable_step_functions_execution();
    // The default prefix: this suite's machine names are unique by themselves.
    moto::orchestrator(&config().await, "sluice-", start_target)
}

fn input(execution_id: &str) -> Value {
    serde_json::to_value(ExecutionInput {
        execution_id: execution_id.to_owned(),
        start_at: "Source".to_owned(),
    })
    .expect("input")
}

/// How the test answers tasks in the dispatch function's place.
#[derive(Clone, Copy, PartialEq)]
enum Answer {
    /// Every task succeeds.
    Succeed,
    /// The Build stage's action fails.
    FailBuild,
    /// Every action that enters its stage itself cannot at once the first time: its stage's gate decides.
    GateFirst,
    /// The run starts at Deploy (`startAt`): the first stage's entry says so.
    StartsLater,
}

/// Completes every task of an execution as `answer` says until it ends; returns the tasks in the order they were
/// scheduled and the final status.
async fn drive(
    sfn: &StepFunctionsOrchestrator,
    arn: &str,
    answer: Answer,
) -> (Vec<String>, String, Vec<String>) {
    let mut seen = HashSet::new();
    let mut order = Vec::new();
    let mut tokens = Vec::new();
    let mut gated = HashSet::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        for task in moto::new_tasks(sfn.client(), arn, &mut seen).await {
            order.push(moto::describe(&task.request));
            let token = moto::token(&task.request).to_owned();
            tokens.push(token.clone());
            let outcome = match &task.request {
                TaskRequest::EnterStage { .. } => {
                    sfn.send_task_success(&token, json!({"attempt": 1, "skip": false}))
                        .await
                }
                TaskRequest::RunAction { stage, .. }
                    if answer == Answer::FailBuild && stage == "Build" =>
                {
                    sfn.send_task_failure(&token, error::ACTION_FAILED, "exit status 1")
                        .await
                }
                TaskRequest::RunAction {
                    stage, enter: true, ..
                } if answer == Answer::GateFirst && gated.insert(stage.clone()) => {
                    sfn.send_task_failure(&token, error::GATE, "held").await
                }
                TaskRequest::RunAction {
                    stage, enter: true, ..
                } if answer == Answer::StartsLater && stage == "Source" => {
                    sfn.send_task_failure(&token, error::STARTS_LATER, "starts at Deploy")
                        .await
                }
                // An action's answer is the entry gate's (a task that entered its stage keeps it at $.gate).
                TaskRequest::RunAction { .. } => {
                    sfn.send_task_success(&token, json!({"attempt": 1, "skip": false}))
                        .await
                }
                TaskRequest::StageFailed { error: e, .. } => {
                    assert_eq!(
                        e.error,
                        error::ACTION_FAILED,
                        "the Catch passes the error on"
                    );
                    sfn.send_task_success(&token, json!({"decision": "FAIL"}))
                        .await
                }
                _ => sfn.send_task_success(&token, json!({})).await,
            };
            outcome.unwrap_or_else(|e| {
                panic!("completing {}: {e}", order.last().unwrap_or(&String::new()))
            });
        }
        let status = moto::status(sfn.client(), arn).await;
        if status != "RUNNING" {
            return (order, status, tokens);
        }
        assert!(
            Instant::now() < deadline,
            "{arn} still RUNNING after 60 s; tasks so far: {order:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits for an execution's first scheduled task.
async fn first_task(sfn: &StepFunctionsOrchestrator, arn: &str) -> TaskRequest {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(task) = moto::new_tasks(sfn.client(), arn, &mut HashSet::new())
            .await
            .into_iter()
            .next()
        {
            return task.request;
        }
        assert!(Instant::now() < deadline, "{arn} scheduled no task in 30 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipeline_versions_become_state_machine_versions_named_by_aliases() {
    let sfn = orchestrator(StartTarget::CheckedLatest).await;
    let name = unique("versions");
    let (v1, v2) = (pipeline(&name, false), pipeline(&name, true));
    sfn.publish(&name, 1, &v1).await.expect("publish v1");
    sfn.publish(&name, 1, &v1)
        .await
        .expect("publishing again is harmless");
    sfn.publish(&name, 2, &v2).await.expect("publish v2");

    let arn1 = sfn
        .version_arn(&name, 1)
        .await
        .expect("read")
        .expect("v1 published");
    let arn2 = sfn
        .version_arn(&name, 2)
        .await
        .expect("read")
        .expect("v2 published");
    assert_ne!(arn1, arn2);
    assert!(arn1.starts_with(&sfn.state_machine_arn(&name)), "{arn1}");
    assert_eq!(sfn.version_arn(&name, 3).await.expect("read"), None);
    for (arn, machine) in [(&arn1, &v1), (&arn2, &v2)] {
        let described = sfn
            .client()
            .describe_state_machine()
            .state_machine_arn(arn)
            .send()
            .await
            .expect("describe version");
        let definition: Value = serde_json::from_str(described.definition()).expect("json");
        assert_eq!(
            &definition, machine,
            "{arn} keeps its pipeline version's machine"
        );
    }
    // A fresh orchestrator (another Lambda) finds the mapping in Step Functions, not in its memory.
    let other = orchestrator(StartTarget::CheckedLatest).await;
    assert_eq!(other.version_arn(&name, 1).await.expect("read"), Some(arn1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_execution_whose_tasks_all_succeed_ends_succeeded() {
    let sfn = orchestrator(StartTarget::CheckedLatest).await;
    let name = unique("succeeds");
    sfn.publish(&name, 1, &pipeline(&name, false))
        .await
        .expect("publish v1");
    sfn.publish(&name, 2, &pipeline(&name, true))
        .await
        .expect("publish v2");

    sfn.start_execution(&name, 2, "run-1", input("run-1"))
        .await
        .expect("start");
    sfn.start_execution(&name, 2, "run-1", input("run-1"))
        .await
        .expect("the same start again is success");
    let other_input = sfn.start_execution(&name, 2, "run-1", input("other")).await;
    assert!(
        matches!(other_input, Err(OrchestratorError::ExecutionExists(ref n)) if n == "run-1"),
        "{other_input:?}"
    );

    let arn = sfn.execution_arn(&name, "run-1");
    let (order, status, tokens) = drive(&sfn, &arn, Answer::Succeed).await;
    // Each action enters and leaves its stage itself; the last ends the run.
    assert_eq!(
        order,
        ["run Source.Checkout", "run Build.Greet", "run Deploy.Ship"],
        "version 2's three stages, in order"
    );
    assert_eq!(status, "SUCCEEDED");

    // A finished task's token is closed, whichever way it is completed.
    let again = sfn.send_task_success(&tokens[0], json!({})).await;
    assert!(
        matches!(again, Err(OrchestratorError::TaskNotOpen(_))),
        "{again:?}"
    );
    // (Only SendTaskSuccess is checked: moto answers SendTaskFailure and SendTaskHeartbeat on closed tokens
    // with success. The three share their error mapping.)
    // A finished execution's name cannot be started again with the same input either: that is a new run,
    // which the runtime names differently (`<id>.retry-N`).
    let closed = sfn.start_execution(&name, 2, "run-1", input("run-1")).await;
    assert!(
        closed.is_ok() || matches!(closed, Err(OrchestratorError::ExecutionExists(_))),
        "{closed:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_action_fails_its_stage_and_the_execution() {
    let sfn = orchestrator(StartTarget::CheckedLatest).await;
    let name = unique("fails");
    sfn.publish(&name, 1, &pipeline(&name, true))
        .await
        .expect("publish");
    sfn.start_execution(&name, 1, "run-f", input("run-f"))
        .await
        .expect("start");
    let (order, status, _) =
        drive(&sfn, &sfn.execution_arn(&name, "run-f"), Answer::FailBuild).await;
    assert_eq!(
        order,
        ["run Source.Checkout", "run Build.Greet", "failed Build"],
        "the failure goes through the stage's recovery task, and Deploy never starts"
    );
    assert_eq!(status, "FAILED");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_action_that_cannot_enter_at_once_passes_its_stages_gate_then_runs() {
    let sfn = orchestrator(StartTarget::CheckedLatest).await;
    let name = unique("gated");
    sfn.publish(&name, 1, &pipeline(&name, false))
        .await
        .expect("publish");
    sfn.start_execution(&name, 1, "run-g", input("run-g"))
        .await
        .expect("start");
    let (order, status, _) =
        drive(&sfn, &sfn.execution_arn(&name, "run-g"), Answer::GateFirst).await;
    assert_eq!(
        order,
        [
            "run Source.Checkout",
            "enter Source",
            "run Source.Checkout",
            "run Build.Greet",
            "enter Build",
            "run Build.Greet",
        ],
        "the gate sends the run back to the action"
    );
    assert_eq!(status, "SUCCEEDED");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_that_starts_at_a_later_stage_goes_there_from_the_first_entry() {
    let sfn = orchestrator(StartTarget::CheckedLatest).await;
    let name = unique("later");
    sfn.publish(&name, 1, &pipeline(&name, true))
        .await
        .expect("publish");
    let mut later = input("run-l");
    later["startAt"] = json!("Deploy");
    sfn.start_execution(&name, 1, "run-l", later)
        .await
        .expect("start");
    let (order, status, _) = drive(
        &sfn,
        &sfn.execution_arn(&name, "run-l"),
        Answer::StartsLater,
    )
    .await;
    assert_eq!(order, ["run Source.Checkout", "run Deploy.Ship"]);
    assert_eq!(status, "SUCCEEDED");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_execution_is_aborted_and_its_tokens_close() {
    let sfn = orchestrator(StartTarget::CheckedLatest).await;
    let name = unique("stops");
    sfn.publish(&name, 1, &pipeline(&name, false))
        .await
        .expect("publish");
    sfn.start_execution(&name, 1, "run-s", input("run-s"))
        .await
        .expect("start");
    let arn = sfn.execution_arn(&name, "run-s");
    let waiting = first_task(&sfn, &arn).await;
    assert_eq!(moto::describe(&waiting), "run Source.Checkout");
    // (Heartbeats for a waiting task are not checked: moto accepts them only for tasks with HeartbeatSeconds,
    // which compiled machines do not set.)

    sfn.stop_execution(&name, "run-s", "stopped by the suite")
        .await
        .expect("stop");
    // moto marks a stopped execution ABORTED only once its waiting task returns, so the late completion comes
    // first here; Step Functions aborts at once and refuses it the same way.
    let _ = sfn
        .send_task_success(moto::token(&waiting), json!({"attempt": 1, "skip": false}))
        .await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while moto::status(sfn.client(), &arn).await == "RUNNING" {
        assert!(
            Instant::now() < deadline,
            "{arn} still RUNNING 10 s after the stop"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Step Functions ends a stopped execution ABORTED. moto (5.2) does too, except when the late completion races
    // its stop: then its interpreter raises inside the finished task ("'>' not supported between instances of
    // 'dict' and 'int'") and records FAILED with States.Runtime. Either way nothing after the stop may run.
    let ended = sfn
        .client()
        .describe_execution()
        .execution_arn(&arn)
        .send()
        .await
        .expect("describe");
    let (status, error) = (ended.status().as_str(), ended.error().unwrap_or_default());
    assert!(
        status == "ABORTED" || (status == "FAILED" && error == "States.Runtime"),
        "{arn} ended {status} {error} {:?}",
        ended.cause()
    );
    assert!(
        moto::new_tasks(sfn.client(), &arn, &mut HashSet::from([0]))
            .await
            .len()
            <= 1,
        "nothing is scheduled after the stop"
    );
    let later = sfn
        .send_task_success(moto::token(&waiting), json!({}))
        .await;
    assert!(
        matches!(later, Err(OrchestratorError::TaskNotOpen(_))),
        "{later:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn executions_start_only_the_version_they_name() {
    let sfn = orchestrator(StartTarget::CheckedLatest).await;
    let name = unique("pinned");
    sfn.publish(&name, 1, &pipeline(&name, false))
        .await
        .expect("publish v1");
    sfn.publish(&name, 2, &pipeline(&name, true))
        .await
        .expect("publish v2");
    // The emulator cannot start versions, so this suite checks versions before starting the latest machine:
    // an older version is refused rather than run on the newer machine.
    let old = sfn
        .start_execution(&name, 1, "run-old", input("run-old"))
        .await;
    let message = format!("{old:?}");
    assert!(message.contains("no longer holds"), "{message}");
    let unknown = sfn.start_execution(&name, 9, "run-9", input("run-9")).await;
    let message = format!("{unknown:?}");
    assert!(message.contains("never published"), "{message}");
    let bad = sfn.start_execution(&name, 2, "has space", input("x")).await;
    let message = format!("{bad:?}");
    assert!(message.contains("execution name"), "{message}");

    // Pinned starts (what deployments use) name the version's alias; the emulator has no alias to start, so
    // only the refusal is checked here, and that it names what was started.
    let pinned = orchestrator(StartTarget::Version).await;
    let refused = pinned
        .start_execution(&name, 1, "run-p", input("run-p"))
        .await;
    let message = format!("{refused:?}");
    assert!(message.contains(&pinned.alias_arn(&name, 1)), "{message}");
}

// ------------------------------------------------------------------------------------------------ notifier

/// The next message on a queue (waits up to 20 s).
async fn first_message(sqs: &aws_sdk_sqs::Client, url: &str) -> String {
    moto::receive(sqs, url, 1)
        .await
        .into_iter()
        .next()
        .unwrap_or_else(|| panic!("nothing arrived on {url} in 20 s"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_reach_a_rule_on_the_bus_as_codepipeline_shapes_them() {
    let sdk = config().await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let (bus, url) = moto::bus_to_queue(
        &sdk,
        "sluice-stages",
        &json!({"source": ["sluice"], "detail-type": ["CodePipeline Stage Execution State Change"]}),
    )
    .await;

    let notifier = AwsNotifier::from_sdk(&sdk, &bus, None);
    let origin = Origin {
        account: ACCOUNT.into(),
        region: "us-east-1".into(),
    };
    // One event the rule does not select, then one it does.
    let pipeline_event = origin.pipeline_event(
        "e-0".into(),
        1_700_000_000_000,
        "hello",
        "x-1",
        1,
        "STARTED",
    );
    notifier.publish(&pipeline_event).await.expect("publish");
    let stage_event = origin.stage_event(
        "e-1".into(),
        1_700_000_001_000,
        "hello",
        "x-1",
        1,
        "Build",
        "SUCCEEDED",
    );
    notifier.publish(&stage_event).await.expect("publish");

    let delivered: Value =
        serde_json::from_str(&first_message(&sqs, &url).await).expect("event json");
    assert_eq!(delivered["source"], "sluice");
    assert_eq!(delivered["detail-type"], stage_event["detail-type"]);
    assert_eq!(delivered["detail"], stage_event["detail"]);
    assert_eq!(delivered["resources"], stage_event["resources"]);
    assert_eq!(delivered["time"], "2023-11-14T22:13:21Z");

    // A bus that does not exist is an error naming it.
    let nowhere = AwsNotifier::from_sdk(&sdk, unique("no-such-bus"), None);
    let refused = nowhere.publish(&stage_event).await;
    assert!(
        refused.as_ref().is_err_and(|e| e.contains("no-such-bus")),
        "{refused:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_approvals_are_published_as_codepipelines_approval_message() {
    let sdk = config().await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let (topic, url) = moto::topic_to_queue(&sdk, "sluice-approvals").await;
    // The action's own NotificationArn: a second topic, with its own queue.
    let (own_topic, own_url) = moto::topic_to_queue(&sdk, "release-reviews").await;

    let key = b"a key of thirty-two bytes or so!".to_vec();
    let notices = ApprovalNotices {
        topic_arn: topic.clone(),
        base_url: "https://approvals.example.com".into(),
        link_key: key.clone(),
    };
    let notifier = AwsNotifier::from_sdk(&sdk, "default", Some(notices));
    let approval = ApprovalRecord {
        pipeline: "release".into(),
        execution_id: "x-1".into(),
        stage: "Approval".into(),
        action: "Review".into(),
        attempt: 1,
        token: "0f9e8d7c-6b5a-4321-8765-0123456789ab".into(),
        status: ApprovalStatus::Pending,
        summary: None,
        decided_by: None,
        custom_data: Some("Ship it?".into()),
        external_link: Some("https://example.com/diff".into()),
        notification_arn: Some(own_topic.clone()),
        requested_ms: 1_700_000_000_000,
        decided_ms: None,
        decisions: Vec::new(),
        deadline_ms: None,
        approvers: Vec::new(),
        not_approvable_by: None,
        required_approvals: 0,
    };
    let expires = links::expiry_s(approval.requested_ms, None);
    notifier
        .approval_requested(&approval, expires)
        .await
        .expect("publish approval");

    let message: Value =
        serde_json::from_str(&first_message(&sqs, &url).await).expect("message json");
    let review = format!(
        "https://approvals.example.com{}",
        links::path(&key, &approval.token, expires)
    );
    let expected = notifications::approval_message(
        &approval,
        &ApprovalLinks {
            region: "us-east-1".into(),
            console_link: "https://approvals.example.com/pipelines/release/executions/x-1".into(),
            review_link: review.clone(),
            expires_s: expires,
            approver_links: Vec::new(),
            reminder_minutes_before: None,
        },
    );
    assert_eq!(
        message, expected,
        "queues get the JSON message, not the email body"
    );
    // The action's NotificationArn gets the same message, as CodePipeline publishes it there.
    let own: Value =
        serde_json::from_str(&first_message(&sqs, &own_url).await).expect("message json");
    assert_eq!(own, expected, "the NotificationArn topic gets the message");
    let query = review.split_once('?').map(|(_, q)| q).expect("query");
    assert_eq!(
        links::verify(&key, &approval.token, query, expires - 60),
        Ok(expires),
        "the link is signed with the approval function's key"
    );

    // Without a topic, approvals notify nobody and that is not an error.
    let silent = AwsNotifier::from_sdk(&sdk, "default", None);
    silent
        .approval_requested(&approval, expires)
        .await
        .expect("nothing to do");
}
