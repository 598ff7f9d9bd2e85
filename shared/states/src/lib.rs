//! The Amazon States Language model and Sluice's embedded, durable interpreter.
//!
//! Sluice compiles pipelines to ASL state machines that run on AWS Step Functions or here. This
//! crate loads a definition ([`Machine::from_json`]), and runs executions of it with Step
//! Functions' semantics as a pure, event-sourced state machine ([`Execution`]), plus a small
//! synchronous driver ([`Runner`]) over three ports: [`HistoryStore`], [`TaskHost`] and [`Clock`].
//! No IO, no threads and no async: the host owns time, storage and task dispatch.
//!
//! # Supported subset (everything else is refused at load time)
//!
//! - Top level: `StartAt`, `States`, `Comment`, `TimeoutSeconds`, `Version`, `QueryLanguage`
//!   (`"JSONPath"` only; JSONata is refused).
//! - States: `Task`, `Parallel`, `Choice`, `Pass`, `Wait`, `Succeed`, `Fail`, with `InputPath`,
//!   `OutputPath`, `Parameters` (nested objects and arrays, `.$` paths, `$$` context paths),
//!   `ResultSelector`, `ResultPath` (including `null` and nested `$.a.b`), `Result`, `Retry`
//!   (`JitterStrategy` `NONE` only), `Catch`, `TimeoutSeconds[Path]`, `HeartbeatSeconds[Path]`,
//!   every Choice operator of the JSONPath language, `Wait` `Seconds[Path]` / `Timestamp[Path]`,
//!   `Fail` `Error[Path]` / `Cause[Path]`.
//! - Task resources: `arn:aws:states:::lambda:invoke` (request/response; the result is wrapped
//!   as `{"ExecutedVersion", "Payload", "StatusCode"}`) and
//!   `arn:aws:states:::lambda:invoke.waitForTaskToken` (callback). `Parameters` may hold only
//!   `FunctionName` (passed to the host as is, `${...}` placeholders included) and `Payload`.
//! - Refused: Map and Distributed Map, intrinsic functions, `Assign`/variables, other resources,
//!   unknown fields, a `Next` naming a missing state, a missing `StartAt`. Unreachable states load.
//!
//! Error names follow Step Functions: `States.ALL` matches everything except `States.Runtime`
//! and `States.DataLimitExceeded`; `States.TaskFailed` matches everything except timeouts;
//! `States.Timeout` also matches `States.HeartbeatTimeout`. A path that matches nothing (in
//! `InputPath`, `Parameters`, `OutputPath`, a Choice variable...) fails the execution with
//! `States.Runtime`, as AWS does. Payloads over 256 KiB fail with `States.DataLimitExceeded`.
//! A `Fail` state without `Error` reports an empty error name.
//!
//! # Durability contract
//!
//! An execution is its history of [`HistoryEvent`]s. [`Execution::handle`] records one event for
//! the [`Command`] (start, task outcome, heartbeat, timer, stop) and then *derives* every further
//! event from the resulting state alone, returning a [`Step`]: the new events and the
//! [`Effect`]s they call for. The host must:
//!
//! 1. append `step.events` to its store atomically (at the expected length), **then**
//! 2. perform `step.effects` (start tasks, arm timers, cancel tasks, report the end).
//!
//! If it crashes in between, [`Execution::replay`] of the stored history followed by
//! [`Execution::resume`] reaches the same state, derives any events a cut-off batch lacked, and
//! re-issues an effect for every task without a recorded outcome and every pending timer. Effects
//! must therefore be idempotent: a task token is `<execution id>/<state path>@<attempt>` (the
//! state path counts visits, so loops get fresh tokens), so a re-issued task carries exactly the
//! token it had, and a timer firing twice is ignored. A request/response task whose result was
//! not recorded runs again (at-least-once). If an append fails, drop the in-memory `Execution`
//! and replay from the store.
//!
//! # Wiring a host
//!
//! ```
//! use serde_json::{json, Value};
//! use sluice_states::{
//!     Failure, FakeClock, Machine, MemoryStore, Runner, StartExecution, Status, TaskHost, TaskRequest,
//!     TaskToken, Timestamp,
//! };
//!
//! /// Runs Lambda-style handlers in process; callback tasks are queued for workers.
//! #[derive(Default)]
//! struct Host {
//!     queued: Vec<TaskRequest>,
//! }
//!
//! impl TaskHost for Host {
//!     fn invoke(&mut self, request: &TaskRequest) -> Result<Value, Failure> {
//!         Ok(json!({"greeting": format!("hello {}", request.payload["who"])}))
//!     }
//!     fn dispatch(&mut self, request: &TaskRequest) -> Result<(), Failure> {
//!         self.queued.push(request.clone()); // e.g. enqueue for a worker, keyed by token
//!         Ok(())
//!     }
//!     fn cancel(&mut self, _token: &TaskToken) {}
//! }
//!
//! let machine = Machine::from_json(&json!({
//!     "StartAt": "Greet",
//!     "States": {
//!         "Greet": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
//!                   "Parameters": {"FunctionName": "greet", "Payload.$": "$"},
//!                   "ResultSelector": {"text.$": "$.Payload.greeting"}, "ResultPath": "$.greet",
//!                   "Next": "Approve"},
//!         "Approve": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
//!                     "Parameters": {"FunctionName": "${ApproveFn}", "Payload": {"token.$": "$$.Task.Token"}},
//!                     "ResultPath": null, "End": true}
//!     }
//! }))?;
//! let clock = FakeClock::new(Timestamp::from_millis(0));
//! let mut runner = Runner::new(machine, MemoryStore::new(), Host::default(), clock);
//! let start = StartExecution {
//!     execution_id: "exec-1".into(),
//!     name: "exec-1".into(),
//!     state_machine_id: "greeter".into(),
//!     input: json!({"who": "world"}),
//! };
//! assert_eq!(runner.start(start)?, Status::Running);
//!
//! // Later, a worker reports the callback task's outcome by token.
//! let token = runner.host().queued[0].token.clone();
//! runner.send_task_success(&token, json!({"approved": true}))?;
//! assert_eq!(runner.status("exec-1")?, Status::Succeeded);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod choice;
pub mod errors;
pub mod execution;
pub mod history;
pub mod load;
pub mod model;
pub mod paths;
pub mod runner;
pub mod store;
pub mod timestamp;

pub use errors::Failure;
pub use execution::{
    Command, CommandError, Effect, Execution, HistoryError, Outcome, StartExecution, Status, Step,
};
pub use history::{EventKind, HistoryEvent, StopKind, TaskRequest, TaskToken, ThreadId, TimerId};
pub use load::LoadError;
pub use model::{Machine, TaskMode};
pub use runner::{Clock, FakeClock, Resumed, Runner, RunnerError, SystemClock, TaskHost};
pub use store::{HistoryStore, MemoryStore, StoreError};
pub use timestamp::Timestamp;
