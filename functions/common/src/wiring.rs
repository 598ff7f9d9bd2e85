//! SDK clients and adapters, built once at cold start, assembled into a runtime. Endpoints, region and
//! credentials come from the standard AWS settings only (`AWS_ENDPOINT_URL` reaches an emulator).

use std::sync::Arc;

use aws_config::SdkConfig;
use sluice_aws::StepFunctionsOrchestrator;
use sluice_aws::{ApprovalNotices, AwsNotifier, DynamoStore, S3ObjectStore, StepFunctionsConfig};
use sluice_definition::validate::Limits;
use sluice_runtime::events::Origin;
use sluice_runtime::ports::Env;
use sluice_runtime::{Runtime, RuntimeConfig};

use crate::config::{Common, ConfigError};
use crate::executor::AwsExecutor;

/// Why a function could not start.
#[derive(Debug, thiserror::Error)]
pub enum WiringError {
    /// The settings are incomplete.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The SDK configuration names no region.
    #[error("no AWS region (set AWS_REGION)")]
    NoRegion,
    /// A secret could not be read.
    #[error("cannot read secret {arn}: {message}")]
    Secret {
        /// The secret.
        arn: String,
        /// Why.
        message: String,
    },
    /// An adapter refused its settings.
    #[error("{0}")]
    Adapter(String),
}

/// The system's time and random ids.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemEnv;

impl Env for SystemEnv {
    fn now_ms(&self) -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
    }

    fn new_id(&self) -> String {
        uuid::Uuid::new_v4().to_string()
    }
}

/// What a function's runtime needs beyond every function's settings.
#[derive(Debug, Clone, Default)]
pub struct RuntimeSettings {
    /// The account (from an ARN in the function's settings).
    pub account: String,
    /// The artifact bucket; empty for functions that never touch artifacts.
    pub bucket: String,
    /// Where approval requests go (dispatch only).
    pub approvals: Option<ApprovalNotices>,
    /// The role created state machines run as (api only: only publishing needs it).
    pub state_machine_role_arn: String,
    /// The dispatch function's ARN (api only: filled into published machines).
    pub dispatch_function_arn: String,
    /// The CodeBuild project Commands actions run in (dispatch only).
    pub commands_project: Option<String>,
    /// The CodeBuild project git source actions run in (dispatch only).
    pub sources_project: Option<String>,
    /// The role Lambda actions' artifact credentials are minted from (the dispatch function's).
    pub artifact_role: Option<String>,
    /// The trigger function's URL, which PutWebhook's webhook URLs start with (api and cfn-resource).
    pub webhook_url: Option<String>,
}

impl RuntimeSettings {
    /// What the functions that change pipelines (api, cfn-resource) need: publishing state machines and naming
    /// webhook URLs; no approvals, builds or artifact credentials.
    pub fn control_plane(
        account: &str,
        bucket: &str,
        state_machine_role_arn: &str,
        dispatch_function_arn: &str,
        webhook_url: Option<&str>,
    ) -> Self {
        Self {
            account: account.to_owned(),
            bucket: bucket.to_owned(),
            state_machine_role_arn: state_machine_role_arn.to_owned(),
            dispatch_function_arn: dispatch_function_arn.to_owned(),
            webhook_url: webhook_url.map(str::to_owned),
            ..Self::default()
        }
    }
}

/// A function's runtime, and its executor (the dispatch function finishes builds through it).
pub struct Wired {
    /// The runtime.
    pub runtime: Arc<Runtime>,
    /// The runtime's executor.
    pub executor: Arc<AwsExecutor>,
}

/// Loads the SDK configuration from the standard sources.
pub async fn sdk() -> SdkConfig {
    sluice_aws::load_config().await
}

/// The runtime over DynamoDB, S3, Step Functions and EventBridge/SNS, with jobs run by [`AwsExecutor`] (its
/// inline jobs under the function's temporary folder).
pub fn runtime(
    sdk: &SdkConfig,
    common: &Common,
    settings: RuntimeSettings,
) -> Result<Wired, WiringError> {
    let region = sdk.region().ok_or(WiringError::NoRegion)?.to_string();
    let mut sfn = StepFunctionsConfig::new(
        settings.state_machine_role_arn,
        settings.account.clone(),
        settings.dispatch_function_arn,
    );
    sfn.name_prefix = common.state_machine_prefix.clone();
    let orchestrator = StepFunctionsOrchestrator::from_sdk(sdk, sfn)
        .map_err(|e| WiringError::Adapter(e.to_string()))?;
    let store = Arc::new(DynamoStore::new(
        aws_sdk_dynamodb_client(sdk),
        common.table.clone(),
    ));
    let executor = Arc::new(
        AwsExecutor::new(
            sdk.clone(),
            store.clone(),
            std::env::temp_dir().join("sluice"),
            settings.commands_project,
            settings.artifact_role,
        )
        .with_sources_project(settings.sources_project),
    );
    let runtime = Arc::new(Runtime {
        store: store.clone(),
        objects: Arc::new(S3ObjectStore::new(aws_sdk_s3_client(sdk))),
        orchestrator: Arc::new(orchestrator),
        events: Arc::new(
            AwsNotifier::from_sdk(sdk, common.event_bus.clone(), settings.approvals)
                // Approval links go to each approver, groups expanded with the stack's principals.
                .with_directory(Arc::new(crate::access::StackPeople::new(
                    store.clone(),
                    sdk,
                    "",
                ))),
        ),
        executor: executor.clone(),
        env: Arc::new(SystemEnv),
        definitions: Default::default(),
        config: RuntimeConfig {
            artifact_bucket: settings.bucket,
            origin: Origin {
                account: settings.account,
                region,
            },
            limits: Limits::default(),
            webhook_base_url: Default::default(),
        },
    });
    if let Some(url) = settings.webhook_url {
        let _ = runtime.config.webhook_base_url.set(url);
    }
    let listener: std::sync::Weak<dyn sluice_runtime::jobs::JobListener> =
        Arc::downgrade(&runtime) as _;
    executor.set_listener(listener);
    Ok(Wired { runtime, executor })
}

fn aws_sdk_dynamodb_client(sdk: &SdkConfig) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(sdk)
}

fn aws_sdk_s3_client(sdk: &SdkConfig) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::new(sdk)
}

/// Reads a secret's string (its bytes are the key) from Secrets Manager, once at cold start.
pub async fn secret(sdk: &SdkConfig, arn: &str) -> Result<Vec<u8>, WiringError> {
    let client = aws_sdk_secretsmanager::Client::new(sdk);
    let out = client
        .get_secret_value()
        .secret_id(arn)
        .send()
        .await
        .map_err(|e| WiringError::Secret {
            arn: arn.to_owned(),
            message: aws_sdk_secretsmanager::error::DisplayErrorContext(&e).to_string(),
        })?;
    match out.secret_string() {
        Some(s) if !s.is_empty() => Ok(s.as_bytes().to_vec()),
        _ => Err(WiringError::Secret {
            arn: arn.to_owned(),
            message: "the secret has no (or an empty) secret string".into(),
        }),
    }
}

/// Who may sign requests (the api function) or sign in (the approval function's console): the admin key pair
/// in `api_keys_secret_arn` and the principals in the store, each key's secret in Secrets Manager
/// ([`crate::access`]). Read once now, so a function that cannot read them does not start.
pub async fn access(
    sdk: &SdkConfig,
    store: Arc<dyn sluice_runtime::ports::ItemStore>,
    api_keys_secret_arn: &str,
    settings: &crate::config::AccessSettings,
) -> Result<crate::access::AccessCache, WiringError> {
    let people = crate::access::StackPeople::new(store, sdk, &settings.key_secret_prefix);
    let cache = crate::access::AccessCache::new(
        people,
        api_keys_secret_arn,
        std::time::Duration::from_secs(settings.cache_seconds),
    );
    cache.get().await.map_err(|e| WiringError::Secret {
        arn: api_keys_secret_arn.to_owned(),
        message: e.to_string(),
    })?;
    Ok(cache)
}
