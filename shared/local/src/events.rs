//! The local event log: each published event is one JSON line appended to a file, where a local run's
//! watchers (and people, with `tail -f`) read the pipeline, stage and action state changes.
//!
//! Every line is written by a single `write_all` on a file opened for appending, under a lock, so lines from
//! concurrent publishers in a process never interleave (and, for lines of ordinary size, appends from other
//! processes neither: Unix appends each `write` whole). A crash can still leave a torn last line; the next
//! [`JsonlEventLog::open`] ends it with a newline so new events start on a line of their own, and
//! [`read_events`] skips torn lines instead of failing.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use serde_json::Value;
use sluice_runtime::ports::EventSink;

/// An [`EventSink`] appending JSON lines to a file. Cheap to clone; clones share the file.
#[derive(Debug, Clone)]
pub struct JsonlEventLog {
    path: PathBuf,
    file: Arc<Mutex<File>>,
}

impl JsonlEventLog {
    /// Opens the log at `path` for appending, creating it and its folder when missing, and ends a torn last
    /// line left by a crash.
    pub fn open(path: impl AsRef<Path>) -> std::io::Result<Self> {
        let path = path.as_ref().to_path_buf();
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)?;
        }
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .read(true)
            .open(&path)?;
        if ends_torn(&mut file)? {
            file.write_all(b"\n")?;
        }
        Ok(Self {
            path,
            file: Arc::new(Mutex::new(file)),
        })
    }

    /// The log file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Whether the file is not empty and does not end with a newline.
fn ends_torn(file: &mut File) -> std::io::Result<bool> {
    let len = file.metadata()?.len();
    if len == 0 {
        return Ok(false);
    }
    file.seek(SeekFrom::Start(len - 1))?;
    let mut last = [0u8; 1];
    file.read_exact(&mut last)?;
    Ok(last[0] != b'\n')
}

#[async_trait]
impl EventSink for JsonlEventLog {
    async fn publish(&self, event: &Value) -> Result<(), String> {
        let mut line =
            serde_json::to_vec(event).map_err(|e| format!("cannot encode event: {e}"))?;
        line.push(b'\n');
        let file = Arc::clone(&self.file);
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || {
            let mut file = file
                .lock()
                .map_err(|_| format!("{}: the log's lock is poisoned", path.display()))?;
            file.write_all(&line)
                .and_then(|()| file.flush())
                .map_err(|e| format!("{}: {e}", path.display()))
        })
        .await
        .map_err(|e| format!("event log task failed: {e}"))?
    }
}

/// Reads every event of a log, in order.
///
/// Torn lines (a crash mid-write) are skipped: the last line when it is unreadable, and earlier lines that
/// stop short of a whole JSON value or hold only NUL bytes (what a crash leaves, once `open` ended the line).
/// Any other unreadable line is an [`std::io::ErrorKind::InvalidData`] error naming its line number.
pub fn read_events(path: impl AsRef<Path>) -> std::io::Result<Vec<Value>> {
    let mut reader = BufReader::new(File::open(path.as_ref())?);
    let mut events = Vec::new();
    let mut line = Vec::new();
    let mut number = 0usize;
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            return Ok(events);
        }
        number += 1;
        let terminated = line.last() == Some(&b'\n');
        let text = line.strip_suffix(b"\n").unwrap_or(&line);
        if text.iter().all(|b| *b == 0 || b.is_ascii_whitespace()) {
            continue;
        }
        match serde_json::from_slice(text) {
            Ok(event) => events.push(event),
            Err(e) if !terminated || e.is_eof() => {}
            Err(e) => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("{} line {number}: {e}", path.as_ref().display()),
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(content: &[u8], expected: Vec<Value>) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("events.jsonl");
        std::fs::write(&path, content).expect("write");
        let events = read_events(&path).unwrap_or_else(|e| panic!("{content:?}: {e}"));
        assert_eq!(events, expected, "{:?}", String::from_utf8_lossy(content));
    }

    #[test]
    fn torn_lines_are_skipped_and_whole_ones_kept() {
        let (a, b) = (json!({"n": 1}), json!({"n": 2}));
        check(b"", vec![]);
        check(b"{\"n\":1}\n{\"n\":2}\n", vec![a.clone(), b.clone()]);
        check(b"{\"n\":1}\n{\"n\":2}", vec![a.clone(), b.clone()]);
        check(b"{\"n\":1}\n{\"n\":", vec![a.clone()]);
        check(b"{\"n\":1}\n{\"s\":\"\xc3", vec![a.clone()]);
        check(b"{\"n\":1}\n\0\0\0\0", vec![a.clone()]);
        check(
            b"{\"n\":1}\n{\"n\":\n{\"n\":2}\n",
            vec![a.clone(), b.clone()],
        );
        check(b"{\"n\":1}\n\0\0\n{\"n\":2}\n", vec![a, b]);
    }

    #[test]
    fn a_corrupt_line_in_the_middle_is_an_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("events.jsonl");
        std::fs::write(&path, b"{\"n\":1}\nnot json\n{\"n\":2}\n").expect("write");
        let err = read_events(&path).expect_err("corrupt");
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
        assert!(err.to_string().contains("line 2"), "{err}");
    }

    #[tokio::test]
    async fn reopening_after_a_torn_write_starts_a_new_line() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("logs/events.jsonl");
        let log = JsonlEventLog::open(&path).expect("open");
        log.publish(&json!({"n": 1})).await.expect("publish");
        drop(log);
        let mut file = OpenOptions::new().append(true).open(&path).expect("reopen");
        file.write_all(b"{\"n\":").expect("tear");
        let log = JsonlEventLog::open(&path).expect("open again");
        log.publish(&json!({"n": 2})).await.expect("publish");
        assert_eq!(
            read_events(&path).expect("read"),
            vec![json!({"n": 1}), json!({"n": 2})]
        );
    }
}
