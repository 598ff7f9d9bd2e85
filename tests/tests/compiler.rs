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
            "Source.Checkout",
            "Build (enter)",
            "Build (group 1)",
            "Build.Package",
            "Approval.Review",
            "Deploy.Publish",
        ]
    );
    // The last task ends the run: no state of its own for success.
    assert_eq!(m["States"]["Deploy.Publish"]["End"], true);
    assert!(m["States"].get("Succeeded").is_none());
}

/// The states a run enters when everything succeeds, Parallel branches included: what Step Functions bills.
fn transitions_on_success(machine: &Value) -> usize {
    let states = all_states(machine);
    success_path(machine)
        .iter()
        .map(|name| 1 + states[name]["Branches"].as_array().map_or(0, Vec::len))
        .sum()
}

#[test]
fn gates_are_folded_into_the_actions_next_to_them() {
    let m = release();
    // 6 actions, 8 states entered (was 18 with a gate state at each stage's entry and exit).
    assert_eq!(transitions_on_success(&m), 8);
    let states = &m["States"];
    // Source.Checkout enters its stage and leaves it; its gate is where it goes when it cannot enter at once,
    // and the gate sends the run back to it.
    let checkout = &states["Source.Checkout"]["Parameters"]["Payload"];
    assert_eq!(
        (&checkout["enter"], &checkout["leave"]),
        (&json!(true), &json!(true))
    );
    assert!(checkout.get("attempt.$").is_none(), "{checkout}");
    assert_eq!(states["Source.Checkout"]["ResultPath"], "$.gate");
    let catches = states["Source.Checkout"]["Catch"]
        .as_array()
        .expect("Catch");
    let to = |name: &str| {
        catches
            .iter()
            .find(|c| c["ErrorEquals"] == json!([name]))
            .map(|c| c["Next"].clone())
    };
    assert_eq!(to(error::GATE), Some(json!("Source (enter)")));
    assert_eq!(to(error::STARTS_LATER), Some(json!("Start")));
    assert_eq!(states["Source (enter)"]["Next"], "Source.Checkout");
    // Build starts with a parallel group: its own entry gate; Package checks the group and leaves the stage.
    let package = &states["Build.Package"]["Parameters"]["Payload"];
    assert_eq!(
        package["afterGroup"],
        json!({"runOrder": 1, "results.$": "$.group"})
    );
    assert_eq!(package["leave"], true);
    assert_eq!(package["attempt.$"], "$.gate.attempt");
    assert!(package.get("enter").is_none(), "{package}");
    assert!(states.get("Build (leave)").is_none());
}

#[test]
fn every_state_can_be_reached() {
    let mut paths = Vec::new();
    for entry in std::fs::read_dir(workspace().join("examples")).expect("examples") {
        let file = entry.expect("entry").path().join("pipeline.yaml");
        if file.exists() {
            paths.push(file);
        }
    }
    for name in [
        "valid/doc-stage-conditions.yaml",
        "valid/doc-four-stage.json",
    ] {
        paths.push(fixture(name));
    }
    for path in paths {
        let m = machine_of(&path);
        let mut targets = vec![m["StartAt"].as_str().expect("StartAt").to_owned()];
        fn collect(v: &Value, out: &mut Vec<String>) {
            match v {
                Value::Object(map) => {
                    for (k, v) in map {
                        match (k.as_str(), v) {
                            ("Next" | "Default", Value::String(n)) => out.push(n.clone()),
                            _ => collect(v, out),
                        }
                    }
                }
                Value::Array(items) => items.iter().for_each(|i| collect(i, out)),
                _ => {}
            }
        }
        collect(&m["States"], &mut targets);
        for name in m["States"].as_object().expect("States").keys() {
            assert!(
                targets.contains(name),
                "{}: nothing goes to {name}",
                path.display()
            );
        }
        for target in &targets {
            assert!(
                all_states(&m).contains_key(target),
                "{}: {target} is not a state",
                path.display()
            );
        }
    }
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
    // The task after the group checks the group's results (a failed one fails the stage through its Catch).
    assert_eq!(group["Next"], "Build.Package");
    assert_eq!(group["ResultPath"], "$.group");
    assert!(m["States"].get("Build (group 1 check)").is_none());
}

#[test]
fn a_parallel_group_followed_by_another_is_checked_by_a_choice() {
    let text = r#"{"name": "p", "stages": [
      {"name": "S", "actions": [
        {"name": "A", "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "S3", "version": "1"}, "configuration": {"S3Bucket": "b", "S3ObjectKey": "k"}, "outputArtifacts": [{"name": "A"}]},
        {"name": "B", "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "S3", "version": "1"}, "configuration": {"S3Bucket": "b", "S3ObjectKey": "k2"}, "outputArtifacts": [{"name": "B"}]}]},
      {"name": "T", "actions": [
        {"name": "C", "runOrder": 1, "actionTypeId": {"category": "Build", "owner": "AWS", "provider": "CodeBuild", "version": "1"}, "configuration": {"ProjectName": "x"}, "inputArtifacts": [{"name": "A"}]},
        {"name": "D", "runOrder": 1, "actionTypeId": {"category": "Build", "owner": "AWS", "provider": "CodeBuild", "version": "1"}, "configuration": {"ProjectName": "x"}, "inputArtifacts": [{"name": "A"}]},
        {"name": "E", "runOrder": 2, "actionTypeId": {"category": "Build", "owner": "AWS", "provider": "CodeBuild", "version": "1"}, "configuration": {"ProjectName": "x"}, "inputArtifacts": [{"name": "B"}]},
        {"name": "F", "runOrder": 2, "actionTypeId": {"category": "Build", "owner": "AWS", "provider": "CodeBuild", "version": "1"}, "configuration": {"ProjectName": "x"}, "inputArtifacts": [{"name": "B"}]}]}
    ]}"#;
    let doc = load(text, Syntax::Json, &Limits::default()).expect("valid");
    let m = compile(&doc.pipeline);
    let states = &m["States"];
    assert_eq!(states["T (group 1)"]["Next"], "T (group 1 check)");
    let check = &states["T (group 1 check)"];
    assert_eq!(check["Choices"][0]["Or"].as_array().map(Vec::len), Some(2));
    assert_eq!(check["Choices"][0]["Next"], "T (group 1 failed)");
    assert_eq!(check["Default"], "T (group 2)");
    assert_eq!(
        states["T (group 1 failed)"]["Result"]["Error"],
        error::ACTION_FAILED
    );
    assert_eq!(states["T (group 1 failed)"]["Next"], "T (failed)");
    // The last group is parallel: the stage keeps its exit gate, which checks the group, and ends the run.
    assert_eq!(states["T (group 2)"]["Next"], "T (leave)");
    let leave = &states["T (leave)"];
    assert_eq!(
        leave["Parameters"]["Payload"]["afterGroup"],
        json!({"runOrder": 2, "results.$": "$.group"})
    );
    assert_eq!(leave["End"], true);
    // S starts the run with its parallel group, behind its own gate.
    assert_eq!(m["StartAt"], "S (enter)");
    assert_eq!(transitions_on_success(&m), 14);
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
            ("Approval", "Approval.Review"),
            ("Deploy", "Deploy.Publish")
        ]
    );
    assert_eq!(m["States"]["Start"]["Default"], "Source.Checkout");
    // Runs start at the first stage's entry; only those that start later pass through Start.
    assert_eq!(m["StartAt"], "Source.Checkout");
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
    let goes_to_superseded = |state: &str| {
        superseded["States"][state]["Catch"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|c| c["ErrorEquals"] == json!([error::SUPERSEDED]) && c["Next"] == "Superseded")
    };
    assert!(goes_to_superseded("Build (enter)"));
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
        // The stage's entry: its gate, or its first action when that passes the gate itself.
        let entry = states[r]["Choices"][0]["Next"].as_str().expect("Next");
        assert!(
            entry == format!("{stage} (enter)") || entry.starts_with(&format!("{stage}.")),
            "{r} retries at {entry}"
        );
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
        "group": {"a0": {"ok": true}, "a1": {"Error": "Sluice.ActionFailed", "Cause": "exit status 2"}},
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
                enter,
                after_group,
                token,
                ..
            } = &request
            {
                assert_eq!(&format!("{stage}.{action}"), &name);
                // A task that enters the stage learns the attempt there.
                let want = if *enter { 0 } else { 1 };
                assert_eq!((*attempt, token.as_str()), (want, "tok-123"));
                if let Some(group) = after_group {
                    assert_eq!(
                        group.failure(stage).as_deref(),
                        Some(
                            format!(
                                "An action of runOrder {} in stage {stage} failed.",
                                group.run_order
                            )
                            .as_str()
                        )
                    );
                }
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
