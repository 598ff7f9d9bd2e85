//! The validated ASL model. Built only by [`Machine::from_json`](crate::Machine::from_json), so the
//! interpreter never re-checks what the loader guarantees (every `Next` resolves, every path parses).

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;

use crate::choice::Rule;
use crate::paths::{Path, ReferencePath, ResultPath, Selector, Template};
use crate::timestamp::Timestamp;

/// The two Lambda integrations the interpreter runs.
pub const LAMBDA_INVOKE: &str = "arn:aws:states:::lambda:invoke";
/// The callback flavour: the task ends when its token is reported back.
pub const LAMBDA_INVOKE_CALLBACK: &str = "arn:aws:states:::lambda:invoke.waitForTaskToken";

/// A loaded state machine. Cheap to clone (shared).
#[derive(Debug, Clone)]
pub struct Machine(pub(crate) Arc<Definition>);

/// The contents of a [`Machine`].
#[derive(Debug)]
pub struct Definition {
    /// `Comment`.
    pub comment: Option<String>,
    /// `TimeoutSeconds` of the whole execution.
    pub timeout_seconds: Option<u64>,
    /// Graph 0 is the top level; Parallel branches refer to the others by index.
    pub graphs: Vec<Graph>,
}

impl Machine {
    /// The definition.
    pub fn definition(&self) -> &Definition {
        &self.0
    }

    /// A graph by index (the top level is [`ROOT_GRAPH`]).
    pub(crate) fn graph(&self, id: GraphId) -> &Graph {
        &self.0.graphs[id]
    }
}

/// Index of a graph in [`Definition::graphs`].
pub type GraphId = usize;
/// The top-level graph.
pub const ROOT_GRAPH: GraphId = 0;

/// A `StartAt` plus `States`: the top level or a Parallel branch.
#[derive(Debug)]
pub struct Graph {
    /// `StartAt`.
    pub start_at: String,
    /// `States`, by name.
    pub states: BTreeMap<String, State>,
}

/// What a state does when it completes.
#[derive(Debug, Clone, PartialEq)]
pub enum Transition {
    /// `Next`.
    Next(String),
    /// `End: true`.
    End,
}

impl Transition {
    /// The next state's name, if any.
    pub fn next(&self) -> Option<&str> {
        match self {
            Self::Next(name) => Some(name),
            Self::End => None,
        }
    }
}

/// `InputPath` and `OutputPath`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Io {
    /// `InputPath`.
    pub input_path: Selector,
    /// `OutputPath`.
    pub output_path: Selector,
}

/// One state.
// States are built once at load time and only borrowed afterwards.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum State {
    /// `Type: Task`.
    Task(TaskState),
    /// `Type: Parallel`.
    Parallel(ParallelState),
    /// `Type: Choice`.
    Choice(ChoiceState),
    /// `Type: Pass`.
    Pass(PassState),
    /// `Type: Wait`.
    Wait(WaitState),
    /// `Type: Succeed`.
    Succeed(Io),
    /// `Type: Fail`.
    Fail(FailState),
}

/// How a Lambda task returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum TaskMode {
    /// `lambda:invoke`: the handler's return value is the result, wrapped as `{"Payload": ...}`.
    RequestResponse,
    /// `lambda:invoke.waitForTaskToken`: the result is what `SendTaskSuccess` reports.
    Callback,
}

/// A number of seconds fixed in the definition or read from the input.
#[derive(Debug, Clone, PartialEq)]
pub enum Seconds {
    /// A literal.
    Fixed(u64),
    /// A `*Path` field.
    Path(Path),
}

/// A retrier.
#[derive(Debug, Clone, PartialEq)]
pub struct Retrier {
    /// `ErrorEquals`.
    pub error_equals: Vec<String>,
    /// `IntervalSeconds` (default 1).
    pub interval_seconds: u64,
    /// `MaxAttempts` (default 3; 0 never retries).
    pub max_attempts: u32,
    /// `BackoffRate` (default 2.0).
    pub backoff_rate: f64,
    /// `MaxDelaySeconds`, the cap on one interval.
    pub max_delay_seconds: Option<u64>,
}

impl Retrier {
    /// The delay before retry number `retries_so_far + 1` of this retrier, in seconds.
    pub fn delay_seconds(&self, retries_so_far: u32) -> f64 {
        let exponent = i32::try_from(retries_so_far).unwrap_or(i32::MAX);
        let delay = self.interval_seconds as f64 * self.backoff_rate.powi(exponent);
        match self.max_delay_seconds {
            Some(cap) => delay.min(cap as f64),
            None => delay,
        }
    }
}

/// A catcher.
#[derive(Debug, Clone, PartialEq)]
pub struct Catcher {
    /// `ErrorEquals`.
    pub error_equals: Vec<String>,
    /// `ResultPath` for the error output (default `$`).
    pub result_path: ResultPath,
    /// `Next`.
    pub next: String,
}

/// Retry, Catch and result shaping shared by Task and Parallel.
#[derive(Debug, Default)]
pub struct Handling {
    /// `ResultSelector`.
    pub result_selector: Option<Template>,
    /// `ResultPath`.
    pub result_path: ResultPath,
    /// `Retry`.
    pub retry: Vec<Retrier>,
    /// `Catch`.
    pub catch: Vec<Catcher>,
}

/// A Lambda task.
#[derive(Debug)]
pub struct TaskState {
    /// Paths.
    pub io: Io,
    /// Which integration.
    pub mode: TaskMode,
    /// `Parameters`; renders to `{"FunctionName": ..., "Payload": ...}`.
    pub parameters: Template,
    /// Result shaping and error handling.
    pub handling: Handling,
    /// `TimeoutSeconds` / `TimeoutSecondsPath`.
    pub timeout: Option<Seconds>,
    /// `HeartbeatSeconds` / `HeartbeatSecondsPath`.
    pub heartbeat: Option<Seconds>,
    /// `Next` / `End`.
    pub transition: Transition,
}

/// A Parallel state.
#[derive(Debug)]
pub struct ParallelState {
    /// Paths.
    pub io: Io,
    /// `Parameters`.
    pub parameters: Option<Template>,
    /// The branches' graphs.
    pub branches: Vec<GraphId>,
    /// Result shaping and error handling.
    pub handling: Handling,
    /// `Next` / `End`.
    pub transition: Transition,
}

/// A top-level choice rule and where it leads.
#[derive(Debug)]
pub struct Choice {
    /// The condition.
    pub rule: Rule,
    /// `Next`.
    pub next: String,
}

/// A Choice state.
#[derive(Debug)]
pub struct ChoiceState {
    /// Paths.
    pub io: Io,
    /// `Choices`, in order.
    pub choices: Vec<Choice>,
    /// `Default`.
    pub default: Option<String>,
}

/// A Pass state.
#[derive(Debug)]
pub struct PassState {
    /// Paths.
    pub io: Io,
    /// `Parameters`.
    pub parameters: Option<Template>,
    /// `Result`.
    pub result: Option<Value>,
    /// `ResultPath`.
    pub result_path: ResultPath,
    /// `Next` / `End`.
    pub transition: Transition,
}

/// When a Wait state ends.
#[derive(Debug, Clone, PartialEq)]
pub enum WaitUntil {
    /// `Seconds` / `SecondsPath`.
    Seconds(Seconds),
    /// `Timestamp`.
    Timestamp(Timestamp),
    /// `TimestampPath`.
    TimestampPath(Path),
}

/// A Wait state.
#[derive(Debug)]
pub struct WaitState {
    /// Paths.
    pub io: Io,
    /// How long.
    pub until: WaitUntil,
    /// `Next` / `End`.
    pub transition: Transition,
}

/// A string fixed in the definition or read from the input.
#[derive(Debug, Clone, PartialEq)]
pub enum Text {
    /// A literal.
    Literal(String),
    /// A `*Path` field.
    Path(Path),
}

/// A Fail state.
#[derive(Debug)]
pub struct FailState {
    /// `Error` / `ErrorPath`.
    pub error: Option<Text>,
    /// `Cause` / `CausePath`.
    pub cause: Option<Text>,
}

impl State {
    /// The state type's ASL name.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::Task(_) => "Task",
            Self::Parallel(_) => "Parallel",
            Self::Choice(_) => "Choice",
            Self::Pass(_) => "Pass",
            Self::Wait(_) => "Wait",
            Self::Succeed(_) => "Succeed",
            Self::Fail(_) => "Fail",
        }
    }
}

/// A reference path that must name fields only (used by the loader for `ResultPath`).
pub(crate) fn result_path(text: &str) -> Result<ResultPath, String> {
    let path = ReferencePath::parse(text)?;
    if !path.is_fields_only() {
        return Err(format!("ResultPath '{text}' may only name object fields"));
    }
    Ok(ResultPath::Path(path))
}
