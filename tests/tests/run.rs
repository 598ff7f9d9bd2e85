//! `sluice run` and the verbs around it, end to end through the built binary on real files: the embedded
//! store, the folder object store, the job agent running real processes.

use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use sluice_tests::{copy_dir, sluice_bin, workspace};

/// A state folder and a work folder for one test.
struct Sandbox {
    dir: tempfile::TempDir,
}

impl Sandbox {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    fn state(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn write(&self, rel: &str, text: &str) -> PathBuf {
        let p = self.path(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("dirs");
        std::fs::write(&p, text).expect("write");
        p
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(sluice_bin());
        c.arg("--state-dir").arg(self.state()).args(args);
        c.stdin(Stdio::null());
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().expect("sluice runs")
    }

    fn spawn(&self, args: &[&str]) -> Child {
        self.cmd(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("sluice starts")
    }

    fn json(&self, args: &[&str]) -> Value {
        let mut full = vec!["--output", "json"];
        full.extend_from_slice(args);
        let out = self.run(&full);
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
        serde_json::from_slice(&out.stdout).expect("json output")
    }

    /// Waits until the pipeline's status satisfies `ready`.
    fn wait_for(&self, pipeline: &str, what: &str, ready: impl Fn(&Value) -> bool) -> Value {
        let start = Instant::now();
        loop {
            let out = self.run(&["--output", "json", "status", pipeline]);
            if out.status.success() {
                let v: Value = serde_json::from_slice(&out.stdout).expect("json");
                if ready(&v) {
                    return v;
                }
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "timed out waiting for {what}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Copies an example folder into the sandbox.
    fn copy_example(&self, name: &str) -> PathBuf {
        let to = self.path(name);
        copy_dir(&workspace().join("examples").join(name), &to);
        to
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn wait_child(mut child: Child, limit: Duration) -> Output {
    let start = Instant::now();
    loop {
        if child.try_wait().expect("wait").is_some() {
            return child.wait_with_output().expect("output");
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let out = child.wait_with_output().expect("output");
            panic!(
                "sluice did not finish in {limit:?}:\n{}\n{}",
                text(&out.stdout),
                text(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn execution_id(out: &Output) -> String {
    let stdout = text(&out.stdout);
    stdout
        .lines()
        .find_map(|l| {
            l.strip_prefix("execution ")
                .map(|r| r.split(' ').next().unwrap_or("").to_owned())
        })
        .or_else(|| {
            stdout.lines().find_map(|l| {
                l.split(" execution ")
                    .nth(1)
                    .map(|r| r.split(' ').next().unwrap_or("").to_owned())
            })
        })
        .unwrap_or_else(|| panic!("no execution id in:\n{stdout}"))
}

/// Every action state of a `status --output json` document (GetPipelineState's shape).
fn action_states(status: &Value) -> Vec<&Value> {
    status["stageStates"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|s| s["actionStates"].as_array().into_iter().flatten())
        .collect()
}

/// A stage's state in a `status --output json` document.
fn stage_state<'a>(status: &'a Value, stage: &str) -> &'a Value {
    status["stageStates"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["stageName"] == stage))
        .unwrap_or_else(|| panic!("no stage {stage} in {status}"))
}

fn pending_approval(status: &Value) -> bool {
    action_states(status).iter().any(|a| {
        a["latestExecution"]["status"] == "InProgress" && a["latestExecution"]["token"].is_string()
    })
}

#[test]
fn hello_runs_end_to_end_and_its_log_is_kept() {
    let sb = Sandbox::new();
    let dir = sb.copy_example("hello");
    let out = sb.run(&["run", dir.join("pipeline.yaml").to_str().expect("utf-8")]);
    assert!(
        out.status.success(),
        "{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let stdout = text(&out.stdout);
    assert!(stdout.contains("action Build.Greet Succeeded"), "{stdout}");
    assert!(stdout.trim_end().ends_with("Succeeded"), "{stdout}");
    let id = execution_id(&out);
    let logs = sb.run(&["logs", &id, "Build.Greet"]);
    let logs = text(&logs.stdout);
    assert!(logs.contains("hello from"), "{logs}");
    let history = sb.json(&["history", "hello"]);
    assert_eq!(history[0]["status"], "Succeeded");
    assert_eq!(history[0]["pipelineExecutionId"], id.as_str());

    // Running the same definition again keeps its version; a changed one becomes version 2.
    let file = dir.join("pipeline.yaml");
    assert!(sb
        .run(&["run", file.to_str().expect("utf-8")])
        .status
        .success());
    assert_eq!(sb.json(&["status", "hello"])["pipelineVersion"], 1);
    let changed = std::fs::read_to_string(&file)
        .expect("read")
        .replace("- ls", "- ls -a");
    std::fs::write(&file, changed).expect("write");
    assert!(sb
        .run(&["run", file.to_str().expect("utf-8")])
        .status
        .success());
    assert_eq!(sb.json(&["status", "hello"])["pipelineVersion"], 2);
    let history = sb.json(&["history", "hello"]);
    let versions: Vec<u64> = history
        .as_array()
        .expect("list")
        .iter()
        .map(|e| e["pipelineVersion"].as_u64().expect("v"))
        .collect();
    assert_eq!(versions, [2, 1, 1], "newest first");
}

#[test]
fn release_waits_for_approval_then_deploys_what_it_built() {
    let sb = Sandbox::new();
    let dir = sb.copy_example("release");
    let file = dir.join("pipeline.yaml");
    let child = sb.spawn(&[
        "run",
        file.to_str().expect("utf-8"),
        "--var",
        "Greeting=bonjour",
    ]);
    let status = sb.wait_for("release", "the approval", pending_approval);
    // Everything before the approval ran, in order, with its artifacts.
    let actions = action_states(&status);
    for name in ["Checkout", "UnitTests", "Lint", "Package"] {
        let a = actions
            .iter()
            .find(|a| a["actionName"] == name)
            .expect(name);
        assert_eq!(a["latestExecution"]["status"], "Succeeded", "{name}: {a}");
    }
    let out = sb.run(&[
        "approve",
        "release",
        "Approval",
        "Review",
        "--summary",
        "looks good",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = wait_child(child, Duration::from_secs(60));
    assert!(
        out.status.success(),
        "{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );

    let page = std::fs::read_to_string(sb.state().join("objects/buckets/release-site/index.html"))
        .expect("the deploy stage put the page in the bucket");
    assert!(page.contains("bonjour from revision"), "{page}");

    let id = execution_id(&out);
    let events = sb.run(&["events", &id]);
    let events: Vec<Value> = text(&events.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("event json"))
        .collect();
    // Every event reads as CodePipeline's EventBridge event type (the aws_lambda_events crate's).
    for e in &events {
        let parsed: aws_lambda_events::event::codepipeline_cloudwatch::CodePipelineCloudWatchEvent =
            serde_json::from_value(e.clone()).unwrap_or_else(|err| panic!("{e}: {err}"));
        assert_eq!(parsed.detail.execution_id.as_deref(), Some(id.as_str()));
        assert_eq!(parsed.detail.pipeline.as_deref(), Some("release"));
        assert_eq!(parsed.source.as_deref(), Some("sluice"));
    }
    let last = events.last().expect("events");
    assert_eq!(
        last["detail-type"],
        "CodePipeline Pipeline Execution State Change"
    );
    assert_eq!(last["detail"]["state"], "SUCCEEDED");
    assert!(events
        .iter()
        .any(|e| e["detail"]["action"] == "Review" && e["detail"]["state"] == "SUCCEEDED"));
}

#[test]
fn a_rejected_approval_fails_the_execution() {
    let sb = Sandbox::new();
    let dir = sb.copy_example("release");
    let child = sb.spawn(&["run", dir.join("pipeline.yaml").to_str().expect("utf-8")]);
    sb.wait_for("release", "the approval", pending_approval);
    let out = sb.run(&[
        "reject",
        "release",
        "Approval",
        "Review",
        "--summary",
        "not today",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = wait_child(child, Duration::from_secs(60));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("Failed"), "{stdout}");
    assert!(stdout.contains("Rejected"), "{stdout}");
    assert!(!sb
        .state()
        .join("objects/buckets/release-site/index.html")
        .exists());
}

const FAILING: &str = r#"
name: failing
pipelineType: V2
stages:
  - name: Source
    actions:
      - name: Checkout
        actionTypeId: {category: Source, owner: ThirdParty, provider: LocalSource, version: "1"}
        configuration: {Path: src}
        outputArtifacts: [{name: Src}]
  - name: Build
    actions:
      - name: Flaky
        actionTypeId: {category: Compute, owner: AWS, provider: Commands, version: "1"}
        commands:
          - echo "Flaky ran" >> ../../../ledger
          - test -f ../../../fixed || { echo "not fixed yet"; exit 3; }
        inputArtifacts: [{name: Src}]
      - name: Steady
        actionTypeId: {category: Compute, owner: AWS, provider: Commands, version: "1"}
        commands:
          - echo "Steady ran" >> ../../../ledger
        inputArtifacts: [{name: Src}]
  - name: After
    actions:
      - name: Done
        actionTypeId: {category: Compute, owner: AWS, provider: Commands, version: "1"}
        commands: ["echo done"]
        inputArtifacts: [{name: Src}]
"#;

#[test]
fn a_failed_action_fails_its_stage_and_retry_runs_only_what_failed() {
    let sb = Sandbox::new();
    sb.write("src/readme.txt", "hi");
    let ledger = sb.path("ledger");
    // Commands run in <state>/work/<job>/...; point them at absolute paths instead of guessing depth.
    let pipeline = FAILING
        .replace("../../../ledger", ledger.to_str().expect("utf-8"))
        .replace("../../../fixed", sb.path("fixed").to_str().expect("utf-8"));
    let file = sb.write("failing.yaml", &pipeline);
    let out = sb.run(&["run", file.to_str().expect("utf-8")]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let stdout = text(&out.stdout);
    assert!(stdout.contains("action Build.Flaky Failed"), "{stdout}");
    assert!(stdout.contains("exit"), "{stdout}");
    // The failed action's log ends the run's output: its cause without `sluice logs`.
    let tail = stdout
        .split_once("--- Build.Flaky: the last ")
        .map(|(_, t)| t)
        .unwrap_or_else(|| panic!("no log tail: {stdout}"));
    assert!(tail.contains("not fixed yet"), "{stdout}");
    assert!(!stdout.contains("--- Build.Steady"), "{stdout}");
    let id = execution_id(&out);
    let status = sb.json(&["status", "failing"]);
    assert_eq!(status["latestExecution"]["status"], "Failed");
    assert!(
        stage_state(&status, "After")["latestExecution"].is_null(),
        "the stage after the failure never started: {status}"
    );
    let logs = text(&sb.run(&["logs", &id, "Build.Flaky"]).stdout);
    assert!(logs.contains("not fixed yet"), "{logs}");

    std::fs::write(sb.path("fixed"), "").expect("fix");
    let out = sb.run(&["retry", &id, "Build"]);
    assert!(
        out.status.success(),
        "{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let ledger = std::fs::read_to_string(&ledger).expect("ledger");
    assert_eq!(ledger.matches("Flaky ran").count(), 2, "{ledger}");
    assert_eq!(
        ledger.matches("Steady ran").count(),
        1,
        "Steady succeeded, so FAILED_ACTIONS kept it: {ledger}"
    );
    let history = sb.json(&["history", "failing"]);
    assert_eq!(history.as_array().map(Vec::len), Some(1));
    assert_eq!(history[0]["status"], "Succeeded");
}

#[test]
fn providers_that_need_aws_are_refused_before_anything_runs() {
    let sb = Sandbox::new();
    let file = sb.write(
        "aws.yaml",
        r#"
name: needs-aws
stages:
  - name: Source
    actions:
      - name: S
        actionTypeId: {category: Source, owner: AWS, provider: S3, version: "1"}
        configuration: {S3Bucket: b, S3ObjectKey: k.zip}
        outputArtifacts: [{name: Src}]
  - name: Deploy
    actions:
      - name: D
        actionTypeId: {category: Deploy, owner: AWS, provider: OpsWorks, version: "1"}
        configuration: {Stack: s, App: a}
        inputArtifacts: [{name: Src}]
"#,
    );
    let out = sb.run(&["run", file.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(
            "stages[1].actions[0].actionTypeId: OpsWorks (Deploy/AWS/OpsWorks/1) is not run by Sluice yet"
        ),
        "{stderr}"
    );
    let list = sb.json(&["status"]);
    assert_eq!(
        list.as_array().map(Vec::len),
        Some(0),
        "nothing was stored: {list}"
    );
}

#[test]
fn a_disabled_transition_holds_executions_until_enabled() {
    let sb = Sandbox::new();
    let dir = sb.copy_example("hello");
    let file = dir.join("pipeline.yaml");
    // Create the pipeline first, so the transition can be disabled before the run that matters.
    let out = sb.run(&["run", file.to_str().expect("utf-8")]);
    assert!(out.status.success());
    let out = sb.run(&[
        "transition",
        "disable",
        "hello",
        "Build",
        "--reason",
        "freeze",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let child = sb.spawn(&["run", file.to_str().expect("utf-8")]);
    let status = sb.wait_for("hello", "the source stage", |s| {
        let current = &s["latestExecution"]["pipelineExecutionId"];
        let source = &stage_state(s, "Source")["latestExecution"];
        s["latestExecution"]["status"] == "InProgress"
            && source["pipelineExecutionId"] == *current
            && source["status"] == "Succeeded"
    });
    std::thread::sleep(Duration::from_millis(500));
    let status_again = sb.json(&["status", "hello"]);
    assert_ne!(
        stage_state(&status_again, "Build")["latestExecution"]["pipelineExecutionId"],
        status_again["latestExecution"]["pipelineExecutionId"],
        "Build must not start while its transition is disabled: {status}"
    );
    assert_eq!(
        stage_state(&status_again, "Build")["inboundTransitionState"]["disabledReason"],
        "freeze"
    );
    let out = sb.run(&["transition", "enable", "hello", "Build"]);
    assert!(out.status.success());
    let out = wait_child(child, Duration::from_secs(60));
    assert!(
        out.status.success(),
        "{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
}

#[cfg(unix)]
#[test]
fn ctrl_c_leaves_the_execution_recorded_and_resume_finishes_it() {
    let sb = Sandbox::new();
    sb.write("src/a.txt", "a");
    let file = sb.write(
        "slow.yaml",
        r#"
name: slow
pipelineType: V2
stages:
  - name: Source
    actions:
      - name: Checkout
        actionTypeId: {category: Source, owner: ThirdParty, provider: LocalSource, version: "1"}
        configuration: {Path: src}
        outputArtifacts: [{name: Src}]
  - name: Build
    actions:
      - name: Wait
        actionTypeId: {category: Compute, owner: AWS, provider: Commands, version: "1"}
        commands: ["sleep 2", "echo slept"]
        inputArtifacts: [{name: Src}]
"#,
    );
    let child = sb.spawn(&["run", file.to_str().expect("utf-8")]);
    sb.wait_for("slow", "the build", |s| {
        action_states(s)
            .iter()
            .any(|x| x["actionName"] == "Wait" && !x["latestExecution"].is_null())
    });
    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .expect("kill")
        .success());
    let out = wait_child(child, Duration::from_secs(30));
    assert_eq!(
        out.status.code(),
        Some(130),
        "{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(text(&out.stderr).contains("sluice resume"));
    let status = sb.json(&["status", "slow"]);
    assert_eq!(status["latestExecution"]["status"], "InProgress");
    let out = sb.run(&["resume"]);
    assert!(
        out.status.success(),
        "{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let status = sb.json(&["status", "slow"]);
    assert_eq!(status["latestExecution"]["status"], "Succeeded");
}

/// A buildspec from a source repository that would expand to over a gigabyte of commands (one string aliased
/// 1,500 times) fails its action at once, naming the limit; no session script is written, the failed job's
/// folder is kept and marked, and the server-side state stays small.
#[test]
fn a_buildspec_alias_bomb_fails_its_action_at_once() {
    let sb = Sandbox::new();
    let bomb = format!(
        "version: 0.2\nx: &s \"echo {}\"\nphases:\n  build:\n    commands: [{}]\n",
        "x".repeat(900 * 1024),
        vec!["*s"; 1500].join(",")
    );
    sb.write("src/buildspec.yml", &bomb);
    let file = sb.write(
        "bomb.yaml",
        "name: bomb\nstages:\n- name: Source\n  actions:\n  - name: Checkout\n    actionTypeId: {category: Source, owner: ThirdParty, provider: LocalSource, version: '1'}\n    configuration: {Path: src}\n    outputArtifacts: [{name: Src}]\n- name: Build\n  actions:\n  - name: Make\n    actionTypeId: {category: Build, owner: AWS, provider: CodeBuild, version: '1'}\n    configuration: {ProjectName: bomb}\n    inputArtifacts: [{name: Src}]\n",
    );
    let out = sb.run(&["run", file.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("refused as an alias bomb"), "{stdout}");
    let mut scripts = Vec::new();
    let mut markers = 0;
    for entry in walk(&sb.state().join("work")) {
        if entry.ends_with("session.sh") {
            scripts.push(entry.clone());
        }
        if entry.ends_with("FAILED") {
            markers += 1;
        }
    }
    assert!(scripts.is_empty(), "no session script: {scripts:?}");
    assert_eq!(markers, 1, "the failed job's folder is kept and marked");
}

fn walk(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// sluice dies right after starting an action's shell, before it recorded the shell's process group (a fault
/// point of the agent). The shell must run nothing: the run that `resume` starts is the only one whose commands
/// ever run, so nothing overlaps an orphan nobody could find.
#[test]
fn a_shell_whose_group_was_never_recorded_runs_nothing() {
    let sb = Sandbox::new();
    sb.write("src/readme.txt", "hi");
    let ledger = sb.path("ledger");
    let file = sb.write(
        "orphan.yaml",
        &format!(
            "name: orphan\npipelineType: V2\nstages:\n- name: Source\n  actions:\n  - name: Checkout\n    actionTypeId: {{category: Source, owner: ThirdParty, provider: LocalSource, version: '1'}}\n    configuration: {{Path: src}}\n    outputArtifacts: [{{name: Src}}]\n- name: Build\n  actions:\n  - name: Slow\n    actionTypeId: {{category: Compute, owner: AWS, provider: Commands, version: '1'}}\n    commands: ['sleep 0.5; echo ran >> {}']\n    inputArtifacts: [{{name: Src}}]\n",
            ledger.display()
        ),
    );
    let crashed = sb
        .cmd(&["run", file.to_str().expect("utf-8")])
        .env("SLUICE_FAULT_ABORT_AFTER_SPAWN", "1")
        .output()
        .expect("sluice runs");
    assert!(
        !crashed.status.success(),
        "the fault point ends the process"
    );
    let out = sb.run(&["resume"]);
    assert!(
        out.status.success(),
        "{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    // Time for a shell the crashed sluice left to have run its commands, had it been able to.
    std::thread::sleep(Duration::from_millis(1500));
    let ran = std::fs::read_to_string(&ledger).unwrap_or_default();
    assert_eq!(ran.matches("ran").count(), 1, "{ran}");
}
