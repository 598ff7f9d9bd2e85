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
    assert_eq!(machine["StartAt"], "Start");
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
