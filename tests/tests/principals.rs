//! People and permissions through the built binary: principals and key pairs made with `sluice principals` and
//! `sluice keys` while `sluice serve` runs (read without a restart), each request allowed or refused by the
//! signer's role on the pipeline it names, the keys file from before principals still an admin, and the files'
//! mistakes named with where they are.

use std::path::Path;

use serde_json::{json, Value};
use sluice_tests::served::{now_s, Server};

fn pipeline(name: &str, src: &Path) -> Value {
    json!({
        "name": name,
        "pipelineType": "V2",
        "stages": [
            {"name": "Source", "actions": [{
                "name": "Checkout",
                "actionTypeId": {"category": "Source", "owner": "ThirdParty", "provider": "LocalSource", "version": "1"},
                "configuration": {"Path": src.to_string_lossy()},
                "outputArtifacts": [{"name": "Src"}]
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

/// A call as a key pair: status, error type and message.
fn call(server: &Server, key: &(String, String), operation: &str, body: Value) -> (u16, Value) {
    let r = server.call_as(operation, &body, &key.0, &key.1, now_s());
    (r.status, r.json())
}

fn names(listed: &Value) -> Vec<String> {
    let mut names: Vec<String> = listed["pipelines"]
        .as_array()
        .expect("pipelines")
        .iter()
        .map(|p| p["name"].as_str().expect("name").to_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn each_key_may_do_what_its_principal_role_allows_on_each_pipeline() {
    let dir = tempfile::tempdir().expect("temp");
    let src = dir.path().join("src");
    std::fs::create_dir_all(&src).expect("src");
    std::fs::write(src.join("greeting.txt"), "hello").expect("greeting");
    let server = Server::start(&dir.path().join("server"));
    // The keys file's pair, which no principal names: an admin.
    server.ok(
        "CreatePipeline",
        json!({"pipeline": pipeline("release-web", &src)}),
    );
    server.ok(
        "CreatePipeline",
        json!({"pipeline": pipeline("infra", &src)}),
    );

    // People added while the server runs.
    let viewer = server.add_principal("vera", &["*=viewer"]);
    let releaser = server.add_principal("rel", &["*=viewer", "release-*=operator"]);
    let web_only = server.add_principal("wes", &["release-*=viewer"]);

    // A viewer reads everything and changes nothing.
    let (status, state) = call(
        &server,
        &viewer,
        "GetPipelineState",
        json!({"name": "infra"}),
    );
    assert_eq!(status, 200, "{state}");
    let (status, listed) = call(&server, &viewer, "ListPipelines", json!({}));
    assert_eq!(status, 200, "{listed}");
    assert_eq!(names(&listed), ["infra", "release-web"]);
    let (status, refused) = call(
        &server,
        &viewer,
        "StartPipelineExecution",
        json!({"name": "infra"}),
    );
    assert_eq!(status, 400, "{refused}");
    assert_eq!(refused["__type"], "AccessDeniedException", "{refused}");
    let message = refused["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("vera")
            && message.contains("codepipeline:StartPipelineExecution")
            && message.contains("pipeline infra")
            && message.contains("needs operator")
            && message.contains("vera is viewer there"),
        "{message}"
    );

    // An operator of release-* starts and steers those, and only reads the rest.
    let (status, started) = call(
        &server,
        &releaser,
        "StartPipelineExecution",
        json!({"name": "release-web"}),
    );
    assert_eq!(status, 200, "{started}");
    let id = started["pipelineExecutionId"].as_str().expect("id");
    assert_eq!(server.wait_done("release-web", id), "Succeeded");
    let (status, execution) = call(
        &server,
        &releaser,
        "GetPipelineExecution",
        json!({"pipelineName": "release-web", "pipelineExecutionId": id}),
    );
    assert_eq!(status, 200, "{execution}");
    assert_eq!(
        execution["pipelineExecution"]["trigger"]["triggerDetail"], "rel",
        "started by the principal's name: {execution}"
    );
    let (status, refused) = call(
        &server,
        &releaser,
        "StartPipelineExecution",
        json!({"name": "infra"}),
    );
    assert_eq!(
        (status, refused["__type"].clone()),
        (400, json!("AccessDeniedException"))
    );
    let (status, refused) = call(
        &server,
        &releaser,
        "DeletePipeline",
        json!({"name": "release-web"}),
    );
    assert_eq!(status, 400, "{refused}");
    assert!(
        refused["message"]
            .as_str()
            .unwrap_or_default()
            .contains("needs admin"),
        "{refused}"
    );
    // A transition switched by an operator says who switched it.
    let (status, body) = call(
        &server,
        &releaser,
        "DisableStageTransition",
        json!({"pipelineName": "release-web", "stageName": "Build", "transitionType": "Inbound", "reason": "freeze"}),
    );
    assert_eq!(status, 200, "{body}");
    let state = server.ok("GetPipelineState", json!({"name": "release-web"}));
    let t = &state["stageStates"][1]["inboundTransitionState"];
    assert_eq!(t["lastChangedBy"], "rel", "{state}");
    assert_eq!(t["disabledReason"], "freeze", "{state}");

    // Job workers serve every pipeline: they need operator on `*`.
    let (status, refused) = call(
        &server,
        &releaser,
        "PollForJobs",
        json!({"actionTypeId": {"category": "Build", "owner": "Custom", "provider": "Mine", "version": "1"}}),
    );
    assert_eq!(
        (status, refused["__type"].clone()),
        (400, json!("AccessDeniedException")),
        "{refused}"
    );

    // Someone who sees only release-* lists only those.
    let (status, listed) = call(&server, &web_only, "ListPipelines", json!({}));
    assert_eq!(status, 200, "{listed}");
    assert_eq!(names(&listed), ["release-web"]);
    let (status, refused) = call(&server, &web_only, "GetPipeline", json!({"name": "infra"}));
    assert_eq!(
        (status, refused["__type"].clone()),
        (400, json!("AccessDeniedException"))
    );

    // The admin of the keys file from before principals still does everything.
    server.ok("DeletePipeline", json!({"name": "infra"}));

    // `sluice principals list` shows who is who.
    let out = server
        .local()
        .args(["principals", "list", "--keys"])
        .arg(server.keys_path())
        .output()
        .expect("list");
    let listed = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{listed}");
    assert!(
        listed.contains("rel\troles: *=viewer release-*=operator"),
        "{listed}"
    );
    assert!(listed.contains(&viewer.0), "{listed}");

    // New roles apply at once; a removed key stops working at once.
    let out = server
        .local()
        .args([
            "principals",
            "add",
            "vera",
            "--role",
            "*=operator",
            "--keys",
        ])
        .arg(server.keys_path())
        .output()
        .expect("add");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (status, started) = call(
        &server,
        &viewer,
        "StartPipelineExecution",
        json!({"name": "release-web"}),
    );
    assert_eq!(status, 200, "{started}");
    let out = server
        .local()
        .args(["keys", "remove", &viewer.0, "--keys"])
        .arg(server.keys_path())
        .output()
        .expect("remove");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (status, refused) = call(&server, &viewer, "ListPipelines", json!({}));
    assert_eq!(status, 403, "{refused}");
    assert_eq!(
        refused["__type"], "UnrecognizedClientException",
        "{refused}"
    );

    // A principals file that does not read leaves the last good one in force, and the server says why.
    let principals = server.keys_path().with_file_name("principals.yaml");
    let good = std::fs::read_to_string(&principals).expect("principals file");
    std::fs::write(&principals, format!("{good}  bogus: 1\n")).expect("break it");
    let (status, listed) = call(&server, &web_only, "ListPipelines", json!({}));
    assert_eq!(status, 200, "{listed}");
    assert_eq!(names(&listed), ["release-web"]);
    let out = server
        .local()
        .args(["principals", "list", "--keys"])
        .arg(server.keys_path())
        .output()
        .expect("list");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("principals.yaml")
            && err.contains("unknown field `bogus`")
            && err.contains("line "),
        "{err}"
    );
}

#[test]
fn mistakes_in_people_commands_and_files_are_named() {
    let dir = tempfile::tempdir().expect("temp");
    let keys = dir.path().join("keys");
    std::fs::write(
        &keys,
        "AKIDADMIN0000000001 c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0\n",
    )
    .expect("keys");
    let sluice = |args: &[&str]| {
        let out = std::process::Command::new(sluice_tests::sluice_bin())
            .arg("--state-dir")
            .arg(dir.path().join("state"))
            .args(args)
            .arg("--keys")
            .arg(&keys)
            .output()
            .expect("sluice");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr),
        )
    };
    let (ok, text) = sluice(&["principals", "add", "ann"]);
    assert!(!ok && text.contains("at least one --role"), "{text}");
    let (ok, text) = sluice(&["principals", "add", "ann", "--role", "*=owner"]);
    assert!(!ok && text.contains("unknown role `owner`"), "{text}");
    let (ok, text) = sluice(&["principals", "add", "ann", "--role", "web"]);
    assert!(!ok && text.contains("PATTERN=ROLE"), "{text}");
    let (ok, text) = sluice(&["keys", "create", "nobody"]);
    assert!(!ok && text.contains("nobody is not a principal"), "{text}");
    let (ok, text) = sluice(&[
        "principals",
        "add",
        "ann",
        "--role",
        "*=viewer",
        "--group",
        "qa",
    ]);
    assert!(ok, "{text}");
    let (ok, text) = sluice(&["keys", "remove", "AKIDADMIN0000000001"]);
    assert!(
        !ok && text.contains("no key pair"),
        "the last pair stays: {text}"
    );
    let (ok, text) = sluice(&["principals", "remove", "ann"]);
    assert!(ok, "{text}");

    // A server does not start on a principals file that names a key with no secret.
    std::fs::write(
        dir.path().join("principals.yaml"),
        "ann:\n  keys: [AKIDMISSING]\n  roles:\n    \"*\": viewer\n",
    )
    .expect("principals");
    let out = std::process::Command::new(sluice_tests::sluice_bin())
        .arg("--state-dir")
        .arg(dir.path().join("state"))
        .args(["serve", "--bind", "127.0.0.1:0", "--keys"])
        .arg(&keys)
        .output()
        .expect("serve");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("principals.yaml") && err.contains("ann") && err.contains("AKIDMISSING"),
        "{err}"
    );
}
