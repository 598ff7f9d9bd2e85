//! The fidelity check between the two interpreters: the `hello` example run by the runtime over the AWS adapters
//! (DynamoDB, S3, Step Functions, EventBridge on moto), with this suite playing the dispatch Lambda, against the
//! same pipeline run embedded. Prints what one execution costs in Step Functions history events, dispatch
//! invocations and DynamoDB writes.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use sluice_agent::{AgentConfig, LocalAgent};
use sluice_aws::{
    AwsNotifier, DynamoStore, S3ObjectStore, StartTarget, StepFunctionsConfig,
    StepFunctionsOrchestrator,
};
use sluice_core::runtime::dispatch::{RunOutcome, Runtime, RuntimeConfig, StartRequest};
use sluice_core::runtime::events::Origin;
use sluice_core::runtime::ports::{Item, ItemStore, Order, StoreError, Write};
use sluice_core::runtime::records::ExecutionStatus;
use sluice_core::{load, Limits, Syntax};
use sluice_tests::embedded::{wire, TestEnv};
use sluice_tests::moto::{self, config, unique, ACCOUNT};
use sluice_tests::workspace;
use tokio::sync::Notify;

/// Counts the store's transactions and their writes (each write is a DynamoDB write request).
struct Counting {
    inner: DynamoStore,
    transactions: AtomicU64,
    writes: AtomicU64,
}

#[async_trait]
impl ItemStore for Counting {
    async fn get(&self, pk: &str, sk: &str) -> Result<Option<Item>, StoreError> {
        self.inner.get(pk, sk).await
    }

    async fn query(
        &self,
        pk: &str,
        prefix: &str,
        order: Order,
        limit: usize,
        after: Option<&str>,
    ) -> Result<Vec<Item>, StoreError> {
        self.inner.query(pk, prefix, order, limit, after).await
    }

    async fn transact(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        self.transactions.fetch_add(1, Ordering::SeqCst);
        self.writes.fetch_add(writes.len() as u64, Ordering::SeqCst);
        self.inner.transact(writes).await
    }
}

fn hello() -> (sluice_core::Pipeline, String) {
    let dir = workspace().join("examples/hello");
    let text = std::fs::read_to_string(dir.join("pipeline.yaml")).expect("hello");
    let doc = load(&text, Syntax::Yaml, &Limits::default()).expect("valid");
    (doc.pipeline, dir.to_string_lossy().into_owned())
}

/// (stage, action, status) of every action, in the order they started, and the execution's status.
type Outcome = (Vec<(String, String, String)>, ExecutionStatus);

async fn outcome(runtime: &Runtime, id: &str) -> Outcome {
    let mut actions = runtime.actions(id).await.expect("actions");
    actions.sort_by_key(|a| a.started_ms);
    let rows = actions
        .into_iter()
        .map(|a| (a.stage, a.action, format!("{:?}", a.status)))
        .collect();
    (rows, runtime.execution(id).await.expect("execution").status)
}

async fn embedded_run() -> Outcome {
    let dir = tempfile::tempdir().expect("temp");
    let (runtime, engine) = wire(dir.path(), TestEnv::at(1_800_000_000_000));
    let (pipeline, base) = hello();
    runtime
        .put_pipeline(pipeline, Some(base))
        .await
        .expect("stored");
    let stop = Arc::new(Notify::new());
    let driving = tokio::spawn(Arc::clone(&engine).run(Arc::clone(&stop)));
    let id = runtime
        .start_execution("hello", StartRequest::default())
        .await
        .expect("started")
        .execution_id;
    let deadline = Instant::now() + Duration::from_secs(60);
    while !runtime
        .execution(&id)
        .await
        .expect("read")
        .status
        .is_final()
    {
        assert!(
            Instant::now() < deadline,
            "embedded run did not end in 60 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let out = outcome(&runtime, &id).await;
    stop.notify_one();
    driving.await.expect("engine stops");
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hello_runs_the_same_on_step_functions_as_embedded() {
    let sdk = config().await;
    moto::enable_step_functions_execution();
    let dir = tempfile::tempdir().expect("temp");
    let dynamo = aws_sdk_dynamodb::Client::new(&sdk);
    let table = unique("sluice-fidelity");
    DynamoStore::create_table(&dynamo, &table)
        .await
        .expect("table");
    let store = Arc::new(Counting {
        inner: DynamoStore::new(dynamo, table),
        transactions: AtomicU64::new(0),
        writes: AtomicU64::new(0),
    });
    let s3 = aws_sdk_s3::Client::new(&sdk);
    let bucket = unique("sluice-fidelity");
    s3.create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("bucket");
    let objects = Arc::new(S3ObjectStore::new(s3));
    let mut settings = StepFunctionsConfig::new(
        "arn:aws:iam::123456789012:role/sluice-states",
        ACCOUNT,
        "arn:aws:lambda:us-east-1:123456789012:function:sluice-dispatch",
    );
    // moto cannot start versions; see StartTarget.
    settings.start_target = StartTarget::CheckedLatest;
    settings.name_prefix = format!("fid{}-", std::process::id());
    let sfn = Arc::new(StepFunctionsOrchestrator::from_sdk(&sdk, settings).expect("sfn"));
    let agent = LocalAgent::new(
        objects.clone(),
        AgentConfig::new(dir.path().join("work"), dir.path().join("logs")),
    );
    let runtime = Arc::new(Runtime {
        store: store.clone(),
        objects,
        orchestrator: sfn.clone(),
        events: Arc::new(AwsNotifier::from_sdk(&sdk, "default", None)),
        executor: Arc::new(agent.clone()),
        env: TestEnv::at(1_800_000_000_000),
        config: RuntimeConfig {
            artifact_bucket: bucket,
            origin: Origin {
                account: ACCOUNT.into(),
                region: "us-east-1".into(),
            },
            limits: Limits::default(),
        },
    });
    agent.set_listener(runtime.clone());

    let (pipeline, base) = hello();
    runtime
        .put_pipeline(pipeline, Some(base))
        .await
        .expect("stored");
    let before = store.writes.load(Ordering::SeqCst);
    let transactions_before = store.transactions.load(Ordering::SeqCst);
    let id = runtime
        .start_execution("hello", StartRequest::default())
        .await
        .expect("started")
        .execution_id;

    // The dispatch Lambda's part: every scheduled task's payload goes to the handler, once.
    let arn = sfn.execution_arn("hello", &id);
    let mut seen = HashSet::new();
    let mut invocations = 0;
    let deadline = Instant::now() + Duration::from_secs(90);
    let status = loop {
        for task in moto::new_tasks(sfn.client(), &arn, &mut seen).await {
            invocations += 1;
            runtime
                .handle(task.request.clone())
                .await
                .unwrap_or_else(|e| panic!("{}: {e}", moto::describe(&task.request)));
        }
        let status = moto::status(sfn.client(), &arn).await;
        if status != "RUNNING" {
            break status;
        }
        assert!(Instant::now() < deadline, "{arn} still RUNNING after 90 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // The recorder's part: close the execution record as the state machine ended.
    let run_outcome = match status.as_str() {
        "SUCCEEDED" => RunOutcome::Succeeded,
        "ABORTED" => RunOutcome::Aborted,
        other => RunOutcome::Failed {
            error: other.to_owned(),
            cause: String::new(),
        },
    };
    runtime.finish_run(&id, run_outcome).await.expect("finish");
    let events = moto::history(sfn.client(), &arn).await;
    let history = events.len();
    // Step Functions bills a state transition for each state entered.
    let transitions = events
        .iter()
        .filter(|e| e.r#type().as_str().ends_with("StateEntered"))
        .count();
    let writes = store.writes.load(Ordering::SeqCst) - before;
    let transactions = store.transactions.load(Ordering::SeqCst) - transactions_before;
    eprintln!(
        "hello on Step Functions: {transitions} state transitions ({history} history events), \
         {invocations} dispatch invocations, {transactions} DynamoDB transactions holding {writes} item writes"
    );

    let on_aws = outcome(&runtime, &id).await;
    assert_eq!(status, "SUCCEEDED", "{on_aws:?}");
    let embedded = embedded_run().await;
    assert_eq!(on_aws, embedded, "action order and final statuses agree");
}
