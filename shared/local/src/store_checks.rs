//! The checks the SQLite store makes as DynamoDB does: a write's condition against the item's version, and what
//! `TransactWriteItems` refuses. Pure: no SQL.

use sluice_runtime::ports::{Condition, StoreError, Write};

/// The most writes one transaction may hold (DynamoDB's `TransactWriteItems` limit).
pub const MAX_TRANSACTION_WRITES: usize = 100;

/// Checks a write's condition against the item's current version; `Err` carries the failure's description.
pub(crate) fn check_condition(condition: Condition, current: Option<u64>) -> Result<(), String> {
    match (condition, current) {
        (Condition::None, _) | (Condition::Absent, None) => Ok(()),
        (Condition::Version(want), Some(have)) if want == have => Ok(()),
        (Condition::Absent, Some(have)) => Err(format!(
            "condition Absent failed: the item exists at version {have}"
        )),
        (Condition::Version(want), Some(have)) => Err(format!(
            "condition Version({want}) failed: the item is at version {have}"
        )),
        (Condition::Version(want), None) => Err(format!(
            "condition Version({want}) failed: the item does not exist"
        )),
    }
}

/// Refuses what DynamoDB's `TransactWriteItems` refuses, so code that works locally works in AWS.
pub(crate) fn validate_transaction(writes: &[Write]) -> Result<(), StoreError> {
    if writes.len() > MAX_TRANSACTION_WRITES {
        return Err(StoreError::Other(format!(
            "a transaction holds at most {MAX_TRANSACTION_WRITES} writes, not {}",
            writes.len()
        )));
    }
    let mut seen = std::collections::HashSet::new();
    for write in writes {
        let key = match write {
            Write::Put(item, _) => (item.pk.as_str(), item.sk.as_str()),
            Write::Delete { pk, sk, .. } => (pk.as_str(), sk.as_str()),
        };
        if !seen.insert(key) {
            return Err(StoreError::Other(format!(
                "a transaction writes pk={:?} sk={:?} more than once",
                key.0, key.1
            )));
        }
    }
    Ok(())
}
