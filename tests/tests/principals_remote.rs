//! `sluice principals` and `sluice keys` with `--endpoint`, through the built binary against `sluice serve`:
//! Sluice's access operations (`SluiceAccess_20261206.*`) over HTTP, signed by the admin key pair; the people
//! made there held to their roles at once, refused the operations themselves, and removed keys refused.

use serde_json::json;
use sluice_tests::served::{now_s, Server};

/// Runs the CLI through the server with `args`: success, stdout and stderr.
fn run(mut cmd: std::process::Command, args: &[&str]) -> (bool, String, String) {
    let out = cmd.args(args).output().expect("sluice");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn people_and_keys_are_managed_over_the_endpoint_and_held_to_their_roles() {
    let dir = tempfile::tempdir().expect("temp");
    let server = Server::start(&dir.path().join("server"));
    let src = dir.path().join("src");
    std::fs::create_dir_all(&src).expect("src");
    server.ok(
        "CreatePipeline",
        json!({"pipeline": sluice_tests::gate_pipeline(&src, "Ship it?")}),
    );

    let (ok, out, err) = run(server.cli(), &["principals", "list"]);
    assert!(ok, "{err}");
    assert!(out.contains("no principals at http://127.0.0.1"), "{out}");
    let (ok, out, err) = run(
        server.cli(),
        &[
            "principals",
            "add",
            "ann",
            "--role",
            "*=viewer",
            "--group",
            "qa",
        ],
    );
    assert!(ok, "{err}");
    assert!(out.contains("ann: added"), "{out}");
    let (ok, out, err) = run(server.cli(), &["keys", "create", "ann"]);
    assert!(ok, "{err}");
    let field = |label: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix(&format!("ann: {label} ")))
            .unwrap_or_else(|| panic!("no {label} in {out}"))
            .trim()
            .to_owned()
    };
    let ann = (field("access key id"), field("secret access key"));
    assert!(out.contains("shown only now"), "{out}");

    // The server's files hold what the operations made: the secret in the keys file, the principal beside it.
    let keys = std::fs::read_to_string(server.keys_path()).expect("keys file");
    assert!(keys.contains(&format!("{} {}", ann.0, ann.1)), "{keys}");
    let (ok, listed, err) = run(server.cli(), &["principals", "list"]);
    assert!(ok, "{err}");
    assert!(
        listed.contains(&format!("ann\troles: *=viewer\tkeys: {}", ann.0)),
        "{listed}"
    );

    // The new key reads at once and changes nothing.
    let r = server.call_as(
        "GetPipelineState",
        &json!({"name": "gate"}),
        &ann.0,
        &ann.1,
        now_s(),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let r = server.call_as(
        "StartPipelineExecution",
        &json!({"name": "gate"}),
        &ann.0,
        &ann.1,
        now_s(),
    );
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.json()["__type"], "AccessDeniedException");

    // A viewer cannot manage people.
    let mut as_ann = server.cli();
    as_ann
        .env("AWS_ACCESS_KEY_ID", &ann.0)
        .env("AWS_SECRET_ACCESS_KEY", &ann.1);
    let (ok, _, err) = run(as_ann, &["keys", "create", "ann"]);
    assert!(!ok, "a viewer made a key");
    assert!(
        err.contains("AccessDeniedException") && err.contains("admin on every pipeline"),
        "{err}"
    );

    // Mistakes are named; --keys (local files) and --endpoint do not mix.
    let (ok, _, err) = run(server.cli(), &["principals", "add", "bob"]);
    assert!(!ok && err.contains("at least one --role"), "{err}");
    let (ok, _, err) = run(server.cli(), &["keys", "create", "nobody"]);
    assert!(!ok && err.contains("nobody is not a principal"), "{err}");
    let (ok, _, err) = run(server.cli(), &["principals", "list", "--keys", "/tmp/keys"]);
    assert!(!ok && err.contains("--keys"), "{err}");

    // Removed over the endpoint: refused at once.
    let (ok, out, err) = run(server.cli(), &["keys", "remove", &ann.0]);
    assert!(ok, "{err}");
    assert!(out.contains(&format!("{}: removed", ann.0)), "{out}");
    let r = server.call_as(
        "GetPipelineState",
        &json!({"name": "gate"}),
        &ann.0,
        &ann.1,
        now_s(),
    );
    assert_eq!(r.status, 403, "{}", r.body);
    let (ok, out, err) = run(server.cli(), &["principals", "remove", "ann"]);
    assert!(ok, "{err}");
    assert!(out.contains("ann: removed, with 0 key pair(s)"), "{out}");
}
