//! Approval rules through the API of the built binary (`sluice serve`): principals with groups made with
//! `sluice principals add` and `sluice keys create`, a two-of-three approval decided by PutApprovalResult,
//! the starter's own approval and a non-approver's refused with ValidationException saying why, and the
//! progress in GetPipelineState and ListActionExecutions; and a two-of-three approval decided through each
//! approver's own link from the notification and the console's "waiting for you" page in Chromium; and a
//! reminder sent once when due, marked as one, its link still deciding.

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sluice_tests::browser::Browser;
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

/// A `sluice serve` in `dir` and the gate pipeline (source, Approval.Review, Build) over a folder of its own,
/// to be given its approval rules and created.
fn gate_server(dir: &std::path::Path) -> (Server, Value) {
    let server = Server::start(dir);
    let src = dir.join("src");
    std::fs::create_dir_all(&src).expect("src");
    std::fs::write(src.join("greeting.txt"), "hello").expect("file");
    (server, gate_pipeline(&src, "Ship it?"))
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
    let (server, mut pipeline) = gate_server(dir.path());
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

/// The approver links of the newest approval message `sluice serve` appended to its notifications file, by
/// principal, waiting for one.
fn approver_links(server: &Server) -> Vec<(String, String)> {
    let file = server.state().join("notifications.jsonl");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        let newest = text
            .lines()
            .rev()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .find(|m| m["approval"]["approverLinks"].is_array());
        if let Some(message) = newest {
            return message["approval"]["approverLinks"]
                .as_array()
                .expect("links")
                .iter()
                .map(|l| {
                    (
                        l["principal"].as_str().expect("principal").to_owned(),
                        l["approvalReviewLink"].as_str().expect("link").to_owned(),
                    )
                })
                .collect();
        }
        assert!(
            Instant::now() < deadline,
            "no approver links in {}: {}",
            file.display(),
            server.output()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// POSTs a decision through a link, as its page's form does.
fn decide_by_link(server: &Server, link: &str, decision: &str) -> Reply {
    let path = link
        .strip_prefix(&server.url())
        .expect("a link of this server");
    server
        .send(
            "POST",
            path,
            &[(
                "content-type".into(),
                "application/x-www-form-urlencoded".into(),
            )],
            format!("decision={decision}&summary=from+my+mail").as_bytes(),
        )
        .expect("the link answers")
}

#[test]
fn two_of_three_through_each_approvers_link_and_the_consoles_waiting_page_in_chromium() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (server, mut pipeline) = gate_server(dir.path());
    let config = &mut pipeline["stages"][1]["actions"][0]["configuration"];
    config["Approvers"] = json!("alice,group:leads");
    config["RequiredApprovals"] = json!("2");
    server.ok("CreatePipeline", json!({"pipeline": pipeline}));
    let _alice = person(&server, "alice", &[]);
    let bob = person(&server, "bob", &["leads"]);
    let carol = person(&server, "carol", &["leads"]);
    let _dave = person(&server, "dave", &["leads"]);

    let started = call(
        &server,
        &carol,
        "StartPipelineExecution",
        json!({"name": "gate"}),
    );
    assert_eq!(started.status, 200, "{}", started.body);
    let id = started.json()["pipelineExecutionId"]
        .as_str()
        .expect("id")
        .to_owned();
    let links = approver_links(&server);
    let names: Vec<&str> = links.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        ["alice", "bob", "dave"],
        "one link per approver, the leads expanded, carol (who started it) left out"
    );
    let link_of = |name: &str| {
        links
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, l)| l.clone())
            .expect("a link")
    };

    // GET never acts: it shows who the link decides as.
    let shown = server
        .send(
            "GET",
            link_of("alice")
                .strip_prefix(&server.url())
                .expect("a link of this server"),
            &[],
            b"",
        )
        .expect("page");
    assert_eq!(shown.status, 200, "{}", shown.body);
    assert!(
        shown.body.contains("Deciding as</dt><dd>alice"),
        "{}",
        shown.body
    );
    let first = decide_by_link(&server, &link_of("alice"), "Approved");
    assert_eq!(first.status, 200, "{}", first.body);
    assert!(
        first.body.contains("1 of 2 approvals: alice"),
        "{}",
        first.body
    );
    let again = decide_by_link(&server, &link_of("alice"), "Approved");
    assert_eq!(again.status, 410, "a link decides once: {}", again.body);
    assert_eq!(review(&server)["summary"], "1 of 2 approvals: alice");

    // bob signs in to the console: the approval waits for him, with alice's decision so far.
    let browser = Browser::start(1280, 900);
    browser.goto(&format!("{}/waiting", server.url()));
    browser.wait_for("#keyId", 10);
    browser.type_into("#keyId", &bob.0);
    browser.type_into("#secret", &bob.1);
    browser.click("#sign-in");
    browser.wait_for(
        "[data-list=mine] [data-approval='gate.Approval.Review']",
        10,
    );
    let decisions = browser.text("[data-list=mine] .decisions");
    assert!(
        decisions.contains("Approved by alice") && decisions.contains("from my mail"),
        "{decisions}"
    );
    browser.assert_accessible("the waiting-for-you page");
    browser.type_into("[data-list=mine] textarea", "second approval");
    browser.click("[data-list=mine] button[value=Approved]");
    browser.wait_for("[data-list=mine] p.muted", 10);
    assert_eq!(server.wait_done("gate", &id), "Succeeded");
    let done = review(&server);
    assert_eq!(
        done["summary"],
        "Approved by alice, bob (2 of 2 approvals). second approval"
    );
    // Every link is spent once the approval is settled.
    let late = decide_by_link(&server, &link_of("dave"), "Approved");
    assert_eq!(late.status, 410, "{}", late.body);
}

/// The notices of one approval token in `notifications.jsonl`, oldest first.
fn notices_of(server: &Server, token: &str) -> Vec<Value> {
    let text =
        std::fs::read_to_string(server.state().join("notifications.jsonl")).unwrap_or_default();
    text.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|m| m["approval"]["token"] == token)
        .collect()
}

#[test]
fn sluice_serve_sends_a_due_reminder_once_marked_as_one() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (server, mut pipeline) = gate_server(dir.path());
    // The shortest wait the rules allow on the real clock: a reminder 29 minutes before a 30-minute deadline.
    let config = &mut pipeline["stages"][1]["actions"][0]["configuration"];
    config["Deadline"] = json!("30m");
    config["Reminders"] = json!("29m");
    server.ok("CreatePipeline", json!({"pipeline": pipeline}));
    server.ok("StartPipelineExecution", json!({"name": "gate"}));
    let token = review(&server)["token"]
        .as_str()
        .expect("a token")
        .to_owned();

    let started = Instant::now();
    let notices = loop {
        let notices = notices_of(&server, &token);
        if notices.len() >= 2 {
            break notices;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "no reminder: {notices:?}\n{}",
            server.output()
        );
        std::thread::sleep(Duration::from_millis(250));
    };
    assert!(
        started.elapsed() > Duration::from_secs(30),
        "the reminder came before it fell due"
    );
    let (first, reminder) = (&notices[0], &notices[1]);
    assert!(first["approval"].get("reminder").is_none(), "{first}");
    assert_eq!(
        reminder["approval"]["reminder"]["minutesBeforeDeadline"], 29,
        "{reminder}"
    );
    assert_eq!(
        reminder["approval"]["expires"],
        first["approval"]["expires"]
    );
    assert!(
        server.output().contains(
            "approval waiting for gate.Approval.Review (reminder: 29m before its deadline)"
        ),
        "{}",
        server.output()
    );
    // Sent once.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(notices_of(&server, &token).len(), 2);

    // The reminder's link still decides.
    let link = reminder["approval"]["approvalReviewLink"]
        .as_str()
        .expect("a link");
    let answer = decide_by_link(&server, link, "Approved");
    assert_eq!(answer.status, 200, "{}", answer.body);
    let decided = Instant::now();
    while review(&server)["status"] != "Succeeded" {
        assert!(
            decided.elapsed() < Duration::from_secs(30),
            "{}",
            server.output()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
