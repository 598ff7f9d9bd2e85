//! `decide`: what happens next, from the state alone: the next derived event for the execution, and for
//! each active state (a task, a choice, a wait, a parallel, ...).

use super::*;
use crate::errors::{self, Failure, MAX_PAYLOAD_BYTES};
use crate::history::{EventKind, StopKind, TaskRequest, TaskToken, ThreadId, TimerId};
use crate::model::{Handling, Seconds, State, TaskMode, Text, Transition, WaitUntil};
use crate::timestamp::Timestamp;
use serde_json::{json, Value};

impl Execution {
    /// The next derived event, or `None` when the execution waits for a command (or has ended).
    pub(super) fn decide(&self, now: Timestamp) -> Option<EventKind> {
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

    pub(super) fn decide_thread(
        &self,
        id: &ThreadId,
        thread: &Thread,
        now: Timestamp,
    ) -> Option<EventKind> {
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
pub(crate) struct StateRun<'a> {
    execution: &'a Execution,
    thread: &'a ThreadId,
    active: &'a Active,
    state: &'a State,
    now: Timestamp,
}

impl StateRun<'_> {
    pub(super) fn decide(&self) -> Option<EventKind> {
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

    pub(super) fn io(&self) -> crate::model::Io {
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

    pub(super) fn transition(&self) -> Option<String> {
        let transition = match self.state {
            State::Task(s) => &s.transition,
            State::Parallel(s) => &s.transition,
            State::Pass(s) => &s.transition,
            State::Wait(s) => &s.transition,
            _ => &Transition::End,
        };
        transition.next().map(str::to_owned)
    }

    pub(super) fn handling(&self) -> Option<&Handling> {
        match self.state {
            State::Task(s) => Some(&s.handling),
            State::Parallel(s) => Some(&s.handling),
            _ => None,
        }
    }

    pub(super) fn token(&self) -> TaskToken {
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
    pub(super) fn context(&self, token: Option<&TaskToken>) -> Value {
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
    pub(super) fn in_state(&self, failure: Failure) -> Failure {
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
    pub(super) fn run(&self) -> Result<EventKind, Failure> {
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
    pub(super) fn seconds(
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
    pub(super) fn complete(&self, result: Value) -> EventKind {
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
    pub(super) fn exit(&self, combined: Value, next: Option<String>) -> Result<EventKind, Failure> {
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
    pub(super) fn on_error(&self, failure: Failure) -> EventKind {
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
