//! Load-time refusals, each with its exact message, and what loads.

use serde_json::{json, Value};
use sluice_states::{LoadError, Machine};

fn task_state(extra: Value) -> Value {
    let mut state = json!({"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {"FunctionName": "f", "Payload": {}}, "End": true});
    if let (Value::Object(state), Value::Object(extra)) = (&mut state, extra) {
        state.extend(extra);
    }
    state
}

fn one(state: Value) -> Value {
    json!({"StartAt": "S", "States": {"S": state}})
}

fn check(definition: Value, expected: &str) {
    match Machine::from_json(&definition) {
        Ok(_) => panic!("{definition} loaded, expected: {expected}"),
        Err(error) => assert_eq!(error.to_string(), expected, "{definition}"),
    }
}

#[test]
fn refusals_name_the_state_and_the_reason() {
    let table = [
        (json!({"States": {"S": {"Type": "Succeed"}}}), "machine: the machine has no StartAt"),
        (json!({"StartAt": "X", "States": {"S": {"Type": "Succeed"}}}), "machine: StartAt of the machine names a missing state 'X'"),
        (json!({"StartAt": "S", "QueryLanguage": "JSONata", "States": {"S": {"Type": "Succeed"}}}), "machine: QueryLanguage \"JSONata\" is not supported (only \"JSONPath\")"),
        (json!({"StartAt": "S", "Version": "1.0", "Extra": 1, "States": {"S": {"Type": "Succeed"}}}), "machine: unsupported top-level field 'Extra'"),
        (one(json!({"Type": "Succeed", "QueryLanguage": "JSONata"})), "state \"S\": QueryLanguage \"JSONata\" is not supported (only \"JSONPath\")"),
        (one(json!({"Type": "Map", "ItemProcessor": {}, "End": true})), "state \"S\": Map states are not supported"),
        (one(json!({"Type": "Sleep"})), "state \"S\": unsupported state type 'Sleep'"),
        (one(json!({"Type": "Pass", "End": true, "Assign": {"x": 1}})), "state \"S\": unsupported field 'Assign' in a Pass state"),
        (one(json!({"Type": "Pass", "Next": "Nowhere"})), "state \"S\": Next names a missing state 'Nowhere'"),
        (one(json!({"Type": "Pass"})), "state \"S\": exactly one of Next and \"End\": true is required"),
        (one(json!({"Type": "Pass", "Next": "S", "End": true})), "state \"S\": exactly one of Next and \"End\": true is required"),
        (one(json!({"Type": "Pass", "End": true, "InputPath": "$.a[*]"})), "state \"S\": InputPath: '$.a[*]' is not a reference path: only field names and array indexes are allowed"),
        (one(json!({"Type": "Pass", "End": true, "ResultPath": "$.a[0]"})), "state \"S\": ResultPath: ResultPath '$.a[0]' may only name object fields"),
        (one(json!({"Type": "Pass", "End": true, "Parameters": {"x.$": "States.Format('{}', $.a)"}})), "state \"S\": Parameters: field 'x.$': intrinsic functions and other non-path values are not supported: 'States.Format('{}', $.a)'"),
        (one(task_state(json!({"Resource": "arn:aws:states:::sqs:sendMessage"}))), "state \"S\": unsupported Task resource 'arn:aws:states:::sqs:sendMessage' (supported: arn:aws:states:::lambda:invoke, arn:aws:states:::lambda:invoke.waitForTaskToken)"),
        (one(task_state(json!({"Resource": "arn:aws:states:::lambda:invoke.sync"}))), "state \"S\": unsupported Task resource 'arn:aws:states:::lambda:invoke.sync' (supported: arn:aws:states:::lambda:invoke, arn:aws:states:::lambda:invoke.waitForTaskToken)"),
        (one(task_state(json!({"Parameters": {"Payload": {}}}))), "state \"S\": Parameters must include FunctionName"),
        (one(task_state(json!({"Parameters": {"FunctionName": "f"}}))), "state \"S\": Parameters must include Payload"),
        (one(task_state(json!({"Parameters": {"FunctionName": "f", "Payload": {}, "Qualifier": "1"}}))), "state \"S\": unsupported Parameters field 'Qualifier' for lambda:invoke"),
        (one(task_state(json!({"Credentials": {}}))), "state \"S\": unsupported field 'Credentials' in a Task state"),
        (one(task_state(json!({"TimeoutSeconds": 5, "HeartbeatSeconds": 5}))), "state \"S\": HeartbeatSeconds must be smaller than TimeoutSeconds"),
        (one(task_state(json!({"TimeoutSeconds": 5, "TimeoutSecondsPath": "$.t"}))), "state \"S\": TimeoutSeconds and TimeoutSecondsPath are mutually exclusive"),
        (one(task_state(json!({"TimeoutSeconds": 0}))), "state \"S\": TimeoutSeconds must be a positive integer"),
        (one(task_state(json!({"Retry": [{"ErrorEquals": ["States.ALL"]}, {"ErrorEquals": ["E"]}]}))), "state \"S\": States.ALL must be in the last retrier"),
        (one(task_state(json!({"Retry": [{"ErrorEquals": ["States.ALL", "E"]}]}))), "state \"S\": States.ALL must appear alone in retrier ErrorEquals"),
        (one(task_state(json!({"Retry": [{"ErrorEquals": []}]}))), "state \"S\": retrier ErrorEquals must not be empty"),
        (one(task_state(json!({"Retry": [{"ErrorEquals": ["E"], "JitterStrategy": "FULL"}]}))), "state \"S\": retrier JitterStrategy \"FULL\" is not supported (only \"NONE\")"),
        (one(task_state(json!({"Retry": [{"ErrorEquals": ["E"], "BackoffRate": 0.5}]}))), "state \"S\": retrier BackoffRate must be a number >= 1.0"),
        (one(task_state(json!({"Retry": [{"ErrorEquals": ["E"], "IntervalSeconds": 0}]}))), "state \"S\": retrier IntervalSeconds must be an integer >= 1"),
        (one(task_state(json!({"Catch": [{"ErrorEquals": ["States.ALL"], "Next": "S"}, {"ErrorEquals": ["E"], "Next": "S"}]}))), "state \"S\": States.ALL must be in the last catcher"),
        (one(task_state(json!({"Catch": [{"ErrorEquals": ["E"], "Next": "Gone"}]}))), "state \"S\": Catch Next names a missing state 'Gone'"),
        (one(json!({"Type": "Wait", "Seconds": 1, "Timestamp": "2024-01-01T00:00:00Z", "End": true})), "state \"S\": exactly one of Seconds, Timestamp, SecondsPath and TimestampPath is required"),
        (one(json!({"Type": "Wait", "Timestamp": "tomorrow", "End": true})), "state \"S\": Timestamp must be an RFC 3339 timestamp"),
        (one(json!({"Type": "Choice", "Choices": [{"Variable": "$.a", "IsPresent": true, "Next": "Gone"}]})), "state \"S\": Choice Next names a missing state 'Gone'"),
        (one(json!({"Type": "Choice", "Choices": [{"Variable": "$.a", "IsPresent": true, "Next": "S"}], "Default": "Gone"})), "state \"S\": Default names a missing state 'Gone'"),
        (one(json!({"Type": "Choice", "Choices": [{"Variable": "$.a", "StringContains": "x", "Next": "S"}]})), "state \"S\": unsupported choice operator 'StringContains'"),
        (one(json!({"Type": "Fail", "Error": "E", "ErrorPath": "$.e"})), "state \"S\": Error and ErrorPath are mutually exclusive"),
        (
            json!({"StartAt": "P", "States": {"P": {"Type": "Parallel", "End": true, "Branches": [
                {"StartAt": "Build.Unit", "States": {"Build.Unit": {"Type": "Pass", "Next": "Outside"}}}]}, "Outside": {"Type": "Succeed"}}}),
            "state \"Build.Unit\": Next names a missing state 'Outside'",
        ),
        (
            json!({"StartAt": "P", "States": {"P": {"Type": "Parallel", "End": true, "Branches": [
                {"StartAt": "Build.Unit", "States": {"Build.Unit": {"Type": "Map", "End": true}}}]}}}),
            "state \"Build.Unit\": Map states are not supported",
        ),
        (
            json!({"StartAt": "P", "States": {"P": {"Type": "Parallel", "End": true, "Branches": [
                {"StartAt": "P", "States": {"P": {"Type": "Succeed"}}}]}}}),
            "state \"P\": duplicate state name (names are machine-wide)",
        ),
        (
            json!({"StartAt": "P", "States": {"P": {"Type": "Parallel", "End": true, "Branches": [{"States": {"X": {"Type": "Succeed"}}}]}}}),
            "machine: branch 0 of \"P\" has no StartAt",
        ),
    ];
    for (definition, expected) in table {
        check(definition, expected);
    }
}

#[test]
fn loads_every_supported_construct_and_allows_unreachable_states() {
    let definition = json!({
        "Comment": "all", "TimeoutSeconds": 60, "Version": "1.0", "QueryLanguage": "JSONPath", "StartAt": "T",
        "States": {
            "T": task_state(json!({"End": false, "Next": "P", "InputPath": "$", "OutputPath": null, "ResultSelector": {"a.$": "$.Payload"},
                "ResultPath": "$.r", "TimeoutSecondsPath": "$.t", "HeartbeatSecondsPath": "$.h",
                "Retry": [{"ErrorEquals": ["E"], "IntervalSeconds": 1, "MaxAttempts": 0, "BackoffRate": 1.5, "MaxDelaySeconds": 9, "JitterStrategy": "NONE"}],
                "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": null, "Next": "F"}]})),
            "P": {"Type": "Parallel", "Branches": [{"StartAt": "B", "States": {"B": {"Type": "Pass", "End": true}}}], "Next": "C"},
            "C": {"Type": "Choice", "Choices": [{"Not": {"Variable": "$$.Execution.Name", "StringEquals": "x"}, "Next": "W"}], "Default": "F"},
            "W": {"Type": "Wait", "TimestampPath": "$.when", "Next": "S"},
            "S": {"Type": "Succeed"},
            "F": {"Type": "Fail", "ErrorPath": "$.e", "CausePath": "$.c"},
            "Unreachable": {"Type": "Pass", "End": true}
        }
    });
    let machine = Machine::from_json(&definition).expect("loads");
    assert_eq!(machine.definition().timeout_seconds, Some(60));
    assert_eq!(machine.definition().graphs.len(), 2);
    let fixture: Value =
        serde_json::from_str(include_str!("fixtures/pipeline_demo.json")).expect("JSON");
    assert!(Machine::from_json(&fixture).is_ok());
    assert_eq!(
        Machine::from_json(&json!([])).expect_err("refused"),
        LoadError::Machine("the definition must be a JSON object".into())
    );
}
