//! The fidelity check between the two interpreters: the examples run by the runtime over the AWS adapters
//! (DynamoDB, S3, Step Functions, EventBridge and SNS on moto), with this suite playing the Lambda functions
//! (dispatch: every task scheduled in the execution history goes to `Runtime::handle`; approval: the SNS
//! message's signed link is checked and the approval decided; recorder: `finish_run`), against the same pipeline
//! run by the embedded runtime. Both runs use the same fixed clock and counting ids, so their records can be
//! compared item for item.
//!
//! It also counts what one execution costs in AWS requests (state transitions, Lambda invocations, DynamoDB
//! request units, S3 requests, events, SNS publishes) and prices them with [`PRICES`]; `bench/cost-per-execution.md`
//! explains the rules and the sources.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde_json::{json, Value};
use sluice_agent::{AgentConfig, LocalAgent};
use sluice_aws::{
    ApprovalNotices, AwsNotifier, DynamoStore, S3ObjectStore, StartTarget,
    StepFunctionsOrchestrator,
};
use sluice_definition::contract::TaskRequest;
use sluice_definition::ExecutionMode;
use sluice_definition::{load, Limits, Pipeline, Syntax};
use sluice_runtime::approval_links::LinkRefusal;
use sluice_runtime::events::{Origin, ACTION_DETAIL_TYPE};
use sluice_runtime::links::{self, LinkError};
use sluice_runtime::ports::{
    EventSink, Item, ItemStore, ObjectError, ObjectInfo, ObjectStore, Order, StoreError, Write,
};
use sluice_runtime::records::{keys, ApprovalRecord, ApprovalStatus, ExecutionStatus};
use sluice_runtime::{RunOutcome, Runtime, RuntimeConfig, StartRequest};
use sluice_tests::embedded::{wire, TestEnv};
use sluice_tests::moto::{self, config, unique, ACCOUNT};
use sluice_tests::workspace;
use tokio::sync::Notify;

/// Both runs' clock (milliseconds since the epoch); it does not move, so times in records agree.
const CLOCK_MS: i64 = 1_800_000_000_000;

/// The partitions only the embedded orchestrator writes (its runs, histories, inboxes and machines): in AWS that
/// state is Step Functions' own, so it has no DynamoDB counterpart.
const ENGINE_PARTITIONS: [&str; 4] = ["RUN#", "HISTORY#", "INBOX#", "MACHINE#"];

/// Who the approval is decided by, as the approval function records it.
const DECIDED_BY: &str = "approval-link";

// ------------------------------------------------------------------------------------------- counting ports

/// A DynamoDB item's size as DynamoDB bills it, roughly: attribute names plus values (strings by their UTF-8
/// length, numbers at about one byte per two digits plus one).
fn item_bytes(item: &Item) -> u64 {
    let number = |n: u64| n.to_string().len() as u64 / 2 + 1;
    let data = item.data.to_string().len() as u64;
    let mut bytes = 2 + item.pk.len() as u64 + 2 + item.sk.len() as u64;
    bytes += 7 + number(item.version) + 4 + data;
    if let Some(at) = item.expires_at {
        bytes += 10 + number(u64::try_from(at).unwrap_or(0));
    }
    bytes
}

/// Request units for `bytes` in units of `unit` bytes, at least one.
fn units(bytes: u64, unit: u64) -> u64 {
    bytes.div_ceil(unit).max(1)
}

/// What the store was asked, in DynamoDB's billing terms.
#[derive(Default)]
struct StoreTally {
    transactions: AtomicU64,
    writes: AtomicU64,
    /// TransactWriteItems costs two write request units per item and KB; a transaction of one write is
    /// sent as a PutItem or DeleteItem, one unit per KB.
    write_units: AtomicU64,
    largest_item: AtomicU64,
    gets: AtomicU64,
    queries: AtomicU64,
    /// Strongly consistent reads: one read request unit per 4 KB (a query sums its items' sizes).
    read_units: AtomicU64,
}

/// [`ItemStore`] over DynamoDB that counts its requests.
struct CountingStore {
    inner: DynamoStore,
    tally: StoreTally,
}

#[async_trait]
impl ItemStore for CountingStore {
    async fn get(&self, pk: &str, sk: &str) -> Result<Option<Item>, StoreError> {
        let item = self.inner.get(pk, sk).await?;
        self.tally.gets.fetch_add(1, Ordering::SeqCst);
        let bytes = item.as_ref().map_or(0, item_bytes);
        self.tally
            .read_units
            .fetch_add(units(bytes, 4096), Ordering::SeqCst);
        Ok(item)
    }

    async fn query(
        &self,
        pk: &str,
        prefix: &str,
        order: Order,
        limit: usize,
        after: Option<&str>,
    ) -> Result<Vec<Item>, StoreError> {
        let items = self.inner.query(pk, prefix, order, limit, after).await?;
        self.tally.queries.fetch_add(1, Ordering::SeqCst);
        let bytes = items.iter().map(item_bytes).sum();
        self.tally
            .read_units
            .fetch_add(units(bytes, 4096), Ordering::SeqCst);
        Ok(items)
    }

    async fn transact(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        self.tally.transactions.fetch_add(1, Ordering::SeqCst);
        self.tally
            .writes
            .fetch_add(writes.len() as u64, Ordering::SeqCst);
        for write in &writes {
            // A delete is billed by the size of the item it removes (read here without counting it).
            let bytes = match write {
                Write::Put(item, _) => item_bytes(item),
                Write::Delete { pk, sk, .. } => {
                    self.inner.get(pk, sk).await?.as_ref().map_or(0, item_bytes)
                }
            };
            self.tally.largest_item.fetch_max(bytes, Ordering::SeqCst);
            let per_kb = if writes.len() == 1 { 1 } else { 2 };
            self.tally
                .write_units
                .fetch_add(per_kb * units(bytes, 1024), Ordering::SeqCst);
        }
        self.inner.transact(writes).await
    }
}

/// [`ObjectStore`] over S3 that counts its requests (each call is one S3 request: the adapter uses single
/// PutObject and GetObject calls).
struct CountingObjects {
    inner: S3ObjectStore,
    puts: AtomicU64,
    gets: AtomicU64,
    heads: AtomicU64,
}

#[async_trait]
impl ObjectStore for CountingObjects {
    async fn put_file(
        &self,
        bucket: &str,
        key: &str,
        file: &Path,
    ) -> Result<ObjectInfo, ObjectError> {
        self.puts.fetch_add(1, Ordering::SeqCst);
        self.inner.put_file(bucket, key, file).await
    }

    async fn get_file(
        &self,
        bucket: &str,
        key: &str,
        dest: &Path,
    ) -> Result<ObjectInfo, ObjectError> {
        self.gets.fetch_add(1, Ordering::SeqCst);
        self.inner.get_file(bucket, key, dest).await
    }

    async fn head(&self, bucket: &str, key: &str) -> Result<ObjectInfo, ObjectError> {
        self.heads.fetch_add(1, Ordering::SeqCst);
        self.inner.head(bucket, key).await
    }
}

/// [`EventSink`] over EventBridge and SNS that keeps every event it published, in order.
struct RecordingEvents {
    inner: AwsNotifier,
    published: Mutex<Vec<Value>>,
    approvals: AtomicU64,
}

#[async_trait]
impl EventSink for RecordingEvents {
    async fn publish(&self, event: &Value) -> Result<(), String> {
        self.inner.publish(event).await?;
        self.published
            .lock()
            .expect("not poisoned")
            .push(event.clone());
        Ok(())
    }

    async fn approval_requested(
        &self,
        approval: &ApprovalRecord,
        expires_s: i64,
    ) -> Result<(), String> {
        self.approvals.fetch_add(1, Ordering::SeqCst);
        self.inner.approval_requested(approval, expires_s).await
    }
}

// ----------------------------------------------------------------------------------------------- examples

/// An example pipeline and the folder its LocalSource paths are relative to.
fn example(name: &str) -> (Pipeline, String) {
    let dir = workspace().join("examples").join(name);
    let text = std::fs::read_to_string(dir.join("pipeline.yaml")).expect("example");
    let doc = load(&text, Syntax::Yaml, &Limits::default()).expect("valid");
    (doc.pipeline, dir.to_string_lossy().into_owned())
}

/// What the comparison looks at in one run.
#[derive(Debug, PartialEq)]
struct Observed {
    status: ExecutionStatus,
    /// Action starts as a partial order: (stage, runOrder, the actions started) for each run of starts in one
    /// stage and runOrder group, in the order the groups started. Actions of one group may start in any order;
    /// a group starting before the one ahead of it finished shows as a group appearing twice.
    starts: Vec<(String, u32, BTreeSet<String>)>,
    /// Every stage attempt's final status, in the definition's order.
    stages: Vec<(String, u32, String)>,
    /// Every action attempt's final status, in the definition's order.
    actions: Vec<(String, String, u32, String)>,
}

/// The groups of action starts, from the action events a run published, in publishing order.
fn start_groups(pipeline: &Pipeline, events: &[Value]) -> Vec<(String, u32, BTreeSet<String>)> {
    let run_order = |stage: &str, action: &str| {
        pipeline
            .stages
            .iter()
            .find(|s| s.name == stage)
            .and_then(|s| s.actions.iter().find(|a| a.name == action))
            .map(|a| a.run_order.unwrap_or(1))
            .unwrap_or_else(|| panic!("{stage}.{action} is not in the definition"))
    };
    let mut groups: Vec<(String, u32, BTreeSet<String>)> = Vec::new();
    for event in events {
        let detail = &event["detail"];
        if event["detail-type"] != ACTION_DETAIL_TYPE || detail["state"] != "STARTED" {
            continue;
        }
        let stage = detail["stage"].as_str().expect("stage").to_owned();
        let action = detail["action"].as_str().expect("action").to_owned();
        let order = run_order(&stage, &action);
        match groups.last_mut() {
            Some((s, o, actions)) if *s == stage && *o == order => {
                assert!(actions.insert(action), "an action started twice");
            }
            _ => groups.push((stage, order, BTreeSet::from([action]))),
        }
    }
    groups
}

async fn observe(runtime: &Runtime, pipeline: &Pipeline, id: &str, events: &[Value]) -> Observed {
    let stage_index = |stage: &str| {
        pipeline
            .stages
            .iter()
            .position(|s| s.name == stage)
            .unwrap_or(usize::MAX)
    };
    let action_index = |stage: &str, action: &str| {
        pipeline.stages[stage_index(stage)]
            .actions
            .iter()
            .position(|a| a.name == action)
            .unwrap_or(usize::MAX)
    };
    let mut stages: Vec<_> = runtime
        .stages(id)
        .await
        .expect("stages")
        .into_iter()
        .map(|s| (s.stage, s.attempt, format!("{:?}", s.status)))
        .collect();
    stages.sort_by_key(|(s, attempt, _)| (stage_index(s), *attempt));
    let mut actions: Vec<_> = runtime
        .actions(id)
        .await
        .expect("actions")
        .into_iter()
        .map(|a| (a.stage, a.action, a.attempt, format!("{:?}", a.status)))
        .collect();
    actions.sort_by_key(|(s, a, attempt, _)| (stage_index(s), action_index(s, a), *attempt));
    Observed {
        status: runtime.execution(id).await.expect("execution").status,
        starts: start_groups(pipeline, events),
        stages,
        actions,
    }
}

/// The start groups a definition prescribes: stages in order, and in each its runOrder groups ascending.
fn prescribed_groups(pipeline: &Pipeline) -> Vec<(String, u32, BTreeSet<String>)> {
    let mut groups = Vec::new();
    for stage in &pipeline.stages {
        let mut by_order: BTreeMap<u32, BTreeSet<String>> = BTreeMap::new();
        for action in &stage.actions {
            by_order
                .entry(action.run_order.unwrap_or(1))
                .or_default()
                .insert(action.name.clone());
        }
        groups.extend(
            by_order
                .into_iter()
                .map(|(order, actions)| (stage.name.clone(), order, actions)),
        );
    }
    groups
}

/// Every (stage, action) of a definition, in order: what a complete successful run must show.
fn all_actions(pipeline: &Pipeline) -> Vec<(String, String, u32, String)> {
    pipeline
        .stages
        .iter()
        .flat_map(|s| {
            s.actions
                .iter()
                .map(|a| (s.name.clone(), a.name.clone(), 1, "Succeeded".to_owned()))
        })
        .collect()
}

// ----------------------------------------------------------------------------------------------- records

/// A store's items as (pk, sk) -> (version, data), with the run's own names replaced by placeholders.
type Records = BTreeMap<(String, String), (u64, Value)>;

/// Replaces each `(from, to)` in every string of `value`, and object versions (S3 version ids, ETags: each
/// store makes its own) and task tokens by placeholders. Times need nothing: both runs read the same fixed clock.
fn normalize(value: &mut Value, names: &[(String, &str)]) {
    match value {
        Value::String(s) => {
            for (from, to) in names {
                if !from.is_empty() && s.contains(from.as_str()) {
                    *s = s.replace(from.as_str(), to);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| normalize(v, names)),
        Value::Object(fields) => {
            for (key, v) in fields.iter_mut() {
                if matches!(key.as_str(), "version_id" | "etag" | "versionId" | "eTag") {
                    *v = json!("<object-version>");
                    continue;
                }
                normalize(v, names);
                // Task tokens are each orchestrator's own (Step Functions' or the engine's).
                if key == "token" && v != "<approval-token>" {
                    *v = json!("<task-token>");
                }
            }
        }
        _ => {}
    }
}

fn records(rows: Vec<(String, String, u64, Value)>, names: &[(String, &str)]) -> Records {
    rows.into_iter()
        .filter(|(pk, ..)| !ENGINE_PARTITIONS.iter().any(|p| pk.starts_with(p)))
        .map(|(pk, sk, version, data)| {
            let mut key = json!([pk, sk]);
            normalize(&mut key, names);
            let mut data = data;
            normalize(&mut data, names);
            let key = (
                key[0].as_str().expect("pk").to_owned(),
                key[1].as_str().expect("sk").to_owned(),
            );
            (key, (version, data))
        })
        .collect()
}

/// The DynamoDB items equal the SQLite items: the same keys, and each item's version and data.
fn assert_same_records(aws: &Records, embedded: &Records) {
    let keys = |r: &Records| r.keys().cloned().collect::<Vec<_>>();
    assert_eq!(
        keys(aws),
        keys(embedded),
        "the same items in DynamoDB and SQLite"
    );
    for (key, value) in aws {
        assert_eq!(
            Some(value),
            embedded.get(key),
            "item {key:?}: version and data agree"
        );
    }
}

/// Every item of a DynamoDB table (a scan, outside the counted store).
async fn dynamo_rows(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
) -> Vec<(String, String, u64, Value)> {
    use aws_sdk_dynamodb::types::AttributeValue;
    let mut rows = Vec::new();
    let mut start = None;
    loop {
        let page = client
            .scan()
            .table_name(table)
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .expect("scan");
        for item in page.items() {
            let s = |name: &str| match item.get(name) {
                Some(AttributeValue::S(v)) => v.clone(),
                other => panic!("attribute {name}: {other:?}"),
            };
            let version = match item.get("version") {
                Some(AttributeValue::N(n)) => n.parse().expect("version number"),
                other => panic!("attribute version: {other:?}"),
            };
            let data = serde_json::from_str(&s("data")).expect("data is JSON");
            rows.push((s("pk"), s("sk"), version, data));
        }
        match page.last_evaluated_key() {
            Some(key) if !key.is_empty() => start = Some(key.clone()),
            _ => return rows,
        }
    }
}

/// Every item of the embedded store's SQLite file.
fn sqlite_rows(path: &Path) -> Vec<(String, String, u64, Value)> {
    let db = rusqlite::Connection::open(path).expect("open the embedded store");
    let mut statement = db
        .prepare("SELECT pk, sk, version, data FROM items")
        .expect("query");
    statement
        .query_map([], |row| {
            let data: String = row.get(3)?;
            Ok((
                row.get(0)?,
                row.get(1)?,
                row.get::<_, i64>(2)?,
                serde_json::from_str(&data).expect("data is JSON"),
            ))
        })
        .expect("rows")
        .map(|r| {
            let (pk, sk, version, data) = r.expect("row");
            (
                pk,
                sk,
                u64::try_from(version).expect("versions count up"),
                data,
            )
        })
        .collect()
}

/// The approval of `stage.action` in execution `id` while it waits.
async fn pending_approval(
    runtime: &Runtime,
    pipeline: &str,
    (stage, action): (&str, &str),
    id: &str,
) -> Option<ApprovalRecord> {
    runtime
        .approval(pipeline, stage, action, id)
        .await
        .expect("read approval")
        .filter(|a| a.status == ApprovalStatus::Pending)
}

// ----------------------------------------------------------------------------------------------- embedded

/// A pipeline run by the embedded runtime to the end, approving its approval (if any) when it waits.
struct EmbeddedRun {
    observed: Observed,
    records: Records,
    dir: tempfile::TempDir,
}

async fn embedded_run(name: &str, approval: Option<(&str, &str)>) -> EmbeddedRun {
    let dir = tempfile::tempdir().expect("temp");
    let (runtime, engine) = wire(dir.path(), TestEnv::at(CLOCK_MS));
    let (pipeline, base) = example(name);
    runtime
        .put_pipeline(pipeline.clone(), Some(base))
        .await
        .expect("stored");
    let stop = Arc::new(Notify::new());
    let driving = tokio::spawn(Arc::clone(&engine).run(Arc::clone(&stop)));
    let id = runtime
        .start_execution(name, StartRequest::default())
        .await
        .expect("started")
        .execution_id;
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut token = None;
    while !runtime
        .execution(&id)
        .await
        .expect("read")
        .status
        .is_final()
    {
        if let Some(at) = approval {
            if let Some(waiting) = pending_approval(&runtime, name, at, &id).await {
                runtime
                    .decide_approval(&waiting.token, true, Some("looks good".into()), DECIDED_BY)
                    .await
                    .expect("approved");
                token = Some(waiting.token);
            }
        }
        assert!(
            Instant::now() < deadline,
            "embedded run did not end in 120 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.notify_one();
    driving.await.expect("engine stops");
    let events = sluice_local::read_events(dir.path().join("events.jsonl")).expect("events");
    let observed = observe(&runtime, &pipeline, &id, &events).await;
    let names = [
        (id.clone(), "<execution>"),
        (token.unwrap_or_default(), "<approval-token>"),
        (runtime.config.artifact_bucket.clone(), "<artifact-bucket>"),
    ];
    let records = records(sqlite_rows(&dir.path().join("sluice.db")), &names);
    EmbeddedRun {
        observed,
        records,
        dir,
    }
}

// ------------------------------------------------------------------------------------------------- cloud

/// The runtime over the AWS adapters on the emulator, with counting ports, as the Lambda functions wire it.
struct Cloud {
    runtime: Arc<Runtime>,
    store: Arc<CountingStore>,
    objects: Arc<CountingObjects>,
    events: Arc<RecordingEvents>,
    sfn: Arc<StepFunctionsOrchestrator>,
    dynamo: aws_sdk_dynamodb::Client,
    table: String,
    _work: tempfile::TempDir,
}

async fn cloud(
    sdk: &aws_config::SdkConfig,
    bus: &str,
    approvals: Option<ApprovalNotices>,
) -> Cloud {
    cloud_on(sdk, aws_sdk_dynamodb::Client::new(sdk), bus, approvals).await
}

/// [`cloud`] with its table reached through `dynamo`.
async fn cloud_on(
    sdk: &aws_config::SdkConfig,
    dynamo: aws_sdk_dynamodb::Client,
    bus: &str,
    approvals: Option<ApprovalNotices>,
) -> Cloud {
    moto::enable_step_functions_execution();
    let work = tempfile::tempdir().expect("temp");
    let table = unique("sluice-fidelity");
    DynamoStore::create_table(&dynamo, &table)
        .await
        .expect("table");
    let store = Arc::new(CountingStore {
        inner: DynamoStore::new(dynamo.clone(), table.clone()),
        tally: StoreTally::default(),
    });
    let s3 = aws_sdk_s3::Client::new(sdk);
    let bucket = unique("sluice-fidelity");
    s3.create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("bucket");
    let objects = Arc::new(CountingObjects {
        inner: S3ObjectStore::new(s3),
        puts: AtomicU64::new(0),
        gets: AtomicU64::new(0),
        heads: AtomicU64::new(0),
    });
    let sfn = Arc::new(moto::orchestrator(
        sdk,
        &format!("fid{}-", std::process::id()),
        StartTarget::CheckedLatest,
    ));
    let events = Arc::new(RecordingEvents {
        inner: AwsNotifier::from_sdk(sdk, bus, approvals),
        published: Mutex::new(Vec::new()),
        approvals: AtomicU64::new(0),
    });
    let agent = LocalAgent::new(
        objects.clone(),
        AgentConfig::new(work.path().join("work"), work.path().join("logs")),
    );
    let runtime = Arc::new(Runtime {
        store: store.clone(),
        objects: objects.clone(),
        orchestrator: sfn.clone(),
        events: events.clone(),
        executor: Arc::new(agent.clone()),
        env: TestEnv::at(CLOCK_MS),
        definitions: Default::default(),
        config: RuntimeConfig {
            artifact_bucket: bucket,
            origin: Origin {
                account: ACCOUNT.into(),
                region: "us-east-1".into(),
            },
            limits: Limits::default(),
            webhook_base_url: Default::default(),
        },
    });
    agent.set_listener(runtime.clone());
    Cloud {
        runtime,
        store,
        objects,
        events,
        sfn,
        dynamo,
        table,
        _work: work,
    }
}

/// The dispatch function's side of an execution: the tasks handed to it and the time it spent on them.
#[derive(Default)]
struct Dispatch {
    seen: HashSet<i64>,
    invocations: u64,
    busy: Duration,
}

impl Cloud {
    /// Plays the dispatch function: every newly scheduled task's payload goes to the handler, once. Returns the
    /// execution's status when it ended, or "RUNNING" as soon as `approval` (stage, action) waits.
    async fn dispatch(
        &self,
        pipeline: &str,
        id: &str,
        calls: &mut Dispatch,
        approval: Option<(&str, &str)>,
    ) -> String {
        let arn = self.sfn.execution_arn(pipeline, id);
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            for task in moto::new_tasks(self.sfn.client(), &arn, &mut calls.seen).await {
                calls.invocations += 1;
                let began = Instant::now();
                self.runtime
                    .handle(task.request.clone())
                    .await
                    .unwrap_or_else(|e| panic!("{}: {e}", moto::describe(&task.request)));
                calls.busy += began.elapsed();
            }
            if let Some(at) = approval {
                if self.pending_approval(pipeline, at, id).await.is_some() {
                    return "RUNNING".into();
                }
            }
            let status = moto::status(self.sfn.client(), &arn).await;
            if status != "RUNNING" {
                return status;
            }
            assert!(Instant::now() < deadline, "{arn} still RUNNING after 120 s");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Plays the recorder: closes the execution record as the state machine ended.
    async fn record(&self, id: &str, status: &str) {
        let outcome = match status {
            "SUCCEEDED" => RunOutcome::Succeeded,
            "ABORTED" => RunOutcome::Aborted,
            other => RunOutcome::Failed {
                error: other.to_owned(),
                cause: String::new(),
            },
        };
        self.runtime.finish_run(id, outcome).await.expect("finish");
    }

    /// The approval of `stage.action` in execution `id` while it waits, read past the counters (the test's own
    /// reads are no part of what an execution costs).
    async fn pending_approval(
        &self,
        pipeline: &str,
        (stage, action): (&str, &str),
        id: &str,
    ) -> Option<ApprovalRecord> {
        let item = self
            .store
            .inner
            .get(&keys::approval(pipeline, stage, action), id)
            .await
            .expect("read approval")?;
        let approval: ApprovalRecord = serde_json::from_value(item.data).expect("an approval");
        (approval.status == ApprovalStatus::Pending).then_some(approval)
    }

    /// What the counting ports counted so far.
    fn counters(&self) -> [u64; 10] {
        let t = &self.store.tally;
        [
            &t.transactions,
            &t.writes,
            &t.write_units,
            &t.gets,
            &t.queries,
            &t.read_units,
            &self.objects.puts,
            &self.objects.gets,
            &self.objects.heads,
            &self.events.approvals,
        ]
        .map(|c| c.load(Ordering::SeqCst))
    }

    fn published(&self) -> Vec<Value> {
        self.events.published.lock().expect("not poisoned").clone()
    }
}

/// The states an execution entered, in order (history events of type `*StateEntered`), and its history's length.
/// Standard workflows bill one state transition per state entered, retries included.
async fn states_entered(sfn: &StepFunctionsOrchestrator, arn: &str) -> (Vec<String>, usize) {
    let events = moto::history(sfn.client(), arn).await;
    let entered = events
        .iter()
        .filter(|e| e.r#type().as_str().ends_with("StateEntered"))
        .map(|e| {
            e.state_entered_event_details()
                .map_or("?", |d| d.name())
                .to_owned()
        })
        .collect();
    (entered, events.len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hello_runs_the_same_on_step_functions_as_embedded() {
    let sdk = config().await;
    let cloud = cloud(&sdk, "default", None).await;
    let (pipeline, base) = example("hello");
    cloud
        .runtime
        .put_pipeline(pipeline.clone(), Some(base))
        .await
        .expect("stored");
    let writes_before = cloud.store.tally.writes.load(Ordering::SeqCst);
    let id = cloud
        .runtime
        .start_execution("hello", StartRequest::default())
        .await
        .expect("started")
        .execution_id;
    let mut calls = Dispatch::default();
    let status = cloud.dispatch("hello", &id, &mut calls, None).await;
    cloud.record(&id, &status).await;
    let (entered, history) =
        states_entered(&cloud.sfn, &cloud.sfn.execution_arn("hello", &id)).await;
    let transitions = entered.len();
    let writes = cloud.store.tally.writes.load(Ordering::SeqCst) - writes_before;
    eprintln!(
        "hello on Step Functions: {transitions} state transitions ({history} history events), \
         {} dispatch invocations, {writes} DynamoDB item writes",
        calls.invocations
    );

    let on_aws = observe(&cloud.runtime, &pipeline, &id, &cloud.published()).await;
    assert_eq!(status, "SUCCEEDED", "{on_aws:?}");
    assert_eq!(
        on_aws.actions,
        all_actions(&pipeline),
        "every action ran once"
    );
    assert_eq!(
        on_aws.starts,
        prescribed_groups(&pipeline),
        "stages and runOrder groups in order"
    );
    let names = [
        (id.clone(), "<execution>"),
        (
            cloud.runtime.config.artifact_bucket.clone(),
            "<artifact-bucket>",
        ),
    ];
    let aws_records = records(dynamo_rows(&cloud.dynamo, &cloud.table).await, &names);
    let embedded = embedded_run("hello", None).await;
    assert_eq!(
        on_aws, embedded.observed,
        "action order and final statuses agree"
    );
    assert_same_records(&aws_records, &embedded.records);
}

/// Two executions of a QUEUED pipeline reach the same stage at once: their first tasks (Source.Checkout,
/// which enters its stage itself) are handled concurrently, on DynamoDB (the serial emulator, which applies
/// each request atomically as DynamoDB does). Exactly one takes the stage's lock; the other is sent to the
/// stage's own gate, where it waits, and goes in when the first leaves. Three rounds.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_executions_racing_for_one_stage_lock_have_one_winner() {
    let sdk = config().await;
    let cloud = cloud_on(&sdk, moto::serial_dynamodb().await, "default", None).await;
    let (mut pipeline, base) = example("hello");
    pipeline.name = "queued".into();
    pipeline.execution_mode = Some(ExecutionMode::Queued);
    cloud
        .runtime
        .put_pipeline(pipeline.clone(), Some(base))
        .await
        .expect("stored");
    let lock = keys::lock("queued", "Source");
    for round in 0..3 {
        let mut runs = Vec::new();
        for _ in 0..2 {
            let id = cloud
                .runtime
                .start_execution("queued", StartRequest::default())
                .await
                .expect("started")
                .execution_id;
            runs.push((id, Dispatch::default()));
        }
        // Each execution's first task: Source's action, entering Source itself.
        let mut entering = Vec::new();
        for (id, calls) in &mut runs {
            let task = next_task(&cloud, id, calls).await;
            assert_eq!(moto::describe(&task), "run Source.Checkout");
            entering.push(task);
        }
        let (a, b) = tokio::join!(
            cloud.runtime.handle(entering[0].clone()),
            cloud.runtime.handle(entering[1].clone())
        );
        a.expect("first enters or waits");
        b.expect("second enters or waits");
        let holder = cloud
            .store
            .inner
            .get(&lock, keys::HOLDER)
            .await
            .expect("read lock")
            .expect("one execution holds Source");
        let winner = holder.data["executionId"]
            .as_str()
            .expect("holder names an execution")
            .to_owned();
        let (won, mut lost): (Vec<_>, Vec<_>) = runs.into_iter().partition(|(id, _)| *id == winner);
        assert_eq!(
            won.len(),
            1,
            "round {round}: the holder {winner} is one of the two"
        );
        // The other could not enter at once: its next task is the stage's gate, which waits.
        let (id, calls) = &mut lost[0];
        let gate = next_task(&cloud, id, calls).await;
        assert_eq!(moto::describe(&gate), "enter Source", "round {round}");
        cloud.runtime.handle(gate).await.expect("waits");
        let waiting = cloud
            .store
            .inner
            .query(&lock, "WAIT#", Order::Ascending, 10, None)
            .await
            .expect("waiters");
        assert_eq!(
            waiting
                .iter()
                .map(|i| i.data["executionId"].clone())
                .collect::<Vec<_>>(),
            vec![json!(lost[0].0)],
            "round {round}: the other execution waits for Source"
        );
        for (id, mut calls) in won.into_iter().chain(lost) {
            let status = cloud.dispatch("queued", &id, &mut calls, None).await;
            assert_eq!(status, "SUCCEEDED", "round {round}: {id}");
            cloud.record(&id, &status).await;
        }
        assert!(
            cloud
                .store
                .inner
                .get(&lock, keys::HOLDER)
                .await
                .expect("read lock")
                .is_none(),
            "round {round}: the lock is free once both left"
        );
    }
}

/// The next task the execution's Step Functions run scheduled, waiting up to 30 s for it.
async fn next_task(cloud: &Cloud, id: &str, calls: &mut Dispatch) -> TaskRequest {
    let arn = cloud.sfn.execution_arn("queued", id);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(t) = moto::new_tasks(cloud.sfn.client(), &arn, &mut calls.seen)
            .await
            .pop()
        {
            return t.request;
        }
        assert!(Instant::now() < deadline, "{arn} scheduled no task");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

// ------------------------------------------------------------------------------------------ release + cost

/// Public us-east-1 prices in USD (bench/cost-per-execution.md gives the source of each).
struct Prices {
    per_state_transition: f64,
    per_lambda_request: f64,
    per_arm_gb_second: f64,
    per_write_request_unit: f64,
    per_read_request_unit: f64,
    per_s3_put: f64,
    per_s3_get: f64,
    per_custom_event: f64,
    per_sns_publish: f64,
    codepipeline_v2_per_action_minute: f64,
    codepipeline_v1_per_active_pipeline_month: f64,
}

const PRICES: Prices = Prices {
    per_state_transition: 0.025 / 1_000.0,
    per_lambda_request: 0.20 / 1_000_000.0,
    per_arm_gb_second: 0.000_013_333_4,
    per_write_request_unit: 0.625 / 1_000_000.0,
    per_read_request_unit: 0.125 / 1_000_000.0,
    per_s3_put: 0.005 / 1_000.0,
    per_s3_get: 0.0004 / 1_000.0,
    per_custom_event: 1.00 / 1_000_000.0,
    per_sns_publish: 0.50 / 1_000_000.0,
    codepipeline_v2_per_action_minute: 0.002,
    codepipeline_v1_per_active_pipeline_month: 1.00,
};

/// The memory every function gets in template.yaml (Globals).
const LAMBDA_MEMORY_GB: f64 = 256.0 / 1024.0;

/// Billed duration assumed per invocation when pricing (the measured time against a local emulator is far
/// below what network round trips to DynamoDB and Step Functions take in AWS).
const ASSUMED_MS_PER_INVOCATION: f64 = 100.0;

/// The approval function's POST: the review link must name a waiting approval with a valid signature (a link
/// signed with another key must not), then the approval is decided; the same link is refused afterwards.
async fn approve_through_link(
    runtime: &Runtime,
    key: &[u8],
    base_url: &str,
    review_link: &str,
    now_s: i64,
) -> ApprovalRecord {
    let path = review_link
        .strip_prefix(base_url)
        .unwrap_or_else(|| panic!("{review_link} is not under {base_url}"));
    let (token, query) = path
        .strip_prefix(links::PATH_PREFIX)
        .and_then(|rest| rest.split_once('?'))
        .unwrap_or_else(|| panic!("{review_link} is not an approval link"));
    let forged = runtime
        .approval_for_link(b"another key", token, query, now_s)
        .await;
    assert!(
        matches!(forged, Err(LinkRefusal::Link(LinkError::Forged))),
        "a link signed with another key is refused: {forged:?}"
    );
    let (waiting, _) = runtime
        .approval_for_link(key, token, query, now_s)
        .await
        .expect("the link names a waiting approval");
    let decided = runtime
        .decide_approval(&waiting.token, true, Some("looks good".into()), DECIDED_BY)
        .await
        .expect("approved");
    let again = runtime.approval_for_link(key, token, query, now_s).await;
    assert!(
        matches!(again, Err(LinkRefusal::Decided(_))),
        "a link decides once: {again:?}"
    );
    decided
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn release_runs_the_same_on_step_functions_as_embedded_and_costs_this_much() {
    let sdk = config().await;
    // Deploy what the stack needs: a bus with a rule to a queue, an approval topic with a queue subscribed.
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let (bus, events_url) =
        moto::bus_to_queue(&sdk, "sluice-fidelity", &json!({"source": ["sluice"]})).await;
    let sns = aws_sdk_sns::Client::new(&sdk);
    let topic = sns
        .create_topic()
        .name(unique("fid-approvals"))
        .send()
        .await
        .expect("topic")
        .topic_arn()
        .expect("topic arn")
        .to_owned();
    let (approvals_url, approvals_arn) = moto::queue(&sqs, &unique("fid-approvals")).await;
    sns.subscribe()
        .topic_arn(&topic)
        .protocol("sqs")
        .endpoint(&approvals_arn)
        .attributes("RawMessageDelivery", "true")
        .send()
        .await
        .expect("subscribe");
    let key = b"the approval function's link key".to_vec();
    let base_url = "https://approvals.example.com";
    let notices = ApprovalNotices {
        topic_arn: topic,
        base_url: base_url.into(),
        link_key: key.clone(),
    };
    let cloud = cloud(&sdk, &bus, Some(notices)).await;
    // The deploy target (a fixed name, as in the example; created once per emulator).
    let s3 = aws_sdk_s3::Client::new(&sdk);
    let _ = s3.create_bucket().bucket("release-site").send().await;
    // No page from an earlier run may stand in for this run's deploy.
    s3.delete_object()
        .bucket("release-site")
        .key("index.html")
        .send()
        .await
        .expect("clear the deploy target");

    let (pipeline, base) = example("release");
    cloud
        .runtime
        .put_pipeline(pipeline.clone(), Some(base))
        .await
        .expect("stored");
    let before = cloud.counters();
    let events_before = cloud.published().len();
    let id = cloud
        .runtime
        .start_execution("release", StartRequest::default())
        .await
        .expect("started")
        .execution_id;

    // Dispatch until the approval waits.
    let review = ("Approval", "Review");
    let mut calls = Dispatch::default();
    let status = cloud
        .dispatch("release", &id, &mut calls, Some(review))
        .await;
    assert_eq!(status, "RUNNING", "the execution waits at the approval");
    let waiting = cloud
        .pending_approval("release", review, &id)
        .await
        .expect("waiting");

    // The SNS message on the topic is CodePipeline's approval JSON.
    let messages = moto::receive(&sqs, &approvals_url, 1).await;
    assert_eq!(messages.len(), 1, "one approval notification");
    let message: Value = serde_json::from_str(&messages[0]).expect("the message is JSON");
    let approval = &message["approval"];
    assert_eq!(message["region"], "us-east-1");
    assert_eq!(approval["pipelineName"], "release");
    assert_eq!(approval["stageName"], "Approval");
    assert_eq!(approval["actionName"], "Review");
    assert_eq!(approval["token"], waiting.token.as_str());
    assert_eq!(
        approval["externalEntityLink"],
        "https://example.com/release-notes"
    );
    let custom = approval["customData"].as_str().expect("customData");
    assert!(
        custom.starts_with("Release ") && !custom.contains("#{"),
        "customData has the build's variable resolved: {custom}"
    );
    let expires = approval["expires"].as_str().expect("expires");
    assert!(expires.ends_with('Z') && expires.len() == 17, "{expires}");
    let link = approval["approvalReviewLink"]
        .as_str()
        .expect("review link");

    // The approval function's part: the signed link, then the decision.
    let decided = approve_through_link(&cloud.runtime, &key, base_url, link, CLOCK_MS / 1000).await;
    assert_eq!(decided.status, ApprovalStatus::Approved);
    let approval_invocations = 2; // the GET that shows the page, the POST that decides

    // Dispatch to the end, then record.
    let status = cloud.dispatch("release", &id, &mut calls, None).await;
    cloud.record(&id, &status).await;
    let after = cloud.counters();
    let recorder_invocations = 1;
    let start_invocations = 1; // the api (StartPipelineExecution) or trigger function that started it
    let arn = cloud.sfn.execution_arn("release", &id);
    let (entered, history) = states_entered(&cloud.sfn, &arn).await;
    let transitions = entered.len();

    // The deploy happened on S3.
    let site = s3
        .get_object()
        .bucket("release-site")
        .key("index.html")
        .send()
        .await
        .expect("the deployed page")
        .body
        .collect()
        .await
        .expect("body")
        .into_bytes();
    let site = String::from_utf8(site.to_vec()).expect("utf-8");
    assert!(site.contains("<p>hello from revision "), "{site}");

    // Every event the runtime published reached the rule's queue.
    let published: Vec<Value> = cloud.published()[events_before..].to_vec();
    let delivered = moto::receive(&sqs, &events_url, published.len() + 1).await;
    assert_eq!(
        delivered.len(),
        published.len(),
        "every event reached the bus's rule"
    );

    let on_aws = observe(&cloud.runtime, &pipeline, &id, &published).await;
    assert_eq!(status, "SUCCEEDED", "{on_aws:?}");
    assert_eq!(
        on_aws.actions,
        all_actions(&pipeline),
        "every action ran once and succeeded"
    );
    assert_eq!(
        on_aws.starts,
        prescribed_groups(&pipeline),
        "stages and runOrder groups in order"
    );
    let names = [
        (id.clone(), "<execution>"),
        (waiting.token.clone(), "<approval-token>"),
        (
            cloud.runtime.config.artifact_bucket.clone(),
            "<artifact-bucket>",
        ),
    ];
    let aws_records = records(dynamo_rows(&cloud.dynamo, &cloud.table).await, &names);

    let embedded = embedded_run("release", Some(review)).await;
    assert_eq!(
        on_aws, embedded.observed,
        "action order and final statuses agree"
    );
    let embedded_site = std::fs::read_to_string(
        embedded
            .dir
            .path()
            .join("objects/buckets/release-site/index.html"),
    )
    .expect("the embedded deploy");
    assert_eq!(site, embedded_site, "both deploys published the same page");
    assert_same_records(&aws_records, &embedded.records);

    // What the execution cost.

    let d: Vec<u64> = after.iter().zip(before).map(|(a, b)| a - b).collect();
    let (transactions, writes, wru, gets, queries, rru, puts, s3_gets, heads, sns_publishes) =
        (d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7], d[8], d[9]);
    let events = published.len() as u64;
    let lambda =
        start_invocations + calls.invocations + approval_invocations + recorder_invocations;
    let measured_ms = calls.busy.as_secs_f64() * 1000.0 / calls.invocations as f64;
    let gb_seconds = lambda as f64 * ASSUMED_MS_PER_INVOCATION / 1000.0 * LAMBDA_MEMORY_GB;
    let p = &PRICES;
    let costs = [
        (
            "Step Functions",
            transitions as f64 * p.per_state_transition,
        ),
        ("Lambda requests", lambda as f64 * p.per_lambda_request),
        ("Lambda duration", gb_seconds * p.per_arm_gb_second),
        ("DynamoDB writes", wru as f64 * p.per_write_request_unit),
        ("DynamoDB reads", rru as f64 * p.per_read_request_unit),
        ("S3 PUT", puts as f64 * p.per_s3_put),
        ("S3 GET/HEAD", (s3_gets + heads) as f64 * p.per_s3_get),
        ("EventBridge", events as f64 * p.per_custom_event),
        ("SNS", sns_publishes as f64 * p.per_sns_publish),
    ];
    let total: f64 = costs.iter().map(|(_, c)| c).sum();
    let billed_actions = pipeline
        .stages
        .iter()
        .flat_map(|s| &s.actions)
        .filter(|a| a.action_type_id.category != "Approval")
        .count();
    eprintln!(
        "release on Step Functions, one execution:\n  \
         {transitions} state transitions (StateEntered events; {history} history events): {}\n  \
         {lambda} Lambda invocations: {start_invocations} start, {} dispatch, {approval_invocations} approval, \
         {recorder_invocations} recorder \
         (dispatch handler time against moto: {measured_ms:.1} ms mean)\n  \
         DynamoDB: {transactions} transactions holding {writes} item writes = {wru} write request units \
         (largest item {} bytes); {gets} gets + {queries} queries = {rru} read request units\n  \
         S3: {puts} PUT, {s3_gets} GET, {heads} HEAD\n  \
         {events} EventBridge PutEvents entries, {sns_publishes} SNS publish",
        entered.join(", "),
        calls.invocations,
        cloud.store.tally.largest_item.load(Ordering::SeqCst),
    );
    for (what, cost) in &costs {
        eprintln!("  {what:<16} ${cost:.8}");
    }
    eprintln!(
        "  total            ${total:.8} per execution (Lambda at {ASSUMED_MS_PER_INVOCATION} ms, 256 MB, arm64)\n  \
         CodePipeline V2: at least ${:.4} ({billed_actions} billed actions, 1 minute each at least); \
         V1: ${:.2} per active pipeline per month",
        billed_actions as f64 * p.codepipeline_v2_per_action_minute,
        p.codepipeline_v1_per_active_pipeline_month,
    );
    // Issue 17's goals: at most 1.5 transitions per action (the gates are folded into the actions), at most
    // $0.0003 per execution.
    let actions = pipeline
        .stages
        .iter()
        .map(|s| s.actions.len())
        .sum::<usize>();
    eprintln!(
        "  goals: {:.2} transitions per action (goal 1.5, ratio {:.2}); ${total:.6} per execution (goal $0.0003, \
         ratio {:.2}); CodePipeline V2's floor is {:.0} times Sluice's cost",
        transitions as f64 / actions as f64,
        transitions as f64 / actions as f64 / 1.5,
        total / 0.0003,
        billed_actions as f64 * p.codepipeline_v2_per_action_minute / total,
    );
    assert!(
        transitions * 2 <= actions * 3,
        "{transitions} transitions for {actions} actions: {}",
        entered.join(", ")
    );
    assert!(total > 0.0 && total <= 0.0003, "${total} per execution");
}
