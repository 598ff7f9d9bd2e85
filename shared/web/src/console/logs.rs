//! Where the console reads an action's log: a port ([`ActionLogs`]) the host supplies. `sluice serve` reads
//! the agent's local log files ([`LogFiles`]); the AWS stack reads a CodeBuild action's CloudWatch Logs stream
//! (`sluice_functions::console_logs`). Each answers the end of the newest attempt's log, whole lines only.

use std::path::{Path, PathBuf};

use async_trait::async_trait;

/// The action whose log is wanted, with what the API said about its newest attempt.
#[derive(Debug, Clone, Copy)]
pub struct LogRef<'a> {
    /// The pipeline execution.
    pub execution_id: &'a str,
    /// The stage.
    pub stage: &'a str,
    /// The action.
    pub action: &'a str,
    /// The attempt's external execution id (a CodeBuild build id), when it has one.
    pub external_execution_id: Option<&'a str>,
}

/// The end of a log, and where the whole of it can be read when that is elsewhere (a cloud console).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogTail {
    /// The last lines, at most the bytes asked for.
    pub text: String,
    /// Where to read all of it, when not on this console.
    pub link: Option<String>,
}

/// Reads the end of an action's log.
#[async_trait]
pub trait ActionLogs: Send + Sync {
    /// The last `max_bytes` (whole lines) of the newest attempt's log; None when there is none (yet).
    async fn tail(&self, log: &LogRef<'_>, max_bytes: u64) -> Result<Option<LogTail>, String>;
}

/// The agent's log files: `<dir>/<execution>/<stage>.<action>.<attempt>.log`.
#[derive(Debug, Clone)]
pub struct LogFiles {
    /// The logs folder.
    pub dir: PathBuf,
}

#[async_trait]
impl ActionLogs for LogFiles {
    async fn tail(&self, log: &LogRef<'_>, max_bytes: u64) -> Result<Option<LogTail>, String> {
        Ok(self.newest(log).map(|path| LogTail {
            text: read_tail(&path, max_bytes),
            link: None,
        }))
    }
}

impl LogFiles {
    /// The newest attempt's log file of an action, when one exists.
    fn newest(&self, log: &LogRef<'_>) -> Option<PathBuf> {
        let dir = self.dir.join(safe_component(log.execution_id));
        let prefix = format!(
            "{}.{}.",
            safe_component(log.stage),
            safe_component(log.action)
        );
        std::fs::read_dir(&dir)
            .ok()?
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let file = e.file_name().to_string_lossy().into_owned();
                let attempt: u32 = file
                    .strip_prefix(&prefix)?
                    .strip_suffix(".log")?
                    .parse()
                    .ok()?;
                Some((attempt, e.path()))
            })
            .max_by_key(|(attempt, _)| *attempt)
            .map(|(_, path)| path)
    }
}

/// Keeps the characters an agent keeps in log file names (as `sluice_agent::log_path` does).
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

/// The last `max` bytes of a file, as text, from its first whole line.
fn read_tail(path: &Path, max: u64) -> String {
    use std::io::{Read, Seek, SeekFrom};
    let Ok(mut file) = std::fs::File::open(path) else {
        return String::new();
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let from = len.saturating_sub(max);
    let mut bytes = Vec::new();
    if file.seek(SeekFrom::Start(from)).is_err() || file.take(max).read_to_end(&mut bytes).is_err()
    {
        return String::new();
    }
    let text = String::from_utf8_lossy(&bytes).into_owned();
    if from > 0 {
        text.split_once('\n')
            .map(|(_, rest)| rest.to_owned())
            .unwrap_or(text)
    } else {
        text
    }
}

/// The end of `lines` of text: at most `max` bytes, from a whole line (for logs read in pieces).
pub fn tail_of<'a>(lines: impl DoubleEndedIterator<Item = &'a str>, max: usize) -> String {
    let mut kept: Vec<&str> = Vec::new();
    let mut size = 0;
    for line in lines.rev() {
        size += line.len() + 1;
        if size > max && !kept.is_empty() {
            break;
        }
        kept.push(line);
    }
    kept.reverse();
    kept.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_newest_attempt_of_the_action_is_read() {
        let dir = tempfile::tempdir().expect("test value");
        let exec = dir.path().join("e-1");
        std::fs::create_dir_all(&exec).expect("test value");
        std::fs::write(exec.join("Build.Run.1.log"), "first\n").expect("test value");
        std::fs::write(exec.join("Build.Run.2.log"), "one\ntwo\nthree\n").expect("test value");
        std::fs::write(exec.join("Build.Other.3.log"), "other\n").expect("test value");
        let logs = LogFiles {
            dir: dir.path().to_owned(),
        };
        let at = LogRef {
            execution_id: "e-1",
            stage: "Build",
            action: "Run",
            external_execution_id: None,
        };
        let tail = logs
            .tail(&at, 1024)
            .await
            .expect("test value")
            .expect("test value");
        assert_eq!(tail.text, "one\ntwo\nthree\n");
        // Cut to whole lines.
        assert_eq!(
            logs.tail(&at, 9)
                .await
                .expect("test value")
                .expect("test value")
                .text,
            "three\n"
        );
        let none = LogRef {
            action: "Missing",
            ..at
        };
        assert_eq!(logs.tail(&none, 1024).await.expect("test value"), None);
    }

    #[test]
    fn a_tail_keeps_whole_lines_within_the_size() {
        let lines = ["a", "bb", "ccc"];
        assert_eq!(tail_of(lines.iter().copied(), 100), "a\nbb\nccc");
        assert_eq!(tail_of(lines.iter().copied(), 7), "bb\nccc");
        assert_eq!(tail_of(lines.iter().copied(), 1), "ccc");
    }
}
