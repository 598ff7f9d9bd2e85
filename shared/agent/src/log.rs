//! A job's log file: the agent's own lines and, written straight into the same file by the kernel, the output of
//! the job's processes, interleaved as it comes.
//!
//! The file is opened for appending, so a rerun after a crash adds to what the earlier run wrote.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Mutex;

use sluice_runtime::jobs::Job;

/// Where a job's log is: `<logs_dir>/<execution_id>/<stage>.<action>.<attempt>.log`.
///
/// Names that could not be a single path component (empty, `.`, `..`, with a `/`) are made safe, so the log
/// never lands outside `logs_dir`.
pub fn log_path(logs_dir: &Path, job: &Job) -> PathBuf {
    logs_dir
        .join(safe_component(&job.execution_id))
        .join(format!("{}.log", job_file_stem(job)))
}

/// `<stage>.<action>.<attempt>`, each part made safe as a file name.
pub(crate) fn job_file_stem(job: &Job) -> String {
    format!(
        "{}.{}.{}",
        safe_component(&job.stage),
        safe_component(&job.action),
        job.attempt
    )
}

/// Keeps the characters CodePipeline allows in names; anything else becomes `_`.
pub(crate) fn safe_component(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@') {
                c
            } else {
                '_'
            }
        })
        .collect();
    match cleaned.as_str() {
        "" | "." | ".." => format!("_{cleaned}"),
        _ => cleaned,
    }
}

/// An open job log.
#[derive(Debug)]
pub(crate) struct JobLog {
    file: Mutex<File>,
    path: PathBuf,
}

impl JobLog {
    /// Opens (creating it and its folders) the log for appending.
    pub(crate) fn open(path: &Path) -> io::Result<Self> {
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)?;
        }
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(JobLog {
            file: Mutex::new(file),
            path: path.to_path_buf(),
        })
    }

    /// Writes one line of the agent's own, prefixed `[Sluice]`. A log that cannot be written is not a reason
    /// to fail the job; the problem goes to tracing instead.
    pub(crate) fn line(&self, text: &str) {
        let mut file = self
            .file
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Err(e) = writeln!(file, "[Sluice] {text}") {
            tracing::warn!(log = %self.path.display(), error = %e, "cannot write the job log");
        }
    }

    /// A handle for a child's stdout or stderr that appends to this log.
    pub(crate) fn stdio(&self) -> io::Result<Stdio> {
        let file = self
            .file
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        Ok(Stdio::from(file.try_clone()?))
    }
}
