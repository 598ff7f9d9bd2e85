//! The execution history: the events an [`Execution`](crate::Execution) is rebuilt from.
//!
//! Events are serialized as flat JSON objects tagged by `type` (`{"id": 3, "timestamp": ...,
//! "type": "TaskScheduled", ...}`); field names are part of the storage format and stay stable.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::errors::Failure;
use crate::model::TaskMode;
use crate::timestamp::Timestamp;

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub String);

        impl $name {
            /// The identifier as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<&str> for $name {
            fn from(text: &str) -> Self {
                Self(text.to_owned())
            }
        }
    };
}

string_id!(
    /// A task token: `<execution id>/<state path>@<attempt>`, deterministic so that a task
    /// re-issued after a crash carries the token it had.
    TaskToken
);
string_id!(
    /// A timer: deterministic from the state path (and attempt or token) it belongs to.
    TimerId
);
string_id!(
    /// A thread of control: `""` for the top level, `<Parallel state path>@<attempt>/<branch>` for a branch.
    ThreadId
);

impl ThreadId {
    /// The top-level thread.
    pub fn root() -> Self {
        Self(String::new())
    }

    /// Whether this is the top-level thread.
    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }
}

/// Everything the host needs to start one task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskRequest {
    /// The token to report the outcome with (and `$$.Task.Token` for callback tasks).
    pub token: TaskToken,
    /// `Parameters.FunctionName`, placeholders (`${...}`) left for the host to resolve.
    pub function_name: String,
    /// `Parameters.Payload`, rendered.
    pub payload: Value,
    /// Request/response or callback.
    pub mode: TaskMode,
    /// When the task times out (`TimeoutSeconds`), if it can.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_at: Option<Timestamp>,
    /// `HeartbeatSeconds`, if the task must heartbeat.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heartbeat_seconds: Option<u64>,
}

/// How an execution was stopped from outside its definition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum StopKind {
    /// `StopExecution`.
    Aborted,
    /// The machine's `TimeoutSeconds` elapsed.
    TimedOut,
    /// The interpreter gave up (history limit).
    Failed,
}

/// One entry of the history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryEvent {
    /// 1-based position in the history.
    pub id: u64,
    /// When it was recorded.
    pub timestamp: Timestamp,
    /// What happened.
    #[serde(flatten)]
    pub kind: EventKind,
}

/// What happened. Events caused from outside (start, task outcomes, timers, stop) are recorded
/// first; every other event is derived from the state those leave, one at a time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum EventKind {
    /// The execution began.
    ExecutionStarted {
        /// Host-chosen unique id (`$$.Execution.Id`).
        execution_id: String,
        /// `$$.Execution.Name`.
        name: String,
        /// `$$.StateMachine.Id`.
        state_machine_id: String,
        /// `$$.Execution.Input`.
        input: Value,
        /// When the machine's `TimeoutSeconds` elapses.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        timeout_at: Option<Timestamp>,
    },
    /// A thread entered a state.
    StateEntered {
        /// The thread.
        thread: ThreadId,
        /// The state's name.
        state: String,
        /// The state's unique path (`<thread>/<name>#<visit>`).
        path: String,
        /// The raw state input.
        input: Value,
    },
    /// A state completed (normally, or through a catcher when `caught` is set).
    StateExited {
        /// The thread.
        thread: ThreadId,
        /// The state's path.
        path: String,
        /// The state output.
        output: Value,
        /// Where the thread goes next; `None` ends the thread.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        next: Option<String>,
        /// The error a catcher handled.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        caught: Option<Failure>,
    },
    /// A state failed and nothing handled it: its thread fails.
    StateFailed {
        /// The thread.
        thread: ThreadId,
        /// The state's path.
        path: String,
        /// The error.
        #[serde(flatten)]
        failure: Failure,
    },
    /// A retrier matched: the state runs again when the timer fires.
    StateRetrying {
        /// The thread.
        thread: ThreadId,
        /// The state's path.
        path: String,
        /// Index of the retrier in `Retry`.
        retrier: usize,
        /// The attempt about to run (1 for the first retry).
        attempt: u32,
        /// The error retried.
        #[serde(flatten)]
        failure: Failure,
        /// The backoff timer.
        timer: TimerId,
        /// When it fires.
        fire_at: Timestamp,
    },
    /// A Wait state started waiting.
    WaitStarted {
        /// The thread.
        thread: ThreadId,
        /// The state's path.
        path: String,
        /// The timer.
        timer: TimerId,
        /// When it fires.
        fire_at: Timestamp,
    },
    /// A Wait or retry timer fired.
    TimerFired {
        /// The timer.
        timer: TimerId,
    },
    /// A task must be started by the host.
    TaskScheduled {
        /// The thread.
        thread: ThreadId,
        /// The state's path.
        path: String,
        /// What to start.
        request: TaskRequest,
    },
    /// A task reported success.
    TaskSucceeded {
        /// The task.
        token: TaskToken,
        /// Its raw result.
        output: Value,
    },
    /// A task reported failure.
    TaskFailed {
        /// The task.
        token: TaskToken,
        /// The error.
        #[serde(flatten)]
        failure: Failure,
    },
    /// A task ran out of time or heartbeats.
    TaskTimedOut {
        /// The task.
        token: TaskToken,
        /// `States.Timeout` or `States.HeartbeatTimeout`.
        #[serde(flatten)]
        failure: Failure,
    },
    /// A task heartbeat arrived.
    TaskHeartbeat {
        /// The task.
        token: TaskToken,
        /// The new heartbeat deadline.
        heartbeat_at: Timestamp,
    },
    /// A task is no longer wanted (its Parallel failed, or the execution stopped).
    TaskCancelled {
        /// The task.
        token: TaskToken,
    },
    /// A Parallel state started its branches.
    ParallelStarted {
        /// The thread.
        thread: ThreadId,
        /// The state's path.
        path: String,
        /// The attempt (branch threads are `<path>@<attempt>/<i>`).
        attempt: u32,
        /// The input every branch receives.
        input: Value,
        /// How many branches.
        branches: usize,
    },
    /// A branch reached its end.
    BranchSucceeded {
        /// The branch thread.
        thread: ThreadId,
        /// Its output.
        output: Value,
    },
    /// A branch failed: its Parallel fails with the same error.
    BranchFailed {
        /// The branch thread.
        thread: ThreadId,
        /// The error.
        #[serde(flatten)]
        failure: Failure,
    },
    /// The execution is being stopped; open tasks are cancelled before it ends.
    ExecutionStopping {
        /// Why.
        kind: StopKind,
        /// The error reported.
        #[serde(flatten)]
        failure: Failure,
    },
    /// The execution succeeded.
    ExecutionSucceeded {
        /// Its output.
        output: Value,
    },
    /// The execution failed.
    ExecutionFailed {
        /// The error.
        #[serde(flatten)]
        failure: Failure,
    },
    /// The execution was aborted.
    ExecutionAborted {
        /// The error given to the stop request.
        #[serde(flatten)]
        failure: Failure,
    },
    /// The execution's `TimeoutSeconds` elapsed.
    ExecutionTimedOut {
        /// `States.Timeout`.
        #[serde(flatten)]
        failure: Failure,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn events_serialize_as_flat_stable_rows() {
        let table = [
            (
                HistoryEvent {
                    id: 7,
                    timestamp: Timestamp::from_millis(1000),
                    kind: EventKind::TaskFailed {
                        token: "e/A#1@0".into(),
                        failure: Failure::new("Sluice.ActionFailed", "boom"),
                    },
                },
                json!({"id": 7, "timestamp": 1000, "type": "TaskFailed", "token": "e/A#1@0",
                       "error": "Sluice.ActionFailed", "cause": "boom"}),
            ),
            (
                HistoryEvent {
                    id: 1,
                    timestamp: Timestamp::from_millis(5),
                    kind: EventKind::StateExited {
                        thread: ThreadId::root(),
                        path: "A#1".into(),
                        output: json!({"x": 1}),
                        next: Some("B".into()),
                        caught: None,
                    },
                },
                json!({"id": 1, "timestamp": 5, "type": "StateExited", "thread": "", "path": "A#1",
                       "output": {"x": 1}, "next": "B"}),
            ),
        ];
        for (event, expected) in table {
            let json = serde_json::to_value(&event).expect("serializes");
            assert_eq!(json, expected);
            let back: HistoryEvent = serde_json::from_value(json).expect("deserializes");
            assert_eq!(back, event);
        }
    }
}
