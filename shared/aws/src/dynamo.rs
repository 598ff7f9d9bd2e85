//! The item store on DynamoDB: one table keyed by `pk` (hash) and `sk` (range), items holding `version` (N),
//! `data` (S, JSON text) and an optional `expires_at` (N, the table's TTL attribute).
//!
//! A transaction of one write is sent as a conditional PutItem or DeleteItem: the same guarantee for a single
//! item, at half the write request units of TransactWriteItems.
//!
//! DynamoDB deletes expired items lazily (within days), so expiry is also enforced here, as the SQLite store
//! does: an item is alive while `now < expires_at`, and expired items are absent for reads and conditions.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::delete_item::DeleteItemError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, Delete, KeySchemaElement, KeyType, Put,
    ScalarAttributeType, TableStatus, TimeToLiveSpecification, TransactWriteItem,
};
use aws_sdk_dynamodb::Client;
use sluice_runtime::ports::{Condition, Item, ItemStore, Order, StoreError, Write};

/// DynamoDB's limit on the writes of one transaction.
const MAX_TRANSACTION_WRITES: usize = 100;

type Attributes = HashMap<String, AttributeValue>;

/// [`ItemStore`] over one DynamoDB table.
#[derive(Debug, Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
}

impl DynamoStore {
    /// A store over an existing `table`.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// Creates the table in the store's shape (on-demand billing, `expires_at` as its TTL attribute) and waits
    /// until it is active. For tests and development; deployments create it from the template.
    pub async fn create_table(client: &Client, name: &str) -> Result<(), StoreError> {
        let attribute = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(other)
        };
        let key = |name: &str, kind: KeyType| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(kind)
                .build()
                .map_err(other)
        };
        client
            .create_table()
            .table_name(name)
            .attribute_definitions(attribute("pk")?)
            .attribute_definitions(attribute("sk")?)
            .key_schema(key("pk", KeyType::Hash)?)
            .key_schema(key("sk", KeyType::Range)?)
            .billing_mode(BillingMode::PayPerRequest)
            .send()
            .await
            .map_err(|e| classify(&e))?;
        for _ in 0..120 {
            let described = client
                .describe_table()
                .table_name(name)
                .send()
                .await
                .map_err(|e| classify(&e))?;
            if described.table().and_then(|t| t.table_status()) == Some(&TableStatus::Active) {
                let ttl = TimeToLiveSpecification::builder()
                    .attribute_name("expires_at")
                    .enabled(true)
                    .build()
                    .map_err(other)?;
                client
                    .update_time_to_live()
                    .table_name(name)
                    .time_to_live_specification(ttl)
                    .send()
                    .await
                    .map_err(|e| classify(&e))?;
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        Err(StoreError::Other(format!(
            "table {name} never became active"
        )))
    }

    fn key(pk: &str, sk: &str) -> Attributes {
        HashMap::from([
            ("pk".to_owned(), AttributeValue::S(pk.to_owned())),
            ("sk".to_owned(), AttributeValue::S(sk.to_owned())),
        ])
    }

    /// The condition expression and its values for `condition` at time `now`; `None` for no condition.
    fn condition(condition: Condition, now: i64) -> Option<(String, Attributes)> {
        let now = (":now".to_owned(), AttributeValue::N(now.to_string()));
        match condition {
            Condition::None => None,
            Condition::Absent => Some((
                "attribute_not_exists(pk) OR expires_at <= :now".to_owned(),
                HashMap::from([now]),
            )),
            Condition::Version(v) => Some((
                "version = :v AND (attribute_not_exists(expires_at) OR expires_at > :now)"
                    .to_owned(),
                HashMap::from([now, (":v".to_owned(), AttributeValue::N(v.to_string()))]),
            )),
        }
    }

    /// One write alone: a conditional PutItem or DeleteItem.
    async fn write_one(&self, write: Write, now: i64) -> Result<(), StoreError> {
        match write {
            Write::Put(item, condition) => {
                let key = format!("{}/{}", item.pk, item.sk);
                let (expression, values) = Self::condition(condition, now).unzip();
                self.client
                    .put_item()
                    .table_name(&self.table)
                    .set_item(Some(to_attributes(&item)?))
                    .set_condition_expression(expression)
                    .set_expression_attribute_values(values)
                    .send()
                    .await
                    .map_err(|e| match e.as_service_error() {
                        Some(PutItemError::ConditionalCheckFailedException(_)) => {
                            StoreError::ConditionFailed(format!("condition failed on {key}"))
                        }
                        _ => classify(&e),
                    })?;
            }
            Write::Delete { pk, sk, condition } => {
                let (expression, values) = Self::condition(condition, now).unzip();
                self.client
                    .delete_item()
                    .table_name(&self.table)
                    .set_key(Some(Self::key(&pk, &sk)))
                    .set_condition_expression(expression)
                    .set_expression_attribute_values(values)
                    .send()
                    .await
                    .map_err(|e| match e.as_service_error() {
                        Some(DeleteItemError::ConditionalCheckFailedException(_)) => {
                            StoreError::ConditionFailed(format!("condition failed on {pk}/{sk}"))
                        }
                        _ => classify(&e),
                    })?;
            }
        }
        Ok(())
    }

    fn transact_item(&self, write: Write, now: i64) -> Result<TransactWriteItem, StoreError> {
        match write {
            Write::Put(item, condition) => {
                let (expression, values) = Self::condition(condition, now).unzip();
                let put = Put::builder()
                    .table_name(&self.table)
                    .set_item(Some(to_attributes(&item)?))
                    .set_condition_expression(expression)
                    .set_expression_attribute_values(values)
                    .build()
                    .map_err(other)?;
                Ok(TransactWriteItem::builder().put(put).build())
            }
            Write::Delete { pk, sk, condition } => {
                let (expression, values) = Self::condition(condition, now).unzip();
                let delete = Delete::builder()
                    .table_name(&self.table)
                    .set_key(Some(Self::key(&pk, &sk)))
                    .set_condition_expression(expression)
                    .set_expression_attribute_values(values)
                    .build()
                    .map_err(other)?;
                Ok(TransactWriteItem::builder().delete(delete).build())
            }
        }
    }
}

#[async_trait]
impl ItemStore for DynamoStore {
    async fn get(&self, pk: &str, sk: &str) -> Result<Option<Item>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(pk, sk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| classify(&e))?;
        let now = now();
        match output.item() {
            Some(attributes) => Ok(Some(from_attributes(attributes)?).filter(|i| alive(i, now))),
            None => Ok(None),
        }
    }

    async fn query(
        &self,
        pk: &str,
        prefix: &str,
        order: Order,
        limit: usize,
        after: Option<&str>,
    ) -> Result<Vec<Item>, StoreError> {
        let ascending = order == Order::Ascending;
        // DynamoDB refuses a start key outside the key condition's range; such a key is before or after every
        // key with the prefix (they all sit between `prefix` and the first string past it).
        let mut start = match after {
            Some(after) if !after.starts_with(prefix) => {
                if (after < prefix) == ascending {
                    None // every prefixed key comes after it in this order
                } else {
                    return Ok(Vec::new()); // every prefixed key came before it
                }
            }
            Some(after) => Some(Self::key(pk, after)),
            None => None,
        };
        let now = now();
        let mut items = Vec::new();
        while items.len() < limit {
            let page = i32::try_from(limit - items.len()).unwrap_or(i32::MAX);
            // DynamoDB refuses an empty string in a key condition: no prefix means the whole partition.
            let mut request = self
                .client
                .query()
                .table_name(&self.table)
                .expression_attribute_values(":pk", AttributeValue::S(pk.to_owned()));
            request = if prefix.is_empty() {
                request.key_condition_expression("pk = :pk")
            } else {
                request
                    .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                    .expression_attribute_values(":prefix", AttributeValue::S(prefix.to_owned()))
            };
            let output = request
                .scan_index_forward(ascending)
                .consistent_read(true)
                .limit(page)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| classify(&e))?;
            for attributes in output.items() {
                let item = from_attributes(attributes)?;
                if alive(&item, now) {
                    items.push(item);
                }
            }
            match output.last_evaluated_key() {
                Some(key) if !key.is_empty() => start = Some(key.clone()),
                _ => break,
            }
        }
        items.truncate(limit);
        Ok(items)
    }

    async fn transact(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        if writes.is_empty() {
            return Ok(());
        }
        if writes.len() > MAX_TRANSACTION_WRITES {
            return Err(StoreError::Other(format!(
                "a transaction holds at most {MAX_TRANSACTION_WRITES} writes, got {}",
                writes.len()
            )));
        }
        let now = now();
        if writes.len() == 1 {
            if let Some(write) = writes.into_iter().next() {
                return self.write_one(write, now).await;
            }
            return Ok(());
        }
        let keys: Vec<String> = writes
            .iter()
            .map(|w| match w {
                Write::Put(item, _) => format!("{}/{}", item.pk, item.sk),
                Write::Delete { pk, sk, .. } => format!("{pk}/{sk}"),
            })
            .collect();
        let items = writes
            .into_iter()
            .map(|w| self.transact_item(w, now))
            .collect::<Result<Vec<_>, _>>()?;
        self.client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
            .map_err(|e| transact_error(&e, &keys))?;
        Ok(())
    }
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

fn alive(item: &Item, now: i64) -> bool {
    item.expires_at.is_none_or(|at| now < at)
}

fn other(e: impl std::fmt::Display) -> StoreError {
    StoreError::Other(e.to_string())
}

fn to_attributes(item: &Item) -> Result<Attributes, StoreError> {
    let data = serde_json::to_string(&item.data).map_err(other)?;
    let mut attributes = DynamoStore::key(&item.pk, &item.sk);
    attributes.insert(
        "version".to_owned(),
        AttributeValue::N(item.version.to_string()),
    );
    attributes.insert("data".to_owned(), AttributeValue::S(data));
    if let Some(at) = item.expires_at {
        attributes.insert("expires_at".to_owned(), AttributeValue::N(at.to_string()));
    }
    Ok(attributes)
}

fn from_attributes(attributes: &Attributes) -> Result<Item, StoreError> {
    let malformed = |name: &str| StoreError::Other(format!("item attribute {name} is malformed"));
    let string = |name: &str| {
        attributes
            .get(name)
            .and_then(|v| v.as_s().ok())
            .ok_or_else(|| malformed(name))
    };
    let number = |name: &str| attributes.get(name).and_then(|v| v.as_n().ok());
    let version = number("version")
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| malformed("version"))?;
    let expires_at = match number("expires_at") {
        Some(n) => Some(n.parse().map_err(|_| malformed("expires_at"))?),
        None => None,
    };
    Ok(Item {
        pk: string("pk")?.clone(),
        sk: string("sk")?.clone(),
        version,
        data: serde_json::from_str(string("data")?).map_err(|_| malformed("data"))?,
        expires_at,
    })
}

/// Error codes DynamoDB answers when the caller should simply try again.
const TRANSIENT: &[&str] = &[
    "ThrottlingException",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "TransactionConflictException",
    "TransactionInProgressException",
    "InternalServerError",
];

/// Throttling and conflicts become `Busy`; everything else `Other`.
fn classify<E, R>(e: &SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let described = aws_sdk_dynamodb::error::DisplayErrorContext(e).to_string();
    match e {
        SdkError::ServiceError(service) => match service.err().code() {
            Some(code) if TRANSIENT.contains(&code) => StoreError::Busy(described),
            _ => StoreError::Other(described),
        },
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) => StoreError::Busy(described),
        _ => StoreError::Other(described),
    }
}

/// A cancelled transaction whose reasons include a failed condition lost a race: `ConditionFailed`. Cancelled
/// for conflicts or throttling only, it may be retried: `Busy`.
/// `keys` name the writes in order (`pk/sk`), so the error can say which condition failed.
fn transact_error<R: std::fmt::Debug>(
    e: &SdkError<TransactWriteItemsError, R>,
    keys: &[String],
) -> StoreError {
    if let SdkError::ServiceError(service) = e {
        if let TransactWriteItemsError::TransactionCanceledException(cancelled) = service.err() {
            let reasons = cancelled.cancellation_reasons();
            let codes: Vec<&str> = reasons.iter().filter_map(|r| r.code()).collect();
            let failed: Vec<&str> = reasons
                .iter()
                .zip(keys)
                .filter(|(r, _)| r.code() == Some("ConditionalCheckFailed"))
                .map(|(_, key)| key.as_str())
                .collect();
            if !failed.is_empty() {
                return StoreError::ConditionFailed(format!(
                    "condition failed on {}",
                    failed.join(", ")
                ));
            }
            let described = format!("transaction cancelled: {codes:?}");
            if codes.iter().any(|c| {
                matches!(
                    *c,
                    "TransactionConflict" | "ThrottlingError" | "ProvisionedThroughputExceeded"
                )
            }) {
                return StoreError::Busy(described);
            }
            return StoreError::Other(described);
        }
    }
    classify(e)
}
