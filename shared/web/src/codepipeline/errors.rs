//! How the API fails: CodePipeline's exception names and HTTP statuses, from the runtime's errors.

use serde_json::{json, Value};
use sluice_runtime::ports::StoreError;
use sluice_runtime::RuntimeError;
use tracing::warn;

use sluice_runtime::workers::WorkerError;

/// What an API call answers: the HTTP status and the JSON body.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiResponse {
    /// The HTTP status: 200, 400 for client errors, 5xx for the service's own trouble.
    pub status: u16,
    /// The response document, or `{"__type": ..., "message": ...}` for an error.
    pub body: Value,
}

/// An error as CodePipeline reports it: its type name (the service model's exception shape), a message and
/// the HTTP status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind}: {message}")]
pub struct ApiError {
    /// The exception's name, e.g. `PipelineNotFoundException`.
    pub kind: &'static str,
    /// What went wrong, for people.
    pub message: String,
    /// The HTTP status.
    pub status: u16,
}

impl ApiError {
    /// A client error (HTTP 400).
    pub fn new(kind: &'static str, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            status: 400,
        }
    }

    /// The error as a response.
    pub fn response(&self) -> ApiResponse {
        ApiResponse {
            status: self.status,
            body: json!({"__type": self.kind, "message": self.message}),
        }
    }
}

impl From<RuntimeError> for ApiError {
    fn from(e: RuntimeError) -> Self {
        let message = e.to_string();
        match e {
            RuntimeError::PipelineNotFound(_) => Self::new("PipelineNotFoundException", message),
            RuntimeError::ExecutionNotFound(_) => {
                Self::new("PipelineExecutionNotFoundException", message)
            }
            RuntimeError::NotFound(_) => Self::new("ResourceNotFoundException", message),
            RuntimeError::InvalidDefinition(problems) => {
                Self::new("InvalidStructureException", problems.to_string())
            }
            RuntimeError::Conflict(_) => Self::new("ConflictException", message),
            RuntimeError::Invalid(_) => Self::new("ValidationException", message),
            RuntimeError::Store(StoreError::Busy(_) | StoreError::ConditionFailed(_)) => Self {
                kind: "ServiceUnavailableException",
                message,
                status: 503,
            },
            RuntimeError::Store(_) | RuntimeError::Orchestrator(_) | RuntimeError::Corrupt(_) => {
                warn!(error = %message, "internal failure answering an API request");
                Self {
                    kind: "InternalFailure",
                    message,
                    status: 500,
                }
            }
        }
    }
}

impl From<WorkerError> for ApiError {
    fn from(e: WorkerError) -> Self {
        let message = e.to_string();
        match e {
            WorkerError::JobNotFound(_) => Self::new("JobNotFoundException", message),
            WorkerError::InvalidNonce(_) => Self::new("InvalidNonceException", message),
            WorkerError::InvalidJobState(_) => Self::new("InvalidJobStateException", message),
            WorkerError::ActionTypeNotFound(_) => Self::new("ActionTypeNotFoundException", message),
            WorkerError::Invalid(_) => Self::new("ValidationException", message),
            WorkerError::OutputVariablesTooLarge(_) => {
                Self::new("OutputVariablesSizeExceededException", message)
            }
            WorkerError::Runtime(e) => e.into(),
        }
    }
}

pub(crate) type ApiResult<T> = Result<T, ApiError>;
