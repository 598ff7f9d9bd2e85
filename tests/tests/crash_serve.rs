//! The server crash test: `sluice serve` is killed with SIGKILL at random moments, and started again, while
//! executions of a QUEUED and a PARALLEL pipeline run; the jobs it started are left running as orphans each
//! time. Every action appends `start` and `end` lines (with its run number and the time) to a ledger. The test
//! prints, and requires to be 0:
//! - executions lost: started but not Succeeded in the end;
//! - finished actions rerun: a run started after the action's recorded (successful) run;
//! - overlaps with orphans: a run that started while an earlier run of the same action was still running.
//!
//! `SLUICE_CRASH_EXECUTIONS` (per pipeline, default 8) and `SLUICE_CRASH_KILLS` (default 12) size it;
//! `scripts/crash.sh` runs it at full size (100 executions per pipeline, 300 kills). `SLUICE_CRASH_SEED`
//! replays a run.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sluice_tests::served::Server;

/// When a run of an action started and ended, in nanoseconds (each if the ledger has it).
type Span = (Option<u128>, Option<u128>);

/// A small deterministic generator; the seed is printed so a failure can be replayed.
struct Lcg(u64);

impl Lcg {
    fn between(&mut self, lo: u64, hi: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        lo + (self.0 >> 33) % (hi - lo)
    }
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// One action's commands: a `start` line, some work, an `end` line, each with the run (from the job folder's
/// name, `<stage>.<action>.<attempt>.run<N>`) and the time in nanoseconds.
fn commands(ledger: &Path, action: &str, work: &str) -> Value {
    let l = ledger.display();
    let line = |phase: &str| {
        format!(
            "echo \"#{{codepipeline.PipelineExecutionId}} {action} {phase} $(basename \"$(dirname \"$PWD\")\") $(date +%s%N)\" >> {l}"
        )
    };
    json!([line("start"), work, line("end")])
}

fn pipeline(name: &str, mode: &str, src: &Path, ledger: &Path) -> Value {
    let command = |action: &str, work: &str| {
        json!({
            "name": action,
            "actionTypeId": {"category": "Compute", "owner": "AWS", "provider": "Commands", "version": "1"},
            "commands": commands(ledger, action, work),
            "inputArtifacts": [{"name": "Src"}]
        })
    };
    json!({
        "name": name,
        "pipelineType": "V2",
        "executionMode": mode,
        "roleArn": "arn:aws:iam::000000000000:role/sluice",
        "artifactStore": {"type": "S3", "location": "sluice-artifacts"},
        "stages": [
            {"name": "Source", "actions": [{
                "name": "Checkout",
                "actionTypeId": {"category": "Source", "owner": "ThirdParty", "provider": "LocalSource", "version": "1"},
                "configuration": {"Path": src.to_string_lossy()},
                "outputArtifacts": [{"name": "Src"}]
            }]},
            {"name": "Work", "actions": [command("Left", "sleep 0.3"), command("Right", "sleep 0.2")]},
            {"name": "More", "actions": [command("Last", "sleep 0.2")]}
        ]
    })
}

/// Every execution of `pipeline` with its status, through the API.
fn executions(server: &Server, pipeline: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut body = json!({"pipelineName": pipeline, "maxResults": 100});
        if let Some(t) = &token {
            body["nextToken"] = json!(t);
        }
        let page = server.ok("ListPipelineExecutions", body);
        for e in page["pipelineExecutionSummaries"]
            .as_array()
            .expect("summaries")
        {
            out.push((
                e["pipelineExecutionId"].as_str().expect("id").to_owned(),
                e["status"].as_str().expect("status").to_owned(),
            ));
        }
        match page["nextToken"].as_str() {
            Some(t) => token = Some(t.to_owned()),
            None => return out,
        }
    }
}

/// The run each action of an execution succeeded with, by action name.
fn recorded_runs(state: &Path, id: &str) -> BTreeMap<String, u64> {
    let out = std::process::Command::new(sluice_tests::sluice_bin())
        .arg("--state-dir")
        .arg(state)
        .args(["--output", "json", "show", id])
        .output()
        .expect("sluice show");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let shown: Value = serde_json::from_slice(&out.stdout).expect("json");
    shown["actions"]
        .as_array()
        .expect("actions")
        .iter()
        .filter(|a| a["status"] == "Succeeded")
        .map(|a| {
            (
                a["action"].as_str().expect("action").to_owned(),
                a["run"].as_u64().expect("run"),
            )
        })
        .collect()
}

#[test]
fn killing_the_server_loses_nothing_reruns_nothing_finished_and_leaves_no_orphan_running() {
    let per_pipeline = env_number("SLUICE_CRASH_EXECUTIONS", 8);
    let kills = env_number("SLUICE_CRASH_KILLS", 12);
    let seed = env_number(
        "SLUICE_CRASH_SEED",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64),
    );
    eprintln!("server crash test seed: {seed} (set SLUICE_CRASH_SEED to replay)");
    let mut rng = Lcg(seed);
    let dir = tempfile::tempdir().expect("temp dir");
    let src = dir.path().join("src");
    std::fs::create_dir_all(&src).expect("src");
    std::fs::write(src.join("readme.txt"), "crash").expect("readme");
    let ledger = dir.path().join("ledger");
    let mut server = Server::start(&dir.path().join("server"));
    let pipelines = [("queued", "QUEUED"), ("parallel", "PARALLEL")];
    for (name, mode) in pipelines {
        server.ok(
            "CreatePipeline",
            json!({"pipeline": pipeline(name, mode, &src, &ledger)}),
        );
    }
    let mut started = Vec::new();
    for _ in 0..per_pipeline {
        for (name, _) in pipelines {
            let r = server.ok("StartPipelineExecution", json!({"name": name}));
            started.push((
                name,
                r["pipelineExecutionId"].as_str().expect("id").to_owned(),
            ));
        }
    }

    let begun = Instant::now();
    for _ in 0..kills {
        std::thread::sleep(Duration::from_millis(rng.between(100, 900)));
        server.crash_and_restart();
    }
    let deadline = Instant::now() + Duration::from_secs(120 + per_pipeline * 4);
    loop {
        let open = pipelines
            .iter()
            .flat_map(|(name, _)| executions(&server, name))
            .filter(|(_, status)| status == "InProgress" || status == "Stopping")
            .count();
        if open == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{open} executions still running: {}",
            server.output()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let elapsed = begun.elapsed();

    let statuses: BTreeMap<String, String> = pipelines
        .iter()
        .flat_map(|(name, _)| executions(&server, name))
        .collect();
    let lost: Vec<&String> = started
        .iter()
        .map(|(_, id)| id)
        .filter(|id| statuses.get(*id).map(String::as_str) != Some("Succeeded"))
        .collect();

    // The ledger: (execution, action) -> run -> (start, end).
    let text = std::fs::read_to_string(&ledger).unwrap_or_default();
    let mut runs: BTreeMap<(String, String), BTreeMap<u64, Span>> = BTreeMap::new();
    for line in text.lines() {
        let parts: Vec<&str> = line.split(' ').collect();
        let [exec, action, phase, folder, time] = parts[..] else {
            panic!("ledger line {line:?}");
        };
        let run: u64 = folder
            .rsplit_once(".run")
            .and_then(|(_, n)| n.parse().ok())
            .unwrap_or_else(|| panic!("no run in {folder:?}"));
        let time: u128 = time.parse().expect("time");
        let slot = runs
            .entry((exec.to_owned(), action.to_owned()))
            .or_default()
            .entry(run)
            .or_default();
        if phase == "start" {
            slot.0 = Some(time);
        } else {
            slot.1 = Some(time);
        }
    }
    let mut overlaps = Vec::new();
    for ((exec, action), by_run) in &runs {
        for (i, (start_i, end_i)) in by_run {
            for (j, (start_j, _)) in by_run.range(i + 1..) {
                if let (Some(end_i), Some(start_j)) = (end_i, start_j) {
                    if start_j < end_i && start_i.is_some() {
                        overlaps.push(format!(
                            "{exec} {action}: run {j} started before run {i} ended"
                        ));
                    }
                }
            }
        }
    }
    let state = server.state();
    let mut rerun = Vec::new();
    for (_, id) in &started {
        for (action, run) in recorded_runs(&state, id) {
            if let Some(by_run) = runs.get(&(id.clone(), action.clone())) {
                if let Some(later) = by_run.keys().find(|r| **r > run) {
                    rerun.push(format!(
                        "{id} {action}: run {later} after the recorded run {run}"
                    ));
                }
            }
        }
    }
    let interrupted: usize = runs
        .values()
        .map(|by_run| by_run.len().saturating_sub(1))
        .sum();
    println!(
        "server crash test: {} executions, {kills} kills in {:.0} s; runs restarted after a kill: {interrupted}; \
         executions lost: {}; finished actions rerun: {}; overlaps with orphans: {}",
        started.len(),
        elapsed.as_secs_f64(),
        lost.len(),
        rerun.len(),
        overlaps.len()
    );
    assert!(lost.is_empty(), "lost executions: {lost:?}");
    assert!(rerun.is_empty(), "finished actions run again: {rerun:#?}");
    assert!(
        overlaps.is_empty(),
        "runs overlapping their orphans: {overlaps:#?}"
    );
}
