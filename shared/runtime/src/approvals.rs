//! Manual approvals: asking for one when its action starts, finding them, and deciding one (once).

use tracing::{info, warn};

use crate::error::{Result, RuntimeError};
use crate::ports::Order;
use crate::records::{keys, ActionRecord, ActionStatus, ApprovalRecord, ApprovalStatus};
use crate::runtime::{put, Runtime, Versioned};

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
        };
        let apk = keys::approval(&rec.pipeline, &rec.stage, &rec.action);
        let existing = self
            .store
            .get(&apk, &rec.execution_id)
            .await?
            .map(|i| i.version);
        self.store
            .transact(vec![
                put(apk, rec.execution_id.clone(), existing, &approval)?,
                put(
                    keys::approval_token(&approval.token),
                    keys::META.into(),
                    None,
                    &approval,
                )?,
            ])
            .await?;
        let expires = crate::links::expiry_s(approval.requested_ms, timeout_in_minutes);
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
        let by = a.value.decided_by.clone().unwrap_or_default();
        let outcome = match a.value.status {
            ApprovalStatus::Pending => return Ok(false),
            ApprovalStatus::Approved => Ok(format!("Approved by {by}")),
            ApprovalStatus::Rejected => Err(format!("Rejected by {by}")),
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
        self.complete_action_token(token, outcome.map(|_| ())).await;
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

    /// Approves or rejects a pending approval, found by its token (PutApprovalResult).
    pub async fn decide_approval(
        &self,
        token: &str,
        approve: bool,
        summary: Option<String>,
        by: &str,
    ) -> Result<ApprovalRecord> {
        let pointer: Versioned<ApprovalRecord> = self
            .read(&keys::approval_token(token), keys::META)
            .await?
            .ok_or_else(|| RuntimeError::NotFound(format!("no approval with token {token}")))?;
        let a = &pointer.value;
        let pk = keys::approval(&a.pipeline, &a.stage, &a.action);
        let current: Versioned<ApprovalRecord> = self
            .read(&pk, &a.execution_id)
            .await?
            .ok_or_else(|| RuntimeError::NotFound(format!("no approval with token {token}")))?;
        if current.value.status != ApprovalStatus::Pending {
            return Err(RuntimeError::Conflict(format!(
                "the approval of {}.{} in execution {} was already {:?}",
                a.stage, a.action, a.execution_id, current.value.status
            )));
        }
        let mut decided = current.value.clone();
        decided.status = if approve {
            ApprovalStatus::Approved
        } else {
            ApprovalStatus::Rejected
        };
        decided.summary = summary.clone();
        decided.decided_by = Some(by.to_owned());
        decided.decided_ms = Some(self.env.now_ms());
        // Both copies in one conditional transaction: a second decision loses.
        self.store
            .transact(vec![
                put(pk, a.execution_id.clone(), Some(current.version), &decided)?,
                put(
                    keys::approval_token(token),
                    keys::META.into(),
                    Some(pointer.version),
                    &decided,
                )?,
            ])
            .await?;
        let action: Versioned<ActionRecord> = self
            .read(
                &keys::execution(&a.execution_id),
                &keys::action(&a.stage, &a.action, a.attempt),
            )
            .await?
            .ok_or_else(|| {
                RuntimeError::Corrupt(format!("approval without action {}.{}", a.stage, a.action))
            })?;
        let text = summary.unwrap_or_default();
        let (status, outcome) = if approve {
            (
                ActionStatus::Succeeded,
                Ok(format!("Approved by {by}. {text}").trim().to_owned()),
            )
        } else {
            (
                ActionStatus::Failed,
                Err(format!("Rejected by {by}. {text}").trim().to_owned()),
            )
        };
        let settled = match &outcome {
            Ok(s) => {
                self.settle_action(&action.value, status, Some(s.clone()), None)
                    .await?
            }
            Err(e) => {
                self.settle_action(&action.value, status, None, Some(e.clone()))
                    .await?
            }
        };
        if settled {
            self.complete_action_token(&action.value.token, outcome.map(|_| ()))
                .await;
        }
        info!(pipeline = %a.pipeline, stage = %a.stage, action = %a.action, approve, "approval decided");
        Ok(decided)
    }
}
