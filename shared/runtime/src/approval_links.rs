//! What an approval link may act on, transport-free: the checks `sluice serve`'s approval pages and the approval
//! function both make before they show an approval (GET) or decide it (POST, then
//! [`Runtime::decide_approval`]). A link is honoured only while its signature holds and it has not expired, and
//! only for an approval that exists, is undecided, and whose action still waits.

use crate::error::RuntimeError;
use crate::links::{self, LinkError};
use crate::records::{ActionStatus, ApprovalRecord, ApprovalStatus};
use crate::runtime::Runtime;

/// Why a link cannot act now.
#[derive(Debug, thiserror::Error)]
pub enum LinkRefusal {
    /// The link itself is malformed, forged or expired.
    #[error(transparent)]
    Link(#[from] LinkError),
    /// The link is genuine but names no approval here (the pipeline may have been deleted).
    #[error("no approval with this link's token")]
    NotFound,
    /// The approval was approved or rejected already.
    #[error("the approval was already decided")]
    Decided(Box<ApprovalRecord>),
    /// The link's approver decided already (the approval waits for others).
    #[error("{1} already decided this approval")]
    DecidedBy(Box<ApprovalRecord>, String),
    /// The approval's action ended without a decision (timed out, or the execution stopped).
    #[error("the approval is no longer waiting")]
    NotWaiting(Box<ApprovalRecord>),
    /// The store could not be read.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
}

impl Runtime {
    /// The approval a link (`token` and the link's `query`) names, and the approver the link was issued to
    /// (None for a shared link), if the link may act on it at `now_s` (unix seconds): an approver's link
    /// acts once, until its approver decided. `key` is the key links are signed with.
    pub async fn approval_for_link(
        &self,
        key: &[u8],
        token: &str,
        query: &str,
        now_s: i64,
    ) -> Result<(ApprovalRecord, Option<String>), LinkRefusal> {
        let by = links::verify_link(key, token, query, now_s)?.by;
        let approval = self
            .approval_by_token(token)
            .await?
            .ok_or(LinkRefusal::NotFound)?;
        if approval.status != ApprovalStatus::Pending {
            return Err(LinkRefusal::Decided(Box::new(approval)));
        }
        if let Some(name) = by.as_ref() {
            if approval.decisions.iter().any(|d| &d.principal == name) {
                let name = name.clone();
                return Err(LinkRefusal::DecidedBy(Box::new(approval), name));
            }
        }
        let waiting = self.actions(&approval.execution_id).await?.iter().any(|r| {
            r.stage == approval.stage
                && r.action == approval.action
                && r.attempt == approval.attempt
                && r.status == ActionStatus::InProgress
        });
        if !waiting {
            return Err(LinkRefusal::NotWaiting(Box::new(approval)));
        }
        Ok((approval, by))
    }
}
