//! The embedded runtime wired in process over a temporary folder, with a clock the test moves: for suites that
//! call the runtime and the API directly.

use std::path::Path;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

use sluice_engine::Engine;
use sluice_host::Host;
use sluice_runtime::ports::Env;
use sluice_runtime::Runtime;

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

/// The runtime and the engine over the embedded adapters in `dir`, wired as the binary wires them
/// ([`sluice_host::Host`]), with the test's clock.
pub fn wire(dir: &Path, env: Arc<TestEnv>) -> (Arc<Runtime>, Arc<Engine>) {
    let host = Host::open_with(dir, env).expect("the embedded host opens");
    (host.runtime, host.engine)
}
