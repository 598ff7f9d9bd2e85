//! The providers a local run can execute, one module each, and the word for those it cannot.

use sluice_definition::ActionTypeId;

use crate::error::JobError;
use crate::git::{provider_of, GitProvider};
use crate::job::{JobContext, Success};

pub(crate) mod codebuild;
pub(crate) mod commands;
pub(crate) mod git_source;
pub(crate) mod local_source;
pub(crate) mod s3_deploy;
pub(crate) mod s3_source;

const SUPPORTED: &str =
    "local runs support LocalSource, GitHub, CodeStarSourceConnection, CodeCommit, S3 (source and \
     deploy), CodeBuild, Commands and Manual approval";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Provider {
    LocalSource,
    S3Source,
    S3Deploy,
    CodeBuild,
    Commands,
    Git(GitProvider),
}

fn provider(action_type: &ActionTypeId) -> Result<Provider, String> {
    let t = action_type;
    if let Some(git) = provider_of(t) {
        return Ok(Provider::Git(git));
    }
    match (t.category.as_str(), t.owner.as_str(), t.provider.as_str()) {
        ("Source", "ThirdParty", "LocalSource") => Ok(Provider::LocalSource),
        ("Source", "AWS", "S3") => Ok(Provider::S3Source),
        ("Deploy", "AWS", "S3") => Ok(Provider::S3Deploy),
        ("Build" | "Test", "AWS", "CodeBuild") => Ok(Provider::CodeBuild),
        ("Compute", "AWS", "Commands") => Ok(Provider::Commands),
        ("Approval", "AWS", "Manual") => Err(
            "Manual approval is not a job: the pipeline waits for people to approve or reject it".to_string(),
        ),
        (_, "Custom", name) => Err(format!(
            "the custom action {name} ({t}) runs on a job worker that polls for its jobs, not on the local agent: \
             under `sluice serve`, create the type (CreateCustomActionType), the pipeline (`sluice create`), start it \
             (`sluice start`) and run a worker (`sluice agent --provider {name}`)"
        )),
        (_, _, name) => Err(format!("{name} ({t}) needs AWS: {SUPPORTED}")),
    }
}

/// Whether the local agent can run actions of this type; when not, the sentence that says why.
pub fn supports(action_type: &ActionTypeId) -> Result<(), String> {
    provider(action_type).map(|_| ())
}

/// Runs the job's provider.
pub(crate) async fn run(ctx: &JobContext) -> Result<Success, JobError> {
    match provider(&ctx.job.action_type).map_err(JobError::Failed)? {
        Provider::LocalSource => local_source::run(ctx).await,
        Provider::S3Source => s3_source::run(ctx).await,
        Provider::S3Deploy => s3_deploy::run(ctx).await,
        Provider::CodeBuild => codebuild::run(ctx).await,
        Provider::Commands => commands::run(ctx).await,
        Provider::Git(git) => git_source::run(ctx, git).await,
    }
}
