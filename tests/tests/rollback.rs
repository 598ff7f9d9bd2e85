//! Rollback in process, over the real embedded adapters and the engine: the RollbackStage task of a failed
//! stage, delivered twice (and at once), starts one rollback execution, which runs the stage again with the
//! target's artifacts and variables and ends SUCCEEDED; the runtime's entry refuses what cannot be rolled back;
//! two RollbackStage calls at once start one rollback (the other is a ConflictException).

use std::sync::Arc;
use std::time::Duration;

use sluice_definition::contract::TaskRequest;
use sluice_definition::{Limits, Syntax};
use sluice_runtime::records::{ExecutionRecord, ExecutionStatus};
use sluice_runtime::rollbacks::{RollbackError, RollbackTrigger};
use sluice_runtime::{Runtime, StartRequest};
use tokio::sync::Notify;

use sluice_tests::embedded::{wire, TestEnv};

/// Source, then Deploy, whose `Ship` appends the deployed `app.txt` to `log` unless `Fail` is yes, then After,
/// which appends `after`.
fn definition(log: &std::path::Path) -> String {
    format!(
        r##"
name: ship
pipelineType: V2
variables:
  - {{name: Fail, defaultValue: "no"}}
stages:
  - name: Source
    actions:
      - name: Checkout
        actionTypeId: {{category: Source, owner: ThirdParty, provider: LocalSource, version: "1"}}
        configuration: {{Path: src}}
        outputArtifacts: [{{name: Src}}]
  - name: Deploy
    actions:
      - name: Ship
        actionTypeId: {{category: Compute, owner: AWS, provider: Commands, version: "1"}}
        inputArtifacts: [{{name: Src}}]
        commands:
          - test "#{{variables.Fail}}" != yes
          - cat app.txt >> {log}
  - name: After
    actions:
      - name: Announce
        actionTypeId: {{category: Compute, owner: AWS, provider: Commands, version: "1"}}
        inputArtifacts: [{{name: Src}}]
        commands:
          - echo after >> {log}
"##,
        log = log.display()
    )
}

async fn finished(runtime: &Runtime, id: &str) -> ExecutionRecord {
    for _ in 0..1200 {
        let e = runtime.execution(id).await.expect("read");
        if e.status.is_final() {
            return e;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("execution {id} did not finish");
}

async fn rollbacks(runtime: &Runtime) -> Vec<ExecutionRecord> {
    runtime
        .list_executions("ship", 100)
        .await
        .expect("list")
        .into_iter()
        .filter(|e| e.rollback_metadata.is_some())
        .collect()
}

fn redelivered(execution_id: &str, token: &str) -> TaskRequest {
    TaskRequest::RollbackStage {
        pipeline: "ship".into(),
        version: 1,
        execution_id: execution_id.into(),
        stage: "Deploy".into(),
        token: token.into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollback_task_delivered_twice_starts_one_rollback_of_the_last_good_artifacts() {
    let dir = tempfile::tempdir().expect("temp");
    let src = dir.path().join("src");
    std::fs::create_dir_all(&src).expect("src");
    std::fs::write(src.join("app.txt"), "app v1\n").expect("file");
    let log = dir.path().join("deployed.log");
    let (runtime, engine) = wire(dir.path(), TestEnv::at(1_800_000_000_000));
    let doc = sluice_definition::load(&definition(&log), Syntax::Yaml, &Limits::default())
        .expect("valid");
    runtime
        .put_pipeline(
            doc.pipeline,
            Some(dir.path().to_string_lossy().into_owned()),
        )
        .await
        .expect("stored");
    let stop = Arc::new(Notify::new());
    let driving = tokio::spawn(Arc::clone(&engine).run(Arc::clone(&stop)));

    // With nothing that succeeded through Deploy yet, there is nothing to roll back to.
    let early = runtime
        .start_rollback(
            "ship",
            "Deploy",
            None,
            RollbackTrigger::Automated {
                execution_id: "none".into(),
            },
        )
        .await
        .expect_err("nothing to roll back to");
    assert!(matches!(early, RollbackError::Unable(_)), "{early:?}");

    let good = runtime
        .start_execution("ship", StartRequest::default())
        .await
        .expect("started")
        .execution_id;
    assert_eq!(
        finished(&runtime, &good).await.status,
        ExecutionStatus::Succeeded
    );
    std::fs::write(src.join("app.txt"), "app v2\n").expect("file");
    let bad = runtime
        .start_execution(
            "ship",
            StartRequest {
                variables: [("Fail".to_owned(), "yes".to_owned())].into(),
                ..StartRequest::default()
            },
        )
        .await
        .expect("started")
        .execution_id;
    assert_eq!(
        finished(&runtime, &bad).await.status,
        ExecutionStatus::Failed
    );
    // No onFailure here: nothing rolled back yet.
    assert!(rollbacks(&runtime).await.is_empty());

    // The failed stage's RollbackStage task, delivered twice at once, then once more.
    let (a, b) = tokio::join!(
        runtime.handle(redelivered(&bad, "token-a")),
        runtime.handle(redelivered(&bad, "token-b")),
    );
    a.expect("first delivery");
    b.expect("second delivery");
    runtime
        .handle(redelivered(&bad, "token-c"))
        .await
        .expect("third delivery");
    let started = rollbacks(&runtime).await;
    assert_eq!(started.len(), 1, "{started:?}");
    let rollback = &started[0];
    let meta = rollback.rollback_metadata.as_ref().expect("metadata");
    assert_eq!(meta.rollback_target_pipeline_execution_id, good);
    assert_eq!(meta.stage, "Deploy");
    assert_eq!(rollback.trigger.trigger_type, "AutomatedRollback");
    assert_eq!(rollback.trigger.trigger_detail, bad);
    // Asked for again through the runtime's entry, the same rollback answers.
    let again = runtime
        .start_rollback(
            "ship",
            "Deploy",
            None,
            RollbackTrigger::Automated {
                execution_id: bad.clone(),
            },
        )
        .await
        .expect("the same rollback");
    assert_eq!(again.execution_id, rollback.execution_id);

    let done = finished(&runtime, &rollback.execution_id).await;
    assert_eq!(done.status, ExecutionStatus::Succeeded, "{done:?}");
    // It ran Deploy only (not After), with the first execution's artifact and variables.
    assert_eq!(
        std::fs::read_to_string(&log).expect("log"),
        "app v1\nafter\napp v1\n"
    );
    assert_eq!(
        done.status_summary.as_deref(),
        Some(format!("Stage Deploy rolled back to execution {good}").as_str())
    );
    let actions = runtime
        .actions(&rollback.execution_id)
        .await
        .expect("actions");
    assert_eq!(
        actions
            .iter()
            .map(|a| a.action.as_str())
            .collect::<Vec<_>>(),
        ["Ship"]
    );
    let first_source = runtime
        .actions(&good)
        .await
        .expect("actions")
        .into_iter()
        .find(|a| a.action == "Checkout")
        .expect("checkout");
    assert_eq!(
        actions[0].input_artifacts[0].object,
        first_source.output_artifacts[0].object
    );
    assert_eq!(
        done.variables,
        runtime.execution(&good).await.expect("read").variables
    );
    // A manual rollback may not target a rollback execution.
    let refused = runtime
        .start_rollback(
            "ship",
            "Deploy",
            Some(&rollback.execution_id),
            RollbackTrigger::Manual {
                caller: "tests".into(),
            },
        )
        .await
        .expect_err("a rollback is no target");
    assert!(matches!(refused, RollbackError::Unable(_)), "{refused:?}");

    // Through the API, a request missing a member is refused naming it.
    let answer = sluice_web::codepipeline::handle(
        &runtime,
        "CodePipeline_20150709.RollbackStage",
        br#"{"pipelineName": "ship", "stageName": "Deploy"}"#,
    )
    .await;
    assert_eq!(answer.status, 400, "{}", answer.body);
    assert_eq!(answer.body["__type"], "ValidationException");
    let message = answer.body["message"].as_str().unwrap_or_default();
    assert!(message.contains("targetPipelineExecutionId"), "{message}");

    stop.notify_one();
    driving.await.expect("engine stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_rollback_stage_calls_at_once_start_one_rollback() {
    let dir = tempfile::tempdir().expect("temp");
    let src = dir.path().join("src");
    std::fs::create_dir_all(&src).expect("src");
    std::fs::write(src.join("app.txt"), "app v1\n").expect("file");
    let log = dir.path().join("deployed.log");
    let (runtime, engine) = wire(dir.path(), TestEnv::at(1_800_000_000_000));
    let doc = sluice_definition::load(&definition(&log), Syntax::Yaml, &Limits::default())
        .expect("valid");
    runtime
        .put_pipeline(
            doc.pipeline,
            Some(dir.path().to_string_lossy().into_owned()),
        )
        .await
        .expect("stored");
    let stop = Arc::new(Notify::new());
    let driving = tokio::spawn(Arc::clone(&engine).run(Arc::clone(&stop)));
    let good = runtime
        .start_execution("ship", StartRequest::default())
        .await
        .expect("started")
        .execution_id;
    assert_eq!(
        finished(&runtime, &good).await.status,
        ExecutionStatus::Succeeded
    );

    let body = serde_json::json!({
        "pipelineName": "ship", "stageName": "Deploy", "targetPipelineExecutionId": good
    })
    .to_string();
    let call = || {
        sluice_web::codepipeline::handle(
            &runtime,
            "CodePipeline_20150709.RollbackStage",
            body.as_bytes(),
        )
    };
    for round in 0..3 {
        let (a, b) = tokio::join!(call(), call());
        let mut answers = [(a.status, a.body), (b.status, b.body)];
        answers.sort_by_key(|(status, _)| *status);
        assert_eq!(answers[0].0, 200, "round {round}: {answers:?}");
        assert_eq!(answers[1].0, 400, "round {round}: {answers:?}");
        assert_eq!(
            answers[1].1["__type"], "ConflictException",
            "round {round}: {answers:?}"
        );
        let started = answers[0].1["pipelineExecutionId"]
            .as_str()
            .expect("an execution id")
            .to_owned();
        let all = rollbacks(&runtime).await;
        assert_eq!(all.len(), round + 1, "round {round}: {all:?}");
        assert!(all.iter().any(|e| e.execution_id == started));
        // Once it has finished, the stage can be rolled back again.
        assert_eq!(
            finished(&runtime, &started).await.status,
            ExecutionStatus::Succeeded
        );
    }
    let deployed = std::fs::read_to_string(&log).expect("log");
    assert_eq!(deployed, "app v1\nafter\napp v1\napp v1\napp v1\n");

    stop.notify_one();
    driving.await.expect("engine stops");
}
