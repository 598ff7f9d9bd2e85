//! A `sluice` binary works however it was built: a workspace-wide build unifies features across every crate
//! (the AWS SDK's TLS stack included), and the binary must still choose its own TLS crypto provider.

use std::process::Command;

use sluice_tests::workspace;

#[test]
fn a_sluice_built_with_the_whole_workspace_reaches_an_endpoint() {
    let status = Command::new(env!("CARGO"))
        .args(["build", "--quiet", "--workspace", "--bin", "sluice"])
        .current_dir(workspace())
        .status()
        .expect("cargo runs");
    assert!(status.success(), "the workspace-wide build failed");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| workspace().join("target"));
    let dir = tempfile::tempdir().expect("temp dir");
    let bin = dir.path().join("sluice");
    std::fs::copy(target.join("debug/sluice"), &bin).expect("copy the binary");
    // Nothing listens on the port: the client must get as far as trying to connect.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    for endpoint in [
        format!("http://127.0.0.1:{port}"),
        format!("https://127.0.0.1:{port}"),
    ] {
        let out = Command::new(&bin)
            .args(["--endpoint", &endpoint, "list"])
            .env("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
            .env("AWS_SECRET_ACCESS_KEY", "secret")
            .env("AWS_REGION", "us-east-1")
            .output()
            .expect("sluice runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{endpoint}: {stderr}");
        assert_eq!(out.status.code(), Some(2), "{endpoint}: {stderr}");
        assert!(stderr.contains("sluice:"), "{endpoint}: {stderr}");
    }
}
