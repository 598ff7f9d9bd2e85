//! The cfn-resource Lambda function: `Custom::SluicePipeline` and `Custom::SluiceCustomActionType` for
//! CloudFormation stacks, through the ServiceToken the Sluice stack exports.

use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use serde_json::Value;
use sluice_functions::cfn_resource::CfnResource;
use sluice_functions::config::CfnResourceConfig;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let deps = CfnResource::connect(CfnResourceConfig::from_env()?).await?;
    let deps = &deps;
    run(service_fn(move |event: LambdaEvent<Value>| async move {
        deps.handle(event.payload).await.map_err(Error::from)
    }))
    .await
}
