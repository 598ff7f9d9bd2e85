//! Definitions against their fixtures: documentation examples pass unchanged and round-trip, every broken
//! fixture gives exactly its expected messages, and every valid definition compiles to a state machine that
//! the `asl-validator` package accepts.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use sluice_definition::compile::compile;
use sluice_definition::parse_value;
use sluice_definition::{load, DefinitionError, Limits, Syntax};
use sluice_tests::{fixture, fixtures_in, node_tool, workspace};

fn syntax_of(path: &Path) -> Syntax {
    Syntax::from_file_name(&path.to_string_lossy())
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every valid definition the project has: the documentation fixtures and the examples.
fn valid_definitions() -> Vec<PathBuf> {
    let mut files = fixtures_in("valid", &["json", "yaml", "yml"]);
    for example in ["hello", "release"] {
        files.push(
            workspace()
                .join("examples")
                .join(example)
                .join("pipeline.yaml"),
        );
    }
    files
}

#[test]
fn documentation_examples_pass_unchanged_and_round_trip_field_for_field() {
    let files = valid_definitions();
    assert!(
        files.len() >= 8,
        "expected the documentation fixtures, found {files:?}"
    );
    for path in files {
        let text = read(&path);
        let doc = match load(&text, syntax_of(&path), &Limits::default()) {
            Ok(doc) => doc,
            Err(e) => panic!("{} should be valid:\n{e}", path.display()),
        };
        let original = parse_value(&text, syntax_of(&path)).expect("parses");
        let written = doc.to_value();
        assert_eq!(written, original, "{} does not round-trip", path.display());
        // And what is written reads back to the same pipeline.
        let again = load(&written.to_string(), Syntax::Json, &Limits::default()).expect("re-reads");
        assert_eq!(again, doc, "{} changes when read back", path.display());
    }
}

/// The expected lines of a broken fixture, as `sluice validate` prints them without the file name.
fn actual_lines(err: &DefinitionError) -> Vec<String> {
    match err {
        DefinitionError::Syntax {
            line,
            column,
            message,
        } => vec![format!("{line}:{column}: {message}")],
        DefinitionError::Invalid(problems) => problems.iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn every_broken_fixture_gives_exactly_its_expected_messages() {
    let files = fixtures_in("invalid", &["json", "yaml", "yml"]);
    assert!(
        files.len() >= 40,
        "expected at least 40 broken fixtures, found {}",
        files.len()
    );
    let mut failures = Vec::new();
    for path in &files {
        let expected_path = path.with_extension("expected");
        let expected: Vec<String> = read(&expected_path).lines().map(str::to_owned).collect();
        assert!(!expected.is_empty(), "{} is empty", expected_path.display());
        match load(&read(path), syntax_of(path), &Limits::default()) {
            Ok(_) => failures.push(format!(
                "{}: accepted, expected:\n  {}",
                path.display(),
                expected.join("\n  ")
            )),
            Err(e) => {
                let actual = actual_lines(&e);
                if actual != expected {
                    failures.push(format!(
                        "{}:\n expected:\n  {}\n actual:\n  {}",
                        path.display(),
                        expected.join("\n  "),
                        actual.join("\n  ")
                    ));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} broken fixtures differ:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
}

#[test]
fn compiling_is_deterministic() {
    for path in valid_definitions() {
        let doc = load(&read(&path), syntax_of(&path), &Limits::default()).expect("valid");
        let a = serde_json::to_string(&compile(&doc.pipeline)).expect("prints");
        let b = serde_json::to_string(&compile(&doc.pipeline)).expect("prints");
        assert_eq!(a, b, "{}", path.display());
    }
}

/// Runs asl-validator over state machine files; returns (success, output).
fn asl_validator(files: &[PathBuf]) -> (bool, String) {
    let mut cmd = Command::new(node_tool("asl-validator"));
    for f in files {
        cmd.arg("--json-path").arg(f);
    }
    let out = cmd.output().expect("asl-validator runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn asl_validator_accepts_every_compiled_definition() {
    let dir = std::env::temp_dir().join(format!("sluice-asl-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let mut machines = Vec::new();
    for path in valid_definitions() {
        let doc = load(&read(&path), syntax_of(&path), &Limits::default()).expect("valid");
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("machine");
        let parent = path
            .parent()
            .and_then(Path::file_name)
            .and_then(|s| s.to_str())
            .unwrap_or("");
        let out = dir.join(format!("{parent}-{stem}.asl.json"));
        let text = serde_json::to_string_pretty(&compile(&doc.pipeline)).expect("prints");
        std::fs::write(&out, text).expect("writes");
        machines.push(out);
    }
    let (ok, output) = asl_validator(&machines);
    assert!(ok, "asl-validator rejected a compiled machine:\n{output}");
    assert_eq!(
        output.matches("is valid").count(),
        machines.len(),
        "{output}"
    );

    // The validator really checks: a machine with a dangling Next is refused.
    let mut broken: Value = serde_json::from_str(&read(&machines[0])).expect("json");
    broken["States"]["Start"]["Default"] = Value::String("Nowhere".into());
    let bad = dir.join("broken.asl.json");
    std::fs::write(&bad, broken.to_string()).expect("writes");
    let (ok, output) = asl_validator(&[bad]);
    assert!(!ok, "asl-validator accepted a dangling Next:\n{output}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_invalid_fixtures_readme_lists_every_fixture() {
    let readme = read(&fixture("invalid/README.md"));
    for path in fixtures_in("invalid", &["json", "yaml", "yml"]) {
        let name = path.file_name().and_then(|n| n.to_str()).expect("name");
        let stem = path.file_stem().and_then(|n| n.to_str()).expect("stem");
        assert!(
            readme.contains(name) || readme.contains(stem),
            "README.md does not list {name}"
        );
    }
}
