//! `PutActionRevision`: a source told of a new revision by someone else than its own poller (a partner, a
//! script). A revision the action was last told of again is not new and starts nothing; a new one starts an
//! execution of the pipeline's newest version, pinned to that revision when the provider can fetch a given
//! revision (git commits, S3 object versions, ECR image digests).
//!
//! Each action's last revision is one item (`ACTION_REVISION#<pipeline>` / `<stage>#<action>`). As with polled
//! sources, the execution starts under a client request token made of the item's version and the revision, and
//! the item moves on afterwards, conditionally on that version: two callers racing with the same revision
//! start one execution, and a caller that died between the start and the write starts nothing new on retry.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use sluice_definition::model::Action;

use crate::error::RuntimeError;
use crate::ports::{Condition, Item, StoreError, Write};
use crate::records::{RevisionOverride, TriggerInfo};
use crate::runtime::{Runtime, StartRequest};

/// The trigger type CodePipeline records for an execution started by PutActionRevision.
pub const TRIGGER_TYPE_PUT_ACTION_REVISION: &str = "PutActionRevision";

/// The last revision PutActionRevision gave an action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionRevisionRecord {
    /// The revision id.
    pub revision_id: String,
    /// Its change identifier.
    pub revision_change_id: String,
    /// The execution it started.
    pub execution_id: String,
    /// When it was put.
    pub put_ms: i64,
}

/// What PutActionRevision did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevisionPut {
    /// Whether the revision differs from the one the action was last given.
    pub new_revision: bool,
    /// The execution that runs it.
    pub execution_id: String,
}

/// How a provider's action is pinned to a revision it is given, when it can be.
fn pin_for(action: &Action, revision: &str) -> Option<RevisionOverride> {
    let id = &action.action_type_id;
    let kind = match (id.owner.as_str(), id.provider.as_str()) {
        ("AWS", "S3") => "S3_OBJECT_VERSION_ID",
        ("AWS", "ECR") => "IMAGE_DIGEST",
        ("AWS", "CodeCommit" | "CodeStarSourceConnection") | ("ThirdParty", "GitHub") => {
            "COMMIT_ID"
        }
        _ => return None,
    };
    Some(RevisionOverride {
        action_name: action.name.clone(),
        revision_type: kind.into(),
        revision_value: revision.into(),
    })
}

impl Runtime {
    /// Records `revision` as the newest of a source action (which the caller found in the pipeline's newest
    /// version) and, when it is new, starts an execution for it.
    pub async fn put_action_revision(
        &self,
        pipeline: &str,
        stage: &str,
        action: &Action,
        revision: &str,
        change_id: &str,
    ) -> Result<RevisionPut, RuntimeError> {
        let pk = format!("ACTION_REVISION#{pipeline}");
        let sk = format!("{stage}#{}", action.name);
        let seen = self.store.get(&pk, &sk).await?;
        let last = match &seen {
            Some(item) => Some(
                serde_json::from_value::<ActionRevisionRecord>(item.data.clone()).map_err(|e| {
                    RuntimeError::Corrupt(format!("action revision record {pk}/{sk}: {e}"))
                })?,
            ),
            None => None,
        };
        if let Some(last) = last.filter(|l| l.revision_id == revision) {
            return Ok(RevisionPut {
                new_revision: false,
                execution_id: last.execution_id,
            });
        }
        let version = seen.as_ref().map_or(0, |s| s.version);
        let digest = hex::encode(Sha256::digest(format!(
            "{stage}\n{}\n{revision}",
            action.name
        )));
        let token = format!("action-revision-{version}-{}", &digest[..32]);
        let request = StartRequest {
            trigger: Some(TriggerInfo {
                trigger_type: TRIGGER_TYPE_PUT_ACTION_REVISION.into(),
                trigger_detail: format!("{}: {revision}", action.name),
                pushed_by: None,
            }),
            source_revisions: pin_for(action, revision).into_iter().collect(),
            ..StartRequest::default()
        };
        let execution = self
            .start_execution_once(pipeline, request, Some(&token))
            .await?;
        let record = ActionRevisionRecord {
            revision_id: revision.to_owned(),
            revision_change_id: change_id.to_owned(),
            execution_id: execution.execution_id.clone(),
            put_ms: self.env.now_ms(),
        };
        let item = Item {
            pk,
            sk,
            version: version + 1,
            data: serde_json::to_value(&record)
                .map_err(|e| RuntimeError::Corrupt(format!("action revision record: {e}")))?,
            expires_at: None,
        };
        let condition = match version {
            0 => Condition::Absent,
            v => Condition::Version(v),
        };
        match self.store.transact(vec![Write::Put(item, condition)]).await {
            // Another caller moved it on first, with this same execution (the token is the same).
            Ok(()) | Err(StoreError::ConditionFailed(_)) => Ok(RevisionPut {
                new_revision: true,
                execution_id: execution.execution_id,
            }),
            Err(e) => Err(e.into()),
        }
    }
}
