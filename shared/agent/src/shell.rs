//! One shell session running a job's commands, phase by phase, as CodeBuild does.
//!
//! The commands go into a generated `sh` script, each through `eval` so that a later command sees an earlier
//! `cd` or `export` and a syntax error stays within its command. The shell runs in a process group of its own
//! with the job log as stdout and stderr; when the session ends, or its future is dropped (timeout, cancel),
//! the whole group is killed, background children and grandchildren included.
//!
//! The script reports back through one file in a scratch folder outside the workspace (`report`, lines appended:
//! the shell's process group first, written by sluice before the script may run, then which command is running,
//! which commands failed, and that it reached its end) and the values of the requested variables (a file each).
//! A session creates as few files as it can: on a filesystem without a journal, ext4 skips the inodes deleted
//! in the last minutes one by one when it allocates, so every file a job creates and deletes makes the next
//! jobs' files slower to create.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

use crate::error::JobError;
use crate::log::JobLog;

/// A named group of commands.
#[derive(Debug, Clone, Default)]
pub(crate) struct Phase {
    /// `BUILD`, `POST_BUILD`, ... (upper case, as CodeBuild logs them).
    pub name: String,
    /// Run in order; the first that fails ends the phase's commands.
    pub commands: Vec<String>,
    /// Run after the commands whatever happened to them (CodeBuild's `finally`).
    pub finally: Vec<String>,
    /// A failure lets later phases run (`on-failure: CONTINUE`); the session still fails.
    pub continue_on_failure: bool,
    /// Runs even when the named phase failed (POST_BUILD after BUILD).
    pub runs_after_failed: Option<String>,
}

/// What to run.
#[derive(Debug)]
pub(crate) struct Session<'a> {
    pub phases: Vec<Phase>,
    /// Set on top of the agent's own environment.
    pub env: BTreeMap<String, String>,
    /// The working folder (the workspace).
    pub workdir: &'a Path,
    /// A scratch folder for the script and its reports; created if missing.
    pub scratch: &'a Path,
    /// Shell variables to read back at the end.
    pub output_variables: &'a [String],
    /// `set -e`: any failing command inside a command ends the session at once (the Commands action).
    pub errexit: bool,
    /// Whether to log phase boundaries (CodeBuild) or only commands (Commands).
    pub log_phases: bool,
}

/// A command that failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Failure {
    /// Its phase.
    pub phase: String,
    /// The command as written.
    pub command: String,
    /// Its exit status (128 + n for signal n).
    pub exit_code: i32,
}

/// How a session ended.
#[derive(Debug, Clone, Default)]
pub(crate) struct SessionOutcome {
    /// The commands that failed, in order; empty when all succeeded.
    pub failures: Vec<Failure>,
    /// The requested variables that were set.
    pub variables: BTreeMap<String, String>,
}

/// Checks that a name can be a shell variable.
pub(crate) fn is_variable_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Quotes text for `sh` as one word.
pub(crate) fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "'\\''"))
}

struct Script {
    text: String,
    /// Step number -> (phase, command).
    steps: Vec<(String, String)>,
}

fn script(session: &Session<'_>) -> Script {
    let mut steps = Vec::new();
    let mut s = String::new();
    let report = quote(&session.scratch.join(REPORT).display().to_string());
    let vars = quote(&session.scratch.join("vars").display().to_string());
    // `set --`: the commands see no positional parameters (the gate received the script as `$1`).
    s.push_str(&format!(
        "set --\n__sl_report={report}\n__sl_vars={vars}\n__sl_stop=''\n"
    ));
    // The output variables are read back however the shell ends (a command's `exit 0` included).
    s.push_str("__sl_vars() {\n:\n");
    for var in session.output_variables {
        s.push_str(&format!(
            "if [ \"${{{var}+x}}\" = x ]; then printf '%s' \"${var}\" > \"$__sl_vars/{var}\"; fi\n"
        ));
    }
    s.push_str("}\ntrap __sl_vars EXIT\n");
    if session.errexit {
        s.push_str("set -e\n");
    }
    let mut command = |s: &mut String, ok: &str, phase: &str, cmd: &str| {
        let step = steps.len();
        steps.push((phase.to_string(), cmd.to_string()));
        let header = quote(&format!("[Container] Running command {cmd}"));
        let failed = quote(&format!(
            "[Container] Command did not exit successfully {cmd} exit status "
        ));
        s.push_str(&format!(
            "if [ \"${ok}\" = 1 ]; then\n\
             printf 'step %s\\n' {step} >> \"$__sl_report\"\n\
             printf '%s\\n' {header}\n\
             eval {body}\n\
             __sl_rc=$?\n\
             if [ \"$__sl_rc\" -ne 0 ]; then\n\
             {ok}=0\n\
             printf '%s%s\\n' {failed} \"$__sl_rc\"\n\
             printf 'failed %s %s\\n' {step} \"$__sl_rc\" >> \"$__sl_report\"\n\
             fi\nfi\n",
            body = quote(cmd),
        ));
    };
    for phase in &session.phases {
        let name = &phase.name;
        let gate = match &phase.runs_after_failed {
            Some(after) => format!(
                "[ -z \"$__sl_stop\" ] || [ \"$__sl_stop\" = {} ]",
                quote(after)
            ),
            None => "[ -z \"$__sl_stop\" ]".to_string(),
        };
        s.push_str(&format!("if {gate}; then\n__sl_ok=1\n__sl_fok=1\n"));
        if session.log_phases {
            s.push_str(&format!(
                "printf '%s\\n' {}\n",
                quote(&format!("[Container] Entering phase {name}"))
            ));
        }
        for cmd in &phase.commands {
            command(&mut s, "__sl_ok", name, cmd);
        }
        for cmd in &phase.finally {
            command(&mut s, "__sl_fok", name, cmd);
        }
        let stop = if phase.continue_on_failure {
            String::new()
        } else {
            format!("__sl_stop={}\n", quote(name))
        };
        s.push_str(&format!(
            "if [ \"$__sl_ok\" = 1 ] && [ \"$__sl_fok\" = 1 ]; then __sl_state=SUCCEEDED; else __sl_state=FAILED\n\
             CODEBUILD_BUILD_SUCCEEDING=0; export CODEBUILD_BUILD_SUCCEEDING\n{stop}fi\n"
        ));
        if session.log_phases {
            s.push_str(&format!(
                "printf '%s%s\\n' {} \"$__sl_state\"\n",
                quote(&format!("[Container] Phase complete: {name} State: "))
            ));
        }
        s.push_str("fi\n");
    }
    s.push_str("printf 'done\\n' >> \"$__sl_report\"\nexit 0\n");
    Script { text: s, steps }
}

/// What the gated shell runs: one line from stdin must say `go`, then the same shell runs `$1` (the script,
/// or `. <file>` for a script too long to be an argument) with stdin from /dev/null: one exec per session. EOF
/// (the sluice that started it died before opening the gate) exits 125 at once.
const GATE: &str = "IFS= read -r __sl_gate || exit 125; [ \"$__sl_gate\" = go ] || exit 125; unset __sl_gate; exec </dev/null; eval \"$1\"";

/// The file the script reports to, in the scratch folder.
pub(crate) const REPORT: &str = "report";

/// Scripts up to this size are passed as an argument (Linux takes up to 128 KiB in one); longer ones are
/// written to a file.
const SCRIPT_ARGUMENT_MAX: usize = 96 * 1024;

/// What a session's report says.
#[derive(Debug, Default)]
struct Report {
    /// The step that ran last.
    step: Option<usize>,
    /// `(step, exit code)` of each command that failed, in order.
    failures: Vec<(usize, i32)>,
    /// The script reached its end.
    done: bool,
}

impl Report {
    fn read(path: &Path) -> Self {
        let mut report = Report::default();
        let Ok(text) = fs::read_to_string(path) else {
            return report;
        };
        for line in text.lines() {
            let mut words = line.split(' ');
            match (words.next(), words.next(), words.next()) {
                (Some("step"), Some(n), None) => report.step = n.parse().ok(),
                (Some("failed"), Some(n), Some(code)) => {
                    if let Ok(n) = n.parse() {
                        report.failures.push((n, code.trim().parse().unwrap_or(-1)));
                    }
                }
                (Some("done"), None, None) => report.done = true,
                _ => {}
            }
        }
        report
    }
}

/// The process group recorded in a session's report (its first line), if any.
pub(crate) fn recorded_group(report: &Path) -> Option<i32> {
    let text = fs::read_to_string(report).ok()?;
    text.lines()
        .next()?
        .strip_prefix("pgid ")?
        .trim()
        .parse()
        .ok()
}

/// When set, the process aborts right after spawning a shell, before recording its group (crash tests).
pub const FAULT_AFTER_SPAWN: &str = "SLUICE_FAULT_ABORT_AFTER_SPAWN";

/// Kills a process group when dropped, unless it was already killed.
struct GroupGuard(Option<Pid>);

impl GroupGuard {
    fn kill(&mut self) {
        if let Some(pgid) = self.0.take() {
            // ESRCH (nothing left in the group) is the usual answer after a clean exit.
            let _ = killpg(pgid, Signal::SIGKILL);
        }
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Runs the session to its end. Dropping the returned future kills the session's whole process group.
pub(crate) async fn run(session: Session<'_>, log: &JobLog) -> Result<SessionOutcome, JobError> {
    for var in session.output_variables {
        if !is_variable_name(var) {
            return Err(JobError::failed(format!(
                "`{var}` cannot be an output variable: names are letters, digits and `_`, not starting with a digit"
            )));
        }
    }
    let scratch = session.scratch;
    let vars_dir = scratch.join("vars");
    let report_path = scratch.join(REPORT);
    fs::create_dir_all(scratch)
        .map_err(JobError::io(format!("cannot create {}", scratch.display())))?;
    // An earlier session in this folder (a CodeBuild job's phases) leaves its report and variables.
    let mut report = fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .open(&report_path)
        .map_err(JobError::io(format!(
            "cannot create {}",
            report_path.display()
        )))?;
    let _ = fs::remove_dir_all(&vars_dir);
    if !session.output_variables.is_empty() {
        fs::create_dir_all(&vars_dir).map_err(JobError::io(format!(
            "cannot create {}",
            vars_dir.display()
        )))?;
    }
    let script = script(&session);
    let body = if script.text.len() <= SCRIPT_ARGUMENT_MAX {
        script.text.clone()
    } else {
        let script_path: PathBuf = scratch.join("session.sh");
        fs::write(&script_path, &script.text).map_err(JobError::io(format!(
            "cannot write {}",
            script_path.display()
        )))?;
        format!(". {}", quote(&script_path.display().to_string()))
    };

    // The shell starts gated: it waits for one line on its stdin before it runs the script. Its process group
    // is recorded durably first, and only then is the gate opened; a sluice killed in between closes the pipe,
    // and the gated shell exits without running anything. So no command ever runs whose group a restarted run
    // could not find (see `agent::retire_earlier_runs`).
    let mut command = tokio::process::Command::new("/bin/sh");
    command
        .arg("-c")
        .arg(GATE)
        .arg("sh")
        .arg(&body)
        .current_dir(session.workdir)
        .envs(&session.env)
        .stdin(Stdio::piped())
        .stdout(
            log.stdio()
                .map_err(JobError::io("cannot open the job log"))?,
        )
        .stderr(
            log.stdio()
                .map_err(JobError::io("cannot open the job log"))?,
        )
        .process_group(0);
    let mut child = command.spawn().map_err(JobError::io("cannot start sh"))?;
    let pid = child
        .id()
        .and_then(|id| i32::try_from(id).ok())
        .ok_or_else(|| JobError::failed("the shell exited before it could be watched"))?;
    let mut group = GroupGuard(Some(Pid::from_raw(pid)));
    // A fault point for the crash tests: the process dies here, its shell spawned and not yet recorded.
    if std::env::var_os(FAULT_AFTER_SPAWN).is_some() {
        std::process::abort();
    }
    // Not synced: the record only serves to find processes that outlive a killed sluice, and a crash of the
    // machine that could lose the page cache leaves none. One short write: a reader finds the line or nothing.
    {
        use std::io::Write;
        report
            .write_all(format!("pgid {pid}\n").as_bytes())
            .map_err(JobError::io("cannot record the shell's process group"))?;
    }
    drop(report);
    let mut gate = child
        .stdin
        .take()
        .ok_or_else(|| JobError::failed("the shell has no stdin to open its gate"))?;
    {
        use tokio::io::AsyncWriteExt;
        gate.write_all(b"go\n")
            .await
            .map_err(JobError::io("cannot open the shell's gate"))?;
    }
    drop(gate);
    let status = child
        .wait()
        .await
        .map_err(JobError::io("cannot wait for sh"));
    // Whatever the commands left running in the background goes with the session.
    group.kill();
    let status = status?;

    let step_of = |n: Option<usize>| -> Option<(String, String)> {
        n.and_then(|n| script.steps.get(n).cloned())
    };
    let report = Report::read(&report_path);
    let mut outcome = SessionOutcome::default();
    for &(step, exit_code) in &report.failures {
        if let Some((phase, command)) = step_of(Some(step)) {
            outcome.failures.push(Failure {
                phase,
                command,
                exit_code,
            });
        }
    }
    let done = report.done;
    if !done && status.code() == Some(0) && outcome.failures.is_empty() {
        // A command ended the shell with `exit 0`: the session succeeded; the commands after it did not run.
        let (_, command) = step_of(report.step).unwrap_or_default();
        log.line(&format!(
            "`{command}` ended the shell with exit code 0: the commands after it did not run"
        ));
    }
    if done || (status.code() == Some(0) && outcome.failures.is_empty()) {
        for var in session.output_variables {
            if let Ok(value) = fs::read_to_string(vars_dir.join(var)) {
                outcome.variables.insert(var.clone(), value);
            }
        }
        return Ok(outcome);
    }
    // The shell ended before the end of the script: `set -e`, an `exit` in a command, or a signal.
    let exit_code = status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0));
    let (phase, command) = step_of(report.step)
        .unwrap_or_else(|| (String::new(), String::from("(the script itself)")));
    outcome.failures.push(Failure {
        phase,
        command,
        exit_code,
    });
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variable_names() {
        for (name, ok) in [
            ("A", true),
            ("_a1", true),
            ("1a", false),
            ("a-b", false),
            ("", false),
        ] {
            assert_eq!(is_variable_name(name), ok, "{name}");
        }
    }

    /// A gated shell whose gate is never opened (its sluice died before recording the group) runs nothing.
    #[tokio::test]
    async fn a_shell_runs_nothing_until_its_gate_opens() {
        let dir = tempfile::tempdir().expect("temp dir");
        let marker = dir.path().join("ran");
        let script = dir.path().join("s.sh");
        fs::write(
            &script,
            format!("touch {}\n", quote(&marker.display().to_string())),
        )
        .expect("script");
        let mut child = tokio::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(GATE)
            .arg("sh")
            .arg(format!(". {}", quote(&script.display().to_string())))
            .stdin(Stdio::piped())
            .spawn()
            .expect("spawn");
        drop(child.stdin.take());
        let status = child.wait().await.expect("wait");
        assert_eq!(status.code(), Some(125));
        assert!(!marker.exists(), "the script ran without its gate");

        let mut child = tokio::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(GATE)
            .arg("sh")
            .arg(format!(". {}", quote(&script.display().to_string())))
            .stdin(Stdio::piped())
            .spawn()
            .expect("spawn");
        let mut gate = child.stdin.take().expect("stdin");
        tokio::io::AsyncWriteExt::write_all(&mut gate, b"go\n")
            .await
            .expect("go");
        drop(gate);
        assert!(child.wait().await.expect("wait").success());
        assert!(
            marker.exists(),
            "the script did not run once its gate opened"
        );
    }

    /// A Commands-like session: one BUILD phase, `set -e`.
    fn build_session<'a>(
        commands: Vec<String>,
        workdir: &'a Path,
        scratch: &'a Path,
        vars: &'a [String],
    ) -> Session<'a> {
        Session {
            phases: vec![Phase {
                name: "BUILD".into(),
                commands,
                ..Phase::default()
            }],
            env: BTreeMap::new(),
            workdir,
            scratch,
            output_variables: vars,
            errexit: true,
            log_phases: false,
        }
    }

    /// `exit 0` in a command ends the session as a success (the commands after it do not run), with its
    /// variables read; `exit 3` is a failure of that command.
    #[tokio::test]
    async fn exit_ends_the_session_with_its_code() {
        let dir = tempfile::tempdir().expect("temp dir");
        let log = JobLog::open(&dir.path().join("log")).expect("log");
        let vars = vec!["OUT".to_owned()];
        let scratch = dir.path().join("scratch");
        let session = |commands: &[&str]| {
            let commands: Vec<String> = commands.iter().map(|c| (*c).to_owned()).collect();
            build_session(commands, dir.path(), &scratch, &vars)
        };
        let outcome = run(session(&["OUT=early", "exit 0", "touch never"]), &log)
            .await
            .expect("runs");
        assert!(outcome.failures.is_empty(), "{:?}", outcome.failures);
        assert_eq!(
            outcome.variables.get("OUT").map(String::as_str),
            Some("early")
        );
        assert!(!dir.path().join("never").exists());
        let text = fs::read_to_string(dir.path().join("log")).expect("log text");
        assert!(
            text.contains("`exit 0` ended the shell with exit code 0"),
            "{text}"
        );

        let outcome = run(session(&["exit 3", "touch never"]), &log)
            .await
            .expect("runs");
        assert_eq!(outcome.failures.len(), 1);
        assert_eq!(outcome.failures[0].command, "exit 3");
        assert_eq!(outcome.failures[0].exit_code, 3);
    }

    /// A script too long to be an argument runs from a file, with the same report: its process group first,
    /// then its steps; the commands see no positional parameters.
    #[tokio::test]
    async fn a_long_script_runs_from_a_file_and_reports_the_same() {
        let dir = tempfile::tempdir().expect("temp dir");
        let log = JobLog::open(&dir.path().join("log")).expect("log");
        let scratch = dir.path().join("scratch");
        let vars = vec!["LEN".to_owned(), "ARGS".to_owned()];
        let long = format!("BIG='{}'", "x".repeat(SCRIPT_ARGUMENT_MAX));
        for (commands, from_file) in [
            (vec!["ARGS=$#".to_owned(), "LEN=short".to_owned()], false),
            (
                vec![long, "ARGS=$#".to_owned(), "LEN=${#BIG}".to_owned()],
                true,
            ),
        ] {
            let session = build_session(commands.clone(), dir.path(), &scratch, &vars);
            let outcome = run(session, &log).await.expect("runs");
            assert!(outcome.failures.is_empty(), "{:?}", outcome.failures);
            assert_eq!(outcome.variables.get("ARGS").map(String::as_str), Some("0"));
            let expected = if from_file {
                SCRIPT_ARGUMENT_MAX.to_string()
            } else {
                "short".to_owned()
            };
            assert_eq!(outcome.variables.get("LEN"), Some(&expected));
            assert_eq!(scratch.join("session.sh").exists(), from_file);
            let report = Report::read(&scratch.join(REPORT));
            assert!(report.done);
            assert_eq!(report.step, Some(commands.len() - 1));
            assert!(recorded_group(&scratch.join(REPORT)).is_some_and(|pid| pid > 1));
        }
    }

    #[test]
    fn quoting_survives_single_quotes() {
        assert_eq!(quote("it's"), "'it'\\''s'");
    }
}
