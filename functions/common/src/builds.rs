//! Actions that run on CodeBuild: `Build|Test/AWS/CodeBuild` on the project the action names,
//! `Compute/AWS/Commands` on the stack's commands project with a buildspec made from the action's commands, and
//! the git sources on the stack's sources project ([`BuildPlan::source`], planned by `crate::git_sources`).
//!
//! Starting: the job is recorded first (`AWS_BUILD#<job id>`, with the source and buildspec it is given), then
//! StartBuild runs with the plan's source, else the inputs as S3 sources
//! (the primary one, or `PrimarySource`, as the source; the others as secondary sources named by their artifact),
//! the outputs as S3 zip artifacts at the keys the runtime chose, the action's `EnvironmentVariables`, the job's
//! environment and `SLUICE_JOB_ID`, and an idempotency token from the job id (a retried invocation within five
//! minutes gets the same build). The record then gets the build id.
//!
//! Finishing: CodeBuild's "Build State Change" event reaches the dispatch function (template rule). Its
//! `SLUICE_JOB_ID` names the record; builds Sluice did not start, and old builds of a restarted job, are ignored.
//! A succeeded build counts only when every output artifact is in the bucket; its exported variables (read with
//! BatchGetBuilds) become the action's output variables. Any other end fails the action, naming the phase that
//! failed and why.
//!
//! | pk | sk | item |
//! |---|---|---|
//! | `AWS_BUILD#<job id>` | `META` | [`BuildRecord`], kept 30 days |

use std::collections::BTreeMap;
use std::sync::Arc;

use aws_config::SdkConfig;
use aws_sdk_codebuild::operation::start_build::builders::StartBuildFluentBuilder;
use aws_sdk_codebuild::types::{
    ArtifactNamespace, ArtifactPackaging, ArtifactsType, EnvironmentVariable,
    EnvironmentVariableType, ProjectArtifacts, ProjectSource, SourceAuth, SourceAuthType,
    SourceType,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use sluice_aws::S3ObjectStore;
use sluice_runtime::jobs::{Job, JobOutcome, SourceRevision};
use sluice_runtime::ports::{Condition, Item, ItemStore, ObjectStore, Write};
use tracing::{info, warn};

/// The environment variable every Sluice build carries: its job's id.
pub const JOB_ID_VARIABLE: &str = "SLUICE_JOB_ID";

/// How long a build's record is kept after it was written.
const RECORD_DAYS: i64 = 30;

fn record_pk(job_id: &str) -> String {
    format!("AWS_BUILD#{job_id}")
}
const META: &str = "META";

/// A job that runs as a CodeBuild build.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BuildRecord {
    /// The job.
    pub job: Job,
    /// The project the build runs in.
    pub project: String,
    /// The build, once StartBuild answered.
    pub build_id: Option<String>,
    /// The source the build was given instead of the job's inputs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<BuildSource>,
    /// The buildspec the build was given instead of the project's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buildspec: Option<String>,
}

/// A build to start: the project, and for Commands and git sources the buildspec.
#[derive(Debug, Clone, PartialEq)]
pub struct BuildPlan {
    /// The CodeBuild project.
    pub project: String,
    /// The buildspec that replaces the project's (Commands actions, git sources).
    pub buildspec: Option<String>,
    /// The source that replaces the job's input artifacts (git sources, which have none).
    pub source: Option<BuildSource>,
    /// Variables added after the job's own (a git source's token).
    pub environment: Vec<EnvironmentVariable>,
}

impl BuildPlan {
    /// A build of `project` with its inputs as sources.
    pub fn of(project: impl Into<String>, buildspec: Option<String>) -> Self {
        Self {
            project: project.into(),
            buildspec,
            source: None,
            environment: Vec::new(),
        }
    }
}

/// A build's source other than the job's input artifacts: StartBuild's source overrides.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BuildSource {
    /// `sourceTypeOverride`: GITHUB, CODECOMMIT, NO_SOURCE, ...
    pub source_type: String,
    /// `sourceLocationOverride`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// `sourceAuthOverride` of type CODECONNECTIONS with this connection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection: Option<String>,
    /// `sourceVersion`: a branch, a ref or a commit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// `gitCloneDepthOverride` (0: the whole history).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clone_depth: Option<i32>,
}

/// The buildspec (JSON, which CodeBuild reads as YAML) that runs a Commands action: its commands in the build
/// phase, its exported variables, and each output artifact's files (the first as the primary artifact, the others
/// as secondary artifacts named by the artifact).
pub fn commands_buildspec(job: &Job) -> String {
    let files = |globs: &[String]| {
        if globs.is_empty() {
            vec!["**/*".to_owned()]
        } else {
            globs.to_vec()
        }
    };
    let mut spec = json!({
        "version": 0.2,
        "phases": {"build": {"commands": job.commands}},
    });
    if !job.output_variables.is_empty() {
        spec["env"] = json!({"exported-variables": job.output_variables});
    }
    if let Some((first, rest)) = job.outputs.split_first() {
        let mut artifacts = json!({"files": files(&first.files)});
        if !rest.is_empty() {
            let secondary: serde_json::Map<String, Value> = rest
                .iter()
                .map(|o| (o.name.clone(), json!({"files": files(&o.files)})))
                .collect();
            artifacts["secondary-artifacts"] = Value::Object(secondary);
        }
        spec["artifacts"] = artifacts;
    }
    spec.to_string()
}

/// The action's `EnvironmentVariables` (CodePipeline's JSON list of `{name, value, type}`), then the job's
/// environment and `SLUICE_JOB_ID` as plain text.
fn environment(job: &Job) -> Result<Vec<EnvironmentVariable>, String> {
    #[derive(Deserialize)]
    struct Declared {
        name: String,
        value: String,
        #[serde(rename = "type", default)]
        kind: Option<String>,
    }
    let mut out = Vec::new();
    if let Some(text) = job.configuration.get("EnvironmentVariables") {
        let declared: Vec<Declared> = serde_json::from_str(text).map_err(|e| {
            format!(
                "configuration.EnvironmentVariables is not a JSON list of {{name, value, type}}: {e}"
            )
        })?;
        for (i, d) in declared.into_iter().enumerate() {
            let kind = match d.kind.as_deref().unwrap_or("PLAINTEXT") {
                "PLAINTEXT" => EnvironmentVariableType::Plaintext,
                "PARAMETER_STORE" => EnvironmentVariableType::ParameterStore,
                "SECRETS_MANAGER" => EnvironmentVariableType::SecretsManager,
                other => {
                    return Err(format!(
                        "configuration.EnvironmentVariables[{i}].type: `{other}` is not PLAINTEXT, \
                         PARAMETER_STORE or SECRETS_MANAGER"
                    ))
                }
            };
            out.push(variable(&d.name, &d.value, kind)?);
        }
    }
    for (name, value) in &job.environment {
        out.push(variable(name, value, EnvironmentVariableType::Plaintext)?);
    }
    out.push(variable(
        JOB_ID_VARIABLE,
        &job.id,
        EnvironmentVariableType::Plaintext,
    )?);
    Ok(out)
}

fn variable(
    name: &str,
    value: &str,
    kind: EnvironmentVariableType,
) -> Result<EnvironmentVariable, String> {
    EnvironmentVariable::builder()
        .name(name)
        .value(value)
        .r#type(kind)
        .build()
        .map_err(|e| format!("environment variable {name}: {e}"))
}

/// The inputs as CodeBuild sources: the primary one (`PrimarySource` names it, else the first) and the others.
fn sources(job: &Job) -> Result<(Option<String>, Vec<ProjectSource>), String> {
    let primary =
        match job.configuration.get("PrimarySource") {
            Some(name) => Some(job.inputs.iter().position(|i| &i.name == name).ok_or_else(
                || format!("configuration.PrimarySource: the action has no input artifact {name}"),
            )?),
            None => (!job.inputs.is_empty()).then_some(0),
        };
    let location = |i: usize| {
        let o = &job.inputs[i].object;
        format!("{}/{}", o.bucket, o.key)
    };
    let secondary = (0..job.inputs.len())
        .filter(|&i| Some(i) != primary)
        .map(|i| {
            ProjectSource::builder()
                .r#type(SourceType::S3)
                .location(location(i))
                .source_identifier(&job.inputs[i].name)
                .build()
                .map_err(|e| format!("input {}: {e}", job.inputs[i].name))
        })
        .collect::<Result<_, _>>()?;
    Ok((primary.map(location), secondary))
}

/// The outputs as CodeBuild artifacts: each a zip at exactly the key the runtime chose.
fn artifacts(job: &Job) -> Result<(ProjectArtifacts, Vec<ProjectArtifacts>), String> {
    let artifact = |i: usize| {
        let o = &job.outputs[i];
        let (path, name) = o.key.rsplit_once('/').unwrap_or(("", o.key.as_str()));
        let mut b = ProjectArtifacts::builder()
            .r#type(ArtifactsType::S3)
            .location(&o.bucket)
            .path(path)
            .name(name)
            .packaging(ArtifactPackaging::Zip)
            .namespace_type(ArtifactNamespace::None)
            .override_artifact_name(false);
        if i > 0 {
            b = b.artifact_identifier(&o.name);
        }
        b.build().map_err(|e| format!("output {}: {e}", o.name))
    };
    let primary = if job.outputs.is_empty() {
        ProjectArtifacts::builder()
            .r#type(ArtifactsType::NoArtifacts)
            .build()
            .map_err(|e| e.to_string())?
    } else {
        artifact(0)?
    };
    let secondary = (1..job.outputs.len())
        .map(artifact)
        .collect::<Result<_, _>>()?;
    Ok((primary, secondary))
}

/// The StartBuild request for `job` as `plan` says: sources (the plan's, else the inputs), artifacts at the
/// runtime's keys, variables, buildspec, key and timeout; with the job id as its idempotency token.
pub fn start_build_request(
    client: &aws_sdk_codebuild::Client,
    job: &Job,
    plan: &BuildPlan,
) -> Result<StartBuildFluentBuilder, String> {
    let mut env = environment(job)?;
    env.extend(plan.environment.iter().cloned());
    let (artifacts, secondary_artifacts) = artifacts(job)?;
    let mut request = client
        .start_build()
        .project_name(&plan.project)
        .idempotency_token(idempotency_token(&job.id))
        .set_environment_variables_override(Some(env))
        .artifacts_override(artifacts)
        .set_secondary_artifacts_override(Some(secondary_artifacts));
    request = match &plan.source {
        Some(source) => {
            let mut r = request
                .source_type_override(SourceType::from(source.source_type.as_str()))
                .set_source_location_override(source.location.clone())
                .set_source_version(source.version.clone())
                .set_git_clone_depth_override(source.clone_depth)
                .set_secondary_sources_override(Some(Vec::new()));
            if let Some(connection) = &source.connection {
                r = r.source_auth_override(
                    SourceAuth::builder()
                        .r#type(SourceAuthType::Codeconnections)
                        .resource(connection)
                        .build()
                        .map_err(|e| format!("source auth: {e}"))?,
                );
            }
            r
        }
        None => {
            let (primary, secondary_sources) = sources(job)?;
            let r = request.set_secondary_sources_override(Some(secondary_sources));
            match primary {
                Some(location) => r
                    .source_type_override(SourceType::S3)
                    .source_location_override(location),
                None => r.source_type_override(SourceType::NoSource),
            }
        }
    };
    if let Some(spec) = &plan.buildspec {
        request = request.buildspec_override(spec);
    }
    // The pipeline's artifact key encrypts the build's outputs (it overrides the project's key).
    if let Some(key) = job.outputs.iter().find_map(|o| o.encryption_key.clone()) {
        request = request.encryption_key_override(key);
    }
    let minutes = (job.timeout_seconds / 60).clamp(5, 2160);
    Ok(request.timeout_in_minutes_override(i32::try_from(minutes).unwrap_or(2160)))
}

/// A job id as one folder name (its hash: ids hold `/`).
pub fn safe_name(job_id: &str) -> String {
    idempotency_token(job_id)
}

/// StartBuild's idempotency token for a job: the same for every attempt to start it.
fn idempotency_token(job_id: &str) -> String {
    hex::encode(Sha256::digest(job_id.as_bytes()))
}

/// Starts, follows and stops the builds of jobs, over CodeBuild and the store.
pub struct Builds {
    store: Arc<dyn ItemStore>,
}

impl std::fmt::Debug for Builds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Builds").finish_non_exhaustive()
    }
}

fn now_s() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

impl Builds {
    /// Builds recorded in `store`.
    pub fn new(store: Arc<dyn ItemStore>) -> Self {
        Self { store }
    }

    async fn write(&self, record: &BuildRecord) -> Result<(), String> {
        let item = Item {
            pk: record_pk(&record.job.id),
            sk: META.into(),
            version: 1,
            data: serde_json::to_value(record).map_err(|e| e.to_string())?,
            expires_at: Some(now_s() + RECORD_DAYS * 86_400),
        };
        self.store
            .transact(vec![Write::Put(item, Condition::None)])
            .await
            .map_err(|e| format!("could not record the build: {e}"))
    }

    /// The record of a job's build, if it has one.
    pub async fn record(&self, job_id: &str) -> Result<Option<BuildRecord>, String> {
        let Some(item) = self
            .store
            .get(&record_pk(job_id), META)
            .await
            .map_err(|e| e.to_string())?
        else {
            return Ok(None);
        };
        serde_json::from_value(item.data)
            .map(Some)
            .map_err(|e| format!("build record of {job_id}: {e}"))
    }

    /// Starts the job's build (as `sdk`'s credentials: the action's role) and records it.
    pub async fn start(&self, sdk: &SdkConfig, job: &Job, plan: BuildPlan) -> Result<(), String> {
        let client = aws_sdk_codebuild::Client::new(sdk);
        let request = start_build_request(&client, job, &plan)?;
        let mut record = BuildRecord {
            job: job.clone(),
            project: plan.project.clone(),
            build_id: None,
            source: plan.source.clone(),
            buildspec: plan.buildspec.clone(),
        };
        self.write(&record).await?;
        let started = request.send().await.map_err(|e| {
            format!(
                "CodeBuild did not start a build of project {}: {}",
                plan.project,
                aws_sdk_codebuild::error::DisplayErrorContext(&e)
            )
        })?;
        let build_id = started
            .build_value()
            .and_then(|b| b.id())
            .ok_or_else(|| format!("StartBuild of {} answered no build id", plan.project))?
            .to_owned();
        info!(job = %job.id, project = %plan.project, build = %build_id, "build started");
        record.build_id = Some(build_id);
        self.write(&record).await
    }

    /// Whether the recorded build is still going (true when CodeBuild cannot be asked: the job is not given up).
    pub async fn is_running(&self, sdk: &SdkConfig, record: &BuildRecord) -> bool {
        let Some(build_id) = &record.build_id else {
            return false;
        };
        let client = aws_sdk_codebuild::Client::new(sdk);
        match client.batch_get_builds().ids(build_id).send().await {
            Ok(out) => out.builds().iter().any(|b| {
                b.build_status()
                    .is_some_and(|s| s.as_str() == "IN_PROGRESS")
            }),
            Err(e) => {
                warn!(build = %build_id, error = %aws_sdk_codebuild::error::DisplayErrorContext(&e), "cannot ask CodeBuild; taking the build as running");
                true
            }
        }
    }

    /// Stops the recorded build, if it was started.
    pub async fn stop(&self, sdk: &SdkConfig, record: &BuildRecord) {
        let Some(build_id) = &record.build_id else {
            return;
        };
        let client = aws_sdk_codebuild::Client::new(sdk);
        if let Err(e) = client.stop_build().id(build_id).send().await {
            warn!(build = %build_id, error = %aws_sdk_codebuild::error::DisplayErrorContext(&e), "could not stop a build");
        }
    }

    /// The job a "CodeBuild Build State Change" event finished, and how; `None` for events that finish no
    /// job of Sluice's (a build still going, a build Sluice did not start, an old build of a restarted job).
    /// `sdk_for` gives the SDK configuration to read the build and its outputs with (the job's role).
    pub async fn finished<F, Fut>(
        &self,
        event: &Value,
        sdk_for: F,
    ) -> Result<Option<(Job, JobOutcome)>, String>
    where
        F: FnOnce(Job) -> Fut,
        Fut: std::future::Future<Output = Result<SdkConfig, String>>,
    {
        let detail = &event["detail"];
        let status = detail["build-status"].as_str().unwrap_or_default();
        let build_id = detail["build-id"].as_str().unwrap_or_default();
        if status == "IN_PROGRESS" || status.is_empty() {
            return Ok(None);
        }
        let job_id = detail
            .pointer("/additional-information/environment/environment-variables")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .find(|v| v["name"] == JOB_ID_VARIABLE)
            .and_then(|v| v["value"].as_str());
        let Some(job_id) = job_id else {
            info!(build = build_id, "not a Sluice build");
            return Ok(None);
        };
        let Some(record) = self.record(job_id).await? else {
            info!(
                build = build_id,
                job = job_id,
                "no record of this build's job"
            );
            return Ok(None);
        };
        if record
            .build_id
            .as_deref()
            .is_some_and(|recorded| !same_build(recorded, build_id))
        {
            info!(
                build = build_id,
                job = job_id,
                "an old build of a restarted job"
            );
            return Ok(None);
        }
        let job = record.job.clone();
        if status != "SUCCEEDED" {
            return Ok(Some((
                job,
                JobOutcome::Failed {
                    message: failure(detail, build_id, status),
                },
            )));
        }
        let sdk = sdk_for(job.clone()).await?;
        let objects = S3ObjectStore::new(aws_sdk_s3::Client::new(&sdk));
        let mut artifacts = BTreeMap::new();
        for output in &job.outputs {
            match objects.head(&output.bucket, &output.key).await {
                Ok(info) => {
                    artifacts.insert(output.name.clone(), info);
                }
                Err(e) => {
                    return Ok(Some((
                        job.clone(),
                        JobOutcome::Failed {
                            message: format!(
                                "build {build_id} succeeded but output artifact {} is not at s3://{}/{}: {e}",
                                output.name, output.bucket, output.key
                            ),
                        },
                    )))
                }
            }
        }
        let (variables, resolved) = build_results(&sdk, build_id).await?;
        // A build given a repository checked out a commit: its resolved source version.
        let revision = resolved
            .filter(|_| record.source.is_some())
            .map(|id| SourceRevision {
                revision_id: id,
                revision_summary: None,
                revision_url: None,
            });
        Ok(Some((
            job,
            JobOutcome::Succeeded {
                artifacts,
                variables,
                summary: Some(format!("CodeBuild build {build_id} succeeded")),
                revision,
            },
        )))
    }
}

/// Build ids appear as `project:uuid` (StartBuild) and as ARNs (events).
fn same_build(a: &str, b: &str) -> bool {
    let id = |s: &str| s.rsplit_once(":build/").map_or(s, |(_, id)| id).to_owned();
    id(a) == id(b)
}

/// What a failed build says: its status, the phase that did not succeed, and that phase's context.
fn failure(detail: &Value, build_id: &str, status: &str) -> String {
    let failed_phase = detail
        .pointer("/additional-information/phases")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|p| p["phase-status"].as_str().is_some_and(|s| s != "SUCCEEDED"));
    let phase = failed_phase
        .and_then(|p| p["phase-type"].as_str())
        .or_else(|| detail["current-phase"].as_str())
        .unwrap_or("an unknown phase");
    let context: Vec<&str> = failed_phase
        .and_then(|p| p["phase-context"].as_array())
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .filter(|c| !c.trim().is_empty() && c.trim() != ":")
        .collect();
    if context.is_empty() {
        format!("CodeBuild build {build_id} ended {status} in phase {phase}")
    } else {
        format!(
            "CodeBuild build {build_id} ended {status} in phase {phase}: {}",
            context.join("; ")
        )
    }
}

/// A finished build's exported variables, and the commit it resolved its source version to (when it had one).
async fn build_results(
    sdk: &SdkConfig,
    build_id: &str,
) -> Result<(BTreeMap<String, String>, Option<String>), String> {
    let client = aws_sdk_codebuild::Client::new(sdk);
    let out = client
        .batch_get_builds()
        .ids(build_id)
        .send()
        .await
        .map_err(|e| {
            format!(
                "cannot read build {build_id}: {}",
                aws_sdk_codebuild::error::DisplayErrorContext(&e)
            )
        })?;
    let variables = out
        .builds()
        .iter()
        .flat_map(|b| b.exported_environment_variables())
        .filter_map(|v| {
            Some((
                v.name()?.to_owned(),
                v.value().unwrap_or_default().to_owned(),
            ))
        })
        .collect();
    let resolved = out
        .builds()
        .iter()
        .find_map(|b| b.resolved_source_version())
        .filter(|v| !v.is_empty())
        .map(str::to_owned);
    Ok((variables, resolved))
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_definition::ActionTypeId;
    use sluice_runtime::jobs::{JobInput, JobOutput};
    use sluice_runtime::ports::ObjectInfo;

    fn job() -> Job {
        let object = |key: &str| ObjectInfo {
            bucket: "art".into(),
            key: key.into(),
            version_id: "v1".into(),
            etag: "e".into(),
            sha256: "s".into(),
            size: 1,
        };
        Job {
            id: "e1/Build/Run/1".into(),
            pipeline: "p".into(),
            execution_id: "e1".into(),
            stage: "Build".into(),
            action: "Run".into(),
            attempt: 1,
            action_type: ActionTypeId {
                category: "Compute".into(),
                owner: "AWS".into(),
                provider: "Commands".into(),
                version: "1".into(),
            },
            configuration: BTreeMap::new(),
            commands: vec!["make 'all'".into(), "echo \"done: $X\"".into()],
            environment: BTreeMap::from([("X".into(), "1".into())]),
            inputs: vec![
                JobInput {
                    name: "Src".into(),
                    object: object("p/Src/a"),
                },
                JobInput {
                    name: "Lib".into(),
                    object: object("p/Lib/b"),
                },
            ],
            outputs: vec![
                JobOutput {
                    name: "Out".into(),
                    files: vec!["dist/**/*".into()],
                    bucket: "art".into(),
                    key: "p/Out/e1-1-1".into(),
                    encryption_key: Some("alias/web".into()),
                },
                JobOutput {
                    name: "Report".into(),
                    files: vec![],
                    bucket: "art".into(),
                    key: "p/Report/e1-1-1".into(),
                    encryption_key: Some("alias/web".into()),
                },
            ],
            output_variables: vec!["VERSION".into()],
            timeout_seconds: 3600,
            base_dir: None,
            revision_override: None,
            role_arn: None,
            artifact_store: None,
            region: None,
            invocation: None,
        }
    }

    #[test]
    fn commands_become_a_buildspec_with_outputs_and_exported_variables() {
        let spec: Value = serde_json::from_str(&commands_buildspec(&job())).expect("json");
        assert_eq!(
            spec,
            json!({
                "version": 0.2,
                "env": {"exported-variables": ["VERSION"]},
                "phases": {"build": {"commands": ["make 'all'", "echo \"done: $X\""]}},
                "artifacts": {
                    "files": ["dist/**/*"],
                    "secondary-artifacts": {"Report": {"files": ["**/*"]}}
                }
            })
        );
    }

    #[test]
    fn inputs_and_outputs_map_to_sources_and_artifacts_at_the_runtimes_keys() {
        let mut j = job();
        let (primary, secondary) = sources(&j).expect("sources");
        assert_eq!(primary.as_deref(), Some("art/p/Src/a"));
        assert_eq!(secondary.len(), 1);
        assert_eq!(secondary[0].source_identifier(), Some("Lib"));
        assert_eq!(secondary[0].location(), Some("art/p/Lib/b"));
        j.configuration.insert("PrimarySource".into(), "Lib".into());
        let (primary, secondary) = sources(&j).expect("sources");
        assert_eq!(primary.as_deref(), Some("art/p/Lib/b"));
        assert_eq!(secondary[0].source_identifier(), Some("Src"));
        j.configuration
            .insert("PrimarySource".into(), "Nope".into());
        assert!(sources(&j)
            .expect_err("unknown")
            .contains("configuration.PrimarySource"));

        let (first, rest) = artifacts(&j).expect("artifacts");
        assert_eq!(
            (first.location(), first.path(), first.name()),
            (Some("art"), Some("p/Out"), Some("e1-1-1"))
        );
        assert_eq!(first.artifact_identifier(), None);
        assert_eq!(rest[0].artifact_identifier(), Some("Report"));
        assert_eq!(rest[0].path(), Some("p/Report"));
    }

    #[test]
    fn environment_variables_are_declared_then_the_jobs_then_the_job_id() {
        let mut j = job();
        j.configuration.insert(
            "EnvironmentVariables".into(),
            r#"[{"name":"A","value":"1","type":"PLAINTEXT"},{"name":"S","value":"/p/s","type":"PARAMETER_STORE"}]"#
                .into(),
        );
        let env = environment(&j).expect("env");
        let names: Vec<_> = env
            .iter()
            .map(|v| (v.name(), v.r#type().cloned()))
            .collect();
        assert_eq!(
            names,
            vec![
                ("A", Some(EnvironmentVariableType::Plaintext)),
                ("S", Some(EnvironmentVariableType::ParameterStore)),
                ("X", Some(EnvironmentVariableType::Plaintext)),
                (JOB_ID_VARIABLE, Some(EnvironmentVariableType::Plaintext)),
            ]
        );
        j.configuration.insert(
            "EnvironmentVariables".into(),
            r#"[{"name":"A","value":"1","type":"VAULT"}]"#.into(),
        );
        assert!(environment(&j)
            .expect_err("bad type")
            .contains("EnvironmentVariables[0].type"));
    }

    #[test]
    fn a_failure_names_the_phase_and_its_context() {
        let detail = json!({
            "current-phase": "COMPLETED",
            "additional-information": {"phases": [
                {"phase-type": "SUBMITTED", "phase-status": "SUCCEEDED"},
                {"phase-type": "BUILD", "phase-status": "FAILED",
                 "phase-context": ["COMMAND_EXECUTION_ERROR: Error while executing command: make. Reason: exit status 2"]},
                {"phase-type": "COMPLETED"}
            ]}
        });
        assert_eq!(
            failure(&detail, "b:1", "FAILED"),
            "CodeBuild build b:1 ended FAILED in phase BUILD: COMMAND_EXECUTION_ERROR: Error while \
             executing command: make. Reason: exit status 2"
        );
        assert!(same_build(
            "proj:1234",
            "arn:aws:codebuild:us-east-1:123456789012:build/proj:1234"
        ));
        assert!(!same_build("proj:1234", "proj:9999"));
    }
}
