//! What a command answers: an exit code, or a usage error (one line, exit code 2); reading files with a
//! reason people understand; printing JSON.

use sluice_runtime::RuntimeError;
use std::path::Path;
use std::process::ExitCode;

/// A failure of the command itself (not of a definition or a pipeline): one line, exit code 2.
pub(crate) struct UsageError(pub(crate) String);

impl From<anyhow::Error> for UsageError {
    fn from(e: anyhow::Error) -> Self {
        Self(format!("{e:#}"))
    }
}

impl From<RuntimeError> for UsageError {
    fn from(e: RuntimeError) -> Self {
        Self(e.to_string())
    }
}

impl From<std::io::Error> for UsageError {
    fn from(e: std::io::Error) -> Self {
        Self(e.to_string())
    }
}

impl From<sluice_host::HostError> for UsageError {
    fn from(e: sluice_host::HostError) -> Self {
        Self(e.to_string())
    }
}

pub(crate) type CmdResult = Result<ExitCode, UsageError>;

pub(crate) fn read(path: &Path) -> Result<String, UsageError> {
    std::fs::read_to_string(path)
        .map_err(|e| UsageError(format!("cannot read {}: {}", path.display(), io_reason(&e))))
}

pub(crate) fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".to_owned(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_owned(),
        std::io::ErrorKind::InvalidData => "not UTF-8 text".to_owned(),
        _ => e.to_string(),
    }
}

pub(crate) fn print_json(value: &serde_json::Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_default()
    );
}
