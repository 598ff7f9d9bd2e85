//! The interpreter: an [`Execution`] is the state folded from its history, and
//! [`Execution::handle`] turns a [`Command`] into new history events plus the [`Effect`]s the
//! host must perform. No IO happens here; time comes in as an argument.
//!
//! Every event is applied by one function, [`Execution::apply`], both live and on replay. Only
//! commands from outside (start, task outcomes, heartbeats, timers, stop) are recorded directly;
//! everything else is *derived*: [`Execution::decide`] looks at the current state alone and says
//! which event comes next, until nothing is left to do. Because derivation depends on the state
//! and never on the command that led there, a history cut after any event replays to a state
//! from which [`Execution::resume`] derives exactly the missing events.
//!
//! The state and the commands are here; [`apply`] folds events into the state, [`decide`] derives what
//! comes next.

mod apply;
mod decide;

use crate::errors::{self, Failure, MAX_PAYLOAD_BYTES};
use crate::history::{
    EventKind, HistoryEvent, StopKind, TaskRequest, TaskToken, ThreadId, TimerId,
};
use crate::model::{GraphId, Machine};
use crate::timestamp::Timestamp;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use thiserror::Error;

/// Step Functions' limit on history length; an execution reaching it fails.
pub const MAX_HISTORY_EVENTS: u64 = 25_000;

/// What starts an execution.
#[derive(Debug, Clone, PartialEq)]
pub struct StartExecution {
    /// Unique id chosen by the host (`$$.Execution.Id`); part of every task token.
    pub execution_id: String,
    /// `$$.Execution.Name`.
    pub name: String,
    /// `$$.StateMachine.Id`.
    pub state_machine_id: String,
    /// The execution input.
    pub input: Value,
}

/// An input from outside.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Start the execution.
    Start(StartExecution),
    /// `SendTaskSuccess`, or a request/response handler's return value.
    TaskSucceeded {
        /// The task.
        token: TaskToken,
        /// Its result.
        output: Value,
    },
    /// `SendTaskFailure`, or a request/response handler's error.
    TaskFailed {
        /// The task.
        token: TaskToken,
        /// The error.
        failure: Failure,
    },
    /// `SendTaskHeartbeat`.
    TaskHeartbeat {
        /// The task.
        token: TaskToken,
    },
    /// A timer from an [`Effect::StartTimer`] is due.
    TimerFired {
        /// The timer.
        timer: TimerId,
    },
    /// `StopExecution`.
    Stop {
        /// The error (and cause) to record.
        failure: Failure,
    },
}

/// Something the host must do after appending the events of a [`Step`].
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Start a task (idempotently: a re-issue carries the same token).
    StartTask(TaskRequest),
    /// Feed [`Command::TimerFired`] at `fire_at` (firing a timer that is no longer pending is harmless).
    StartTimer {
        /// The timer.
        id: TimerId,
        /// When.
        fire_at: Timestamp,
    },
    /// Stop a task that is no longer wanted; its token is no longer accepted.
    CancelTask {
        /// The task.
        token: TaskToken,
    },
    /// The execution ended.
    Finished(Outcome),
}

/// How an execution ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// It succeeded with this output.
    Succeeded(Value),
    /// It failed.
    Failed(Failure),
    /// It was stopped.
    Aborted(Failure),
    /// Its `TimeoutSeconds` elapsed.
    TimedOut(Failure),
}

/// The status of an execution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Not started yet (empty history).
    NotStarted,
    /// Running.
    Running,
    /// Succeeded.
    Succeeded,
    /// Failed.
    Failed,
    /// Aborted.
    Aborted,
    /// Timed out.
    TimedOut,
}

/// The result of a transition: events to append, then effects to perform.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Step {
    /// New history events, to append before performing any effect.
    pub events: Vec<HistoryEvent>,
    /// What the host must do.
    pub effects: Vec<Effect>,
}

/// A history that does not fit the machine (or itself).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum HistoryError {
    /// Event ids must be 1, 2, 3, ...
    #[error("event {found} found where event {expected} was expected")]
    OutOfOrder {
        /// The id expected.
        expected: u64,
        /// The id found.
        found: u64,
    },
    /// An event does not apply to the state the earlier events built.
    #[error("event {id} ({kind}) does not apply: {reason}")]
    Inconsistent {
        /// The event id.
        id: u64,
        /// The event type.
        kind: String,
        /// Why.
        reason: String,
    },
}

/// A command that cannot be applied.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum CommandError {
    /// `Start` on an execution that has a history.
    #[error("the execution has already started")]
    AlreadyStarted,
    /// Any other command before `Start`.
    #[error("the execution has not started")]
    NotStarted,
    /// The execution has ended.
    #[error("the execution has ended")]
    Ended,
    /// The token names no open task (unknown, finished, timed out or cancelled).
    #[error("task {0} does not exist or is no longer running")]
    TaskNotOutstanding(TaskToken),
    /// The execution input exceeds 256 KiB.
    #[error(
        "States.DataLimitExceeded: the execution input is {0} bytes, over the 262144-byte limit"
    )]
    InputTooLarge(usize),
    /// The interpreter derived an event it could not apply (a bug).
    #[error(transparent)]
    History(#[from] HistoryError),
}

#[derive(Debug, Clone)]
pub(crate) struct Meta {
    execution_id: String,
    name: String,
    state_machine_id: String,
    input: Value,
    start_time: Timestamp,
}

#[derive(Debug, Clone)]
pub(crate) struct Thread {
    graph: GraphId,
    parent: Option<(ThreadId, usize)>,
    cursor: Cursor,
}

#[derive(Debug, Clone)]
pub(crate) enum Cursor {
    Entering { state: String, input: Value },
    Active(Active),
    Finished(Value),
    Failed(Failure),
}

#[derive(Debug, Clone)]
pub(crate) struct Active {
    name: String,
    path: String,
    input: Value,
    entered_at: Timestamp,
    entered_event: u64,
    attempt: u32,
    retries: Vec<u32>,
    phase: Phase,
}

impl Active {
    /// Prefix of the thread ids of this (Parallel) state's current branches.
    fn subtree(&self) -> String {
        format!("{}@{}/", self.path, self.attempt)
    }
}

#[derive(Debug, Clone)]
pub(crate) enum Phase {
    Ready,
    Task,
    TaskDone(Value),
    Errored(Failure),
    Waiting,
    WaitDone,
    RetryWait,
    Parallel(Vec<Option<Value>>),
}

#[derive(Debug, Clone)]
pub(crate) struct OpenTask {
    thread: ThreadId,
    request: TaskRequest,
    heartbeats: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Purpose {
    Wait(ThreadId),
    Retry(ThreadId),
    TaskTimeout(TaskToken),
    Heartbeat(TaskToken),
    Execution,
}

#[derive(Debug, Clone)]
pub(crate) struct Timer {
    fire_at: Timestamp,
    purpose: Purpose,
}

/// One execution of a [`Machine`], rebuilt from (and extended by) its history.
#[derive(Debug, Clone)]
pub struct Execution {
    machine: Machine,
    meta: Option<Meta>,
    outcome: Option<Outcome>,
    stopping: Option<(StopKind, Failure)>,
    threads: BTreeMap<ThreadId, Thread>,
    tasks: BTreeMap<TaskToken, OpenTask>,
    timers: BTreeMap<TimerId, Timer>,
    visits: HashMap<String, u32>,
    last_event: u64,
}

pub(crate) fn payload_size(value: &Value) -> usize {
    serde_json::to_vec(value).map_or(usize::MAX, |bytes| bytes.len())
}

pub(crate) fn data_limit(what: &str, size: usize) -> Failure {
    Failure::new(
        errors::DATA_LIMIT_EXCEEDED,
        format!("The {what} is {size} bytes, over the {MAX_PAYLOAD_BYTES}-byte limit"),
    )
}

impl Execution {
    /// A fresh execution with an empty history.
    pub fn new(machine: &Machine) -> Self {
        Self {
            machine: machine.clone(),
            meta: None,
            outcome: None,
            stopping: None,
            threads: BTreeMap::new(),
            tasks: BTreeMap::new(),
            timers: BTreeMap::new(),
            visits: HashMap::new(),
            last_event: 0,
        }
    }

    /// Rebuilds an execution by applying a stored history. Performs no decision: call
    /// [`resume`](Self::resume) to continue it.
    pub fn replay(machine: &Machine, history: &[HistoryEvent]) -> Result<Self, HistoryError> {
        let mut execution = Self::new(machine);
        for event in history {
            execution.apply(event)?;
        }
        Ok(execution)
    }

    /// The status.
    pub fn status(&self) -> Status {
        match (&self.meta, &self.outcome) {
            (None, _) => Status::NotStarted,
            (Some(_), None) => Status::Running,
            (_, Some(Outcome::Succeeded(_))) => Status::Succeeded,
            (_, Some(Outcome::Failed(_))) => Status::Failed,
            (_, Some(Outcome::Aborted(_))) => Status::Aborted,
            (_, Some(Outcome::TimedOut(_))) => Status::TimedOut,
        }
    }

    /// How it ended, once it has.
    pub fn outcome(&self) -> Option<&Outcome> {
        self.outcome.as_ref()
    }

    /// The host-chosen execution id, once started.
    pub fn execution_id(&self) -> Option<&str> {
        self.meta.as_ref().map(|m| m.execution_id.as_str())
    }

    /// The id of the last event applied (the history length).
    pub fn last_event_id(&self) -> u64 {
        self.last_event
    }

    /// Tasks scheduled whose outcome is not recorded, in token order.
    pub fn outstanding_tasks(&self) -> Vec<&TaskRequest> {
        self.tasks.values().map(|task| &task.request).collect()
    }

    /// Whether `token` names an open task of this execution.
    pub fn has_task(&self, token: &TaskToken) -> bool {
        self.tasks.contains_key(token)
    }

    /// Pending timers and when they fire, in id order.
    pub fn pending_timers(&self) -> Vec<(&TimerId, Timestamp)> {
        self.timers
            .iter()
            .map(|(id, timer)| (id, timer.fire_at))
            .collect()
    }

    /// Handles a command at time `now`. On success `self` already includes the returned events:
    /// if the host then fails to append them, it must discard this value and replay from its store.
    pub fn handle(&mut self, command: Command, now: Timestamp) -> Result<Step, CommandError> {
        let before = self.snapshot();
        let mut events = Vec::new();
        if let Some(kind) = self.record(command, now)? {
            self.emit(kind, now, &mut events)?;
        }
        self.drive(now, &mut events)?;
        let effects = self.effects(&before, &events);
        Ok(Step { events, effects })
    }

    /// Continues a replayed execution: derives any events a crash cut off, then re-issues an
    /// effect for every open task and pending timer (the host cannot know which it performed).
    pub fn resume(&mut self, now: Timestamp) -> Result<Step, CommandError> {
        let mut events = Vec::new();
        self.drive(now, &mut events)?;
        let mut effects: Vec<Effect> = self
            .tasks
            .values()
            .map(|t| Effect::StartTask(t.request.clone()))
            .collect();
        effects.extend(self.timers.iter().map(|(id, t)| Effect::StartTimer {
            id: id.clone(),
            fire_at: t.fire_at,
        }));
        for event in &events {
            if let EventKind::TaskCancelled { token } = &event.kind {
                effects.push(Effect::CancelTask {
                    token: token.clone(),
                });
            }
        }
        effects.extend(
            self.outcome
                .clone()
                .filter(|_| !events.is_empty())
                .map(Effect::Finished),
        );
        Ok(Step { events, effects })
    }

    fn snapshot(&self) -> (BTreeSet<TaskToken>, BTreeSet<TimerId>) {
        (
            self.tasks.keys().cloned().collect(),
            self.timers.keys().cloned().collect(),
        )
    }

    fn effects(
        &self,
        before: &(BTreeSet<TaskToken>, BTreeSet<TimerId>),
        events: &[HistoryEvent],
    ) -> Vec<Effect> {
        let mut effects = Vec::new();
        for event in events {
            match &event.kind {
                EventKind::TaskScheduled { request, .. }
                    if self.tasks.contains_key(&request.token) =>
                {
                    effects.push(Effect::StartTask(request.clone()));
                }
                EventKind::TaskCancelled { token } if before.0.contains(token) => {
                    effects.push(Effect::CancelTask {
                        token: token.clone(),
                    });
                }
                _ => {}
            }
        }
        for (id, timer) in &self.timers {
            if !before.1.contains(id) {
                effects.push(Effect::StartTimer {
                    id: id.clone(),
                    fire_at: timer.fire_at,
                });
            }
        }
        if let Some(outcome) = &self.outcome {
            if events.iter().any(|e| is_terminal(&e.kind)) {
                effects.push(Effect::Finished(outcome.clone()));
            }
        }
        effects
    }

    /// Turns a command into the one event that records it (if any).
    fn record(&self, command: Command, now: Timestamp) -> Result<Option<EventKind>, CommandError> {
        if let Command::Start(start) = command {
            if self.meta.is_some() {
                return Err(CommandError::AlreadyStarted);
            }
            let size = payload_size(&start.input);
            if size > MAX_PAYLOAD_BYTES {
                return Err(CommandError::InputTooLarge(size));
            }
            let timeout_at = self
                .machine
                .definition()
                .timeout_seconds
                .map(|s| now.plus_seconds(s as f64));
            return Ok(Some(EventKind::ExecutionStarted {
                execution_id: start.execution_id,
                name: start.name,
                state_machine_id: start.state_machine_id,
                input: start.input,
                timeout_at,
            }));
        }
        if self.meta.is_none() {
            return Err(CommandError::NotStarted);
        }
        let open = |token: &TaskToken| {
            self.tasks
                .get(token)
                .ok_or_else(|| CommandError::TaskNotOutstanding(token.clone()))
        };
        Ok(match command {
            Command::Start(_) => None,
            Command::TaskSucceeded { token, output } => {
                open(&token)?;
                let size = payload_size(&output);
                Some(if size > MAX_PAYLOAD_BYTES {
                    EventKind::TaskFailed {
                        token,
                        failure: data_limit("task result", size),
                    }
                } else {
                    EventKind::TaskSucceeded { token, output }
                })
            }
            Command::TaskFailed { token, failure } => {
                open(&token)?;
                Some(EventKind::TaskFailed { token, failure })
            }
            Command::TaskHeartbeat { token } => {
                open(&token)?
                    .request
                    .heartbeat_seconds
                    .map(|seconds| EventKind::TaskHeartbeat {
                        token,
                        heartbeat_at: now.plus_seconds(seconds as f64),
                    })
            }
            Command::TimerFired { timer } => match self.timers.get(&timer).map(|t| &t.purpose) {
                None => None,
                Some(Purpose::TaskTimeout(token)) => Some(EventKind::TaskTimedOut {
                    token: token.clone(),
                    failure: Failure::new(
                        errors::TIMEOUT,
                        "The task did not complete within TimeoutSeconds",
                    ),
                }),
                Some(Purpose::Heartbeat(token)) => Some(EventKind::TaskTimedOut {
                    token: token.clone(),
                    failure: Failure::new(
                        errors::HEARTBEAT_TIMEOUT,
                        "The task sent no heartbeat within HeartbeatSeconds",
                    ),
                }),
                Some(Purpose::Execution) => Some(EventKind::ExecutionStopping {
                    kind: StopKind::TimedOut,
                    failure: Failure::new(
                        errors::TIMEOUT,
                        "The execution did not complete within TimeoutSeconds",
                    ),
                }),
                Some(Purpose::Wait(_) | Purpose::Retry(_)) => Some(EventKind::TimerFired { timer }),
            },
            Command::Stop { failure } => {
                if self.outcome.is_some() || self.stopping.is_some() {
                    return Err(CommandError::Ended);
                }
                Some(EventKind::ExecutionStopping {
                    kind: StopKind::Aborted,
                    failure,
                })
            }
        })
    }

    fn emit(
        &mut self,
        kind: EventKind,
        now: Timestamp,
        out: &mut Vec<HistoryEvent>,
    ) -> Result<(), HistoryError> {
        let event = HistoryEvent {
            id: self.last_event + 1,
            timestamp: now,
            kind,
        };
        self.apply(&event)?;
        out.push(event);
        Ok(())
    }

    fn drive(&mut self, now: Timestamp, out: &mut Vec<HistoryEvent>) -> Result<(), HistoryError> {
        while let Some(kind) = self.decide(now) {
            self.emit(kind, now, out)?;
        }
        Ok(())
    }
}

pub(crate) fn is_terminal(kind: &EventKind) -> bool {
    matches!(
        kind,
        EventKind::ExecutionSucceeded { .. }
            | EventKind::ExecutionFailed { .. }
            | EventKind::ExecutionAborted { .. }
            | EventKind::ExecutionTimedOut { .. }
    )
}

pub(crate) fn visit_key(thread: &ThreadId, state: &str) -> String {
    format!("{thread}/{state}")
}
