//! What every operation shares: the runtime and the caller, the errors for missing pipelines, executions and
//! stages, ARNs, and the conversions of records into the API's shapes.

use sluice_runtime::ports::ObjectInfo;
use sluice_runtime::records::{
    ActionRecord, ActionStatus, ArtifactDetail, ExecutionRecord, PipelineHead, PipelineRecord,
};
use sluice_runtime::{Runtime, RuntimeError};

use crate::codepipeline::errors::*;
use crate::codepipeline::types::executions::*;

pub(crate) struct Api<'a> {
    /// The runtime the operations act on.
    pub(crate) runtime: &'a Runtime,
    /// Who is asking (an access key id, a user name): whom approvals are recorded as.
    pub(crate) caller: &'a str,
    /// The caller's groups, when the transport knows them (approval rules may name groups).
    pub(crate) groups: &'a [String],
}

/// Epoch seconds, as the SDKs read CodePipeline's timestamps.
pub(crate) fn seconds(ms: i64) -> f64 {
    ms as f64 / 1000.0
}

pub(crate) fn stage_not_found(name: &str, stage: &str) -> ApiError {
    ApiError::new(
        "StageNotFoundException",
        format!("Pipeline {name} has no stage {stage}"),
    )
}

pub(crate) fn artifact_out(a: &ArtifactDetail) -> ArtifactDetailOut {
    let ObjectInfo { bucket, key, .. } = &a.object;
    ArtifactDetailOut {
        name: a.name.clone(),
        s3location: S3Location {
            bucket: bucket.clone(),
            key: key.clone(),
        },
    }
}

pub(crate) fn error_details(a: &ActionRecord) -> Option<ErrorDetails> {
    (a.status == ActionStatus::Failed).then(|| ErrorDetails {
        code: "JobFailed".to_owned(),
        message: a.error.clone().unwrap_or_else(|| "failed".to_owned()),
    })
}

impl Api<'_> {
    pub(crate) fn pipeline_not_found(&self, name: &str) -> ApiError {
        ApiError::new(
            "PipelineNotFoundException",
            format!(
                "Account '{}' does not have a pipeline with name '{name}'",
                self.runtime.config.origin.account
            ),
        )
    }

    pub(crate) fn execution_not_found(name: &str, id: &str) -> ApiError {
        ApiError::new(
            "PipelineExecutionNotFoundException",
            format!("Pipeline execution ID {id} does not exist in the pipeline {name}"),
        )
    }

    /// The pipeline's head and newest version, or PipelineNotFoundException.
    pub(crate) async fn current(&self, name: &str) -> ApiResult<(PipelineHead, PipelineRecord)> {
        let head = self
            .runtime
            .pipeline_head(name)
            .await?
            .ok_or_else(|| self.pipeline_not_found(name))?;
        let record = self.runtime.pipeline(name, Some(head.version)).await?;
        Ok((head, record))
    }

    /// An execution of the named pipeline (which must exist), or PipelineExecutionNotFoundException; also
    /// for an execution of a pipeline of that name deleted before this one was created.
    pub(crate) async fn execution_of(&self, name: &str, id: &str) -> ApiResult<ExecutionRecord> {
        let (head, _) = self.current(name).await?;
        match self.runtime.execution(id).await {
            Ok(e) if e.pipeline == name && e.serial() > head.base => Ok(e),
            Ok(_) | Err(RuntimeError::ExecutionNotFound(_)) => {
                Err(Self::execution_not_found(name, id))
            }
            Err(e) => Err(e.into()),
        }
    }

    pub(crate) fn arn(&self, name: &str) -> String {
        let origin = &self.runtime.config.origin;
        format!(
            "arn:aws:codepipeline:{}:{}:{name}",
            origin.region, origin.account
        )
    }
}
