//! GetActionType and UpdateActionType: action types as `ActionTypeDeclaration`s.
//!
//! Custom action types (owner `Custom`, which CodePipeline's newer action-type model leaves out) are shown and
//! updated as Sluice stores them; partner types (owner `ThirdParty`, a provider that is not built in) are
//! declared by UpdateActionType, since Sluice has no other way to register one; built-in types are shown with
//! their configuration keys from the provider catalog and cannot be updated. Sluice runs custom and partner
//! types' jobs through job workers only: a Lambda executor is refused.

use sluice_definition::providers::{self, Owner};
use sluice_definition::ActionTypeId;

use crate::codepipeline::context::*;
use crate::codepipeline::errors::*;
use crate::codepipeline::types::declarations::*;
use sluice_runtime::workers::{
    ActionTypeSettings, ArtifactCount, ConfigurationProperty, CustomActionType, JobWorkerSettings,
};

/// Built-in configuration keys whose values are secrets (shown as noEcho).
const SECRET_KEYS: &[&str] = &["OAuthToken", "ClientSecret", "RefreshToken"];

/// What runs the jobs of built-in types: the service itself.
const SERVICE_PRINCIPAL: &str = "codepipeline.amazonaws.com";

const JOB_WORKER: &str = "JobWorker";

fn not_found(id: &ActionTypeId) -> ApiError {
    ApiError::new(
        "ActionTypeNotFoundException",
        format!("action type {id} does not exist"),
    )
}

fn type_id(id: &DeclaredTypeId) -> ActionTypeId {
    ActionTypeId {
        category: id.category.clone(),
        owner: id.owner.clone(),
        provider: id.provider.clone(),
        version: id.version.clone(),
    }
}

/// A built-in provider's declaration, from the catalog.
fn built_in(spec: &providers::ProviderSpec) -> ActionTypeDeclaration {
    let property = |name: &&str, optional: bool| ActionTypeProperty {
        name: (*name).to_owned(),
        optional,
        key: false,
        no_echo: SECRET_KEYS.contains(name),
        queryable: None,
        description: None,
    };
    let count = |(min, max): (u8, u8)| ArtifactCount {
        minimum_count: u32::from(min),
        maximum_count: u32::from(max),
    };
    ActionTypeDeclaration {
        description: Some(format!("{}, built in to Sluice", spec.describe())),
        executor: Executor {
            configuration: ExecutorConfiguration {
                lambda_executor_configuration: None,
                job_worker_executor_configuration: Some(JobWorkerExecutorConfiguration {
                    polling_accounts: None,
                    polling_service_principals: Some(vec![SERVICE_PRINCIPAL.into()]),
                }),
            },
            kind: JOB_WORKER.into(),
            policy_statements_template: None,
            job_timeout: None,
        },
        id: DeclaredTypeId {
            category: spec.category.as_str().into(),
            owner: spec.owner.as_str().into(),
            provider: spec.provider.into(),
            version: spec.version.into(),
        },
        input_artifact_details: count(spec.inputs),
        output_artifact_details: count(spec.outputs),
        permissions: None,
        properties: Some(
            spec.required
                .iter()
                .map(|n| property(n, false))
                .chain(spec.optional.iter().map(|n| property(n, true)))
                .collect(),
        ),
        urls: None,
    }
}

/// A stored (custom or partner) type's declaration; its workers poll from `account` unless it says otherwise.
fn stored(t: &CustomActionType, account: &str) -> ActionTypeDeclaration {
    let worker = t.job_worker.clone().unwrap_or_default();
    let settings = t.settings.clone();
    ActionTypeDeclaration {
        description: t.description.clone(),
        executor: Executor {
            configuration: ExecutorConfiguration {
                lambda_executor_configuration: None,
                job_worker_executor_configuration: Some(JobWorkerExecutorConfiguration {
                    polling_accounts: worker
                        .polling_accounts
                        .or_else(|| Some(vec![account.to_owned()])),
                    polling_service_principals: worker.polling_service_principals,
                }),
            },
            kind: JOB_WORKER.into(),
            policy_statements_template: worker.policy_statements_template,
            job_timeout: worker.job_timeout,
        },
        id: DeclaredTypeId {
            category: t.id.category.clone(),
            owner: t.id.owner.clone(),
            provider: t.id.provider.clone(),
            version: t.id.version.clone(),
        },
        input_artifact_details: t.input_artifact_details,
        output_artifact_details: t.output_artifact_details,
        permissions: t
            .allowed_accounts
            .clone()
            .map(|allowed_accounts| Permissions { allowed_accounts }),
        properties: Some(
            t.configuration_properties
                .iter()
                .map(|p| ActionTypeProperty {
                    name: p.name.clone(),
                    optional: !p.required,
                    key: p.key,
                    no_echo: p.secret,
                    queryable: p.queryable,
                    description: p.description.clone(),
                })
                .collect(),
        ),
        urls: settings.map(|s| ActionTypeUrls {
            configuration_url: s.third_party_configuration_url,
            entity_url_template: s.entity_url_template,
            execution_url_template: s.execution_url_template,
            revision_url_template: s.revision_url_template,
        }),
    }
}

/// The stored type a declaration makes of `current` (None: a partner type declared for the first time).
fn from_declaration(
    d: ActionTypeDeclaration,
    current: Option<&CustomActionType>,
) -> ApiResult<CustomActionType> {
    if d.executor.kind != JOB_WORKER {
        return Err(ApiError::new(
            "ValidationException",
            format!(
                "actionType.executor.type: Sluice runs custom and partner action types' jobs by job workers \
                 (JobWorker), not {}",
                d.executor.kind
            ),
        ));
    }
    if d.executor
        .configuration
        .lambda_executor_configuration
        .is_some()
    {
        return Err(ApiError::new(
            "ValidationException",
            "actionType.executor.configuration.lambdaExecutorConfiguration: a JobWorker executor takes \
             jobWorkerExecutorConfiguration",
        ));
    }
    let worker = d
        .executor
        .configuration
        .job_worker_executor_configuration
        .unwrap_or_default();
    let kind_of = |name: &str| {
        current.and_then(|c| {
            c.configuration_properties
                .iter()
                .find(|p| p.name == name)
                .and_then(|p| p.kind.clone())
        })
    };
    Ok(CustomActionType {
        id: type_id(&d.id),
        settings: d.urls.map(|u| ActionTypeSettings {
            third_party_configuration_url: u.configuration_url,
            entity_url_template: u.entity_url_template,
            execution_url_template: u.execution_url_template,
            revision_url_template: u.revision_url_template,
        }),
        configuration_properties: d
            .properties
            .unwrap_or_default()
            .into_iter()
            .map(|p| ConfigurationProperty {
                kind: kind_of(&p.name),
                name: p.name,
                required: !p.optional,
                key: p.key,
                secret: p.no_echo,
                queryable: p.queryable,
                description: p.description,
            })
            .collect(),
        input_artifact_details: d.input_artifact_details,
        output_artifact_details: d.output_artifact_details,
        deleted: false,
        created_ms: current.map_or(0, |c| c.created_ms),
        description: d.description,
        job_worker: Some(JobWorkerSettings {
            polling_accounts: worker.polling_accounts,
            polling_service_principals: worker.polling_service_principals,
            job_timeout: d.executor.job_timeout,
            policy_statements_template: d.executor.policy_statements_template,
        }),
        allowed_accounts: d.permissions.map(|p| p.allowed_accounts),
    })
}

impl Api<'_> {
    /// A custom or partner type as stored, or a built-in one; None when there is no such type.
    async fn declaration(&self, id: &ActionTypeId) -> ApiResult<Option<ActionTypeDeclaration>> {
        let account = &self.runtime.config.origin.account;
        if id.owner == Owner::Custom.as_str() {
            let t = self.runtime.custom_action_type(id).await?;
            return Ok(t.map(|t| stored(&t, account)));
        }
        if providers::is_partner(id) {
            let t = self.runtime.partner_action_type(id).await?;
            return Ok(t.map(|t| stored(&t, account)));
        }
        Ok(providers::find(id).map(built_in))
    }

    pub(crate) async fn get_action_type(
        &self,
        input: GetActionTypeInput,
    ) -> ApiResult<GetActionTypeOutput> {
        let id = ActionTypeId {
            category: input.category,
            owner: input.owner,
            provider: input.provider,
            version: input.version,
        };
        let action_type = self.declaration(&id).await?.ok_or_else(|| not_found(&id))?;
        Ok(GetActionTypeOutput { action_type })
    }

    pub(crate) async fn update_action_type(
        &self,
        input: UpdateActionTypeInput,
    ) -> ApiResult<crate::codepipeline::types::pipelines::Empty> {
        let id = type_id(&input.action_type.id);
        let current = if id.owner == Owner::Custom.as_str() {
            Some(
                self.runtime
                    .custom_action_type(&id)
                    .await?
                    .ok_or_else(|| not_found(&id))?,
            )
        } else if providers::is_partner(&id) {
            self.runtime.partner_action_type(&id).await?
        } else if providers::find(&id).is_some() {
            return Err(ApiError::new(
                "RequestFailedException",
                format!("action type {id} is built in to Sluice and cannot be updated"),
            ));
        } else {
            return Err(not_found(&id));
        };
        let next = from_declaration(input.action_type, current.as_ref())?;
        self.runtime.update_action_type(next).await?;
        Ok(crate::codepipeline::types::pipelines::Empty {})
    }
}
