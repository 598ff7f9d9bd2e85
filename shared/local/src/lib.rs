//! Sluice's embedded adapters: the ports of `sluice_runtime::ports` on one machine, with no AWS
//! account. [`SqliteStore`] is the item store (DynamoDB's single table in a SQLite file),
//! [`FolderObjectStore`] the object store (S3 buckets as folders), [`JsonlEventLog`] the event sink
//! (EventBridge events as JSON lines). Each passes the conformance suites in `tests/src/conformance`, which
//! the AWS adapters pass too.

pub mod events;
pub mod objects;
pub mod store;
mod store_checks;

pub use events::{read_events, JsonlEventLog};
pub use objects::FolderObjectStore;
pub use store::SqliteStore;
