//! How the engine's bookkeeping becomes store items: a value at a key, and the writes that record one step of
//! a run (its history events and the inbox item it consumed).

use serde::Serialize;
use sluice_runtime::ports::{Condition, Item, OrchestratorError, Write};
use sluice_states::execution::Step;

/// Any failure, as the orchestrator port's catch-all error.
pub(crate) fn err<E: std::fmt::Display>(e: E) -> OrchestratorError {
    OrchestratorError::Other(e.to_string())
}

/// A value as a store item at `pk/sk` with `version`.
pub(crate) fn item<T: Serialize>(
    pk: &str,
    sk: &str,
    version: u64,
    value: &T,
) -> Result<Item, OrchestratorError> {
    Ok(Item {
        pk: pk.to_owned(),
        sk: sk.to_owned(),
        version,
        data: serde_json::to_value(value).map_err(err)?,
        expires_at: None,
    })
}

/// The writes that record a step: its events, each at its id and only if absent, and the deletion of the
/// inbox item it consumed.
pub(crate) fn step_writes(
    run: &str,
    step: &Step,
    consumed: Option<&Item>,
) -> Result<Vec<Write>, OrchestratorError> {
    let mut writes = Vec::with_capacity(step.events.len() + 1);
    for event in &step.events {
        writes.push(Write::Put(
            item(
                &format!("HISTORY#{run}"),
                &format!("{:010}", event.id),
                1,
                event,
            )?,
            Condition::Absent,
        ));
    }
    if let Some(entry) = consumed {
        writes.push(Write::Delete {
            pk: entry.pk.clone(),
            sk: entry.sk.clone(),
            condition: Condition::Version(entry.version),
        });
    }
    Ok(writes)
}
