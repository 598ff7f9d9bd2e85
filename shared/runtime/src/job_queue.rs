//! The job queue workers poll: custom and partner actions' jobs queued, handed to pollers under a nonce (and,
//! for partners, a client id), acknowledged, and ended by exactly one result; invoked providers' jobs
//! (Lambda functions) recorded the same way without a queue. The records and their keys are
//! [`crate::workers`]'.

use std::collections::BTreeMap;

use tracing::info;

use crate::jobs::{ExternalExecution, Job, JobOutcome};
use crate::ports::{Condition, Order, StoreError, Write};
use crate::records::keys;
use crate::runtime::Runtime;
use crate::workers::{
    job_key, pointer_key, queue_key, JobPointer, JobSuccess, QueueEntry, Result, WorkerError,
    WorkerJob, WorkerJobStatus, DISPATCH_LEASE_MS, MAX_OUTPUT_VARIABLES_BYTES,
};
use sluice_definition::model::ActionTypeId;
use sluice_definition::providers;

/// The writes that move a job to `next` (from `version`) and drop its queue entry: it is no longer offered.
fn leave_queue(id: &str, version: u64, next: &WorkerJob) -> Result<Vec<Write>> {
    Ok(vec![
        crate::runtime::put(job_key(id), keys::META.into(), Some(version), next)?,
        Write::Delete {
            pk: queue_key(&next.job.action_type),
            sk: next.queue_sk.clone(),
            condition: Condition::None,
        },
    ])
}

impl Runtime {
    /// Queues an action attempt's job for workers. Queuing a job that already has a live worker job does
    /// nothing (a redelivered task).
    pub(crate) async fn queue_worker_job(
        &self,
        job: Job,
        continuation_token: Option<String>,
    ) -> Result<String> {
        let pointer = self
            .read::<JobPointer>(&pointer_key(&job.id), keys::META)
            .await?;
        if continuation_token.is_none() {
            if let Some(p) = &pointer {
                return Ok(p.value.job_id.clone());
            }
        }
        let now = self.env.now_ms();
        let id = self.env.new_id();
        let queue_sk = format!("{now:015}#{id}");
        let record = WorkerJob {
            id: id.clone(),
            status: WorkerJobStatus::Queued,
            nonce: None,
            dispatched_ms: None,
            continuation_token,
            queued_ms: now,
            queue_sk: queue_sk.clone(),
            job,
            invoked: false,
            client_id: None,
        };
        use crate::runtime::put;
        self.store
            .transact(vec![
                put(job_key(&id), keys::META.into(), None, &record)?,
                put(
                    queue_key(&record.job.action_type),
                    queue_sk,
                    None,
                    &QueueEntry { job_id: id.clone() },
                )?,
                put(
                    pointer_key(&record.job.id),
                    keys::META.into(),
                    pointer.map(|p| p.version),
                    &JobPointer { job_id: id.clone() },
                )?,
            ])
            .await?;
        info!(job = %id, action = %record.job.action, provider = %record.job.action_type.provider, "job queued for workers");
        Ok(id)
    }

    /// Records the job an invoked provider (a Lambda function) is about to be invoked with: in progress at once,
    /// never queued for workers; its results come through the job-worker API like a worker's. Returns its id.
    pub(crate) async fn start_invoked_job(
        &self,
        job: Job,
        continuation_token: Option<String>,
    ) -> Result<String> {
        let pointer = self
            .read::<JobPointer>(&pointer_key(&job.id), keys::META)
            .await?;
        let now = self.env.now_ms();
        let id = self.env.new_id();
        let record = WorkerJob {
            id: id.clone(),
            status: WorkerJobStatus::InProgress,
            nonce: None,
            dispatched_ms: Some(now),
            continuation_token,
            queued_ms: now,
            queue_sk: String::new(),
            job,
            invoked: true,
            client_id: None,
        };
        use crate::runtime::put;
        self.store
            .transact(vec![
                put(job_key(&id), keys::META.into(), None, &record)?,
                put(
                    pointer_key(&record.job.id),
                    keys::META.into(),
                    pointer.map(|p| p.version),
                    &JobPointer { job_id: id.clone() },
                )?,
            ])
            .await?;
        info!(job = %id, action = %record.job.action, provider = %record.job.action_type.provider, "job invoked");
        Ok(id)
    }

    /// Whether an action attempt's job still waits for or is with a worker.
    pub(crate) async fn worker_job_live(&self, action_job: &str) -> Result<bool> {
        let Some(p) = self
            .read::<JobPointer>(&pointer_key(action_job), keys::META)
            .await?
        else {
            return Ok(false);
        };
        Ok(self
            .read::<WorkerJob>(&job_key(&p.value.job_id), keys::META)
            .await?
            .is_some_and(|j| !j.value.status.is_final()))
    }

    /// Ends an action attempt's worker job without an outcome (its action was abandoned or failed): later
    /// results from the worker are refused.
    pub(crate) async fn cancel_worker_job(&self, action_job: &str) -> Result<()> {
        let Some(p) = self
            .read::<JobPointer>(&pointer_key(action_job), keys::META)
            .await?
        else {
            return Ok(());
        };
        self.end_worker_job(&p.value.job_id, |_| true).await?;
        Ok(())
    }

    /// Moves a worker job to Failed (when `allowed` says so of its current state) and drops its queue entry.
    /// Returns the job as it was.
    async fn end_worker_job(
        &self,
        id: &str,
        allowed: impl Fn(&WorkerJob) -> bool,
    ) -> Result<Option<WorkerJob>> {
        self.finish_worker_job(id, WorkerJobStatus::Failed, allowed)
            .await
    }

    async fn finish_worker_job(
        &self,
        id: &str,
        status: WorkerJobStatus,
        allowed: impl Fn(&WorkerJob) -> bool,
    ) -> Result<Option<WorkerJob>> {
        for _ in 0..8 {
            let Some(current) = self.read::<WorkerJob>(&job_key(id), keys::META).await? else {
                return Ok(None);
            };
            if current.value.status.is_final() || !allowed(&current.value) {
                return Ok(None);
            }
            let mut next = current.value.clone();
            next.status = status;
            let writes = leave_queue(id, current.version, &next)?;
            match self.store.transact(writes).await {
                Ok(()) => return Ok(Some(current.value)),
                Err(StoreError::ConditionFailed(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(StoreError::Busy("the job kept changing".into()).into())
    }

    /// Hands up to `max` queued jobs of an action type to a poller (PollForJobs). `query` keeps only jobs whose
    /// configuration has these values.
    pub async fn poll_jobs(
        &self,
        action_type: &ActionTypeId,
        max: usize,
        query: &BTreeMap<String, String>,
    ) -> Result<Vec<WorkerJob>> {
        let Some(t) = self.custom_action_type(action_type).await? else {
            return Err(WorkerError::ActionTypeNotFound(format!(
                "action type {action_type} does not exist"
            )));
        };
        for key in query.keys() {
            if !t
                .configuration_properties
                .iter()
                .any(|p| &p.name == key && p.queryable == Some(true))
            {
                return Err(WorkerError::Invalid(format!(
                    "queryParam {key:?} is not a queryable configuration property of {action_type}"
                )));
            }
        }
        self.dispatch_queued(action_type, max, query).await
    }

    /// Hands up to `max` queued jobs of a partner's action type to its poller (PollForThirdPartyJobs), each
    /// with the client id every later third-party call about it must give back.
    pub async fn poll_third_party_jobs(
        &self,
        action_type: &ActionTypeId,
        max: usize,
    ) -> Result<Vec<WorkerJob>> {
        if !providers::is_partner(action_type) {
            return Err(WorkerError::ActionTypeNotFound(format!(
                "action type {action_type} is not a partner action type (owner ThirdParty, a provider that is \
                 not built in); custom action types' jobs are polled with PollForJobs"
            )));
        }
        self.dispatch_queued(action_type, max, &BTreeMap::new())
            .await
    }

    /// Moves up to `max` available jobs of a queue to Dispatched under a fresh nonce (a partner's job also
    /// gets its client id, once).
    async fn dispatch_queued(
        &self,
        action_type: &ActionTypeId,
        max: usize,
        query: &BTreeMap<String, String>,
    ) -> Result<Vec<WorkerJob>> {
        let now = self.env.now_ms();
        let mut out = Vec::new();
        let entries = self
            .query::<QueueEntry>(&queue_key(action_type), "", Order::Ascending)
            .await?;
        for entry in entries {
            if out.len() >= max {
                break;
            }
            let Some(current) = self
                .read::<WorkerJob>(&job_key(&entry.value.job_id), keys::META)
                .await?
            else {
                continue;
            };
            let job = &current.value;
            let available = match job.status {
                WorkerJobStatus::Queued => true,
                WorkerJobStatus::Dispatched => {
                    job.dispatched_ms.unwrap_or(0) + DISPATCH_LEASE_MS <= now
                }
                _ => false,
            };
            let matches = query
                .iter()
                .all(|(k, v)| job.job.configuration.get(k) == Some(v));
            if !available || !matches {
                continue;
            }
            let mut next = job.clone();
            next.status = WorkerJobStatus::Dispatched;
            next.nonce = Some(self.env.new_id());
            next.dispatched_ms = Some(now);
            if next.client_id.is_none() && providers::is_partner(action_type) {
                next.client_id = Some(self.env.new_id());
            }
            match self
                .store
                .transact(vec![crate::runtime::put(
                    job_key(&next.id),
                    keys::META.into(),
                    Some(current.version),
                    &next,
                )?])
                .await
            {
                Ok(()) => out.push(next),
                // Another poller took it.
                Err(StoreError::ConditionFailed(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Ok(out)
    }

    /// A worker job by id.
    pub async fn worker_job(&self, id: &str) -> Result<WorkerJob> {
        self.read::<WorkerJob>(&job_key(id), keys::META)
            .await?
            .map(|v| v.value)
            .ok_or_else(|| WorkerError::JobNotFound(id.to_owned()))
    }

    /// Confirms a worker took a job (AcknowledgeJob); returns its status.
    pub async fn acknowledge_job(&self, id: &str, nonce: &str) -> Result<WorkerJobStatus> {
        for _ in 0..8 {
            let Some(current) = self.read::<WorkerJob>(&job_key(id), keys::META).await? else {
                return Err(WorkerError::JobNotFound(id.to_owned()));
            };
            if current.value.nonce.as_deref() != Some(nonce) {
                return Err(WorkerError::InvalidNonce(id.to_owned()));
            }
            if current.value.status != WorkerJobStatus::Dispatched {
                return Ok(current.value.status);
            }
            let mut next = current.value.clone();
            next.status = WorkerJobStatus::InProgress;
            let writes = leave_queue(id, current.version, &next)?;
            match self.store.transact(writes).await {
                Ok(()) => return Ok(WorkerJobStatus::InProgress),
                Err(StoreError::ConditionFailed(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(StoreError::Busy("the job kept changing".into()).into())
    }

    /// A worker's success (PutJobSuccessResult): continues the action with a new job, or completes it with
    /// the output artifacts the worker uploaded and its output variables.
    pub async fn put_job_success(&self, id: &str, result: JobSuccess) -> Result<()> {
        let size: usize = result
            .output_variables
            .iter()
            .map(|(k, v)| k.len() + v.len())
            .sum();
        if size > MAX_OUTPUT_VARIABLES_BYTES {
            return Err(WorkerError::OutputVariablesTooLarge(format!(
                "output variables take {size} bytes; at most {MAX_OUTPUT_VARIABLES_BYTES} are allowed"
            )));
        }
        let job = self
            .claim_for_result(id, WorkerJobStatus::Succeeded)
            .await?;
        if let Some(external_id) = result.external_id.clone() {
            let external = ExternalExecution {
                id: external_id,
                url: None,
                summary: result.summary.clone(),
            };
            self.record_external(&job.job, external).await?;
        }
        if let Some(token) = result.continuation_token {
            if job.invoked {
                // The function is invoked again with the token, as CodePipeline does.
                if let Err(message) = self.invoke(job.job.clone(), Some(token)).await {
                    self.complete_job(&job.job, JobOutcome::Failed { message })
                        .await?;
                }
                info!(job = %id, "invoked job continued");
                return Ok(());
            }
            let next = self.queue_worker_job(job.job, Some(token)).await?;
            info!(job = %id, next = %next, "job continued");
            return Ok(());
        }
        // Every output artifact must be in place: a success without them is not taken as one. An invoked job's
        // executor knows where they were staged.
        let mut artifacts = BTreeMap::new();
        let mut missing = Vec::new();
        let collected = if job.invoked {
            self.executor.collect_outputs(&job.job).await
        } else {
            None
        };
        match collected {
            Some(Ok(found)) => artifacts = found,
            Some(Err(why)) => missing.push(why),
            None => {
                for o in &job.job.outputs {
                    match self.objects.head(&o.bucket, &o.key).await {
                        Ok(info) => {
                            artifacts.insert(o.name.clone(), info);
                        }
                        Err(_) => missing.push(format!("{} (s3://{}/{})", o.name, o.bucket, o.key)),
                    }
                }
            }
        }
        let outcome = if missing.is_empty() {
            JobOutcome::Succeeded {
                artifacts,
                variables: result.output_variables,
                summary: result.summary,
                revision: result.revision,
            }
        } else {
            JobOutcome::Failed {
                message: format!(
                    "the job worker reported success without uploading output artifact {}",
                    missing.join(", ")
                ),
            }
        };
        self.complete_job(&job.job, outcome).await?;
        Ok(())
    }

    /// A worker's failure (PutJobFailureResult).
    pub async fn put_job_failure(&self, id: &str, kind: &str, message: &str) -> Result<()> {
        let job = self.claim_for_result(id, WorkerJobStatus::Failed).await?;
        self.complete_job(
            &job.job,
            JobOutcome::Failed {
                message: format!("{kind}: {message}"),
            },
        )
        .await?;
        Ok(())
    }

    /// Moves a dispatched or running job to its final state so exactly one result is taken.
    async fn claim_for_result(&self, id: &str, status: WorkerJobStatus) -> Result<WorkerJob> {
        let current = self.worker_job(id).await?;
        if current.status == WorkerJobStatus::Queued || current.status.is_final() {
            return Err(WorkerError::InvalidJobState(format!(
                "job {id} is {:?}: a result is taken only for a dispatched or in-progress job",
                current.status
            )));
        }
        self.finish_worker_job(id, status, |j| {
            matches!(
                j.status,
                WorkerJobStatus::Dispatched | WorkerJobStatus::InProgress
            )
        })
        .await?
        .ok_or_else(|| WorkerError::InvalidJobState(format!("job {id} already has a result")))
    }
}
