//! Manual approvals: asking for one when its action starts, finding them, and deciding them: each decision
//! judged by the action's approval rules ([`crate::approval_quorum`]) and recorded, the action settled once
//! when a decision settles the approval (two decisions racing: one conditional write wins, the other is judged
//! again against what won). Reminders before the deadline are kept as items due at a time and sent by
//! [`Runtime::send_due_reminders`], which the hosts call on a schedule.

use sluice_definition::approval_rules::ApprovalRules;
use tracing::{info, warn};

use crate::approval_quorum::{judge, outcome, Decider, Verdict};
use crate::error::{Result, RuntimeError};
use crate::ports::{Condition, Order, StoreError, Write};
use crate::records::{
    keys, ActionRecord, ActionStatus, ApprovalRecord, ApprovalStatus, ExecutionRecord,
    ReminderRecord,
};
use crate::runtime::{put, Runtime, Versioned};

/// How many times a decision is judged again after losing a race to another one.
const DECISION_ATTEMPTS: usize = 20;

/// Who started an execution, when a principal did (StartPipelineExecution, RollbackStage) or a push that names
/// its pusher did: whom its approvals may not approve unless AllowSelfApproval is set.
pub fn started_by(execution: &ExecutionRecord) -> Option<&str> {
    let trigger = &execution.trigger;
    if matches!(
        trigger.trigger_type.as_str(),
        "StartPipelineExecution" | "ManualRollback"
    ) {
        return Some(trigger.trigger_detail.as_str());
    }
    // A push names its pusher: the principal of that name may not approve what it pushed.
    trigger.pushed_by.as_deref()
}

impl Runtime {
    /// Asks for the approval a Manual action's attempt waits for: records it (and its token's pointer) and
    /// announces it with a link that expires with the action's timeout.
    pub(crate) async fn request_approval(
        &self,
        rec: &ActionRecord,
        timeout_in_minutes: Option<u32>,
    ) -> Result<()> {
        let approval = ApprovalRecord {
            pipeline: rec.pipeline.clone(),
            execution_id: rec.execution_id.clone(),
            stage: rec.stage.clone(),
            action: rec.action.clone(),
            attempt: rec.attempt,
            token: self.env.new_id(),
            status: ApprovalStatus::Pending,
            summary: None,
            decided_by: None,
            custom_data: rec.configuration.get("CustomData").cloned(),
            external_link: rec.configuration.get("ExternalEntityLink").cloned(),
            notification_arn: rec
                .configuration
                .get("NotificationArn")
                .filter(|a| !a.is_empty())
                .cloned(),
            requested_ms: rec.started_ms,
            decided_ms: None,
            decisions: Vec::new(),
            deadline_ms: None,
            approvers: Vec::new(),
            not_approvable_by: None,
            required_approvals: 0,
        };
        let rules = ApprovalRules::read(&rec.configuration, timeout_in_minutes).unwrap_or_default();
        let mut approval = approval;
        approval.approvers = rules.approvers.iter().map(ToString::to_string).collect();
        if rules.declared {
            approval.required_approvals = rules.needed().max(1);
        }
        if !rules.self_approval {
            let execution = self.execution(&rec.execution_id).await?;
            approval.not_approvable_by = started_by(&execution).map(str::to_owned);
        }
        let deadline_ms = rec.started_ms + i64::from(rules.deadline_minutes) * 60_000;
        if rules.declared {
            approval.deadline_ms = Some(deadline_ms);
        }
        let apk = keys::approval(&rec.pipeline, &rec.stage, &rec.action);
        let existing = self
            .store
            .get(&apk, &rec.execution_id)
            .await?
            .map(|i| i.version);
        let mut writes = vec![
            put(apk, rec.execution_id.clone(), existing, &approval)?,
            put(
                keys::approval_token(&approval.token),
                keys::META.into(),
                None,
                &approval,
            )?,
        ];
        for minutes_before in &rules.reminders_minutes {
            let due_ms = deadline_ms - i64::from(*minutes_before) * 60_000;
            let reminder = ReminderRecord {
                token: approval.token.clone(),
                due_ms,
                minutes_before: *minutes_before,
            };
            writes.push(put(
                keys::APPROVAL_REMINDERS.into(),
                keys::approval_reminder(due_ms, &approval.token, *minutes_before),
                None,
                &reminder,
            )?);
        }
        self.store.transact(writes).await?;
        let lifetime = if rules.declared {
            Some(rules.deadline_minutes)
        } else {
            timeout_in_minutes
        };
        let expires = crate::links::expiry_s(approval.requested_ms, lifetime);
        if let Err(e) = self.events.approval_requested(&approval, expires).await {
            warn!(error = %e, execution = %rec.execution_id, stage = %rec.stage, action = %rec.action, "could not announce an approval");
        }
        Ok(())
    }

    /// A Manual action attempt delivered again after its approval was decided, but whose deciding process
    /// died before it completed the action: settles it now and completes `token`. False while undecided.
    pub(crate) async fn settle_decided_approval(
        &self,
        rec: &ActionRecord,
        token: &str,
    ) -> Result<bool> {
        let decided: Option<Versioned<ApprovalRecord>> = self
            .read(
                &keys::approval(&rec.pipeline, &rec.stage, &rec.action),
                &rec.execution_id,
            )
            .await?;
        let Some(a) = decided.filter(|a| a.value.attempt == rec.attempt) else {
            return Ok(false);
        };
        let rules = ApprovalRules::read(&rec.configuration, None).unwrap_or_default();
        let Some(outcome) = outcome(&rules, &a.value) else {
            return Ok(false);
        };
        match &outcome {
            Ok(summary) => {
                self.settle_action(rec, ActionStatus::Succeeded, Some(summary.clone()), None)
                    .await?
            }
            Err(why) => {
                self.settle_action(rec, ActionStatus::Failed, None, Some(why.clone()))
                    .await?
            }
        };
        self.complete_action(rec, token, outcome.map(|_| ())).await;
        Ok(true)
    }

    /// The pending approval of an action, in its newest execution that has one.
    pub async fn pending_approval(
        &self,
        pipeline: &str,
        stage: &str,
        action: &str,
    ) -> Result<Option<ApprovalRecord>> {
        let all: Vec<Versioned<ApprovalRecord>> = self
            .query(
                &keys::approval(pipeline, stage, action),
                "",
                Order::Ascending,
            )
            .await?;
        Ok(all
            .into_iter()
            .map(|v| v.value)
            .filter(|a| a.status == ApprovalStatus::Pending)
            .max_by_key(|a| a.requested_ms))
    }

    /// Every approval of `pipeline` still pending, oldest first: each Manual action's of its current
    /// definition, across executions (the console's "waiting for you").
    pub async fn pending_approvals(&self, pipeline: &str) -> Result<Vec<ApprovalRecord>> {
        let record = self.pipeline(pipeline, None).await?;
        let mut out = Vec::new();
        for (_, _, stage, action) in record.definition.actions() {
            if action.action_type_id.category != "Approval"
                || action.action_type_id.provider != "Manual"
            {
                continue;
            }
            let pk = keys::approval(pipeline, &stage.name, &action.name);
            let mut after: Option<String> = None;
            loop {
                let page = self
                    .store
                    .query(&pk, "", Order::Ascending, 100, after.as_deref())
                    .await?;
                let more = page.len() == 100;
                after = page.last().map(|i| i.sk.clone());
                for item in page {
                    let a = crate::runtime::decode::<ApprovalRecord>(item)?.value;
                    if a.status == ApprovalStatus::Pending {
                        out.push(a);
                    }
                }
                if !more {
                    break;
                }
            }
        }
        out.sort_by_key(|a| a.requested_ms);
        Ok(out)
    }

    /// The approval of an action in one execution (its latest attempt's), if it asked for one.
    pub async fn approval(
        &self,
        pipeline: &str,
        stage: &str,
        action: &str,
        execution_id: &str,
    ) -> Result<Option<ApprovalRecord>> {
        Ok(self
            .read::<ApprovalRecord>(&keys::approval(pipeline, stage, action), execution_id)
            .await?
            .map(|v| v.value))
    }

    /// An approval found by its token.
    pub async fn approval_by_token(&self, token: &str) -> Result<Option<ApprovalRecord>> {
        Ok(self
            .read::<ApprovalRecord>(&keys::approval_token(token), keys::META)
            .await?
            .map(|v| v.value))
    }

    /// Approves or rejects a pending approval, found by its token, as a decider known only by name.
    pub async fn decide_approval(
        &self,
        token: &str,
        approve: bool,
        summary: Option<String>,
        by: &str,
    ) -> Result<ApprovalRecord> {
        self.decide_approval_as(token, approve, summary, &Decider::named(by))
            .await
    }

    /// Records `decider`'s decision on a pending approval, found by its token (PutApprovalResult), and settles
    /// the action when it settles the approval. A decision the approval rules refuse (not an approver, the
    /// execution's own starter approving, a second decision) is [`RuntimeError::Invalid`] saying why; an
    /// approval no longer pending is [`RuntimeError::Conflict`]. Answers the approval as recorded: still
    /// `Pending` while more approvals are needed.
    pub async fn decide_approval_as(
        &self,
        token: &str,
        approve: bool,
        summary: Option<String>,
        decider: &Decider,
    ) -> Result<ApprovalRecord> {
        let missing = || RuntimeError::NotFound(format!("no approval with token {token}"));
        for _ in 0..DECISION_ATTEMPTS {
            let pointer: Versioned<ApprovalRecord> = self
                .read(&keys::approval_token(token), keys::META)
                .await?
                .ok_or_else(missing)?;
            let a = &pointer.value;
            let pk = keys::approval(&a.pipeline, &a.stage, &a.action);
            let current: Versioned<ApprovalRecord> = self
                .read(&pk, &a.execution_id)
                .await?
                .filter(|c: &Versioned<ApprovalRecord>| c.value.token == token)
                .ok_or_else(missing)?;
            if current.value.status != ApprovalStatus::Pending {
                return Err(RuntimeError::Conflict(format!(
                    "the approval of {}.{} in execution {} was already {:?}",
                    a.stage, a.action, a.execution_id, current.value.status
                )));
            }
            let action: Versioned<ActionRecord> = self
                .read(
                    &keys::execution(&a.execution_id),
                    &keys::action(&a.stage, &a.action, a.attempt),
                )
                .await?
                .ok_or_else(|| {
                    RuntimeError::Corrupt(format!(
                        "approval without action {}.{}",
                        a.stage, a.action
                    ))
                })?;
            if action.value.status != ActionStatus::InProgress {
                return Err(RuntimeError::Conflict(format!(
                    "{}.{} in execution {} no longer waits for approval (the action is {:?})",
                    a.stage, a.action, a.execution_id, action.value.status
                )));
            }
            let execution = self.execution(&a.execution_id).await?;
            let rules = ApprovalRules::read(&action.value.configuration, None).unwrap_or_default();
            let mut decided = current.value.clone();
            let verdict = judge(
                &rules,
                &mut decided,
                decider,
                approve,
                summary.clone(),
                started_by(&execution),
                self.env.now_ms(),
            )
            .map_err(|why| {
                RuntimeError::Invalid(format!(
                    "{}.{} of pipeline {}, execution {}: {why}",
                    a.stage, a.action, a.pipeline, a.execution_id
                ))
            })?;
            // Both copies in one conditional transaction: of two decisions at once, one wins and the other is
            // judged again against it.
            let written = self
                .store
                .transact(vec![
                    put(pk, a.execution_id.clone(), Some(current.version), &decided)?,
                    put(
                        keys::approval_token(token),
                        keys::META.into(),
                        Some(pointer.version),
                        &decided,
                    )?,
                ])
                .await;
            match written {
                Ok(()) => {}
                Err(StoreError::ConditionFailed(_)) => continue,
                Err(e) => return Err(e.into()),
            }
            info!(pipeline = %a.pipeline, stage = %a.stage, action = %a.action, by = %decider.name, approve, "approval decision recorded");
            let settled = match &verdict {
                Verdict::Waiting(progress) => {
                    self.note_progress(&action.value, progress).await?;
                    false
                }
                Verdict::Approved(s) => {
                    self.settle_action(
                        &action.value,
                        ActionStatus::Succeeded,
                        Some(s.clone()),
                        None,
                    )
                    .await?
                }
                Verdict::Rejected(e) => {
                    self.settle_action(&action.value, ActionStatus::Failed, None, Some(e.clone()))
                        .await?
                }
            };
            if settled {
                let outcome = match verdict {
                    Verdict::Rejected(e) => Err(e),
                    _ => Ok(()),
                };
                self.complete_action(&action.value, &action.value.token, outcome)
                    .await;
                info!(pipeline = %a.pipeline, stage = %a.stage, action = %a.action, status = ?decided.status, "approval settled");
            }
            return Ok(decided);
        }
        Err(RuntimeError::Store(StoreError::Busy(format!(
            "the approval {token} kept changing"
        ))))
    }

    /// A Manual action ended undecided (its stage failed: the deadline passed, or the execution stopped): its
    /// approval is recorded [`ApprovalStatus::Expired`] so no page shows it waiting, and, when the deadline
    /// passed, the action's error says so with the decisions so far. Answers that error (None: keep the
    /// stage's). Not a Manual action, or no pending approval of this attempt: nothing changes.
    pub(crate) async fn approval_ended(
        &self,
        rec: &ActionRecord,
        timed_out: bool,
    ) -> Result<Option<String>> {
        if rec.action_type.category != "Approval" || rec.action_type.provider != "Manual" {
            return Ok(None);
        }
        let pk = keys::approval(&rec.pipeline, &rec.stage, &rec.action);
        for _ in 0..DECISION_ATTEMPTS {
            let Some(current) = self.read::<ApprovalRecord>(&pk, &rec.execution_id).await? else {
                return Ok(None);
            };
            let a = &current.value;
            if a.attempt != rec.attempt || a.status != ApprovalStatus::Pending {
                return Ok(None);
            }
            let pointer: Option<Versioned<ApprovalRecord>> = self
                .read(&keys::approval_token(&a.token), keys::META)
                .await?;
            let now = self.env.now_ms();
            let mut ended = a.clone();
            ended.status = ApprovalStatus::Expired;
            ended.decided_ms = Some(now);
            let mut writes = vec![put(
                pk.clone(),
                rec.execution_id.clone(),
                Some(current.version),
                &ended,
            )?];
            if let Some(p) = pointer {
                writes.push(put(
                    keys::approval_token(&a.token),
                    keys::META.into(),
                    Some(p.version),
                    &ended,
                )?);
            }
            match self.store.transact(writes).await {
                Ok(()) => {}
                Err(StoreError::ConditionFailed(_)) => continue,
                Err(e) => return Err(e.into()),
            }
            if !timed_out {
                return Ok(None);
            }
            let so_far = if a.decisions.is_empty() {
                "no decision".to_owned()
            } else {
                crate::approval_quorum::progress_of(a)
            };
            return Ok(Some(match a.deadline_ms {
                Some(d) => format!(
                    "The approval was not decided before its deadline ({}): {so_far}",
                    crate::events::rfc3339(d)
                ),
                None => format!(
                    "The approval was not decided within the action's timeout (States.Timeout): {so_far}"
                ),
            }));
        }
        Ok(None)
    }

    /// Shows an approval's progress as its action's summary while it waits (GetPipelineState,
    /// ListActionExecutions). Nothing when the action is no longer running.
    async fn note_progress(&self, rec: &ActionRecord, progress: &str) -> Result<()> {
        let pk = keys::execution(&rec.execution_id);
        let sk = keys::action(&rec.stage, &rec.action, rec.attempt);
        for _ in 0..DECISION_ATTEMPTS {
            let Some(current) = self.read::<ActionRecord>(&pk, &sk).await? else {
                return Ok(());
            };
            if current.value.status != ActionStatus::InProgress {
                return Ok(());
            }
            let mut next = current.value;
            next.summary = Some(progress.to_owned());
            next.updated_ms = self.env.now_ms();
            match self
                .store
                .transact(vec![put(
                    pk.clone(),
                    sk.clone(),
                    Some(current.version),
                    &next,
                )?])
                .await
            {
                Ok(()) => return Ok(()),
                Err(StoreError::ConditionFailed(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// Sends the approval reminders due by now through the event sink
    /// ([`crate::ports::EventSink::approval_reminder`]: the approval topic and the action's NotificationArn in
    /// AWS). Answers how many were sent.
    pub async fn send_due_reminders(&self) -> Result<usize> {
        let mut sent = 0;
        for (current, minutes_before) in self.take_due_reminders().await? {
            let expires = current.deadline_ms.map_or_else(
                || crate::links::expiry_s(current.requested_ms, None),
                |d| d.div_euclid(1000),
            );
            match self
                .events
                .approval_reminder(&current, expires, minutes_before)
                .await
            {
                Ok(()) => sent += 1,
                Err(e) => {
                    warn!(error = %e, execution = %current.execution_id, stage = %current.stage, action = %current.action, "could not send an approval reminder")
                }
            }
        }
        Ok(sent)
    }

    /// Claims the approval reminders due by now, each once however many hosts sweep at the same time (it is
    /// removed before it is answered), and answers those whose approval still waits, with how many minutes
    /// before the deadline each is. Hosts that announce approvals themselves (`sluice serve`) announce these.
    pub async fn take_due_reminders(&self) -> Result<Vec<(ApprovalRecord, u32)>> {
        let now = self.env.now_ms();
        let due: Vec<Versioned<ReminderRecord>> = self
            .store
            .query(keys::APPROVAL_REMINDERS, "", Order::Ascending, 100, None)
            .await?
            .into_iter()
            .map(crate::runtime::decode)
            .collect::<Result<_>>()?;
        let mut out = Vec::new();
        for reminder in due.into_iter().take_while(|r| r.value.due_ms <= now) {
            let r = &reminder.value;
            let taken = self
                .store
                .transact(vec![Write::Delete {
                    pk: keys::APPROVAL_REMINDERS.into(),
                    sk: keys::approval_reminder(r.due_ms, &r.token, r.minutes_before),
                    condition: Condition::Version(reminder.version),
                }])
                .await;
            match taken {
                Ok(()) => {}
                Err(StoreError::ConditionFailed(_)) => continue,
                Err(e) => return Err(e.into()),
            }
            let Some(approval) = self.approval_by_token(&r.token).await? else {
                continue;
            };
            let current = self
                .approval(
                    &approval.pipeline,
                    &approval.stage,
                    &approval.action,
                    &approval.execution_id,
                )
                .await?
                .filter(|c| c.token == r.token && c.status == ApprovalStatus::Pending);
            let Some(current) = current else { continue };
            let running = self
                .read::<ActionRecord>(
                    &keys::execution(&current.execution_id),
                    &keys::action(&current.stage, &current.action, current.attempt),
                )
                .await?
                .is_some_and(|a| a.value.status == ActionStatus::InProgress);
            if running {
                out.push((current, r.minutes_before));
            }
        }
        Ok(out)
    }
}
