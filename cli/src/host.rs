//! The embedded default: wires the local adapters, the job agent, the engine and the runtime over a state
//! folder (`.sluice/` under the working directory unless `--state-dir` says otherwise).
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

use anyhow::{Context, Result};
use sluice_agent::{AgentConfig, LocalAgent};
use sluice_definition::Limits;
use sluice_engine::{Engine, SystemEnv};
use sluice_local::{FolderObjectStore, JsonlEventLog, SqliteStore};
use sluice_runtime::events::Origin;
use sluice_runtime::ports::{Env, EventSink, ItemStore, ObjectStore};
use sluice_runtime::{Runtime, RuntimeConfig};
use tokio::sync::Notify;

/// The bucket local artifacts go to.
pub const ARTIFACT_BUCKET: &str = "sluice-artifacts";

/// Everything a local command needs.
pub struct Host {
    /// The state folder.
    pub state_dir: PathBuf,
    /// The runtime (dispatch, approvals, stop, retry, ...).
    pub runtime: Arc<Runtime>,
    /// The engine that runs state machines.
    pub engine: Arc<Engine>,
}

impl Host {
    /// Opens (creating when needed) the state folder and wires everything.
    pub fn open(state_dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(state_dir)
            .with_context(|| format!("cannot create the state folder {}", state_dir.display()))?;
        let state_dir = state_dir
            .canonicalize()
            .with_context(|| format!("cannot open the state folder {}", state_dir.display()))?;
        let store: Arc<dyn ItemStore> =
            Arc::new(SqliteStore::open(state_dir.join("sluice.db")).map_err(|e| {
                anyhow::anyhow!("cannot open the store in {}: {e}", state_dir.display())
            })?);
        let objects: Arc<dyn ObjectStore> = Arc::new(
            FolderObjectStore::open(state_dir.join("objects"))
                .map_err(|e| anyhow::anyhow!("cannot open the object store: {e}"))?,
        );
        let events: Arc<dyn EventSink> = Arc::new(
            JsonlEventLog::open(state_dir.join("events.jsonl"))
                .context("cannot open the event log")?,
        );
        let env: Arc<dyn Env> = Arc::new(SystemEnv);
        let engine = Engine::new(Arc::clone(&store), Arc::clone(&env));
        let agent = LocalAgent::new(
            Arc::clone(&objects),
            AgentConfig::new(state_dir.join("work"), state_dir.join("logs")),
        );
        let runtime = Arc::new(Runtime {
            store,
            objects,
            orchestrator: engine.clone(),
            events,
            executor: Arc::new(agent.clone()),
            env,
            config: RuntimeConfig {
                artifact_bucket: ARTIFACT_BUCKET.into(),
                origin: Origin {
                    account: "000000000000".into(),
                    region: "local".into(),
                },
                limits: Limits::default(),
            },
        });
        engine.set_host(&runtime);
        agent.set_listener(runtime.clone());
        Ok(Self {
            state_dir,
            runtime,
            engine,
        })
    }

    /// Starts driving open executions in the background; notify the returned handle to stop.
    pub async fn drive(&self) -> Result<(Arc<Notify>, tokio::task::JoinHandle<()>)> {
        self.runtime
            .recover()
            .await
            .map_err(|e| anyhow::anyhow!("cannot recover open executions: {e}"))?;
        let stop = Arc::new(Notify::new());
        let handle = tokio::spawn(Arc::clone(&self.engine).run(Arc::clone(&stop)));
        Ok((stop, handle))
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
