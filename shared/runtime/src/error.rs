//! Why a runtime operation failed, and the error name a failed task reports to the state machine.

use crate::ports::{OrchestratorError, StoreError};
use sluice_definition::contract::error;
use sluice_definition::problem::Problems;

/// Why a runtime operation failed.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// No such pipeline (or version).
    #[error("pipeline {0} not found")]
    PipelineNotFound(String),
    /// No such execution.
    #[error("pipeline execution {0} not found")]
    ExecutionNotFound(String),
    /// No such stage or action in the pipeline.
    #[error("{0}")]
    NotFound(String),
    /// The definition is invalid.
    #[error("invalid pipeline definition:\n{0}")]
    InvalidDefinition(Problems),
    /// The request is not valid now (e.g. approving an approval that is not pending).
    #[error("{0}")]
    Conflict(String),
    /// The request itself is wrong.
    #[error("{0}")]
    Invalid(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The orchestrator failed.
    #[error(transparent)]
    Orchestrator(#[from] OrchestratorError),
    /// A stored record could not be read.
    #[error("corrupt record {0}")]
    Corrupt(String),
}

impl RuntimeError {
    /// The error name a failed task reports to the state machine: transient problems are retried.
    pub fn error_name(&self) -> &'static str {
        match self {
            Self::Store(StoreError::Busy(_) | StoreError::ConditionFailed(_)) => error::RETRYABLE,
            _ => "Sluice.InternalError",
        }
    }
}

pub(crate) type Result<T, E = RuntimeError> = std::result::Result<T, E>;
