//! Stage conditions and their rules (beforeEntry, onSuccess, onFailure), and V2 triggers.

use super::*;
use crate::model::{ConditionResult, Conditions, ExecutionMode, PipelineType, Rule, Stage};
use crate::problem::JsonPath;
use crate::providers::{self};
use std::collections::HashMap;

/// Rule providers of stage conditions.
pub const RULE_PROVIDERS: &[&str] = &[
    "LambdaInvoke",
    "VariableCheck",
    "CloudWatchAlarm",
    "DeploymentWindow",
    "Commands",
];

impl<'a> Validator<'a> {
    pub(crate) fn condition_rules(&mut self, si: usize, stage: &Stage) {
        let at = stage_path(si);
        let v2 = self.pipeline.kind() == PipelineType::V2;
        let parallel = self.pipeline.mode() == ExecutionMode::Parallel;
        use ConditionResult::{Fail, Retry, Rollback, Skip};

        let mut places: Vec<(JsonPath, &Conditions, &[ConditionResult], &str, bool)> = Vec::new();
        if let Some(c) = &stage.before_entry {
            places.push((
                at.field("beforeEntry"),
                c,
                &[Fail, Skip],
                "beforeEntry",
                false,
            ));
        }
        if let Some(c) = &stage.on_success {
            places.push((
                at.field("onSuccess"),
                c,
                &[Rollback, Fail],
                "onSuccess",
                true,
            ));
        }
        let failure_allowed: &[ConditionResult] = &[Rollback, Fail, Retry];
        let mut results: Vec<(JsonPath, ConditionResult, &str)> = Vec::new();
        if let Some(f) = &stage.on_failure {
            let path = at.field("onFailure");
            if let Some(r) = f.result {
                results.push((path.field("result"), r, "onFailure"));
            }
            if f.retry_configuration.is_some() && f.result != Some(Retry) {
                self.problems.push(
                    path.field("retryConfiguration"),
                    "retryConfiguration only applies when result is RETRY",
                );
            }
            if f.result.is_none() && f.conditions.is_none() {
                self.problems
                    .push(path.clone(), "onFailure needs a result or conditions");
            }
            for (ci, c) in f.conditions.iter().flatten().enumerate() {
                let cpath = path.field("conditions").index(ci);
                if let Some(r) = c.result {
                    results.push((cpath.field("result"), r, "onFailure"));
                }
                self.rules(&cpath, c.rules.iter().flatten(), si, true);
            }
            if f.result == Some(Retry) && f.conditions.is_some() {
                self.problems.push(
                    path.field("conditions"),
                    "onFailure with result RETRY cannot also have conditions",
                );
            }
            if !v2 {
                self.problems.push(path, "onFailure needs pipelineType V2");
            }
        }
        for (path, conditions, _, place, this_stage) in &places {
            for (ci, c) in conditions.conditions.iter().enumerate() {
                let cpath = path.field("conditions").index(ci);
                if let Some(r) = c.result {
                    results.push((cpath.field("result"), r, place));
                }
                self.rules(&cpath, c.rules.iter().flatten(), si, *this_stage);
            }
            if !v2 {
                self.problems.push(
                    path.clone(),
                    format!("{place} conditions need pipelineType V2"),
                );
            }
        }
        for (path, result, place) in results {
            let allowed = match place {
                "beforeEntry" => &[Fail, Skip][..],
                "onSuccess" => &[Rollback, Fail][..],
                _ => failure_allowed,
            };
            if !allowed.contains(&result) {
                let names: Vec<String> = allowed.iter().map(ToString::to_string).collect();
                self.problems.push(
                    path.clone(),
                    format!(
                        "{result} is not a valid {place} result (use {})",
                        names.join(" or ")
                    ),
                );
            }
            if parallel && result == Rollback {
                self.problems
                    .push(path, "ROLLBACK is not available in PARALLEL execution mode");
            }
        }
    }

    /// Checks the rules of one condition. Rules of onSuccess/onFailure may read this stage's artifacts.
    pub(crate) fn rules<'r>(
        &mut self,
        at: &JsonPath,
        rules: impl Iterator<Item = &'r Rule>,
        si: usize,
        this_stage: bool,
    ) {
        let mut names: Vec<&str> = Vec::new();
        for (ri, rule) in rules.enumerate() {
            let rpath = at.field("rules").index(ri);
            if names.contains(&rule.name.as_str()) {
                self.problems.push(
                    rpath.field("name"),
                    format!(
                        "rule name {:?} is already used in this condition",
                        rule.name
                    ),
                );
            }
            names.push(&rule.name);
            let provider = &rule.rule_type_id.provider;
            if !RULE_PROVIDERS.contains(&provider.as_str()) {
                let hint = did_you_mean(provider, RULE_PROVIDERS.iter().copied());
                self.problems.push(
                    rpath.field("ruleTypeId").field("provider"),
                    format!(
                        "unknown rule provider {provider:?}{hint} (known: {})",
                        RULE_PROVIDERS.join(", ")
                    ),
                );
            }
            if RULE_PROVIDERS.contains(&provider.as_str()) {
                self.rule_configuration(&rpath, rule);
            }
            // A rule evaluated after the stage's actions sees everything they produced.
            let (stage, run_order) = if this_stage { (si, u32::MAX) } else { (si, 0) };
            for (ii, input) in rule.input_artifacts.iter().flatten().enumerate() {
                self.check_artifact_ref(
                    rpath.field("inputArtifacts").index(ii),
                    &input.name,
                    stage,
                    run_order,
                );
            }
            for (key, value) in rule.configuration.iter().flatten() {
                self.check_references(
                    &rpath.field("configuration").field(key),
                    value,
                    stage,
                    run_order,
                );
            }
        }
    }

    /// Checks a rule's configuration against its provider: required and unknown keys, and the values Sluice
    /// can judge before a run (operators, alarm states, wait times, the cron's shape, commands).
    fn rule_configuration(&mut self, rpath: &JsonPath, rule: &Rule) {
        let provider = rule.rule_type_id.provider.as_str();
        let config = rule.configuration.clone().unwrap_or_default();
        let cpath = rpath.field("configuration");
        let (required, optional): (&[&str], &[&str]) = match provider {
            "VariableCheck" => (&["Variable", "Operator", "Value"], &[]),
            "DeploymentWindow" => (&["Cron"], &["TimeZone"]),
            "CloudWatchAlarm" => (&["AlarmName"], &["AlarmStates", "WaitTime"]),
            "LambdaInvoke" => (&["FunctionName"], &["UserParameters"]),
            _ => (&[], &[]),
        };
        for key in required {
            if !config.contains_key(*key) {
                self.problems
                    .push(cpath.field(key), format!("the {provider} rule needs {key}"));
            }
        }
        for key in config.keys() {
            if !required.contains(&key.as_str()) && !optional.contains(&key.as_str()) {
                let known: Vec<&str> = required.iter().chain(optional).copied().collect();
                let hint = did_you_mean(key, known.iter().copied());
                self.problems.push(
                    cpath.field(key),
                    format!(
                        "the {provider} rule has no configuration key {key:?}{hint} (its keys: {})",
                        if known.is_empty() {
                            "none".to_owned()
                        } else {
                            known.join(", ")
                        }
                    ),
                );
            }
        }
        let literal = |v: &String| !v.contains("#{");
        match provider {
            "VariableCheck" => {
                if let Some(op) = config.get("Operator").filter(|v| literal(v)) {
                    if !["EQ", "NE", "CONTAINS", "MATCHES"].contains(&op.as_str()) {
                        self.problems.push(
                            cpath.field("Operator"),
                            format!("unknown operator {op:?} (use EQ, NE, CONTAINS or MATCHES)"),
                        );
                    }
                }
            }
            "DeploymentWindow" => {
                if let Some(cron) = config.get("Cron").filter(|v| literal(v)) {
                    let fields: Vec<&str> = cron.split_whitespace().collect();
                    if !(6..=7).contains(&fields.len()) {
                        self.problems.push(
                            cpath.field("Cron"),
                            format!(
                                "{cron:?} has {} fields; a deployment window's cron has six (seconds minutes hours day-of-month month day-of-week) and an optional year",
                                fields.len()
                            ),
                        );
                    } else if fields[0] != "*" {
                        self.problems.push(
                            cpath.field("Cron"),
                            format!("{cron:?}: the seconds field must be *"),
                        );
                    }
                }
            }
            "CloudWatchAlarm" => {
                if let Some(states) = config.get("AlarmStates").filter(|v| literal(v)) {
                    for state in states.split(',').map(str::trim) {
                        if !["ALARM", "OK", "INSUFFICIENT_DATA"].contains(&state) {
                            self.problems.push(
                                cpath.field("AlarmStates"),
                                format!("{state:?} is not an alarm state (ALARM, OK or INSUFFICIENT_DATA)"),
                            );
                        }
                    }
                }
                if let Some(wait) = config.get("WaitTime").filter(|v| literal(v)) {
                    if wait.parse::<u32>().is_err() {
                        self.problems.push(
                            cpath.field("WaitTime"),
                            format!("WaitTime {wait:?} is not a whole number of minutes"),
                        );
                    }
                }
            }
            "Commands" if rule.commands.as_ref().is_none_or(Vec::is_empty) => {
                self.problems
                    .push(rpath.field("commands"), "the Commands rule needs commands");
            }
            _ => {}
        }
        if provider != "Commands" && rule.commands.is_some() {
            self.problems.push(
                rpath.field("commands"),
                format!("only the Commands rule has commands, not {provider}"),
            );
        }
    }

    pub(crate) fn trigger_rules(&mut self) {
        let Some(first) = self.pipeline.stages.first() else {
            return;
        };
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for (ti, trigger) in self.pipeline.triggers.iter().flatten().enumerate() {
            let at = JsonPath::root()
                .field("triggers")
                .index(ti)
                .field("gitConfiguration");
            let git = &trigger.git_configuration;
            let name = git.source_action_name.as_str();
            let sources: Vec<&str> = first
                .actions
                .iter()
                .filter(|a| a.action_type_id.category == "Source")
                .map(|a| a.name.as_str())
                .collect();
            if !sources.contains(&name) {
                let hint = did_you_mean(name, sources.iter().copied());
                self.problems.push(
                    at.field("sourceActionName"),
                    format!(
                        "no source action named {name:?}{hint} (the source actions are {})",
                        if sources.is_empty() {
                            "none".to_owned()
                        } else {
                            sources.join(", ")
                        }
                    ),
                );
            } else if let Some(spec) = first
                .actions
                .iter()
                .find(|a| a.name == name)
                .and_then(|a| providers::find(&a.action_type_id))
                .filter(|s| !s.is_git_source())
            {
                self.problems.push(
                    at.field("sourceActionName"),
                    format!(
                        "{name:?} is {}; triggers filter git events, so they need a git source (CodeStarSourceConnection, CodeCommit, GitHub or LocalSource)",
                        spec.describe()
                    ),
                );
            } else if let Some(other) = seen.insert(name, ti) {
                self.problems.push(
                    at.field("sourceActionName"),
                    format!("source action {name:?} already has a trigger in triggers[{other}]"),
                );
            }
            if git.push.is_none() && git.pull_request.is_none() {
                self.problems
                    .push(at.clone(), "a trigger needs push or pullRequest filters");
            }
            for (pi, push) in git.push.iter().flatten().enumerate() {
                if push.branches.is_none() && push.tags.is_none() {
                    self.problems.push(
                        at.field("push").index(pi),
                        "a push filter needs branches or tags",
                    );
                }
            }
            for (pi, pr) in git.pull_request.iter().flatten().enumerate() {
                if pr.branches.is_none() {
                    self.problems.push(
                        at.field("pullRequest").index(pi),
                        "a pull request filter needs branches",
                    );
                }
            }
        }
    }
}
