//! Polled sources (`PollForSourceChanges`): which source actions a poller watches, and what a poll found.
//!
//! A host's poller (`sluice serve` locally, the trigger function on a schedule in AWS) asks, for every pipeline's
//! newest version, [`polled_sources`]; reads each source's newest revision its own way (a branch's commit, an
//! object's version); and reports it with [`Runtime::source_polled`], which starts an execution when the
//! revision changed since the last poll.
//!
//! As in CodePipeline, `PollForSourceChanges` is on unless set to `false` for S3, CodeCommit and GitHub
//! (version 1) sources; no other provider is polled. The first revision a poller sees is recorded and starts
//! nothing (creating a pipeline is not a change of its source).
//!
//! Each action's last revision is one item (`POLL#<pipeline>` / `<action>`). A change starts its execution
//! under a client request token made of the item's version and the new revision, and only then moves the item
//! on, conditionally on that version: two pollers that see the same change start one execution, and a poller
//! that dies between the start and the write starts nothing new when the change is seen again.

use serde::{Deserialize, Serialize};

use sluice_definition::model::{Action, Pipeline};

use crate::error::RuntimeError;
use crate::ports::{Condition, Item, StoreError, Write};
use crate::records::{RevisionOverride, TriggerInfo};
use crate::runtime::{Runtime, StartRequest};

/// The trigger type CodePipeline records for a start by polling.
pub const TRIGGER_TYPE_POLL: &str = "PollForSourceChanges";

/// What a poller asks about one source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolledKind {
    /// An S3 object: its newest version (or ETag, unversioned).
    S3 {
        /// `S3Bucket`.
        bucket: String,
        /// `S3ObjectKey`.
        key: String,
    },
    /// A CodeCommit repository's branch.
    CodeCommit {
        /// `RepositoryName`.
        repository: String,
        /// `BranchName`.
        branch: String,
    },
    /// A GitHub (version 1) repository's branch.
    GitHub {
        /// `Owner`.
        owner: String,
        /// `Repo`.
        repo: String,
        /// `Branch`.
        branch: String,
        /// `OAuthToken`, as configured.
        token: String,
    },
}

/// One polled source action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolledSource {
    /// The action's name.
    pub action: String,
    /// What to ask.
    pub kind: PolledKind,
}

/// What [`Runtime::source_polled`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PollOutcome {
    /// The first revision seen: recorded, nothing started.
    First,
    /// The same revision as last time (or another poller took the change).
    Unchanged,
    /// A change: this execution runs it.
    Started {
        /// The execution's id.
        execution_id: String,
    },
}

/// The last revision a poller saw of one action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PollRecord {
    /// The revision.
    pub revision: String,
    /// When it was seen first.
    pub seen_ms: i64,
    /// The execution its change started, when it started one.
    pub execution_id: Option<String>,
}

fn config<'a>(action: &'a Action, key: &str) -> Option<&'a str> {
    action
        .configuration
        .as_ref()
        .and_then(|c| c.get(key))
        .map(String::as_str)
}

/// The source actions of `pipeline` a poller watches.
pub fn polled_sources(pipeline: &Pipeline) -> Vec<PolledSource> {
    pipeline
        .actions()
        .filter_map(|(_, _, _, action)| {
            let id = &action.action_type_id;
            if id.category != "Source"
                || config(action, "PollForSourceChanges")
                    .is_some_and(|v| v.eq_ignore_ascii_case("false"))
            {
                return None;
            }
            let get = |key: &str| config(action, key).map(str::to_owned);
            let kind = match (id.owner.as_str(), id.provider.as_str()) {
                ("AWS", "S3") => PolledKind::S3 {
                    bucket: get("S3Bucket")?,
                    key: get("S3ObjectKey")?,
                },
                ("AWS", "CodeCommit") => PolledKind::CodeCommit {
                    repository: get("RepositoryName")?,
                    branch: get("BranchName")?,
                },
                ("ThirdParty", "GitHub") => PolledKind::GitHub {
                    owner: get("Owner")?,
                    repo: get("Repo")?,
                    branch: get("Branch")?,
                    token: get("OAuthToken").unwrap_or_default(),
                },
                _ => return None,
            };
            Some(PolledSource {
                action: action.name.clone(),
                kind,
            })
        })
        .collect()
}

fn poll_pk(pipeline: &str) -> String {
    format!("POLL#{pipeline}")
}

impl Runtime {
    /// The newest version of every pipeline that has polled sources, with them.
    pub async fn polled_pipelines(
        &self,
    ) -> Result<Vec<(Pipeline, Vec<PolledSource>)>, RuntimeError> {
        let mut found = Vec::new();
        for head in self.list_pipelines().await? {
            let record = match self.pipeline(&head.name, None).await {
                Ok(r) => r,
                // Deleted between the listing and the read.
                Err(RuntimeError::PipelineNotFound(_)) => continue,
                Err(e) => return Err(e),
            };
            let sources = polled_sources(&record.definition);
            if !sources.is_empty() {
                found.push((record.definition, sources));
            }
        }
        Ok(found)
    }

    /// Reports the newest `revision` a poll found of `pipeline`'s source `action`: on a change, starts one
    /// execution (pinned to `pin` when given, for example the commit found) and answers it.
    pub async fn source_polled(
        &self,
        pipeline: &str,
        action: &str,
        revision: &str,
        pin: Option<RevisionOverride>,
    ) -> Result<PollOutcome, RuntimeError> {
        let pk = poll_pk(pipeline);
        let now = self.env.now_ms();
        let seen = self.store.get(&pk, action).await?;
        let item = |version: u64, record: &PollRecord| Item {
            pk: pk.clone(),
            sk: action.to_owned(),
            version,
            data: serde_json::to_value(record).unwrap_or_default(),
            expires_at: None,
        };
        let Some(seen) = seen else {
            let record = PollRecord {
                revision: revision.to_owned(),
                seen_ms: now,
                execution_id: None,
            };
            return match self
                .store
                .transact(vec![Write::Put(item(1, &record), Condition::Absent)])
                .await
            {
                Ok(()) | Err(StoreError::ConditionFailed(_)) => Ok(PollOutcome::First),
                Err(e) => Err(e.into()),
            };
        };
        let last: PollRecord = serde_json::from_value(seen.data)
            .map_err(|e| RuntimeError::Corrupt(format!("poll record {pk}/{action}: {e}")))?;
        if last.revision == revision {
            return Ok(PollOutcome::Unchanged);
        }
        let token = format!("poll-{action}-{}-{revision}", seen.version);
        let request = StartRequest {
            trigger: Some(TriggerInfo {
                trigger_type: TRIGGER_TYPE_POLL.into(),
                trigger_detail: format!("{action}: {revision}"),
                pushed_by: None,
            }),
            source_revisions: pin.into_iter().collect(),
            ..StartRequest::default()
        };
        let execution = self
            .start_execution_once(pipeline, request, Some(&token))
            .await?;
        let record = PollRecord {
            revision: revision.to_owned(),
            seen_ms: now,
            execution_id: Some(execution.execution_id.clone()),
        };
        match self
            .store
            .transact(vec![Write::Put(
                item(seen.version + 1, &record),
                Condition::Version(seen.version),
            )])
            .await
        {
            Ok(()) => Ok(PollOutcome::Started {
                execution_id: execution.execution_id,
            }),
            // Another poller moved it on first, with this same execution (the token is the same).
            Err(StoreError::ConditionFailed(_)) => Ok(PollOutcome::Unchanged),
            Err(e) => Err(e.into()),
        }
    }
}
