//! The partner job operations: PollForThirdPartyJobs, GetThirdPartyJobDetails, AcknowledgeThirdPartyJob,
//! PutThirdPartyJobSuccessResult and PutThirdPartyJobFailureResult.
//!
//! A partner's jobs are queued like custom actions' ([`sluice_runtime::job_queue`]). A poll answers each job's
//! id and a client id; every later call about the job gives that client id back as its `clientToken`, and a
//! call with another token is refused (InvalidClientTokenException) before anything is read or changed. The
//! details carry the nonce to acknowledge with, as a custom job's poll does.

use sluice_runtime::records::SourceRevision;
use sluice_runtime::workers::{JobSuccess, WorkerError, WorkerJob};

use crate::codepipeline::context::*;
use crate::codepipeline::errors::*;
use crate::codepipeline::types::pipelines::*;
use crate::codepipeline::types::third_party::*;

impl Api<'_> {
    /// A partner job, once its client token is checked.
    async fn third_party_job(&self, id: &str, client_token: &str) -> ApiResult<WorkerJob> {
        let job = self.runtime.worker_job(id).await?;
        let Some(client_id) = &job.client_id else {
            // A custom action's job, or a partner job no poll has handed out yet.
            return Err(WorkerError::JobNotFound(id.to_owned()).into());
        };
        if client_id != client_token {
            return Err(ApiError::new(
                "InvalidClientTokenException",
                format!("the client token does not match job {id}'s client id"),
            ));
        }
        Ok(job)
    }

    pub(crate) async fn poll_for_third_party_jobs(
        &self,
        input: PollForThirdPartyJobsInput,
    ) -> ApiResult<PollForThirdPartyJobsOutput> {
        let jobs = self
            .runtime
            .poll_third_party_jobs(&input.action_type_id, input.max_batch_size.unwrap_or(1))
            .await?;
        Ok(PollForThirdPartyJobsOutput {
            jobs: jobs
                .into_iter()
                .filter_map(|j| {
                    Some(ThirdPartyJob {
                        client_id: j.client_id?,
                        job_id: j.id,
                    })
                })
                .collect(),
        })
    }

    pub(crate) async fn get_third_party_job_details(
        &self,
        input: GetThirdPartyJobDetailsInput,
    ) -> ApiResult<GetThirdPartyJobDetailsOutput> {
        let job = self
            .third_party_job(&input.job_id, &input.client_token)
            .await?;
        let out = self.job_out(&job, true);
        Ok(GetThirdPartyJobDetailsOutput {
            job_details: ThirdPartyJobDetails {
                id: out.id,
                data: out.data,
                nonce: out.nonce,
            },
        })
    }

    pub(crate) async fn acknowledge_third_party_job(
        &self,
        input: AcknowledgeThirdPartyJobInput,
    ) -> ApiResult<AcknowledgeThirdPartyJobOutput> {
        self.third_party_job(&input.job_id, &input.client_token)
            .await?;
        let status = self
            .runtime
            .acknowledge_job(&input.job_id, &input.nonce)
            .await?;
        Ok(AcknowledgeThirdPartyJobOutput { status })
    }

    pub(crate) async fn put_third_party_job_success(
        &self,
        input: PutThirdPartyJobSuccessInput,
    ) -> ApiResult<Empty> {
        self.third_party_job(&input.job_id, &input.client_token)
            .await?;
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
                    output_variables: Default::default(),
                    external_id: details.external_execution_id,
                },
            )
            .await?;
        Ok(Empty {})
    }

    pub(crate) async fn put_third_party_job_failure(
        &self,
        input: PutThirdPartyJobFailureInput,
    ) -> ApiResult<Empty> {
        self.third_party_job(&input.job_id, &input.client_token)
            .await?;
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
