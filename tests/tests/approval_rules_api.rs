//! Approval rules through the API of the built binary (`sluice serve`): principals with groups made with
//! `sluice principals add` and `sluice keys create`, a two-of-three approval decided by PutApprovalResult,
//! the starter's own approval and a non-approver's refused with ValidationException saying why, and the
//! progress in GetPipelineState and ListActionExecutions.

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sluice_tests::gate_pipeline;
use sluice_tests::served::{now_s, Reply, Server};

/// A principal with the operator role everywhere and these groups; answers its key id and secret.
fn person(server: &Server, name: &str, groups: &[&str]) -> (String, String) {
    let mut add = server.local();
    add.args(["principals", "add", name, "--role", "*=operator"])
        .arg("--keys")
        .arg(server.keys_path());
    for g in groups {
        add.args(["--group", g]);
    }
    let out = add.output().expect("sluice principals add");
    assert!(
        out.status.success(),
        "principals add: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = server
        .local()
        .args(["keys", "create", name])
        .arg("--keys")
        .arg(server.keys_path())
        .output()
        .expect("sluice keys create");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "keys create: {text}");
    let after = |label: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}: {label} ")))
            .unwrap_or_else(|| panic!("no {label} in {text}"))
            .trim()
            .to_owned()
    };
    (after("access key id"), after("secret access key"))
}

fn call(server: &Server, who: &(String, String), operation: &str, body: Value) -> Reply {
    server.call_as(operation, &body, &who.0, &who.1, now_s())
}

/// The Approval.Review action's state, once it has a token.
fn review(server: &Server) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let state = server.ok("GetPipelineState", json!({"name": "gate"}));
        let action = state["stageStates"]
            .as_array()
            .expect("stages")
            .iter()
            .find(|s| s["stageName"] == "Approval")
            .expect("the Approval stage")["actionStates"][0]["latestExecution"]
            .clone();
        if action["token"].is_string() || action["status"] != "InProgress" && !action.is_null() {
            return action;
        }
        assert!(
            Instant::now() < deadline,
            "no approval: {}",
            server.output()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn approve(server: &Server, who: &(String, String), token: &str) -> Reply {
    call(
        server,
        who,
        "PutApprovalResult",
        json!({"pipelineName": "gate", "stageName": "Approval", "actionName": "Review",
               "result": {"summary": "fine by me", "status": "Approved"}, "token": token}),
    )
}

#[test]
fn two_of_three_through_the_api_refusing_the_starter_and_strangers() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = Server::start(dir.path());
    let src = dir.path().join("src");
    std::fs::create_dir_all(&src).expect("src");
    std::fs::write(src.join("greeting.txt"), "hello").expect("file");
    let mut pipeline = gate_pipeline(&src, "Ship it?");
    let config = &mut pipeline["stages"][1]["actions"][0]["configuration"];
    config["Approvers"] = json!("alice,bob,group:leads");
    config["RequiredApprovals"] = json!("2");
    server.ok("CreatePipeline", json!({"pipeline": pipeline}));

    // A rule that cannot work is refused where it is.
    let mut bad = pipeline.clone();
    bad["stages"][1]["actions"][0]["configuration"]["Approvers"] = json!("alice,bob");
    bad["stages"][1]["actions"][0]["configuration"]["RequiredApprovals"] = json!("3");
    let refused = server.call("UpdatePipeline", &json!({"pipeline": bad}));
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert!(
        refused
            .body
            .contains("stages[1].actions[0].configuration.RequiredApprovals")
            && refused
                .body
                .contains("3 approvals required, but Approvers names only 2"),
        "{}",
        refused.body
    );

    let alice = person(&server, "alice", &[]);
    let bob = person(&server, "bob", &[]);
    let carol = person(&server, "carol", &["leads"]);
    let erin = person(&server, "erin", &["ops"]);
    let started = call(
        &server,
        &alice,
        "StartPipelineExecution",
        json!({"name": "gate"}),
    );
    assert_eq!(started.status, 200, "{}", started.body);
    let id = started.json()["pipelineExecutionId"]
        .as_str()
        .expect("id")
        .to_owned();
    let token = review(&server)["token"].as_str().expect("token").to_owned();

    let own = approve(&server, &alice, &token);
    assert_eq!(own.status, 400, "{}", own.body);
    assert_eq!(own.json()["__type"], "ValidationException");
    assert!(
        own.json()["message"]
            .as_str()
            .is_some_and(|m| m.contains(&format!(
                "alice started execution {id} and may not approve it"
            ))),
        "{}",
        own.body
    );
    let stranger = approve(&server, &erin, &token);
    assert_eq!(
        stranger.json()["__type"],
        "ValidationException",
        "{}",
        stranger.body
    );
    assert!(
        stranger
            .body
            .contains("erin (in groups ops) is not one of the approvers"),
        "{}",
        stranger.body
    );

    let first = approve(&server, &bob, &token);
    assert_eq!(first.status, 200, "{}", first.body);
    let waiting = review(&server);
    assert_eq!(waiting["status"], "InProgress");
    assert_eq!(waiting["summary"], "1 of 2 approvals: bob");
    let listed = server.ok(
        "ListActionExecutions",
        json!({"pipelineName": "gate", "filter": {"pipelineExecutionId": id}}),
    );
    let summary_of = |listed: &Value| {
        listed["actionExecutionDetails"]
            .as_array()
            .expect("details")
            .iter()
            .find(|d| d["actionName"] == "Review")
            .expect("Review")["output"]["executionResult"]["externalExecutionSummary"]
            .clone()
    };
    assert_eq!(summary_of(&listed), "1 of 2 approvals: bob");

    let second = approve(&server, &carol, &token);
    assert_eq!(second.status, 200, "{}", second.body);
    assert_eq!(server.wait_done("gate", &id), "Succeeded");
    let listed = server.ok(
        "ListActionExecutions",
        json!({"pipelineName": "gate", "filter": {"pipelineExecutionId": id}}),
    );
    assert_eq!(
        summary_of(&listed),
        "Approved by bob, carol (2 of 2 approvals). fine by me"
    );
    let late = approve(&server, &erin, &token);
    assert_eq!(late.status, 400, "{}", late.body);
}
