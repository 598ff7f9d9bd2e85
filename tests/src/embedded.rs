//! The embedded runtime wired in process over a temporary folder, with a clock the test moves: for suites that
//! call the runtime and the API directly (the binary's own wiring is `cli/src/host.rs`).

use std::path::Path;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

use sluice_agent::{AgentConfig, LocalAgent};
use sluice_definition::Limits;
use sluice_engine::Engine;
use sluice_local::{FolderObjectStore, JsonlEventLog, SqliteStore};
use sluice_runtime::events::Origin;
use sluice_runtime::ports::{Env, ItemStore, ObjectStore};
use sluice_runtime::{Runtime, RuntimeConfig};

/// A clock that moves when told, and counting ids.
pub struct TestEnv {
    /// Milliseconds since the epoch.
    pub now: AtomicI64,
    /// The next id's number.
    pub ids: AtomicU64,
}

impl TestEnv {
    /// A clock at `now_ms`.
    pub fn at(now_ms: i64) -> Arc<Self> {
        Arc::new(Self {
            now: AtomicI64::new(now_ms),
            ids: AtomicU64::new(0),
        })
    }

    /// Moves the clock forward.
    pub fn advance_ms(&self, ms: i64) {
        self.now.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Env for TestEnv {
    fn now_ms(&self) -> i64 {
        self.now.load(Ordering::SeqCst)
    }

    fn new_id(&self) -> String {
        format!("id-{:08}", self.ids.fetch_add(1, Ordering::SeqCst))
    }
}

/// The runtime and the engine over the embedded adapters in `dir`.
pub fn wire(dir: &Path, env: Arc<TestEnv>) -> (Arc<Runtime>, Arc<Engine>) {
    let store: Arc<dyn ItemStore> =
        Arc::new(SqliteStore::open(dir.join("sluice.db")).expect("store"));
    let objects: Arc<dyn ObjectStore> =
        Arc::new(FolderObjectStore::open(dir.join("objects")).expect("objects"));
    let engine = Engine::new(Arc::clone(&store), env.clone());
    let agent = LocalAgent::new(
        Arc::clone(&objects),
        AgentConfig::new(dir.join("work"), dir.join("logs")),
    );
    let runtime = Arc::new(Runtime {
        store,
        objects,
        orchestrator: engine.clone(),
        events: Arc::new(JsonlEventLog::open(dir.join("events.jsonl")).expect("events")),
        executor: Arc::new(agent.clone()),
        env,
        config: RuntimeConfig {
            artifact_bucket: "sluice-artifacts".into(),
            origin: Origin {
                account: "000000000000".into(),
                region: "local".into(),
            },
            limits: Limits::default(),
        },
    });
    engine.set_host(&runtime);
    agent.set_listener(runtime.clone());
    (runtime, engine)
}
