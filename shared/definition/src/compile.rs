//! The compiler: a validated pipeline definition becomes one Amazon States Language state machine.
//!
//! Shape, for each stage `S` in order:
//! ```text
//! S (enter)  Task   gate: transitions, execution-mode locks, beforeEntry      -> $.gate {attempt, skip}
//! S (entry)  Choice only with beforeEntry: $.gate.skip -> next stage
//! S.A        Task   one action alone in its runOrder group
//! S (group N) Parallel  actions sharing runOrder N, one branch each; a branch catches its own failure so the
//!                   others finish (as CodePipeline lets them), then `S (group N check)` fails the stage
//! S (leave)  Task   gate: onSuccess conditions, lock release
//! S (failed) Task   records the failure, decides onFailure                    -> $.recovery {decision}
//! S (recovery) Choice only with onFailure RETRY/ROLLBACK: RETRY -> S (enter), ROLLBACK -> S (rollback)
//! ```
//! then `Succeeded`, or `Failed` / `Stopped` / `Superseded`. The machine carries control only: every task sends
//! the dispatch function a small [`TaskRequest`](crate::contract::TaskRequest) and keeps nothing but the gate's
//! answer. Results, artifacts and variables live in the store.
//!
//! Output is deterministic (same definition, same bytes) and every task is
//! `arn:aws:states:::lambda:invoke.waitForTaskToken`, so the embedded interpreter and Step Functions run the same
//! machine, and a test bridge can play Lambda's part against an emulator.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde_json::{json, Map, Value};

use crate::contract::{error, DISPATCH_FUNCTION};
use crate::model::{Action, ConditionResult, ExecutionMode, Pipeline, Stage};
use crate::providers::Category;

/// The Task resource of every task the compiler emits.
pub const WAIT_FOR_TASK_TOKEN: &str = "arn:aws:states:::lambda:invoke.waitForTaskToken";
/// Step Functions' limit on state name length.
pub const MAX_STATE_NAME: usize = 80;
/// The final state of a successful execution.
pub const SUCCEEDED: &str = "Succeeded";
/// The final state of a failed execution.
pub const FAILED: &str = "Failed";
/// The final state of a stopped execution.
pub const STOPPED: &str = "Stopped";
/// The final state of a superseded execution.
pub const SUPERSEDED: &str = "Superseded";
/// The first state: jumps to the stage named by the input's `startAt`.
pub const START: &str = "Start";

/// How long an action may run when its definition does not say, in minutes (CodePipeline's defaults).
pub fn default_timeout_minutes(action: &Action) -> u32 {
    let id = &action.action_type_id;
    match (id.category.parse::<Category>().ok(), id.provider.as_str()) {
        (Some(Category::Approval), _) => 7 * 24 * 60,
        (_, "CloudFormation" | "CloudFormationStackSet" | "CloudFormationStackInstances") => {
            3 * 24 * 60
        }
        (_, "CodeDeploy" | "CodeDeployToECS") => 5 * 24 * 60,
        (_, "CodeBuild" | "Commands" | "ECRBuildAndPublish") => 8 * 60,
        _ => 60,
    }
}

/// A Manual approval's `Deadline` (Sluice's approval rule), in minutes, when it sets one.
fn approval_deadline(action: &Action) -> Option<u32> {
    let id = &action.action_type_id;
    (id.category == "Approval" && id.provider == "Manual")
        .then(|| {
            action
                .configuration
                .as_ref()?
                .get(crate::approval_rules::DEADLINE)
        })
        .flatten()
        .and_then(|d| crate::approval_rules::parse_minutes(d).ok())
}

/// Compiles a validated pipeline. Validation first: the compiler assumes names are unique and artifacts flow
/// forward, and does not re-check.
pub fn compile(pipeline: &Pipeline) -> Value {
    Compiler::new(pipeline).machine()
}

struct Compiler<'a> {
    pipeline: &'a Pipeline,
    version: u64,
    names: StateNames,
    states: Map<String, Value>,
}

/// Per-stage state names, allocated up front so that forward references are known.
struct StageNames {
    enter: String,
    entry: String,
    leave: String,
    failed: String,
    recovery: String,
    rollback: String,
    /// Per runOrder group: the group's state (the action's own for a group of one), its check and failure states.
    groups: Vec<GroupNames>,
}

struct GroupNames {
    run_order: u32,
    state: String,
    check: String,
    failed: String,
    /// Per action of the group, in definition order: the action's state and its catch state.
    actions: Vec<(usize, String, String)>,
}

impl<'a> Compiler<'a> {
    fn new(pipeline: &'a Pipeline) -> Self {
        Self {
            pipeline,
            version: pipeline.version.unwrap_or(1),
            names: StateNames::default(),
            states: Map::new(),
        }
    }

    fn machine(mut self) -> Value {
        for fixed in [START, SUCCEEDED, FAILED, STOPPED, SUPERSEDED] {
            self.names.reserve(fixed);
        }
        let stages: Vec<StageNames> = self
            .pipeline
            .stages
            .iter()
            .map(|s| self.stage_names(s))
            .collect();

        self.start_state(&stages);
        for (i, stage) in self.pipeline.stages.iter().enumerate() {
            let next = stages
                .get(i + 1)
                .map_or(SUCCEEDED, |n| n.enter.as_str())
                .to_owned();
            self.stage(stage, &stages[i], &next);
        }
        self.states
            .insert(SUCCEEDED.into(), json!({"Type": "Succeed"}));
        self.states.insert(
            FAILED.into(),
            json!({"Type": "Fail", "Error": error::STAGE_FAILED, "Cause": "A stage of the pipeline failed."}),
        );
        self.states.insert(
            STOPPED.into(),
            json!({"Type": "Fail", "Error": error::STOPPED, "Cause": "The pipeline execution was stopped."}),
        );
        if self.pipeline.mode() == ExecutionMode::Superseded {
            self.states.insert(
                SUPERSEDED.into(),
                json!({"Type": "Fail", "Error": error::SUPERSEDED, "Cause": "A newer pipeline execution took this one's place."}),
            );
        }

        let mut machine = Map::new();
        machine.insert(
            "Comment".into(),
            Value::String(format!(
                "Sluice pipeline {} version {}, compiled from its definition; change the definition, not this.",
                self.pipeline.name, self.version
            )),
        );
        machine.insert("QueryLanguage".into(), "JSONPath".into());
        machine.insert("StartAt".into(), START.into());
        machine.insert("States".into(), Value::Object(self.states));
        Value::Object(machine)
    }

    fn stage_names(&mut self, stage: &Stage) -> StageNames {
        let s = &stage.name;
        let mut groups: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
        for (i, a) in stage.actions.iter().enumerate() {
            groups.entry(a.run_order()).or_default().push(i);
        }
        let enter = self.names.allocate(&format!("{s} (enter)"));
        let entry = self.names.allocate(&format!("{s} (entry)"));
        let groups = groups
            .into_iter()
            .enumerate()
            .map(|(gi, (run_order, members))| {
                let actions: Vec<(usize, String, String)> = members
                    .into_iter()
                    .map(|i| {
                        let name = format!("{s}.{}", stage.actions[i].name);
                        let state = self.names.allocate(&name);
                        let caught = self.names.allocate(&format!("{name} (caught)"));
                        (i, state, caught)
                    })
                    .collect();
                let state = if actions.len() == 1 {
                    actions[0].1.clone()
                } else {
                    self.names.allocate(&format!("{s} (group {})", gi + 1))
                };
                GroupNames {
                    run_order,
                    state,
                    check: self
                        .names
                        .allocate(&format!("{s} (group {} check)", gi + 1)),
                    failed: self
                        .names
                        .allocate(&format!("{s} (group {} failed)", gi + 1)),
                    actions,
                }
            })
            .collect();
        StageNames {
            enter,
            entry,
            leave: self.names.allocate(&format!("{s} (leave)")),
            failed: self.names.allocate(&format!("{s} (failed)")),
            recovery: self.names.allocate(&format!("{s} (recovery)")),
            rollback: self.names.allocate(&format!("{s} (rollback)")),
            groups,
        }
    }

    fn start_state(&mut self, stages: &[StageNames]) {
        let choices: Vec<Value> = self
            .pipeline
            .stages
            .iter()
            .zip(stages)
            .skip(1)
            .map(|(stage, names)| {
                json!({"Variable": "$.startAt", "StringEquals": stage.name, "Next": names.enter})
            })
            .collect();
        let first = stages.first().map_or(SUCCEEDED, |s| s.enter.as_str());
        let state = if choices.is_empty() {
            json!({"Type": "Pass", "Next": first})
        } else {
            json!({"Type": "Choice", "Choices": choices, "Default": first})
        };
        self.states.insert(START.into(), state);
    }

    fn stage(&mut self, stage: &Stage, names: &StageNames, next_stage: &str) {
        let body = names
            .groups
            .first()
            .map_or(names.leave.as_str(), |g| g.state.as_str());
        let catch_to_failed = |extra: Vec<Value>| -> Value {
            let mut catches = extra;
            catches.push(json!({"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": names.failed}));
            Value::Array(catches)
        };
        let mut gate_catches = vec![json!({"ErrorEquals": [error::STOPPED], "Next": STOPPED})];
        if self.pipeline.mode() == ExecutionMode::Superseded {
            gate_catches.insert(
                0,
                json!({"ErrorEquals": [error::SUPERSEDED], "Next": SUPERSEDED}),
            );
        }

        // Entry gate, and the beforeEntry skip decision.
        let after_enter = if stage.before_entry.is_some() {
            names.entry.as_str()
        } else {
            body
        };
        let mut enter = self.task("EnterStage", stage, None, &[]);
        enter.insert("ResultPath".into(), "$.gate".into());
        enter.insert("Retry".into(), retry());
        enter.insert("Catch".into(), catch_to_failed(gate_catches.clone()));
        enter.insert("Next".into(), after_enter.into());
        self.states
            .insert(names.enter.clone(), Value::Object(enter));
        if stage.before_entry.is_some() {
            self.states.insert(
                names.entry.clone(),
                json!({
                    "Type": "Choice",
                    "Choices": [{"Variable": "$.gate.skip", "BooleanEquals": true, "Next": next_stage}],
                    "Default": body,
                }),
            );
        }

        // runOrder groups, in order.
        for (gi, group) in names.groups.iter().enumerate() {
            let next = names
                .groups
                .get(gi + 1)
                .map_or(names.leave.as_str(), |g| g.state.as_str());
            if let [(ai, state, _)] = group.actions.as_slice() {
                let mut task = self.action_task(stage, &stage.actions[*ai]);
                task.insert("ResultPath".into(), Value::Null);
                task.insert("Catch".into(), catch_to_failed(Vec::new()));
                task.insert("Next".into(), next.into());
                self.states.insert(state.clone(), Value::Object(task));
                continue;
            }
            let branches: Vec<Value> = group
                .actions
                .iter()
                .map(|(ai, state, caught)| {
                    let mut task = self.action_task(stage, &stage.actions[*ai]);
                    task.insert("ResultSelector".into(), json!({"ok": true}));
                    task.insert(
                        "Catch".into(),
                        json!([{"ErrorEquals": ["States.ALL"], "Next": caught}]),
                    );
                    task.insert("End".into(), true.into());
                    json!({
                        "StartAt": state,
                        "States": {
                            state: Value::Object(task),
                            caught: {"Type": "Pass", "End": true},
                        }
                    })
                })
                .collect();
            let selector: Map<String, Value> = (0..group.actions.len())
                .map(|i| (format!("a{i}.$"), Value::String(format!("$[{i}]"))))
                .collect();
            self.states.insert(
                group.state.clone(),
                json!({
                    "Type": "Parallel",
                    "Branches": branches,
                    "ResultSelector": selector,
                    "ResultPath": "$.group",
                    "Next": group.check,
                }),
            );
            let failed_any: Vec<Value> = (0..group.actions.len())
                .map(|i| json!({"Variable": format!("$.group.a{i}.Error"), "IsPresent": true}))
                .collect();
            self.states.insert(
                group.check.clone(),
                json!({
                    "Type": "Choice",
                    "Choices": [{"Or": failed_any, "Next": group.failed}],
                    "Default": next,
                }),
            );
            self.states.insert(
                group.failed.clone(),
                json!({
                    "Type": "Pass",
                    "Result": {
                        "Error": error::ACTION_FAILED,
                        "Cause": format!("An action of runOrder {} in stage {} failed.", group.run_order, stage.name),
                    },
                    "ResultPath": "$.error",
                    "Next": names.failed,
                }),
            );
        }

        // Exit gate.
        let mut leave = self.task("LeaveStage", stage, None, &[]);
        leave.insert("ResultPath".into(), Value::Null);
        leave.insert("Retry".into(), retry());
        leave.insert("Catch".into(), catch_to_failed(gate_catches));
        leave.insert("Next".into(), next_stage.into());
        self.states
            .insert(names.leave.clone(), Value::Object(leave));

        // Failure, and what follows it.
        let recovers = has_recovery(stage);
        let mut failed = self.task("StageFailed", stage, None, &[("error.$", "$.error".into())]);
        failed.insert("ResultPath".into(), "$.recovery".into());
        failed.insert("Retry".into(), retry());
        failed.insert(
            "Catch".into(),
            json!([{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": FAILED}]),
        );
        failed.insert(
            "Next".into(),
            if recovers {
                names.recovery.as_str()
            } else {
                FAILED
            }
            .into(),
        );
        self.states
            .insert(names.failed.clone(), Value::Object(failed));
        if recovers {
            self.states.insert(
                names.recovery.clone(),
                json!({
                    "Type": "Choice",
                    "Choices": [
                        {"Variable": "$.recovery.decision", "StringEquals": "RETRY", "Next": names.enter},
                        {"Variable": "$.recovery.decision", "StringEquals": "ROLLBACK", "Next": names.rollback},
                    ],
                    "Default": FAILED,
                }),
            );
            let mut rollback = self.task("RollbackStage", stage, None, &[]);
            rollback.insert("ResultPath".into(), Value::Null);
            rollback.insert("Retry".into(), retry());
            rollback.insert(
                "Catch".into(),
                json!([{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": FAILED}]),
            );
            rollback.insert("Next".into(), FAILED.into());
            self.states
                .insert(names.rollback.clone(), Value::Object(rollback));
        }
    }

    fn action_task(&self, stage: &Stage, action: &Action) -> Map<String, Value> {
        let mut task = self.task(
            "RunAction",
            stage,
            Some(action),
            &[
                ("attempt.$", "$.gate.attempt".into()),
                ("retry.$", "$$.State.RetryCount".into()),
            ],
        );
        let minutes = action
            .timeout_in_minutes
            .or_else(|| approval_deadline(action))
            .unwrap_or_else(|| default_timeout_minutes(action));
        task.insert("TimeoutSeconds".into(), (u64::from(minutes) * 60).into());
        task.insert("Retry".into(), retry());
        task
    }

    /// A `lambda:invoke.waitForTaskToken` task calling the dispatch function with a [`TaskRequest`] template.
    fn task(
        &self,
        op: &str,
        stage: &Stage,
        action: Option<&Action>,
        extra: &[(&str, Value)],
    ) -> Map<String, Value> {
        let mut payload = Map::new();
        payload.insert("op".into(), op.into());
        payload.insert("pipeline".into(), self.pipeline.name.clone().into());
        payload.insert("version".into(), self.version.into());
        payload.insert("executionId.$".into(), "$.executionId".into());
        payload.insert("stage".into(), stage.name.clone().into());
        if let Some(a) = action {
            payload.insert("action".into(), a.name.clone().into());
        }
        for (k, v) in extra {
            payload.insert((*k).into(), v.clone());
        }
        payload.insert("token.$".into(), "$$.Task.Token".into());
        let mut task = Map::new();
        task.insert("Type".into(), "Task".into());
        task.insert("Resource".into(), WAIT_FOR_TASK_TOKEN.into());
        task.insert(
            "Parameters".into(),
            json!({"FunctionName": format!("${{{DISPATCH_FUNCTION}}}"), "Payload": payload}),
        );
        task
    }
}

/// Transient errors are retried with capped exponential backoff; everything else is caught.
fn retry() -> Value {
    let mut errors: Vec<&str> = error::LAMBDA_TRANSIENT.to_vec();
    errors.push(error::RETRYABLE);
    json!([{
        "ErrorEquals": errors,
        "IntervalSeconds": 1,
        "MaxAttempts": 5,
        "BackoffRate": 2.0,
        "MaxDelaySeconds": 30,
    }])
}

/// Whether a stage's failure can lead anywhere but the end: onFailure RETRY or ROLLBACK, or a ROLLBACK
/// decided by onSuccess conditions.
fn has_recovery(stage: &Stage) -> bool {
    let on_failure = stage.on_failure.as_ref().is_some_and(|f| {
        matches!(
            f.result,
            Some(ConditionResult::Retry | ConditionResult::Rollback)
        ) || f.conditions.iter().flatten().any(|c| {
            matches!(
                c.result,
                Some(ConditionResult::Retry | ConditionResult::Rollback)
            )
        })
    });
    let on_success = stage.on_success.as_ref().is_some_and(|s| {
        s.conditions
            .iter()
            .any(|c| c.result == Some(ConditionResult::Rollback))
    });
    on_failure || on_success
}

/// State names: unique, at most [`MAX_STATE_NAME`] characters, readable.
#[derive(Default)]
struct StateNames {
    used: HashSet<String>,
}

impl StateNames {
    fn reserve(&mut self, name: &str) {
        self.used.insert(name.to_owned());
    }

    fn allocate(&mut self, wanted: &str) -> String {
        let base = shorten(wanted, MAX_STATE_NAME);
        let mut name = base.clone();
        let mut n = 2;
        while self.used.contains(&name) {
            let suffix = format!(" #{n}");
            name = format!("{}{suffix}", shorten(&base, MAX_STATE_NAME - suffix.len()));
            n += 1;
        }
        self.used.insert(name.clone());
        name
    }
}

/// Shortens a name to `max` characters, keeping it unique by a hash of the whole.
fn shorten(name: &str, max: usize) -> String {
    if name.chars().count() <= max {
        return name.to_owned();
    }
    let hash = name.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    let keep: String = name.chars().take(max - 9).collect();
    format!("{keep}~{:08x}", hash & 0xffff_ffff)
}

/// Why substitutions could not be applied.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SubstitutionError {
    /// A substitution was given that the machine does not use.
    #[error("the state machine has no ${{{0}}} to substitute")]
    Unused(String),
}

/// Fills `${KEY}` placeholders in every string of a state machine.
pub fn substitute(
    machine: &Value,
    values: &HashMap<String, String>,
) -> Result<Value, SubstitutionError> {
    let mut used = HashSet::new();
    let out = substitute_value(machine, values, &mut used);
    let mut unused: Vec<&String> = values.keys().filter(|k| !used.contains(*k)).collect();
    unused.sort();
    match unused.first() {
        Some(k) => Err(SubstitutionError::Unused((*k).clone())),
        None => Ok(out),
    }
}

fn substitute_value(
    v: &Value,
    values: &HashMap<String, String>,
    used: &mut HashSet<String>,
) -> Value {
    match v {
        Value::String(s) => {
            let mut text = s.clone();
            for (k, val) in values {
                let placeholder = format!("${{{k}}}");
                if text.contains(&placeholder) {
                    text = text.replace(&placeholder, val);
                    used.insert(k.clone());
                }
            }
            Value::String(text)
        }
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|i| substitute_value(i, values, used))
                .collect(),
        ),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), substitute_value(v, values, used)))
                .collect(),
        ),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_names_are_shortened_uniquely() {
        let a = "S".repeat(100) + ".one";
        let b = "S".repeat(100) + ".two";
        let (sa, sb) = (shorten(&a, 80), shorten(&b, 80));
        assert_eq!(sa.chars().count(), 80);
        assert_ne!(sa, sb);
    }

    #[test]
    fn colliding_names_get_a_number() {
        let mut names = StateNames::default();
        assert_eq!(names.allocate("A.B.C"), "A.B.C");
        assert_eq!(names.allocate("A.B.C"), "A.B.C #2");
    }

    #[test]
    fn substitution_reports_unused_keys() {
        let m = json!({"a": "${X}/y"});
        let values: HashMap<String, String> = [("X".into(), "1".into())].into();
        assert_eq!(substitute(&m, &values), Ok(json!({"a": "1/y"})));
        let values: HashMap<String, String> = [("Y".into(), "1".into())].into();
        assert_eq!(
            substitute(&m, &values),
            Err(SubstitutionError::Unused("Y".into()))
        );
    }
}
