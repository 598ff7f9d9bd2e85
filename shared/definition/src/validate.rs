//! The semantic rules of a pipeline definition, beyond its shape: what runs before what, which artifacts and
//! variables exist where, what each provider needs, what each pipeline type allows.
//!
//! Every problem is reported at once, with the JSON path of the value at fault. The shape (field names, types,
//! lengths, character sets, enums) was already checked by [`crate::schema`].

use std::collections::HashMap;

use crate::model::{
    Action, ConditionResult, Conditions, ExecutionMode, Pipeline, PipelineType, Rule, Stage,
};
use crate::problem::{JsonPath, Problems};
use crate::providers::{self, Category, Owner, ProviderSpec};
use crate::schema::edit_distance;

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

/// The variables CodePipeline itself provides under the `codepipeline` namespace.
pub const PIPELINE_NAMESPACE_VARIABLES: &[&str] = &["PipelineExecutionId"];

/// Rule providers of stage conditions.
pub const RULE_PROVIDERS: &[&str] = &[
    "LambdaInvoke",
    "VariableCheck",
    "CloudWatchAlarm",
    "DeploymentWindow",
    "Commands",
];

/// The provider of CodePipeline's Commands action.
pub const COMMANDS_PROVIDER: &str = "Commands";

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
struct Origin {
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

struct Validator<'a> {
    pipeline: &'a Pipeline,
    limits: &'a Limits,
    problems: Problems,
    /// Output artifact name -> the first action producing it.
    artifacts: HashMap<&'a str, Origin>,
    /// Namespace -> the first action declaring it.
    namespaces: HashMap<&'a str, Origin>,
}

fn stage_path(si: usize) -> JsonPath {
    JsonPath::root().field("stages").index(si)
}

fn action_path(si: usize, ai: usize) -> JsonPath {
    stage_path(si).field("actions").index(ai)
}

fn did_you_mean<'n>(name: &str, candidates: impl IntoIterator<Item = &'n str>) -> String {
    candidates
        .into_iter()
        .map(|c| (edit_distance(&name.to_lowercase(), &c.to_lowercase()), c))
        .filter(|(d, _)| *d <= 2)
        .min()
        .map(|(_, c)| format!(" (did you mean {c:?}?)"))
        .unwrap_or_default()
}

impl<'a> Validator<'a> {
    fn pipeline_rules(&mut self) {
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
    fn collect_producers(&mut self) {
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

    fn stage_rules(&mut self, si: usize, stage: &'a Stage) {
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

    fn action_rules(&mut self, si: usize, ai: usize, stage: &Stage, action: &'a Action) {
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

    fn check_artifact_ref(&mut self, path: JsonPath, name: &str, si: usize, run_order: u32) {
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

    /// Checks the provider and its configuration; returns the built-in spec when there is one.
    fn provider_rules(&mut self, at: &JsonPath, action: &Action) -> Option<&'static ProviderSpec> {
        let id = &action.action_type_id;
        let owner: Owner = id.owner.parse().ok()?;
        if owner == Owner::Custom {
            return None;
        }
        let type_path = at.field("actionTypeId");
        let Some(spec) = providers::find(id) else {
            let same_name = providers::named(&id.owner, &id.provider);
            if same_name.is_empty() {
                let hint = did_you_mean(
                    &id.provider,
                    providers::BUILT_IN
                        .iter()
                        .filter(|p| p.owner == owner)
                        .map(|p| p.provider),
                );
                self.problems.push(
                    type_path.field("provider"),
                    format!("unknown {} provider {:?}{hint}", id.owner, id.provider),
                );
            } else if same_name.iter().any(|p| p.category.as_str() == id.category) {
                let mut versions: Vec<&str> = same_name.iter().map(|p| p.version).collect();
                versions.sort_unstable();
                versions.dedup();
                self.problems.push(
                    type_path.field("version"),
                    format!(
                        "{} has no version {:?} (known: {})",
                        id.provider,
                        id.version,
                        versions.join(", ")
                    ),
                );
            } else {
                let mut categories: Vec<&str> =
                    same_name.iter().map(|p| p.category.as_str()).collect();
                categories.dedup();
                self.problems.push(
                    type_path.field("category"),
                    format!(
                        "{} is not a {} provider (it is used as {})",
                        id.provider,
                        id.category,
                        categories.join(", ")
                    ),
                );
            }
            return None;
        };
        let config = action.configuration.as_ref();
        for key in spec.required {
            if !config.is_some_and(|c| c.contains_key(*key)) {
                self.problems.push(
                    at.field("configuration").field(key),
                    format!("required by the {} provider but missing", spec.provider),
                );
            }
        }
        for key in config.into_iter().flat_map(|c| c.keys()) {
            if !spec.knows(key) {
                let known = spec.required.iter().chain(spec.optional).copied();
                let hint = did_you_mean(key, known.clone());
                let message = if hint.is_empty() {
                    let list: Vec<&str> = known.collect();
                    format!(
                        "unknown configuration key for the {} provider (known: {})",
                        spec.provider,
                        if list.is_empty() {
                            "none".to_owned()
                        } else {
                            list.join(", ")
                        }
                    )
                } else {
                    format!(
                        "unknown configuration key for the {} provider{hint}",
                        spec.provider
                    )
                };
                self.problems
                    .push(at.field("configuration").field(key), message);
            }
        }
        Some(spec)
    }

    /// commands, files, outputVariables and environmentVariables belong to the Commands action.
    fn commands_fields(&mut self, at: &JsonPath, action: &Action, is_commands: bool) {
        if is_commands {
            if action.commands.is_none() {
                self.problems.push(
                    at.field("commands"),
                    "the Commands action needs a list of commands",
                );
            }
            let mut seen = HashMap::new();
            for (i, env) in action.environment_variables.iter().flatten().enumerate() {
                if let Some(first) = seen.insert(env.name.as_str(), i) {
                    self.problems.push(
                        at.field("environmentVariables").index(i).field("name"),
                        format!(
                            "environment variable {:?} is already set by environmentVariables[{first}]",
                            env.name
                        ),
                    );
                }
            }
            return;
        }
        let only = |field: &str| format!("{field} is only used by the Commands action");
        if action.commands.is_some() {
            self.problems.push(at.field("commands"), only("commands"));
        }
        if action.output_variables.is_some() {
            self.problems
                .push(at.field("outputVariables"), only("outputVariables"));
        }
        if action.environment_variables.is_some() {
            self.problems.push(
                at.field("environmentVariables"),
                only("environmentVariables"),
            );
        }
        for (oi, out) in action.output_artifacts.iter().flatten().enumerate() {
            if out.files.is_some() {
                self.problems.push(
                    at.field("outputArtifacts").index(oi).field("files"),
                    only("files"),
                );
            }
        }
    }

    /// Checks the `#{namespace.variable}` references in a text.
    fn check_references(&mut self, at: &JsonPath, text: &str, si: usize, run_order: u32) {
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

    fn condition_rules(&mut self, si: usize, stage: &Stage) {
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
    fn rules<'r>(
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

    fn trigger_rules(&mut self) {
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

fn within(n: usize, (min, max): (u8, u8)) -> bool {
    (usize::from(min)..=usize::from(max)).contains(&n)
}

/// `exactly 1 input artifact`, `no output artifacts`, `1 to 5 input artifacts`.
fn count((min, max): (u8, u8), noun: &str) -> String {
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
