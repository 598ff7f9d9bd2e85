//! Retry, Catch, timeouts, heartbeats and Parallel, driven with a fake clock.

mod common;

use common::{failed, machine, succeeded, task, Reply, Sim, T0};
use serde_json::{json, Value};
use sluice_states::{Command, CommandError, Failure, TaskToken};

fn offsets(sim: &Sim) -> Vec<u64> {
    sim.started.iter().map(|r| {
        let entered = sim.history.iter().find(|e| {
            matches!(&e.kind, sluice_states::EventKind::TaskScheduled { request, .. } if request.token == r.token)
        });
        entered.map_or(0, |e| (e.timestamp.as_millis() - T0) / 1000)
    }).collect()
}

/// Runs a task with `retry` and a catch-all, failing with `errors` in turn (then succeeding),
/// and checks the seconds (from T0) at which each attempt started and the output.
fn check_retry(retry: Value, errors: &[&'static str], expected_starts: &[u64], expected: Value) {
    let definition = json!({"StartAt": "T", "States": {
        "T": {
            "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
            "Parameters": {"FunctionName": "f", "Payload": {"retry.$": "$$.State.RetryCount"}},
            "Retry": retry,
            "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Caught"}],
            "End": true
        },
        "Caught": {"Type": "Pass", "End": true}
    }});
    let mut sim = Sim::new(machine(definition));
    sim.start(json!({}));
    let mut calls = 0;
    let output = succeeded(sim.run(&mut |request| {
        assert_eq!(
            request.payload,
            json!({"retry": calls}),
            "RetryCount in the context object"
        );
        let reply = match errors.get(calls) {
            Some(error) => Reply::Err(error, "failed"),
            None => Reply::Ok(json!("done")),
        };
        calls += 1;
        reply
    }));
    assert_eq!(offsets(&sim), expected_starts, "{retry}");
    assert_eq!(output, expected, "{retry}");
    let tokens: Vec<String> = sim.started.iter().map(|r| r.token.to_string()).collect();
    let expected_tokens: Vec<String> = (0..expected_starts.len())
        .map(|i| format!("exec-1/T#1@{i}"))
        .collect();
    assert_eq!(tokens, expected_tokens, "one token per attempt");
}

#[test]
fn retry_counts_and_backoff() {
    let caught = |error: &str| json!({"Error": error, "Cause": "failed"});
    let always = ["Sluice.Retryable"; 10];
    let table = [
        (
            json!([{"ErrorEquals": ["Sluice.Retryable"], "IntervalSeconds": 2, "MaxAttempts": 3, "BackoffRate": 2}]),
            &always[..],
            vec![0, 2, 6, 14],
            caught("Sluice.Retryable"),
        ),
        (
            json!([{"ErrorEquals": ["Sluice.Retryable"], "IntervalSeconds": 2, "MaxAttempts": 3, "BackoffRate": 2, "MaxDelaySeconds": 3}]),
            &always[..],
            vec![0, 2, 5, 8],
            caught("Sluice.Retryable"),
        ),
        (
            json!([{"ErrorEquals": ["Sluice.Retryable"], "MaxAttempts": 0}]),
            &always[..],
            vec![0],
            caught("Sluice.Retryable"),
        ),
        (
            json!([{"ErrorEquals": ["Sluice.Retryable"]}]),
            &always[..],
            vec![0, 1, 3, 7],
            caught("Sluice.Retryable"),
        ),
        (
            json!([{"ErrorEquals": ["Sluice.Retryable"], "IntervalSeconds": 2, "BackoffRate": 1.5}]),
            &always[..2],
            vec![0, 2, 5],
            json!("done"),
        ),
        (
            json!([{"ErrorEquals": ["States.TaskFailed"], "IntervalSeconds": 1, "MaxAttempts": 1}]),
            &always[..],
            vec![0, 1],
            caught("Sluice.Retryable"),
        ),
        (
            json!([{"ErrorEquals": ["Other"], "IntervalSeconds": 1}]),
            &always[..],
            vec![0],
            caught("Sluice.Retryable"),
        ),
        // Each retrier counts its own attempts; only the first matching retrier is consulted.
        (
            json!([{"ErrorEquals": ["A"], "IntervalSeconds": 1, "MaxAttempts": 1},
                   {"ErrorEquals": ["B"], "IntervalSeconds": 5, "MaxAttempts": 1},
                   {"ErrorEquals": ["States.ALL"], "IntervalSeconds": 9, "MaxAttempts": 5}]),
            &["A", "B", "A"][..],
            vec![0, 1, 6],
            caught("A"),
        ),
    ];
    for (retry, errors, starts, expected) in table {
        check_retry(retry, errors, &starts, expected);
    }
}

/// A task failing with `error` under `catch`; `Ok(output)` or `Err(error)` for the execution.
fn check_catch(catch: Value, extra: Value, reply: Reply, expected: Result<Value, &str>) {
    let mut state = task("f", true, json!({"Catch": catch, "End": true}));
    if let (Value::Object(state), Value::Object(extra)) = (&mut state, extra) {
        state.extend(extra);
    }
    let definition = json!({"StartAt": "T", "States": {
        "T": state,
        "C1": {"Type": "Pass", "Parameters": {"by": "C1", "in.$": "$"}, "End": true},
        "C2": {"Type": "Pass", "Parameters": {"by": "C2", "in.$": "$"}, "End": true},
    }});
    let mut sim = Sim::new(machine(definition.clone()));
    sim.start(json!({"x": 1}));
    let outcome = sim.run(&mut |_| reply.clone());
    let outcome = match outcome {
        None => sim.run(&mut |_| Reply::Pending), // timers may still be due
        some => some,
    };
    let got = match outcome {
        Some(sluice_states::Outcome::Succeeded(output)) => Ok(output),
        Some(sluice_states::Outcome::Failed(f)) => Err(f.error),
        other => panic!("{definition}: {other:?}"),
    };
    assert_eq!(got, expected.map_err(str::to_owned), "{definition}");
}

#[test]
fn catch_matching_rules() {
    let two = json!([{"ErrorEquals": ["Sluice.ActionFailed"], "Next": "C1"}, {"ErrorEquals": ["States.ALL"], "Next": "C2"}]);
    let task_failed = json!([{"ErrorEquals": ["States.TaskFailed"], "Next": "C1"}]);
    let timeout = json!([{"ErrorEquals": ["States.Timeout"], "Next": "C1"}]);
    let all = json!([{"ErrorEquals": ["States.ALL"], "Next": "C1"}]);
    let error = |e: &str| json!({"Error": e, "Cause": "c"});
    let table = [
        (
            two.clone(),
            json!({}),
            Reply::Err("Sluice.ActionFailed", "c"),
            Ok(json!({"by": "C1", "in": error("Sluice.ActionFailed")})),
        ),
        (
            two.clone(),
            json!({}),
            Reply::Err("Sluice.Other", "c"),
            Ok(json!({"by": "C2", "in": error("Sluice.Other")})),
        ),
        (
            json!([{"ErrorEquals": ["Sluice.ActionFailed"], "Next": "C1"}]),
            json!({}),
            Reply::Err("Sluice.Other", "c"),
            Err("Sluice.Other"),
        ),
        (
            task_failed.clone(),
            json!({}),
            Reply::Err("Sluice.Other", "c"),
            Ok(json!({"by": "C1", "in": error("Sluice.Other")})),
        ),
        // States.TaskFailed does not match a timeout; States.Timeout and States.ALL do.
        (
            task_failed.clone(),
            json!({"TimeoutSeconds": 10}),
            Reply::Pending,
            Err("States.Timeout"),
        ),
        (
            timeout.clone(),
            json!({"TimeoutSeconds": 10}),
            Reply::Pending,
            Ok(
                json!({"by": "C1", "in": {"Error": "States.Timeout", "Cause": "The task did not complete within TimeoutSeconds"}}),
            ),
        ),
        (
            timeout.clone(),
            json!({"HeartbeatSeconds": 5}),
            Reply::Pending,
            Ok(
                json!({"by": "C1", "in": {"Error": "States.HeartbeatTimeout", "Cause": "The task sent no heartbeat within HeartbeatSeconds"}}),
            ),
        ),
        (
            json!([{"ErrorEquals": ["States.HeartbeatTimeout"], "Next": "C1"}]),
            json!({"TimeoutSeconds": 10}),
            Reply::Pending,
            Err("States.Timeout"),
        ),
        (
            all.clone(),
            json!({"TimeoutSeconds": 10}),
            Reply::Pending,
            Ok(
                json!({"by": "C1", "in": {"Error": "States.Timeout", "Cause": "The task did not complete within TimeoutSeconds"}}),
            ),
        ),
        // The catcher's ResultPath places the error output in the state input.
        (
            json!([{"ErrorEquals": ["States.ALL"], "ResultPath": "$.err", "Next": "C1"}]),
            json!({}),
            Reply::Err("E", "c"),
            Ok(json!({"by": "C1", "in": {"x": 1, "err": error("E")}})),
        ),
        // States.ALL catches neither States.Runtime (a Parameters path that matches nothing)...
        (
            all.clone(),
            json!({"Parameters": {"FunctionName": "f", "Payload": {"v.$": "$.missing"}}}),
            Reply::Ok(json!(1)),
            Err("States.Runtime"),
        ),
        // ...nor States.DataLimitExceeded.
        (
            all.clone(),
            json!({}),
            Reply::Ok(json!("z".repeat(300 * 1024))),
            Err("States.DataLimitExceeded"),
        ),
        // But it does catch States.ResultPathMatchFailure.
        (
            all.clone(),
            json!({"ResultPath": "$.x.y"}),
            Reply::Ok(json!(1)),
            Ok(
                json!({"by": "C1", "in": {"Error": "States.ResultPathMatchFailure", "Cause": "Unable to apply ResultPath '$.x.y' to the state's input"}}),
            ),
        ),
    ];
    for (catch, extra, reply, expected) in table {
        check_catch(catch, extra, reply, expected);
    }
}

#[test]
fn task_timeout_fires_at_the_deadline() {
    let mut sim = Sim::new(machine(
        json!({"StartAt": "T", "States": {"T": task("f", true, json!({"TimeoutSeconds": 30, "End": true}))}}),
    ));
    sim.start(json!({}));
    assert_eq!(
        sim.timers
            .values()
            .map(|t| t.as_millis())
            .collect::<Vec<_>>(),
        vec![T0 + 30_000]
    );
    let failure = failed(sim.run(&mut |_| Reply::Pending));
    assert_eq!(
        failure,
        Failure::new(
            "States.Timeout",
            "The task did not complete within TimeoutSeconds"
        )
    );
    assert_eq!(sim.now.as_millis(), T0 + 30_000);
    // A late success is refused: the task no longer exists.
    let token = sim.started[0].token.clone();
    assert_eq!(
        sim.send(Command::TaskSucceeded {
            token: token.clone(),
            output: json!(1)
        }),
        Err(CommandError::TaskNotOutstanding(token))
    );
}

#[test]
fn heartbeats_push_the_heartbeat_deadline() {
    let mut sim = Sim::new(machine(
        json!({"StartAt": "T", "States": {"T": task("f", true, json!({"HeartbeatSeconds": 3, "TimeoutSeconds": 100, "End": true}))}}),
    ));
    sim.start(json!({}));
    let token = sim.started[0].token.clone();
    for beat in 1..=3u64 {
        sim.now = sluice_states::Timestamp::from_millis(T0 + beat * 2_000);
        sim.send(Command::TaskHeartbeat {
            token: token.clone(),
        })
        .expect("heartbeat");
    }
    // last heartbeat at +6s: the task times out at +9s, not before
    let failure = failed(sim.run(&mut |_| Reply::Pending));
    assert_eq!(failure.error, "States.HeartbeatTimeout");
    assert_eq!(sim.now.as_millis(), T0 + 9_000);
}

#[test]
fn execution_timeout_cancels_open_tasks() {
    let mut sim = Sim::new(machine(
        json!({"TimeoutSeconds": 60, "StartAt": "T", "States": {"T": task("f", true, json!({"End": true}))}}),
    ));
    sim.start(json!({}));
    let outcome = sim.run(&mut |_| Reply::Pending);
    assert_eq!(
        outcome,
        Some(sluice_states::Outcome::TimedOut(Failure::new(
            "States.Timeout",
            "The execution did not complete within TimeoutSeconds"
        )))
    );
    assert_eq!(sim.cancelled, vec![sim.started[0].token.clone()]);
}

#[test]
fn stop_aborts_and_cancels() {
    let mut sim = Sim::new(machine(
        json!({"StartAt": "T", "States": {"T": task("f", true, json!({"End": true}))}}),
    ));
    sim.start(json!({}));
    sim.send(Command::Stop {
        failure: Failure::new("User.Stop", "by hand"),
    })
    .expect("stops");
    assert_eq!(
        sim.exec.outcome(),
        Some(&sluice_states::Outcome::Aborted(Failure::new(
            "User.Stop",
            "by hand"
        )))
    );
    assert_eq!(sim.cancelled.len(), 1);
    assert_eq!(
        sim.send(Command::Stop {
            failure: Failure::bare("again")
        }),
        Err(CommandError::Ended)
    );
}

fn parallel_machine(catch: bool) -> Value {
    let mut parallel = json!({
        "Type": "Parallel",
        "InputPath": "$.in",
        "Parameters": {"shared.$": "$.v"},
        "Branches": [
            {"StartAt": "A", "States": {"A": task("fa", true, json!({"ResultSelector": {"a.$": "$.shared"}, "End": true}))}},
            {"StartAt": "B", "States": {"B": task("fb", true, json!({"Next": "B2"})), "B2": {"Type": "Pass", "Result": "b", "End": true}}},
            {"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": "p", "End": true}}}
        ],
        "ResultPath": "$.out",
        "Next": "Done"
    });
    if catch {
        parallel["Catch"] =
            json!([{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Recover"}]);
    }
    json!({"StartAt": "Par", "States": {
        "Par": parallel,
        "Done": {"Type": "Succeed"},
        "Recover": {"Type": "Pass", "End": true}
    }})
}

#[test]
fn parallel_outputs_are_in_branch_order() {
    let mut sim = Sim::new(machine(parallel_machine(false)));
    sim.start(json!({"in": {"v": 42}}));
    // branch B answers first, A last: the output order is still A, B, P
    let b = sim.token("fb");
    let a = sim.token("fa");
    assert_eq!(
        sim.started
            .iter()
            .map(|r| r.payload.clone())
            .collect::<Vec<_>>(),
        vec![json!({"shared": 42}); 2]
    );
    sim.send(Command::TaskSucceeded {
        token: b,
        output: json!("ignored"),
    })
    .expect("b");
    sim.send(Command::TaskSucceeded {
        token: a,
        output: json!({"shared": 42}),
    })
    .expect("a");
    assert_eq!(
        succeeded(sim.exec.outcome().cloned()),
        json!({"in": {"v": 42}, "out": [{"a": 42}, "b", "p"]})
    );
    assert_eq!(sim.started[0].token.as_str(), "exec-1/Par#1@0/0/A#1@0");
}

#[test]
fn a_failing_branch_cancels_the_others_and_goes_to_catch() {
    let mut sim = Sim::new(machine(parallel_machine(true)));
    sim.start(json!({"in": {"v": 1}}));
    let a = sim.token("fa");
    let b = sim.token("fb");
    sim.send(Command::TaskFailed {
        token: b,
        failure: Failure::new("Sluice.ActionFailed", "lint"),
    })
    .expect("b fails");
    assert_eq!(sim.cancelled, vec![a.clone()]);
    assert_eq!(
        succeeded(sim.exec.outcome().cloned()),
        json!({"in": {"v": 1}, "error": {"Error": "Sluice.ActionFailed", "Cause": "lint"}})
    );
    assert_eq!(
        sim.send(Command::TaskSucceeded {
            token: a.clone(),
            output: json!(1)
        }),
        Err(CommandError::TaskNotOutstanding(a))
    );
    // Without a catcher the execution fails with the branch's error.
    let mut sim = Sim::new(machine(parallel_machine(false)));
    sim.start(json!({"in": {"v": 1}}));
    let b = sim.token("fb");
    sim.send(Command::TaskFailed {
        token: b,
        failure: Failure::new("Sluice.ActionFailed", "lint"),
    })
    .expect("b fails");
    assert_eq!(
        failed(sim.exec.outcome().cloned()),
        Failure::new("Sluice.ActionFailed", "lint")
    );
    assert_eq!(sim.cancelled.len(), 1);
}

#[test]
fn a_retried_parallel_runs_fresh_branches() {
    let mut definition = parallel_machine(false);
    definition["States"]["Par"]["Retry"] =
        json!([{"ErrorEquals": ["Sluice.Retryable"], "IntervalSeconds": 4}]);
    let mut sim = Sim::new(machine(definition));
    sim.start(json!({"in": {"v": 1}}));
    let mut first = true;
    let output = succeeded(sim.run(&mut |request| {
        if request.function_name == "fb" && first {
            first = false;
            Reply::Err("Sluice.Retryable", "flaky")
        } else {
            Reply::Ok(json!({"shared": 1}))
        }
    }));
    assert_eq!(output["out"], json!([{"a": 1}, "b", "p"]));
    let tokens: Vec<&str> = sim.started.iter().map(|r| r.token.as_str()).collect();
    assert_eq!(
        tokens,
        vec![
            "exec-1/Par#1@0/0/A#1@0",
            "exec-1/Par#1@0/1/B#1@0",
            "exec-1/Par#1@1/0/A#1@0",
            "exec-1/Par#1@1/1/B#1@0"
        ]
    );
    // A had already succeeded when B failed: nothing was left to cancel.
    assert_eq!(sim.cancelled, Vec::<TaskToken>::new());
    assert_eq!(sim.now.as_millis(), T0 + 4_000);
}
