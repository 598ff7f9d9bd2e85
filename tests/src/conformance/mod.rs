//! Conformance suites for the ports of `sluice_runtime::ports`: the behaviour every adapter pair
//! (SQLite and DynamoDB, a folder and S3) must share, written once against the traits.
//!
//! Each suite is a set of `pub async fn` checks and a `run_all` that runs them all, reporting every failure at
//! once. Every check works in a key space of its own (a namespace unique to the run and the check), so one
//! store instance, even a shared DynamoDB table or S3 bucket, runs the suite as often as needed.
//!
//! ```ignore
//! let store = SqliteStore::open(dir.path().join("store.db"))?;
//! let passed = conformance::store::run_all(&store).await.unwrap_or_else(|e| panic!("{e}"));
//! ```

pub mod objects;
pub mod store;

use std::fmt::Display;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// A check's outcome: `Err` says what did not hold.
pub type Outcome = Result<(), String>;

/// Fails the enclosing check with a formatted message unless the condition holds.
macro_rules! ensure {
    ($cond:expr, $($message:tt)+) => {
        if !$cond {
            return Err(format!($($message)+));
        }
    };
}
pub(crate) use ensure;

/// Adds what was being done to an adapter's error.
pub(crate) trait Context<T> {
    fn context(self, doing: impl Display) -> Result<T, String>;
}

impl<T, E: Display> Context<T> for Result<T, E> {
    fn context(self, doing: impl Display) -> Result<T, String> {
        self.map_err(|e| format!("{doing}: {e}"))
    }
}

/// A namespace no other run or check uses: `conformance/<suite>/<run>/<check>`.
pub fn namespace(suite: &str, check: &str) -> String {
    static SEQUENCE: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let sequence = SEQUENCE.fetch_add(1, Ordering::Relaxed);
    format!(
        "conformance/{suite}/{nanos:x}-{:x}-{sequence}/{check}",
        std::process::id()
    )
}

/// The outcomes of a suite's checks, by name.
#[derive(Debug, Default)]
pub struct Report {
    suite: String,
    passed: usize,
    failures: Vec<String>,
}

impl Report {
    /// An empty report for `suite`.
    pub fn new(suite: &str) -> Self {
        Self {
            suite: suite.to_owned(),
            ..Self::default()
        }
    }

    /// Records one check's outcome.
    pub fn record(&mut self, check: &str, outcome: Outcome) {
        match outcome {
            Ok(()) => self.passed += 1,
            Err(why) => self.failures.push(format!("{check}: {why}")),
        }
    }

    /// How many checks passed, or every failure, one a line.
    pub fn finish(self) -> Result<usize, String> {
        if self.failures.is_empty() {
            Ok(self.passed)
        } else {
            Err(format!(
                "{} conformance: {} of {} checks failed:\n  {}",
                self.suite,
                self.failures.len(),
                self.failures.len() + self.passed,
                self.failures.join("\n  ")
            ))
        }
    }
}
