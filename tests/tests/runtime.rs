//! The runtime and the engine in process, over the real embedded adapters, with a clock the test moves:
//! what only time can show (an approval that times out), and what an approval link may act on.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use sluice_definition::{Limits, Syntax};
use sluice_runtime::approval_links::LinkRefusal;
use sluice_runtime::links::{self, LinkError};
use sluice_runtime::records::{ActionStatus, ExecutionStatus};
use sluice_runtime::StartRequest;
use tokio::sync::Notify;

use sluice_tests::embedded::{wire, TestEnv};

const PIPELINE: &str = r#"
name: timeout
pipelineType: V2
stages:
  - name: Source
    actions:
      - name: Checkout
        actionTypeId: {category: Source, owner: ThirdParty, provider: LocalSource, version: "1"}
        configuration: {Path: src}
        outputArtifacts: [{name: Src}]
  - name: Approval
    actions:
      - name: Review
        timeoutInMinutes: 5
        actionTypeId: {category: Approval, owner: AWS, provider: Manual, version: "1"}
"#;

async fn until(what: &str, mut ready: impl AsyncFnMut() -> bool) {
    for _ in 0..400 {
        if ready().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approval_nobody_answers_fails_when_its_timeout_passes() {
    let dir = tempfile::tempdir().expect("temp");
    std::fs::create_dir_all(dir.path().join("src")).expect("src");
    std::fs::write(dir.path().join("src/a.txt"), "a").expect("file");
    let env = TestEnv::at(1_800_000_000_000);
    let (runtime, engine) = wire(dir.path(), env.clone());
    let doc = sluice_definition::load(PIPELINE, Syntax::Yaml, &Limits::default()).expect("valid");
    runtime
        .put_pipeline(
            doc.pipeline,
            Some(dir.path().to_string_lossy().into_owned()),
        )
        .await
        .expect("stored");
    let stop = Arc::new(Notify::new());
    let driving = tokio::spawn(Arc::clone(&engine).run(Arc::clone(&stop)));
    let execution = runtime
        .start_execution("timeout", StartRequest::default())
        .await
        .expect("started");
    let id = execution.execution_id.clone();

    until("the approval", async || {
        runtime
            .pending_approval("timeout", "Approval", "Review")
            .await
            .expect("read")
            .is_some()
    })
    .await;
    // Four minutes on, it still waits.
    env.now.fetch_add(4 * 60 * 1000, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        runtime.execution(&id).await.expect("read").status,
        ExecutionStatus::InProgress
    );
    // Past five minutes, the task times out, the stage fails, the execution fails.
    env.now.fetch_add(2 * 60 * 1000, Ordering::SeqCst);
    until("the timeout", async || {
        runtime
            .execution(&id)
            .await
            .expect("read")
            .status
            .is_final()
    })
    .await;
    let record = runtime.execution(&id).await.expect("read");
    assert_eq!(record.status, ExecutionStatus::Failed, "{record:?}");
    let review = runtime
        .actions(&id)
        .await
        .expect("actions")
        .into_iter()
        .find(|a| a.action == "Review")
        .expect("review");
    assert_eq!(review.status, ActionStatus::Failed);
    let error = review.error.unwrap_or_default();
    assert!(error.contains("States.Timeout"), "{error}");
    stop.notify_one();
    driving.await.expect("engine stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approval_link_acts_only_while_signed_unexpired_and_its_approval_waits() {
    let dir = tempfile::tempdir().expect("temp");
    std::fs::create_dir_all(dir.path().join("src")).expect("src");
    std::fs::write(dir.path().join("src/a.txt"), "a").expect("file");
    let env = TestEnv::at(1_800_000_000_000);
    let (runtime, engine) = wire(dir.path(), env.clone());
    let doc = sluice_definition::load(PIPELINE, Syntax::Yaml, &Limits::default()).expect("valid");
    runtime
        .put_pipeline(
            doc.pipeline,
            Some(dir.path().to_string_lossy().into_owned()),
        )
        .await
        .expect("stored");
    let stop = Arc::new(Notify::new());
    let driving = tokio::spawn(Arc::clone(&engine).run(Arc::clone(&stop)));
    let id = runtime
        .start_execution("timeout", StartRequest::default())
        .await
        .expect("started")
        .execution_id;
    until("the approval", async || {
        runtime
            .pending_approval("timeout", "Approval", "Review")
            .await
            .expect("read")
            .is_some()
    })
    .await;
    let approval = runtime
        .pending_approval("timeout", "Approval", "Review")
        .await
        .expect("read")
        .expect("pending");
    let key = b"link key";
    let now_s = 1_800_000_000;
    let expires = links::expiry_s(approval.requested_ms, Some(5));
    let query = links::query(key, &approval.token, expires);

    let found = runtime
        .approval_for_link(key, &approval.token, &query, now_s)
        .await
        .expect("a good link finds its waiting approval");
    assert_eq!(found, (approval.clone(), None));
    let refusal = |r: Result<_, LinkRefusal>| format!("{:?}", r.expect_err("refused"));
    let forged = runtime
        .approval_for_link(b"other key", &approval.token, &query, now_s)
        .await;
    assert!(
        matches!(forged, Err(LinkRefusal::Link(LinkError::Forged))),
        "{}",
        refusal(forged)
    );
    let late = runtime
        .approval_for_link(key, &approval.token, &query, expires + 1)
        .await;
    assert!(
        matches!(late, Err(LinkRefusal::Link(LinkError::Expired { .. }))),
        "{}",
        refusal(late)
    );
    let unknown = "no-such-token";
    let unknown_query = links::query(key, unknown, expires);
    let missing = runtime
        .approval_for_link(key, unknown, &unknown_query, now_s)
        .await;
    assert!(
        matches!(missing, Err(LinkRefusal::NotFound)),
        "{}",
        refusal(missing)
    );

    // Once the execution is stopped, the approval no longer waits: the still valid link acts on nothing.
    runtime
        .stop_execution(&id, true, "stopped by the test")
        .await
        .expect("stopped");
    until("the stop", async || {
        runtime
            .execution(&id)
            .await
            .expect("read")
            .status
            .is_final()
    })
    .await;
    let ended = runtime
        .approval_for_link(key, &approval.token, &query, now_s)
        .await;
    assert!(
        matches!(ended, Err(LinkRefusal::NotWaiting(_))),
        "{}",
        refusal(ended)
    );
    stop.notify_one();
    driving.await.expect("engine stops");
}

const POLLED: &str = r#"
name: polled
pipelineType: V2
stages:
  - name: Source
    actions:
      - name: Bucket
        actionTypeId: {category: Source, owner: AWS, provider: S3, version: "1"}
        configuration: {S3Bucket: drops, S3ObjectKey: app.zip}
        outputArtifacts: [{name: Zip}]
      - name: Quiet
        actionTypeId: {category: Source, owner: AWS, provider: CodeCommit, version: "1"}
        configuration: {RepositoryName: ledger, BranchName: main, PollForSourceChanges: "false"}
        outputArtifacts: [{name: Code}]
  - name: Use
    actions:
      - name: Look
        actionTypeId: {category: Compute, owner: AWS, provider: Commands, version: "1"}
        commands: [ls]
        inputArtifacts: [{name: Zip}]
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_polled_change_starts_one_execution_however_many_pollers_see_it() {
    use sluice_runtime::source_polls::{PollOutcome, PolledKind};
    let dir = tempfile::tempdir().expect("temp");
    let env = TestEnv::at(1_800_000_000_000);
    let (runtime, _engine) = wire(dir.path(), env.clone());
    let doc = sluice_definition::load(POLLED, Syntax::Yaml, &Limits::default()).expect("valid");
    runtime
        .put_pipeline(doc.pipeline, None)
        .await
        .expect("stored");

    let polled = runtime.polled_pipelines().await.expect("polled");
    assert_eq!(polled.len(), 1);
    let sources = &polled[0].1;
    assert_eq!(
        sources.len(),
        1,
        "PollForSourceChanges false is not polled: {sources:?}"
    );
    assert_eq!(
        sources[0].kind,
        PolledKind::S3 {
            bucket: "drops".into(),
            key: "app.zip".into()
        }
    );

    let poll = |rev: &'static str| {
        let runtime = Arc::clone(&runtime);
        async move {
            runtime
                .source_polled("polled", "Bucket", rev, None)
                .await
                .expect("polled")
        }
    };
    assert_eq!(poll("v1").await, PollOutcome::First);
    assert_eq!(poll("v1").await, PollOutcome::Unchanged);
    // Two pollers see the same change at once: one execution.
    let (a, b) = tokio::join!(poll("v2"), poll("v2"));
    let started: Vec<&PollOutcome> = [&a, &b]
        .into_iter()
        .filter(|o| matches!(o, PollOutcome::Started { .. }))
        .collect();
    assert!(!started.is_empty(), "{a:?} {b:?}");
    let executions = runtime.list_executions("polled", 10).await.expect("list");
    assert_eq!(executions.len(), 1, "{a:?} {b:?}");
    assert_eq!(executions[0].trigger.trigger_type, "PollForSourceChanges");
    // A change back to an earlier revision is a change too.
    assert!(matches!(poll("v1").await, PollOutcome::Started { .. }));
    assert_eq!(
        runtime
            .list_executions("polled", 10)
            .await
            .expect("list")
            .len(),
        2
    );
}
