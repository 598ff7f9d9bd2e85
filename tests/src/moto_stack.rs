//! The runtime as the dispatch function wires it, on moto: a fresh DynamoDB table, an artifact bucket, the
//! Step Functions orchestrator (starting the latest state machine after checking it, as moto cannot start
//! versions), EventBridge's default bus and the executor the suite gives it. The suites that play the dispatch
//! function (`aws_jobs.rs`, `aws_rollback.rs`, `aws_rule_jobs.rs`) share it; each builds its `AwsExecutor` over
//! [`MotoStack::store`] (sluice-functions is a dev-dependency only) and sets the runtime as its listener.

use std::sync::Arc;

use sluice_aws::{AwsNotifier, DynamoStore, S3ObjectStore, StartTarget, StepFunctionsOrchestrator};
use sluice_definition::Limits;
use sluice_runtime::events::Origin;
use sluice_runtime::jobs::Executor;
use sluice_runtime::{Runtime, RuntimeConfig};

use crate::moto::{self, config, unique, ACCOUNT};

/// What the runtime is built from.
pub struct MotoStack {
    /// The SDK configuration (moto's endpoint).
    pub sdk: aws_config::SdkConfig,
    /// The store, on a table of its own.
    pub store: Arc<DynamoStore>,
    /// S3.
    pub s3: aws_sdk_s3::Client,
    /// Step Functions.
    pub sfn: Arc<StepFunctionsOrchestrator>,
    /// The artifact bucket.
    pub bucket: String,
}

impl MotoStack {
    /// A table and an artifact bucket named after `name`, and state machines named `<name><pid>-<pipeline>`.
    pub async fn open(name: &str) -> Self {
        moto::enable_step_functions_execution();
        let sdk = config().await;
        let dynamo = aws_sdk_dynamodb::Client::new(&sdk);
        let table = unique(&format!("sluice-{name}"));
        DynamoStore::create_table(&dynamo, &table)
            .await
            .expect("table");
        let store = Arc::new(DynamoStore::new(dynamo, table));
        let s3 = aws_sdk_s3::Client::new(&sdk);
        let bucket = unique("sluice-artifacts");
        s3.create_bucket()
            .bucket(&bucket)
            .send()
            .await
            .expect("bucket");
        let sfn = Arc::new(moto::orchestrator(
            &sdk,
            &Self::prefix(name),
            StartTarget::CheckedLatest,
        ));
        Self {
            sdk,
            store,
            s3,
            sfn,
            bucket,
        }
    }

    /// The state machine prefix of a stack opened as `name`.
    pub fn prefix(name: &str) -> String {
        format!("{name}{}-", std::process::id())
    }

    /// The runtime over these adapters and `executor` (whose listener the caller sets to it).
    pub fn runtime(&self, executor: Arc<dyn Executor>) -> Arc<Runtime> {
        Arc::new(Runtime {
            store: self.store.clone(),
            objects: Arc::new(S3ObjectStore::new(self.s3.clone())),
            orchestrator: self.sfn.clone(),
            events: Arc::new(AwsNotifier::from_sdk(&self.sdk, "default", None)),
            executor,
            env: Arc::new(sluice_engine::SystemEnv),
            definitions: Default::default(),
            config: RuntimeConfig {
                artifact_bucket: self.bucket.clone(),
                origin: Origin {
                    account: ACCOUNT.into(),
                    region: "us-east-1".into(),
                },
                limits: Limits::default(),
                webhook_base_url: Default::default(),
            },
        })
    }
}
