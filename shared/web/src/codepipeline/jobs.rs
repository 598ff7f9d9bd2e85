//! The job worker operations: PollForJobs, AcknowledgeJob, GetJobDetails, PutJobSuccessResult and
//! PutJobFailureResult.

use sluice_runtime::records::SourceRevision;

use crate::codepipeline::context::*;
use crate::codepipeline::errors::*;
use crate::codepipeline::types::pipelines::*;
use crate::codepipeline::types::workers::*;
use sluice_runtime::workers::{JobSuccess, WorkerJob};

impl Api<'_> {
    /// The job as a worker sees it.
    pub(crate) fn job_out(&self, job: &WorkerJob, with_nonce: bool) -> JobOut {
        let j = &job.job;
        let artifact =
            |name: &str, bucket: &str, key: &str, revision: Option<String>| JobArtifact {
                name: name.to_owned(),
                revision,
                location: ArtifactLocation {
                    kind: "S3",
                    s3_location: S3ArtifactLocation {
                        bucket_name: bucket.to_owned(),
                        object_key: key.to_owned(),
                    },
                },
            };
        JobOut {
            id: job.id.clone(),
            nonce: if with_nonce { job.nonce.clone() } else { None },
            account_id: self.runtime.config.origin.account.clone(),
            data: JobData {
                action_type_id: j.action_type.clone(),
                action_configuration: ActionConfiguration {
                    configuration: j.configuration.clone(),
                },
                pipeline_context: PipelineContext {
                    pipeline_name: j.pipeline.clone(),
                    stage: Named {
                        name: j.stage.clone(),
                    },
                    action: ActionContext {
                        name: j.action.clone(),
                        action_execution_id: j.id.clone(),
                    },
                    pipeline_arn: self.arn(&j.pipeline),
                    pipeline_execution_id: j.execution_id.clone(),
                },
                input_artifacts: j
                    .inputs
                    .iter()
                    .map(|i| {
                        artifact(
                            &i.name,
                            &i.object.bucket,
                            &i.object.key,
                            Some(i.object.version_id.clone()).filter(|v| !v.is_empty()),
                        )
                    })
                    .collect(),
                output_artifacts: j
                    .outputs
                    .iter()
                    .map(|o| artifact(&o.name, &o.bucket, &o.key, None))
                    .collect(),
                continuation_token: job.continuation_token.clone(),
            },
        }
    }

    pub(crate) async fn poll_for_jobs(
        &self,
        input: PollForJobsInput,
    ) -> ApiResult<PollForJobsOutput> {
        let jobs = self
            .runtime
            .poll_jobs(
                &input.action_type_id,
                input.max_batch_size.unwrap_or(1),
                &input.query_param.unwrap_or_default(),
            )
            .await?;
        Ok(PollForJobsOutput {
            jobs: jobs.iter().map(|j| self.job_out(j, true)).collect(),
        })
    }

    pub(crate) async fn acknowledge_job(
        &self,
        input: AcknowledgeJobInput,
    ) -> ApiResult<AcknowledgeJobOutput> {
        let status = self
            .runtime
            .acknowledge_job(&input.job_id, &input.nonce)
            .await?;
        Ok(AcknowledgeJobOutput { status })
    }

    pub(crate) async fn get_job_details(
        &self,
        input: GetJobDetailsInput,
    ) -> ApiResult<GetJobDetailsOutput> {
        let job = self.runtime.worker_job(&input.job_id).await?;
        Ok(GetJobDetailsOutput {
            job_details: self.job_out(&job, false),
        })
    }

    pub(crate) async fn put_job_success(&self, input: PutJobSuccessInput) -> ApiResult<Empty> {
        let details = input.execution_details.unwrap_or_default();
        self.runtime
            .put_job_success(
                &input.job_id,
                JobSuccess {
                    revision: input.current_revision.map(|r| SourceRevision {
                        revision_id: r.revision,
                        revision_summary: r.revision_summary,
                        revision_url: None,
                    }),
                    continuation_token: input.continuation_token,
                    summary: details.summary,
                    output_variables: input.output_variables.unwrap_or_default(),
                    external_id: details.external_execution_id,
                },
            )
            .await?;
        Ok(Empty {})
    }

    pub(crate) async fn put_job_failure(&self, input: PutJobFailureInput) -> ApiResult<Empty> {
        let d = input.failure_details;
        let message = match d.external_execution_id {
            Some(x) => format!("{} (external execution {x})", d.message),
            None => d.message,
        };
        self.runtime
            .put_job_failure(&input.job_id, &d.kind, &message)
            .await?;
        Ok(Empty {})
    }
}
