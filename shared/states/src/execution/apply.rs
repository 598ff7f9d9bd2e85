//! `apply`: the one way an execution's state changes, live and on replay: each history event folded into
//! the state.

use super::*;
use crate::history::{EventKind, HistoryEvent, TaskToken, ThreadId, TimerId};
use crate::model::{State, ROOT_GRAPH};

impl Execution {
    /// Folds one event into the state.
    pub(super) fn apply(&mut self, event: &HistoryEvent) -> Result<(), HistoryError> {
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

    pub(super) fn end(&mut self, outcome: Outcome) {
        self.outcome = Some(outcome);
        self.threads.clear();
        self.tasks.clear();
        self.timers.clear();
    }

    pub(super) fn thread(&self, id: &ThreadId) -> Option<&Thread> {
        self.threads.get(id)
    }

    pub(super) fn thread_mut(&mut self, id: &ThreadId) -> Option<&mut Thread> {
        self.threads.get_mut(id)
    }

    pub(super) fn active(&self, id: &ThreadId) -> Option<&Active> {
        match &self.threads.get(id)?.cursor {
            Cursor::Active(active) => Some(active),
            _ => None,
        }
    }

    pub(super) fn active_mut(&mut self, id: &ThreadId) -> Option<&mut Active> {
        match &mut self.threads.get_mut(id)?.cursor {
            Cursor::Active(active) => Some(active),
            _ => None,
        }
    }

    /// Ends the active state of a thread, dropping any branches it still had.
    pub(super) fn leave_state(&mut self, thread: &ThreadId) -> Option<()> {
        let subtree = self.active(thread)?.subtree();
        self.drop_subtree(&subtree);
        self.timers.retain(
            |_, t| !matches!(&t.purpose, Purpose::Wait(th) | Purpose::Retry(th) if th == thread),
        );
        Some(())
    }

    /// Removes branch threads under `prefix` and their wait/retry timers. Their open tasks stay
    /// until cancelled, so the cancellation is recorded and performed.
    pub(super) fn drop_subtree(&mut self, prefix: &str) {
        self.threads.retain(|id, _| !id.0.starts_with(prefix));
        self.timers.retain(|_, t| !matches!(&t.purpose, Purpose::Wait(th) | Purpose::Retry(th) if th.0.starts_with(prefix)));
    }

    pub(super) fn close_task(&mut self, token: &TaskToken) -> Option<ThreadId> {
        let task = self.tasks.remove(token)?;
        self.timers.retain(|_, t| !matches!(&t.purpose, Purpose::TaskTimeout(tk) | Purpose::Heartbeat(tk) if tk == token));
        Some(task.thread)
    }

    pub(super) fn end_branch(&mut self, thread: &ThreadId) -> Option<(ThreadId, usize)> {
        let removed = self.threads.remove(thread)?;
        removed.parent
    }
}

pub(crate) fn timeout_timer(token: &TaskToken) -> TimerId {
    TimerId(format!("{token}:timeout"))
}

pub(crate) fn heartbeat_timer(token: &TaskToken, n: u32) -> TimerId {
    TimerId(format!("{token}:heartbeat:{n}"))
}

pub(crate) fn kind_name(kind: &EventKind) -> &'static str {
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
