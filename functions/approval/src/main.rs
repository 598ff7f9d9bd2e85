//! The approval Lambda function: the approval pages on its function URL.

use aws_lambda_events::event::lambda_function_urls::LambdaFunctionUrlRequest;
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use sluice_functions::approval::Approval;
use sluice_functions::config::ApprovalConfig;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let deps = Approval::connect(ApprovalConfig::from_env()?).await?;
    let deps = &deps;
    run(service_fn(
        move |event: LambdaEvent<LambdaFunctionUrlRequest>| async move {
            Ok::<_, Error>(deps.handle(event.payload).await)
        },
    ))
    .await
}
