//! Execution modes through the built binary: QUEUED executions take a stage in turn, SUPERSEDED ones replace
//! older ones waiting for the same stage, PARALLEL ones share stages. Also `run --no-wait` and `stop`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use sluice_tests::sluice_bin;

struct Sandbox {
    dir: tempfile::TempDir,
}

impl Sandbox {
    fn new() -> Self {
        let sb = Self {
            dir: tempfile::tempdir().expect("temp dir"),
        };
        std::fs::create_dir_all(sb.dir.path().join("src")).expect("src");
        std::fs::write(sb.dir.path().join("src/a.txt"), "a").expect("file");
        sb
    }

    fn state(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    fn pipeline(&self, mode: &str, build_seconds: u32) -> PathBuf {
        let text = format!(
            r#"
name: modes
pipelineType: V2
executionMode: {mode}
stages:
  - name: Source
    actions:
      - name: Checkout
        actionTypeId: {{category: Source, owner: ThirdParty, provider: LocalSource, version: "1"}}
        configuration: {{Path: src}}
        outputArtifacts: [{{name: Src}}]
  - name: Build
    actions:
      - name: Slow
        actionTypeId: {{category: Compute, owner: AWS, provider: Commands, version: "1"}}
        commands: ["sleep {build_seconds}"]
        inputArtifacts: [{{name: Src}}]
"#
        );
        let p = self.dir.path().join("modes.yaml");
        std::fs::write(&p, text).expect("pipeline");
        p
    }

    fn out(&self, args: &[&str]) -> std::process::Output {
        Command::new(sluice_bin())
            .arg("--state-dir")
            .arg(self.state())
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("sluice runs")
    }

    fn json(&self, args: &[&str]) -> Value {
        let mut full = vec!["--output", "json"];
        full.extend_from_slice(args);
        let out = self.out(&full);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("json")
    }

    /// Starts an execution in the background; returns its id.
    fn start(&self, file: &Path) -> String {
        let v = self.json(&["run", "--no-wait", file.to_str().expect("utf-8")]);
        v["pipelineExecutionId"].as_str().expect("id").to_owned()
    }

    fn show(&self, id: &str) -> Value {
        self.json(&["show", id])
    }

    fn until(&self, what: &str, limit: Duration, ready: impl Fn(&Self) -> bool) {
        let start = Instant::now();
        while !ready(self) {
            assert!(start.elapsed() < limit, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

fn status(shown: &Value) -> String {
    shown["execution"]["status"]
        .as_str()
        .unwrap_or("")
        .to_owned()
}

fn stage(shown: &Value, name: &str) -> Option<Value> {
    shown["stages"]
        .as_array()?
        .iter()
        .find(|s| s["stage"] == name)
        .cloned()
}

fn building(sb: &Sandbox, id: &str) -> bool {
    stage(&sb.show(id), "Build").is_some_and(|s| s["status"] == "InProgress")
}

fn waiting_for_build(sb: &Sandbox, id: &str) -> bool {
    let shown = sb.show(id);
    stage(&shown, "Source").is_some_and(|s| s["status"] == "Succeeded")
        && stage(&shown, "Build").is_none()
}

fn all_final(sb: &Sandbox, ids: &[&str]) -> bool {
    ids.iter()
        .all(|id| !matches!(status(&sb.show(id)).as_str(), "InProgress" | "Stopping"))
}

fn build_window(shown: &Value) -> (i64, i64) {
    let s = stage(shown, "Build").expect("Build ran");
    (
        s["startedMs"].as_i64().expect("start"),
        s["updatedMs"].as_i64().expect("end"),
    )
}

#[test]
fn queued_executions_take_a_stage_one_after_another() {
    let sb = Sandbox::new();
    let file = sb.pipeline("QUEUED", 2);
    let first = sb.start(&file);
    sb.until("the first build", Duration::from_secs(30), |sb| {
        building(sb, &first)
    });
    let second = sb.start(&file);
    sb.until("the second to wait", Duration::from_secs(30), |sb| {
        waiting_for_build(sb, &second)
    });
    sb.until("both to end", Duration::from_secs(60), |sb| {
        all_final(sb, &[&first, &second])
    });
    let (a, b) = (sb.show(&first), sb.show(&second));
    assert_eq!(status(&a), "Succeeded");
    assert_eq!(status(&b), "Succeeded");
    let (_, a_end) = build_window(&a);
    let (b_start, _) = build_window(&b);
    assert!(
        b_start >= a_end,
        "the second entered Build ({b_start}) before the first left it ({a_end})"
    );
}

#[test]
fn a_newer_execution_supersedes_an_older_one_waiting_for_the_same_stage() {
    let sb = Sandbox::new();
    let file = sb.pipeline("SUPERSEDED", 3);
    let first = sb.start(&file);
    sb.until("the first build", Duration::from_secs(30), |sb| {
        building(sb, &first)
    });
    let second = sb.start(&file);
    sb.until("the second to wait", Duration::from_secs(30), |sb| {
        waiting_for_build(sb, &second)
    });
    let third = sb.start(&file);
    sb.until("all to end", Duration::from_secs(60), |sb| {
        all_final(sb, &[&first, &second, &third])
    });
    assert_eq!(status(&sb.show(&first)), "Succeeded");
    assert_eq!(status(&sb.show(&second)), "Superseded");
    assert_eq!(status(&sb.show(&third)), "Succeeded");
    assert!(
        stage(&sb.show(&second), "Build").is_none(),
        "the superseded one never built"
    );
}

#[test]
fn parallel_executions_share_stages() {
    let sb = Sandbox::new();
    let file = sb.pipeline("PARALLEL", 2);
    let first = sb.start(&file);
    sb.until("the first build", Duration::from_secs(30), |sb| {
        building(sb, &first)
    });
    let second = sb.start(&file);
    sb.until("both to end", Duration::from_secs(60), |sb| {
        all_final(sb, &[&first, &second])
    });
    let (a, b) = (sb.show(&first), sb.show(&second));
    assert_eq!(
        (status(&a).as_str(), status(&b).as_str()),
        ("Succeeded", "Succeeded")
    );
    let ((a_start, a_end), (b_start, _)) = (build_window(&a), build_window(&b));
    assert!(
        b_start > a_start && b_start < a_end,
        "the builds did not overlap"
    );
}

#[test]
fn stop_with_abandon_ends_an_execution_at_once() {
    let sb = Sandbox::new();
    let file = sb.pipeline("QUEUED", 30);
    let id = sb.start(&file);
    sb.until("the build", Duration::from_secs(30), |sb| building(sb, &id));
    let out = sb.out(&["stop", &id, "--abandon", "--reason", "wrong branch"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    sb.until("the stop", Duration::from_secs(20), |sb| {
        status(&sb.show(&id)) == "Stopped"
    });
    let shown = sb.show(&id);
    let action = shown["actions"]
        .as_array()
        .expect("actions")
        .iter()
        .find(|a| a["action"] == "Slow")
        .cloned();
    assert_eq!(action.expect("Slow")["status"], "Abandoned");
    // The stage lock went with it: the next execution runs.
    let file = sb.pipeline("QUEUED", 0);
    let next = sb.start(&file);
    sb.until("the next execution", Duration::from_secs(30), |sb| {
        all_final(sb, &[&next])
    });
    assert_eq!(status(&sb.show(&next)), "Succeeded");
}
