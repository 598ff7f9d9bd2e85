//! The crash test: `sluice` is killed with SIGKILL at random moments while it runs the release example
//! (approvals approved automatically), then resumed, again and again. Every execution must end Succeeded,
//! every action must have exactly one successful record, and no action may have run more often than its
//! record says it was started (a finished action is never run again; an interrupted one is run again and
//! counted).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use sluice_tests::{copy_dir, sluice_bin, workspace};

/// A small deterministic generator; the seed is printed so a failure can be replayed.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    fn between(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo)
    }
}

/// The release example, with every action that runs a process appending `<execution> <action>` to a ledger.
fn instrumented_release(dir: &Path, ledger: &Path) -> PathBuf {
    copy_dir(&workspace().join("examples/release"), dir);
    let l = ledger.display();
    let pipeline = std::fs::read_to_string(dir.join("pipeline.yaml")).expect("pipeline");
    let pipeline = pipeline
        .replace(
            "          - sh tests/unit.sh",
            &format!("          - sh tests/unit.sh\n          - sleep 0.3\n          - echo \"#{{codepipeline.PipelineExecutionId}} UnitTests\" >> {l}"),
        )
        .replace(
            "          - sh tests/lint.sh",
            &format!("          - sh tests/lint.sh\n          - sleep 0.2\n          - echo \"#{{codepipeline.PipelineExecutionId}} Lint\" >> {l}"),
        )
        .replace(
            r##"EnvironmentVariables: '[{"name":"GREETING""##,
            r##"EnvironmentVariables: '[{"name":"EXEC","value":"#{codepipeline.PipelineExecutionId}","type":"PLAINTEXT"},{"name":"GREETING""##,
        );
    assert!(
        pipeline.contains("UnitTests\" >>") && pipeline.contains("\"EXEC\""),
        "instrumenting failed"
    );
    let path = dir.join("pipeline.yaml");
    std::fs::write(&path, pipeline).expect("write pipeline");
    let buildspec = std::fs::read_to_string(dir.join("app/buildspec.yml")).expect("buildspec");
    let buildspec = buildspec.replace(
        "      - mkdir -p dist\n",
        &format!("      - mkdir -p dist\n      - echo \"$EXEC Package\" >> {l}\n"),
    );
    std::fs::write(dir.join("app/buildspec.yml"), buildspec).expect("write buildspec");
    path
}

fn sluice(state: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(sluice_bin());
    c.arg("--state-dir")
        .arg(state)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    c
}

fn json(state: &Path, args: &[&str]) -> Value {
    let out = Command::new(sluice_bin())
        .arg("--state-dir")
        .arg(state)
        .arg("--output")
        .arg("json")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("sluice runs");
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("json")
}

#[test]
fn killing_sluice_at_random_points_loses_nothing_and_repeats_nothing_finished() {
    let seed = std::env::var("SLUICE_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
        });
    eprintln!("crash test seed: {seed} (set SLUICE_CRASH_SEED to replay)");
    let mut rng = Lcg(seed);
    let sandbox = tempfile::tempdir().expect("temp");
    let root: PathBuf = if std::env::var_os("SLUICE_CRASH_KEEP").is_some() {
        sandbox.keep()
    } else {
        sandbox.path().to_owned()
    };
    eprintln!("crash test sandbox: {}", root.display());
    let state = root.join("state");
    let ledger = root.join("ledger");
    let pipeline = instrumented_release(&root.join("release"), &ledger);
    let pipeline = pipeline.to_str().expect("utf-8");

    // Executions `sluice run` announced (printed its id for): each must be in the history, Succeeded. A run
    // killed before it recorded its execution has nothing to lose; rounds go on until EXECUTIONS were announced.
    const EXECUTIONS: usize = 8;
    let mut announced: Vec<String> = Vec::new();
    let mut rounds = 0;
    let mut kills = 0;
    let start = Instant::now();
    while announced.len() < EXECUTIONS && rounds < EXECUTIONS + 6 {
        rounds += 1;
        // Start, then kill -9 and resume up to three times at random moments, then let it finish.
        let out_path = root.join(format!("run-{rounds}.out"));
        let out = std::fs::File::create(&out_path).expect("run output file");
        let mut child = sluice(&state, &["run", pipeline, "--auto-approve"])
            .stdout(out)
            .spawn()
            .expect("start");
        for _ in 0..4 {
            std::thread::sleep(Duration::from_millis(rng.between(20, 450)));
            if child.try_wait().expect("wait").is_some() {
                break;
            }
            child.kill().expect("kill -9");
            child.wait().expect("reap");
            kills += 1;
            child = sluice(&state, &["resume", "--auto-approve"])
                .spawn()
                .expect("resume");
        }
        let status = child.wait().expect("finish");
        assert!(
            status.success() || status.code() == Some(1),
            "the last run ended with {status:?}"
        );
        // Whatever the last process was doing, a final resume must find nothing left (or finish it).
        let status = sluice(&state, &["resume", "--auto-approve"])
            .status()
            .expect("resume");
        assert!(status.success(), "resume after the storm failed");
        // `pipeline release version N execution <id>` is the run's first line.
        let printed = std::fs::read_to_string(&out_path).expect("run output");
        if let Some(id) = printed
            .lines()
            .find_map(|l| l.split_once(" execution ").map(|(_, id)| id.trim()))
        {
            announced.push(id.to_owned());
        }
        assert!(
            start.elapsed() < Duration::from_secs(300),
            "the crash test is taking too long"
        );
    }
    eprintln!(
        "killed sluice {kills} times over {rounds} runs, {} of which announced their execution",
        announced.len()
    );
    assert_eq!(
        announced.len(),
        EXECUTIONS,
        "too many runs were killed before they recorded an execution"
    );

    let ledger = std::fs::read_to_string(&ledger).unwrap_or_default();
    let mut ran: BTreeMap<(String, String), usize> = BTreeMap::new();
    for line in ledger.lines() {
        let (exec, action) = line.split_once(' ').expect("ledger line");
        *ran.entry((exec.to_owned(), action.to_owned())).or_default() += 1;
    }
    let history = json(&state, &["history", "release", "--limit", "100"]);
    let executions = history.as_array().expect("history");
    // Runs killed after recording their execution but before printing it add executions nobody was told of;
    // those must finish too.
    let ids: Vec<&str> = executions
        .iter()
        .filter_map(|e| e["pipelineExecutionId"].as_str())
        .collect();
    for id in &announced {
        assert!(
            ids.contains(&id.as_str()),
            "announced execution {id} was lost: {history}"
        );
    }
    assert!(executions.len() <= rounds, "{history}");
    let mut interrupted_runs = 0;
    for e in executions {
        let id = e["pipelineExecutionId"].as_str().expect("id");
        let shown = json(&state, &["show", id]);
        assert_eq!(e["status"], "Succeeded", "execution {id}: {shown:#}");
        let actions = shown["actions"].as_array().expect("actions");
        for name in [
            "Checkout",
            "UnitTests",
            "Lint",
            "Package",
            "Review",
            "Publish",
        ] {
            let records: Vec<&Value> = actions.iter().filter(|a| a["action"] == name).collect();
            assert_eq!(
                records.len(),
                1,
                "{id} {name}: one attempt expected: {records:?}"
            );
            let rec = records[0];
            assert_eq!(rec["status"], "Succeeded", "{id} {name}");
            let runs = rec["run"].as_u64().expect("run") as usize;
            interrupted_runs += runs - 1;
            if let Some(count) = ran.get(&(id.to_owned(), name.to_owned())) {
                assert!(
                    (1..=runs).contains(count),
                    "{id} {name} ran {count} times but was started {runs} times"
                );
            } else {
                assert!(
                    !["UnitTests", "Lint", "Package"].contains(&name),
                    "{id} {name} never ran"
                );
            }
        }
    }
    // Every execution ended, so the final resume's sweep left no job folder behind, interrupted ones included.
    let left: Vec<PathBuf> = std::fs::read_dir(state.join("work"))
        .into_iter()
        .flatten()
        .flatten()
        .flat_map(|e| std::fs::read_dir(e.path()).into_iter().flatten().flatten())
        .map(|e| e.path())
        .collect();
    assert!(left.is_empty(), "job folders left: {left:?}");
    // A kill interrupts at most the two actions that run at once (UnitTests and Lint).
    assert!(
        interrupted_runs <= 2 * kills,
        "{interrupted_runs} restarted runs for {kills} kills"
    );
}
