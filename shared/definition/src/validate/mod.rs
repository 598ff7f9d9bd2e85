//! The semantic rules of a pipeline definition, beyond its shape: what runs before what, which artifacts and
//! variables exist where, what each provider needs, what each pipeline type allows.
//!
//! Every problem is reported at once, with the JSON path of the value at fault. The shape (field names, types,
//! lengths, character sets, enums) was already checked by [`crate::schema`].
//!
//! The layout, artifact and reference rules are here; [`provider_rules`] checks what each provider needs,
//! [`conditions`] the stage conditions, rules and triggers.

mod conditions;
mod provider_rules;

use crate::model::{Action, ExecutionMode, Pipeline, PipelineType, Stage};
use crate::problem::{JsonPath, Problems};
use crate::providers::{Category, ProviderSpec};
use crate::schema::edit_distance;
use std::collections::HashMap;

/// Limits that CodePipeline enforces as account quotas; deployments may raise them.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Actions in one stage (CodePipeline: 50).
    pub actions_per_stage: usize,
    /// Actions in one pipeline (CodePipeline: 500).
    pub actions_per_pipeline: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            actions_per_stage: 50,
            actions_per_pipeline: 500,
        }
    }
}

/// The provider of CodePipeline's Commands action.
pub const COMMANDS_PROVIDER: &str = "Commands";

/// The variables CodePipeline itself provides under the `codepipeline` namespace.
pub const PIPELINE_NAMESPACE_VARIABLES: &[&str] = &["PipelineExecutionId"];

/// Checks every semantic rule, returning every problem found.
pub fn validate(pipeline: &Pipeline, limits: &Limits) -> Problems {
    let mut v = Validator {
        pipeline,
        limits,
        problems: Problems::default(),
        artifacts: HashMap::new(),
        namespaces: HashMap::new(),
    };
    v.pipeline_rules();
    v.collect_producers();
    for (si, stage) in pipeline.stages.iter().enumerate() {
        v.stage_rules(si, stage);
    }
    v.trigger_rules();
    v.problems
}

/// Where something is declared: which action, and when it runs.
#[derive(Clone)]
pub(crate) struct Origin {
    stage: usize,
    run_order: u32,
    label: String,
}

impl Origin {
    /// True when the origin runs strictly before an action at (`stage`, `run_order`).
    fn runs_before(&self, stage: usize, run_order: u32) -> bool {
        self.stage < stage || (self.stage == stage && self.run_order < run_order)
    }

    fn why_not_before(&self, stage: usize, run_order: u32) -> String {
        if self.stage == stage && self.run_order == run_order {
            format!(
                "{} has the same runOrder, so runs at the same time",
                self.label
            )
        } else {
            format!("{} runs later", self.label)
        }
    }
}

pub(crate) struct Validator<'a> {
    pipeline: &'a Pipeline,
    limits: &'a Limits,
    problems: Problems,
    /// Output artifact name -> the first action producing it.
    artifacts: HashMap<&'a str, Origin>,
    /// Namespace -> the first action declaring it.
    namespaces: HashMap<&'a str, Origin>,
}

pub(crate) fn stage_path(si: usize) -> JsonPath {
    JsonPath::root().field("stages").index(si)
}

pub(crate) fn action_path(si: usize, ai: usize) -> JsonPath {
    stage_path(si).field("actions").index(ai)
}

pub(crate) fn did_you_mean<'n>(
    name: &str,
    candidates: impl IntoIterator<Item = &'n str>,
) -> String {
    candidates
        .into_iter()
        .map(|c| (edit_distance(&name.to_lowercase(), &c.to_lowercase()), c))
        .filter(|(d, _)| *d <= 2)
        .min()
        .map(|(_, c)| format!(" (did you mean {c:?}?)"))
        .unwrap_or_default()
}

pub(crate) fn within(n: usize, (min, max): (u8, u8)) -> bool {
    (usize::from(min)..=usize::from(max)).contains(&n)
}

/// `exactly 1 input artifact`, `no output artifacts`, `1 to 5 input artifacts`.
pub(crate) fn count((min, max): (u8, u8), noun: &str) -> String {
    match (min, max) {
        (0, 0) => format!("no {noun}s"),
        (1, 1) => format!("exactly 1 {noun}"),
        (a, b) if a == b => format!("exactly {a} {noun}s"),
        (a, b) => format!("{a} to {b} {noun}s"),
    }
}

/// The `#{namespace.variable}` references in a text, in order; an unreadable one is an error message.
pub fn references(text: &str) -> Vec<Result<(&str, &str), String>> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("#{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            out.push(Err(format!(
                "variable reference {:?} is not closed with }}",
                &rest[start..]
            )));
            break;
        };
        let inner = &after[..end];
        match inner.split_once('.') {
            Some((ns, var))
                if !ns.is_empty()
                    && !var.is_empty()
                    && ns
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "@_-".contains(c)) =>
            {
                out.push(Ok((ns, var)));
            }
            _ => out.push(Err(format!(
                "variable reference #{{{inner}}} must have the form #{{namespace.variable}}"
            ))),
        }
        rest = &after[end + 1..];
    }
    out
}

impl<'a> Validator<'a> {
    pub(crate) fn pipeline_rules(&mut self) {
        let p = self.pipeline;
        let root = JsonPath::root();
        if p.stages.len() < 2 {
            self.problems.push(
                root.field("stages"),
                format!(
                    "a pipeline needs at least 2 stages, found {}",
                    p.stages.len()
                ),
            );
        }
        if p.artifact_store.is_some() && p.artifact_stores.is_some() {
            self.problems.push(
                root.field("artifactStores"),
                "artifactStore and artifactStores cannot both be set",
            );
        }
        let v2 = p.kind() == PipelineType::V2;
        if let Some(mode @ (ExecutionMode::Queued | ExecutionMode::Parallel)) = p.execution_mode {
            if !v2 {
                self.problems.push(
                    root.field("executionMode"),
                    format!("{mode} execution mode needs pipelineType V2"),
                );
            }
        }
        if !v2 && p.variables.as_ref().is_some_and(|v| !v.is_empty()) {
            self.problems.push(
                root.field("variables"),
                "pipeline variables need pipelineType V2",
            );
        }
        if !v2 && p.triggers.as_ref().is_some_and(|t| !t.is_empty()) {
            self.problems
                .push(root.field("triggers"), "triggers need pipelineType V2");
        }
        let mut seen = HashMap::new();
        for (i, var) in p.variables.iter().flatten().enumerate() {
            if let Some(first) = seen.insert(var.name.as_str(), i) {
                self.problems.push(
                    root.field("variables").index(i).field("name"),
                    format!(
                        "variable {:?} is already declared by variables[{first}]",
                        var.name
                    ),
                );
            }
        }
        let total: usize = p.stages.iter().map(|s| s.actions.len()).sum();
        if total > self.limits.actions_per_pipeline {
            self.problems.push(
                root.field("stages"),
                format!(
                    "a pipeline may have at most {} actions, found {total}",
                    self.limits.actions_per_pipeline
                ),
            );
        }
    }

    /// Records who produces each artifact and declares each namespace; reports duplicates.
    pub(crate) fn collect_producers(&mut self) {
        for (si, ai, stage, action) in self.pipeline.actions() {
            let origin = Origin {
                stage: si,
                run_order: action.run_order(),
                label: format!("{}.{}", stage.name, action.name),
            };
            for (oi, out) in action.output_artifacts.iter().flatten().enumerate() {
                if let Some(first) = self.artifacts.get(out.name.as_str()) {
                    self.problems.push(
                        action_path(si, ai)
                            .field("outputArtifacts")
                            .index(oi)
                            .field("name"),
                        format!(
                            "artifact {:?} is already produced by {}",
                            out.name, first.label
                        ),
                    );
                } else {
                    self.artifacts.insert(out.name.as_str(), origin.clone());
                }
            }
            if let Some(ns) = &action.namespace {
                let at = action_path(si, ai).field("namespace");
                if ns == "codepipeline" || ns == "variables" {
                    self.problems
                        .push(at, format!("namespace {ns:?} is reserved by CodePipeline"));
                } else if let Some(first) = self.namespaces.get(ns.as_str()) {
                    self.problems.push(
                        at,
                        format!("namespace {ns:?} is already declared by {}", first.label),
                    );
                } else {
                    self.namespaces.insert(ns.as_str(), origin);
                }
            }
        }
    }

    pub(crate) fn stage_rules(&mut self, si: usize, stage: &'a Stage) {
        let at = stage_path(si);
        if let Some(first) = self.pipeline.stages[..si]
            .iter()
            .position(|s| s.name == stage.name)
        {
            self.problems.push(
                at.field("name"),
                format!(
                    "stage name {:?} is already used by stages[{first}]",
                    stage.name
                ),
            );
        }
        if stage.actions.len() > self.limits.actions_per_stage {
            self.problems.push(
                at.field("actions"),
                format!(
                    "a stage may have at most {} actions, found {}",
                    self.limits.actions_per_stage,
                    stage.actions.len()
                ),
            );
        }
        for (ai, action) in stage.actions.iter().enumerate() {
            if let Some(first) = stage.actions[..ai]
                .iter()
                .position(|a| a.name == action.name)
            {
                self.problems.push(
                    action_path(si, ai).field("name"),
                    format!(
                        "action name {:?} is already used by actions[{first}] of this stage",
                        action.name
                    ),
                );
            }
            self.action_rules(si, ai, stage, action);
        }
        self.condition_rules(si, stage);
    }

    pub(crate) fn action_rules(&mut self, si: usize, ai: usize, stage: &Stage, action: &'a Action) {
        let at = action_path(si, ai);
        let id = &action.action_type_id;
        let category: Option<Category> = id.category.parse().ok();
        let is_source = category == Some(Category::Source);
        if si == 0 && !is_source {
            self.problems.push(
                at.field("actionTypeId").field("category"),
                format!(
                    "the first stage may only hold Source actions, found a {} action",
                    id.category
                ),
            );
        } else if si > 0 && is_source {
            self.problems.push(
                at.field("actionTypeId").field("category"),
                "Source actions may only be in the first stage",
            );
        }

        let spec = self.provider_rules(&at, action);
        if let Some(s) = spec.filter(|s| s.needs_v2()) {
            if self.pipeline.kind() != PipelineType::V2 {
                self.problems.push(
                    at.field("actionTypeId").field("provider"),
                    format!("{} needs pipelineType V2", s.describe()),
                );
            }
        }
        let is_commands = id.owner == "AWS" && id.provider == COMMANDS_PROVIDER;
        self.commands_fields(&at, action, is_commands);

        // Artifact counts: the provider's, else the category's.
        let limits = match (spec, category) {
            (Some(s), _) => Some((s.inputs, s.outputs)),
            (None, Some(c)) if id.owner == "Custom" => Some(c.artifact_limits()),
            _ => None,
        };
        let inputs = action.input_artifacts.as_ref().map_or(0, Vec::len);
        let outputs = action.output_artifacts.as_ref().map_or(0, Vec::len);
        if let Some((ins, outs)) = limits {
            let what = spec.map_or_else(
                || format!("a custom {} action", id.category),
                ProviderSpec::describe,
            );
            if !within(inputs, ins) {
                self.problems.push(
                    at.field("inputArtifacts"),
                    format!(
                        "{what} takes {}, found {inputs}",
                        count(ins, "input artifact")
                    ),
                );
            }
            if !within(outputs, outs) {
                self.problems.push(
                    at.field("outputArtifacts"),
                    format!(
                        "{what} produces {}, found {outputs}",
                        count(outs, "output artifact")
                    ),
                );
            }
        }

        // Every input artifact is produced by an action that runs strictly earlier.
        let run_order = action.run_order();
        for (ii, input) in action.input_artifacts.iter().flatten().enumerate() {
            let path = at.field("inputArtifacts").index(ii);
            if action
                .input_artifacts
                .iter()
                .flatten()
                .take(ii)
                .any(|a| a.name == input.name)
            {
                self.problems.push(
                    path,
                    format!(
                        "artifact {:?} is already an input of this action",
                        input.name
                    ),
                );
                continue;
            }
            self.check_artifact_ref(path, &input.name, si, run_order);
        }

        // Variable references.
        let run_order = action.run_order();
        for (key, value) in action.configuration.iter().flatten() {
            self.check_references(&at.field("configuration").field(key), value, si, run_order);
        }
        for (ci, command) in action.commands.iter().flatten().enumerate() {
            self.check_references(&at.field("commands").index(ci), command, si, run_order);
        }
        for (ei, env) in action.environment_variables.iter().flatten().enumerate() {
            self.check_references(
                &at.field("environmentVariables").index(ei).field("value"),
                &env.value,
                si,
                run_order,
            );
        }

        if let (Some(stores), Some(region)) = (&self.pipeline.artifact_stores, &action.region) {
            if !stores.contains_key(region) {
                self.problems.push(
                    at.field("region"),
                    format!("region {region:?} has no artifact store in artifactStores"),
                );
            }
        }
        let _ = stage;
    }

    pub(crate) fn check_artifact_ref(
        &mut self,
        path: JsonPath,
        name: &str,
        si: usize,
        run_order: u32,
    ) {
        match self.artifacts.get(name) {
            Some(origin) if origin.runs_before(si, run_order) => {}
            Some(origin) => {
                let why = origin.why_not_before(si, run_order);
                self.problems.push(
                    path,
                    format!(
                        "artifact {name:?} is not produced by any action that runs before this one ({why})"
                    ),
                );
            }
            None => {
                let hint = did_you_mean(name, self.artifacts.keys().copied());
                self.problems.push(
                    path,
                    format!(
                        "artifact {name:?} is not produced by any action that runs before this one{hint}"
                    ),
                );
            }
        }
    }

    /// Checks the `#{namespace.variable}` references in a text.
    pub(crate) fn check_references(
        &mut self,
        at: &JsonPath,
        text: &str,
        si: usize,
        run_order: u32,
    ) {
        for reference in references(text) {
            let (ns, var) = match reference {
                Ok(pair) => pair,
                Err(message) => {
                    self.problems.push(at.clone(), message);
                    continue;
                }
            };
            let shown = format!("#{{{ns}.{var}}}");
            match ns {
                "codepipeline" => {
                    if !PIPELINE_NAMESPACE_VARIABLES.contains(&var) {
                        self.problems.push(
                            at.clone(),
                            format!(
                                "{shown}: the codepipeline namespace has only {}",
                                PIPELINE_NAMESPACE_VARIABLES.join(", ")
                            ),
                        );
                    }
                }
                "variables" => {
                    let declared = self.pipeline.variables.iter().flatten();
                    if !declared.clone().any(|d| d.name == var) {
                        let hint = did_you_mean(var, declared.map(|d| d.name.as_str()));
                        self.problems.push(
                            at.clone(),
                            format!("{shown}: pipeline variable {var:?} is not declared in variables{hint}"),
                        );
                    }
                }
                _ => match self.namespaces.get(ns) {
                    Some(origin) if origin.runs_before(si, run_order) => {}
                    Some(origin) => {
                        let why = origin.why_not_before(si, run_order);
                        self.problems.push(
                            at.clone(),
                            format!("{shown}: namespace {ns:?} is not declared by an action that runs before this one ({why})"),
                        );
                    }
                    None => {
                        let hint = did_you_mean(ns, self.namespaces.keys().copied());
                        self.problems.push(
                            at.clone(),
                            format!("{shown}: no action declares namespace {ns:?}{hint}"),
                        );
                    }
                },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_references_and_reports_malformed_ones() {
        let found = references("a #{Src.CommitId} b #{variables.env}#{bad} #{open");
        assert_eq!(found[0], Ok(("Src", "CommitId")));
        assert_eq!(found[1], Ok(("variables", "env")));
        assert!(found[2].is_err());
        assert!(found[3].is_err());
        assert_eq!(found.len(), 4);
    }

    #[test]
    fn counts_read_naturally() {
        assert_eq!(count((1, 1), "input artifact"), "exactly 1 input artifact");
        assert_eq!(count((0, 0), "input artifact"), "no input artifacts");
        assert_eq!(count((0, 5), "output artifact"), "0 to 5 output artifacts");
    }
}
