//! The API's request and response types, by operation group, field for field as CodePipeline's service model
//! names them.

pub mod executions;
pub mod pipelines;
pub mod state;
pub mod webhooks;
pub mod workers;
