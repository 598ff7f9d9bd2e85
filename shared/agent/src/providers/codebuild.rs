//! `Build|Test/AWS/CodeBuild`: runs the primary input's `buildspec.yml` (version 0.2) as CodeBuild would.
//!
//! Phases `install`, `pre_build`, `build`, `post_build` run in that order in one shell session, each command
//! checked on its own, `finally` blocks after their phase's commands. A failure in `install` or `pre_build`
//! skips the later phases; a failure in `build` still runs `post_build`; `on-failure: CONTINUE` lets later
//! phases run. The job fails when any phase failed.
//!
//! Environment, lowest first: the agent's own, buildspec `env.variables`, the job's environment, the action's
//! `EnvironmentVariables` (PLAINTEXT only: Parameter Store and Secrets Manager need AWS), and CodeBuild's own
//! `CODEBUILD_*`. `env.exported-variables` become the outcome's variables. `artifacts` (with `base-directory`,
//! `discard-paths`, `exclude-paths`) make the first output artifact; `secondary-artifacts.<name>` the others.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;
use serde_json::Value;
use sluice_definition::yaml::{self, NoTags, YamlLimits};

use crate::error::JobError;
use crate::job::{blocking, JobContext, Success};
use crate::shell::{self, Phase, Session};
use crate::zip_files::build::Selection;

const BUILDSPEC: &str = "buildspec.yml";

#[derive(Debug, Deserialize)]
struct Buildspec {
    version: Value,
    #[serde(default)]
    env: Env,
    #[serde(default)]
    phases: Phases,
    artifacts: Option<Artifacts>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct Env {
    #[serde(default)]
    variables: BTreeMap<String, Value>,
    #[serde(default)]
    exported_variables: Vec<String>,
    parameter_store: Option<Value>,
    secrets_manager: Option<Value>,
}

#[derive(Debug, Default, Deserialize)]
struct Phases {
    install: Option<PhaseSpec>,
    pre_build: Option<PhaseSpec>,
    build: Option<PhaseSpec>,
    post_build: Option<PhaseSpec>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct PhaseSpec {
    #[serde(default)]
    commands: Vec<String>,
    #[serde(default)]
    finally: Vec<String>,
    on_failure: Option<String>,
    runtime_versions: Option<Value>,
    run_as: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct Artifacts {
    #[serde(default)]
    files: Vec<String>,
    base_directory: Option<String>,
    discard_paths: Option<Value>,
    #[serde(default)]
    exclude_paths: Vec<String>,
    #[serde(default)]
    secondary_artifacts: BTreeMap<String, Artifacts>,
}

#[derive(Debug, Deserialize)]
struct EnvironmentVariable {
    name: String,
    value: String,
    #[serde(rename = "type", default)]
    kind: Option<String>,
}

/// A YAML scalar as the shell sees it.
fn scalar(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Null => Some(String::new()),
        _ => None,
    }
}

fn yes(value: &Option<Value>) -> bool {
    match value {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => matches!(s.to_ascii_lowercase().as_str(), "yes" | "true"),
        _ => false,
    }
}

/// How much a buildspec may cost to read: 1 MiB, and the YAML limits of definitions otherwise.
fn buildspec_limits() -> YamlLimits {
    YamlLimits {
        max_bytes: 1024 * 1024,
        ..YamlLimits::default()
    }
}

/// Reads a buildspec's text as a CodeBuild action does (version 0.2, within [`buildspec_limits`]): what its
/// reading refuses and why. For the fuzzing harness; jobs read buildspecs through their action.
pub fn check_buildspec(text: &str) -> Result<(), String> {
    parse(text).map(|_| ()).map_err(|e| e.to_string())
}

fn parse(text: &str) -> Result<Buildspec, JobError> {
    let invalid =
        |e: String| JobError::failed(format!("{BUILDSPEC} is not a valid buildspec: {e}"));
    let (value, lines) = yaml::read_with_lines(text, &buildspec_limits(), &NoTags)
        .map_err(|e| invalid(e.to_string()))?;
    let spec: Buildspec = serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let at = lines
            .nearest(&path)
            .map(|(line, column)| format!(" at line {line} column {column}"))
            .unwrap_or_default();
        invalid(format!("{path}: {}{at}", e.inner()))
    })?;
    let version = scalar(&spec.version).unwrap_or_default();
    if version != "0.2" {
        return Err(JobError::failed(format!(
            "{BUILDSPEC} has version `{version}`: local runs support version 0.2"
        )));
    }
    if spec.env.parameter_store.is_some() || spec.env.secrets_manager.is_some() {
        return Err(JobError::failed(format!(
            "{BUILDSPEC} reads env.parameter-store or env.secrets-manager: those need AWS; use env.variables locally"
        )));
    }
    Ok(spec)
}

/// The action's `EnvironmentVariables`: a JSON array of `{name, value, type}`.
fn action_variables(json: &str) -> Result<Vec<(String, String)>, JobError> {
    let vars: Vec<EnvironmentVariable> = serde_json::from_str(json).map_err(|e| {
        JobError::failed(format!(
            "EnvironmentVariables is not a JSON array of {{\"name\", \"value\", \"type\"}}: {e}"
        ))
    })?;
    vars.into_iter()
        .map(|v| match v.kind.as_deref().unwrap_or("PLAINTEXT") {
            "PLAINTEXT" => Ok((v.name, v.value)),
            other => Err(JobError::failed(format!(
                "environment variable {} has type {other}, which needs AWS: local runs support PLAINTEXT only",
                v.name
            ))),
        })
        .collect()
}

fn phases(spec: &Buildspec, ctx: &JobContext) -> Vec<Phase> {
    let named = [
        ("INSTALL", &spec.phases.install),
        ("PRE_BUILD", &spec.phases.pre_build),
        ("BUILD", &spec.phases.build),
        ("POST_BUILD", &spec.phases.post_build),
    ];
    let mut out = Vec::new();
    for (name, phase) in named {
        let Some(phase) = phase else { continue };
        if phase.runtime_versions.is_some() {
            ctx.log.line(&format!(
                "{name}: runtime-versions is ignored locally: the machine's own tools are used"
            ));
        }
        if let Some(user) = &phase.run_as {
            ctx.log
                .line(&format!("{name}: run-as {user} is ignored locally"));
        }
        out.push(Phase {
            name: name.to_string(),
            commands: phase.commands.clone(),
            finally: phase.finally.clone(),
            continue_on_failure: phase
                .on_failure
                .as_deref()
                .is_some_and(|f| f.eq_ignore_ascii_case("CONTINUE")),
            runs_after_failed: (name == "POST_BUILD").then(|| "BUILD".to_string()),
        });
    }
    out
}

/// A folder inside the workspace, named relative to it.
fn inside(ctx: &JobContext, base: Option<&str>) -> Result<PathBuf, JobError> {
    let Some(base) = base.map(str::trim).filter(|b| !b.is_empty()) else {
        return Ok(ctx.workspace.clone());
    };
    let path = std::path::Path::new(base);
    if path.is_absolute()
        || path
            .components()
            .any(|c| matches!(c, std::path::Component::ParentDir))
    {
        return Err(JobError::failed(format!(
            "{BUILDSPEC}: base-directory `{base}` must stay inside the source folder"
        )));
    }
    Ok(ctx.workspace.join(path))
}

pub(crate) async fn run(ctx: &JobContext) -> Result<Success, JobError> {
    let job = &ctx.job;
    let action_vars = match ctx.config("EnvironmentVariables") {
        Some(json) => action_variables(json)?,
        None => Vec::new(),
    };
    if let Some(primary) = ctx.config("PrimarySource") {
        ctx.log.line(&format!(
            "PrimarySource {primary}: the first input artifact is the primary source locally"
        ));
    }
    let inputs = ctx.fetch_inputs().await?;
    if inputs.is_empty() {
        return Err(JobError::failed(format!(
            "CodeBuild needs an input artifact with {BUILDSPEC}"
        )));
    }
    let spec_path = ctx.workspace.join(BUILDSPEC);
    let input = inputs[0].name.clone();
    // Read and parsed off the async threads, bounded in size before it is read.
    let spec = blocking(move || {
        let size = match std::fs::metadata(&spec_path) {
            Ok(m) => m.len(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(JobError::failed(format!(
                    "{BUILDSPEC} not found at the root of the input artifact {input}"
                )))
            }
            Err(e) => return Err(JobError::failed(format!("cannot read {BUILDSPEC}: {e}"))),
        };
        let max = buildspec_limits().max_bytes;
        if size > max as u64 {
            return Err(JobError::failed(format!(
                "{BUILDSPEC} is {size} bytes, over the limit of {max} bytes"
            )));
        }
        let text = std::fs::read_to_string(&spec_path)
            .map_err(|e| JobError::failed(format!("cannot read {BUILDSPEC}: {e}")))?;
        parse(&text)
    })
    .await?;

    let mut env = BTreeMap::new();
    for (name, value) in &spec.env.variables {
        let value = scalar(value).ok_or_else(|| {
            JobError::failed(format!(
                "{BUILDSPEC}: env.variables.{name} is not a plain value"
            ))
        })?;
        env.insert(name.clone(), value);
    }
    env.extend(job.environment.clone());
    env.extend(action_vars);
    env.extend(ctx.codebuild_env(&inputs));

    let session = Session {
        phases: phases(&spec, ctx),
        env,
        workdir: &ctx.workspace,
        scratch: &ctx.scratch,
        output_variables: &spec.env.exported_variables,
        errexit: false,
        log_phases: true,
    };
    let outcome = shell::run(session, &ctx.log).await?;
    if let Some(first) = outcome.failures.first() {
        let phase = if first.phase.is_empty() {
            "the build"
        } else {
            first.phase.as_str()
        };
        let more = match outcome.failures.len() {
            1 => String::new(),
            n => format!(" ({} commands failed in all)", n),
        };
        return Err(JobError::failed(format!(
            "phase {phase} failed: command `{}` exited with code {}{more}",
            first.command, first.exit_code
        )));
    }

    let mut artifacts = BTreeMap::new();
    for (index, output) in job.outputs.iter().enumerate() {
        let section = if index == 0 {
            spec.artifacts.as_ref()
        } else {
            spec.artifacts
                .as_ref()
                .and_then(|a| a.secondary_artifacts.get(&output.name))
        };
        let Some(section) = section else {
            let which = if index == 0 {
                "artifacts".to_string()
            } else {
                format!("artifacts.secondary-artifacts.{}", output.name)
            };
            return Err(JobError::failed(format!(
                "{BUILDSPEC} has no {which} section for the output artifact {}",
                output.name
            )));
        };
        let root = inside(ctx, section.base_directory.as_deref())?;
        if !root.is_dir() {
            return Err(JobError::failed(format!(
                "{BUILDSPEC}: base-directory `{}` does not exist after the build",
                section.base_directory.as_deref().unwrap_or_default()
            )));
        }
        let selection = Selection::matching(&section.files)?
            .excluding(&section.exclude_paths)?
            .discarding_paths(yes(&section.discard_paths));
        let (info, _) = ctx.zip_and_put(output, root, selection).await?;
        artifacts.insert(output.name.clone(), info);
    }
    Ok(Success {
        artifacts,
        variables: outcome.variables,
        summary: Some("build succeeded".to_string()),
        revision: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buildspec_problems_name_the_file() {
        let bad = parse("version: 0.2\nphases: [1, 2]\n")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            bad.starts_with("buildspec.yml is not a valid buildspec"),
            "{bad}"
        );
        let old = parse("version: 0.1\n")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(old.contains("version 0.2"), "{old}");
        assert!(parse("version: 0.2\n").is_ok());
    }

    #[test]
    fn secrets_need_aws() {
        let err = action_variables(r#"[{"name":"A","value":"x","type":"SECRETS_MANAGER"}]"#)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.contains("SECRETS_MANAGER") && err.contains("PLAINTEXT"),
            "{err}"
        );
        let ok = action_variables(r#"[{"name":"A","value":"x"}]"#).ok();
        assert_eq!(ok, Some(vec![("A".to_string(), "x".to_string())]));
    }
}
