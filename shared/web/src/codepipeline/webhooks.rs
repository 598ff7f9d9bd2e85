//! PutWebhook, ListWebhooks and DeleteWebhook over the runtime's webhooks; RegisterWebhookWithThirdParty and
//! DeregisterWebhookWithThirdParty answer that the hook is registered by hand (Sluice holds no GitHub token).

use sluice_runtime::webhooks::WebhookRecord;

use crate::codepipeline::context::*;
use crate::codepipeline::errors::*;
use crate::codepipeline::request::*;
use crate::codepipeline::tags::webhook_resource;
use crate::codepipeline::types::pipelines::Empty;
use crate::codepipeline::types::webhooks::*;
use crate::webhooks::webhook_path;

/// What ListWebhooks shows instead of a secret token.
const REDACTED: &str = "****";

impl Api<'_> {
    /// The webhook as CodePipeline shows it: its URL, ARN and last trigger, the secret token redacted.
    pub(crate) fn webhook_item(
        &self,
        record: WebhookRecord,
        tags: Option<Vec<sluice_definition::Tag>>,
    ) -> ListWebhookItem {
        let origin = &self.runtime.config.origin;
        let name = record.definition.name.clone();
        let base = self
            .runtime
            .config
            .webhook_base_url
            .get()
            .map_or("", String::as_str);
        let mut definition = record.definition;
        if definition
            .authentication_configuration
            .secret_token
            .is_some()
        {
            definition.authentication_configuration.secret_token = Some(REDACTED.into());
        }
        ListWebhookItem {
            definition,
            url: format!("{}{}", base.trim_end_matches('/'), webhook_path(&name)),
            arn: format!(
                "arn:aws:codepipeline:{}:{}:webhook:{name}",
                origin.region, origin.account
            ),
            last_triggered: record.last_triggered_ms.map(seconds),
            tags,
        }
    }

    pub(crate) async fn put_webhook(&self, input: PutWebhookInput) -> ApiResult<PutWebhookOutput> {
        let name = input.webhook.name.clone();
        let record = self
            .runtime
            .put_webhook(input.webhook)
            .await
            .map_err(|e| match e {
                sluice_runtime::RuntimeError::Invalid(m) if m.contains(".filters") => {
                    ApiError::new("InvalidWebhookFilterPatternException", m)
                }
                sluice_runtime::RuntimeError::Invalid(m) if m.contains(".authentication") => {
                    ApiError::new("InvalidWebhookAuthenticationParametersException", m)
                }
                other => other.into(),
            })?;
        if let Some(tags) = &input.tags {
            self.runtime
                .put_resource_tags(&webhook_resource(&name), tags.clone())
                .await?;
        }
        Ok(PutWebhookOutput {
            webhook: self.webhook_item(record, input.tags),
        })
    }

    pub(crate) async fn list_webhooks(
        &self,
        input: ListWebhooksInput,
    ) -> ApiResult<ListWebhooksOutput> {
        let all = self.runtime.webhooks().await?;
        let after = input
            .next_token
            .as_deref()
            .map(|t| decode_token("webhooks", t))
            .transpose()?;
        let max = input.max_results.unwrap_or(100);
        let mut page: Vec<WebhookRecord> = all
            .into_iter()
            .filter(|w| {
                after
                    .as_deref()
                    .is_none_or(|a| w.definition.name.as_str() > a)
            })
            .collect();
        let more = page.len() > max;
        page.truncate(max);
        let next_token = more
            .then(|| {
                page.last()
                    .map(|w| encode_token("webhooks", &w.definition.name))
            })
            .flatten();
        let mut webhooks = Vec::with_capacity(page.len());
        for record in page {
            let tags = self
                .runtime
                .resource_tags(&webhook_resource(&record.definition.name))
                .await?;
            let tags = (!tags.is_empty()).then_some(tags);
            webhooks.push(self.webhook_item(record, tags));
        }
        Ok(ListWebhooksOutput {
            webhooks,
            next_token,
        })
    }

    pub(crate) async fn delete_webhook(&self, input: DeleteWebhookInput) -> ApiResult<Empty> {
        self.runtime.delete_webhook(&input.name).await?;
        self.runtime
            .put_resource_tags(&webhook_resource(&input.name), Vec::new())
            .await?;
        Ok(Empty {})
    }

    /// Sluice holds no token for the hosting service: registering is the user's step, named here.
    pub(crate) async fn register_webhook(&self, input: ThirdPartyWebhookInput) -> ApiResult<Empty> {
        let name = input.webhook_name.unwrap_or_default();
        let Some(record) = self.runtime.webhook(&name).await? else {
            return Err(ApiError::new(
                "WebhookNotFoundException",
                format!("webhook {name:?} does not exist"),
            ));
        };
        let item = self.webhook_item(record, None);
        Err(ApiError::new(
            "ValidationException",
            format!(
                "Sluice does not register webhooks with GitHub (it holds no GitHub token): add a webhook to the \
                 repository's settings with payload URL {} and content type application/json, signed with the \
                 webhook's secret token",
                item.url
            ),
        ))
    }

    /// Nothing was registered, so there is nothing to deregister: answered as done for existing webhooks.
    pub(crate) async fn deregister_webhook(
        &self,
        input: ThirdPartyWebhookInput,
    ) -> ApiResult<Empty> {
        let name = input.webhook_name.unwrap_or_default();
        if self.runtime.webhook(&name).await?.is_none() {
            return Err(ApiError::new(
                "WebhookNotFoundException",
                format!("webhook {name:?} does not exist"),
            ));
        }
        Ok(Empty {})
    }
}
