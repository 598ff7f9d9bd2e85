//! Jobs in AWS: how the dispatch function runs each provider's actions, as the action's IAM role (the action's
//! `roleArn`, else the pipeline's, assumed through STS; the function's own role when neither is set).
//!
//! - `Source/AWS/S3` and `Deploy/AWS/S3` run inside the invocation, by the job agent over S3 (its folders under
//!   the function's `/tmp`), and complete the action before the invocation returns; so does `Source/AWS/ECR`
//!   ([`crate::ecr_source`]).
//! - `Build|Test/AWS/CodeBuild` and `Compute/AWS/Commands` start a CodeBuild build ([`crate::builds`]) and
//!   complete when its state-change event arrives; so do the git sources `AWS/CodeStarSourceConnection`,
//!   `AWS/CodeCommit` and `ThirdParty/GitHub` ([`crate::git_sources`], on the stack's sources project), whose
//!   builds' commit becomes the action's revision.
//! - Manual approvals never reach an executor, and custom actions are queued for job workers first.
//! - Every other provider fails its action, saying which providers run in AWS.

use std::path::PathBuf;
use std::sync::{Arc, RwLock, Weak};

use async_trait::async_trait;
use aws_config::SdkConfig;
use sluice_agent::{AgentConfig, LocalAgent};
use sluice_aws::S3ObjectStore;
use sluice_runtime::jobs::{Executor, Job, JobListener, JobOutcome};
use sluice_runtime::ports::ItemStore;
use tokio::sync::{oneshot, Mutex};
use tracing::{info, warn};

use crate::builds::{commands_buildspec, BuildPlan, Builds};
use crate::connections::Connections;
use crate::waits::Waits;
use sluice_providers::{Context, Provider, Step};
use sluice_runtime::jobs::ExternalExecution;

/// What runs a job in AWS.
enum Runner {
    /// An AWS provider: started here, looked at again on its service's events and the check-waiting schedule.
    Provider(&'static dyn Provider),
    /// In the invocation, by the job agent over S3.
    Inline,
    /// In the invocation: DescribeImages, and the image's `imageDetail.json` as the artifact.
    EcrSource,
    /// A CodeBuild build of the action's project.
    CodeBuild,
    /// A CodeBuild build of the commands project.
    Commands,
    /// A CodeBuild build of the sources project that checks a git repository out ([`crate::git_sources`]).
    GitSource,
}

fn runner(job: &Job) -> Result<Runner, String> {
    if let Some(p) = sluice_providers::provider_for(&job.action_type) {
        return Ok(Runner::Provider(p));
    }
    let t = &job.action_type;
    match (t.category.as_str(), t.owner.as_str(), t.provider.as_str()) {
        ("Source" | "Deploy", "AWS", "S3") => Ok(Runner::Inline),
        ("Source", "AWS", "ECR") => Ok(Runner::EcrSource),
        ("Build" | "Test", "AWS", "CodeBuild") => Ok(Runner::CodeBuild),
        ("Compute", "AWS", "Commands") => Ok(Runner::Commands),
        _ if crate::git_sources::is_git_source(job) => Ok(Runner::GitSource),
        _ => Err(refusal(job)),
    }
}

/// Why a job of `job`'s provider does not run in AWS.
pub fn refusal(job: &Job) -> String {
    let t = &job.action_type;
    let hint = if t.provider == "LocalSource" {
        " (LocalSource reads a folder on the machine running Sluice: in AWS use an S3 source)"
    } else {
        ""
    };
    format!(
        "provider {}/{}/{} is not run in AWS by this version of Sluice{hint}: in AWS, S3 sources and \
         deploys, ECR, CodeCommit, CodeStarSourceConnection and GitHub (version 1) sources, CodeBuild builds \
         and tests, Commands, CloudFormation, ECS, CodeDeploy, \
         CodeDeployToECS, ElasticBeanstalk, Lambda and StepFunctions actions, Manual approvals and custom actions \
         (for job workers) run; run other pipelines with `sluice run` or `sluice serve`",
        t.category, t.owner, t.provider
    )
}

/// Hears one inline job's outcome.
struct Once(Mutex<Option<oneshot::Sender<JobOutcome>>>);

#[async_trait]
impl JobListener for Once {
    async fn job_finished(&self, _job: &Job, outcome: JobOutcome) {
        if let Some(tx) = self.0.lock().await.take() {
            let _ = tx.send(outcome);
        }
    }
}

/// The dispatch function's executor (and every function's, for stopping builds).
pub struct AwsExecutor {
    sdk: SdkConfig,
    builds: Builds,
    waits: Waits,
    work_dir: PathBuf,
    commands_project: Option<String>,
    sources_project: Option<String>,
    connections: Connections,
    artifact_role: Option<String>,
    listener: RwLock<Option<Weak<dyn JobListener>>>,
}

impl std::fmt::Debug for AwsExecutor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsExecutor")
            .field("work_dir", &self.work_dir)
            .field("commands_project", &self.commands_project)
            .field("sources_project", &self.sources_project)
            .finish_non_exhaustive()
    }
}

impl AwsExecutor {
    /// An executor whose builds are recorded in `store`, whose inline jobs work under `work_dir`, and whose
    /// Commands actions run in `commands_project` (none: Commands actions fail, saying so).
    pub fn new(
        sdk: SdkConfig,
        store: Arc<dyn ItemStore>,
        work_dir: impl Into<PathBuf>,
        commands_project: Option<String>,
        artifact_role: Option<String>,
    ) -> Self {
        Self {
            connections: Connections::from_sdk(sdk.clone()),
            sdk,
            builds: Builds::new(store.clone()),
            waits: Waits::new(store),
            work_dir: work_dir.into(),
            commands_project,
            sources_project: None,
            artifact_role,
            listener: RwLock::new(None),
        }
    }

    /// The executor, asking CodeStar Connections through `client` (by default the function's own).
    #[must_use]
    pub fn with_connections(mut self, client: aws_sdk_codestarconnections::Client) -> Self {
        self.connections = Connections::new(client);
        self
    }

    /// The executor, running git source actions in `project` (none: they fail, saying so).
    #[must_use]
    pub fn with_sources_project(mut self, project: Option<String>) -> Self {
        self.sources_project = project;
        self
    }

    fn region(&self) -> String {
        self.sdk
            .region()
            .map(ToString::to_string)
            .unwrap_or_default()
    }

    /// Refuses a build-run job declared in another region: builds run in the stack's region, where their
    /// state-change events arrive, and a job is never run somewhere else than declared.
    fn in_the_stack_region(&self, job: &Job) -> Result<(), String> {
        match job.region.as_ref().filter(|r| **r != self.region()) {
            Some(region) => Err(format!(
                "region: action {} is declared in {region}, and Sluice runs {} actions as builds only in \
                 the stack's region ({}); declare it without a region, or deploy a Sluice stack in {region}",
                job.action,
                job.action_type.provider,
                self.region()
            )),
            None => Ok(()),
        }
    }

    /// Sets who hears how jobs ended (the runtime; held weakly, as the runtime holds this executor).
    pub fn set_listener(&self, listener: Weak<dyn JobListener>) {
        *self
            .listener
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(listener);
    }

    /// The job a CodeBuild "Build State Change" event finished, and how (see [`Builds::finished`]).
    /// A git source's build reports its commit as the action's revision.
    pub async fn build_finished(
        &self,
        event: &serde_json::Value,
    ) -> Result<Option<(Job, JobOutcome)>, String> {
        let finished = self
            .builds
            .finished(event, |job| async move { self.sdk_for(&job).await })
            .await?;
        Ok(finished.map(|(job, outcome)| {
            let outcome = match outcome {
                JobOutcome::Succeeded {
                    artifacts,
                    variables,
                    summary,
                    revision,
                } if crate::git_sources::is_git_source(&job) => JobOutcome::Succeeded {
                    revision: crate::git_sources::revision(
                        &job,
                        &variables,
                        revision.map(|r| r.revision_id).as_deref(),
                        &self.region(),
                    ),
                    artifacts,
                    variables,
                    summary,
                },
                other => other,
            };
            (job, outcome)
        }))
    }

    /// The SDK configuration a job works with: the function's, with the job's role's credentials when it names
    /// one.
    pub async fn sdk_for(&self, job: &Job) -> Result<SdkConfig, String> {
        crate::roles::assume(&self.sdk, job.role_arn.as_deref(), "sluice-dispatch")
            .await
            .map_err(|e| format!("{e} (the action's role)"))
    }

    fn listener(&self) -> Option<std::sync::Arc<dyn JobListener>> {
        self.listener
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .as_ref()
            .and_then(Weak::upgrade)
    }

    async fn report(&self, job: &Job, outcome: JobOutcome) {
        match self.listener() {
            Some(listener) => listener.job_finished(job, outcome).await,
            None => warn!(job = %job.id, "job finished with no listener to hear it"),
        }
    }

    async fn progress(&self, job: &Job, external: ExternalExecution) {
        if let Some(listener) = self.listener() {
            listener.job_progress(job, external).await;
        }
    }

    /// What an AWS provider's context for `job` is made of: its role's SDK settings, the artifact bucket over
    /// them, and a scratch folder (remove it when done).
    async fn context_parts(
        &self,
        job: &Job,
    ) -> Result<(SdkConfig, S3ObjectStore, PathBuf), String> {
        let home = self.sdk_for(job).await?;
        let sdk = sluice_providers::provider::in_job_region(&home, job);
        let objects = artifact_objects(&home, &sdk, job);
        let scratch = self
            .work_dir
            .join("providers")
            .join(crate::builds::safe_name(&job.id));
        Ok((sdk, objects, scratch))
    }

    /// Takes a provider's step: an outcome is reported, a wait recorded (due later), a detached job shown.
    async fn settle(
        &self,
        job: &Job,
        provider: &'static dyn Provider,
        step: Step,
    ) -> Result<(), String> {
        match step {
            Step::Done(outcome) => {
                self.waits.forget(&job.id).await?;
                self.report(job, outcome).await;
            }
            Step::Detached { external } => {
                self.waits.forget(&job.id).await?;
                self.progress(job, external).await;
            }
            Step::Wait {
                state,
                external,
                after,
            } => {
                let ids = provider.event_ids(&state);
                let shown = self.waits.get(&job.id).await?.map(|r| r.external);
                self.waits
                    .put(job, state, external.clone(), ids, after)
                    .await?;
                if shown.as_ref() != Some(&external) {
                    self.progress(job, external).await;
                }
            }
        }
        Ok(())
    }

    /// Looks again at a waiting job (an event said it moved, or it is due). False when it no longer waits.
    pub async fn check_waiting(&self, job_id: &str) -> Result<bool, String> {
        let Some(record) = self.waits.get(job_id).await? else {
            return Ok(false);
        };
        let Some(provider) = sluice_providers::provider_for(&record.job.action_type) else {
            self.waits.forget(job_id).await?;
            return Ok(false);
        };
        let (sdk, objects, scratch) = self.context_parts(&record.job).await?;
        let ctx = Context {
            job: &record.job,
            sdk: &sdk,
            objects: &objects,
            scratch: &scratch,
            objects_in_s3: true,
            artifact_role: self.artifact_role.clone(),
        };
        let step = provider.check(&ctx, &record.state).await;
        let _ = std::fs::remove_dir_all(&scratch);
        let step = match step {
            Ok(step) => step,
            Err(e) => {
                warn!(job = job_id, error = %e, "cannot look at the work now; looking again later");
                Step::Wait {
                    state: record.state,
                    external: record.external,
                    after: std::time::Duration::ZERO,
                }
            }
        };
        self.settle(&record.job, provider, step).await?;
        Ok(true)
    }

    /// An AWS service's state-change event: the job waiting on the work it names is looked at now. Answers the
    /// jobs looked at (none for foreign events).
    pub async fn provider_event(&self, event: &serde_json::Value) -> Result<Vec<String>, String> {
        let mut looked = Vec::new();
        for id in crate::waits::event_ids(event) {
            if let Some(job_id) = self.waits.job_of(&id).await? {
                if !looked.contains(&job_id) && self.check_waiting(&job_id).await? {
                    looked.push(job_id);
                }
            }
        }
        Ok(looked)
    }

    /// Looks at every waiting job that is due (the check-waiting schedule); answers how many.
    pub async fn check_due(&self) -> Result<usize, String> {
        let due = self.waits.due(crate::waits::now_ms(), 100).await?;
        let mut looked = 0;
        for job_id in due {
            match self.check_waiting(&job_id).await {
                Ok(true) => looked += 1,
                Ok(false) => {}
                Err(e) => warn!(job = %job_id, error = %e, "could not look at a waiting job"),
            }
        }
        Ok(looked)
    }

    /// Runs an S3 job to its end in this invocation, logging the job's log.
    async fn run_inline(&self, job: &Job, home: &SdkConfig, sdk: &SdkConfig) -> JobOutcome {
        let objects = Arc::new(artifact_objects(home, sdk, job));
        let mut config = AgentConfig::new(self.work_dir.join("work"), self.work_dir.join("logs"));
        config.keep_failed_workspaces = false;
        let agent = LocalAgent::new(objects, config);
        let (tx, rx) = oneshot::channel();
        agent.set_listener(Arc::new(Once(Mutex::new(Some(tx)))));
        if let Err(message) = agent.start(job.clone()).await {
            return JobOutcome::Failed { message };
        }
        let outcome = rx.await.unwrap_or_else(|_| JobOutcome::Failed {
            message: "the job agent ended without an outcome".into(),
        });
        let log = agent.log_path(job);
        if let Ok(text) = std::fs::read_to_string(&log) {
            info!(job = %job.id, log = %text, "job log");
            let _ = std::fs::remove_file(&log);
        }
        outcome
    }
}

#[async_trait]
impl Executor for AwsExecutor {
    async fn start(&self, job: Job) -> Result<(), String> {
        let runner = runner(&job)?;
        if let Runner::Provider(provider) = runner {
            let (sdk, objects, scratch) = self.context_parts(&job).await?;
            let ctx = Context {
                job: &job,
                sdk: &sdk,
                objects: &objects,
                scratch: &scratch,
                objects_in_s3: true,
                artifact_role: self.artifact_role.clone(),
            };
            let step = provider.start(&ctx).await;
            let _ = std::fs::remove_dir_all(&scratch);
            return self.settle(&job, provider, step?).await;
        }
        let home = self.sdk_for(&job).await?;
        let sdk = sluice_providers::provider::in_job_region(&home, &job);
        match runner {
            Runner::Provider(_) => Ok(()),
            Runner::Inline => {
                let outcome = self.run_inline(&job, &home, &sdk).await;
                self.report(&job, outcome).await;
                Ok(())
            }
            Runner::EcrSource => {
                let scratch = self
                    .work_dir
                    .join("ecr")
                    .join(crate::builds::safe_name(&job.id));
                let objects = artifact_objects(&home, &sdk, &job);
                let outcome = crate::ecr_source::run(&job, &sdk, &objects, &scratch)
                    .await
                    .unwrap_or_else(|message| JobOutcome::Failed { message });
                let _ = std::fs::remove_dir_all(&scratch);
                self.report(&job, outcome).await;
                Ok(())
            }
            Runner::CodeBuild => {
                let project = job
                    .configuration
                    .get("ProjectName")
                    .filter(|p| !p.is_empty())
                    .ok_or("configuration.ProjectName is required for a CodeBuild action")?
                    .clone();
                // Builds run in the stack's region, where their state-change events arrive: a build
                // project of another region is refused, not run somewhere else.
                self.in_the_stack_region(&job)?;
                let plan = BuildPlan::of(project, None);
                self.builds.start(&home, &job, plan).await
            }
            Runner::Commands => {
                let project = self.commands_project.clone().ok_or(
                    "Commands actions run on the stack's commands project, and this function has none \
                     (SLUICE_COMMANDS_PROJECT is not set)",
                )?;
                self.in_the_stack_region(&job)?;
                let plan = BuildPlan::of(project, Some(commands_buildspec(&job)));
                self.builds.start(&home, &job, plan).await
            }
            Runner::GitSource => {
                let project = self.sources_project.clone().ok_or(
                    "git source actions run on the stack's sources project, and this function has none \
                     (SLUICE_SOURCES_PROJECT is not set)",
                )?;
                let host = match job.configuration.get("ConnectionArn") {
                    Some(arn) if job.action_type.provider == "CodeStarSourceConnection" => {
                        Some(self.connections.host(arn).await?)
                    }
                    _ => None,
                };
                let plan = crate::git_sources::plan(&job, &project, &self.region(), host.as_ref())?;
                self.builds.start(&home, &job, plan).await
            }
        }
    }

    async fn is_running(&self, job_id: &str) -> bool {
        match self.waits.get(job_id).await {
            Ok(Some(_)) => return true,
            Ok(None) => {}
            Err(e) => {
                warn!(job = job_id, error = %e, "cannot read a wait record; taking the job as running");
                return true;
            }
        }
        // Inline jobs end with their invocation; only builds and waiting providers outlive it.
        let record = match self.builds.record(job_id).await {
            Ok(Some(record)) => record,
            Ok(None) => return false,
            Err(e) => {
                warn!(job = job_id, error = %e, "cannot read a build record; taking the build as running");
                return true;
            }
        };
        match self.sdk_for(&record.job).await {
            Ok(sdk) => self.builds.is_running(&sdk, &record).await,
            Err(e) => {
                warn!(job = job_id, error = %e, "taking the build as running");
                true
            }
        }
    }

    async fn cancel(&self, job_id: &str) {
        if let Ok(Some(record)) = self.waits.get(job_id).await {
            if let Some(provider) = sluice_providers::provider_for(&record.job.action_type) {
                if let Ok((sdk, objects, scratch)) = self.context_parts(&record.job).await {
                    let ctx = Context {
                        job: &record.job,
                        sdk: &sdk,
                        objects: &objects,
                        scratch: &scratch,
                        objects_in_s3: true,
                        artifact_role: self.artifact_role.clone(),
                    };
                    provider.stop(&ctx, &record.state).await;
                    let _ = std::fs::remove_dir_all(&scratch);
                }
            }
            let _ = self.waits.forget(job_id).await;
            return;
        }
        let Ok(Some(record)) = self.builds.record(job_id).await else {
            return;
        };
        match self.sdk_for(&record.job).await {
            Ok(sdk) => self.builds.stop(&sdk, &record).await,
            Err(e) => warn!(job = job_id, error = %e, "cannot stop the build"),
        }
    }
}

/// The S3 a job works with: `home`'s region (the stack's), or for an action in another `region` that
/// region's (`sdk`), where its artifact store and its service's buckets are, except for the input artifacts
/// kept elsewhere, which are read through `home`: S3 refuses requests signed for another region than the
/// bucket's.
fn artifact_objects(home: &SdkConfig, sdk: &SdkConfig, job: &Job) -> S3ObjectStore {
    if job.region.is_none() {
        return S3ObjectStore::new(aws_sdk_s3::Client::new(home));
    }
    let home_client = aws_sdk_s3::Client::new(home);
    let mut objects = S3ObjectStore::new(aws_sdk_s3::Client::new(sdk));
    for input in &job.inputs {
        if job.artifact_store.as_deref() != Some(input.object.bucket.as_str()) {
            objects = objects.with_bucket_client(input.object.bucket.clone(), home_client.clone());
        }
    }
    objects
}
