//! The `sluice` binary end to end: validate and asl on real files, and its own errors.

use std::path::PathBuf;

use serde_json::Value;
use sluice_tests::{fixture, sluice, workspace};

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn run(args: &[&str]) -> Run {
    let out = sluice().args(args).output().expect("sluice runs");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn temp_file(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sluice-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join(name);
    std::fs::write(&path, text).expect("writes");
    path
}

fn s(p: &std::path::Path) -> &str {
    p.to_str().expect("utf-8 path")
}

#[test]
fn validate_prints_a_summary_line_per_valid_file() {
    let a = fixture("valid/doc-two-stage-s3.json");
    let b = workspace().join("examples/release/pipeline.yaml");
    let r = run(&["validate", s(&a), s(&b)]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        r.stdout,
        format!(
            "{}: ok: pipeline HarborWebReleasePipeline (V1, SUPERSEDED), 2 stages, 2 actions\n{}: ok: pipeline release (V2, QUEUED), 4 stages, 6 actions\n",
            a.display(),
            b.display()
        )
    );
}

#[test]
fn validate_prints_every_problem_on_its_own_line_and_exits_1() {
    let bad = temp_file(
        "two-problems.json",
        r#"{"name": "bad name", "stages": [{"name": "Only", "actions": [{"name": "S", "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "S3", "version": "1"}, "runOrder": 0}]}]}"#,
    );
    let good = fixture("valid/doc-four-stage.json");
    let r = run(&["validate", s(&good), s(&bad)]);
    assert_eq!(r.code, 1);
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert!(lines[0].contains(": ok: "), "{}", r.stdout);
    assert_eq!(
        &lines[1..],
        [
            format!(
                "{}: name: \"bad name\" may only contain letters, digits and . @ _ -",
                bad.display()
            ),
            format!(
                "{}: stages[0].actions[0].runOrder: must be between 1 and 999, not 0",
                bad.display()
            ),
            // The shape's problems do not hide the structure's.
            format!(
                "{}: stages: a pipeline needs at least 2 stages, found 1",
                bad.display()
            ),
            format!(
                "{}: stages[0].actions[0].configuration.S3Bucket: required by the S3 provider but missing",
                bad.display()
            ),
            format!(
                "{}: stages[0].actions[0].configuration.S3ObjectKey: required by the S3 provider but missing",
                bad.display()
            ),
            format!(
                "{}: stages[0].actions[0].outputArtifacts: the S3 Source action produces exactly 1 output artifact, found 0",
                bad.display()
            ),
        ]
    );
}

#[test]
fn validate_reports_yaml_syntax_errors_with_line_and_column() {
    let bad = temp_file("broken.yaml", "name: p\nstages:\n  - name: [unclosed\n");
    let r = run(&["validate", s(&bad)]);
    assert_eq!(r.code, 1);
    let line = r.stdout.trim_end();
    assert!(
        line.starts_with(&format!("{}:4:", bad.display()))
            || line.starts_with(&format!("{}:3:", bad.display())),
        "{line}"
    );
    assert_eq!(r.stdout.lines().count(), 1);
}

#[test]
fn validate_speaks_json_when_asked() {
    let bad = temp_file("one-stage.json", r#"{"name": "p", "stages": []}"#);
    let r = run(&["validate", "--output", "json", s(&bad)]);
    assert_eq!(r.code, 1);
    let report: Value = serde_json::from_str(&r.stdout).expect("json output");
    assert_eq!(report[0]["valid"], false);
    assert_eq!(report[0]["problems"][0]["path"], "stages");
    assert_eq!(
        report[0]["problems"][0]["message"],
        "a pipeline needs at least 2 stages, found 0"
    );
}

#[test]
fn a_missing_file_is_one_clear_line_without_a_backtrace() {
    let r = run(&["validate", "/nonexistent/pipeline.yaml"]);
    assert_eq!(r.code, 2);
    assert_eq!(
        r.stderr,
        "sluice: cannot read /nonexistent/pipeline.yaml: no such file\n"
    );
    assert!(r.stdout.is_empty());
}

#[test]
fn asl_prints_the_state_machine_with_substitutions_filled() {
    let file = workspace().join("examples/release/pipeline.yaml");
    let arn = "arn:aws:lambda:eu-west-1:111122223333:function:sluice-dispatch";
    let r = run(&[
        "asl",
        s(&file),
        "--substitute",
        &format!("DispatchFunctionArn={arn}"),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let machine: Value = serde_json::from_str(&r.stdout).expect("json");
    assert_eq!(machine["StartAt"], "Source.Checkout");
    assert_eq!(
        machine["States"]["Build.Package"]["Parameters"]["FunctionName"],
        arn
    );
    assert!(!r.stdout.contains("${"), "a placeholder was left unfilled");
}

#[test]
fn asl_without_substitutions_keeps_the_placeholders() {
    let file = workspace().join("examples/hello/pipeline.yaml");
    let r = run(&["asl", s(&file)]);
    assert_eq!(r.code, 0);
    assert!(r
        .stdout
        .contains("\"FunctionName\": \"${DispatchFunctionArn}\""));
}

#[test]
fn asl_refuses_a_substitution_the_machine_does_not_use() {
    let file = workspace().join("examples/hello/pipeline.yaml");
    let r = run(&["asl", s(&file), "--substitute", "Nope=1"]);
    assert_eq!(r.code, 2);
    assert_eq!(
        r.stderr,
        "sluice: the state machine has no ${Nope} to substitute\n"
    );
    let r = run(&["asl", s(&file), "--substitute", "no-equals-sign"]);
    assert_eq!(r.code, 2);
    assert_eq!(
        r.stderr,
        "sluice: --substitute takes KEY=VALUE, not \"no-equals-sign\"\n"
    );
}

#[test]
fn asl_of_an_invalid_definition_prints_its_problems_and_no_machine() {
    let bad = temp_file("one-stage-asl.json", r#"{"name": "p", "stages": []}"#);
    let r = run(&["asl", s(&bad)]);
    assert_eq!(r.code, 1);
    assert!(r.stdout.is_empty());
    assert_eq!(
        r.stderr,
        format!(
            "{}: stages: a pipeline needs at least 2 stages, found 0\n",
            bad.display()
        )
    );
}

/// Runs sluice with its stdout a pipe whose reader is already gone (`sluice ... | head` once head is done).
fn into_closed_pipe(args: &[&str], state: &std::path::Path) -> Run {
    let mut child = sluice()
        .arg("--state-dir")
        .arg(state)
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("sluice runs");
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("sluice ends");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::new(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[test]
fn a_closed_pipe_ends_the_output_quietly() {
    let state = tempfile::tempdir().expect("temp dir");
    let hello = workspace().join("examples/hello/pipeline.yaml");
    let ran = sluice()
        .arg("--state-dir")
        .arg(state.path())
        .args(["run", s(&hello)])
        .output()
        .expect("sluice runs");
    assert!(
        ran.status.success(),
        "{}",
        String::from_utf8_lossy(&ran.stderr)
    );
    let release = workspace().join("examples/release/pipeline.yaml");
    for args in [
        vec!["validate", s(&hello), s(&release)],
        vec!["events"],
        vec!["history", "hello"],
    ] {
        let r = into_closed_pipe(&args, state.path());
        assert!(!r.stderr.contains("panicked"), "{args:?}: {}", r.stderr);
        assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
    }
}

#[test]
fn yaml_bombs_are_refused_by_name_at_once() {
    // One 1 MiB string aliased 1,500 times (1.5 GB once expanded).
    let big = format!(
        "name: p\nanchor: &s \"{}\"\nstages: [{}]\n",
        "x".repeat(1 << 20),
        vec!["*s"; 1500].join(",")
    );
    let r = run(&["validate", s(&temp_file("aliases.yaml", &big))]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stdout.contains("refused as an alias bomb"),
        "{}",
        r.stdout
    );
    // 60,000 levels of nesting.
    let deep = format!("name: {}1{}\n", "[".repeat(60_000), "]".repeat(60_000));
    let r = run(&["validate", s(&temp_file("deep.yaml", &deep))]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stdout
            .contains("nesting deeper than the limit of 64 levels"),
        "{}",
        r.stdout
    );
    // Nine levels of nine aliases each.
    let mut laughs = String::from("a: &a [lol,lol,lol,lol,lol,lol,lol,lol,lol]\n");
    let mut prev = 'a';
    for name in 'b'..='i' {
        laughs.push_str(&format!(
            "{name}: &{name} [{}]\n",
            vec![format!("*{prev}"); 9].join(",")
        ));
        prev = name;
    }
    let r = run(&["validate", s(&temp_file("laughs.yaml", &laughs))]);
    assert!(r.stdout.contains("laughs.yaml:5:"), "{}", r.stdout);
    assert!(
        r.stdout.contains("refused as an alias bomb"),
        "{}",
        r.stdout
    );
}

#[test]
fn files_too_big_or_not_utf8_are_named_as_such() {
    let big = temp_file("big.json", &" ".repeat(5 << 20));
    let r = run(&["validate", s(&big)]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("over the limit of 4194304 bytes"),
        "{}",
        r.stderr
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let utf16 = dir.path().join("utf16.json");
    let mut bytes = vec![0xFF, 0xFE];
    for c in "{\"name\": \"p\"}".encode_utf16() {
        bytes.extend_from_slice(&c.to_le_bytes());
    }
    std::fs::write(&utf16, bytes).expect("write");
    let r = run(&["validate", s(&utf16)]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("UTF-16"), "{}", r.stderr);
}
