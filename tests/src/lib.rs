//! Helpers for Sluice's test suites: where the fixtures are, the built `sluice` binary, and the ports'
//! conformance suites.

pub mod browser;
pub mod catcher;
pub mod codestar_connections;
pub mod conformance;
pub mod embedded;
pub mod git_server;
pub mod lambda;
pub mod moto;
pub mod moto_stack;
pub mod served;
pub mod watch;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The workspace root.
pub fn workspace() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate lives inside the workspace")
}

/// The fixtures folder, or a file inside it.
pub fn fixture(rel: &str) -> PathBuf {
    workspace().join("tests/fixtures").join(rel)
}

/// Every file with one of `extensions` in a fixtures folder, sorted by name.
pub fn fixtures_in(dir: &str, extensions: &[&str]) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(fixture(dir))
        .unwrap_or_else(|e| panic!("cannot list fixtures/{dir}: {e}"))
        .map(|e| e.expect("directory entry").path())
        .filter(|p| {
            p.extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| extensions.contains(&e))
        })
        .collect();
    files.sort();
    files
}

/// The `sluice` binary, built (once per test process) from the current sources so it is never stale.
pub fn sluice_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let status = Command::new(env!("CARGO"))
            .args(["build", "--quiet", "-p", "sluice-cli", "--bin", "sluice"])
            .current_dir(workspace())
            .status()
            .expect("cargo runs");
        assert!(status.success(), "building the sluice binary failed");
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| workspace().join("target"));
        target.join("debug").join("sluice")
    })
}

/// A command running the built `sluice` binary.
pub fn sluice() -> Command {
    Command::new(sluice_bin())
}

/// The node tool `name` installed by `npm ci` at the workspace root.
pub fn node_tool(name: &str) -> PathBuf {
    let path = workspace().join("node_modules/.bin").join(name);
    assert!(
        path.exists(),
        "{} is missing: run `npm ci` at the workspace root (the README's test command does)",
        path.display()
    );
    path
}

/// Copies a folder tree (files and folders; nothing else is expected in the examples).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap_or_else(|e| panic!("cannot create {}: {e}", to.display()));
    for entry in
        std::fs::read_dir(from).unwrap_or_else(|e| panic!("cannot list {}: {e}", from.display()))
    {
        let entry = entry.expect("directory entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

/// The `gate` pipeline: a LocalSource of `src`, a manual approval `Approval.Review` (with `CustomData` and an
/// `ExternalEntityLink`), then `Build.Greet`, which prints `greeting.txt` from the source.
pub fn gate_pipeline(src: &Path, custom_data: &str) -> serde_json::Value {
    serde_json::json!({
        "name": "gate",
        "pipelineType": "V2",
        "stages": [
            {"name": "Source", "actions": [{
                "name": "Checkout",
                "actionTypeId": {"category": "Source", "owner": "ThirdParty", "provider": "LocalSource", "version": "1"},
                "configuration": {"Path": src.to_string_lossy()},
                "outputArtifacts": [{"name": "Src"}]
            }]},
            {"name": "Approval", "actions": [{
                "name": "Review",
                "actionTypeId": {"category": "Approval", "owner": "AWS", "provider": "Manual", "version": "1"},
                "configuration": {
                    "CustomData": custom_data,
                    "ExternalEntityLink": "https://example.com/notes"
                }
            }]},
            {"name": "Build", "actions": [{
                "name": "Greet",
                "actionTypeId": {"category": "Compute", "owner": "AWS", "provider": "Commands", "version": "1"},
                "commands": ["cat greeting.txt"],
                "inputArtifacts": [{"name": "Src"}]
            }]}
        ]
    })
}

/// A zip of `files` (path, content).
pub fn zip_of(files: &[(&str, &str)]) -> Vec<u8> {
    let dir = tempfile::tempdir().expect("temp");
    for (path, content) in files {
        let at = dir.path().join("in").join(path);
        std::fs::create_dir_all(at.parent().expect("parent")).expect("dirs");
        std::fs::write(at, content).expect("file");
    }
    let dest = dir.path().join("out.zip");
    sluice_agent::zip_files::build::zip_folder(
        &dir.path().join("in"),
        &sluice_agent::zip_files::build::Selection::all(),
        &dest,
    )
    .expect("zip");
    std::fs::read(&dest).expect("zip")
}

/// The text of `file` in a zip.
pub fn unzipped(zip: &[u8], file: &str) -> String {
    let dir = tempfile::tempdir().expect("temp");
    let at = dir.path().join("in.zip");
    std::fs::write(&at, zip).expect("zip");
    sluice_agent::zip_files::extract::extract_zip(
        &at,
        &dir.path().join("out"),
        &Default::default(),
    )
    .expect("extract");
    std::fs::read_to_string(dir.path().join("out").join(file)).expect(file)
}

/// A tool of `.venv-sam` (sam, cfn-lint), run offline: no account, no endpoint, no telemetry.
pub fn sam_tool(name: &str) -> Command {
    let path = workspace().join(".venv-sam/bin").join(name);
    assert!(
        path.exists(),
        "{} is missing: run `infra/sam-tools.sh` (it installs aws-sam-cli and cfn-lint into .venv-sam; \
         `make test` runs it first)",
        path.display()
    );
    let mut command = Command::new(path);
    // Linting is offline and needs no account: a region for the SAM transform, no telemetry, and nothing that
    // could point the tools at an endpoint or an account.
    command
        .current_dir(workspace())
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_REGION", "us-east-1")
        .env("SAM_CLI_TELEMETRY", "0")
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_SESSION_TOKEN");
    command
}
