//! What a CodeStar connection connects to, for git source builds ([`crate::git_sources`]): its provider from
//! GetConnection, and for GitHub Enterprise Server and GitLab self-managed connections the host's endpoint from
//! GetHost. Asked with the function's own credentials (the template grants `GetConnection` and `GetHost` on
//! the account's connections and hosts), once per connection and cold start. A connection that is not
//! AVAILABLE (its handshake in the console not completed) fails the action, saying so.

use std::collections::HashMap;

use aws_sdk_codestarconnections::error::DisplayErrorContext;
use tokio::sync::Mutex;

use crate::git_sources::ConnectionHost;

/// Connections' providers, asked of CodeStar Connections and kept.
pub struct Connections {
    sdk: Option<aws_config::SdkConfig>,
    client: std::sync::OnceLock<aws_sdk_codestarconnections::Client>,
    known: Mutex<HashMap<String, ConnectionHost>>,
}

impl std::fmt::Debug for Connections {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connections").finish_non_exhaustive()
    }
}

impl Connections {
    /// Asks through `client`.
    pub fn new(client: aws_sdk_codestarconnections::Client) -> Self {
        Self {
            sdk: None,
            client: client.into(),
            known: Mutex::new(HashMap::new()),
        }
    }

    /// Asks through a client made from `sdk` when first needed (most functions never ask).
    pub fn from_sdk(sdk: aws_config::SdkConfig) -> Self {
        Self {
            sdk: Some(sdk),
            client: std::sync::OnceLock::new(),
            known: Mutex::new(HashMap::new()),
        }
    }

    fn client(&self) -> &aws_sdk_codestarconnections::Client {
        self.client.get_or_init(|| {
            // `new` sets the client, so a missing SDK configuration is never reached here.
            let sdk = self.sdk.clone().unwrap_or_else(|| {
                aws_config::SdkConfig::builder()
                    .behavior_version(aws_config::BehaviorVersion::latest())
                    .build()
            });
            aws_sdk_codestarconnections::Client::new(&sdk)
        })
    }

    /// What connection `arn` connects to.
    pub async fn host(&self, arn: &str) -> Result<ConnectionHost, String> {
        if let Some(host) = self.known.lock().await.get(arn) {
            return Ok(host.clone());
        }
        let out = self
            .client()
            .get_connection()
            .connection_arn(arn)
            .send()
            .await
            .map_err(|e| format!("cannot read connection {arn}: {}", DisplayErrorContext(&e)))?;
        let connection = out
            .connection()
            .ok_or_else(|| format!("GetConnection answered nothing for {arn}"))?;
        let status = connection
            .connection_status()
            .map_or("unknown", |s| s.as_str());
        if status != "AVAILABLE" {
            return Err(format!(
                "connection {arn} is {status}: it can be used once AVAILABLE (a new connection's handshake \
                 is completed in the console)"
            ));
        }
        let provider_type = connection
            .provider_type()
            .map(|p| p.as_str().to_owned())
            .ok_or_else(|| format!("GetConnection answered no ProviderType for {arn}"))?;
        let endpoint = match connection.host_arn().filter(|h| !h.is_empty()) {
            Some(host_arn) => {
                let host = self
                    .client()
                    .get_host()
                    .host_arn(host_arn)
                    .send()
                    .await
                    .map_err(|e| {
                        format!(
                            "cannot read host {host_arn} of connection {arn}: {}",
                            DisplayErrorContext(&e)
                        )
                    })?;
                host.provider_endpoint().map(str::to_owned)
            }
            None => None,
        };
        let host = ConnectionHost {
            provider_type,
            endpoint,
        };
        self.known.lock().await.insert(arn.to_owned(), host.clone());
        Ok(host)
    }
}
