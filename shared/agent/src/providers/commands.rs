//! `Compute/AWS/Commands`: the action's commands in one shell session with `set -e`, its output variables read
//! from the shell afterwards, and each output artifact made of the workspace's files matching its `files`
//! globs (the whole workspace when it has none).

use std::collections::BTreeMap;

use crate::error::JobError;
use crate::job::{JobContext, Success};
use crate::shell::{self, Phase, Session};
use crate::zip_files::build::Selection;

pub(crate) async fn run(ctx: &JobContext) -> Result<Success, JobError> {
    let job = &ctx.job;
    if job.commands.is_empty() {
        return Err(JobError::failed("the Commands action has no commands"));
    }
    let inputs = ctx.fetch_inputs().await?;
    // The job's variables first: CodeBuild's own cannot be overridden.
    let mut env: BTreeMap<String, String> = job.environment.clone();
    env.extend(ctx.codebuild_env(&inputs));
    let session = Session {
        phases: vec![Phase {
            name: "BUILD".to_string(),
            commands: job.commands.clone(),
            ..Phase::default()
        }],
        env,
        workdir: &ctx.workspace,
        scratch: &ctx.scratch,
        output_variables: &job.output_variables,
        errexit: true,
        log_phases: false,
    };
    let outcome = shell::run(session, &ctx.log).await?;
    if let Some(failure) = outcome.failures.first() {
        return Err(JobError::failed(format!(
            "command `{}` failed with exit code {}",
            failure.command, failure.exit_code
        )));
    }
    for name in &job.output_variables {
        if !outcome.variables.contains_key(name) {
            ctx.log.line(&format!("Output variable {name} was not set"));
        }
    }
    let mut artifacts = BTreeMap::new();
    for output in &job.outputs {
        let selection = Selection::matching(&output.files)?;
        let (info, _) = ctx
            .zip_and_put(output, ctx.workspace.clone(), selection)
            .await?;
        artifacts.insert(output.name.clone(), info);
    }
    Ok(Success {
        artifacts,
        variables: outcome.variables,
        summary: Some(format!("ran {} commands", job.commands.len())),
        revision: None,
    })
}
