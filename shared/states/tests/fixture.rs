//! The machine shape Sluice's compiler emits: a two-stage pipeline whose Build stage runs two
//! actions in parallel, catches each action's failure in its branch and checks after the Parallel.

mod common;

use common::{failed, machine, succeeded, Reply, Sim};
use serde_json::{json, Value};
use sluice_states::{Failure, Machine, TaskRequest};

pub fn pipeline() -> Value {
    serde_json::from_str(include_str!("fixtures/pipeline_demo.json")).expect("fixture is JSON")
}

/// The dispatcher: gates answer `{"attempt": 1}`, actions answer `{}` unless they are in `failing`.
fn dispatcher(failing: &'static [&'static str]) -> impl FnMut(&TaskRequest) -> Reply {
    move |request| {
        let payload = &request.payload;
        assert_eq!(request.function_name, "${DispatchFunctionArn}");
        assert_eq!(
            payload["token"],
            json!(request.token.as_str()),
            "the payload carries the task token"
        );
        assert_eq!(payload["executionId"], json!("run-1"));
        match payload["op"].as_str() {
            Some("EnterStage") => Reply::Ok(json!({"attempt": 1})),
            Some("RunAction")
                if failing.contains(&payload["action"].as_str().unwrap_or_default()) =>
            {
                Reply::Err("Sluice.ActionFailed", "the action failed")
            }
            _ => Reply::Ok(json!({})),
        }
    }
}

fn ops(sim: &Sim) -> Vec<String> {
    sim.started
        .iter()
        .map(|r| {
            let p = &r.payload;
            format!(
                "{}:{}{}",
                p["op"].as_str().unwrap_or(""),
                p["stage"].as_str().unwrap_or(""),
                p["action"]
                    .as_str()
                    .map(|a| format!(".{a}"))
                    .unwrap_or_default()
            )
        })
        .collect()
}

#[test]
fn all_actions_succeed() {
    let mut sim = Sim::new(machine(pipeline()));
    sim.start(json!({"trigger": "manual"}));
    let output = succeeded(sim.run(&mut dispatcher(&[])));
    assert_eq!(
        output,
        json!({"trigger": "manual", "gate": {"attempt": 1}, "group": {"a0": {"ok": true}, "a1": {"ok": true}}})
    );
    assert_eq!(
        ops(&sim),
        [
            "EnterStage:Source",
            "RunAction:Source.Checkout",
            "LeaveStage:Source",
            "EnterStage:Build",
            "RunAction:Build.Unit",
            "RunAction:Build.Lint",
            "LeaveStage:Build"
        ]
    );
}

/// As Step Functions does: the Choice routes to Build.Failed, whose Parameters read `$.error`,
/// which nothing set on this path, so the execution fails with States.Runtime before
/// Build.Failed's task starts (and a Task without Catch could not catch it anyway).
#[test]
fn a_failing_action_reaches_build_failed_which_fails_on_the_missing_error_path() {
    let mut sim = Sim::new(machine(pipeline()));
    sim.start(json!({}));
    let failure = failed(sim.run(&mut dispatcher(&["Lint"])));
    assert_eq!(failure.error, "States.Runtime");
    let cause = failure.cause.unwrap_or_default();
    assert!(
        cause.starts_with(
            "An error occurred while executing the state 'Build.Failed' (entered at the event id #"
        ),
        "{cause}"
    );
    assert!(cause.contains("The JSONPath '$.error' specified for the field 'error.$' could not be found in the input"), "{cause}");
    // Build.Unit still completed; Build.Failed's task never started.
    assert_eq!(
        ops(&sim),
        [
            "EnterStage:Source",
            "RunAction:Source.Checkout",
            "LeaveStage:Source",
            "EnterStage:Build",
            "RunAction:Build.Unit",
            "RunAction:Build.Lint"
        ]
    );
    assert!(sim.cancelled.is_empty());
}

/// With the check routing through a Pass that records the group as `$.error` (one way the
/// compiler can fix the shape), the failure path runs Build.Failed and ends in Sluice.StageFailed.
#[test]
fn a_failing_action_with_an_error_recorded_ends_in_stage_failed() {
    let mut definition = pipeline();
    let states = &mut definition["States"];
    states["Build.Run1.Check"]["Choices"][0]["Next"] = json!("Build.Run1.Failed");
    states["Build.Run1.Failed"] = json!({"Type": "Pass", "Parameters": {"Error": "Sluice.ActionFailed", "actions.$": "$.group"}, "ResultPath": "$.error", "Next": "Build.Failed"});
    let mut sim = Sim::new(Machine::from_json(&definition).expect("loads"));
    sim.start(json!({}));
    let failure = failed(sim.run(&mut dispatcher(&["Lint"])));
    assert_eq!(
        failure,
        Failure::new("Sluice.StageFailed", "a stage failed")
    );
    let stage_failed = sim.started.last().expect("Build.Failed ran");
    assert_eq!(stage_failed.payload["op"], json!("StageFailed"));
    assert_eq!(
        stage_failed.payload["error"],
        json!({"Error": "Sluice.ActionFailed", "actions": {"a0": {"ok": true}, "a1": {"Error": "Sluice.ActionFailed", "Cause": "the action failed"}}})
    );
}

#[test]
fn a_failing_source_action_is_retried_then_caught() {
    let mut sim = Sim::new(machine(pipeline()));
    sim.start(json!({}));
    let mut attempts = 0;
    let failure = failed(sim.run(&mut |request: &TaskRequest| {
        let p = &request.payload;
        match (p["op"].as_str(), p["action"].as_str()) {
            (Some("EnterStage"), _) => Reply::Ok(json!({"attempt": 1})),
            (_, Some("Checkout")) => {
                attempts += 1;
                Reply::Err("Sluice.Retryable", "flaky")
            }
            _ => Reply::Ok(json!({})),
        }
    }));
    assert_eq!(attempts, 4, "1 try + 3 retries");
    assert_eq!(
        failure,
        Failure::new("Sluice.StageFailed", "a stage failed")
    );
    let stage_failed = sim.started.last().expect("Source.Failed ran");
    assert_eq!(
        stage_failed.payload["error"],
        json!({"Error": "Sluice.Retryable", "Cause": "flaky"})
    );
}

#[test]
fn a_gate_without_attempt_fails_the_execution_with_states_runtime() {
    // `attempt.$: $.gate.attempt` needs EnterStage to answer an object with `attempt`.
    let mut sim = Sim::new(machine(pipeline()));
    sim.start(json!({}));
    let failure = failed(sim.run(&mut |_: &TaskRequest| Reply::Ok(json!({}))));
    assert_eq!(failure.error, "States.Runtime");
    assert!(failure
        .cause
        .unwrap_or_default()
        .contains("'Source.Checkout'"));
}
