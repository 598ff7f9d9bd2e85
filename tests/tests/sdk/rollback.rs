//! Rollback through the SDK against the built `sluice serve` (a child module of sdk.rs, whose helpers are in
//! scope as `super::`): a stage whose onFailure is ROLLBACK runs again, in an execution of its own, with the
//! artifacts and variables of the last execution that succeeded through it; RollbackStage does the same for
//! a target it names, with CodePipeline's errors when it cannot.
//!
//! The deploy stage's Commands action appends the deployed `app.txt` to a log outside the job folder, after
//! failing when the pipeline variable `Fail` is `yes` or waiting while `Hold` is `yes`: the log shows, by
//! content, which execution's artifact each run deployed.

use std::path::Path;
use std::time::{Duration, Instant};

use aws_sdk_codepipeline::types::{
    ExecutionType, FailureConditions, PipelineDeclaration, PipelineExecutionStatus,
    PipelineExecutionSummary, PipelineType, PipelineVariable, PipelineVariableDeclaration,
    Result as ConditionResult, TriggerType,
};
use aws_sdk_codepipeline::Client;

use super::{commands_action, finished, fixture, pipeline, runtime, source_stage, stage, start};

/// Source, then Deploy: `Ship` deploys `app.txt` by appending it to `log` (failing first when `Fail` is
/// yes, waiting for `release` while `Hold` is yes); with `rollback`, Deploy's onFailure is ROLLBACK.
fn deploying(
    name: &str,
    source: &Path,
    log: &Path,
    release: &Path,
    rollback: bool,
) -> PipelineDeclaration {
    let hold = format!(
        "while [ \"#{{variables.Hold}}\" = yes ] && [ ! -f {} ]; do sleep 0.1; done",
        release.display()
    );
    let deploy = format!("cat app.txt >> {}", log.display());
    let ship = commands_action(
        "Ship",
        &[&hold, "test \"#{variables.Fail}\" != yes", &deploy],
    );
    let mut deploy_stage = stage("Deploy", vec![ship]);
    if rollback {
        deploy_stage.on_failure = Some(
            FailureConditions::builder()
                .result(ConditionResult::Rollback)
                .build(),
        );
    }
    let mut decl = pipeline(name, vec![source_stage(source), deploy_stage]);
    for (var, default) in [("Fail", "no"), ("Hold", "no")] {
        decl.variables.get_or_insert_with(Vec::new).push(
            PipelineVariableDeclaration::builder()
                .name(var)
                .default_value(default)
                .build()
                .expect("variable"),
        );
    }
    decl
}

/// Starts an execution with pipeline variables set; its id.
async fn start_with(c: &Client, name: &str, vars: &[(&str, &str)]) -> String {
    let mut req = c.start_pipeline_execution().name(name);
    for (k, v) in vars {
        req = req.variables(
            PipelineVariable::builder()
                .name(*k)
                .value(*v)
                .build()
                .expect("variable"),
        );
    }
    req.send()
        .await
        .expect("StartPipelineExecution")
        .pipeline_execution_id()
        .expect("an id")
        .to_owned()
}

async fn summaries(c: &Client, name: &str) -> Vec<PipelineExecutionSummary> {
    c.list_pipeline_executions()
        .pipeline_name(name)
        .send()
        .await
        .expect("ListPipelineExecutions")
        .pipeline_execution_summaries()
        .to_vec()
}

/// Waits until the pipeline lists a rollback execution; its summary.
async fn rollback_listed(c: &Client, name: &str) -> PipelineExecutionSummary {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(r) = summaries(c, name)
            .await
            .into_iter()
            .find(|s| s.execution_type() == Some(&ExecutionType::Rollback))
        {
            return r;
        }
        assert!(Instant::now() < deadline, "no rollback execution of {name}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Where `action`'s artifact went in (`input`) or out of an execution.
async fn artifact_key(c: &Client, name: &str, id: &str, action: &str, input: bool) -> String {
    let list = c
        .list_action_executions()
        .pipeline_name(name)
        .filter(
            aws_sdk_codepipeline::types::ActionExecutionFilter::builder()
                .pipeline_execution_id(id)
                .build(),
        )
        .send()
        .await
        .expect("ListActionExecutions");
    let detail = list
        .action_execution_details()
        .iter()
        .find(|d| d.action_name() == Some(action))
        .unwrap_or_else(|| panic!("{action} did not run in {id}"));
    let artifacts = if input {
        detail.input().map(|i| i.input_artifacts())
    } else {
        detail.output().map(|o| o.output_artifacts())
    };
    artifacts
        .and_then(|a| a.first())
        .and_then(|a| a.s3_location())
        .and_then(|l| l.key())
        .expect("an artifact")
        .to_owned()
}

#[test]
fn a_stage_that_fails_with_onfailure_rollback_runs_again_with_the_last_good_artifacts() {
    let f = fixture();
    let c = &f.client;
    let dir = f.source.parent().expect("dir").to_owned();
    let log = dir.join("deployed.log");
    let name = "sdk-auto-rollback";
    runtime().block_on(async {
        c.create_pipeline()
            .pipeline(deploying(name, &f.source, &log, &dir.join("release"), true))
            .send()
            .await
            .expect("create");
        let good = start(c, name).await;
        assert_eq!(
            finished(c, name, &good).await,
            PipelineExecutionStatus::Succeeded
        );
        assert_eq!(std::fs::read_to_string(&log).expect("log"), "app v1\n");

        // A new revision whose deploy fails: the execution fails, and the stage is rolled back.
        std::fs::write(f.source.join("app.txt"), "app v2\n").expect("source");
        let bad = start_with(c, name, &[("Fail", "yes")]).await;
        assert_eq!(
            finished(c, name, &bad).await,
            PipelineExecutionStatus::Failed
        );
        let listed = rollback_listed(c, name).await;
        let rollback = listed.pipeline_execution_id().expect("id").to_owned();
        assert_eq!(
            listed
                .rollback_metadata()
                .and_then(|m| m.rollback_target_pipeline_execution_id()),
            Some(good.as_str())
        );
        let trigger = listed.trigger().expect("trigger");
        assert_eq!(
            trigger.trigger_type(),
            Some(&TriggerType::AutomatedRollback)
        );
        assert_eq!(trigger.trigger_detail(), Some(bad.as_str()));
        assert_eq!(
            finished(c, name, &rollback).await,
            PipelineExecutionStatus::Succeeded
        );
        // The rollback deployed the first execution's artifact (v1, though the source now says v2), with its
        // variables (Fail=no).
        assert_eq!(
            std::fs::read_to_string(&log).expect("log"),
            "app v1\napp v1\n"
        );
        assert_eq!(
            artifact_key(c, name, &rollback, "Ship", true).await,
            artifact_key(c, name, &good, "Checkout", false).await
        );

        // GetPipelineExecution and GetPipelineState show it as a rollback; it ran Deploy only.
        let got = c
            .get_pipeline_execution()
            .pipeline_name(name)
            .pipeline_execution_id(&rollback)
            .send()
            .await
            .expect("GetPipelineExecution");
        let e = got.pipeline_execution().expect("execution");
        assert_eq!(e.execution_type(), Some(&ExecutionType::Rollback));
        assert_eq!(
            e.rollback_metadata()
                .and_then(|m| m.rollback_target_pipeline_execution_id()),
            Some(good.as_str())
        );
        let variables: Vec<_> = e
            .variables()
            .iter()
            .map(|v| (v.name().unwrap_or(""), v.resolved_value().unwrap_or("")))
            .collect();
        assert!(variables.contains(&("Fail", "no")), "{variables:?}");
        let state = c
            .get_pipeline_state()
            .name(name)
            .send()
            .await
            .expect("GetPipelineState");
        let stage_of = |n: &str| {
            state
                .stage_states()
                .iter()
                .find(|s| s.stage_name() == Some(n))
                .and_then(|s| s.latest_execution())
                .cloned()
                .expect("stage state")
        };
        assert_eq!(
            stage_of("Deploy").pipeline_execution_id(),
            rollback.as_str()
        );
        assert_eq!(stage_of("Deploy").r#type(), Some(&ExecutionType::Rollback));
        assert_eq!(stage_of("Source").pipeline_execution_id(), bad.as_str());

        // One rollback for the one failure; the failed execution is not a rollback.
        let all = summaries(c, name).await;
        assert_eq!(all.len(), 3, "{all:?}");
        let kinds: Vec<_> = all
            .iter()
            .map(|s| s.execution_type().cloned().expect("type"))
            .collect();
        assert_eq!(
            kinds,
            [
                ExecutionType::Rollback,
                ExecutionType::Standard,
                ExecutionType::Standard
            ]
        );
    });
}

#[test]
fn with_no_earlier_success_a_failed_stage_is_not_rolled_back_and_says_why() {
    let f = fixture();
    let c = &f.client;
    let dir = f.source.parent().expect("dir").to_owned();
    let name = "sdk-no-rollback";
    runtime().block_on(async {
        c.create_pipeline()
            .pipeline(deploying(
                name,
                &f.source,
                &dir.join("deployed.log"),
                &dir.join("release"),
                true,
            ))
            .send()
            .await
            .expect("create");
        let bad = start_with(c, name, &[("Fail", "yes")]).await;
        assert_eq!(
            finished(c, name, &bad).await,
            PipelineExecutionStatus::Failed
        );
        let e = c
            .get_pipeline_execution()
            .pipeline_name(name)
            .pipeline_execution_id(&bad)
            .send()
            .await
            .expect("GetPipelineExecution");
        let summary = e
            .pipeline_execution()
            .and_then(|p| p.status_summary())
            .unwrap_or_default()
            .to_owned();
        assert!(
            summary.contains("not rolled back")
                && summary.contains("succeeded through stage Deploy"),
            "{summary}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(summaries(c, name).await.len(), 1);
    });
}

#[test]
fn rollback_stage_runs_the_stage_with_the_target_s_artifacts_and_refuses_what_codepipeline_refuses()
{
    let f = fixture();
    let c = &f.client;
    let dir = f.source.parent().expect("dir").to_owned();
    let log = dir.join("deployed.log");
    let release = dir.join("release");
    let name = "sdk-rollback";
    runtime().block_on(async {
        let decl = deploying(name, &f.source, &log, &release, false);
        c.create_pipeline()
            .pipeline(decl.clone())
            .send()
            .await
            .expect("create");
        let first = start(c, name).await;
        assert_eq!(
            finished(c, name, &first).await,
            PipelineExecutionStatus::Succeeded
        );
        std::fs::write(f.source.join("app.txt"), "app v2\n").expect("source");
        let second = start(c, name).await;
        assert_eq!(
            finished(c, name, &second).await,
            PipelineExecutionStatus::Succeeded
        );

        let rollback = c
            .rollback_stage()
            .pipeline_name(name)
            .stage_name("Deploy")
            .target_pipeline_execution_id(&first)
            .send()
            .await
            .expect("RollbackStage")
            .pipeline_execution_id()
            .to_owned();
        assert_eq!(
            finished(c, name, &rollback).await,
            PipelineExecutionStatus::Succeeded
        );
        assert_eq!(
            std::fs::read_to_string(&log).expect("log"),
            "app v1\napp v2\napp v1\n"
        );
        let got = c
            .get_pipeline_execution()
            .pipeline_name(name)
            .pipeline_execution_id(&rollback)
            .send()
            .await
            .expect("GetPipelineExecution");
        let e = got.pipeline_execution().expect("execution");
        assert_eq!(e.execution_type(), Some(&ExecutionType::Rollback));
        assert_eq!(
            e.trigger().and_then(|t| t.trigger_type()),
            Some(&TriggerType::ManualRollback)
        );

        // `sluice rollback` with no target rolls back to the newest standard execution that succeeded
        // through the stage (the second), and follows the rollback to its end.
        let out = f
            .server
            .cli()
            .args(["rollback", name, "Deploy"])
            .output()
            .expect("sluice rollback");
        let printed = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && printed.contains("Succeeded"),
            "{printed}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            std::fs::read_to_string(&log).expect("log"),
            "app v1\napp v2\napp v1\napp v2\n"
        );

        let refused = async |pipeline: &str, stage: &str, target: &str| {
            c.rollback_stage()
                .pipeline_name(pipeline)
                .stage_name(stage)
                .target_pipeline_execution_id(target)
                .send()
                .await
                .expect_err("refused")
                .into_service_error()
        };
        let e = refused("no-such-pipeline", "Deploy", &first).await;
        assert!(e.is_pipeline_not_found_exception(), "{e:?}");
        let e = refused(name, "Nowhere", &first).await;
        assert!(e.is_stage_not_found_exception(), "{e:?}");
        let e = refused(name, "Deploy", "0badc0de-0000-4000-8000-000000000000").await;
        assert!(e.is_pipeline_execution_not_found_exception(), "{e:?}");
        let e = refused(name, "Source", &first).await;
        assert!(e.is_unable_to_rollback_stage_exception(), "{e:?}");
        assert!(e.to_string().contains("source"), "{e}");
        // A rollback execution is no target.
        let e = refused(name, "Deploy", &rollback).await;
        assert!(e.is_unable_to_rollback_stage_exception(), "{e:?}");
        // Nor an execution that failed in the stage.
        let failed = start_with(c, name, &[("Fail", "yes")]).await;
        assert_eq!(
            finished(c, name, &failed).await,
            PipelineExecutionStatus::Failed
        );
        let e = refused(name, "Deploy", &failed).await;
        assert!(e.is_unable_to_rollback_stage_exception(), "{e:?}");
        assert!(e.to_string().contains("did not succeed"), "{e}");

        // Not while the stage runs.
        let held = start_with(c, name, &[("Hold", "yes")]).await;
        super::in_progress(c, name, "Deploy", "Ship").await;
        let e = refused(name, "Deploy", &first).await;
        assert!(e.is_unable_to_rollback_stage_exception(), "{e:?}");
        assert!(e.to_string().contains("in progress"), "{e}");
        std::fs::write(&release, "").expect("release");
        assert_eq!(
            finished(c, name, &held).await,
            PipelineExecutionStatus::Succeeded
        );

        // Not to an execution of an older version of the pipeline.
        let mut changed = decl.clone();
        changed.stages[1].actions[0].commands = Some(vec!["true".into()]);
        c.update_pipeline()
            .pipeline(changed)
            .send()
            .await
            .expect("update");
        let e = refused(name, "Deploy", &first).await;
        assert!(e.is_pipeline_execution_outdated_exception(), "{e:?}");

        // Not in a V1 pipeline.
        let mut v1 = pipeline(
            "sdk-rollback-v1",
            vec![source_stage(&f.source), super::approval_stage()],
        );
        v1.pipeline_type = Some(PipelineType::V1);
        c.create_pipeline()
            .pipeline(v1)
            .send()
            .await
            .expect("create V1");
        let e = refused("sdk-rollback-v1", "Approval", &first).await;
        assert!(e.is_validation_exception(), "{e:?}");
    });
}
