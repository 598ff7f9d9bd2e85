//! The compiler: a validated pipeline definition becomes one Amazon States Language state machine.
//!
//! Shape, for each stage `S` in order:
//! ```text
//! S (enter)  Task   gate: transitions, execution-mode locks, beforeEntry      -> $.gate {attempt, skip}
//! S (entry)  Choice only with beforeEntry: $.gate.skip -> next stage
//! S.A        Task   one action alone in its runOrder group
//! S (group N) Parallel  actions sharing runOrder N, one branch each; a branch catches its own failure so the
//!                   others finish (as CodePipeline lets them), then the task after it fails the stage
//!                   (`S (group N check)` when the next group is parallel too)
//! S (leave)  Task   gate: onSuccess conditions, lock release
//! S (failed) Task   records the failure, decides onFailure                    -> $.recovery {decision}
//! S (recovery) Choice only with onFailure RETRY/ROLLBACK: RETRY -> the stage's entry, ROLLBACK -> S (rollback)
//! ```
//! then the end (the last task ends the run), or `Failed` / `Stopped` / `Superseded`.
//!
//! Step Functions bills every state entered, so the gates are folded into the actions next to them where
//! they can be:
//! - an action alone in the stage's first runOrder group passes the entry gate itself (`enter`; its answer
//!   is the gate's, at `$.gate`) when nothing holds the run back, and fails with [`error::GATE`] to
//!   `S (enter)` when something does: a gate may wait for days, and an action's timeout must not count that.
//!   Not with beforeEntry, whose skip needs its own choice;
//! - an action alone in the last group passes the exit gate once it succeeded (`leave`; not with onSuccess
//!   conditions, whose rules take their time);
//! - the task after a parallel group checks the group's results (`afterGroup`).
//!
//! A run starts at the first stage's entry; a run that starts at a later stage (a retried stage, a rollback) is
//! sent from there to the `Start` choice ([`error::STARTS_LATER`]). The release example enters 8 states, not 18.
//!
//! The machine carries control only: every task sends the dispatch function a small
//! [`TaskRequest`](crate::contract::TaskRequest) and keeps nothing but the gate's answer. Results, artifacts
//! and variables live in the store.
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
/// The choice that jumps to the stage named by the input's `startAt`, for runs that start at a later stage.
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
    /// The state a run enters the stage by: the entry gate, or the first action when it passes the gate.
    entry_point: String,
    /// The first action passes the entry gate itself (`S (enter)` only when it cannot at once).
    folds_enter: bool,
    /// The last action passes the exit gate itself (no `S (leave)` state).
    folds_leave: bool,
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
                .map_or(SUCCEEDED, |n| n.entry_point.as_str())
                .to_owned();
            self.stage(stage, &stages[i], &next, i == 0);
        }
        let ends = [
            (SUCCEEDED, json!({"Type": "Succeed"})),
            (
                FAILED,
                json!({"Type": "Fail", "Error": error::STAGE_FAILED, "Cause": "A stage of the pipeline failed."}),
            ),
            (
                STOPPED,
                json!({"Type": "Fail", "Error": error::STOPPED, "Cause": "The pipeline execution was stopped."}),
            ),
            (
                SUPERSEDED,
                json!({"Type": "Fail", "Error": error::SUPERSEDED, "Cause": "A newer pipeline execution took this one's place."}),
            ),
        ];
        // Only the ends some state goes to: Step Functions refuses unreachable states.
        let mut used = HashSet::new();
        targets(&Value::Object(self.states.clone()), &mut used);
        let start_at = stages
            .first()
            .map_or(SUCCEEDED, |s| s.entry_point.as_str())
            .to_owned();
        used.insert(start_at.clone());
        for (name, state) in ends {
            if used.contains(name) {
                self.states.insert(name.into(), state);
            }
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
        machine.insert("StartAt".into(), start_at.into());
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
        let groups: Vec<GroupNames> = groups
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
        let folds_enter =
            stage.before_entry.is_none() && groups.first().is_some_and(|g| g.actions.len() == 1);
        // Only an exit that never waits: onSuccess conditions run rules, which take their time.
        let folds_leave =
            stage.on_success.is_none() && groups.last().is_some_and(|g| g.actions.len() == 1);
        StageNames {
            entry_point: if folds_enter {
                groups[0].state.clone()
            } else {
                enter.clone()
            },
            folds_enter,
            folds_leave,
            enter,
            entry,
            leave: self.names.allocate(&format!("{s} (leave)")),
            failed: self.names.allocate(&format!("{s} (failed)")),
            recovery: self.names.allocate(&format!("{s} (recovery)")),
            rollback: self.names.allocate(&format!("{s} (rollback)")),
            groups,
        }
    }

    /// The `Start` choice, reached only from the first stage's entry by a run that starts later.
    fn start_state(&mut self, stages: &[StageNames]) {
        let choices: Vec<Value> = self
            .pipeline
            .stages
            .iter()
            .zip(stages)
            .skip(1)
            .map(|(stage, names)| {
                json!({"Variable": "$.startAt", "StringEquals": stage.name, "Next": names.entry_point})
            })
            .collect();
        if let Some(first) = stages.first().filter(|_| !choices.is_empty()) {
            self.states.insert(
                START.into(),
                json!({"Type": "Choice", "Choices": choices, "Default": first.entry_point}),
            );
        }
    }

    fn stage(&mut self, stage: &Stage, names: &StageNames, next_stage: &str, first_stage: bool) {
        let body = names
            .groups
            .first()
            .map_or(names.leave.as_str(), |g| g.state.as_str());
        let catch_to_failed = |extra: Vec<Value>| -> Value {
            let mut catches = extra;
            catches.push(json!({"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": names.failed}));
            Value::Array(catches)
        };
        // What an entry may answer besides failing the stage: a run starting at a later stage goes to
        // `Start`; a newer execution supersedes this one.
        let mut entry_catches = Vec::new();
        if first_stage && self.pipeline.stages.len() > 1 {
            entry_catches.push(
                json!({"ErrorEquals": [error::STARTS_LATER], "ResultPath": null, "Next": START}),
            );
        }
        if self.pipeline.mode() == ExecutionMode::Superseded {
            entry_catches.push(json!({"ErrorEquals": [error::SUPERSEDED], "Next": SUPERSEDED}));
        }
        let mut gate_catches = entry_catches.clone();
        gate_catches.push(json!({"ErrorEquals": [error::STOPPED], "Next": STOPPED}));

        // Entry gate, and the beforeEntry skip decision. When the first action passes the gate itself, the
        // gate's state is where it goes when it cannot enter at once; the gate then waits, and sends the run
        // back to the action.
        {
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
        }
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
        let last = names.groups.len().saturating_sub(1);
        for (gi, group) in names.groups.iter().enumerate() {
            let next = names
                .groups
                .get(gi + 1)
                .map_or(names.leave.as_str(), |g| g.state.as_str());
            // The parallel group before this one, whose results this group's task checks.
            let after_group = gi
                .checked_sub(1)
                .and_then(|p| names.groups.get(p))
                .filter(|p| p.actions.len() > 1)
                .map(|p| p.run_order);
            if let [(ai, state, _)] = group.actions.as_slice() {
                let fold = Fold {
                    enter: gi == 0 && names.folds_enter,
                    leave: gi == last && names.folds_leave,
                    after_group,
                };
                let mut task = self.action_task(stage, &stage.actions[*ai], &fold);
                if fold.enter {
                    task.insert("ResultPath".into(), "$.gate".into());
                    let mut catches = entry_catches.clone();
                    catches.push(
                        json!({"ErrorEquals": [error::GATE], "ResultPath": null, "Next": names.enter}),
                    );
                    task.insert("Catch".into(), catch_to_failed(catches));
                } else {
                    task.insert("ResultPath".into(), Value::Null);
                    task.insert("Catch".into(), catch_to_failed(Vec::new()));
                }
                go_to(&mut task, if fold.leave { next_stage } else { next });
                self.states.insert(state.clone(), Value::Object(task));
                continue;
            }
            let branches: Vec<Value> = group
                .actions
                .iter()
                .map(|(ai, state, caught)| {
                    // After a parallel group, the `S (group N check)` choice checked its results.
                    let fold = Fold {
                        enter: false,
                        leave: false,
                        after_group: None,
                    };
                    let mut task = self.action_task(stage, &stage.actions[*ai], &fold);
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
            // The next task checks the results itself, unless the next group runs in parallel too.
            let checked_next = names
                .groups
                .get(gi + 1)
                .is_none_or(|g| g.actions.len() == 1);
            self.states.insert(
                group.state.clone(),
                json!({
                    "Type": "Parallel",
                    "Branches": branches,
                    "ResultSelector": selector,
                    "ResultPath": "$.group",
                    "Next": if checked_next { next } else { group.check.as_str() },
                }),
            );
            if checked_next {
                continue;
            }
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
        if !names.folds_leave {
            let extra: Vec<(&str, Value)> = names
                .groups
                .last()
                .filter(|g| g.actions.len() > 1)
                .map(|g| vec![("afterGroup", group_check(g.run_order))])
                .unwrap_or_default();
            let mut leave = self.task("LeaveStage", stage, None, &extra);
            leave.insert("ResultPath".into(), Value::Null);
            leave.insert("Retry".into(), retry());
            leave.insert(
                "Catch".into(),
                catch_to_failed(vec![
                    json!({"ErrorEquals": [error::STOPPED], "Next": STOPPED}),
                ]),
            );
            go_to(&mut leave, next_stage);
            self.states
                .insert(names.leave.clone(), Value::Object(leave));
        }

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
                        {"Variable": "$.recovery.decision", "StringEquals": "RETRY", "Next": names.entry_point},
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

    fn action_task(&self, stage: &Stage, action: &Action, fold: &Fold) -> Map<String, Value> {
        let mut extra = Vec::new();
        if fold.enter {
            extra.push(("enter", Value::Bool(true)));
        } else {
            extra.push(("attempt.$", "$.gate.attempt".into()));
        }
        extra.push(("retry.$", "$$.State.RetryCount".into()));
        if fold.leave {
            extra.push(("leave", Value::Bool(true)));
        }
        if let Some(run_order) = fold.after_group {
            extra.push(("afterGroup", group_check(run_order)));
        }
        let mut task = self.task("RunAction", stage, Some(action), &extra);
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

/// The gates and checks an action's task takes over from states of their own.
struct Fold {
    /// Passes the stage's entry gate before the action runs.
    enter: bool,
    /// Passes the stage's exit gate once the action succeeded.
    leave: bool,
    /// Checks the results of the parallel group of this runOrder before it.
    after_group: Option<u32>,
}

/// The `afterGroup` payload field: the parallel group's runOrder and its results.
fn group_check(run_order: u32) -> Value {
    json!({"runOrder": run_order, "results.$": "$.group"})
}

/// Sends a state to `next`, or ends the run there when what follows is success.
fn go_to(state: &mut Map<String, Value>, next: &str) {
    if next == SUCCEEDED {
        state.insert("End".into(), true.into());
    } else {
        state.insert("Next".into(), next.into());
    }
}

/// Every state name some field of `v` goes to (`Next`, `Default`).
fn targets(v: &Value, out: &mut HashSet<String>) {
    match v {
        Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("Next" | "Default", Value::String(name)) => {
                        out.insert(name.clone());
                    }
                    _ => targets(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|i| targets(i, out)),
        _ => {}
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
