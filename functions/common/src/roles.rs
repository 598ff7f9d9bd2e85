//! Working as a pipeline's role: the SDK configuration with an assumed role's credentials (the action's
//! `roleArn`, else the pipeline's), as the dispatch function runs actions and the trigger function polls
//! sources.

use aws_config::SdkConfig;
use aws_credential_types::provider::{ProvideCredentials as _, SharedCredentialsProvider};

/// `sdk` with `role`'s credentials, or `sdk` itself when no role is named. Fails at once, naming the role, when
/// it cannot be assumed (rather than at the first request made with it).
pub async fn assume(
    sdk: &SdkConfig,
    role: Option<&str>,
    session: &str,
) -> Result<SdkConfig, String> {
    let Some(role) = role.filter(|r| !r.is_empty()) else {
        return Ok(sdk.clone());
    };
    let provider = aws_config::sts::AssumeRoleProvider::builder(role)
        .session_name(session)
        .configure(sdk)
        .build()
        .await;
    provider
        .provide_credentials()
        .await
        .map_err(|e| format!("cannot assume the role {role}: {e}"))?;
    Ok(sdk
        .to_builder()
        .credentials_provider(SharedCredentialsProvider::new(provider))
        .build())
}
