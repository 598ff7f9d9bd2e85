//! Sluice's in-process job agent: it runs the actions of local pipeline runs.
//!
//! [`LocalAgent`] implements the core's [`Executor`](sluice_runtime::jobs::Executor): each job runs in
//! a tokio task, in a fresh folder, its inputs fetched from the
//! [`ObjectStore`](sluice_runtime::ports::ObjectStore) and extracted safely, its outputs zipped and
//! stored back, its output streamed to a log file ([`log_path`]), its outcome reported to the
//! [`JobListener`](sluice_runtime::jobs::JobListener).
//!
//! Providers run locally (see [`supports`]): `Source/ThirdParty/LocalSource` (a git repository, read with
//! libgit2, or a folder), git sources of hosting services (`ThirdParty/GitHub`, `AWS/CodeStarSourceConnection`,
//! `AWS/CodeCommit`, fetched with git or read from a bound working copy), `Source/AWS/S3`, `Deploy/AWS/S3`, `Build|Test/AWS/CodeBuild` (a `buildspec.yml`) and
//! `Compute/AWS/Commands`. Everything else fails at once, saying why.
//!
//! [`zip_files`] holds the artifact zips' building and their safe extraction.

mod agent;
mod bindings;
pub mod changed_files;
mod error;
pub mod git;
mod job;
mod log;
mod providers;
mod shell;
pub mod zip_files;

pub use agent::{AgentConfig, LocalAgent};
pub use bindings::save_bindings;
pub use error::JobError;
pub use log::log_path;
pub use providers::codebuild::check_buildspec;
pub use providers::git_source::{uncommitted_in, working_copy_head, working_copy_remotes};
pub use providers::supports;
pub use zip_files::Limits;
