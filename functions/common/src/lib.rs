//! What Sluice's Lambda functions share: typed configuration read once from the environment ([`config`]), the
//! SDK clients and adapters assembled into a [`sluice_runtime::Runtime`] ([`wiring`]), and each
//! function's handler: a plain async function from its event to its answer, tested without Lambda.
//!
//! The binaries in `functions/<name>` only wire: tracing, `<Name>Config::from_env()`, `<Name>::connect`, and
//! `lambda_runtime::run` over the handler. template.yaml and functions/README.md fix names and variables.

pub mod access;
pub mod api;
pub mod approval;
pub mod builds;
pub mod cfn_resource;
pub mod config;
pub mod connections;
pub mod console_logs;
pub mod dispatch;
pub mod ecr_source;
pub mod executor;
pub mod git_refs;
pub mod git_sources;
pub mod metrics;
pub mod polls;
pub mod pull_request_files;
pub mod recorder;
pub mod roles;
pub mod trigger;
pub mod url;
pub mod waits;
pub mod wiring;

pub use config::ConfigError;
pub use wiring::WiringError;
