//! The runtime type: its ports and settings, typed access to the store (every state change a conditional
//! write), and completing task tokens. Every concern of the runtime adds its operations in a module of its own
//! (see the crate's documentation).

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use tracing::warn;

use crate::error::{Result, RuntimeError};
use crate::events::Origin;
use crate::jobs::Executor;
use crate::ports::{
    Condition, Env, EventSink, Item, ItemStore, ObjectStore, Orchestrator, Order, Write,
};
use crate::records::{ActionRecord, RevisionOverride, TriggerInfo};
use sluice_definition::contract::error;
use sluice_definition::model::{Pipeline, Stage};
use sluice_definition::validate::Limits;

/// Settings of a runtime.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// The bucket artifacts are stored in.
    pub artifact_bucket: String,
    /// Account and region for events and ARNs.
    pub origin: Origin,
    /// Validation limits for pipelines created through the runtime.
    pub limits: Limits,
    /// Where webhook deliveries are POSTed (`<this>/webhooks/...`): `sluice serve`'s public URL, the trigger
    /// function's URL in AWS. Set once by the transport that knows it; unset, webhook URLs are paths.
    pub webhook_base_url: std::sync::OnceLock<String>,
}

/// What a finished state machine run ended with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunOutcome {
    /// It reached its Succeed state.
    Succeeded,
    /// It failed with an error name and cause.
    Failed {
        /// The error name (`Sluice.StageFailed`, `Sluice.Stopped`, ...).
        error: String,
        /// The cause.
        cause: String,
    },
    /// It was aborted.
    Aborted,
}

/// How to start an execution.
#[derive(Debug, Clone, Default)]
pub struct StartRequest {
    /// Values for pipeline variables (others take their defaults).
    pub variables: BTreeMap<String, String>,
    /// Who or what started it.
    pub trigger: Option<TriggerInfo>,
    /// Source revisions to fetch instead of the newest.
    pub source_revisions: Vec<RevisionOverride>,
}

/// The runtime: ports plus configuration.
pub struct Runtime {
    /// The store.
    pub store: Arc<dyn ItemStore>,
    /// The object store (artifacts).
    pub objects: Arc<dyn ObjectStore>,
    /// The state machine engine.
    pub orchestrator: Arc<dyn Orchestrator>,
    /// Where events go.
    pub events: Arc<dyn EventSink>,
    /// Who runs jobs.
    pub executor: Arc<dyn Executor>,
    /// Time and ids.
    pub env: Arc<dyn Env>,
    /// Settings.
    pub config: RuntimeConfig,
    /// Pipeline versions already read (immutable once stored): `Default::default()`.
    pub definitions: crate::definition_cache::DefinitionCache,
}

/// A typed item read from the store, with the version a conditional write needs.
pub(crate) struct Versioned<T> {
    pub(crate) value: T,
    pub(crate) version: u64,
}

pub(crate) fn item<T: Serialize>(pk: String, sk: String, version: u64, value: &T) -> Result<Item> {
    let data = serde_json::to_value(value)
        .map_err(|e| RuntimeError::Corrupt(format!("{pk}/{sk}: {e}")))?;
    Ok(Item {
        pk,
        sk,
        version,
        data,
        expires_at: None,
    })
}

pub(crate) fn decode<T: DeserializeOwned>(item: Item) -> Result<Versioned<T>> {
    let value = serde_json::from_value(item.data)
        .map_err(|e| RuntimeError::Corrupt(format!("{}/{}: {e}", item.pk, item.sk)))?;
    Ok(Versioned {
        value,
        version: item.version,
    })
}

/// Puts `value` at `pk/sk`: creating it when `current` is None, else replacing that version.
pub(crate) fn put<T: Serialize>(
    pk: String,
    sk: String,
    current: Option<u64>,
    value: &T,
) -> Result<Write> {
    let (version, condition) = match current {
        None => (1, Condition::Absent),
        Some(v) => (v + 1, Condition::Version(v)),
    };
    Ok(Write::Put(item(pk, sk, version, value)?, condition))
}

pub(crate) fn find_stage<'p>(definition: &'p Pipeline, stage: &str) -> Result<&'p Stage> {
    definition
        .stages
        .iter()
        .find(|s| s.name == stage)
        .ok_or_else(|| {
            RuntimeError::NotFound(format!("pipeline {} has no stage {stage}", definition.name))
        })
}

impl Runtime {
    pub(crate) async fn read<T: DeserializeOwned>(
        &self,
        pk: &str,
        sk: &str,
    ) -> Result<Option<Versioned<T>>> {
        self.store.get(pk, sk).await?.map(decode).transpose()
    }

    pub(crate) async fn query<T: DeserializeOwned>(
        &self,
        pk: &str,
        prefix: &str,
        order: Order,
    ) -> Result<Vec<Versioned<T>>> {
        let mut out = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = self
                .store
                .query(pk, prefix, order, 100, after.as_deref())
                .await?;
            let done = page.len() < 100;
            after = page.last().map(|i| i.sk.clone());
            for i in page {
                out.push(decode(i)?);
            }
            if done {
                return Ok(out);
            }
        }
    }

    pub(crate) async fn publish(&self, event: Value) {
        if let Err(e) = self.events.publish(&event).await {
            warn!(error = %e, "could not publish an event");
        }
    }

    /// One page of a partition: at most `limit` items after `after`, and the sort key of the last one when
    /// another page follows.
    pub(crate) async fn page<T: DeserializeOwned>(
        &self,
        pk: &str,
        prefix: &str,
        order: Order,
        limit: usize,
        after: Option<&str>,
    ) -> Result<(Vec<T>, Option<String>)> {
        let mut items = self
            .store
            .query(pk, prefix, order, limit.saturating_add(1), after)
            .await?;
        let more = items.len() > limit;
        items.truncate(limit);
        let next = if more {
            items.last().map(|i| i.sk.clone())
        } else {
            None
        };
        let values = items
            .into_iter()
            .map(|i| decode(i).map(|v| v.value))
            .collect::<Result<Vec<T>>>()?;
        Ok((values, next))
    }

    pub(crate) async fn succeed(&self, token: &str, output: Value) {
        if let Err(e) = self.orchestrator.send_task_success(token, output).await {
            warn!(error = %e, "could not complete a task");
        }
    }

    pub(crate) async fn fail(&self, token: &str, name: &str, cause: &str) {
        if let Err(e) = self
            .orchestrator
            .send_task_failure(token, name, cause)
            .await
        {
            warn!(error = %e, "could not fail a task");
        }
    }

    /// Answers the task of an action attempt that ended: a success passes the stage's exit gate first when
    /// the gate is folded into the action, and answers like the entry gate (see
    /// [`passed`]).
    pub(crate) async fn complete_action(
        &self,
        rec: &ActionRecord,
        token: &str,
        outcome: std::result::Result<(), String>,
    ) {
        match outcome {
            Ok(()) if rec.leaves_stage => {
                if let Err(e) = self.leave(&rec.execution_id, &rec.stage, token).await {
                    warn!(error = %e, execution = %rec.execution_id, stage = %rec.stage, "could not leave the stage");
                    self.fail(token, e.error_name(), &e.to_string()).await;
                }
            }
            Ok(()) => {
                self.succeed(token, passed(rec.attempt)).await;
            }
            Err(message) => self.fail(token, error::ACTION_FAILED, &message).await,
        }
    }
}

/// What a stage's action or exit gate answers when it passed: the entry gate's answer, which a task that
/// also entered the stage keeps at `$.gate` (the actions after it read the attempt there).
pub(crate) fn passed(attempt: u32) -> Value {
    serde_json::json!(sluice_definition::contract::GateOutput {
        attempt,
        skip: false
    })
}
