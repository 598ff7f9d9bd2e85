//! The compiled state machine's structure: the order things run in, where failures go, and the payloads the
//! dispatch handler receives.

use serde_json::{json, Map, Value};
use sluice_definition::compile::{compile, WAIT_FOR_TASK_TOKEN};
use sluice_definition::contract::{error, TaskRequest};
use sluice_definition::{load, Limits, Syntax};
use sluice_tests::{fixture, workspace};

fn machine_of(path: &std::path::Path) -> Value {
    let text = std::fs::read_to_string(path).expect("reads");
    let doc = load(
        &text,
        Syntax::from_file_name(&path.to_string_lossy()),
        &Limits::default(),
    )
    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    compile(&doc.pipeline)
}

fn release() -> Value {
    machine_of(&workspace().join("examples/release/pipeline.yaml"))
}

/// Every state of a machine, including those inside Parallel branches.
fn all_states(machine: &Value) -> Map<String, Value> {
    let mut out = Map::new();
    fn walk(states: &Value, out: &mut Map<String, Value>) {
        for (name, state) in states.as_object().expect("States object") {
            out.insert(name.clone(), state.clone());
            for branch in state["Branches"].as_array().into_iter().flatten() {
                walk(&branch["States"], out);
            }
        }
    }
    walk(&machine["States"], &mut out);
    out
}

/// The states visited when every task succeeds and no stage is skipped.
fn success_path(machine: &Value) -> Vec<String> {
    let states = &machine["States"];
    let mut path = Vec::new();
    let mut at = machine["StartAt"].as_str().expect("StartAt").to_owned();
    loop {
        path.push(at.clone());
        let state = &states[&at];
        let next = match state["Type"].as_str() {
            Some("Choice") => state["Default"].as_str(),
            Some("Succeed" | "Fail") => None,
            _ => state["Next"].as_str(),
        };
        match next {
            Some(n) => at = n.to_owned(),
            None => return path,
        }
        assert!(path.len() < 1000, "the success path loops");
    }
}

#[test]
fn release_runs_stages_in_order_and_runorder_groups_in_sequence() {
    let m = release();
    assert_eq!(
        success_path(&m),
        [
            "Start",
            "Source (enter)",
            "Source.Checkout",
            "Source (leave)",
            "Build (enter)",
            "Build (group 1)",
            "Build (group 1 check)",
            "Build.Package",
            "Build (leave)",
            "Approval (enter)",
            "Approval.Review",
            "Approval (leave)",
            "Deploy (enter)",
            "Deploy.Publish",
            "Deploy (leave)",
            "Succeeded",
        ]
    );
}

#[test]
fn actions_with_the_same_runorder_are_branches_of_one_parallel_state() {
    let m = release();
    let group = &m["States"]["Build (group 1)"];
    assert_eq!(group["Type"], "Parallel");
    let starts: Vec<&str> = group["Branches"]
        .as_array()
        .expect("branches")
        .iter()
        .map(|b| b["StartAt"].as_str().expect("StartAt"))
        .collect();
    assert_eq!(starts, ["Build.UnitTests", "Build.Lint"]);
    // Each branch catches its own failure so the other action finishes, then the check fails the stage.
    let branch = &group["Branches"][0]["States"];
    assert_eq!(
        branch["Build.UnitTests"]["Catch"][0]["Next"],
        "Build.UnitTests (caught)"
    );
    assert_eq!(branch["Build.UnitTests (caught)"]["Type"], "Pass");
    let check = &m["States"]["Build (group 1 check)"];
    assert_eq!(check["Choices"][0]["Or"].as_array().map(Vec::len), Some(2));
    assert_eq!(check["Choices"][0]["Next"], "Build (group 1 failed)");
    assert_eq!(
        m["States"]["Build (group 1 failed)"]["Result"]["Error"],
        error::ACTION_FAILED
    );
    assert_eq!(
        m["States"]["Build (group 1 failed)"]["Next"],
        "Build (failed)"
    );
}

#[test]
fn a_failed_action_fails_its_stage_then_the_execution() {
    let m = release();
    let task = &m["States"]["Build.Package"];
    let catch = task["Catch"].as_array().expect("Catch");
    assert_eq!(
        catch.last().expect("a catch")["ErrorEquals"],
        json!(["States.ALL"])
    );
    assert_eq!(catch.last().expect("a catch")["Next"], "Build (failed)");
    assert_eq!(m["States"]["Build (failed)"]["Next"], "Failed");
    assert_eq!(m["States"]["Failed"]["Type"], "Fail");
    assert_eq!(m["States"]["Failed"]["Error"], error::STAGE_FAILED);
}

#[test]
fn every_task_is_a_callback_to_the_dispatch_function_with_transient_retries() {
    for (name, state) in all_states(&release()) {
        if state["Type"] != "Task" {
            continue;
        }
        assert_eq!(state["Resource"], WAIT_FOR_TASK_TOKEN, "{name}");
        assert_eq!(
            state["Parameters"]["FunctionName"], "${DispatchFunctionArn}",
            "{name}"
        );
        let retried = state["Retry"][0]["ErrorEquals"].as_array().expect("Retry");
        assert!(retried.contains(&json!(error::RETRYABLE)), "{name}");
        assert!(state["Catch"].is_array(), "{name} has no Catch");
    }
}

#[test]
fn action_timeouts_come_from_the_definition_or_the_providers_default() {
    let m = release();
    assert_eq!(
        m["States"]["Approval.Review"]["TimeoutSeconds"],
        7 * 24 * 3600
    );
    assert_eq!(m["States"]["Build.Package"]["TimeoutSeconds"], 8 * 3600);
    let four = machine_of(&fixture("valid/doc-four-stage.json"));
    let approval = all_states(&four)
        .into_iter()
        .find(|(_, s)| {
            s["Parameters"]["Payload"]["stage"] == "ApproveRelease"
                && s["Parameters"]["Payload"]["op"] == "RunAction"
        })
        .map(|(_, s)| s);
    if let Some(a) = approval {
        assert!(a["TimeoutSeconds"].is_u64());
    }
}

#[test]
fn start_jumps_to_the_stage_named_in_the_input() {
    let m = release();
    let choices = m["States"]["Start"]["Choices"].as_array().expect("choices");
    let targets: Vec<(&str, &str)> = choices
        .iter()
        .map(|c| {
            (
                c["StringEquals"].as_str().expect("stage"),
                c["Next"].as_str().expect("next"),
            )
        })
        .collect();
    assert_eq!(
        targets,
        [
            ("Build", "Build (enter)"),
            ("Approval", "Approval (enter)"),
            ("Deploy", "Deploy (enter)")
        ]
    );
    assert_eq!(m["States"]["Start"]["Default"], "Source (enter)");
}

#[test]
fn only_superseded_pipelines_can_end_superseded() {
    let queued = release();
    assert!(queued["States"].get("Superseded").is_none());
    let superseded = machine_of(&workspace().join("examples/hello/pipeline.yaml"));
    assert_eq!(
        superseded["States"]["Superseded"]["Error"],
        error::SUPERSEDED
    );
    assert_eq!(
        superseded["States"]["Build (enter)"]["Catch"][0]["Next"],
        "Superseded"
    );
}

#[test]
fn conditions_have_their_place_in_the_structure() {
    let m = machine_of(&fixture("valid/doc-stage-conditions.yaml"));
    let states = &m["States"];
    // beforeEntry: the entry gate's answer can skip the stage.
    let entries: Vec<&String> = states
        .as_object()
        .expect("states")
        .keys()
        .filter(|k| k.ends_with(" (entry)"))
        .collect();
    assert!(
        !entries.is_empty(),
        "no beforeEntry choice in {:?}",
        states.as_object().map(|o| o.keys().collect::<Vec<_>>())
    );
    for e in entries {
        assert_eq!(states[e]["Choices"][0]["Variable"], "$.gate.skip");
    }
    // onFailure RETRY: the failure task's decision can enter the stage again.
    let recoveries: Vec<&String> = states
        .as_object()
        .expect("states")
        .keys()
        .filter(|k| k.ends_with(" (recovery)"))
        .collect();
    assert!(!recoveries.is_empty());
    for r in recoveries {
        let stage = r.trim_end_matches(" (recovery)");
        assert_eq!(states[r]["Choices"][0]["Next"], format!("{stage} (enter)"));
        assert_eq!(
            states[r]["Choices"][1]["Next"],
            format!("{stage} (rollback)")
        );
    }
}

/// Resolves a Parameters template the way Step Functions does for the paths the compiler uses.
fn resolve(template: &Value, input: &Value, context: &Value) -> Value {
    match template {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| match k.strip_suffix(".$") {
                    Some(key) => {
                        let path = v.as_str().expect("path");
                        let (root, rest) = match path.strip_prefix("$$.") {
                            Some(rest) => (context, rest),
                            None => (input, path.strip_prefix("$.").expect("a $. path")),
                        };
                        let value = rest.split('.').fold(root, |v, part| &v[part]);
                        assert!(!value.is_null(), "{path} resolves to nothing");
                        (key.to_owned(), value.clone())
                    }
                    None => (k.clone(), resolve(v, input, context)),
                })
                .collect(),
        ),
        other => other.clone(),
    }
}

#[test]
fn every_task_payload_resolves_to_a_request_the_dispatch_handler_reads() {
    let input = json!({
        "executionId": "0b7d3c1e-aaaa-bbbb-cccc-000000000001",
        "startAt": "Source",
        "gate": {"attempt": 1, "skip": false},
        "error": {"Error": "Sluice.ActionFailed", "Cause": "exit status 1"},
    });
    let context = json!({"Task": {"Token": "tok-123"}, "State": {"RetryCount": 0}});
    let mut ops = Vec::new();
    for path in [
        workspace().join("examples/release/pipeline.yaml"),
        fixture("valid/doc-stage-conditions.yaml"),
    ] {
        for (name, state) in all_states(&machine_of(&path)) {
            if state["Type"] != "Task" {
                continue;
            }
            let payload = resolve(&state["Parameters"]["Payload"], &input, &context);
            let request: TaskRequest = serde_json::from_value(payload.clone())
                .unwrap_or_else(|e| panic!("{name}: {payload} is not a TaskRequest: {e}"));
            ops.push(payload["op"].as_str().expect("op").to_owned());
            if let TaskRequest::RunAction {
                action,
                stage,
                attempt,
                token,
                ..
            } = request
            {
                assert_eq!(format!("{stage}.{action}"), name);
                assert_eq!((attempt, token.as_str()), (1, "tok-123"));
            }
        }
    }
    for op in [
        "EnterStage",
        "RunAction",
        "LeaveStage",
        "StageFailed",
        "RollbackStage",
    ] {
        assert!(ops.iter().any(|o| o == op), "no {op} task was compiled");
    }
}

#[test]
fn state_names_stay_within_step_functions_limits_and_unique() {
    let long = "L".repeat(100);
    let text = format!(
        r#"{{"name": "p", "stages": [
          {{"name": "{long}", "actions": [{{"name": "{long}", "actionTypeId": {{"category": "Source", "owner": "AWS", "provider": "S3", "version": "1"}}, "configuration": {{"S3Bucket": "b", "S3ObjectKey": "k"}}, "outputArtifacts": [{{"name": "A"}}]}}]}},
          {{"name": "A.B", "actions": [{{"name": "C", "actionTypeId": {{"category": "Build", "owner": "AWS", "provider": "CodeBuild", "version": "1"}}, "configuration": {{"ProjectName": "x"}}, "inputArtifacts": [{{"name": "A"}}]}}]}},
          {{"name": "A", "actions": [{{"name": "B.C", "actionTypeId": {{"category": "Build", "owner": "AWS", "provider": "CodeBuild", "version": "1"}}, "configuration": {{"ProjectName": "x"}}, "inputArtifacts": [{{"name": "A"}}]}}]}}
        ]}}"#
    );
    let doc = load(&text, Syntax::Json, &Limits::default()).expect("valid");
    let m = compile(&doc.pipeline);
    let states = all_states(&m);
    for name in states.keys() {
        assert!(name.chars().count() <= 80, "{name} is too long");
    }
    assert!(states.contains_key("A.B.C"));
    assert!(states.contains_key("A.B.C #2"));
}
