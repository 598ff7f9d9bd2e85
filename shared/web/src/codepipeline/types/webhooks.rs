//! Requests and responses of the webhook operations.

use serde::{Deserialize, Serialize};
use sluice_definition::Tag;

use sluice_runtime::webhooks::WebhookDefinition;

/// PutWebhook's input.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PutWebhookInput {
    pub webhook: WebhookDefinition,
    pub tags: Option<Vec<Tag>>,
}

/// A webhook as PutWebhook and ListWebhooks show it (the secret token redacted).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ListWebhookItem {
    pub definition: WebhookDefinition,
    pub url: String,
    pub arn: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_triggered: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<Tag>>,
}

/// PutWebhook's output.
#[derive(Debug, Serialize)]
pub struct PutWebhookOutput {
    pub webhook: ListWebhookItem,
}

/// ListWebhooks' input (CodePipeline spells its members in PascalCase).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct ListWebhooksInput {
    pub next_token: Option<String>,
    pub max_results: Option<usize>,
}

/// ListWebhooks' output.
#[derive(Debug, Serialize)]
pub struct ListWebhooksOutput {
    pub webhooks: Vec<ListWebhookItem>,
    #[serde(rename = "NextToken", skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

/// DeleteWebhook's input.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeleteWebhookInput {
    pub name: String,
}

/// RegisterWebhookWithThirdParty's and DeregisterWebhookWithThirdParty's input.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ThirdPartyWebhookInput {
    pub webhook_name: Option<String>,
}
