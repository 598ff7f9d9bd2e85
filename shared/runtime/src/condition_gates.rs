//! A stage's beforeEntry and onSuccess conditions at its gates, and its onFailure conditions at the failed-stage
//! task (`stage_failures.rs`): every rule recorded as a rule execution,
//! the rules the runtime decides itself evaluated at once, the others run as jobs whose outcomes come back
//! later (as an action's do). While a rule runs or waits (a closed deployment window, an alarm watched for
//! its WaitTime) the gate's task token is kept on the [`ConditionsRecord`] and the gate answers when the
//! conditions are decided: by the last rule to finish, the first to fail, or OverrideStageCondition.
//!
//! Deciding is one conditional write of the conditions record, so exactly one of the racing deciders (a job's
//! outcome, a redelivered gate, an override) goes on with the gate. Overrides and stops are in
//! `condition_overrides.rs`.

use std::collections::BTreeMap;

use tracing::{info, warn};

use crate::conditions::{
    evaluate, resolve_configuration, rule_run, window_wait_type, Evaluation, RuleRun,
};
use crate::error::{Result, RuntimeError};
use crate::jobs::Job;
use crate::ports::StoreError;
use crate::records::{keys, ArtifactDetail, ExecutionRecord};
use crate::rule_executions::{
    parse_rule_job, rule_keys, ConditionKind, ConditionStatus, ConditionsRecord,
    RuleExecutionRecord, RuleStatus,
};
use crate::runtime::{find_stage, put, Runtime, Versioned};
use sluice_definition::model::{Condition, ConditionResult, Pipeline, Rule, Stage};

/// Why rules are looked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Look {
    /// The gate's first delivery: start every rule.
    First,
    /// The gate delivered again: restart jobs lost with their process.
    Redelivered,
    /// A rule's job ended: a waiting window starts its next wait.
    JobEnded,
}

/// What a stage's conditions of one kind came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Every rule passed (or the conditions were overridden): the gate goes on.
    Passed,
    /// A condition's rule did not pass: its result applies.
    Failed(ConditionResult, String),
    /// Rules still run or wait; the gate answers later.
    Waiting,
}

/// A stage's conditions of `kind`.
pub(crate) fn conditions_of(stage: &Stage, kind: ConditionKind) -> &[Condition] {
    match kind {
        ConditionKind::BeforeEntry => stage.before_entry.as_ref().map(|c| &c.conditions),
        ConditionKind::OnSuccess => stage.on_success.as_ref().map(|c| &c.conditions),
        ConditionKind::OnFailure => stage
            .on_failure
            .as_ref()
            .and_then(|f| f.conditions.as_ref()),
    }
    .map_or(&[], Vec::as_slice)
}

fn rule_at<'a>(
    stage: &'a Stage,
    kind: ConditionKind,
    condition: usize,
    name: &str,
) -> Option<&'a Rule> {
    conditions_of(stage, kind)
        .get(condition)?
        .rules
        .iter()
        .flatten()
        .find(|r| r.name == name)
}

/// What the rules' statuses decide: the first failed condition's result, all passed, or not yet. An
/// onFailure condition is met when its rules pass (its result, ROLLBACK or RETRY, then applies); a rule that
/// does not pass leaves the stage failed (FAIL).
fn decide(stage: &Stage, kind: ConditionKind, rules: &[RuleExecutionRecord]) -> Verdict {
    for (ci, condition) in conditions_of(stage, kind).iter().enumerate() {
        if let Some(failed) = rules
            .iter()
            .find(|r| r.condition == ci && r.status == RuleStatus::Failed)
        {
            let result = match kind {
                ConditionKind::OnFailure => ConditionResult::Fail,
                _ => condition.result.unwrap_or(ConditionResult::Fail),
            };
            let why = failed.error.clone().unwrap_or_else(|| "it failed".into());
            return Verdict::Failed(result, format!("rule {} did not pass: {why}", failed.rule));
        }
    }
    if rules.iter().all(|r| r.status == RuleStatus::Succeeded) {
        Verdict::Passed
    } else {
        Verdict::Waiting
    }
}

impl Runtime {
    /// Evaluates a stage's conditions of `kind` for stage attempt `attempt` at its gate, or carries on with an
    /// evaluation begun by an earlier delivery of the gate (adopting `token`). `Waiting`: the gate answers later.
    pub(crate) async fn gate_conditions(
        &self,
        execution: &ExecutionRecord,
        definition: &Pipeline,
        stage: &str,
        kind: ConditionKind,
        attempt: u32,
        token: &str,
    ) -> Result<Verdict> {
        let stage_def = find_stage(definition, stage)?;
        if conditions_of(stage_def, kind).is_empty() {
            return Ok(Verdict::Passed);
        }
        let id = &execution.execution_id;
        let pk = keys::execution(id);
        let sk = rule_keys::conditions(stage, kind, attempt);
        if let Some(existing) = self.read::<ConditionsRecord>(&pk, &sk).await? {
            if let Some(verdict) = final_verdict(&existing.value) {
                return Ok(verdict);
            }
            if existing.value.token != token {
                let mut next = existing.value.clone();
                next.token = token.to_owned();
                next.updated_ms = self.env.now_ms();
                match self
                    .store
                    .transact(vec![put(pk, sk, Some(existing.version), &next)?])
                    .await
                {
                    Ok(()) | Err(StoreError::ConditionFailed(_)) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            return self
                .advance_rules(
                    execution,
                    definition,
                    stage,
                    kind,
                    attempt,
                    Look::Redelivered,
                )
                .await;
        }
        let now = self.env.now_ms();
        let record = ConditionsRecord {
            pipeline: execution.pipeline.clone(),
            execution_id: id.clone(),
            version: execution.version,
            stage: stage.to_owned(),
            kind,
            attempt,
            status: ConditionStatus::InProgress,
            token: token.to_owned(),
            result: None,
            summary: None,
            started_ms: now,
            updated_ms: now,
            overridden_by: None,
        };
        // The conditions record and every rule's record, at once.
        let scope = self.scope(execution, definition).await?;
        let actions = self.actions(id).await?;
        let mut writes = vec![put(pk.clone(), sk.clone(), None, &record)?];
        for (ci, condition) in conditions_of(stage_def, kind).iter().enumerate() {
            for rule in condition.rules.iter().flatten() {
                let resolved = resolve_configuration(rule, &scope);
                let inputs: Vec<ArtifactDetail> = rule
                    .input_artifacts
                    .iter()
                    .flatten()
                    .filter_map(|a| {
                        crate::inputs::producer_output(definition, &actions, &a.name).map(
                            |object| ArtifactDetail {
                                name: a.name.clone(),
                                object,
                            },
                        )
                    })
                    .collect();
                let missing = rule
                    .input_artifacts
                    .iter()
                    .flatten()
                    .find(|a| !inputs.iter().any(|i| i.name == a.name))
                    .map(|a| {
                        format!(
                            "input artifact {} has no stored revision in this execution",
                            a.name
                        )
                    });
                let mut rec = RuleExecutionRecord {
                    pipeline: execution.pipeline.clone(),
                    execution_id: id.clone(),
                    version: execution.version,
                    stage: stage.to_owned(),
                    kind,
                    attempt,
                    condition: ci,
                    rule: rule.name.clone(),
                    check: 0,
                    status: RuleStatus::InProgress,
                    rule_type: rule.rule_type_id.clone(),
                    configuration: rule.configuration.clone().unwrap_or_default(),
                    resolved_configuration: BTreeMap::new(),
                    role_arn: rule
                        .role_arn
                        .clone()
                        .or_else(|| definition.role_arn.clone()),
                    region: rule.region.clone(),
                    input_artifacts: inputs,
                    started_ms: now,
                    updated_ms: now,
                    summary: None,
                    error: None,
                    external: None,
                    updated_by: None,
                };
                match (resolved, missing) {
                    (Ok(config), None) => rec.resolved_configuration = config,
                    (Err(why), _) | (Ok(_), Some(why)) => {
                        rec.status = RuleStatus::Failed;
                        rec.error = Some(why);
                    }
                }
                writes.push(put(
                    pk.clone(),
                    rule_keys::rule(stage, kind, attempt, ci, &rule.name),
                    None,
                    &rec,
                )?);
            }
        }
        match self.store.transact(writes).await {
            Ok(()) => {}
            // A concurrent delivery of the gate began it: carry on with it.
            Err(StoreError::ConditionFailed(_)) => {
                return Box::pin(
                    self.gate_conditions(execution, definition, stage, kind, attempt, token),
                )
                .await
            }
            Err(e) => return Err(e.into()),
        }
        info!(execution = %id, stage, kind = %kind, attempt, "evaluating stage conditions");
        self.advance_rules(execution, definition, stage, kind, attempt, Look::First)
            .await
    }

    /// Moves every rule still in progress on (evaluating the runtime's own, starting or restarting jobs) and
    /// decides the conditions when it can. A decision made here is recorded; the caller goes on with the gate.
    async fn advance_rules(
        &self,
        execution: &ExecutionRecord,
        definition: &Pipeline,
        stage: &str,
        kind: ConditionKind,
        attempt: u32,
        look: Look,
    ) -> Result<Verdict> {
        let stage_def = find_stage(definition, stage)?;
        let id = &execution.execution_id;
        let rules = self.rules_of(id, stage, kind, attempt).await?;
        let mut current: Vec<RuleExecutionRecord> = Vec::new();
        for versioned in rules {
            let rec = self
                .advance_rule(execution, definition, stage_def, versioned, look)
                .await?;
            let failed = rec.status == RuleStatus::Failed;
            current.push(rec);
            if failed {
                break;
            }
        }
        // Rules not looked at after a failure keep their records; decide over all of them.
        let all: Vec<RuleExecutionRecord> = self
            .rules_of(id, stage, kind, attempt)
            .await?
            .into_iter()
            .map(|v| v.value)
            .collect();
        let verdict = decide(stage_def, kind, &all);
        if verdict == Verdict::Waiting {
            return Ok(verdict);
        }
        self.record_decision(id, stage, kind, attempt, &verdict, None)
            .await
    }

    /// Records the decision on the conditions record (once) and abandons rules still running. Answers the
    /// decision that holds: this one, or the one another decider recorded first.
    pub(crate) async fn record_decision(
        &self,
        id: &str,
        stage: &str,
        kind: ConditionKind,
        attempt: u32,
        verdict: &Verdict,
        overridden_by: Option<&str>,
    ) -> Result<Verdict> {
        let pk = keys::execution(id);
        let sk = rule_keys::conditions(stage, kind, attempt);
        let Some(current) = self.read::<ConditionsRecord>(&pk, &sk).await? else {
            return Err(RuntimeError::Corrupt(format!(
                "conditions {kind} of {stage} in {id} decided without a record"
            )));
        };
        if let Some(done) = final_verdict(&current.value) {
            return Ok(done);
        }
        let mut next = current.value.clone();
        next.updated_ms = self.env.now_ms();
        match verdict {
            Verdict::Passed if overridden_by.is_some() => {
                next.status = ConditionStatus::Overridden;
                next.overridden_by = overridden_by.map(str::to_owned);
                next.summary = Some(format!(
                    "overridden by {}",
                    overridden_by.unwrap_or_default()
                ));
            }
            Verdict::Passed => next.status = ConditionStatus::Succeeded,
            Verdict::Failed(result, why) => {
                next.status = ConditionStatus::Failed;
                next.result = Some(*result);
                next.summary = Some(why.clone());
            }
            Verdict::Waiting => return Ok(Verdict::Waiting),
        }
        match self
            .store
            .transact(vec![put(pk, sk, Some(current.version), &next)?])
            .await
        {
            Ok(()) => {}
            Err(StoreError::ConditionFailed(_)) => {
                return Box::pin(self.record_decision(
                    id,
                    stage,
                    kind,
                    attempt,
                    verdict,
                    overridden_by,
                ))
                .await
            }
            Err(e) => return Err(e.into()),
        }
        info!(execution = %id, stage, kind = %kind, attempt, status = ?next.status, "stage conditions decided");
        for rule in self.rules_of(id, stage, kind, attempt).await? {
            if rule.value.status == RuleStatus::InProgress {
                self.cancel_job(&rule.value.job_id()).await;
                self.settle_rule(rule, RuleStatus::Abandoned, None, overridden_by)
                    .await?;
            }
        }
        Ok(verdict.clone())
    }

    /// Moves one rule on. Answers its record as it is now.
    async fn advance_rule(
        &self,
        execution: &ExecutionRecord,
        definition: &Pipeline,
        stage_def: &Stage,
        versioned: Versioned<RuleExecutionRecord>,
        look: Look,
    ) -> Result<RuleExecutionRecord> {
        let rec = &versioned.value;
        if rec.status != RuleStatus::InProgress {
            return Ok(versioned.value);
        }
        let provider = rec.rule_type.provider.clone();
        match rule_run(&provider) {
            RuleRun::Here => {
                match evaluate(&provider, &rec.resolved_configuration, self.env.now_ms()) {
                    Evaluation::Passed(summary) => {
                        self.settle_rule(versioned, RuleStatus::Succeeded, Some(summary), None)
                            .await
                    }
                    Evaluation::Failed(why) => {
                        let mut v = versioned;
                        v.value.error = Some(why);
                        self.settle_rule(v, RuleStatus::Failed, None, None).await
                    }
                    Evaluation::Waiting {
                        summary,
                        recheck_ms,
                    } => {
                        // Look again when the window may have opened: a job that only waits.
                        if rec.check > 0
                            && look != Look::JobEnded
                            && self.job_running(&rec.job_id()).await
                        {
                            return Ok(versioned.value);
                        }
                        let mut config = BTreeMap::new();
                        config.insert("WaitMs".to_owned(), recheck_ms.to_string());
                        self.start_rule_job(
                            execution,
                            definition,
                            stage_def,
                            versioned,
                            window_wait_type(),
                            config,
                            Some(summary),
                        )
                        .await
                    }
                }
            }
            RuleRun::Job(action_type) => {
                if rec.check > 0
                    && (look != Look::Redelivered || self.job_running(&rec.job_id()).await)
                {
                    return Ok(versioned.value);
                }
                let config = rec.resolved_configuration.clone();
                self.start_rule_job(
                    execution,
                    definition,
                    stage_def,
                    versioned,
                    action_type,
                    config,
                    None,
                )
                .await
            }
        }
    }

    /// Starts the next job of a rule (its check number raised first, so an outcome of an earlier job is
    /// told apart and ignored).
    #[allow(clippy::too_many_arguments)]
    async fn start_rule_job(
        &self,
        execution: &ExecutionRecord,
        definition: &Pipeline,
        stage_def: &Stage,
        versioned: Versioned<RuleExecutionRecord>,
        action_type: sluice_definition::model::ActionTypeId,
        configuration: BTreeMap<String, String>,
        summary: Option<String>,
    ) -> Result<RuleExecutionRecord> {
        let mut rec = versioned.value.clone();
        rec.check += 1;
        rec.updated_ms = self.env.now_ms();
        if summary.is_some() {
            rec.summary = summary;
        }
        let pk = keys::execution(&rec.execution_id);
        let sk = rule_keys::rule(&rec.stage, rec.kind, rec.attempt, rec.condition, &rec.rule);
        match self
            .store
            .transact(vec![put(pk, sk, Some(versioned.version), &rec)?])
            .await
        {
            Ok(()) => {}
            // Somebody else moved it on.
            Err(StoreError::ConditionFailed(_)) => return Ok(versioned.value),
            Err(e) => return Err(e.into()),
        }
        let Some(rule) = rule_at(stage_def, rec.kind, rec.condition, &rec.rule) else {
            return Err(RuntimeError::Corrupt(format!(
                "rule {} is not in stage {}",
                rec.rule, rec.stage
            )));
        };
        let scope = self.scope(execution, definition).await?;
        let commands = rule
            .commands
            .iter()
            .flatten()
            .map(|c| scope.resolve(c))
            .collect::<std::result::Result<Vec<_>, _>>();
        let commands = match commands {
            Ok(c) => c,
            Err(why) => {
                let current = self.rule_versioned(&rec).await?;
                let mut v = current;
                v.value.error = Some(why);
                return self.settle_rule(v, RuleStatus::Failed, None, None).await;
            }
        };
        let minutes = rule.timeout_in_minutes.unwrap_or(60);
        // A window's wait calls nothing: it needs no role.
        let role_arn = if action_type == window_wait_type() {
            None
        } else {
            rec.role_arn.clone()
        };
        let job = Job {
            id: rec.job_id(),
            pipeline: rec.pipeline.clone(),
            execution_id: rec.execution_id.clone(),
            stage: rec.stage.clone(),
            action: format!("{}-{}", rec.kind.field(), rec.rule),
            attempt: rec.attempt,
            action_type,
            configuration,
            commands,
            environment: BTreeMap::new(),
            inputs: rec
                .input_artifacts
                .iter()
                .map(|i| crate::jobs::JobInput {
                    name: i.name.clone(),
                    object: i.object.clone(),
                })
                .collect(),
            outputs: Vec::new(),
            output_variables: Vec::new(),
            timeout_seconds: u64::from(minutes) * 60,
            base_dir: None,
            revision_override: None,
            role_arn,
            artifact_store: crate::actions::store_of(
                definition,
                rule.region.as_deref(),
                &self.config.origin.region,
            )
            .map(|s| s.location.clone())
            .filter(|l| !l.is_empty()),
            region: rule.region.clone(),
            invocation: None,
        };
        if let Err(why) = self.start_job(job).await {
            let current = self.rule_versioned(&rec).await?;
            let mut v = current;
            v.value.error = Some(why);
            return self.settle_rule(v, RuleStatus::Failed, None, None).await;
        }
        Ok(rec)
    }

    async fn rule_versioned(
        &self,
        rec: &RuleExecutionRecord,
    ) -> Result<Versioned<RuleExecutionRecord>> {
        self.read::<RuleExecutionRecord>(
            &keys::execution(&rec.execution_id),
            &rule_keys::rule(&rec.stage, rec.kind, rec.attempt, rec.condition, &rec.rule),
        )
        .await?
        .ok_or_else(|| RuntimeError::Corrupt(format!("rule execution {} vanished", rec.id())))
    }

    /// Moves an in-progress rule to a final status (its `error` as the record given has it). Answers the
    /// record as it is after.
    pub(crate) async fn settle_rule(
        &self,
        versioned: Versioned<RuleExecutionRecord>,
        status: RuleStatus,
        summary: Option<String>,
        updated_by: Option<&str>,
    ) -> Result<RuleExecutionRecord> {
        let mut next = versioned.value.clone();
        next.status = status;
        next.updated_ms = self.env.now_ms();
        if summary.is_some() {
            next.summary = summary;
        }
        if let Some(by) = updated_by {
            next.updated_by = Some(by.to_owned());
        }
        let pk = keys::execution(&next.execution_id);
        let sk = rule_keys::rule(
            &next.stage,
            next.kind,
            next.attempt,
            next.condition,
            &next.rule,
        );
        match self
            .store
            .transact(vec![put(pk, sk, Some(versioned.version), &next)?])
            .await
        {
            Ok(()) => Ok(next),
            Err(StoreError::ConditionFailed(_)) => Ok(self.rule_versioned(&next).await?.value),
            Err(e) => Err(e.into()),
        }
    }

    /// A rule job ended (its id starts with `rule:`): records the rule's outcome and, when that decides the
    /// conditions, goes on with the gate. A DeploymentWindow's wait ending means: look at the window again.
    pub(crate) async fn rule_job_finished(
        &self,
        job: &Job,
        outcome: crate::jobs::JobOutcome,
    ) -> Result<()> {
        let Some((id, stage, kind, attempt, condition, rule, check)) = parse_rule_job(&job.id)
        else {
            warn!(job = %job.id, "a rule job finished whose id says nothing");
            return Ok(());
        };
        let pk = keys::execution(&id);
        let Some(current) = self
            .read::<RuleExecutionRecord>(
                &pk,
                &rule_keys::rule(&stage, kind, attempt, condition, &rule),
            )
            .await?
        else {
            return Ok(());
        };
        if current.value.status != RuleStatus::InProgress || current.value.check != check {
            return Ok(());
        }
        let execution = self.execution(&id).await?;
        let definition = self.execution_pipeline(&execution).await?.definition;
        if crate::conditions::rule_run(&current.value.rule_type.provider) == RuleRun::Here {
            // The wait is over: the next look decides (or waits again).
        } else {
            let mut v = current;
            match outcome {
                crate::jobs::JobOutcome::Succeeded { summary, .. } => {
                    self.settle_rule(v, RuleStatus::Succeeded, summary, None)
                        .await?;
                }
                crate::jobs::JobOutcome::Failed { message } => {
                    v.value.error = Some(message);
                    self.settle_rule(v, RuleStatus::Failed, None, None).await?;
                }
            }
        }
        let before = self
            .read::<ConditionsRecord>(&pk, &rule_keys::conditions(&stage, kind, attempt))
            .await?;
        if before.as_ref().is_none_or(|c| c.value.status.is_final()) {
            return Ok(());
        }
        let verdict = self
            .advance_rules(
                &execution,
                &definition,
                &stage,
                kind,
                attempt,
                Look::JobEnded,
            )
            .await?;
        if verdict == Verdict::Waiting {
            return Ok(());
        }
        let Some(decided) = self
            .read::<ConditionsRecord>(&pk, &rule_keys::conditions(&stage, kind, attempt))
            .await?
        else {
            return Ok(());
        };
        self.conditions_decided(&execution, &definition, decided.value, verdict)
            .await
    }
}

/// The verdict a decided conditions record holds.
fn final_verdict(record: &ConditionsRecord) -> Option<Verdict> {
    match record.status {
        ConditionStatus::InProgress => None,
        ConditionStatus::Succeeded | ConditionStatus::Overridden => Some(Verdict::Passed),
        ConditionStatus::Failed => Some(Verdict::Failed(
            record.result.unwrap_or(ConditionResult::Fail),
            record.summary.clone().unwrap_or_default(),
        )),
        ConditionStatus::Abandoned => Some(Verdict::Failed(
            ConditionResult::Fail,
            "the conditions were abandoned".into(),
        )),
    }
}
