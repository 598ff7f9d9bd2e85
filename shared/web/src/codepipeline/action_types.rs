//! Custom action types (Create, Delete, ListActionTypes with the built-in ones), the checks pipelines using
//! them pass, and masking their secret configuration properties.

use sluice_definition::{ActionTypeId, Pipeline};
use std::collections::BTreeMap;

use sluice_definition::providers::{self, Owner};

use crate::codepipeline::context::*;
use crate::codepipeline::errors::*;
use crate::codepipeline::tags::*;
use crate::codepipeline::types::executions::*;
use crate::codepipeline::types::pipelines::*;
use crate::codepipeline::types::workers::*;
use sluice_runtime::workers::{ArtifactCount, ConfigurationProperty, CustomActionType};

/// The built-in action types, as ListActionTypes shows them.
pub(crate) fn built_in_types(owner: Option<&str>) -> Vec<ActionTypeOut> {
    providers::BUILT_IN
        .iter()
        .filter(|p| owner.is_none_or(|o| p.owner.as_str() == o))
        .map(|p| {
            let property = |name: &&str, required: bool| ConfigurationProperty {
                name: (*name).to_owned(),
                required,
                key: false,
                secret: false,
                queryable: None,
                description: None,
                kind: None,
            };
            ActionTypeOut {
                id: ActionTypeId {
                    category: p.category.as_str().to_owned(),
                    owner: p.owner.as_str().to_owned(),
                    provider: p.provider.to_owned(),
                    version: p.version.to_owned(),
                },
                settings: None,
                action_configuration_properties: p
                    .required
                    .iter()
                    .map(|n| property(n, true))
                    .chain(p.optional.iter().map(|n| property(n, false)))
                    .collect(),
                input_artifact_details: ArtifactCount {
                    minimum_count: u32::from(p.inputs.0),
                    maximum_count: u32::from(p.inputs.1),
                },
                output_artifact_details: ArtifactCount {
                    minimum_count: u32::from(p.outputs.0),
                    maximum_count: u32::from(p.outputs.1),
                },
            }
        })
        .collect()
}

/// What GetPipeline shows instead of a secret configuration value.
pub(crate) const SECRET_MASK: &str = "****";

/// Replaces the values of `secrets` in a configuration with the mask.
pub(crate) fn mask(config: &mut BTreeMap<String, String>, secrets: &[String]) {
    for name in secrets {
        if let Some(v) = config.get_mut(name) {
            *v = SECRET_MASK.into();
        }
    }
}

impl Api<'_> {
    /// Refuses a definition whose custom actions name an action type that does not exist, or leave out a
    /// required configuration property, or set one the type does not have.
    pub(crate) async fn check_custom_actions(&self, pipeline: &Pipeline) -> ApiResult<()> {
        for (si, ai, _, action) in pipeline.actions() {
            let id = &action.action_type_id;
            if id.owner != Owner::Custom.as_str() {
                continue;
            }
            let at = format!("pipeline.stages[{si}].actions[{ai}]");
            let Some(t) = self.runtime.custom_action_type(id).await? else {
                return Err(ApiError::new(
                    "InvalidActionDeclarationException",
                    format!(
                        "{at}.actionTypeId: action type {id} does not exist (create it with CreateCustomActionType)"
                    ),
                ));
            };
            let config = action.configuration.clone().unwrap_or_default();
            for p in &t.configuration_properties {
                if p.required && !config.contains_key(&p.name) {
                    return Err(ApiError::new(
                        "InvalidActionDeclarationException",
                        format!(
                            "{at}.configuration: {id} requires the configuration property {:?}",
                            p.name
                        ),
                    ));
                }
            }
            for key in config.keys() {
                if !t.configuration_properties.iter().any(|p| &p.name == key) {
                    return Err(ApiError::new(
                        "InvalidActionDeclarationException",
                        format!(
                            "{at}.configuration.{key}: {id} has no configuration property {key:?}"
                        ),
                    ));
                }
            }
            let inputs = action.input_artifacts.as_ref().map_or(0, Vec::len) as u32;
            let outputs = action.output_artifacts.as_ref().map_or(0, Vec::len) as u32;
            let ArtifactCount {
                minimum_count,
                maximum_count,
            } = t.input_artifact_details;
            if !(minimum_count..=maximum_count).contains(&inputs) {
                return Err(ApiError::new(
                    "InvalidActionDeclarationException",
                    format!("{at}.inputArtifacts: {id} takes {minimum_count} to {maximum_count} input artifacts, found {inputs}"),
                ));
            }
            let ArtifactCount {
                minimum_count,
                maximum_count,
            } = t.output_artifact_details;
            if !(minimum_count..=maximum_count).contains(&outputs) {
                return Err(ApiError::new(
                    "InvalidActionDeclarationException",
                    format!("{at}.outputArtifacts: {id} makes {minimum_count} to {maximum_count} output artifacts, found {outputs}"),
                ));
            }
        }
        Ok(())
    }

    /// The names of a custom action type's secret configuration properties (none for other types).
    pub(crate) async fn secret_properties(&self, id: &ActionTypeId) -> ApiResult<Vec<String>> {
        Ok(self
            .runtime
            .custom_action_type(id)
            .await?
            .map(|t| {
                t.configuration_properties
                    .into_iter()
                    .filter(|p| p.secret)
                    .map(|p| p.name)
                    .collect()
            })
            .unwrap_or_default())
    }

    /// Hides the values of custom actions' secret configuration properties, as GetPipeline shows them.
    pub(crate) async fn mask_secrets(&self, pipeline: &mut Pipeline) -> ApiResult<()> {
        for stage in &mut pipeline.stages {
            for action in &mut stage.actions {
                if action.action_type_id.owner != Owner::Custom.as_str() {
                    continue;
                }
                let secrets = self.secret_properties(&action.action_type_id).await?;
                if let Some(config) = action.configuration.as_mut() {
                    mask(config, &secrets);
                }
            }
        }
        Ok(())
    }

    /// Hides custom actions' secret configuration values in ListActionExecutions, declared and resolved.
    pub(crate) async fn mask_action_secrets(
        &self,
        details: &mut [ActionExecutionDetail],
    ) -> ApiResult<()> {
        for d in details {
            let input = &mut d.input;
            if input.action_type_id.owner != Owner::Custom.as_str() {
                continue;
            }
            let secrets = self.secret_properties(&input.action_type_id).await?;
            mask(&mut input.configuration, &secrets);
            mask(&mut input.resolved_configuration, &secrets);
        }
        Ok(())
    }

    /// UpdatePipeline with a definition read from GetPipeline carries masked secrets: keep the stored values.
    pub(crate) fn unmask_secrets(&self, pipeline: &mut Pipeline, current: &Pipeline) {
        for stage in &mut pipeline.stages {
            for action in &mut stage.actions {
                let Some(config) = action.configuration.as_mut() else {
                    continue;
                };
                let before = current
                    .stages
                    .iter()
                    .find(|s| s.name == stage.name)
                    .and_then(|s| s.actions.iter().find(|a| a.name == action.name))
                    .and_then(|a| a.configuration.as_ref());
                for (k, v) in config.iter_mut() {
                    if v == SECRET_MASK {
                        if let Some(old) = before.and_then(|b| b.get(k)) {
                            v.clone_from(old);
                        }
                    }
                }
            }
        }
    }

    pub(crate) async fn create_custom_action_type(
        &self,
        input: CreateCustomActionTypeInput,
    ) -> ApiResult<CreateCustomActionTypeOutput> {
        let id = ActionTypeId {
            category: input.category,
            owner: Owner::Custom.as_str().to_owned(),
            provider: input.provider,
            version: input.version,
        };
        let created = self
            .runtime
            .create_custom_action_type(CustomActionType {
                id: id.clone(),
                settings: input.settings,
                configuration_properties: input.configuration_properties.unwrap_or_default(),
                input_artifact_details: input.input_artifact_details,
                output_artifact_details: input.output_artifact_details,
                deleted: false,
                created_ms: 0,
                description: None,
                job_worker: None,
                allowed_accounts: None,
            })
            .await?;
        if let Some(tags) = &input.tags {
            self.runtime
                .put_resource_tags(&action_type_resource(&id), tags.clone())
                .await?;
        }
        Ok(CreateCustomActionTypeOutput {
            action_type: (&created).into(),
            tags: input.tags,
        })
    }

    pub(crate) async fn delete_custom_action_type(
        &self,
        input: DeleteCustomActionTypeInput,
    ) -> ApiResult<Empty> {
        let id = ActionTypeId {
            category: input.category,
            owner: Owner::Custom.as_str().to_owned(),
            provider: input.provider,
            version: input.version,
        };
        self.runtime.delete_custom_action_type(&id).await?;
        Ok(Empty {})
    }

    pub(crate) async fn list_action_types(
        &self,
        input: ListActionTypesInput,
    ) -> ApiResult<ListActionTypesOutput> {
        if input.next_token.is_some() {
            return Err(ApiError::new(
                "InvalidNextTokenException",
                "the next token does not come from a ListActionTypes response (every type fits one page)",
            ));
        }
        let owner = input.action_owner_filter.as_deref();
        let mut action_types = built_in_types(owner);
        if owner.is_none_or(|o| o == "Custom") {
            action_types.extend(
                self.runtime
                    .custom_action_types()
                    .await?
                    .iter()
                    .map(ActionTypeOut::from),
            );
        }
        // Partner types declared with UpdateActionType (any other partner name is accepted in pipelines too).
        if owner.is_none_or(|o| o == "ThirdParty") {
            action_types.extend(
                self.runtime
                    .partner_action_types()
                    .await?
                    .iter()
                    .map(ActionTypeOut::from),
            );
        }
        Ok(ListActionTypesOutput {
            action_types,
            next_token: None,
        })
    }
}
