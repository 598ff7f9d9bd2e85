//! Loading and validating an ASL definition into the [`Machine`] model.
//!
//! Everything the interpreter cannot run exactly as Step Functions would is refused here, with a
//! [`LoadError`] naming the state and the reason, so nothing unsupported is ever mis-executed.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde_json::{Map, Value};
use thiserror::Error;

use crate::choice::Rule;
use crate::errors;
use crate::model::{
    self, Catcher, Choice, ChoiceState, Definition, FailState, Graph, GraphId, Handling, Io,
    Machine, ParallelState, PassState, Retrier, Seconds, State, TaskMode, TaskState, Text,
    Transition, WaitState, WaitUntil,
};
use crate::paths::{Path, ReferencePath, ResultPath, Selector, Template};
use crate::timestamp::Timestamp;

/// Why a definition was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum LoadError {
    /// A problem with the machine (or a branch) as a whole.
    #[error("machine: {0}")]
    Machine(String),
    /// A problem with one state.
    #[error("state \"{state}\": {reason}")]
    State {
        /// The state's name.
        state: String,
        /// What is wrong.
        reason: String,
    },
}

impl Machine {
    /// Loads and validates an ASL definition (JSONPath query language only).
    pub fn from_json(definition: &Value) -> Result<Self, LoadError> {
        let Value::Object(top) = definition else {
            return Err(LoadError::Machine(
                "the definition must be a JSON object".into(),
            ));
        };
        for key in top.keys() {
            if ![
                "Comment",
                "StartAt",
                "States",
                "TimeoutSeconds",
                "Version",
                "QueryLanguage",
            ]
            .contains(&key.as_str())
            {
                return Err(LoadError::Machine(format!(
                    "unsupported top-level field '{key}'"
                )));
            }
        }
        match top.get("QueryLanguage") {
            None => {}
            Some(Value::String(language)) if language == "JSONPath" => {}
            Some(other) => {
                return Err(LoadError::Machine(format!(
                    "QueryLanguage {other} is not supported (only \"JSONPath\")"
                )))
            }
        }
        let comment = match top.get("Comment") {
            None => None,
            Some(Value::String(c)) => Some(c.clone()),
            Some(_) => return Err(LoadError::Machine("Comment must be a string".into())),
        };
        let timeout_seconds = match top.get("TimeoutSeconds") {
            None => None,
            Some(value) => Some(positive_int(value).ok_or_else(|| {
                LoadError::Machine("TimeoutSeconds must be a positive integer".into())
            })?),
        };
        let mut loader = Loader {
            graphs: Vec::new(),
            names: BTreeSet::new(),
        };
        loader.graph(top, "the machine")?;
        Ok(Machine(Arc::new(Definition {
            comment,
            timeout_seconds,
            graphs: loader.graphs,
        })))
    }
}

fn positive_int(value: &Value) -> Option<u64> {
    value.as_u64().filter(|n| *n > 0)
}

struct Loader {
    graphs: Vec<Graph>,
    names: BTreeSet<String>,
}

impl Loader {
    fn graph(&mut self, object: &Map<String, Value>, what: &str) -> Result<GraphId, LoadError> {
        let start_at = match object.get("StartAt") {
            Some(Value::String(start)) => start.clone(),
            Some(_) => {
                return Err(LoadError::Machine(format!(
                    "StartAt of {what} must be a string"
                )))
            }
            None => return Err(LoadError::Machine(format!("{what} has no StartAt"))),
        };
        let Some(Value::Object(states)) = object.get("States") else {
            return Err(LoadError::Machine(format!("{what} has no States object")));
        };
        if states.is_empty() {
            return Err(LoadError::Machine(format!("{what} has no states")));
        }
        let id = self.graphs.len();
        self.graphs.push(Graph {
            start_at: start_at.clone(),
            states: BTreeMap::new(),
        });
        let mut loaded = BTreeMap::new();
        for (name, definition) in states {
            if !self.names.insert(name.clone()) {
                return Err(state_error(
                    name,
                    "duplicate state name (names are machine-wide)",
                ));
            }
            let state = StateLoader { name, loader: self }.load(definition)?;
            loaded.insert(name.clone(), state);
        }
        if !loaded.contains_key(&start_at) {
            return Err(LoadError::Machine(format!(
                "StartAt of {what} names a missing state '{start_at}'"
            )));
        }
        for (name, state) in &loaded {
            for (field, target) in targets(state) {
                if !loaded.contains_key(target) {
                    return Err(state_error(
                        name,
                        format!("{field} names a missing state '{target}'"),
                    ));
                }
            }
        }
        self.graphs[id].states = loaded;
        Ok(id)
    }
}

fn targets(state: &State) -> Vec<(&'static str, &str)> {
    let mut out = Vec::new();
    let (transition, catchers) = match state {
        State::Task(task) => (Some(&task.transition), task.handling.catch.as_slice()),
        State::Parallel(parallel) => (
            Some(&parallel.transition),
            parallel.handling.catch.as_slice(),
        ),
        State::Pass(pass) => (Some(&pass.transition), &[][..]),
        State::Wait(wait) => (Some(&wait.transition), &[][..]),
        State::Choice(choice) => {
            out.extend(
                choice
                    .choices
                    .iter()
                    .map(|c| ("Choice Next", c.next.as_str())),
            );
            out.extend(choice.default.as_deref().map(|d| ("Default", d)));
            (None, &[][..])
        }
        State::Succeed(_) | State::Fail(_) => (None, &[][..]),
    };
    out.extend(
        transition
            .and_then(Transition::next)
            .map(|next| ("Next", next)),
    );
    out.extend(catchers.iter().map(|c| ("Catch Next", c.next.as_str())));
    out
}

fn state_error(name: &str, reason: impl Into<String>) -> LoadError {
    LoadError::State {
        state: name.to_owned(),
        reason: reason.into(),
    }
}

const COMMON: [&str; 3] = ["Type", "Comment", "QueryLanguage"];

struct StateLoader<'l> {
    name: &'l str,
    loader: &'l mut Loader,
}

impl StateLoader<'_> {
    fn err(&self, reason: impl Into<String>) -> LoadError {
        state_error(self.name, reason)
    }

    fn load(mut self, definition: &Value) -> Result<State, LoadError> {
        let Value::Object(map) = definition else {
            return Err(self.err("a state must be a JSON object"));
        };
        let kind = match map.get("Type") {
            Some(Value::String(kind)) => kind.as_str(),
            Some(_) => return Err(self.err("Type must be a string")),
            None => return Err(self.err("Type is missing")),
        };
        match map.get("QueryLanguage") {
            None => {}
            Some(Value::String(language)) if language == "JSONPath" => {}
            Some(other) => {
                return Err(self.err(format!(
                    "QueryLanguage {other} is not supported (only \"JSONPath\")"
                )))
            }
        }
        let allowed: &[&str] = match kind {
            "Task" => &[
                "Resource",
                "Parameters",
                "ResultSelector",
                "ResultPath",
                "InputPath",
                "OutputPath",
                "Next",
                "End",
                "Retry",
                "Catch",
                "TimeoutSeconds",
                "TimeoutSecondsPath",
                "HeartbeatSeconds",
                "HeartbeatSecondsPath",
            ],
            "Parallel" => &[
                "Branches",
                "Parameters",
                "ResultSelector",
                "ResultPath",
                "InputPath",
                "OutputPath",
                "Next",
                "End",
                "Retry",
                "Catch",
            ],
            "Pass" => &[
                "Result",
                "ResultPath",
                "Parameters",
                "InputPath",
                "OutputPath",
                "Next",
                "End",
            ],
            "Wait" => &[
                "Seconds",
                "Timestamp",
                "SecondsPath",
                "TimestampPath",
                "InputPath",
                "OutputPath",
                "Next",
                "End",
            ],
            "Choice" => &["Choices", "Default", "InputPath", "OutputPath"],
            "Succeed" => &["InputPath", "OutputPath"],
            "Fail" => &["Error", "Cause", "ErrorPath", "CausePath"],
            "Map" => return Err(self.err("Map states are not supported")),
            other => return Err(self.err(format!("unsupported state type '{other}'"))),
        };
        for key in map.keys() {
            if !COMMON.contains(&key.as_str()) && !allowed.contains(&key.as_str()) {
                return Err(self.err(format!("unsupported field '{key}' in a {kind} state")));
            }
        }
        let fields = Fields { map };
        Ok(match kind {
            "Task" => State::Task(self.task(&fields)?),
            "Parallel" => State::Parallel(self.parallel(&fields)?),
            "Pass" => State::Pass(PassState {
                io: self.io(&fields)?,
                parameters: self.template(&fields, "Parameters")?,
                result: map.get("Result").cloned(),
                result_path: self.result_path(&fields, "ResultPath")?,
                transition: self.transition(&fields)?,
            }),
            "Wait" => State::Wait(self.wait(&fields)?),
            "Choice" => State::Choice(self.choice(&fields)?),
            "Succeed" => State::Succeed(self.io(&fields)?),
            _ => State::Fail(self.fail(&fields)?),
        })
    }

    fn io(&self, fields: &Fields) -> Result<Io, LoadError> {
        Ok(Io {
            input_path: self.selector(fields, "InputPath")?,
            output_path: self.selector(fields, "OutputPath")?,
        })
    }

    fn selector(&self, fields: &Fields, key: &str) -> Result<Selector, LoadError> {
        match fields.map.get(key) {
            None => Ok(Selector::All),
            Some(Value::Null) => Ok(Selector::Empty),
            Some(Value::String(text)) => {
                let path =
                    ReferencePath::parse(text).map_err(|e| self.err(format!("{key}: {e}")))?;
                Ok(if path.is_root() {
                    Selector::All
                } else {
                    Selector::Path(path)
                })
            }
            Some(_) => Err(self.err(format!("{key} must be a string or null"))),
        }
    }

    fn result_path(&self, fields: &Fields, key: &str) -> Result<ResultPath, LoadError> {
        match fields.map.get(key) {
            None => Ok(ResultPath::default()),
            Some(Value::Null) => Ok(ResultPath::Discard),
            Some(Value::String(text)) => {
                model::result_path(text).map_err(|e| self.err(format!("{key}: {e}")))
            }
            Some(_) => Err(self.err(format!("{key} must be a string or null"))),
        }
    }

    fn template(&self, fields: &Fields, key: &str) -> Result<Option<Template>, LoadError> {
        fields
            .map
            .get(key)
            .map(|value| Template::compile(value).map_err(|e| self.err(format!("{key}: {e}"))))
            .transpose()
    }

    fn transition(&self, fields: &Fields) -> Result<Transition, LoadError> {
        let end = match fields.map.get("End") {
            None | Some(Value::Bool(false)) => false,
            Some(Value::Bool(true)) => true,
            Some(_) => return Err(self.err("End must be a boolean")),
        };
        match (fields.map.get("Next"), end) {
            (Some(Value::String(next)), false) => Ok(Transition::Next(next.clone())),
            (None, true) => Ok(Transition::End),
            (Some(_), false) => Err(self.err("Next must be a string")),
            _ => Err(self.err("exactly one of Next and \"End\": true is required")),
        }
    }

    fn seconds(&self, fields: &Fields, key: &str) -> Result<Option<Seconds>, LoadError> {
        let path_key = format!("{key}Path");
        match (fields.map.get(key), fields.map.get(&path_key)) {
            (None, None) => Ok(None),
            (Some(value), None) => positive_int(value)
                .map(|n| Some(Seconds::Fixed(n)))
                .ok_or_else(|| self.err(format!("{key} must be a positive integer"))),
            (None, Some(Value::String(text))) => Path::parse_reference(text)
                .map(|p| Some(Seconds::Path(p)))
                .map_err(|e| self.err(format!("{path_key}: {e}"))),
            (None, Some(_)) => Err(self.err(format!("{path_key} must be a string"))),
            (Some(_), Some(_)) => {
                Err(self.err(format!("{key} and {path_key} are mutually exclusive")))
            }
        }
    }

    fn task(&mut self, fields: &Fields) -> Result<TaskState, LoadError> {
        let mode = match fields.map.get("Resource") {
            Some(Value::String(resource)) if resource == model::LAMBDA_INVOKE => {
                TaskMode::RequestResponse
            }
            Some(Value::String(resource)) if resource == model::LAMBDA_INVOKE_CALLBACK => {
                TaskMode::Callback
            }
            Some(Value::String(resource)) => {
                return Err(self.err(format!(
                    "unsupported Task resource '{resource}' (supported: {}, {})",
                    model::LAMBDA_INVOKE,
                    model::LAMBDA_INVOKE_CALLBACK
                )))
            }
            _ => return Err(self.err("Resource must be a string")),
        };
        let Some(parameters) = self.template(fields, "Parameters")? else {
            return Err(self.err("Parameters with FunctionName and Payload are required"));
        };
        if !matches!(parameters, Template::Object(_)) {
            return Err(self.err("Parameters must be an object"));
        }
        for name in parameters.field_names() {
            if name != "FunctionName" && name != "Payload" {
                return Err(self.err(format!(
                    "unsupported Parameters field '{name}' for lambda:invoke"
                )));
            }
        }
        for required in ["FunctionName", "Payload"] {
            if !parameters.has_field(required) {
                return Err(self.err(format!("Parameters must include {required}")));
            }
        }
        let timeout = self.seconds(fields, "TimeoutSeconds")?;
        let heartbeat = self.seconds(fields, "HeartbeatSeconds")?;
        if let (Some(Seconds::Fixed(timeout)), Some(Seconds::Fixed(heartbeat))) =
            (&timeout, &heartbeat)
        {
            if heartbeat >= timeout {
                return Err(self.err("HeartbeatSeconds must be smaller than TimeoutSeconds"));
            }
        }
        Ok(TaskState {
            io: self.io(fields)?,
            mode,
            parameters,
            handling: self.handling(fields)?,
            timeout,
            heartbeat,
            transition: self.transition(fields)?,
        })
    }

    fn parallel(&mut self, fields: &Fields) -> Result<ParallelState, LoadError> {
        let Some(Value::Array(branches)) = fields.map.get("Branches") else {
            return Err(self.err("Branches must be an array"));
        };
        if branches.is_empty() {
            return Err(self.err("Branches must not be empty"));
        }
        let mut ids = Vec::with_capacity(branches.len());
        for (i, branch) in branches.iter().enumerate() {
            let Value::Object(branch) = branch else {
                return Err(self.err(format!("branch {i} must be an object")));
            };
            for key in branch.keys() {
                if !["StartAt", "States", "Comment"].contains(&key.as_str()) {
                    return Err(self.err(format!("unsupported field '{key}' in branch {i}")));
                }
            }
            let what = format!("branch {i} of \"{}\"", self.name);
            ids.push(self.loader.graph(branch, &what)?);
        }
        Ok(ParallelState {
            io: self.io(fields)?,
            parameters: self.template(fields, "Parameters")?,
            branches: ids,
            handling: self.handling(fields)?,
            transition: self.transition(fields)?,
        })
    }

    fn handling(&self, fields: &Fields) -> Result<Handling, LoadError> {
        Ok(Handling {
            result_selector: self.template(fields, "ResultSelector")?,
            result_path: self.result_path(fields, "ResultPath")?,
            retry: self.retriers(fields)?,
            catch: self.catchers(fields)?,
        })
    }

    fn error_equals(
        &self,
        object: &Map<String, Value>,
        what: &str,
        last: bool,
    ) -> Result<Vec<String>, LoadError> {
        let Some(Value::Array(names)) = object.get("ErrorEquals") else {
            return Err(self.err(format!("{what} needs an ErrorEquals array")));
        };
        let names: Vec<String> = names
            .iter()
            .map(|n| n.as_str().map(str::to_owned))
            .collect::<Option<_>>()
            .ok_or_else(|| self.err(format!("{what} ErrorEquals must hold strings")))?;
        if names.is_empty() {
            return Err(self.err(format!("{what} ErrorEquals must not be empty")));
        }
        if names.iter().any(|n| n == errors::ALL) {
            if names.len() > 1 {
                return Err(self.err(format!(
                    "{} must appear alone in {what} ErrorEquals",
                    errors::ALL
                )));
            }
            if !last {
                return Err(self.err(format!("{} must be in the last {what}", errors::ALL)));
            }
        }
        Ok(names)
    }

    fn list<'v>(
        &self,
        fields: &'v Fields,
        key: &str,
    ) -> Result<Vec<&'v Map<String, Value>>, LoadError> {
        match fields.map.get(key) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| {
                    item.as_object()
                        .ok_or_else(|| self.err(format!("{key} entries must be objects")))
                })
                .collect(),
            Some(_) => Err(self.err(format!("{key} must be an array"))),
        }
    }

    fn retriers(&self, fields: &Fields) -> Result<Vec<Retrier>, LoadError> {
        let items = self.list(fields, "Retry")?;
        let count = items.len();
        items
            .into_iter()
            .enumerate()
            .map(|(i, object)| {
                for key in object.keys() {
                    if ![
                        "ErrorEquals",
                        "IntervalSeconds",
                        "MaxAttempts",
                        "BackoffRate",
                        "MaxDelaySeconds",
                        "JitterStrategy",
                        "Comment",
                    ]
                    .contains(&key.as_str())
                    {
                        return Err(self.err(format!("unsupported field '{key}' in a retrier")));
                    }
                }
                let int = |key: &str, default: u64, min: u64| -> Result<u64, LoadError> {
                    match object.get(key) {
                        None => Ok(default),
                        Some(value) => value.as_u64().filter(|n| *n >= min).ok_or_else(|| {
                            self.err(format!("retrier {key} must be an integer >= {min}"))
                        }),
                    }
                };
                let backoff_rate = match object.get("BackoffRate") {
                    None => 2.0,
                    Some(value) => value
                        .as_f64()
                        .filter(|rate| *rate >= 1.0)
                        .ok_or_else(|| self.err("retrier BackoffRate must be a number >= 1.0"))?,
                };
                match object.get("JitterStrategy") {
                    None => {}
                    Some(Value::String(s)) if s == "NONE" => {}
                    Some(other) => {
                        return Err(self.err(format!(
                            "retrier JitterStrategy {other} is not supported (only \"NONE\")"
                        )))
                    }
                }
                let max_attempts = int("MaxAttempts", 3, 0)?;
                Ok(Retrier {
                    error_equals: self.error_equals(object, "retrier", i + 1 == count)?,
                    interval_seconds: int("IntervalSeconds", 1, 1)?,
                    max_attempts: u32::try_from(max_attempts)
                        .map_err(|_| self.err("retrier MaxAttempts is too large"))?,
                    backoff_rate,
                    max_delay_seconds: object
                        .get("MaxDelaySeconds")
                        .map(|_| int("MaxDelaySeconds", 1, 1))
                        .transpose()?,
                })
            })
            .collect()
    }

    fn catchers(&self, fields: &Fields) -> Result<Vec<Catcher>, LoadError> {
        let items = self.list(fields, "Catch")?;
        let count = items.len();
        items
            .into_iter()
            .enumerate()
            .map(|(i, object)| {
                for key in object.keys() {
                    if !["ErrorEquals", "Next", "ResultPath", "Comment"].contains(&key.as_str()) {
                        return Err(self.err(format!("unsupported field '{key}' in a catcher")));
                    }
                }
                let Some(Value::String(next)) = object.get("Next") else {
                    return Err(self.err("catcher needs a Next"));
                };
                Ok(Catcher {
                    error_equals: self.error_equals(object, "catcher", i + 1 == count)?,
                    result_path: self.result_path(&Fields { map: object }, "ResultPath")?,
                    next: next.clone(),
                })
            })
            .collect()
    }

    fn wait(&self, fields: &Fields) -> Result<WaitState, LoadError> {
        let present: Vec<&str> = ["Seconds", "Timestamp", "SecondsPath", "TimestampPath"]
            .into_iter()
            .filter(|key| fields.map.contains_key(*key))
            .collect();
        if present.len() != 1 {
            return Err(self.err(
                "exactly one of Seconds, Timestamp, SecondsPath and TimestampPath is required",
            ));
        }
        let until = match present[0] {
            "Seconds" | "SecondsPath" => WaitUntil::Seconds(
                self.seconds(fields, "Seconds")?
                    .ok_or_else(|| self.err("Seconds is missing"))?,
            ),
            "Timestamp" => {
                let text = fields.map.get("Timestamp").and_then(Value::as_str);
                WaitUntil::Timestamp(
                    text.and_then(Timestamp::parse_rfc3339)
                        .ok_or_else(|| self.err("Timestamp must be an RFC 3339 timestamp"))?,
                )
            }
            _ => {
                let Some(Value::String(text)) = fields.map.get("TimestampPath") else {
                    return Err(self.err("TimestampPath must be a string"));
                };
                WaitUntil::TimestampPath(
                    Path::parse_reference(text)
                        .map_err(|e| self.err(format!("TimestampPath: {e}")))?,
                )
            }
        };
        Ok(WaitState {
            io: self.io(fields)?,
            until,
            transition: self.transition(fields)?,
        })
    }

    fn choice(&self, fields: &Fields) -> Result<ChoiceState, LoadError> {
        let Some(Value::Array(rules)) = fields.map.get("Choices") else {
            return Err(self.err("Choices must be an array"));
        };
        if rules.is_empty() {
            return Err(self.err("Choices must not be empty"));
        }
        let choices = rules
            .iter()
            .map(|rule| {
                let (rule, next) = Rule::parse(rule, true).map_err(|e| self.err(e))?;
                let next = next.ok_or_else(|| self.err("a choice rule must have a Next"))?;
                Ok(Choice { rule, next })
            })
            .collect::<Result<_, LoadError>>()?;
        let default = match fields.map.get("Default") {
            None => None,
            Some(Value::String(default)) => Some(default.clone()),
            Some(_) => return Err(self.err("Default must be a string")),
        };
        Ok(ChoiceState {
            io: self.io(fields)?,
            choices,
            default,
        })
    }

    fn text(&self, fields: &Fields, key: &str) -> Result<Option<Text>, LoadError> {
        let path_key = format!("{key}Path");
        match (fields.map.get(key), fields.map.get(&path_key)) {
            (None, None) => Ok(None),
            (Some(Value::String(text)), None) => Ok(Some(Text::Literal(text.clone()))),
            (None, Some(Value::String(text))) => Path::parse_reference(text)
                .map(|p| Some(Text::Path(p)))
                .map_err(|e| self.err(format!("{path_key}: {e}"))),
            (Some(_), Some(_)) => {
                Err(self.err(format!("{key} and {path_key} are mutually exclusive")))
            }
            _ => Err(self.err(format!("{key} must be a string"))),
        }
    }

    fn fail(&self, fields: &Fields) -> Result<FailState, LoadError> {
        Ok(FailState {
            error: self.text(fields, "Error")?,
            cause: self.text(fields, "Cause")?,
        })
    }
}

struct Fields<'a> {
    map: &'a Map<String, Value>,
}
