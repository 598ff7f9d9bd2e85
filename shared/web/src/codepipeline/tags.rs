//! TagResource, UntagResource and ListTagsForResource, for pipelines, custom action types and webhooks.

use sluice_definition::{ActionTypeId, Tag};

use crate::codepipeline::context::*;
use crate::codepipeline::errors::*;
use crate::codepipeline::request::*;
use crate::codepipeline::types::pipelines::*;
use crate::codepipeline::types::workers::*;

/// The region of the embedded host's origin.
const LOCAL_REGION: &str = "local";

/// A resource an ARN names.
pub(crate) enum Resource {
    Pipeline(String),
    ActionType(ActionTypeId),
    Webhook(String),
}

/// The store partition holding a webhook's tags.
pub(crate) fn webhook_resource(name: &str) -> String {
    format!("WEBHOOK_TAGS#{name}")
}

/// The store partition holding a custom action type's tags.
pub(crate) fn action_type_resource(id: &ActionTypeId) -> String {
    format!(
        "ACTION_TYPE#{}#{}#{}#{}",
        id.owner, id.category, id.provider, id.version
    )
}

impl Api<'_> {
    /// What an ARN names: a pipeline or a custom action type of this account and region.
    pub(crate) async fn resource(&self, arn: &str) -> ApiResult<Resource> {
        let origin = &self.runtime.config.origin;
        let prefix = format!("arn:aws:codepipeline:{}:{}:", origin.region, origin.account);
        let invalid = || {
            ApiError::new(
                "InvalidArnException",
                format!("{arn:?} is not the ARN of a pipeline, custom action type or webhook of account {} in region {} (expected {prefix}NAME, {prefix}actiontype:Custom/CATEGORY/PROVIDER/VERSION or {prefix}webhook:NAME)", origin.account, origin.region),
            )
        };
        let rest = arn
            .strip_prefix(&prefix)
            .or_else(|| {
                // The embedded host (region `local`) answers for every region: the aws CLI and the SDKs build
                // ARNs with the region they are configured for.
                let parts: Vec<&str> = arn.splitn(6, ':').collect();
                let [a, partition, service, region, account, rest] = parts[..] else {
                    return None;
                };
                let region_like = !region.is_empty()
                    && region
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
                (origin.region == LOCAL_REGION
                    && (a, partition, service) == ("arn", "aws", "codepipeline")
                    && region_like
                    && account == origin.account)
                    .then_some(rest)
            })
            .ok_or_else(invalid)?;
        if let Some(name) = rest.strip_prefix("webhook:") {
            if self.runtime.webhook(name).await?.is_none() {
                return Err(ApiError::new(
                    "ResourceNotFoundException",
                    format!("webhook {name} does not exist"),
                ));
            }
            return Ok(Resource::Webhook(name.to_owned()));
        }
        if let Some(t) = rest.strip_prefix("actiontype:") {
            let parts: Vec<&str> = t.split('/').collect();
            let [owner, category, provider, version] = parts[..] else {
                return Err(invalid());
            };
            let id = ActionTypeId {
                category: category.to_owned(),
                owner: owner.to_owned(),
                provider: provider.to_owned(),
                version: version.to_owned(),
            };
            if self.runtime.custom_action_type(&id).await?.is_none() {
                return Err(ApiError::new(
                    "ResourceNotFoundException",
                    format!("action type {id} does not exist"),
                ));
            }
            return Ok(Resource::ActionType(id));
        }
        if rest.is_empty() || rest.contains(':') || rest.contains('/') {
            return Err(invalid());
        }
        if self.runtime.pipeline_head(rest).await?.is_none() {
            return Err(ApiError::new(
                "ResourceNotFoundException",
                format!("The resource with the ARN {arn} cannot be found"),
            ));
        }
        Ok(Resource::Pipeline(rest.to_owned()))
    }

    pub(crate) async fn tags_of(&self, resource: &Resource) -> ApiResult<Vec<Tag>> {
        Ok(match resource {
            Resource::Pipeline(name) => self.runtime.pipeline_tags(name).await?,
            Resource::ActionType(id) => {
                self.runtime
                    .resource_tags(&action_type_resource(id))
                    .await?
            }
            Resource::Webhook(name) => self.runtime.resource_tags(&webhook_resource(name)).await?,
        })
    }

    pub(crate) async fn set_tags(&self, resource: &Resource, tags: Vec<Tag>) -> ApiResult<()> {
        let key = match resource {
            Resource::Pipeline(name) => sluice_runtime::records::keys::pipeline(name),
            Resource::ActionType(id) => action_type_resource(id),
            Resource::Webhook(name) => webhook_resource(name),
        };
        self.runtime.put_resource_tags(&key, tags).await?;
        Ok(())
    }

    pub(crate) async fn tag_resource(&self, input: TagResourceInput) -> ApiResult<Empty> {
        let resource = self.resource(&input.resource_arn).await?;
        for t in &input.tags {
            if t.key.starts_with("aws:") {
                return Err(ApiError::new(
                    "InvalidTagsException",
                    format!("tag key {:?}: the aws: prefix is reserved", t.key),
                ));
            }
        }
        let mut tags = self.tags_of(&resource).await?;
        for t in input.tags {
            match tags.iter_mut().find(|x| x.key == t.key) {
                Some(existing) => existing.value = t.value,
                None => tags.push(t),
            }
        }
        if tags.len() > 50 {
            return Err(ApiError::new(
                "TooManyTagsException",
                format!(
                    "a resource may have at most 50 tags; this would give it {}",
                    tags.len()
                ),
            ));
        }
        self.set_tags(&resource, tags).await?;
        Ok(Empty {})
    }

    pub(crate) async fn untag_resource(&self, input: UntagResourceInput) -> ApiResult<Empty> {
        let resource = self.resource(&input.resource_arn).await?;
        let mut tags = self.tags_of(&resource).await?;
        tags.retain(|t| !input.tag_keys.contains(&t.key));
        self.set_tags(&resource, tags).await?;
        Ok(Empty {})
    }

    pub(crate) async fn list_tags(&self, input: ListTagsInput) -> ApiResult<ListTagsOutput> {
        let resource = self.resource(&input.resource_arn).await?;
        let tags = self.tags_of(&resource).await?;
        let start = match &input.next_token {
            None => 0,
            Some(t) => decode_token("tags", t)?.parse::<usize>().map_err(|_| {
                ApiError::new("InvalidNextTokenException", "the next token is not valid")
            })?,
        };
        let max = input.max_results.unwrap_or(50);
        let page: Vec<Tag> = tags.iter().skip(start).take(max).cloned().collect();
        let next_token = (start + page.len() < tags.len())
            .then(|| encode_token("tags", &(start + page.len()).to_string()));
        Ok(ListTagsOutput {
            tags: page,
            next_token,
        })
    }
}
