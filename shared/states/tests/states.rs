//! Every state type and every path field, as data-driven tables over a simulated host.

mod common;

use common::{machine, task, Reply, Sim, T0};
use serde_json::{json, Value};
use sluice_states::{Outcome, TaskMode, TaskRequest, Timestamp};

/// Request/response tasks answer `{"echo": payload}`, callback tasks answer their payload.
fn echo(request: &TaskRequest) -> Reply {
    match request.mode {
        TaskMode::RequestResponse => Reply::Ok(json!({"echo": request.payload})),
        TaskMode::Callback => Reply::Ok(request.payload.clone()),
    }
}

/// Runs a one-graph machine (`states`, starting at `"S"`) on `input` and compares the outcome:
/// `Ok(output)`, or `Err((error, cause))` for a failed execution.
fn check(states: Value, input: Value, expected: Result<Value, (&str, &str)>) {
    let definition = json!({"StartAt": "S", "States": states});
    let mut sim = Sim::new(machine(definition.clone()));
    sim.start(input);
    let outcome = sim.run(&mut echo);
    let got = match outcome {
        Some(Outcome::Succeeded(output)) => Ok(output),
        Some(Outcome::Failed(f)) => Err((f.error, f.cause.unwrap_or_default())),
        other => panic!("unexpected {other:?}"),
    };
    let expected = expected.map_err(|(e, c)| (e.to_owned(), c.to_owned()));
    let mut shown = definition.to_string();
    shown.truncate(300);
    assert_eq!(got, expected, "{shown}");
}

fn pass(extra: Value) -> Value {
    let mut state = json!({"Type": "Pass", "End": true});
    if let (Value::Object(state), Value::Object(extra)) = (&mut state, extra) {
        state.extend(extra);
    }
    json!({ "S": state })
}

#[test]
fn pass_state_path_fields() {
    let input = json!({"a": {"b": 1}, "c": [1, 2]});
    let table = [
        (json!({}), Ok(input.clone())),
        (json!({"Result": "x"}), Ok(json!("x"))),
        (json!({"Result": "x", "ResultPath": "$.r"}), Ok(json!({"a": {"b": 1}, "c": [1, 2], "r": "x"}))),
        (json!({"Result": "x", "ResultPath": "$.a.new"}), Ok(json!({"a": {"b": 1, "new": "x"}, "c": [1, 2]}))),
        (json!({"Result": "x", "ResultPath": "$.deep.er"}), Ok(json!({"a": {"b": 1}, "c": [1, 2], "deep": {"er": "x"}}))),
        (json!({"Result": "x", "ResultPath": null}), Ok(input.clone())),
        (json!({"InputPath": "$.a"}), Ok(json!({"b": 1}))),
        (json!({"InputPath": null}), Ok(json!({}))),
        (json!({"OutputPath": "$.c"}), Ok(json!([1, 2]))),
        (json!({"OutputPath": null}), Ok(json!({}))),
        (json!({"InputPath": "$.a", "ResultPath": "$.copy"}), Ok(json!({"a": {"b": 1}, "c": [1, 2], "copy": {"b": 1}}))),
        (
            json!({"Parameters": {"x.$": "$.a.b", "lit": {"n": 1}, "all.$": "$.c[*]", "arr": [{"y.$": "$.a"}]}}),
            Ok(json!({"x": 1, "lit": {"n": 1}, "all": [1, 2], "arr": [{"y": {"b": 1}}]})),
        ),
        (
            json!({"InputPath": "$.a", "Parameters": {"b.$": "$.b"}, "ResultPath": "$.p", "OutputPath": "$.p"}),
            Ok(json!({"b": 1})),
        ),
        (
            json!({"InputPath": "$.nope"}),
            Err(("States.Runtime", "An error occurred while executing the state 'S' (entered at the event id #2). The JSONPath '$.nope' specified for the field 'InputPath' could not be found in the input '{\"a\":{\"b\":1},\"c\":[1,2]}'")),
        ),
        (
            json!({"Parameters": {"x.$": "$.nope"}}),
            Err(("States.Runtime", "An error occurred while executing the state 'S' (entered at the event id #2). The JSONPath '$.nope' specified for the field 'x.$' could not be found in the input '{\"a\":{\"b\":1},\"c\":[1,2]}'")),
        ),
        (
            json!({"OutputPath": "$.nope"}),
            Err(("States.Runtime", "An error occurred while executing the state 'S' (entered at the event id #2). The JSONPath '$.nope' specified for the field 'OutputPath' could not be found in the input '{\"a\":{\"b\":1},\"c\":[1,2]}'")),
        ),
        (
            json!({"Result": 1, "ResultPath": "$.a.b.c"}),
            Err(("States.ResultPathMatchFailure", "Unable to apply ResultPath '$.a.b.c' to the state's input")),
        ),
    ];
    for (extra, expected) in table {
        check(pass(extra), input.clone(), expected);
    }
}

#[test]
fn context_object() {
    let states = pass(json!({"Parameters": {
        "id.$": "$$.Execution.Id",
        "name.$": "$$.Execution.Name",
        "input.$": "$$.Execution.Input",
        "started.$": "$$.Execution.StartTime",
        "machine.$": "$$.StateMachine.Id",
        "state.$": "$$.State.Name",
        "entered.$": "$$.State.EnteredTime",
        "retries.$": "$$.State.RetryCount",
    }}));
    check(
        states,
        json!({"k": 1}),
        Ok(json!({
            "id": "exec-1", "name": "run-1", "input": {"k": 1},
            "started": "2024-05-01T12:00:00.000Z", "machine": "sm-1", "state": "S",
            "entered": "2024-05-01T12:00:00.000Z", "retries": 0,
        })),
    );
    // $$.Task.Token exists only for callback tasks.
    check(
        pass(json!({"Parameters": {"t.$": "$$.Task.Token"}})),
        json!({}),
        Err(("States.Runtime", "An error occurred while executing the state 'S' (entered at the event id #2). The JSONPath '$$.Task.Token' specified for the field 't.$' could not be found in the context object '{\"Execution\":{\"Id\":\"exec-1\",\"Name\":\"run-1\",\"Input\":{},\"StartTime\":\"2024-05-01T12:00:00.000Z\"},\"StateMachine\":{\"Id\":\"sm-1\"},\"State\":{\"Name\":\"S\",\"EnteredTime\":\"2024-05-01T12:00:00.000Z\",\"RetryCount\":0}}'")),
    );
}

#[test]
fn task_state_result_processing() {
    let input = json!({"a": 1});
    let table = [
        // request/response results are wrapped like Lambda's Invoke response
        (task("f", false, json!({"End": true})), Ok(json!({"ExecutedVersion": "$LATEST", "Payload": {"echo": {"a": 1}}, "StatusCode": 200}))),
        (
            task("f", false, json!({"End": true, "ResultSelector": {"p.$": "$.Payload.echo", "code.$": "$.StatusCode"}})),
            Ok(json!({"p": {"a": 1}, "code": 200})),
        ),
        (
            task("f", false, json!({"End": true, "ResultSelector": {"p.$": "$.Payload"}, "ResultPath": "$.res.deep"})),
            Ok(json!({"a": 1, "res": {"deep": {"p": {"echo": {"a": 1}}}}})),
        ),
        (
            task("f", false, json!({"End": true, "ResultSelector": {"p.$": "$.Payload"}, "ResultPath": "$.r", "OutputPath": "$.r.p"})),
            Ok(json!({"echo": {"a": 1}})),
        ),
        (task("f", false, json!({"End": true, "ResultPath": null})), Ok(json!({"a": 1}))),
        // callback results are what SendTaskSuccess reported, unwrapped
        (task("f", true, json!({"End": true, "ResultPath": "$.cb"})), Ok(json!({"a": 1, "cb": {"a": 1}}))),
        (
            task("f", false, json!({"End": true, "ResultSelector": {"x.$": "$.Payload.nope"}})),
            Err(("States.Runtime", "An error occurred while executing the state 'S' (entered at the event id #2). The JSONPath '$.Payload.nope' specified for the field 'x.$' could not be found in the input '{\"ExecutedVersion\":\"$LATEST\",\"Payload\":{\"echo\":{\"a\":1}},\"StatusCode\":200}'")),
        ),
    ];
    for (state, expected) in table {
        check(json!({ "S": state }), input.clone(), expected);
    }
}

#[test]
fn callback_payload_carries_the_task_token_and_function_name() {
    let mut sim = Sim::new(machine(json!({"StartAt": "S", "States": {"S": {
        "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
        "Parameters": {"FunctionName": "${DispatchFunctionArn}", "Payload": {"token.$": "$$.Task.Token", "n.$": "$.n"}},
        "TimeoutSeconds": 60, "HeartbeatSeconds": 10, "End": true}}})));
    sim.start(json!({"n": 3}));
    let request = sim.started[0].clone();
    assert_eq!(request.function_name, "${DispatchFunctionArn}");
    assert_eq!(request.mode, TaskMode::Callback);
    assert_eq!(
        request.payload,
        json!({"token": request.token.as_str(), "n": 3})
    );
    assert_eq!(request.token.as_str(), "exec-1/S#1@0");
    assert_eq!(
        request.timeout_at,
        Some(Timestamp::from_millis(T0 + 60_000))
    );
    assert_eq!(request.heartbeat_seconds, Some(10));
}

#[test]
fn succeed_and_fail_states() {
    let input = json!({"e": "Custom.Error", "c": "because", "v": {"w": 1}});
    let table = [
        (json!({"S": {"Type": "Succeed"}}), Ok(input.clone())),
        (json!({"S": {"Type": "Succeed", "InputPath": "$.v", "OutputPath": "$.w"}}), Ok(json!(1))),
        (json!({"S": {"Type": "Fail", "Error": "E", "Cause": "C"}}), Err(("E", "C"))),
        (json!({"S": {"Type": "Fail", "ErrorPath": "$.e", "CausePath": "$.c"}}), Err(("Custom.Error", "because"))),
        (json!({"S": {"Type": "Fail", "Error": "E"}}), Err(("E", ""))),
        (
            json!({"S": {"Type": "Fail", "ErrorPath": "$.v"}}),
            Err(("States.Runtime", "An error occurred while executing the state 'S' (entered at the event id #2). The JSONPath '$.v' specified for the field 'ErrorPath' did not select a string")),
        ),
    ];
    for (states, expected) in table {
        check(states, input.clone(), expected);
    }
}

#[test]
fn choice_state_routes() {
    let states = |default: bool| {
        let mut choice = json!({"Type": "Choice", "Choices": [
            {"Variable": "$.n", "NumericGreaterThan": 10, "Next": "Big"},
            {"And": [{"Variable": "$.s", "IsPresent": true}, {"Variable": "$.s", "StringMatches": "rel-*"}], "Next": "Release"},
        ]});
        if default {
            choice["Default"] = json!("Other");
        }
        json!({
            "S": choice,
            "Big": {"Type": "Pass", "Result": "big", "End": true},
            "Release": {"Type": "Pass", "Result": "release", "End": true},
            "Other": {"Type": "Pass", "Result": "other", "End": true},
        })
    };
    let table = [
        (true, json!({"n": 11}), Ok(json!("big"))),
        (true, json!({"n": 1, "s": "rel-1"}), Ok(json!("release"))),
        (true, json!({"n": 1}), Ok(json!("other"))),
        (false, json!({"n": 1}), Err(("States.NoChoiceMatched", "No Matches!"))),
        (
            true,
            json!({"s": "x"}),
            Err(("States.Runtime", "An error occurred while executing the state 'S' (entered at the event id #2). Invalid path '$.n': The choice state's condition path references an invalid value.")),
        ),
    ];
    for (default, input, expected) in table {
        check(states(default), input, expected);
    }
}

#[test]
fn choice_output_uses_input_and_output_paths() {
    check(
        json!({
            "S": {"Type": "Choice", "InputPath": "$.in", "OutputPath": "$.keep",
                  "Choices": [{"Variable": "$.go", "BooleanEquals": true, "Next": "T"}]},
            "T": {"Type": "Succeed"},
        }),
        json!({"in": {"go": true, "keep": 7}}),
        Ok(json!(7)),
    );
}

/// Wait states: checks when the wait timer fires relative to T0, and the output.
#[test]
fn wait_state_timers() {
    let table = [
        (json!({"Seconds": 5}), json!({"a": 1}), 5_000),
        (json!({"SecondsPath": "$.secs"}), json!({"secs": 7}), 7_000),
        (
            json!({"Timestamp": "2024-05-01T12:01:00Z"}),
            json!({}),
            60_000,
        ),
        (
            json!({"TimestampPath": "$.at"}),
            json!({"at": "2024-05-01T12:00:30Z"}),
            30_000,
        ),
        (
            json!({"SecondsPath": "$.secs", "InputPath": "$.w"}),
            json!({"w": {"secs": 2}}),
            2_000,
        ),
    ];
    for (fields, input, delay) in table {
        let mut state = json!({"Type": "Wait", "End": true});
        if let (Value::Object(state), Value::Object(fields)) = (&mut state, fields) {
            state.extend(fields);
        }
        let mut sim = Sim::new(machine(json!({"StartAt": "S", "States": {"S": state}})));
        sim.start(input.clone());
        let fire_at: Vec<u64> = sim.timers.values().map(|t| t.as_millis()).collect();
        assert_eq!(fire_at, vec![T0 + delay], "{state}");
        let outcome = sim.run(&mut |_| Reply::Pending);
        assert!(matches!(outcome, Some(Outcome::Succeeded(_))), "{state}");
        assert_eq!(sim.now.as_millis(), T0 + delay);
    }
    check(
        json!({"S": {"Type": "Wait", "SecondsPath": "$.secs", "End": true}}),
        json!({"secs": "soon"}),
        Err(("States.Runtime", "An error occurred while executing the state 'S' (entered at the event id #2). The JSONPath '$.secs' specified for the field 'SecondsPath' did not select a valid number of seconds")),
    );
}

#[test]
fn states_chain_through_next() {
    check(
        json!({
            "S": {"Type": "Pass", "Result": 1, "ResultPath": "$.one", "Next": "W"},
            "W": {"Type": "Wait", "Seconds": 1, "Next": "T"},
            "T": task("f", false, json!({"ResultSelector": {"v.$": "$.Payload.echo.one"}, "ResultPath": "$.t", "Next": "Done"})),
            "Done": {"Type": "Succeed"},
        }),
        json!({}),
        Ok(json!({"one": 1, "t": {"v": 1}})),
    );
}

#[test]
fn payloads_over_256_kib_fail_the_execution() {
    let big = "x".repeat(300 * 1024);
    check(
        json!({"S": {"Type": "Pass", "Result": big, "ResultPath": "$.big", "End": true}}),
        json!({}),
        Err((
            "States.DataLimitExceeded",
            "The state output is 307210 bytes, over the 262144-byte limit",
        )),
    );
    // A task result that is too large fails the task with an error no catcher can handle.
    let definition = json!({"StartAt": "S", "States": {
        "S": task("f", true, json!({"Catch": [{"ErrorEquals": ["States.ALL"], "Next": "C"}], "End": true})),
        "C": {"Type": "Succeed"}}});
    let mut sim = Sim::new(machine(definition));
    sim.start(json!({}));
    let failure =
        common::failed(sim.run(&mut |_| Reply::Ok(json!({"big": "y".repeat(300 * 1024)}))));
    assert_eq!(failure.error, "States.DataLimitExceeded");
    // And an execution input that is too large is refused.
    let mut sim = Sim::new(machine(
        json!({"StartAt": "S", "States": {"S": {"Type": "Succeed"}}}),
    ));
    let error = sim
        .send(sluice_states::Command::Start(common::start(
            json!({"big": big}),
        )))
        .expect_err("refused");
    assert_eq!(error, sluice_states::CommandError::InputTooLarge(307210));
}
