//! [`LocalAgent`]: the in-process [`Executor`]. Each job runs in a tokio task of its own, in a fresh folder,
//! with its output appended to its log file; the outcome goes to the [`JobListener`].
//!
//! A job's folder is removed when the job succeeds. When it fails (or times out, or is cancelled) it is kept
//! for inspection, marked `FAILED`, and the log says where, unless [`AgentConfig::keep_failed_workspaces`] is
//! off; [`LocalAgent::sweep`] removes kept folders after [`AgentConfig::failed_retention`] (7 days). A run
//! interrupted by a crash leaves its folder: the restarted run of the same attempt stops what the earlier run
//! left running and removes its folder, and the sweep removes those of executions that ended.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use sluice_runtime::jobs::{Executor, Job, JobListener, JobOutcome};
use sluice_runtime::ports::ObjectStore;
use tokio::sync::watch;

use crate::bindings::binding_for;
use crate::error::JobError;
use crate::job::{JobContext, Success};
use crate::log::{job_file_stem, log_path, safe_component, JobLog};
use crate::providers;
use crate::zip_files::Limits;

/// Where and how the agent works.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// Jobs' folders go under it.
    pub work_dir: PathBuf,
    /// Jobs' logs go under it (see [`log_path`]).
    pub logs_dir: PathBuf,
    /// Bounds on every archive the agent extracts.
    pub limits: Limits,
    /// Keep a failed job's folder for inspection (on by default).
    pub keep_failed_workspaces: bool,
    /// How long a failed job's folder is kept.
    pub failed_retention: Duration,
    /// Where working copies bound to git source actions are listed (see [`crate::save_bindings`]).
    pub bindings_file: Option<PathBuf>,
}

/// The marker a kept failed job's folder carries; its time is when the job failed.
const FAILED_MARKER: &str = "FAILED";

impl AgentConfig {
    /// Default limits; failed jobs' folders kept.
    pub fn new(work_dir: impl Into<PathBuf>, logs_dir: impl Into<PathBuf>) -> Self {
        AgentConfig {
            work_dir: work_dir.into(),
            logs_dir: logs_dir.into(),
            limits: Limits::default(),
            keep_failed_workspaces: true,
            failed_retention: Duration::from_secs(7 * 24 * 3600),
            bindings_file: None,
        }
    }
}

struct Inner {
    objects: Arc<dyn ObjectStore>,
    config: AgentConfig,
    listener: RwLock<Option<Arc<dyn JobListener>>>,
    /// Running jobs by id, each with its cancel switch.
    running: Mutex<HashMap<String, watch::Sender<bool>>>,
}

/// Runs jobs on this machine, in this process.
#[derive(Clone)]
pub struct LocalAgent {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for LocalAgent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalAgent")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl LocalAgent {
    /// An agent that reads and writes artifacts through `objects`. Set its listener before starting jobs.
    pub fn new(objects: Arc<dyn ObjectStore>, config: AgentConfig) -> Self {
        LocalAgent {
            inner: Arc::new(Inner {
                objects,
                config,
                listener: RwLock::new(None),
                running: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// Sets who hears how jobs ended (replacing any earlier listener).
    pub fn set_listener(&self, listener: Arc<dyn JobListener>) {
        let mut slot = self
            .inner
            .listener
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *slot = Some(listener);
    }

    /// Removes job folders nobody needs any more: failed jobs' folders older than
    /// [`AgentConfig::failed_retention`], and the folders of interrupted runs whose execution is no longer open
    /// (`open` lists the executions that are). Returns the folders removed.
    pub fn sweep(&self, open: &[String]) -> Vec<PathBuf> {
        let open: std::collections::HashSet<String> =
            open.iter().map(|id| safe_component(id)).collect();
        let retention = self.inner.config.failed_retention;
        let mut removed = Vec::new();
        let Ok(executions) = std::fs::read_dir(&self.inner.config.work_dir) else {
            return removed;
        };
        for execution in executions.flatten() {
            let execution_open = execution
                .file_name()
                .to_str()
                .is_some_and(|name| open.contains(name));
            let Ok(runs) = std::fs::read_dir(execution.path()) else {
                continue;
            };
            for run in runs.flatten() {
                let path = run.path();
                let expired = match std::fs::metadata(path.join(FAILED_MARKER)) {
                    Ok(m) => m
                        .modified()
                        .ok()
                        .and_then(|t| t.elapsed().ok())
                        .is_some_and(|age| age > retention),
                    // No marker: a running job, or one interrupted by a crash.
                    Err(_) => !execution_open,
                };
                if expired && std::fs::remove_dir_all(&path).is_ok() {
                    removed.push(path);
                }
            }
            // Gone when empty.
            let _ = std::fs::remove_dir(execution.path());
        }
        removed
    }

    /// The agent's configuration.
    pub fn config(&self) -> &AgentConfig {
        &self.inner.config
    }

    /// Where a job's log is.
    pub fn log_path(&self, job: &Job) -> PathBuf {
        log_path(&self.inner.config.logs_dir, job)
    }
}

impl Inner {
    fn running(&self) -> std::sync::MutexGuard<'_, HashMap<String, watch::Sender<bool>>> {
        self.running
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[async_trait]
impl Executor for LocalAgent {
    async fn start(&self, job: Job) -> Result<(), String> {
        let cancel = {
            let mut running = self.inner.running();
            if running.contains_key(&job.id) {
                return Ok(());
            }
            let (tx, rx) = watch::channel(false);
            running.insert(job.id.clone(), tx);
            rx
        };
        tokio::spawn(run_and_report(self.inner.clone(), job, cancel));
        Ok(())
    }

    async fn is_running(&self, job_id: &str) -> bool {
        self.inner.running().contains_key(job_id)
    }

    async fn cancel(&self, job_id: &str) {
        if let Some(switch) = self.inner.running().get(job_id) {
            let _ = switch.send(true);
        }
    }
}

async fn run_and_report(inner: Arc<Inner>, job: Job, cancel: watch::Receiver<bool>) {
    // A panic inside the job must still report, or the pipeline would wait for ever.
    let outcome = match tokio::spawn(execute(inner.clone(), job.clone(), cancel)).await {
        Ok(outcome) => outcome,
        Err(e) => JobOutcome::Failed {
            message: format!("the job agent failed while running the job: {e}"),
        },
    };
    let listener = inner
        .listener
        .read()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .clone();
    match listener {
        Some(listener) => listener.job_finished(&job, outcome).await,
        None => tracing::warn!(job = %job.id, "job finished with no listener to hear it"),
    }
    // Removed only after the listener recorded the outcome: "not running" never means "outcome unknown" here.
    inner.running().remove(&job.id);
}

async fn cancelled(mut switch: watch::Receiver<bool>) {
    loop {
        if *switch.borrow_and_update() {
            return;
        }
        if switch.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// "5 minutes", "1 minute", "90 seconds".
fn duration_words(seconds: u64) -> String {
    match seconds {
        60 => "1 minute".to_string(),
        s if s % 60 == 0 => format!("{} minutes", s / 60),
        1 => "1 second".to_string(),
        s => format!("{s} seconds"),
    }
}

async fn execute(inner: Arc<Inner>, job: Job, cancel: watch::Receiver<bool>) -> JobOutcome {
    let path = log_path(&inner.config.logs_dir, &job);
    let log = match JobLog::open(&path) {
        Ok(log) => Arc::new(log),
        Err(e) => {
            return JobOutcome::Failed {
                message: format!("cannot open the job log {}: {e}", path.display()),
            }
        }
    };
    log.line(&format!(
        "Job {} started: {} (attempt {})",
        job.id, job.action_type, job.attempt
    ));
    if let Err(why) = providers::supports(&job.action_type) {
        log.line(&format!("Job failed: {why}"));
        return JobOutcome::Failed { message: why };
    }
    // One folder per job id: a run restarted after a crash must not share a folder with the run it
    // replaces (whose processes may outlive the crashed sluice).
    let run = job.id.rsplit('/').next().unwrap_or_default();
    let dir = inner
        .config
        .work_dir
        .join(safe_component(&job.execution_id))
        .join(format!(
            "{}.run{}",
            job_file_stem(&job),
            safe_component(run)
        ));
    retire_earlier_runs(&dir, &log);
    let ctx = JobContext {
        objects: inner.objects.clone(),
        log: log.clone(),
        workspace: dir.join("src"),
        // Scratch files live in the job's folder itself (one folder fewer per job); their names never clash
        // with `src/` and `inputs/`.
        scratch: dir.clone(),
        dir: dir.clone(),
        limits: inner.config.limits,
        binding: inner
            .config
            .bindings_file
            .as_deref()
            .and_then(|file| binding_for(file, &job.pipeline, &job.action)),
        job,
    };
    let result = tokio::select! {
        result = run_within(&ctx) => result,
        () = cancelled(cancel) => Err(JobError::failed("cancelled")),
    };
    match result {
        Ok(success) => {
            log.line(&format!(
                "Job succeeded{}",
                success
                    .summary
                    .as_deref()
                    .map(|s| format!(": {s}"))
                    .unwrap_or_default()
            ));
            if let Err(e) = std::fs::remove_dir_all(&dir) {
                log.line(&format!("Could not remove {}: {e}", dir.display()));
            }
            JobOutcome::Succeeded {
                artifacts: success.artifacts,
                variables: success.variables,
                summary: success.summary,
                revision: success.revision,
            }
        }
        Err(e) => {
            let message = e.to_string();
            log.line(&format!("Job failed: {message}"));
            if inner.config.keep_failed_workspaces {
                let _ = std::fs::write(dir.join(FAILED_MARKER), &message);
                log.line(&format!(
                    "The job's folder is kept at {} for {} days",
                    dir.display(),
                    inner.config.failed_retention.as_secs() / 86_400
                ));
            } else {
                let _ = std::fs::remove_dir_all(&dir);
            }
            JobOutcome::Failed { message }
        }
    }
}

/// Prepares the job's folder and runs the provider within the job's timeout (none when it is zero).
async fn run_within(ctx: &JobContext) -> Result<Success, JobError> {
    if std::fs::symlink_metadata(&ctx.dir).is_ok() {
        ctx.log.line(&format!(
            "Removing the folder of an earlier run at {}",
            ctx.dir.display()
        ));
        std::fs::remove_dir_all(&ctx.dir)
            .map_err(JobError::io(format!("cannot remove {}", ctx.dir.display())))?;
    }
    // The execution's folder is the top of a hierarchy for ext4 (see `zip_files::extract`): each job's folder
    // lands in a block group of its own, away from the inodes that the jobs before it deleted, which ext4
    // without a journal walks one by one for minutes after a delete.
    if let Some(execution_dir) = ctx.dir.parent() {
        if std::fs::create_dir_all(execution_dir.parent().unwrap_or(execution_dir)).is_ok()
            && std::fs::create_dir(execution_dir).is_ok()
        {
            crate::zip_files::extract::spread(execution_dir);
        }
    }
    std::fs::create_dir_all(&ctx.scratch).map_err(JobError::io(format!(
        "cannot create {}",
        ctx.scratch.display()
    )))?;
    let seconds = ctx.job.timeout_seconds;
    if seconds == 0 {
        return providers::run(ctx).await;
    }
    match tokio::time::timeout(Duration::from_secs(seconds), providers::run(ctx)).await {
        Ok(result) => result,
        Err(_) => Err(JobError::failed(format!(
            "timed out after {}",
            duration_words(seconds)
        ))),
    }
}

/// Stops the processes of earlier runs of the same attempt that outlived the sluice which started them (a
/// crash, `kill -9`), and removes their folders: a restarted run must not race the run it replaces. A run's
/// folder records its process group (the first line of the shell's `report`, written before any command runs;
/// `pgid` in folders of earlier sluice versions); the group is killed
/// only when its leader still runs inside that folder, so a recycled process id is never hit.
fn retire_earlier_runs(dir: &std::path::Path, log: &JobLog) {
    let (Some(parent), Some(name)) = (dir.parent(), dir.file_name().and_then(|n| n.to_str()))
    else {
        return;
    };
    let Some((stem, _)) = name.rsplit_once(".run") else {
        return;
    };
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        let earlier = entry.path();
        let matches = earlier
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_prefix(stem))
            .is_some_and(|rest| rest.starts_with(".run"));
        if !matches || earlier == dir {
            continue;
        }
        // `pgid` and `scratch/pgid` in folders of earlier sluice versions.
        let pid = crate::shell::recorded_group(&earlier.join(crate::shell::REPORT)).or_else(|| {
            std::fs::read_to_string(earlier.join("pgid"))
                .or_else(|_| std::fs::read_to_string(earlier.join("scratch/pgid")))
                .ok()
                .and_then(|t| t.trim().parse::<i32>().ok())
        });
        let inside = pid.is_some_and(|pid| {
            std::fs::read_link(format!("/proc/{pid}/cwd"))
                .is_ok_and(|cwd| cwd.starts_with(&earlier))
        });
        if let (true, Some(pid)) = (inside, pid) {
            log.line(&format!(
                "Stopping process group {pid} left by an earlier run in {}",
                earlier.display()
            ));
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        if std::fs::remove_dir_all(&earlier).is_ok() {
            log.line(&format!(
                "Removed the folder of an interrupted earlier run at {}",
                earlier.display()
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_well() {
        for (s, words) in [
            (60, "1 minute"),
            (3600, "60 minutes"),
            (2, "2 seconds"),
            (90, "90 seconds"),
        ] {
            assert_eq!(duration_words(s), words);
        }
    }
}
