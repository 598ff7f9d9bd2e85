//! The trigger Lambda function: GitHub webhooks on its function URL, S3 and ECR events from EventBridge.

use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use serde_json::Value;
use sluice_functions::config::TriggerConfig;
use sluice_functions::trigger::Trigger;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let deps = Trigger::connect(TriggerConfig::from_env()?).await?;
    let deps = &deps;
    run(service_fn(move |event: LambdaEvent<Value>| {
        deps.handle(event.payload)
    }))
    .await
}
