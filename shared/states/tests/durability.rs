//! Durability: cut a finished run's history after every event, replay, resume and continue;
//! the outcome must not change and no task may start twice for the same attempt, except the
//! re-issue of a task that was open at the cut, which must carry the same token.

mod common;

use std::collections::BTreeMap;

use common::{machine, task, Reply, Sim};
use serde_json::{json, Value};
use sluice_states::{EventKind, Execution, HistoryEvent, TaskRequest, TaskToken};

fn scheduled(history: &[HistoryEvent]) -> Vec<TaskToken> {
    history
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::TaskScheduled { request, .. } => Some(request.token.clone()),
            _ => None,
        })
        .collect()
}

fn count(requests: &[TaskRequest]) -> BTreeMap<TaskToken, usize> {
    let mut counts = BTreeMap::new();
    for r in requests {
        *counts.entry(r.token.clone()).or_insert(0) += 1;
    }
    counts
}

fn check_every_prefix(definition: Value, input: Value, responder: fn(&TaskRequest) -> Reply) {
    let machine = machine(definition);
    let mut reference = Sim::new(machine.clone());
    reference.start(input);
    let outcome = reference
        .run(&mut |r| responder(r))
        .expect("the reference run ends");
    let history = reference.history.clone();
    let all_tokens = scheduled(&history);
    assert!(
        count(&reference.started).values().all(|n| *n == 1),
        "each token started once"
    );
    assert_eq!(count(&reference.started).len(), all_tokens.len());

    for cut in 1..=history.len() {
        let prefix = &history[..cut];
        let replayed = Execution::replay(&machine, prefix).expect("a prefix replays");
        let open_at_cut: Vec<TaskToken> = replayed
            .outstanding_tasks()
            .into_iter()
            .map(|r| r.token.clone())
            .collect();
        let now = prefix[cut - 1].timestamp;
        let mut sim = Sim::from_parts(machine.clone(), replayed, prefix.to_vec(), now);
        let step = sim.exec.resume(now).expect("resumes");
        // Resuming re-issues every task open at the cut, unless deriving the lost events
        // cancels it (then it says so).
        let reissued: Vec<TaskToken> = step
            .effects
            .iter()
            .filter_map(|e| match e {
                sluice_states::Effect::StartTask(r) => Some(r.token.clone()),
                _ => None,
            })
            .filter(|t| scheduled(prefix).contains(t))
            .collect();
        for token in &open_at_cut {
            let cancelled = step.effects.contains(&sluice_states::Effect::CancelTask {
                token: token.clone(),
            });
            assert!(
                reissued.contains(token) != cancelled,
                "{token} is re-issued or cancelled after a cut at event {cut}"
            );
        }
        assert!(
            reissued.iter().all(|t| open_at_cut.contains(t)),
            "only open tasks are re-issued"
        );
        sim.history.extend(step.events);
        sim.absorb(step.effects);
        let resumed = sim.run(&mut |r| responder(r));
        assert_eq!(
            resumed.as_ref(),
            Some(&outcome),
            "outcome after a cut at event {cut}"
        );

        let final_tokens = scheduled(&sim.history);
        assert_eq!(
            final_tokens, all_tokens,
            "the same tasks, in the same order, after a cut at event {cut}"
        );
        let before_cut = scheduled(prefix);
        let starts = count(&sim.started);
        for token in &all_tokens {
            let expected =
                usize::from(!before_cut.contains(token)) + usize::from(reissued.contains(token));
            assert_eq!(
                starts.get(token).copied().unwrap_or(0),
                expected,
                "starts of {token} after a cut at event {cut}"
            );
        }
        // The continued history is the reference history (timestamps aside).
        let kinds = |h: &[HistoryEvent]| h.iter().map(|e| e.kind.clone()).collect::<Vec<_>>();
        assert_eq!(
            kinds(&sim.history),
            kinds(&history),
            "history after a cut at event {cut}"
        );
    }
}

fn pipeline() -> Value {
    serde_json::from_str(include_str!("fixtures/pipeline_demo.json")).expect("fixture is JSON")
}

fn gate_then_ok(r: &TaskRequest) -> Reply {
    match r.payload["op"].as_str() {
        Some("EnterStage") => Reply::Ok(json!({"attempt": 1})),
        _ => Reply::Ok(json!({})),
    }
}

#[test]
fn the_pipeline_survives_a_crash_anywhere() {
    check_every_prefix(pipeline(), json!({"n": 1}), gate_then_ok);
}

#[test]
fn the_failing_pipeline_survives_a_crash_anywhere() {
    check_every_prefix(pipeline(), json!({}), |r| {
        match r.payload["action"].as_str() {
            Some("Lint") => Reply::Err("Sluice.ActionFailed", "lint"),
            _ => gate_then_ok(r),
        }
    });
}

#[test]
fn retries_survive_a_crash_anywhere() {
    check_every_prefix(pipeline(), json!({}), |r| {
        let flaky = r.token.as_str().ends_with("@0") || r.token.as_str().ends_with("@1");
        match r.payload["action"].as_str() {
            Some("Checkout") if flaky => Reply::Err("Sluice.Retryable", "flaky"),
            _ => gate_then_ok(r),
        }
    });
}

#[test]
fn cancellation_waits_and_timeouts_survive_a_crash_anywhere() {
    let definition = json!({"StartAt": "W", "States": {
        "W": {"Type": "Wait", "Seconds": 5, "Next": "Par"},
        "Par": {
            "Type": "Parallel",
            "Branches": [
                {"StartAt": "A", "States": {"A": task("slow", true, json!({"End": true}))}},
                {"StartAt": "B", "States": {"B": task("bad", false, json!({"End": true}))}}
            ],
            "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "T"}],
            "Next": "T"
        },
        "T": task("never", true, json!({"TimeoutSeconds": 10, "HeartbeatSeconds": 4,
            "Catch": [{"ErrorEquals": ["States.Timeout"], "ResultPath": "$.timeout", "Next": "Done"}], "End": true})),
        "Done": {"Type": "Succeed"}
    }});
    check_every_prefix(definition, json!({}), |r| match r.function_name.as_str() {
        "bad" => Reply::Err("Sluice.ActionFailed", "bad"),
        _ => Reply::Pending,
    });
}
