//! What a command answers: an exit code, or a usage error (one line, exit code 2); reading files with a
//! reason people understand; printing JSON.

use sluice_runtime::RuntimeError;
use std::io::Read;
use std::path::Path;

use sluice_definition::yaml::YamlLimits;
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

/// Reads a definition or template file: at most [`YamlLimits::default`]'s size (checked before reading), UTF-8
/// (a UTF-8 byte order mark is skipped; UTF-16 is named as such).
pub(crate) fn read(path: &Path) -> Result<String, UsageError> {
    let cannot = |e: std::io::Error| {
        UsageError(format!("cannot read {}: {}", path.display(), io_reason(&e)))
    };
    let max = YamlLimits::default().max_bytes;
    let file = std::fs::File::open(path).map_err(cannot)?;
    let size = file.metadata().map_err(cannot)?.len();
    if size > max as u64 {
        return Err(UsageError(format!(
            "cannot read {}: it is {size} bytes, over the limit of {max} bytes for a definition",
            path.display()
        )));
    }
    let mut bytes = Vec::with_capacity(size as usize);
    file.take(max as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(cannot)?;
    if bytes.starts_with(&[0xFF, 0xFE]) || bytes.starts_with(&[0xFE, 0xFF]) {
        return Err(UsageError(format!(
            "cannot read {}: it is UTF-16 text (it starts with a UTF-16 byte order mark); save it as UTF-8",
            path.display()
        )));
    }
    let bytes = bytes
        .strip_prefix(&[0xEF, 0xBB, 0xBF])
        .map(<[u8]>::to_vec)
        .unwrap_or(bytes);
    String::from_utf8(bytes).map_err(|e| {
        UsageError(format!(
            "cannot read {}: not UTF-8 text (byte {} is not valid UTF-8)",
            path.display(),
            e.utf8_error().valid_up_to()
        ))
    })
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
    outln!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_default()
    );
}

/// Writes to stdout. A closed pipe (the reader went away: `sluice events | head`) ends the process with
/// success, as it would have with SIGPIPE; any other failure to write ends it with code 2.
pub(crate) fn write_out(args: std::fmt::Arguments<'_>) {
    use std::io::Write;
    if let Err(e) = std::io::stdout().lock().write_fmt(args) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("sluice: cannot write the output: {e}");
        std::process::exit(2);
    }
}
