//! The dispatch Lambda function: every task of Sluice's state machines (and CodeBuild build events).

use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use serde_json::Value;
use sluice_functions::config::DispatchConfig;
use sluice_functions::dispatch::Dispatch;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let deps = Dispatch::connect(DispatchConfig::from_env()?).await?;
    let deps = &deps;
    run(service_fn(move |event: LambdaEvent<Value>| {
        deps.handle(event.payload)
    }))
    .await
}
