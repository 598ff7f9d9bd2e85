//! The AWS adapters of the runtime ports (`sluice_runtime::ports`): DynamoDB for the item store, S3 for
//! the object store, Step Functions for the orchestrator, EventBridge and SNS for the event sink. The store
//! adapters pass the same conformance suites as the embedded adapters in `sluice-local`.
//!
//! Clients come from the standard AWS configuration ([`load_config`]); an emulator is reached through
//! `AWS_ENDPOINT_URL` like any other endpoint, so nothing here knows about emulators.

pub mod dynamo;
pub mod notifier;
pub mod s3;
pub mod sfn;

pub use dynamo::DynamoStore;
pub use notifier::{ApprovalNotices, AwsNotifier};
pub use s3::S3ObjectStore;
pub use sfn::{StartTarget, StepFunctionsConfig, StepFunctionsOrchestrator};

/// Loads the SDK configuration from the standard sources (environment, profile, IMDS), endpoint included.
pub async fn load_config() -> aws_config::SdkConfig {
    aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await
}
