//! The history store port and an in-memory implementation.
//!
//! A store keeps each execution's events in order and appends a batch atomically, refusing it
//! when the history moved on since the caller read it (optimistic concurrency).

use std::collections::BTreeMap;

use thiserror::Error;

use crate::history::HistoryEvent;

/// Why a store operation failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum StoreError {
    /// The history is not at the length the caller expected: someone else appended.
    #[error("execution {execution_id}: expected history length {expected}, found {actual}")]
    Conflict {
        /// The execution.
        execution_id: String,
        /// The length the caller expected.
        expected: u64,
        /// The length found.
        actual: u64,
    },
    /// The backend failed.
    #[error("history store: {0}")]
    Backend(String),
}

/// Durable storage of execution histories.
pub trait HistoryStore {
    /// The events of an execution, in order (empty when unknown).
    fn load(&self, execution_id: &str) -> Result<Vec<HistoryEvent>, StoreError>;

    /// Appends `events` atomically if the history currently holds exactly `expected_len` events.
    fn append(
        &mut self,
        execution_id: &str,
        expected_len: u64,
        events: &[HistoryEvent],
    ) -> Result<(), StoreError>;

    /// The ids of every stored execution.
    fn executions(&self) -> Result<Vec<String>, StoreError>;
}

/// A [`HistoryStore`] in memory, for tests and single-process hosts.
#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    histories: BTreeMap<String, Vec<HistoryEvent>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Replaces an execution's history (e.g. with a prefix, to simulate a crash).
    pub fn put(&mut self, execution_id: &str, events: Vec<HistoryEvent>) {
        self.histories.insert(execution_id.to_owned(), events);
    }
}

impl HistoryStore for MemoryStore {
    fn load(&self, execution_id: &str) -> Result<Vec<HistoryEvent>, StoreError> {
        Ok(self
            .histories
            .get(execution_id)
            .cloned()
            .unwrap_or_default())
    }

    fn append(
        &mut self,
        execution_id: &str,
        expected_len: u64,
        events: &[HistoryEvent],
    ) -> Result<(), StoreError> {
        let history = self.histories.entry(execution_id.to_owned()).or_default();
        let actual = history.len() as u64;
        if actual != expected_len {
            return Err(StoreError::Conflict {
                execution_id: execution_id.to_owned(),
                expected: expected_len,
                actual,
            });
        }
        history.extend_from_slice(events);
        Ok(())
    }

    fn executions(&self) -> Result<Vec<String>, StoreError> {
        Ok(self.histories.keys().cloned().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{EventKind, TimerId};
    use crate::timestamp::Timestamp;

    fn event(id: u64) -> HistoryEvent {
        HistoryEvent {
            id,
            timestamp: Timestamp::from_millis(0),
            kind: EventKind::TimerFired {
                timer: TimerId::from("t"),
            },
        }
    }

    #[test]
    fn appends_only_at_the_expected_length() {
        let mut store = MemoryStore::new();
        store
            .append("e", 0, &[event(1), event(2)])
            .expect("first append");
        assert_eq!(
            store.append("e", 1, &[event(2)]),
            Err(StoreError::Conflict {
                execution_id: "e".into(),
                expected: 1,
                actual: 2
            })
        );
        store.append("e", 2, &[event(3)]).expect("second append");
        assert_eq!(store.load("e").expect("loads").len(), 3);
        assert_eq!(store.executions().expect("lists"), vec!["e".to_owned()]);
        assert!(store.load("other").expect("loads").is_empty());
    }
}
