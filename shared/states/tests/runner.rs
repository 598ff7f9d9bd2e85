//! The runner over the in-memory store, a fake host and a fake clock.

use serde_json::{json, Value};
use sluice_states::{
    Failure, FakeClock, HistoryStore, Machine, MemoryStore, Outcome, Runner, RunnerError,
    StartExecution, Status, TaskHost, TaskRequest, TaskToken, Timestamp,
};

#[derive(Default)]
struct FakeHost {
    dispatched: Vec<TaskRequest>,
    invoked: Vec<TaskRequest>,
    cancelled: Vec<TaskToken>,
    finished: Vec<(String, Outcome)>,
}

impl TaskHost for FakeHost {
    fn invoke(&mut self, request: &TaskRequest) -> Result<Value, Failure> {
        self.invoked.push(request.clone());
        match request.function_name.as_str() {
            "fail" => Err(Failure::new("Sluice.ActionFailed", "no")),
            _ => Ok(json!({"doubled": request.payload["n"].as_i64().unwrap_or(0) * 2})),
        }
    }

    fn dispatch(&mut self, request: &TaskRequest) -> Result<(), Failure> {
        self.dispatched.push(request.clone());
        Ok(())
    }

    fn cancel(&mut self, token: &TaskToken) {
        self.cancelled.push(token.clone());
    }

    fn finished(&mut self, execution_id: &str, outcome: &Outcome) {
        self.finished
            .push((execution_id.to_owned(), outcome.clone()));
    }
}

fn machine() -> Machine {
    Machine::from_json(&json!({"StartAt": "Double", "States": {
        "Double": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
            "Parameters": {"FunctionName": "double", "Payload.$": "$"},
            "ResultSelector": {"v.$": "$.Payload.doubled"}, "ResultPath": "$.double", "Next": "Approve"},
        "Approve": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
            "Parameters": {"FunctionName": "approve", "Payload": {"token.$": "$$.Task.Token"}},
            "ResultPath": "$.approval", "Next": "Pause"},
        "Pause": {"Type": "Wait", "Seconds": 30, "End": true}
    }}))
    .expect("loads")
}

fn start(id: &str) -> StartExecution {
    StartExecution {
        execution_id: id.into(),
        name: id.into(),
        state_machine_id: "sm".into(),
        input: json!({"n": 21}),
    }
}

#[test]
fn runs_request_response_callbacks_and_timers() {
    let clock = FakeClock::new(Timestamp::from_millis(1_000_000));
    let mut runner = Runner::new(
        machine(),
        MemoryStore::new(),
        FakeHost::default(),
        clock.clone(),
    );
    assert_eq!(runner.start(start("e1")).expect("starts"), Status::Running);
    assert_eq!(runner.host().invoked.len(), 1);
    let token = runner.host().dispatched[0].token.clone();
    assert_eq!(
        runner.host().dispatched[0].payload,
        json!({"token": "e1/Approve#1@0"})
    );

    runner
        .send_task_success(&token, json!("yes"))
        .expect("approved");
    assert!(matches!(
        runner.send_task_success(&token, json!("again")),
        Err(RunnerError::UnknownToken(_))
    ));
    assert_eq!(runner.next_timer(), Some(Timestamp::from_millis(1_030_000)));
    assert_eq!(
        runner.fire_due_timers().expect("fires"),
        0,
        "nothing due yet"
    );
    clock.advance_seconds(30);
    assert_eq!(runner.fire_due_timers().expect("fires"), 1);
    assert_eq!(runner.status("e1").expect("known"), Status::Succeeded);
    assert_eq!(
        runner.host().finished,
        vec![(
            "e1".to_owned(),
            Outcome::Succeeded(json!({"n": 21, "double": {"v": 42}, "approval": "yes"}))
        )]
    );
}

#[test]
fn a_restarted_runner_reissues_open_callbacks_with_the_same_token() {
    let clock = FakeClock::new(Timestamp::from_millis(0));
    let mut runner = Runner::new(
        machine(),
        MemoryStore::new(),
        FakeHost::default(),
        clock.clone(),
    );
    runner.start(start("e1")).expect("starts");
    let token = runner.host().dispatched[0].token.clone();
    let stored = runner.store().clone();
    let length = stored.load("e1").expect("loads").len();

    // "Crash": a new runner over the same store.
    let mut restarted = Runner::new(machine(), stored, FakeHost::default(), clock);
    let resumed = restarted.resume_all().expect("resumes");
    assert_eq!(resumed.len(), 1);
    assert_eq!(resumed[0].1.status, Status::Running);
    assert_eq!(
        resumed[0]
            .1
            .outstanding
            .iter()
            .map(|r| r.token.clone())
            .collect::<Vec<_>>(),
        vec![token.clone()]
    );
    assert_eq!(restarted.host().dispatched.len(), 1);
    assert_eq!(restarted.host().dispatched[0].token, token);
    assert!(
        restarted.host().invoked.is_empty(),
        "the finished request/response task is not run again"
    );
    assert_eq!(
        restarted.store().load("e1").expect("loads").len(),
        length,
        "resuming added no event"
    );
    restarted
        .send_task_failure(&token, Failure::new("Sluice.Rejected", "no"))
        .expect("reported");
    assert_eq!(restarted.status("e1").expect("known"), Status::Failed);
}

#[test]
fn request_response_failures_and_stop() {
    let failing = Machine::from_json(&json!({"StartAt": "F", "States": {"F": {"Type": "Task",
        "Resource": "arn:aws:states:::lambda:invoke", "Parameters": {"FunctionName": "fail", "Payload": {}}, "End": true}}}))
    .expect("loads");
    let mut runner = Runner::new(
        failing,
        MemoryStore::new(),
        FakeHost::default(),
        FakeClock::default(),
    );
    assert_eq!(runner.start(start("e1")).expect("starts"), Status::Failed);
    assert!(matches!(
        runner.start(start("e1")),
        Err(RunnerError::Command(_))
    ));

    let mut runner = Runner::new(
        machine(),
        MemoryStore::new(),
        FakeHost::default(),
        FakeClock::default(),
    );
    runner.start(start("e2")).expect("starts");
    runner
        .stop("e2", Failure::new("Sluice.Stopped", "by user"))
        .expect("stops");
    assert_eq!(runner.status("e2").expect("known"), Status::Aborted);
    assert_eq!(
        runner.host().cancelled,
        vec![TaskToken::from("e2/Approve#1@0")]
    );
}
