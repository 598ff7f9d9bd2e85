//! CreatePipeline, GetPipeline, UpdatePipeline, DeletePipeline, ListPipelines. Every declaration answered
//! carries a `roleArn`: the pipeline's, or [`default_role_arn`] when it was declared without one.

use sluice_definition::Pipeline;
use sluice_runtime::RuntimeError;

use crate::codepipeline::context::*;
use crate::codepipeline::errors::*;
use crate::codepipeline::request::*;
use crate::codepipeline::types::pipelines::*;

impl Api<'_> {
    fn default_role(&self) -> String {
        default_role_arn(&self.runtime.config.origin.account)
    }

    /// The declaration as answered: with the default role when it has none.
    fn declared(&self, mut pipeline: Pipeline) -> Pipeline {
        if pipeline.role_arn.is_none() {
            pipeline.role_arn = Some(self.default_role());
        }
        pipeline
    }

    /// The declaration as stored: the default role given back (from an answer of ours) is no role.
    fn undeclared(&self, mut pipeline: Pipeline) -> Pipeline {
        if pipeline.role_arn.as_deref() == Some(self.default_role().as_str()) {
            pipeline.role_arn = None;
        }
        pipeline
    }

    pub(crate) async fn create_pipeline(
        &self,
        input: CreatePipelineInput,
    ) -> ApiResult<CreatePipelineOutput> {
        let definition = self.undeclared(definition(input.pipeline)?);
        self.check_custom_actions(&definition).await?;
        let name = definition.name.clone();
        let record = self
            .runtime
            .create_pipeline(definition, None, input.tags.clone().unwrap_or_default())
            .await
            .map_err(|e| match e {
                RuntimeError::Conflict(_) => ApiError::new(
                    "PipelineNameInUseException",
                    format!("A pipeline with the name {name} already exists"),
                ),
                other => other.into(),
            })?;
        Ok(CreatePipelineOutput {
            pipeline: self.declared(record.definition),
            tags: input.tags,
        })
    }

    pub(crate) async fn get_pipeline(
        &self,
        input: GetPipelineInput,
    ) -> ApiResult<GetPipelineOutput> {
        let (head, newest) = self.current(&input.name).await?;
        let record = match input.version {
            None => newest,
            Some(v) => match self.runtime.pipeline(&input.name, Some(v)).await {
                Ok(r) if v <= head.version => r,
                Ok(_) | Err(RuntimeError::PipelineNotFound(_)) => {
                    return Err(ApiError::new(
                        "PipelineVersionNotFoundException",
                        format!("Pipeline {} has no version {v}", input.name),
                    ))
                }
                Err(e) => return Err(e.into()),
            },
        };
        let mut pipeline = record.definition;
        self.mask_secrets(&mut pipeline).await?;
        Ok(GetPipelineOutput {
            pipeline: self.declared(pipeline),
            metadata: PipelineMetadata {
                pipeline_arn: self.arn(&input.name),
                created: seconds(head.created_ms),
                updated: seconds(head.updated_ms),
            },
        })
    }

    pub(crate) async fn update_pipeline(
        &self,
        input: UpdatePipelineInput,
    ) -> ApiResult<UpdatePipelineOutput> {
        let mut definition = self.undeclared(definition(input.pipeline)?);
        // The definition's folder (a pipeline `sluice run` stored) stays, so relative paths still resolve.
        let (_, current) = self.current(&definition.name).await?;
        self.unmask_secrets(&mut definition, &current.definition);
        self.check_custom_actions(&definition).await?;
        let record = self
            .runtime
            .update_pipeline(definition, current.base_dir)
            .await
            .map_err(|e| match e {
                RuntimeError::Conflict(m) => ApiError::new("InvalidStructureException", m),
                other => other.into(),
            })?;
        Ok(UpdatePipelineOutput {
            pipeline: self.declared(record.definition),
        })
    }

    pub(crate) async fn delete_pipeline(&self, input: DeletePipelineInput) -> ApiResult<Empty> {
        self.runtime.delete_pipeline(&input.name).await?;
        Ok(Empty {})
    }

    pub(crate) async fn list_pipelines(
        &self,
        input: ListPipelinesInput,
    ) -> ApiResult<ListPipelinesOutput> {
        let after = input
            .next_token
            .map(|t| decode_token("pipelines", &t))
            .transpose()?;
        let (heads, next) = self
            .runtime
            .list_pipelines_page(input.max_results.unwrap_or(100), after.as_deref())
            .await?;
        let mut pipelines = Vec::new();
        for head in heads {
            let definition = self
                .runtime
                .pipeline(&head.name, Some(head.version))
                .await?
                .definition;
            pipelines.push(PipelineSummary {
                name: head.name,
                version: head.version,
                pipeline_type: format!("{:?}", definition.kind()),
                execution_mode: definition.mode().to_string(),
                created: seconds(head.created_ms),
                updated: seconds(head.updated_ms),
            });
        }
        Ok(ListPipelinesOutput {
            pipelines,
            next_token: next.map(|k| encode_token("pipelines", &k)),
        })
    }
}
