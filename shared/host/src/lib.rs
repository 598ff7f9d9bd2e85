//! The embedded default, assembled in one place: the local adapters of the ports, the job agent and the AWS
//! providers (with the user's standard AWS settings: `AWS_PROFILE`, `AWS_REGION`, `AWS_ENDPOINT_URL`, ...;
//! `SLUICE_POLL_MAX_SECONDS` bounds the wait between looks at a stack or deployment, `SLUICE_ARTIFACT_ROLE_ARN`
//! names the role Lambda actions' artifact credentials come from), the engine and the runtime, wired over a state folder (`.sluice/` under the working directory unless the CLI's
//! `--state-dir` says otherwise). The `sluice` binary and the test harness both open it here.
//!
//! ```text
//! <state>/sluice.db        the store (SQLite, WAL): pipelines, executions, history, approvals, locks
//! <state>/objects/         the object store: artifact zips and local "S3" buckets
//! <state>/events.jsonl     every pipeline, stage and action state change, CodePipeline-shaped
//! <state>/logs/<execution>/<stage>.<action>.<attempt>.log   action output
//! <state>/work/            job workspaces
//! ```

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sluice_agent::{AgentConfig, LocalAgent};
use sluice_definition::Limits;
use sluice_engine::{Engine, SystemEnv};
use sluice_local::{FolderObjectStore, JsonlEventLog, SqliteStore};
use sluice_providers::local::LocalProviders;

/// Approval notices on a Manual action's NotificationArn, published with the user's AWS settings.
pub use sluice_providers::notices;
use sluice_runtime::events::Origin;
use sluice_runtime::jobs::{Executor, Job};
use sluice_runtime::ports::ObjectInfo;
use sluice_runtime::ports::{Env, EventSink, ItemStore, ObjectStore};
use sluice_runtime::{Runtime, RuntimeConfig};
use tokio::sync::Notify;

/// The bucket local artifacts go to.
pub const ARTIFACT_BUCKET: &str = "sluice-artifacts";

/// The account and region local events and ARNs carry.
pub fn local_origin() -> Origin {
    Origin {
        account: "000000000000".into(),
        region: "local".into(),
    }
}

/// The most a waiting AWS action (a stack update, a deployment) goes between looks, unless
/// `SLUICE_POLL_MAX_SECONDS` says otherwise.
pub const DEFAULT_POLL_MAX: Duration = Duration::from_secs(10);

/// The job runner of the embedded default: the AWS providers (CloudFormation, CodeDeploy, ECS, Elastic
/// Beanstalk, Lambda, Step Functions) run with the user's AWS settings, every other provider on the local agent.
pub struct Routed {
    /// The local agent.
    pub agent: LocalAgent,
    /// The AWS providers.
    pub providers: LocalProviders,
}

impl Routed {
    fn aws(job: &Job) -> bool {
        sluice_providers::provider_for(&job.action_type).is_some()
    }
}

#[async_trait]
impl Executor for Routed {
    async fn start(&self, job: Job) -> Result<(), String> {
        if Self::aws(&job) {
            self.providers.start(job).await
        } else {
            self.agent.start(job).await
        }
    }

    async fn is_running(&self, job_id: &str) -> bool {
        self.providers.is_running(job_id).await || self.agent.is_running(job_id).await
    }

    async fn cancel(&self, job_id: &str) {
        self.providers.cancel(job_id).await;
        self.agent.cancel(job_id).await;
    }

    async fn collect_outputs(
        &self,
        job: &Job,
    ) -> Option<Result<std::collections::BTreeMap<String, ObjectInfo>, String>> {
        self.providers.collect_outputs(job).await
    }
}

/// Whether the embedded default runs an action type (the local agent's providers, the AWS providers, manual
/// approvals, custom actions through job workers); else why not.
pub fn supports(id: &sluice_definition::model::ActionTypeId) -> Result<(), String> {
    if sluice_providers::provider_for(id).is_some() {
        return Ok(());
    }
    sluice_agent::supports(id).map_err(|why| {
        if why.contains(" needs AWS: ") {
            format!(
                "{} ({id}) is not run by Sluice yet: {LOCAL_PROVIDERS}",
                id.provider
            )
        } else {
            why
        }
    })
}

/// The state folder's list of working copies bound to git source actions (see [`sluice_agent::save_bindings`]).
pub const BINDINGS_FILE: &str = "bindings.json";

/// What the embedded default runs, for refusals.
pub const LOCAL_PROVIDERS: &str = "sluice runs LocalSource, GitHub, CodeStarSourceConnection, CodeCommit, S3 \
     (source and deploy), CodeBuild, Commands and Manual approval on this machine, custom actions through job workers, and CloudFormation, CodeDeploy, \
     CodeDeployToECS, ECS, ElasticBeanstalk, Lambda and StepFunctions actions with your AWS settings";

/// Why the embedded default could not be opened.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct HostError(String);

/// Everything a local command needs.
pub struct Host {
    /// The state folder.
    pub state_dir: PathBuf,
    /// The runtime (dispatch, approvals, stop, retry, ...).
    pub runtime: Arc<Runtime>,
    /// The engine that runs state machines.
    pub engine: Arc<Engine>,
    /// The job agent.
    pub agent: LocalAgent,
}

impl Host {
    /// Opens (creating when needed) the state folder and wires everything, with the system clock.
    pub fn open(state_dir: &Path) -> Result<Self, HostError> {
        Self::open_with(state_dir, Arc::new(SystemEnv))
    }

    /// Opens the state folder with the given clock and ids (tests move a clock of their own).
    pub fn open_with(state_dir: &Path, env: Arc<dyn Env>) -> Result<Self, HostError> {
        std::fs::create_dir_all(state_dir).map_err(|e| {
            HostError(format!(
                "cannot create the state folder {}: {e}",
                state_dir.display()
            ))
        })?;
        let state_dir = state_dir.canonicalize().map_err(|e| {
            HostError(format!(
                "cannot open the state folder {}: {e}",
                state_dir.display()
            ))
        })?;
        let sqlite = SqliteStore::open(state_dir.join("sluice.db")).map_err(|e| {
            HostError(format!(
                "cannot open the store in {}: {e}",
                state_dir.display()
            ))
        })?;
        // The engine's history, inbox and leases are re-derived from the runtime's synced records after a
        // power cut (open tasks are delivered again and answer from them), so its commits are ordered, not
        // synced on their own: see `SqliteStore::ordered`.
        let engine_store: Arc<dyn ItemStore> = Arc::new(sqlite.ordered());
        let store: Arc<dyn ItemStore> = Arc::new(sqlite);
        let objects: Arc<dyn ObjectStore> = Arc::new(
            FolderObjectStore::open(state_dir.join("objects"))
                .map_err(|e| HostError(format!("cannot open the object store: {e}")))?,
        );
        let events: Arc<dyn EventSink> = Arc::new(
            JsonlEventLog::open(state_dir.join("events.jsonl"))
                .map_err(|e| HostError(format!("cannot open the event log: {e}")))?,
        );
        let engine = Engine::new(engine_store, Arc::clone(&env));
        let mut agent_config = AgentConfig::new(state_dir.join("work"), state_dir.join("logs"));
        agent_config.bindings_file = Some(state_dir.join(BINDINGS_FILE));
        let agent = LocalAgent::new(Arc::clone(&objects), agent_config);
        let poll_max = std::env::var("SLUICE_POLL_MAX_SECONDS")
            .ok()
            .and_then(|s| s.parse::<f64>().ok())
            .filter(|s| *s > 0.0)
            .map_or(DEFAULT_POLL_MAX, Duration::from_secs_f64);
        let providers = LocalProviders::new(
            Arc::clone(&objects),
            state_dir.join("providers"),
            poll_max,
            std::env::var("SLUICE_ARTIFACT_ROLE_ARN")
                .ok()
                .filter(|r| !r.is_empty()),
        );
        let routed = Arc::new(Routed {
            agent: agent.clone(),
            providers: providers.clone(),
        });
        let runtime = Arc::new(Runtime {
            store,
            objects,
            orchestrator: engine.clone(),
            events,
            executor: routed,
            env,
            definitions: Default::default(),
            config: RuntimeConfig {
                artifact_bucket: ARTIFACT_BUCKET.into(),
                origin: local_origin(),
                limits: Limits::default(),
                webhook_base_url: Default::default(),
            },
        });
        engine.set_host(&runtime);
        agent.set_listener(runtime.clone());
        providers.set_listener(runtime.clone());
        Ok(Self {
            state_dir,
            runtime,
            engine,
            agent,
        })
    }

    /// Starts driving open executions in the background; notify the returned handle to stop. First makes sure
    /// every open execution's run exists, and sweeps job folders nobody needs (see [`LocalAgent::sweep`]).
    pub async fn drive(&self) -> Result<(Arc<Notify>, tokio::task::JoinHandle<()>), HostError> {
        self.runtime
            .recover()
            .await
            .map_err(|e| HostError(format!("cannot recover open executions: {e}")))?;
        self.sweep().await?;
        let stop = Arc::new(Notify::new());
        let handle = tokio::spawn(Arc::clone(&self.engine).run(Arc::clone(&stop)));
        Ok((stop, handle))
    }

    /// Removes job folders nobody needs any more (see [`LocalAgent::sweep`]): failed jobs' past their
    /// retention, interrupted runs' of executions that ended.
    pub async fn sweep(&self) -> Result<Vec<PathBuf>, HostError> {
        let open = self
            .runtime
            .open_executions()
            .await
            .map_err(|e| HostError(format!("cannot list open executions: {e}")))?;
        let agent = self.agent.clone();
        tokio::task::spawn_blocking(move || agent.sweep(&open))
            .await
            .map_err(|e| HostError(format!("the sweep failed: {e}")))
    }

    /// Where an action attempt's log is.
    pub fn log_path(&self, execution: &str, stage: &str, action: &str, attempt: u32) -> PathBuf {
        self.state_dir
            .join("logs")
            .join(execution)
            .join(format!("{stage}.{action}.{attempt}.log"))
    }

    /// The event log's path.
    pub fn events_path(&self) -> PathBuf {
        self.state_dir.join("events.jsonl")
    }
}
