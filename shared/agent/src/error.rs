//! Why a job failed: every variant's message is what the pipeline shows people.

use std::io;

use sluice_runtime::ports::ObjectError;

use crate::zip_files::ZipError;

/// Why a job did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// The job's own problem: a failing command, a bad configuration, an unsupported provider.
    #[error("{0}")]
    Failed(String),
    /// Reading or writing local files failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The failure.
        #[source]
        source: io::Error,
    },
    /// An archive could not be built or was refused.
    #[error(transparent)]
    Zip(#[from] ZipError),
    /// The object store failed.
    #[error(transparent)]
    Object(#[from] ObjectError),
}

impl JobError {
    /// A failure described for people.
    pub(crate) fn failed(message: impl Into<String>) -> Self {
        JobError::Failed(message.into())
    }

    /// Wraps an IO error with what was being done.
    pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(io::Error) -> Self {
        let context = context.into();
        move |source| JobError::Io { context, source }
    }
}
