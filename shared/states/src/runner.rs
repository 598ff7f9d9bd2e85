//! A synchronous driver: feeds commands to executions, appends their events to a
//! [`HistoryStore`] first, then performs their effects through a [`TaskHost`], and fires timers
//! that a [`Clock`] says are due. Single-threaded and sleep-free: the host decides when to call
//! [`Runner::fire_due_timers`] (e.g. at [`Runner::next_timer`]).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use serde_json::Value;
use thiserror::Error;

use crate::errors::Failure;
use crate::execution::{
    Command, CommandError, Effect, Execution, HistoryError, Outcome, StartExecution, Status,
};
use crate::history::{TaskRequest, TaskToken, TimerId};
use crate::model::{Machine, TaskMode};
use crate::store::{HistoryStore, StoreError};
use crate::timestamp::Timestamp;

/// The time source.
pub trait Clock {
    /// The current time.
    fn now(&self) -> Timestamp;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let millis = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        Timestamp::from_millis(millis)
    }
}

/// A clock that moves only when told; clones share the same time.
#[derive(Debug, Clone, Default)]
pub struct FakeClock(Arc<AtomicU64>);

impl FakeClock {
    /// A clock reading `at`.
    pub fn new(at: Timestamp) -> Self {
        Self(Arc::new(AtomicU64::new(at.as_millis())))
    }

    /// Sets the time.
    pub fn set(&self, at: Timestamp) {
        self.0.store(at.as_millis(), Ordering::SeqCst);
    }

    /// Moves the time forward.
    pub fn advance_seconds(&self, seconds: u64) {
        self.0
            .fetch_add(seconds.saturating_mul(1000), Ordering::SeqCst);
    }
}

impl Clock for FakeClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_millis(self.0.load(Ordering::SeqCst))
    }
}

/// Runs the functions that tasks name. Every method must be idempotent per token: after a
/// crash, a task whose outcome was not recorded is started again with the same token.
pub trait TaskHost {
    /// Request/response (`lambda:invoke`): run the function now and return its result.
    fn invoke(&mut self, request: &TaskRequest) -> Result<Value, Failure>;

    /// Callback (`lambda:invoke.waitForTaskToken`): start the work; its outcome arrives later
    /// through [`Runner::send_task_success`] / [`Runner::send_task_failure`]. An error fails the task.
    fn dispatch(&mut self, request: &TaskRequest) -> Result<(), Failure>;

    /// The task is no longer wanted; its token will be refused from now on.
    fn cancel(&mut self, token: &TaskToken);

    /// An execution ended.
    fn finished(&mut self, execution_id: &str, outcome: &Outcome) {
        let _ = (execution_id, outcome);
    }
}

/// Why a runner call failed.
#[derive(Debug, Error)]
pub enum RunnerError {
    /// No such execution is loaded.
    #[error("unknown execution {0}")]
    UnknownExecution(String),
    /// No loaded execution has this open task.
    #[error("task {0} does not exist or is no longer running")]
    UnknownToken(TaskToken),
    /// The execution refused the command.
    #[error(transparent)]
    Command(#[from] CommandError),
    /// The stored history could not be replayed.
    #[error(transparent)]
    History(#[from] HistoryError),
    /// The store failed; the in-memory execution is left as stored.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a resumed execution is waiting for.
#[derive(Debug, Clone, PartialEq)]
pub struct Resumed {
    /// The status after resuming.
    pub status: Status,
    /// Tasks started again (same tokens) because their outcome is not recorded.
    pub outstanding: Vec<TaskRequest>,
    /// Timers still pending.
    pub pending_timers: Vec<(TimerId, Timestamp)>,
}

/// Drives the executions of one [`Machine`].
pub struct Runner<S, H, C> {
    machine: Machine,
    store: S,
    host: H,
    clock: C,
    executions: BTreeMap<String, Execution>,
    tokens: HashMap<TaskToken, String>,
}

impl<S: HistoryStore, H: TaskHost, C: Clock> Runner<S, H, C> {
    /// A runner with no execution loaded.
    pub fn new(machine: Machine, store: S, host: H, clock: C) -> Self {
        Self {
            machine,
            store,
            host,
            clock,
            executions: BTreeMap::new(),
            tokens: HashMap::new(),
        }
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The host.
    pub fn host(&self) -> &H {
        &self.host
    }

    /// The host, mutably.
    pub fn host_mut(&mut self) -> &mut H {
        &mut self.host
    }

    /// A loaded execution.
    pub fn execution(&self, execution_id: &str) -> Option<&Execution> {
        self.executions.get(execution_id)
    }

    /// Starts an execution and runs it until it waits or ends.
    pub fn start(&mut self, start: StartExecution) -> Result<Status, RunnerError> {
        let id = start.execution_id.clone();
        let history = self.store.load(&id)?;
        if !history.is_empty() {
            return Err(CommandError::AlreadyStarted.into());
        }
        self.executions
            .insert(id.clone(), Execution::new(&self.machine));
        self.run(&id, Command::Start(start))?;
        self.status(&id)
    }

    /// `SendTaskSuccess`.
    pub fn send_task_success(
        &mut self,
        token: &TaskToken,
        output: Value,
    ) -> Result<(), RunnerError> {
        self.by_token(
            token,
            Command::TaskSucceeded {
                token: token.clone(),
                output,
            },
        )
    }

    /// `SendTaskFailure`.
    pub fn send_task_failure(
        &mut self,
        token: &TaskToken,
        failure: Failure,
    ) -> Result<(), RunnerError> {
        self.by_token(
            token,
            Command::TaskFailed {
                token: token.clone(),
                failure,
            },
        )
    }

    /// `SendTaskHeartbeat`.
    pub fn send_task_heartbeat(&mut self, token: &TaskToken) -> Result<(), RunnerError> {
        self.by_token(
            token,
            Command::TaskHeartbeat {
                token: token.clone(),
            },
        )
    }

    /// `StopExecution`.
    pub fn stop(&mut self, execution_id: &str, failure: Failure) -> Result<(), RunnerError> {
        self.run(execution_id, Command::Stop { failure })
    }

    /// The status of a loaded execution.
    pub fn status(&self, execution_id: &str) -> Result<Status, RunnerError> {
        self.executions
            .get(execution_id)
            .map(Execution::status)
            .ok_or_else(|| RunnerError::UnknownExecution(execution_id.to_owned()))
    }

    /// When the earliest pending timer of any loaded execution fires.
    pub fn next_timer(&self) -> Option<Timestamp> {
        self.executions
            .values()
            .flat_map(|e| e.pending_timers().into_iter().map(|(_, at)| at))
            .min()
    }

    /// Fires every timer due at the clock's current time (including timers that firing others
    /// makes due); returns how many fired.
    pub fn fire_due_timers(&mut self) -> Result<usize, RunnerError> {
        let mut fired = 0;
        loop {
            let now = self.clock.now();
            let due = self
                .executions
                .iter()
                .flat_map(|(id, e)| {
                    e.pending_timers()
                        .into_iter()
                        .map(move |(timer, at)| (at, id, timer))
                })
                .filter(|(at, _, _)| *at <= now)
                .min()
                .map(|(_, id, timer)| (id.clone(), timer.clone()));
            let Some((id, timer)) = due else {
                return Ok(fired);
            };
            self.run(&id, Command::TimerFired { timer })?;
            fired += 1;
        }
    }

    /// Loads a stored execution, derives whatever a crash cut off, and starts again every task
    /// whose outcome is not recorded (same token).
    pub fn resume(&mut self, execution_id: &str) -> Result<Resumed, RunnerError> {
        let history = self.store.load(execution_id)?;
        if history.is_empty() {
            return Err(RunnerError::UnknownExecution(execution_id.to_owned()));
        }
        let mut execution = Execution::replay(&self.machine, &history)?;
        let step = execution.resume(self.clock.now())?;
        self.store
            .append(execution_id, history.len() as u64, &step.events)?;
        let resumed = Resumed {
            status: execution.status(),
            outstanding: execution.outstanding_tasks().into_iter().cloned().collect(),
            pending_timers: execution
                .pending_timers()
                .into_iter()
                .map(|(id, at)| (id.clone(), at))
                .collect(),
        };
        self.executions.insert(execution_id.to_owned(), execution);
        let mut queue = VecDeque::new();
        self.perform(execution_id, step.effects, &mut queue);
        self.drain(execution_id, queue)?;
        Ok(resumed)
    }

    /// Resumes every stored execution that has not ended.
    pub fn resume_all(&mut self) -> Result<Vec<(String, Resumed)>, RunnerError> {
        let mut out = Vec::new();
        for id in self.store.executions()? {
            let resumed = self.resume(&id)?;
            out.push((id, resumed));
        }
        Ok(out)
    }

    fn by_token(&mut self, token: &TaskToken, command: Command) -> Result<(), RunnerError> {
        let id = self
            .tokens
            .get(token)
            .cloned()
            .ok_or_else(|| RunnerError::UnknownToken(token.clone()))?;
        let result = self.run(&id, command);
        if !self.executions.get(&id).is_some_and(|e| e.has_task(token)) {
            self.tokens.remove(token);
        }
        result
    }

    fn run(&mut self, execution_id: &str, command: Command) -> Result<(), RunnerError> {
        self.drain(execution_id, VecDeque::from([command]))
    }

    /// Handles queued commands one by one: transition, append, then effects.
    fn drain(
        &mut self,
        execution_id: &str,
        mut queue: VecDeque<Command>,
    ) -> Result<(), RunnerError> {
        while let Some(command) = queue.pop_front() {
            let current = self
                .executions
                .get(execution_id)
                .ok_or_else(|| RunnerError::UnknownExecution(execution_id.to_owned()))?;
            let expected = current.last_event_id();
            let mut next = current.clone();
            let step = next.handle(command, self.clock.now())?;
            if !step.events.is_empty() {
                self.store.append(execution_id, expected, &step.events)?;
            }
            self.executions.insert(execution_id.to_owned(), next);
            self.perform(execution_id, step.effects, &mut queue);
        }
        Ok(())
    }

    fn perform(&mut self, execution_id: &str, effects: Vec<Effect>, queue: &mut VecDeque<Command>) {
        for effect in effects {
            match effect {
                Effect::StartTask(request) => {
                    self.tokens
                        .insert(request.token.clone(), execution_id.to_owned());
                    let token = request.token.clone();
                    let outcome = match request.mode {
                        TaskMode::RequestResponse => self.host.invoke(&request).map(Some),
                        TaskMode::Callback => self.host.dispatch(&request).map(|()| None),
                    };
                    match outcome {
                        Ok(Some(output)) => {
                            queue.push_back(Command::TaskSucceeded { token, output })
                        }
                        Ok(None) => {}
                        Err(failure) => queue.push_back(Command::TaskFailed { token, failure }),
                    }
                }
                Effect::CancelTask { token } => {
                    self.tokens.remove(&token);
                    self.host.cancel(&token);
                }
                // Timers are read back from the executions by `fire_due_timers`.
                Effect::StartTimer { .. } => {}
                Effect::Finished(outcome) => self.host.finished(execution_id, &outcome),
            }
        }
    }
}
