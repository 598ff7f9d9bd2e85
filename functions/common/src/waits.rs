//! The AWS providers' work in progress in the AWS stack (a stack update, a deployment, an execution), kept in the
//! store while no invocation waits on it. Each waiting job has its record, a pointer from every id its service's
//! events carry, and an entry in the due list. A service's state-change event (CloudFormation, ECS, CodeDeploy,
//! Step Functions; template rule to the dispatch function) makes the job be looked at at once; the dispatch
//! function's one-minute `{"sluice": "check-waiting"}` looks at every job that is due, so a lost event only
//! delays an outcome. Looking twice at a job that already ended finds no record: a repeated, late or foreign
//! event changes nothing.
//!
//! | pk | sk | item |
//! |---|---|---|
//! | `AWS_WAIT#<job id>` | `META` | [`WaitRecord`] |
//! | `AWS_WAIT_ID#<external id>` | `META` | the job id |
//! | `AWS_WAIT_DUE` | `<due ms:015>#<job id>` | the job id |

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sluice_runtime::jobs::{ExternalExecution, Job};
use sluice_runtime::ports::{Condition, Item, ItemStore, Order, StoreError, Write};

/// How long a waiting record is kept at most (longer than any provider's timeout).
const RECORD_DAYS: i64 = 8;

const META: &str = "META";
const DUE: &str = "AWS_WAIT_DUE";

fn record_pk(job_id: &str) -> String {
    format!("AWS_WAIT#{job_id}")
}

fn id_pk(external: &str) -> String {
    format!("AWS_WAIT_ID#{external}")
}

fn due_sk(due_ms: i64, job_id: &str) -> String {
    format!("{due_ms:015}#{job_id}")
}

/// A job waiting on an AWS service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WaitRecord {
    /// The job.
    pub job: Job,
    /// What its provider needs to look again.
    pub state: Value,
    /// What it runs as.
    pub external: ExternalExecution,
    /// When it is due to be looked at.
    pub due_ms: i64,
    /// The last wait, for backoff.
    pub wait_ms: i64,
    /// The ids its events carry.
    pub ids: Vec<String>,
}

/// The waiting jobs' records.
#[derive(Clone)]
pub struct Waits {
    store: Arc<dyn ItemStore>,
}

fn expires() -> i64 {
    now_ms() / 1000 + RECORD_DAYS * 86_400
}

/// Now, in milliseconds since the epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn item(pk: String, sk: String, data: Value) -> Item {
    Item {
        pk,
        sk,
        version: 1,
        data,
        expires_at: Some(expires()),
    }
}

impl Waits {
    /// Records kept in `store`.
    pub fn new(store: Arc<dyn ItemStore>) -> Self {
        Self { store }
    }

    /// The record of a waiting job, if it waits.
    pub async fn get(&self, job_id: &str) -> Result<Option<WaitRecord>, String> {
        let Some(item) = self
            .store
            .get(&record_pk(job_id), META)
            .await
            .map_err(|e| e.to_string())?
        else {
            return Ok(None);
        };
        serde_json::from_value(item.data)
            .map(Some)
            .map_err(|e| format!("wait record of {job_id}: {e}"))
    }

    /// Records (or moves on) a waiting job, due after `after`, replacing its due entry and pointers.
    pub async fn put(
        &self,
        job: &Job,
        state: Value,
        external: ExternalExecution,
        ids: Vec<String>,
        after: Duration,
    ) -> Result<WaitRecord, String> {
        let previous = self.get(&job.id).await?;
        let wait_ms = if after.is_zero() {
            let last = previous.as_ref().map_or(0, |p| p.wait_ms);
            backoff_ms(last)
        } else {
            i64::try_from(after.as_millis()).unwrap_or(i64::MAX)
        };
        let record = WaitRecord {
            job: job.clone(),
            state,
            external,
            due_ms: now_ms() + wait_ms,
            wait_ms,
            ids,
        };
        let mut writes = vec![Write::Put(
            item(
                record_pk(&job.id),
                META.into(),
                serde_json::to_value(&record).map_err(|e| e.to_string())?,
            ),
            Condition::None,
        )];
        if let Some(p) = &previous {
            writes.push(Write::Delete {
                pk: DUE.into(),
                sk: due_sk(p.due_ms, &job.id),
                condition: Condition::None,
            });
        }
        writes.push(Write::Put(
            item(
                DUE.into(),
                due_sk(record.due_ms, &job.id),
                json!({"jobId": job.id}),
            ),
            Condition::None,
        ));
        for id in &record.ids {
            if previous.as_ref().is_some_and(|p| p.ids.contains(id)) {
                continue;
            }
            writes.push(Write::Put(
                item(id_pk(id), META.into(), json!({"jobId": job.id})),
                Condition::None,
            ));
        }
        self.store
            .transact(writes)
            .await
            .map_err(|e| format!("could not record the waiting job: {e}"))?;
        Ok(record)
    }

    /// Forgets a job that stopped waiting (ended, or cancelled).
    pub async fn forget(&self, job_id: &str) -> Result<(), String> {
        let Some(record) = self.get(job_id).await? else {
            return Ok(());
        };
        let mut writes = vec![
            Write::Delete {
                pk: record_pk(job_id),
                sk: META.into(),
                condition: Condition::None,
            },
            Write::Delete {
                pk: DUE.into(),
                sk: due_sk(record.due_ms, job_id),
                condition: Condition::None,
            },
        ];
        for id in &record.ids {
            writes.push(Write::Delete {
                pk: id_pk(id),
                sk: META.into(),
                condition: Condition::None,
            });
        }
        match self.store.transact(writes).await {
            Ok(()) | Err(StoreError::ConditionFailed(_)) => Ok(()),
            Err(e) => Err(e.to_string()),
        }
    }

    /// The job waiting on the work an event names, if any.
    pub async fn job_of(&self, external: &str) -> Result<Option<String>, String> {
        let item = self
            .store
            .get(&id_pk(external), META)
            .await
            .map_err(|e| e.to_string())?;
        Ok(item.and_then(|i| i.data["jobId"].as_str().map(str::to_owned)))
    }

    /// Jobs due to be looked at by `now`, oldest first, at most `limit`.
    pub async fn due(&self, now: i64, limit: usize) -> Result<Vec<String>, String> {
        let items = self
            .store
            .query(DUE, "", Order::Ascending, limit, None)
            .await
            .map_err(|e| e.to_string())?;
        Ok(items
            .into_iter()
            .take_while(|i| {
                i.sk.split('#')
                    .next()
                    .and_then(|t| t.parse::<i64>().ok())
                    .is_some_and(|t| t <= now)
            })
            .filter_map(|i| i.data["jobId"].as_str().map(str::to_owned))
            .collect())
    }
}

/// The next wait: from 5 seconds, growing by half, at most a minute (the check-waiting schedule's period).
pub fn backoff_ms(last: i64) -> i64 {
    if last <= 0 {
        5_000
    } else {
        (last + last / 2).min(60_000)
    }
}

/// The ids an AWS service's state-change event carries that a waiting job may be known by.
pub fn event_ids(event: &Value) -> Vec<String> {
    let d = &event["detail"];
    let mut ids: Vec<String> = ["stack-id", "deploymentId", "executionArn"]
        .iter()
        .filter_map(|k| d[*k].as_str().map(str::to_owned))
        .collect();
    for r in event["resources"].as_array().into_iter().flatten() {
        if let Some(r) = r.as_str() {
            ids.push(r.to_owned());
        }
    }
    ids
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_name_the_work_they_are_about() {
        let cfn = json!({"source": "aws.cloudformation", "detail": {"stack-id": "arn:aws:cloudformation:us-east-1:1:stack/s/x", "status-details": {"status": "CREATE_COMPLETE"}}});
        assert_eq!(
            event_ids(&cfn),
            ["arn:aws:cloudformation:us-east-1:1:stack/s/x"]
        );
        let ecs = json!({"source": "aws.ecs", "resources": ["arn:aws:ecs:us-east-1:1:service/c/s"], "detail": {"deploymentId": "ecs-svc/123", "eventName": "SERVICE_DEPLOYMENT_COMPLETED"}});
        assert_eq!(
            event_ids(&ecs),
            ["ecs-svc/123", "arn:aws:ecs:us-east-1:1:service/c/s"]
        );
    }

    #[test]
    fn waits_back_off_to_a_minute() {
        let mut w = 0;
        let mut seen = Vec::new();
        for _ in 0..7 {
            w = backoff_ms(w);
            seen.push(w);
        }
        assert_eq!(seen, [5000, 7500, 11250, 16875, 25312, 37968, 56952]);
        assert_eq!(backoff_ms(56_952), 60_000);
    }
}
