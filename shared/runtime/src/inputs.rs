//! What an action attempt reads from the execution so far: the values `#{namespace.variable}` references
//! resolve to, and where its input artifacts are.

use std::collections::{BTreeMap, BTreeSet};

use crate::error::Result;
use crate::ports::{ObjectInfo, Order};
use crate::records::{keys, ActionRecord, ActionStatus, ExecutionRecord};
use crate::runtime::Runtime;
use crate::variables::Scope;
use sluice_definition::model::{Action, Pipeline};
use sluice_definition::validate::references;

/// The newest successful attempt of an action in an execution.
pub(crate) fn latest_success<'a>(
    actions: &'a [ActionRecord],
    stage: &str,
    action: &str,
) -> Option<&'a ActionRecord> {
    actions
        .iter()
        .filter(|a| a.stage == stage && a.action == action && a.status == ActionStatus::Succeeded)
        .max_by_key(|a| a.attempt)
}

/// Where the artifact `name` is, from the action that produced it in this execution.
pub(crate) fn producer_output(
    definition: &Pipeline,
    actions: &[ActionRecord],
    name: &str,
) -> Option<ObjectInfo> {
    let (stage, producer) = producer_of(definition, name)?;
    latest_success(actions, stage, producer)?
        .output_artifacts
        .iter()
        .find(|o| o.name == name)
        .map(|o| o.object.clone())
}

/// The action of the definition that produces the artifact `name`: its stage's and its own name.
pub(crate) fn producer_of<'p>(definition: &'p Pipeline, name: &str) -> Option<(&'p str, &'p str)> {
    definition
        .actions()
        .find(|(_, _, _, a)| a.outputs().any(|o| o == name))
        .map(|(_, _, stage, action)| (stage.name.as_str(), action.name.as_str()))
}

/// The namespaces an action's configuration, commands and environment refer to (`#{namespace.variable}`).
pub(crate) fn referenced_namespaces(action: &Action) -> BTreeSet<&str> {
    let texts = action
        .configuration
        .iter()
        .flatten()
        .map(|(_, v)| v.as_str())
        .chain(action.commands.iter().flatten().map(String::as_str))
        .chain(
            action
                .environment_variables
                .iter()
                .flatten()
                .map(|e| e.value.as_str()),
        );
    texts
        .filter(|t| t.contains("#{"))
        .flat_map(references)
        .filter_map(|r| r.ok().map(|(ns, _)| ns))
        .collect()
}

pub(crate) type Resolved = (
    BTreeMap<String, String>,
    Vec<String>,
    BTreeMap<String, String>,
);

/// An action's configuration, commands and environment with references resolved.
pub(crate) fn resolve_action(
    action: &Action,
    scope: &Scope,
) -> std::result::Result<Resolved, String> {
    let mut config = BTreeMap::new();
    for (k, v) in action.configuration.iter().flatten() {
        config.insert(k.clone(), scope.resolve(v)?);
    }
    let commands = action
        .commands
        .iter()
        .flatten()
        .map(|c| scope.resolve(c))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let mut env = BTreeMap::new();
    for e in action.environment_variables.iter().flatten() {
        if e.var_type.as_deref() == Some("SECRETS_MANAGER") {
            return Err(format!(
                "environment variable {} comes from Secrets Manager, which this runtime cannot read",
                e.name
            ));
        }
        env.insert(e.name.clone(), scope.resolve(&e.value)?);
    }
    Ok((config, commands, env))
}

impl Runtime {
    /// Every attempt of one action that an execution reads from (see [`Runtime::readable_actions`]): one
    /// prefix read of its own records, and for a rollback execution also of its target's when the action is
    /// outside the stage rolled back. Far cheaper than reading every action record of the execution.
    pub(crate) async fn action_attempts(
        &self,
        execution: &ExecutionRecord,
        stage: &str,
        action: &str,
    ) -> Result<Vec<ActionRecord>> {
        let prefix = keys::action_attempts_prefix(stage, action);
        let mut attempts: Vec<ActionRecord> = self
            .query::<ActionRecord>(
                &keys::execution(&execution.execution_id),
                &prefix,
                Order::Ascending,
            )
            .await?
            .into_iter()
            .map(|v| v.value)
            .collect();
        if let Some(meta) = execution
            .rollback_metadata
            .as_ref()
            .filter(|m| m.stage != stage)
        {
            let target = self
                .query::<ActionRecord>(
                    &keys::execution(&meta.rollback_target_pipeline_execution_id),
                    &prefix,
                    Order::Ascending,
                )
                .await?;
            attempts.extend(target.into_iter().map(|v| v.value));
        }
        Ok(attempts)
    }

    /// Where the artifact `name` is, from the action that produced it in this execution (reading only that
    /// action's records).
    pub(crate) async fn input_object(
        &self,
        execution: &ExecutionRecord,
        definition: &Pipeline,
        name: &str,
    ) -> Result<Option<ObjectInfo>> {
        let Some((stage, producer)) = producer_of(definition, name) else {
            return Ok(None);
        };
        let attempts = self.action_attempts(execution, stage, producer).await?;
        Ok(producer_output(definition, &attempts, name))
    }

    /// The values `action`'s references can resolve to: like [`Runtime::scope`], but reading only the records
    /// of the actions whose namespaces it refers to.
    pub(crate) async fn action_scope(
        &self,
        execution: &ExecutionRecord,
        definition: &Pipeline,
        action: &Action,
    ) -> Result<Scope> {
        let mut scope = base_scope(execution);
        let wanted = referenced_namespaces(action);
        if wanted.is_empty() {
            return Ok(scope);
        }
        for (_, _, stage, producer) in definition.actions() {
            let Some(ns) = producer
                .namespace
                .as_deref()
                .filter(|ns| wanted.contains(ns))
            else {
                continue;
            };
            let attempts = self
                .action_attempts(execution, &stage.name, &producer.name)
                .await?;
            if let Some(done) = latest_success(&attempts, &stage.name, &producer.name) {
                for (k, v) in &done.output_variables {
                    scope.set(ns, k, v);
                }
            }
        }
        Ok(scope)
    }

    /// The action records an execution reads values and input artifacts from: its own, and for a rollback
    /// execution also its target's in every stage but the one it rolls back (so it reads the target's
    /// artifacts and variables where they are, copying nothing).
    pub(crate) async fn readable_actions(
        &self,
        execution: &ExecutionRecord,
    ) -> Result<Vec<ActionRecord>> {
        let mut actions = self.actions(&execution.execution_id).await?;
        if let Some(meta) = &execution.rollback_metadata {
            let target = self
                .actions(&meta.rollback_target_pipeline_execution_id)
                .await?;
            actions.extend(target.into_iter().filter(|a| a.stage != meta.stage));
        }
        Ok(actions)
    }

    /// The values `#{...}` references resolve to in an execution: pipeline variables, the execution id,
    /// and the output variables of every action (by namespace) that succeeded so far.
    pub(crate) async fn scope(
        &self,
        execution: &ExecutionRecord,
        definition: &Pipeline,
    ) -> Result<Scope> {
        let mut scope = base_scope(execution);
        let actions = self.readable_actions(execution).await?;
        for (_, _, stage, action) in definition.actions() {
            let Some(ns) = &action.namespace else {
                continue;
            };
            if let Some(done) = latest_success(&actions, &stage.name, &action.name) {
                for (k, v) in &done.output_variables {
                    scope.set(ns, k, v);
                }
            }
        }
        Ok(scope)
    }
}

/// The values every execution has: its id and the pipeline variables.
fn base_scope(execution: &ExecutionRecord) -> Scope {
    let mut scope = Scope::default();
    scope.set(
        "codepipeline",
        "PipelineExecutionId",
        &execution.execution_id,
    );
    for v in &execution.variables {
        scope.set("variables", &v.name, &v.resolved_value);
    }
    scope
}
