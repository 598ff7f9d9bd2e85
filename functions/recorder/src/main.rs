//! The recorder Lambda function: Step Functions execution status changes, and the five-minute sweep.

use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use serde_json::Value;
use sluice_functions::config::RecorderConfig;
use sluice_functions::recorder::Recorder;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let deps = Recorder::connect(RecorderConfig::from_env()?).await?;
    let deps = &deps;
    run(service_fn(move |event: LambdaEvent<Value>| {
        deps.handle(event.payload)
    }))
    .await
}
