//! The API's request and response types, by operation group, field for field as CodePipeline's service model
//! names them.

pub mod declarations;
pub mod executions;
pub mod pipelines;
pub mod revisions;
pub mod rollbacks;
pub mod rules;
pub mod state;
pub mod third_party;
pub mod webhooks;
pub mod workers;
