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
    assert_eq!(found, approval);
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
