//! What an action attempt reads from the execution so far: the values `#{namespace.variable}` references
//! resolve to, and where its input artifacts are.

use std::collections::BTreeMap;

use crate::error::Result;
use crate::records::{ActionRecord, ActionStatus, ExecutionRecord};
use crate::runtime::Runtime;
use crate::variables::Scope;
use sluice_definition::model::{Action, Pipeline};

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
) -> Option<crate::ports::ObjectInfo> {
    let (_, _, stage, producer) = definition
        .actions()
        .find(|(_, _, _, a)| a.outputs().any(|o| o == name))?;
    latest_success(actions, &stage.name, &producer.name)?
        .output_artifacts
        .iter()
        .find(|o| o.name == name)
        .map(|o| o.object.clone())
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
        let mut scope = Scope::default();
        scope.set(
            "codepipeline",
            "PipelineExecutionId",
            &execution.execution_id,
        );
        for v in &execution.variables {
            scope.set("variables", &v.name, &v.resolved_value);
        }
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
