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

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::{json, Value};
use thiserror::Error;

use crate::errors::{self, Failure, MAX_PAYLOAD_BYTES};
use crate::history::{
    EventKind, HistoryEvent, StopKind, TaskRequest, TaskToken, ThreadId, TimerId,
};
use crate::model::{
    GraphId, Handling, Machine, Seconds, State, TaskMode, Text, Transition, WaitUntil, ROOT_GRAPH,
};
use crate::timestamp::Timestamp;

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
struct Meta {
    execution_id: String,
    name: String,
    state_machine_id: String,
    input: Value,
    start_time: Timestamp,
}

#[derive(Debug, Clone)]
struct Thread {
    graph: GraphId,
    parent: Option<(ThreadId, usize)>,
    cursor: Cursor,
}

#[derive(Debug, Clone)]
enum Cursor {
    Entering { state: String, input: Value },
    Active(Active),
    Finished(Value),
    Failed(Failure),
}

#[derive(Debug, Clone)]
struct Active {
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
enum Phase {
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
struct OpenTask {
    thread: ThreadId,
    request: TaskRequest,
    heartbeats: u32,
}

#[derive(Debug, Clone, PartialEq)]
enum Purpose {
    Wait(ThreadId),
    Retry(ThreadId),
    TaskTimeout(TaskToken),
    Heartbeat(TaskToken),
    Execution,
}

#[derive(Debug, Clone)]
struct Timer {
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

fn payload_size(value: &Value) -> usize {
    serde_json::to_vec(value).map_or(usize::MAX, |bytes| bytes.len())
}

fn data_limit(what: &str, size: usize) -> Failure {
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

fn is_terminal(kind: &EventKind) -> bool {
    matches!(
        kind,
        EventKind::ExecutionSucceeded { .. }
            | EventKind::ExecutionFailed { .. }
            | EventKind::ExecutionAborted { .. }
            | EventKind::ExecutionTimedOut { .. }
    )
}

// ---------------------------------------------------------------------------------------------
// apply: the one way state changes.

impl Execution {
    /// Folds one event into the state.
    fn apply(&mut self, event: &HistoryEvent) -> Result<(), HistoryError> {
        let expected = self.last_event + 1;
        if event.id != expected {
            return Err(HistoryError::OutOfOrder {
                expected,
                found: event.id,
            });
        }
        let fail = |reason: &str| HistoryError::Inconsistent {
            id: event.id,
            kind: kind_name(&event.kind).to_owned(),
            reason: reason.to_owned(),
        };
        if self.outcome.is_some() {
            return Err(fail("the execution has ended"));
        }
        if self.meta.is_none() && !matches!(event.kind, EventKind::ExecutionStarted { .. }) {
            return Err(fail("the execution has not started"));
        }
        match &event.kind {
            EventKind::ExecutionStarted {
                execution_id,
                name,
                state_machine_id,
                input,
                timeout_at,
            } => {
                if self.meta.is_some() {
                    return Err(fail("started twice"));
                }
                self.meta = Some(Meta {
                    execution_id: execution_id.clone(),
                    name: name.clone(),
                    state_machine_id: state_machine_id.clone(),
                    input: input.clone(),
                    start_time: event.timestamp,
                });
                let start = self.machine.graph(ROOT_GRAPH).start_at.clone();
                self.threads.insert(
                    ThreadId::root(),
                    Thread {
                        graph: ROOT_GRAPH,
                        parent: None,
                        cursor: Cursor::Entering {
                            state: start,
                            input: input.clone(),
                        },
                    },
                );
                if let Some(fire_at) = timeout_at {
                    self.timers.insert(
                        TimerId::from("execution:timeout"),
                        Timer {
                            fire_at: *fire_at,
                            purpose: Purpose::Execution,
                        },
                    );
                }
            }
            EventKind::StateEntered {
                thread,
                state,
                path,
                input,
            } => {
                let graph = self
                    .thread(thread)
                    .ok_or_else(|| fail("unknown thread"))?
                    .graph;
                let retriers = match self.machine.graph(graph).states.get(state) {
                    Some(State::Task(t)) => t.handling.retry.len(),
                    Some(State::Parallel(p)) => p.handling.retry.len(),
                    Some(_) => 0,
                    None => return Err(fail("unknown state")),
                };
                *self.visits.entry(visit_key(thread, state)).or_insert(0) += 1;
                let active = Active {
                    name: state.clone(),
                    path: path.clone(),
                    input: input.clone(),
                    entered_at: event.timestamp,
                    entered_event: event.id,
                    attempt: 0,
                    retries: vec![0; retriers],
                    phase: Phase::Ready,
                };
                self.thread_mut(thread)
                    .ok_or_else(|| fail("unknown thread"))?
                    .cursor = Cursor::Active(active);
            }
            EventKind::StateExited {
                thread,
                output,
                next,
                ..
            } => {
                self.leave_state(thread)
                    .ok_or_else(|| fail("no active state"))?;
                let cursor = match next {
                    Some(state) => Cursor::Entering {
                        state: state.clone(),
                        input: output.clone(),
                    },
                    None => Cursor::Finished(output.clone()),
                };
                self.thread_mut(thread)
                    .ok_or_else(|| fail("unknown thread"))?
                    .cursor = cursor;
            }
            EventKind::StateFailed {
                thread, failure, ..
            } => {
                self.leave_state(thread)
                    .ok_or_else(|| fail("no active state"))?;
                self.thread_mut(thread)
                    .ok_or_else(|| fail("unknown thread"))?
                    .cursor = Cursor::Failed(failure.clone());
            }
            EventKind::StateRetrying {
                thread,
                retrier,
                attempt,
                timer,
                fire_at,
                ..
            } => {
                let subtree = self
                    .active(thread)
                    .ok_or_else(|| fail("no active state"))?
                    .subtree();
                self.drop_subtree(&subtree);
                let active = self
                    .active_mut(thread)
                    .ok_or_else(|| fail("no active state"))?;
                *active
                    .retries
                    .get_mut(*retrier)
                    .ok_or_else(|| fail("unknown retrier"))? += 1;
                active.attempt = *attempt;
                active.phase = Phase::RetryWait;
                self.timers.insert(
                    timer.clone(),
                    Timer {
                        fire_at: *fire_at,
                        purpose: Purpose::Retry(thread.clone()),
                    },
                );
            }
            EventKind::WaitStarted {
                thread,
                timer,
                fire_at,
                ..
            } => {
                self.active_mut(thread)
                    .ok_or_else(|| fail("no active state"))?
                    .phase = Phase::Waiting;
                self.timers.insert(
                    timer.clone(),
                    Timer {
                        fire_at: *fire_at,
                        purpose: Purpose::Wait(thread.clone()),
                    },
                );
            }
            EventKind::TimerFired { timer } => {
                let timer = self
                    .timers
                    .remove(timer)
                    .ok_or_else(|| fail("unknown timer"))?;
                let (thread, phase) = match timer.purpose {
                    Purpose::Wait(thread) => (thread, Phase::WaitDone),
                    Purpose::Retry(thread) => (thread, Phase::Ready),
                    _ => return Err(fail("not a wait or retry timer")),
                };
                self.active_mut(&thread)
                    .ok_or_else(|| fail("no active state"))?
                    .phase = phase;
            }
            EventKind::TaskScheduled {
                thread, request, ..
            } => {
                self.active_mut(thread)
                    .ok_or_else(|| fail("no active state"))?
                    .phase = Phase::Task;
                let token = &request.token;
                if let Some(fire_at) = request.timeout_at {
                    self.timers.insert(
                        timeout_timer(token),
                        Timer {
                            fire_at,
                            purpose: Purpose::TaskTimeout(token.clone()),
                        },
                    );
                }
                if let Some(seconds) = request.heartbeat_seconds {
                    let fire_at = event.timestamp.plus_seconds(seconds as f64);
                    self.timers.insert(
                        heartbeat_timer(token, 0),
                        Timer {
                            fire_at,
                            purpose: Purpose::Heartbeat(token.clone()),
                        },
                    );
                }
                self.tasks.insert(
                    token.clone(),
                    OpenTask {
                        thread: thread.clone(),
                        request: request.clone(),
                        heartbeats: 0,
                    },
                );
            }
            EventKind::TaskHeartbeat {
                token,
                heartbeat_at,
            } => {
                let task = self
                    .tasks
                    .get_mut(token)
                    .ok_or_else(|| fail("unknown task"))?;
                let old = heartbeat_timer(token, task.heartbeats);
                task.heartbeats += 1;
                let new = heartbeat_timer(token, task.heartbeats);
                self.timers.remove(&old);
                self.timers.insert(
                    new,
                    Timer {
                        fire_at: *heartbeat_at,
                        purpose: Purpose::Heartbeat(token.clone()),
                    },
                );
            }
            EventKind::TaskSucceeded { token, output } => {
                let thread = self.close_task(token).ok_or_else(|| fail("unknown task"))?;
                self.active_mut(&thread)
                    .ok_or_else(|| fail("no active state"))?
                    .phase = Phase::TaskDone(output.clone());
            }
            EventKind::TaskFailed { token, failure }
            | EventKind::TaskTimedOut { token, failure } => {
                let thread = self.close_task(token).ok_or_else(|| fail("unknown task"))?;
                self.active_mut(&thread)
                    .ok_or_else(|| fail("no active state"))?
                    .phase = Phase::Errored(failure.clone());
            }
            EventKind::TaskCancelled { token } => {
                self.close_task(token).ok_or_else(|| fail("unknown task"))?;
            }
            EventKind::ParallelStarted {
                thread,
                attempt,
                input,
                branches,
                ..
            } => {
                let graph = self
                    .thread(thread)
                    .ok_or_else(|| fail("unknown thread"))?
                    .graph;
                let active = self.active(thread).ok_or_else(|| fail("no active state"))?;
                let Some(State::Parallel(parallel)) =
                    self.machine.graph(graph).states.get(&active.name)
                else {
                    return Err(fail("not a Parallel state"));
                };
                if parallel.branches.len() != *branches || active.attempt != *attempt {
                    return Err(fail("branch count or attempt differs from the machine"));
                }
                let subtree = active.subtree();
                let graphs = parallel.branches.clone();
                for (i, graph) in graphs.into_iter().enumerate() {
                    let start = self.machine.graph(graph).start_at.clone();
                    self.threads.insert(
                        ThreadId(format!("{subtree}{i}")),
                        Thread {
                            graph,
                            parent: Some((thread.clone(), i)),
                            cursor: Cursor::Entering {
                                state: start,
                                input: input.clone(),
                            },
                        },
                    );
                }
                self.active_mut(thread)
                    .ok_or_else(|| fail("no active state"))?
                    .phase = Phase::Parallel(vec![None; *branches]);
            }
            EventKind::BranchSucceeded { thread, output } => {
                let (parent, index) = self
                    .end_branch(thread)
                    .ok_or_else(|| fail("not a branch"))?;
                let active = self
                    .active_mut(&parent)
                    .ok_or_else(|| fail("no parent state"))?;
                let Phase::Parallel(results) = &mut active.phase else {
                    return Err(fail("the parent is not running branches"));
                };
                *results
                    .get_mut(index)
                    .ok_or_else(|| fail("unknown branch"))? = Some(output.clone());
            }
            EventKind::BranchFailed { thread, failure } => {
                let (parent, _) = self
                    .end_branch(thread)
                    .ok_or_else(|| fail("not a branch"))?;
                let subtree = self
                    .active(&parent)
                    .ok_or_else(|| fail("no parent state"))?
                    .subtree();
                self.drop_subtree(&subtree);
                self.active_mut(&parent)
                    .ok_or_else(|| fail("no parent state"))?
                    .phase = Phase::Errored(failure.clone());
            }
            EventKind::ExecutionStopping { kind, failure } => {
                self.stopping = Some((*kind, failure.clone()));
            }
            EventKind::ExecutionSucceeded { output } => {
                self.end(Outcome::Succeeded(output.clone()))
            }
            EventKind::ExecutionFailed { failure } => self.end(Outcome::Failed(failure.clone())),
            EventKind::ExecutionAborted { failure } => self.end(Outcome::Aborted(failure.clone())),
            EventKind::ExecutionTimedOut { failure } => {
                self.end(Outcome::TimedOut(failure.clone()))
            }
        }
        self.last_event = event.id;
        Ok(())
    }

    fn end(&mut self, outcome: Outcome) {
        self.outcome = Some(outcome);
        self.threads.clear();
        self.tasks.clear();
        self.timers.clear();
    }

    fn thread(&self, id: &ThreadId) -> Option<&Thread> {
        self.threads.get(id)
    }

    fn thread_mut(&mut self, id: &ThreadId) -> Option<&mut Thread> {
        self.threads.get_mut(id)
    }

    fn active(&self, id: &ThreadId) -> Option<&Active> {
        match &self.threads.get(id)?.cursor {
            Cursor::Active(active) => Some(active),
            _ => None,
        }
    }

    fn active_mut(&mut self, id: &ThreadId) -> Option<&mut Active> {
        match &mut self.threads.get_mut(id)?.cursor {
            Cursor::Active(active) => Some(active),
            _ => None,
        }
    }

    /// Ends the active state of a thread, dropping any branches it still had.
    fn leave_state(&mut self, thread: &ThreadId) -> Option<()> {
        let subtree = self.active(thread)?.subtree();
        self.drop_subtree(&subtree);
        self.timers.retain(
            |_, t| !matches!(&t.purpose, Purpose::Wait(th) | Purpose::Retry(th) if th == thread),
        );
        Some(())
    }

    /// Removes branch threads under `prefix` and their wait/retry timers. Their open tasks stay
    /// until cancelled, so the cancellation is recorded and performed.
    fn drop_subtree(&mut self, prefix: &str) {
        self.threads.retain(|id, _| !id.0.starts_with(prefix));
        self.timers.retain(|_, t| !matches!(&t.purpose, Purpose::Wait(th) | Purpose::Retry(th) if th.0.starts_with(prefix)));
    }

    fn close_task(&mut self, token: &TaskToken) -> Option<ThreadId> {
        let task = self.tasks.remove(token)?;
        self.timers.retain(|_, t| !matches!(&t.purpose, Purpose::TaskTimeout(tk) | Purpose::Heartbeat(tk) if tk == token));
        Some(task.thread)
    }

    fn end_branch(&mut self, thread: &ThreadId) -> Option<(ThreadId, usize)> {
        let removed = self.threads.remove(thread)?;
        removed.parent
    }
}

fn visit_key(thread: &ThreadId, state: &str) -> String {
    format!("{thread}/{state}")
}

fn timeout_timer(token: &TaskToken) -> TimerId {
    TimerId(format!("{token}:timeout"))
}

fn heartbeat_timer(token: &TaskToken, n: u32) -> TimerId {
    TimerId(format!("{token}:heartbeat:{n}"))
}

fn kind_name(kind: &EventKind) -> &'static str {
    match kind {
        EventKind::ExecutionStarted { .. } => "ExecutionStarted",
        EventKind::StateEntered { .. } => "StateEntered",
        EventKind::StateExited { .. } => "StateExited",
        EventKind::StateFailed { .. } => "StateFailed",
        EventKind::StateRetrying { .. } => "StateRetrying",
        EventKind::WaitStarted { .. } => "WaitStarted",
        EventKind::TimerFired { .. } => "TimerFired",
        EventKind::TaskScheduled { .. } => "TaskScheduled",
        EventKind::TaskSucceeded { .. } => "TaskSucceeded",
        EventKind::TaskFailed { .. } => "TaskFailed",
        EventKind::TaskTimedOut { .. } => "TaskTimedOut",
        EventKind::TaskHeartbeat { .. } => "TaskHeartbeat",
        EventKind::TaskCancelled { .. } => "TaskCancelled",
        EventKind::ParallelStarted { .. } => "ParallelStarted",
        EventKind::BranchSucceeded { .. } => "BranchSucceeded",
        EventKind::BranchFailed { .. } => "BranchFailed",
        EventKind::ExecutionStopping { .. } => "ExecutionStopping",
        EventKind::ExecutionSucceeded { .. } => "ExecutionSucceeded",
        EventKind::ExecutionFailed { .. } => "ExecutionFailed",
        EventKind::ExecutionAborted { .. } => "ExecutionAborted",
        EventKind::ExecutionTimedOut { .. } => "ExecutionTimedOut",
    }
}

// ---------------------------------------------------------------------------------------------
// decide: what happens next, from the state alone.

impl Execution {
    /// The next derived event, or `None` when the execution waits for a command (or has ended).
    fn decide(&self, now: Timestamp) -> Option<EventKind> {
        if self.outcome.is_some() || self.meta.is_none() {
            return None;
        }
        if self.stopping.is_none() && self.last_event >= MAX_HISTORY_EVENTS - 1 {
            return Some(EventKind::ExecutionStopping {
                kind: StopKind::Failed,
                failure: Failure::new(
                    errors::RUNTIME,
                    format!(
                        "The execution reached the limit of {MAX_HISTORY_EVENTS} history events"
                    ),
                ),
            });
        }
        if let Some((kind, failure)) = &self.stopping {
            if let Some(token) = self.tasks.keys().next() {
                return Some(EventKind::TaskCancelled {
                    token: token.clone(),
                });
            }
            let failure = failure.clone();
            return Some(match kind {
                StopKind::Aborted => EventKind::ExecutionAborted { failure },
                StopKind::TimedOut => EventKind::ExecutionTimedOut { failure },
                StopKind::Failed => EventKind::ExecutionFailed { failure },
            });
        }
        self.threads
            .iter()
            .find_map(|(id, thread)| self.decide_thread(id, thread, now))
    }

    fn decide_thread(&self, id: &ThreadId, thread: &Thread, now: Timestamp) -> Option<EventKind> {
        match &thread.cursor {
            Cursor::Entering { state, input } => {
                let visit = self.visits.get(&visit_key(id, state)).copied().unwrap_or(0) + 1;
                let path = if id.is_root() {
                    format!("{state}#{visit}")
                } else {
                    format!("{id}/{state}#{visit}")
                };
                Some(EventKind::StateEntered {
                    thread: id.clone(),
                    state: state.clone(),
                    path,
                    input: input.clone(),
                })
            }
            Cursor::Finished(output) => Some(match thread.parent {
                None => EventKind::ExecutionSucceeded {
                    output: output.clone(),
                },
                Some(_) => EventKind::BranchSucceeded {
                    thread: id.clone(),
                    output: output.clone(),
                },
            }),
            Cursor::Failed(failure) => Some(match thread.parent {
                None => EventKind::ExecutionFailed {
                    failure: failure.clone(),
                },
                Some(_) => EventKind::BranchFailed {
                    thread: id.clone(),
                    failure: failure.clone(),
                },
            }),
            Cursor::Active(active) => {
                let state = self.machine.graph(thread.graph).states.get(&active.name)?;
                StateRun {
                    execution: self,
                    thread: id,
                    active,
                    state,
                    now,
                }
                .decide()
            }
        }
    }
}

/// The decision for one active state.
struct StateRun<'a> {
    execution: &'a Execution,
    thread: &'a ThreadId,
    active: &'a Active,
    state: &'a State,
    now: Timestamp,
}

impl StateRun<'_> {
    fn decide(&self) -> Option<EventKind> {
        match &self.active.phase {
            Phase::Ready => Some(self.run().unwrap_or_else(|failure| self.on_error(failure))),
            Phase::Task | Phase::Waiting | Phase::RetryWait => None,
            Phase::TaskDone(result) => {
                let result = match self.state {
                    State::Task(task) if task.mode == TaskMode::RequestResponse => {
                        json!({"ExecutedVersion": "$LATEST", "Payload": result, "StatusCode": 200})
                    }
                    _ => result.clone(),
                };
                Some(self.complete(result))
            }
            Phase::Parallel(results) => {
                let results: Option<Vec<Value>> = results.iter().cloned().collect();
                results.map(|results| self.complete(Value::Array(results)))
            }
            Phase::Errored(failure) => {
                let subtree = self.active.subtree();
                let open = self
                    .execution
                    .tasks
                    .iter()
                    .find(|(_, task)| task.thread.0.starts_with(&subtree));
                Some(match open {
                    Some((token, _)) => EventKind::TaskCancelled {
                        token: token.clone(),
                    },
                    None => self.on_error(failure.clone()),
                })
            }
            Phase::WaitDone => Some(
                self.io()
                    .input_path
                    .select(&self.active.input, "InputPath")
                    .and_then(|effective| self.exit(effective, self.transition()))
                    .unwrap_or_else(|failure| self.on_error(failure)),
            ),
        }
    }

    fn io(&self) -> crate::model::Io {
        match self.state {
            State::Task(s) => s.io.clone(),
            State::Parallel(s) => s.io.clone(),
            State::Choice(s) => s.io.clone(),
            State::Pass(s) => s.io.clone(),
            State::Wait(s) => s.io.clone(),
            State::Succeed(io) => io.clone(),
            State::Fail(_) => crate::model::Io::default(),
        }
    }

    fn transition(&self) -> Option<String> {
        let transition = match self.state {
            State::Task(s) => &s.transition,
            State::Parallel(s) => &s.transition,
            State::Pass(s) => &s.transition,
            State::Wait(s) => &s.transition,
            _ => &Transition::End,
        };
        transition.next().map(str::to_owned)
    }

    fn handling(&self) -> Option<&Handling> {
        match self.state {
            State::Task(s) => Some(&s.handling),
            State::Parallel(s) => Some(&s.handling),
            _ => None,
        }
    }

    fn token(&self) -> TaskToken {
        let execution_id = self
            .execution
            .meta
            .as_ref()
            .map_or("", |m| m.execution_id.as_str());
        TaskToken(format!(
            "{execution_id}/{}@{}",
            self.active.path, self.active.attempt
        ))
    }

    /// The context object (`$$`) for this state.
    fn context(&self, token: Option<&TaskToken>) -> Value {
        let Some(meta) = &self.execution.meta else {
            return Value::Null;
        };
        let mut context = json!({
            "Execution": {
                "Id": meta.execution_id,
                "Name": meta.name,
                "Input": meta.input,
                "StartTime": meta.start_time.to_rfc3339(),
            },
            "StateMachine": {"Id": meta.state_machine_id},
            "State": {
                "Name": self.active.name,
                "EnteredTime": self.active.entered_at.to_rfc3339(),
                "RetryCount": self.active.attempt,
            },
        });
        if let (Some(token), Value::Object(map)) = (token, &mut context) {
            map.insert("Task".into(), json!({"Token": token}));
        }
        context
    }

    /// Step Functions prefixes run-time errors with the state and the event that entered it.
    fn in_state(&self, failure: Failure) -> Failure {
        if failure.error != errors::RUNTIME {
            return failure;
        }
        let cause = format!(
            "An error occurred while executing the state '{}' (entered at the event id #{}). {}",
            self.active.name,
            self.active.entered_event,
            failure.cause.unwrap_or_default()
        );
        Failure::new(failure.error, cause)
    }

    /// Runs a freshly entered (or retried) state up to its first wait.
    fn run(&self) -> Result<EventKind, Failure> {
        let raw = &self.active.input;
        let effective = self.io().input_path.select(raw, "InputPath")?;
        match self.state {
            State::Pass(pass) => {
                let result = match (&pass.result, &pass.parameters) {
                    (Some(result), _) => result.clone(),
                    (None, Some(parameters)) => {
                        parameters.render(&effective, &self.context(None))?
                    }
                    (None, None) => effective,
                };
                let combined = pass.result_path.apply(raw, result)?;
                self.exit(combined, self.transition())
            }
            State::Succeed(_) => self.exit(effective, None),
            State::Fail(fail) => {
                let context = self.context(None);
                let text = |text: &Option<Text>, field: &str| -> Result<Option<String>, Failure> {
                    match text {
                        None => Ok(None),
                        Some(Text::Literal(s)) => Ok(Some(s.clone())),
                        Some(Text::Path(path)) => match path.evaluate(raw, &context) {
                            Some(Value::String(s)) => Ok(Some(s)),
                            _ => Err(Failure::new(
                                errors::RUNTIME,
                                format!("The JSONPath '{}' specified for the field '{field}' did not select a string", path.as_str()),
                            )),
                        },
                    }
                };
                let error = text(&fail.error, "ErrorPath")?.unwrap_or_default();
                let cause = text(&fail.cause, "CausePath")?;
                Err(Failure { error, cause })
            }
            State::Choice(choice) => {
                let context = self.context(None);
                for rule in &choice.choices {
                    if rule.rule.evaluate(&effective, &context)? {
                        return self.exit(effective, Some(rule.next.clone()));
                    }
                }
                match &choice.default {
                    Some(default) => self.exit(effective, Some(default.clone())),
                    None => Err(Failure::new(errors::NO_CHOICE_MATCHED, "No Matches!")),
                }
            }
            State::Wait(wait) => {
                let context = self.context(None);
                let fire_at = match &wait.until {
                    WaitUntil::Seconds(seconds) => self.now.plus_seconds(self.seconds(
                        seconds,
                        &effective,
                        "SecondsPath",
                        true,
                    )?
                        as f64),
                    WaitUntil::Timestamp(at) => *at,
                    WaitUntil::TimestampPath(path) => path
                        .evaluate(&effective, &context)
                        .as_ref()
                        .and_then(Value::as_str)
                        .and_then(Timestamp::parse_rfc3339)
                        .ok_or_else(|| {
                            Failure::new(
                                errors::RUNTIME,
                                format!(
                                    "The TimestampPath '{}' did not select an RFC 3339 timestamp",
                                    path.as_str()
                                ),
                            )
                        })?,
                };
                Ok(EventKind::WaitStarted {
                    thread: self.thread.clone(),
                    path: self.active.path.clone(),
                    timer: TimerId(format!("{}:wait", self.active.path)),
                    fire_at,
                })
            }
            State::Task(task) => {
                let token = self.token();
                let context = self.context((task.mode == TaskMode::Callback).then_some(&token));
                let parameters = task.parameters.render(&effective, &context)?;
                let size = payload_size(&parameters);
                if size > MAX_PAYLOAD_BYTES {
                    return Err(data_limit("task input", size));
                }
                let function_name = match parameters.get("FunctionName") {
                    Some(Value::String(name)) => name.clone(),
                    _ => {
                        return Err(Failure::new(
                            errors::RUNTIME,
                            "Parameters.FunctionName must be a string",
                        ))
                    }
                };
                let payload = parameters.get("Payload").cloned().unwrap_or(Value::Null);
                let timeout_at = match &task.timeout {
                    None => None,
                    Some(seconds) => Some(self.now.plus_seconds(self.seconds(
                        seconds,
                        &effective,
                        "TimeoutSecondsPath",
                        false,
                    )? as f64)),
                };
                let heartbeat_seconds = match &task.heartbeat {
                    None => None,
                    Some(seconds) => {
                        Some(self.seconds(seconds, &effective, "HeartbeatSecondsPath", false)?)
                    }
                };
                Ok(EventKind::TaskScheduled {
                    thread: self.thread.clone(),
                    path: self.active.path.clone(),
                    request: TaskRequest {
                        token,
                        function_name,
                        payload,
                        mode: task.mode,
                        timeout_at,
                        heartbeat_seconds,
                    },
                })
            }
            State::Parallel(parallel) => {
                let input = match &parallel.parameters {
                    Some(parameters) => parameters.render(&effective, &self.context(None))?,
                    None => effective,
                };
                let size = payload_size(&input);
                if size > MAX_PAYLOAD_BYTES {
                    return Err(data_limit("state input", size));
                }
                Ok(EventKind::ParallelStarted {
                    thread: self.thread.clone(),
                    path: self.active.path.clone(),
                    attempt: self.active.attempt,
                    input,
                    branches: parallel.branches.len(),
                })
            }
        }
    }

    /// Resolves a number of seconds; `allow_zero` for Wait (tasks need a positive number).
    fn seconds(
        &self,
        seconds: &Seconds,
        effective: &Value,
        field: &str,
        allow_zero: bool,
    ) -> Result<u64, Failure> {
        match seconds {
            Seconds::Fixed(n) => Ok(*n),
            Seconds::Path(path) => path
                .evaluate(effective, &self.context(None))
                .and_then(|v| v.as_u64())
                .filter(|n| allow_zero || *n > 0)
                .ok_or_else(|| {
                    Failure::new(
                        errors::RUNTIME,
                        format!("The JSONPath '{}' specified for the field '{field}' did not select a valid number of seconds", path.as_str()),
                    )
                }),
        }
    }

    /// Shapes a Task or Parallel result into the state output.
    fn complete(&self, result: Value) -> EventKind {
        let Some(handling) = self.handling() else {
            return self.on_error(Failure::new(
                errors::RUNTIME,
                "only Task and Parallel states produce results",
            ));
        };
        let shaped = match &handling.result_selector {
            Some(selector) => selector.render(&result, &self.context(None)),
            None => Ok(result),
        };
        shaped
            .and_then(|result| handling.result_path.apply(&self.active.input, result))
            .and_then(|combined| self.exit(combined, self.transition()))
            .unwrap_or_else(|failure| self.on_error(failure))
    }

    /// Applies `OutputPath` and leaves the state.
    fn exit(&self, combined: Value, next: Option<String>) -> Result<EventKind, Failure> {
        let output = self.io().output_path.select(&combined, "OutputPath")?;
        let size = payload_size(&output);
        if size > MAX_PAYLOAD_BYTES {
            return Err(data_limit("state output", size));
        }
        Ok(EventKind::StateExited {
            thread: self.thread.clone(),
            path: self.active.path.clone(),
            output,
            next,
            caught: None,
        })
    }

    /// Retry, then Catch, then fail the thread.
    fn on_error(&self, failure: Failure) -> EventKind {
        let failure = self.in_state(failure);
        let failed = |failure: Failure| EventKind::StateFailed {
            thread: self.thread.clone(),
            path: self.active.path.clone(),
            failure,
        };
        let Some(handling) = self.handling().filter(|_| !failure.is_terminal()) else {
            return failed(failure);
        };
        let matching = handling
            .retry
            .iter()
            .enumerate()
            .find(|(_, retrier)| errors::any_matches(&retrier.error_equals, &failure.error));
        if let Some((index, retrier)) = matching {
            let done = self.active.retries.get(index).copied().unwrap_or(u32::MAX);
            if done < retrier.max_attempts {
                return EventKind::StateRetrying {
                    thread: self.thread.clone(),
                    path: self.active.path.clone(),
                    retrier: index,
                    attempt: self.active.attempt + 1,
                    timer: TimerId(format!(
                        "{}@{}:retry",
                        self.active.path, self.active.attempt
                    )),
                    fire_at: self.now.plus_seconds(retrier.delay_seconds(done)),
                    failure,
                };
            }
        }
        let Some(catcher) = handling
            .catch
            .iter()
            .find(|c| errors::any_matches(&c.error_equals, &failure.error))
        else {
            return failed(failure);
        };
        let output = catcher
            .result_path
            .apply(&self.active.input, failure.to_error_output())
            .and_then(|output| {
                let size = payload_size(&output);
                if size > MAX_PAYLOAD_BYTES {
                    Err(data_limit("state output", size))
                } else {
                    Ok(output)
                }
            });
        match output {
            Ok(output) => EventKind::StateExited {
                thread: self.thread.clone(),
                path: self.active.path.clone(),
                output,
                next: Some(catcher.next.clone()),
                caught: Some(failure),
            },
            Err(problem) if problem.is_terminal() => failed(problem),
            Err(problem) => failed(self.in_state(Failure::new(
                errors::RUNTIME,
                format!(
                    "The catcher's ResultPath could not be applied: {}",
                    problem.cause.unwrap_or_default()
                ),
            ))),
        }
    }
}
