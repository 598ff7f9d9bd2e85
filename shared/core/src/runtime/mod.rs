//! The execution runtime, written once over ports: the records an execution leaves, the dispatch handler the
//! state machine's tasks call, approvals, and the operations people and the API perform (stop, retry,
//! transitions).

pub mod api;
pub mod approval_links;
pub mod approval_page;
pub mod deliveries;
pub mod dispatch;
pub mod events;
pub mod jobs;
pub mod links;
pub mod notifications;
pub mod object_names;
pub mod ports;
pub mod records;
pub mod triggers;
pub mod variables;
pub mod webhooks;
pub mod workers;
