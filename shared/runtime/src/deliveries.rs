//! Webhook deliveries: an execution started once per delivery id. A delivery is recorded with a conditional
//! write (absent only) and an expiry before the start, and the start itself is idempotent on the delivery
//! id (StartPipelineExecution's client request token), so a redelivered or concurrently delivered id, or one
//! delivered again after a crash between the two writes, never starts a second execution.

use serde_json::Value;

use crate::error::RuntimeError;
use crate::ports::{Condition, Item, StoreError, Write};
use crate::records::{keys, DeliveryRecord, ExecutionRecord};
use crate::runtime::{Runtime, StartRequest};

/// How long a delivery id is remembered: longer than GitHub offers redelivery.
pub const DELIVERY_TTL_S: i64 = 7 * 24 * 3600;

/// What a delivery led to.
#[derive(Debug, Clone)]
pub struct Delivered {
    /// The execution the delivery id started (now or the first time it came).
    pub execution: ExecutionRecord,
    /// Whether the id had been seen before.
    pub duplicate: bool,
}

fn delivery_item(pipeline: &str, record: &DeliveryRecord, version: u64, expires_at: i64) -> Item {
    Item {
        pk: keys::webhook(pipeline),
        sk: keys::delivery(&record.delivery_id),
        version,
        data: serde_json::to_value(record).unwrap_or(Value::Null),
        expires_at: Some(expires_at),
    }
}

impl Runtime {
    /// Starts an execution for a webhook delivery, once per `delivery_id`.
    pub async fn start_for_delivery(
        &self,
        pipeline: &str,
        delivery_id: &str,
        request: StartRequest,
    ) -> Result<Delivered, RuntimeError> {
        let now = self.env.now_ms();
        let expires_at = now.div_euclid(1000) + DELIVERY_TTL_S;
        let mut record = DeliveryRecord {
            delivery_id: delivery_id.to_owned(),
            received_ms: now,
            execution_id: None,
        };
        let first = Write::Put(
            delivery_item(pipeline, &record, 1, expires_at),
            Condition::Absent,
        );
        let duplicate = match self.store.transact(vec![first]).await {
            Ok(()) => false,
            Err(StoreError::ConditionFailed(_)) => {
                let seen = self
                    .store
                    .get(&keys::webhook(pipeline), &keys::delivery(delivery_id))
                    .await?
                    .and_then(|i| serde_json::from_value::<DeliveryRecord>(i.data).ok());
                if let Some(id) = seen.and_then(|r| r.execution_id) {
                    return Ok(Delivered {
                        execution: self.execution(&id).await?,
                        duplicate: true,
                    });
                }
                // Seen, but its start is under way elsewhere or was cut short: the idempotent start below
                // gives the same execution either way.
                true
            }
            Err(e) => return Err(e.into()),
        };
        let execution = self
            .start_execution_once(pipeline, request, Some(&format!("webhook-{delivery_id}")))
            .await?;
        record.execution_id = Some(execution.execution_id.clone());
        let done = Write::Put(
            delivery_item(pipeline, &record, 2, expires_at),
            Condition::None,
        );
        self.store.transact(vec![done]).await?;
        Ok(Delivered {
            execution,
            duplicate,
        })
    }
}
