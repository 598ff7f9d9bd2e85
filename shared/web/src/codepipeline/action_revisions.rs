//! PutActionRevision: a source action told of a revision; a new one starts an execution
//! ([`sluice_runtime::action_revisions`]).

use crate::codepipeline::context::*;
use crate::codepipeline::errors::*;
use crate::codepipeline::types::revisions::*;

impl Api<'_> {
    pub(crate) async fn put_action_revision(
        &self,
        input: PutActionRevisionInput,
    ) -> ApiResult<PutActionRevisionOutput> {
        let name = &input.pipeline_name;
        let (_, record) = self.current(name).await?;
        let stage = record
            .definition
            .stages
            .iter()
            .find(|s| s.name == input.stage_name)
            .ok_or_else(|| stage_not_found(name, &input.stage_name))?;
        let action = stage
            .actions
            .iter()
            .find(|a| a.name == input.action_name)
            .ok_or_else(|| {
                ApiError::new(
                    "ActionNotFoundException",
                    format!(
                        "Pipeline {name} has no action {} in stage {}",
                        input.action_name, input.stage_name
                    ),
                )
            })?;
        if action.action_type_id.category != "Source" {
            return Err(ApiError::new(
                "ValidationException",
                format!(
                    "actionName: {} is a {} action; only source actions take revisions",
                    action.name, action.action_type_id.category
                ),
            ));
        }
        let revision = &input.action_revision;
        let put = self
            .runtime
            .put_action_revision(
                name,
                &stage.name,
                action,
                &revision.revision_id,
                &revision.revision_change_id,
            )
            .await?;
        Ok(PutActionRevisionOutput {
            new_revision: put.new_revision,
            pipeline_execution_id: Some(put.execution_id),
        })
    }
}
