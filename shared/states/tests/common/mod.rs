//! Shared test harness: a deterministic simulation of a host over the pure `Execution` API.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;
use sluice_states::{
    Command, CommandError, Effect, Execution, Failure, HistoryEvent, Machine, Outcome,
    StartExecution, TaskRequest, TaskToken, Timestamp,
};

pub const T0: u64 = 1_714_564_800_000; // 2024-05-01T12:00:00Z

pub fn machine(definition: Value) -> Machine {
    Machine::from_json(&definition).unwrap_or_else(|e| panic!("machine loads: {e}"))
}

pub fn start(input: Value) -> StartExecution {
    StartExecution {
        execution_id: "exec-1".into(),
        name: "run-1".into(),
        state_machine_id: "sm-1".into(),
        input,
    }
}

/// How the simulated host answers a task.
#[derive(Debug, Clone)]
pub enum Reply {
    Ok(Value),
    Err(&'static str, &'static str),
    /// Leave it running (a test will answer, or a timer will fire).
    Pending,
}

/// A host simulation: records effects, answers tasks through a responder, fires timers in order.
pub struct Sim {
    pub machine: Machine,
    pub exec: Execution,
    pub history: Vec<HistoryEvent>,
    pub now: Timestamp,
    pub started: Vec<TaskRequest>,
    pub cancelled: Vec<TaskToken>,
    pub finished: Vec<Outcome>,
    pub timers: BTreeMap<sluice_states::TimerId, Timestamp>,
    answered: BTreeSet<TaskToken>,
}

impl Sim {
    pub fn new(machine: Machine) -> Self {
        let exec = Execution::new(&machine);
        Self::from_parts(machine, exec, Vec::new(), Timestamp::from_millis(T0))
    }

    pub fn from_parts(
        machine: Machine,
        exec: Execution,
        history: Vec<HistoryEvent>,
        now: Timestamp,
    ) -> Self {
        Self {
            machine,
            exec,
            history,
            now,
            started: Vec::new(),
            cancelled: Vec::new(),
            finished: Vec::new(),
            timers: BTreeMap::new(),
            answered: BTreeSet::new(),
        }
    }

    pub fn send(&mut self, command: Command) -> Result<(), CommandError> {
        let step = self.exec.handle(command, self.now)?;
        for (i, event) in step.events.iter().enumerate() {
            assert_eq!(
                event.id,
                self.history.len() as u64 + 1 + i as u64,
                "event ids are consecutive"
            );
        }
        self.history.extend(step.events);
        self.absorb(step.effects);
        Ok(())
    }

    pub fn absorb(&mut self, effects: Vec<Effect>) {
        for effect in effects {
            match effect {
                Effect::StartTask(request) => {
                    self.answered.remove(&request.token);
                    self.started.push(request);
                }
                Effect::StartTimer { id, fire_at } => {
                    self.timers.insert(id, fire_at);
                }
                Effect::CancelTask { token } => self.cancelled.push(token),
                Effect::Finished(outcome) => self.finished.push(outcome),
            }
        }
    }

    pub fn start(&mut self, input: Value) {
        self.send(Command::Start(start(input))).expect("starts");
    }

    pub fn token(&self, function_or_marker: &str) -> TaskToken {
        self.started
            .iter()
            .rev()
            .find(|r| {
                r.payload.to_string().contains(function_or_marker)
                    || r.function_name == function_or_marker
            })
            .map(|r| r.token.clone())
            .unwrap_or_else(|| panic!("no task matching {function_or_marker}"))
    }

    /// Answers started tasks and fires timers (advancing the clock) until the execution ends
    /// or only pending tasks remain.
    pub fn run(&mut self, responder: &mut dyn FnMut(&TaskRequest) -> Reply) -> Option<Outcome> {
        for _ in 0..10_000 {
            if let Some(outcome) = self.exec.outcome() {
                return Some(outcome.clone());
            }
            let open: Vec<TaskRequest> =
                self.exec.outstanding_tasks().into_iter().cloned().collect();
            let next = open.into_iter().find(|r| !self.answered.contains(&r.token));
            if let Some(request) = next {
                self.answered.insert(request.token.clone());
                let token = request.token.clone();
                match responder(&request) {
                    Reply::Ok(output) => self
                        .send(Command::TaskSucceeded { token, output })
                        .expect("success accepted"),
                    Reply::Err(error, cause) => self
                        .send(Command::TaskFailed {
                            token,
                            failure: Failure::new(error, cause),
                        })
                        .expect("failure accepted"),
                    Reply::Pending => {}
                }
                continue;
            }
            let due = self
                .exec
                .pending_timers()
                .into_iter()
                .min_by_key(|(_, at)| *at)
                .map(|(id, at)| (id.clone(), at));
            match due {
                Some((timer, at)) => {
                    if at > self.now {
                        self.now = at;
                    }
                    self.send(Command::TimerFired { timer })
                        .expect("timer accepted");
                }
                None => return None,
            }
        }
        panic!("simulation did not settle");
    }

    pub fn event_types(&self) -> Vec<String> {
        self.history
            .iter()
            .map(|e| {
                serde_json::to_value(e)
                    .ok()
                    .and_then(|v| v["type"].as_str().map(str::to_owned))
                    .unwrap_or_default()
            })
            .collect()
    }
}

/// A Task state calling `function` (request/response unless `callback`).
pub fn task(function: &str, callback: bool, extra: Value) -> Value {
    let resource = if callback {
        "arn:aws:states:::lambda:invoke.waitForTaskToken"
    } else {
        "arn:aws:states:::lambda:invoke"
    };
    let mut state = serde_json::json!({
        "Type": "Task",
        "Resource": resource,
        "Parameters": {"FunctionName": function, "Payload.$": "$"},
    });
    if let (Value::Object(state), Value::Object(extra)) = (&mut state, extra) {
        state.extend(extra);
    }
    state
}

pub fn succeeded(outcome: Option<Outcome>) -> Value {
    match outcome {
        Some(Outcome::Succeeded(output)) => output,
        other => panic!("expected success, got {other:?}"),
    }
}

pub fn failed(outcome: Option<Outcome>) -> Failure {
    match outcome {
        Some(Outcome::Failed(failure)) => failure,
        other => panic!("expected failure, got {other:?}"),
    }
}
