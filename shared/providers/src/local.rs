//! [`LocalProviders`]: the AWS providers as an [`Executor`] of the embedded host. Each job is a tokio task that
//! starts the work, then sleeps and looks again with backoff until it ends: waiting holds a timer, not a thread.
//! The work in progress is written to `<dir>/waiting/<attempt>.json` (synced) before the first wait, so a run
//! restarted after a crash picks up the stack update or deployment its predecessor started instead of starting
//! another. Calls go out with the user's standard AWS settings (profile, region, credentials,
//! `AWS_ENDPOINT_URL` and `AWS_ENDPOINT_URL_<SERVICE>` for an emulator); the action's role is not assumed.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use aws_config::SdkConfig;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sluice_runtime::jobs::{Executor, ExternalExecution, Job, JobListener, JobOutcome};
use sluice_runtime::ports::{ObjectInfo, ObjectStore};
use tokio::sync::OnceCell;
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::provider::{backoff, Context, Provider, Step};

/// What a job waits on, kept on disk between looks.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Waiting {
    job_id: String,
    job: Job,
    state: Value,
    external: ExternalExecution,
}

struct Inner {
    objects: Arc<dyn ObjectStore>,
    dir: PathBuf,
    artifact_role: Option<String>,
    max_wait: Duration,
    sdk: OnceCell<SdkConfig>,
    listener: RwLock<Option<Arc<dyn JobListener>>>,
    running: Mutex<HashMap<String, Running>>,
}

/// A job's task, and the invocation it makes (a Lambda function is invoked again, with the same job, when it
/// continues).
struct Running {
    invocation: Option<String>,
    handle: JoinHandle<()>,
}

/// Runs the AWS providers' jobs in this process.
#[derive(Clone)]
pub struct LocalProviders {
    inner: Arc<Inner>,
}

/// The attempt a job runs (its id without the run number): runs of one attempt share their waiting work.
fn attempt_of(job_id: &str) -> &str {
    job_id
        .rsplit_once('/')
        .map_or(job_id, |(attempt, _)| attempt)
}

fn file_name(id: &str) -> String {
    id.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

impl LocalProviders {
    /// Providers whose artifacts are in `objects`, keeping their work in progress under `dir`, looking again at
    /// most every `max_wait`; artifact credentials (Lambda) are minted from `artifact_role`, else the job's role.
    pub fn new(
        objects: Arc<dyn ObjectStore>,
        dir: impl Into<PathBuf>,
        max_wait: Duration,
        artifact_role: Option<String>,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                objects,
                dir: dir.into(),
                artifact_role,
                max_wait,
                sdk: OnceCell::new(),
                listener: RwLock::new(None),
                running: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// Sets who hears how jobs go.
    pub fn set_listener(&self, listener: Arc<dyn JobListener>) {
        *self
            .inner
            .listener
            .write()
            .unwrap_or_else(|p| p.into_inner()) = Some(listener);
    }

    fn running(&self) -> std::sync::MutexGuard<'_, HashMap<String, Running>> {
        self.inner.running.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Inner {
    async fn sdk(&self) -> &SdkConfig {
        self.sdk
            .get_or_init(|| async {
                aws_config::defaults(aws_config::BehaviorVersion::latest())
                    .load()
                    .await
            })
            .await
    }

    fn listener(&self) -> Option<Arc<dyn JobListener>> {
        self.listener
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn waiting_path(&self, job: &Job) -> PathBuf {
        self.dir
            .join("waiting")
            .join(format!("{}.json", file_name(attempt_of(&job.id))))
    }

    fn scratch(&self, job: &Job) -> PathBuf {
        self.dir.join("scratch").join(file_name(&job.id))
    }

    async fn report(&self, job: &Job, outcome: JobOutcome) {
        if let Some(l) = self.listener() {
            l.job_finished(job, outcome).await;
        }
    }

    async fn progress(&self, job: &Job, external: &ExternalExecution) {
        if let Some(l) = self.listener() {
            l.job_progress(job, external.clone()).await;
        }
    }

    /// Runs a job to its end (or until it is detached).
    async fn run(self: Arc<Self>, job: Job, provider: &'static dyn Provider) {
        let sdk = crate::provider::in_job_region(self.sdk().await, &job);
        let scratch = self.scratch(&job);
        let ctx = Context {
            job: &job,
            sdk: &sdk,
            objects: self.objects.as_ref(),
            scratch: &scratch,
            objects_in_s3: false,
            artifact_role: self.artifact_role.clone(),
        };
        let path = self.waiting_path(&job);
        let mut step = match read_waiting(&path) {
            Some(saved) => {
                info!(job = %job.id, earlier = %saved.job_id, external = %saved.external.id, "adopting the work an earlier run started");
                Step::Wait {
                    state: saved.state,
                    external: saved.external,
                    after: Duration::ZERO,
                }
            }
            None => match provider.start(&ctx).await {
                Ok(step) => step,
                Err(message) => Step::failed(message),
            },
        };
        let mut wait = Duration::ZERO;
        let mut shown: Option<ExternalExecution> = None;
        loop {
            match step {
                Step::Done(outcome) => {
                    let _ = std::fs::remove_file(&path);
                    let _ = std::fs::remove_dir_all(&scratch);
                    self.report(&job, outcome).await;
                    break;
                }
                Step::Detached { external } => {
                    let _ = std::fs::remove_file(&path);
                    self.progress(&job, &external).await;
                    break;
                }
                Step::Wait {
                    state,
                    external,
                    after,
                } => {
                    let saved = Waiting {
                        job_id: job.id.clone(),
                        job: job.clone(),
                        state: state.clone(),
                        external: external.clone(),
                    };
                    if let Err(e) = write_waiting(&path, &saved) {
                        warn!(job = %job.id, error = %e, "cannot record the work in progress");
                    }
                    if shown.as_ref() != Some(&external) {
                        self.progress(&job, &external).await;
                        shown = Some(external.clone());
                    }
                    wait = if after.is_zero() {
                        backoff(wait, self.max_wait)
                    } else {
                        after.min(self.max_wait)
                    };
                    tokio::time::sleep(wait).await;
                    step = match provider.check(&ctx, &state).await {
                        Ok(next) => next,
                        Err(e) => {
                            warn!(job = %job.id, error = %e, "cannot look at the work now; looking again later");
                            Step::Wait {
                                state,
                                external,
                                after: Duration::ZERO,
                            }
                        }
                    };
                }
            }
        }
    }
}

fn read_waiting(path: &Path) -> Option<Waiting> {
    let text = std::fs::read(path).ok()?;
    serde_json::from_slice(&text).ok()
}

/// Writes the work in progress so it survives a crash: a synced temporary file renamed into place.
fn write_waiting(path: &Path, saved: &Waiting) -> std::io::Result<()> {
    use std::io::Write;
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(&serde_json::to_vec(saved).map_err(std::io::Error::other)?)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    std::fs::File::open(dir)?.sync_all()
}

#[async_trait]
impl Executor for LocalProviders {
    async fn start(&self, job: Job) -> Result<(), String> {
        let provider = crate::provider_for(&job.action_type).ok_or_else(|| {
            format!(
                "{}/{}/{} is not an AWS provider Sluice runs",
                job.action_type.category, job.action_type.owner, job.action_type.provider
            )
        })?;
        let invocation = job.invocation.as_ref().map(|i| i.job_id.clone());
        let mut running = self.running();
        if running
            .get(&job.id)
            .is_some_and(|r| !r.handle.is_finished() && r.invocation == invocation)
        {
            return Ok(());
        }
        // A new invocation of a continuing function goes out even while the last one's Invoke call has not
        // returned (an invoke answered only once the function ends); that task finishes on its own.
        let inner = Arc::clone(&self.inner);
        let id = job.id.clone();
        let handle = tokio::spawn(inner.run(job, provider));
        running.insert(id, Running { invocation, handle });
        Ok(())
    }

    async fn is_running(&self, job_id: &str) -> bool {
        self.running()
            .get(job_id)
            .is_some_and(|r| !r.handle.is_finished())
    }

    async fn cancel(&self, job_id: &str) {
        let running = self.running().remove(job_id);
        let Some(Running { handle, .. }) = running else {
            return;
        };
        handle.abort();
        let _ = handle.await;
        // Stop what the job started, as CodePipeline does for its provider; its waiting record goes.
        let attempt = attempt_of(job_id);
        let path = self
            .inner
            .dir
            .join("waiting")
            .join(format!("{}.json", file_name(attempt)));
        if let Some(saved) = read_waiting(&path) {
            let _ = std::fs::remove_file(&path);
            info!(job = job_id, external = %saved.external.id, "cancelled while it waited");
            if let Some(provider) = crate::provider_for(&saved.job.action_type) {
                let sdk = crate::provider::in_job_region(self.inner.sdk().await, &saved.job);
                let scratch = self.inner.scratch(&saved.job);
                let ctx = Context {
                    job: &saved.job,
                    sdk: &sdk,
                    objects: self.inner.objects.as_ref(),
                    scratch: &scratch,
                    objects_in_s3: false,
                    artifact_role: self.inner.artifact_role.clone(),
                };
                provider.stop(&ctx, &saved.state).await;
                let _ = std::fs::remove_dir_all(&scratch);
            }
        }
    }

    async fn collect_outputs(
        &self,
        job: &Job,
    ) -> Option<Result<BTreeMap<String, ObjectInfo>, String>> {
        let sdk = crate::provider::in_job_region(self.inner.sdk().await, job);
        let scratch = self.inner.scratch(job);
        let ctx = Context {
            job,
            sdk: &sdk,
            objects: self.inner.objects.as_ref(),
            scratch: &scratch,
            objects_in_s3: false,
            artifact_role: self.inner.artifact_role.clone(),
        };
        let collected = crate::artifacts::collect_outputs(&ctx).await;
        let _ = std::fs::remove_dir_all(&scratch);
        Some(collected)
    }
}
