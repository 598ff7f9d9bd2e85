//! Conditions decided from outside their gates: OverrideStageCondition lets waiting conditions through, and a
//! stopped execution abandons the conditions it waits at.

use crate::condition_gates::{conditions_of, Verdict};
use crate::error::{Result, RuntimeError};
use crate::ports::StoreError;
use crate::records::{keys, ExecutionRecord};
use crate::rule_executions::{rule_keys, ConditionKind, ConditionStatus, RuleStatus};
use crate::runtime::{put, Runtime};
use tracing::info;

/// Why a condition could not be overridden; each is one of CodePipeline's exceptions.
#[derive(Debug, thiserror::Error)]
pub enum OverrideError {
    /// The stage has no such conditions, or they are not waiting (ConditionNotOverridableException).
    #[error("{0}")]
    NotOverridable(String),
    /// The stage is not in the pipeline (StageNotFoundException).
    #[error("{0}")]
    StageNotFound(String),
    /// Anything else.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
}

impl From<StoreError> for OverrideError {
    fn from(e: StoreError) -> Self {
        Self::Runtime(e.into())
    }
}

impl Runtime {
    /// OverrideStageCondition: the waiting conditions of `kind` of the stage in the execution pass as
    /// overridden by `caller`, their rules still running are abandoned, and the gate goes on.
    pub async fn override_condition(
        &self,
        execution: &ExecutionRecord,
        stage: &str,
        kind: ConditionKind,
        caller: &str,
    ) -> std::result::Result<(), OverrideError> {
        let definition = self.execution_pipeline(execution).await?.definition;
        let stage_def = definition
            .stages
            .iter()
            .find(|s| s.name == stage)
            .ok_or_else(|| {
                OverrideError::StageNotFound(format!(
                    "pipeline {} has no stage {stage}",
                    execution.pipeline
                ))
            })?;
        if conditions_of(stage_def, kind).is_empty() {
            return Err(OverrideError::NotOverridable(format!(
                "stage {stage} has no {} conditions",
                kind.field()
            )));
        }
        let id = &execution.execution_id;
        let Some(current) = self.latest_conditions(id, stage, kind).await? else {
            return Err(OverrideError::NotOverridable(format!(
                "the {} conditions of stage {stage} have not been evaluated in execution {id}",
                kind.field()
            )));
        };
        if current.status.is_final() {
            return Err(OverrideError::NotOverridable(format!(
                "the {} conditions of stage {stage} in execution {id} are not in progress (they are {:?})",
                kind.field(),
                current.status
            )));
        }
        let verdict = self
            .record_decision(
                id,
                stage,
                kind,
                current.attempt,
                &Verdict::Passed,
                Some(caller),
            )
            .await?;
        let Some(decided) = self.latest_conditions(id, stage, kind).await? else {
            return Ok(());
        };
        if decided.status != ConditionStatus::Overridden
            || decided.overridden_by.as_deref() != Some(caller)
        {
            return Err(OverrideError::NotOverridable(format!(
                "the {} conditions of stage {stage} were decided meanwhile ({:?})",
                kind.field(),
                decided.status
            )));
        }
        info!(execution = %id, stage, kind = %kind, caller, "stage conditions overridden");
        self.conditions_decided(execution, &definition, decided, verdict)
            .await?;
        Ok(())
    }
}

impl Runtime {
    /// A stopped execution waits at no condition: conditions still in progress are abandoned (their rules'
    /// jobs cancelled) and their gates answer `Sluice.Stopped`.
    pub(crate) async fn abandon_conditions_of(&self, execution: &ExecutionRecord) -> Result<()> {
        let definition = self.execution_pipeline(execution).await?.definition;
        let id = &execution.execution_id;
        for stage in &definition.stages {
            for kind in [
                ConditionKind::BeforeEntry,
                ConditionKind::OnSuccess,
                ConditionKind::OnFailure,
            ] {
                if conditions_of(stage, kind).is_empty() {
                    continue;
                }
                let Some(current) = self
                    .latest_conditions_versioned(id, &stage.name, kind)
                    .await?
                else {
                    continue;
                };
                if current.value.status.is_final() {
                    continue;
                }
                let mut next = current.value.clone();
                next.status = ConditionStatus::Abandoned;
                next.summary = Some("the execution was stopped".into());
                next.updated_ms = self.env.now_ms();
                let sk = rule_keys::conditions(&stage.name, kind, next.attempt);
                match self
                    .store
                    .transact(vec![put(
                        keys::execution(id),
                        sk,
                        Some(current.version),
                        &next,
                    )?])
                    .await
                {
                    Ok(()) => {}
                    Err(StoreError::ConditionFailed(_)) => continue,
                    Err(e) => return Err(e.into()),
                }
                for rule in self.rules_of(id, &stage.name, kind, next.attempt).await? {
                    if rule.value.status == RuleStatus::InProgress {
                        self.cancel_job(&rule.value.job_id()).await;
                        self.settle_rule(rule, RuleStatus::Abandoned, None, None)
                            .await?;
                    }
                }
                self.fail(
                    &next.token,
                    sluice_definition::contract::error::STOPPED,
                    "the execution was stopped",
                )
                .await;
            }
        }
        Ok(())
    }
}
