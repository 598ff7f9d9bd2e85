//! Jobs of action attempts: custom actions' jobs are queued for job workers ([`crate::workers`]), others go
//! to the executor; their outcomes are recorded and complete the action's task.

use async_trait::async_trait;
use tracing::{info, warn};

use crate::error::Result;
use crate::jobs::{ExternalExecution, Invocation, Job, JobListener, JobOutcome};
use crate::ports::StoreError;
use crate::records::{keys, ActionRecord, ActionStatus, ArtifactDetail, ArtifactRevision};
use crate::runtime::{put, Runtime};

#[async_trait]
impl JobListener for Runtime {
    async fn job_finished(&self, job: &Job, outcome: JobOutcome) {
        if let Err(e) = self.complete_job(job, outcome).await {
            warn!(job = %job.id, error = %e, "could not record a job's outcome");
        }
    }

    async fn job_progress(&self, job: &Job, external: ExternalExecution) {
        if let Err(e) = self.record_external(job, external).await {
            warn!(job = %job.id, error = %e, "could not record a job's external execution");
        }
    }
}

impl Runtime {
    /// Starts an action attempt's job: custom actions' jobs are queued for job workers, others go to the
    /// executor.
    pub(crate) async fn start_job(&self, job: Job) -> std::result::Result<(), String> {
        if crate::workers::is_worker_type(&job.action_type) {
            return self
                .queue_worker_job(job, None)
                .await
                .map(|_| ())
                .map_err(|e| format!("could not queue the job for workers: {e}"));
        }
        if crate::workers::is_invoked_type(&job.action_type) {
            return self.invoke(job, None).await;
        }
        self.executor.start(job).await
    }

    /// Starts an invoked provider's job (a Lambda function): records the job id it reports with, then has the
    /// executor invoke it.
    pub(crate) async fn invoke(
        &self,
        mut job: Job,
        continuation_token: Option<String>,
    ) -> std::result::Result<(), String> {
        let id = self
            .start_invoked_job(job.clone(), continuation_token.clone())
            .await
            .map_err(|e| format!("could not record the invoked job: {e}"))?;
        job.invocation = Some(Invocation {
            job_id: id,
            continuation_token,
        });
        let started = self.executor.start(job.clone()).await;
        if started.is_err() {
            let _ = self.cancel_worker_job(&job.id).await;
        }
        started
    }

    /// Records what a running job runs as outside Sluice on its action (while the action is in progress).
    pub(crate) async fn record_external(
        &self,
        job: &Job,
        external: ExternalExecution,
    ) -> Result<()> {
        let pk = keys::execution(&job.execution_id);
        let sk = keys::action(&job.stage, &job.action, job.attempt);
        for _ in 0..8 {
            let Some(current) = self.read::<ActionRecord>(&pk, &sk).await? else {
                return Ok(());
            };
            if current.value.status != ActionStatus::InProgress
                || current.value.job_id() != job.id
                || current.value.external.as_ref() == Some(&external)
            {
                return Ok(());
            }
            let mut next = current.value.clone();
            next.external = Some(external.clone());
            next.updated_ms = self.env.now_ms();
            match self
                .store
                .transact(vec![put(
                    pk.clone(),
                    sk.clone(),
                    Some(current.version),
                    &next,
                )?])
                .await
            {
                Ok(()) => return Ok(()),
                Err(StoreError::ConditionFailed(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// Whether an action attempt's job is still running (or, for custom actions, with a worker or queued).
    pub(crate) async fn job_running(&self, job_id: &str) -> bool {
        if self.executor.is_running(job_id).await {
            return true;
        }
        match self.worker_job_live(job_id).await {
            Ok(live) => live,
            Err(e) => {
                warn!(job = job_id, error = %e, "cannot read a worker job; taking it as live");
                true
            }
        }
    }

    /// Cancels an action attempt's job wherever it runs.
    pub(crate) async fn cancel_job(&self, job_id: &str) {
        self.executor.cancel(job_id).await;
        if let Err(e) = self.cancel_worker_job(job_id).await {
            warn!(job = job_id, error = %e, "could not cancel a worker job");
        }
    }

    /// Records a job's outcome and completes its action's task.
    pub async fn complete_job(&self, job: &Job, outcome: JobOutcome) -> Result<()> {
        if job.id.starts_with(crate::rule_executions::RULE_JOB_PREFIX) {
            return self.rule_job_finished(job, outcome).await;
        }
        let pk = keys::execution(&job.execution_id);
        let sk = keys::action(&job.stage, &job.action, job.attempt);
        let Some(current) = self.read::<ActionRecord>(&pk, &sk).await? else {
            warn!(job = %job.id, "a job finished for an action that has no record");
            return Ok(());
        };
        if current.value.status != ActionStatus::InProgress || current.value.job_id() != job.id {
            return Ok(());
        }
        let mut next = current.value.clone();
        next.updated_ms = self.env.now_ms();
        let result = match outcome {
            JobOutcome::Succeeded {
                artifacts,
                variables,
                summary,
                revision,
            } => {
                next.status = ActionStatus::Succeeded;
                next.output_artifacts = artifacts
                    .into_iter()
                    .map(|(name, object)| ArtifactDetail { name, object })
                    .collect();
                next.output_variables = variables;
                next.summary = summary;
                next.revision = revision;
                Ok(())
            }
            JobOutcome::Failed { message } => {
                next.status = ActionStatus::Failed;
                next.error = Some(message.clone());
                Err(message)
            }
        };
        match self
            .store
            .transact(vec![put(pk, sk, Some(current.version), &next)?])
            .await
        {
            Ok(()) => {}
            Err(StoreError::ConditionFailed(_)) => return Ok(()),
            Err(e) => return Err(e.into()),
        }
        if let Some(revision) = next.revision.clone() {
            let action_name = next.action.clone();
            self.update_execution(&job.execution_id, |e| {
                if e.source_revisions
                    .iter()
                    .any(|r| r.action_name == action_name)
                {
                    return false;
                }
                e.source_revisions.push(ArtifactRevision {
                    action_name: action_name.clone(),
                    revision: revision.clone(),
                });
                true
            })
            .await?;
        }
        let execution = self.execution(&job.execution_id).await?;
        self.action_event(
            &execution,
            &next,
            if result.is_ok() {
                "SUCCEEDED"
            } else {
                "FAILED"
            },
        )
        .await;
        info!(execution = %job.execution_id, stage = %job.stage, action = %job.action, ok = result.is_ok(), "action finished");
        self.complete_action(&next, &next.token, result).await;
        Ok(())
    }
}
