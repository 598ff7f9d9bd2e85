//! Approval pages of `sluice serve`, through the built binary: the link announced in notifications.jsonl and
//! on stdout, a GET that only shows, a POST that decides once, and the links that are refused (altered,
//! expired, unknown, already used, decided elsewhere).

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sluice_runtime::links;
use sluice_tests::gate_pipeline;
use sluice_tests::served::{now_s, Reply, Server};

/// A server with the `gate` pipeline created.
fn serve_gate(dir: &Path) -> Server {
    let server = Server::start(dir);
    let src = dir.join("src");
    std::fs::create_dir_all(&src).expect("src");
    std::fs::write(src.join("greeting.txt"), "hello").expect("file");
    server.ok(
        "CreatePipeline",
        json!({"pipeline": gate_pipeline(&src, "Ship <b>it</b> & \"go\"?")}),
    );
    server
}

fn start(server: &Server) -> String {
    server.ok("StartPipelineExecution", json!({"name": "gate"}))["pipelineExecutionId"]
        .as_str()
        .expect("execution id")
        .to_owned()
}

/// Waits for the notification of an approval other than `seen`, and returns its message.
fn notification(server: &Server, seen: &[&str]) -> Value {
    let file = server.state().join("notifications.jsonl");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        let found = text
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).expect("a JSON line"))
            .find(|m| {
                !seen.contains(
                    &m["approval"]["token"]
                        .as_str()
                        .expect("a token")
                        .to_owned()
                        .as_str(),
                )
            });
        if let Some(m) = found {
            return m;
        }
        assert!(
            Instant::now() < deadline,
            "no approval notification: {}",
            server.output()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The path and query of the notification's link.
fn link_path(server: &Server, message: &Value) -> String {
    let link = message["approval"]["approvalReviewLink"]
        .as_str()
        .expect("a review link");
    link.strip_prefix(&format!("http://{}", server.host()))
        .unwrap_or_else(|| panic!("{link} is not on this server"))
        .to_owned()
}

fn get(server: &Server, path: &str) -> Reply {
    server.send("GET", path, &[], b"").expect("request")
}

fn post(server: &Server, path: &str, form: &str) -> Reply {
    let headers = [(
        "content-type".to_owned(),
        "application/x-www-form-urlencoded".to_owned(),
    )];
    server
        .send("POST", path, &headers, form.as_bytes())
        .expect("request")
}

/// The latest execution of Approval.Review as GetPipelineState shows it.
fn review_state(server: &Server) -> Value {
    let state = server.ok("GetPipelineState", json!({"name": "gate"}));
    state["stageStates"]
        .as_array()
        .expect("stages")
        .iter()
        .find(|s| s["stageName"] == "Approval")
        .expect("the Approval stage")["actionStates"][0]["latestExecution"]
        .clone()
}

fn assert_page(r: &Reply, status: u16, needle: &str) {
    assert_eq!(r.status, status, "{}", r.body);
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert!(r
        .header("content-security-policy")
        .is_some_and(|c| c.contains("default-src 'none'")));
    assert!(r.body.contains(needle), "{needle:?} not in {}", r.body);
}

fn key(server: &Server) -> Vec<u8> {
    std::fs::read_to_string(server.state().join("approval.key"))
        .expect("the approval key")
        .trim()
        .as_bytes()
        .to_vec()
}

#[test]
fn a_link_shows_the_request_on_get_and_approves_once_on_post() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = serve_gate(dir.path());
    let id = start(&server);

    let m = notification(&server, &[]);
    let a = &m["approval"];
    assert_eq!(
        (&a["pipelineName"], &a["stageName"], &a["actionName"]),
        (&json!("gate"), &json!("Approval"), &json!("Review"))
    );
    assert_eq!(a["customData"], "Ship <b>it</b> & \"go\"?");
    assert_eq!(a["externalEntityLink"], "https://example.com/notes");
    // The execution's console page.
    assert_eq!(
        m["consoleLink"],
        format!("http://{}/pipelines/gate/executions/{id}", server.host())
    );
    assert!(m["region"].is_string());
    // CodePipeline's expiry format, to the minute; seven days ahead.
    let expires = a["expires"].as_str().expect("expires");
    assert_eq!((expires.len(), &expires[16..]), (17, "Z"), "{expires}");
    let token = a["token"].as_str().expect("token");
    assert_eq!(review_state(&server)["token"], token);
    let path = link_path(&server, &m);
    let expiry: i64 = path
        .split("expires=")
        .nth(1)
        .and_then(|r| r.split('&').next())
        .and_then(|e| e.parse().ok())
        .expect("expires in the link");
    assert!((expiry - now_s() - 7 * 24 * 3600).abs() < 120, "{expiry}");
    assert!(server.output().contains(&format!(
        "sluice: approval waiting for gate.Approval.Review: http://{}{path}",
        server.host()
    )));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for file in ["notifications.jsonl", "approval.key", "webhook.secret"] {
            let mode = std::fs::metadata(server.state().join(file))
                .expect("exists")
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "{file} readable by others");
        }
    }

    // GET shows everything, escaped, with both buttons, and acts on nothing however often it is opened.
    for _ in 0..2 {
        let page = get(&server, &path);
        assert_page(&page, 200, "value=\"Approved\"");
        for needle in [
            "value=\"Rejected\"",
            "gate",
            "Approval",
            "Review",
            id.as_str(),
            "Ship &lt;b&gt;it&lt;/b&gt; &amp; &quot;go&quot;?",
            "href=\"https://example.com/notes\"",
            "method=\"post\"",
        ] {
            assert!(
                page.body.contains(needle),
                "{needle} missing: {}",
                page.body
            );
        }
        assert!(!page.body.contains("<b>it"));
    }
    assert_eq!(review_state(&server)["status"], "InProgress");
    assert_eq!(status_now(&server, &id), "InProgress");

    let done = post(&server, &path, "decision=Approved&summary=looks+good");
    assert_page(&done, 200, "Approved");
    assert_eq!(server.wait_done("gate", &id), "Succeeded");
    let review = review_state(&server);
    assert_eq!(review["status"], "Succeeded");
    assert!(
        review["summary"]
            .as_str()
            .is_some_and(|s| s.contains("approval-link") && s.contains("looks good")),
        "{review}"
    );

    // Used once: every later use is Gone and changes nothing.
    let again = post(&server, &path, "decision=Rejected");
    assert_page(&again, 410, "Already decided");
    assert_page(&get(&server, &path), 410, "Already decided");
    assert_eq!(server.wait_done("gate", &id), "Succeeded");

    // An approval decided another way (PutApprovalResult) leaves its link Gone too.
    let second = start(&server);
    let m2 = notification(&server, &[token]);
    let token2 = m2["approval"]["token"].as_str().expect("token").to_owned();
    server.ok(
        "PutApprovalResult",
        json!({
            "pipelineName": "gate", "stageName": "Approval", "actionName": "Review",
            "result": {"summary": "by the API", "status": "Approved"}, "token": token2
        }),
    );
    let path2 = link_path(&server, &m2);
    assert_page(
        &post(&server, &path2, "decision=Rejected"),
        410,
        "Already decided",
    );
    assert_eq!(server.wait_done("gate", &second), "Succeeded");
}

#[test]
fn altered_expired_unknown_and_unreadable_links_are_refused_and_a_good_one_rejects() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = serve_gate(dir.path());
    let id = start(&server);
    let m = notification(&server, &[]);
    let token = m["approval"]["token"].as_str().expect("token").to_owned();
    let path = link_path(&server, &m);

    // An altered signature: 403 for GET and POST.
    let mut tampered = path.clone().into_bytes();
    let last = tampered.len() - 1;
    tampered[last] = if tampered[last] == b'0' { b'1' } else { b'0' };
    let tampered = String::from_utf8(tampered).expect("text");
    assert_page(&get(&server, &tampered), 403, "Link not valid");
    assert_page(
        &post(&server, &tampered, "decision=Approved"),
        403,
        "Link not valid",
    );
    // Another expiry under the same signature is altered too.
    let stretched = path.replace("expires=", "expires=9");
    assert_page(&get(&server, &stretched), 403, "Link not valid");

    // A genuine link whose time is over.
    let key = key(&server);
    let expired = links::path(&key, &token, now_s() - 60);
    assert_page(&get(&server, &expired), 410, "Link expired");
    assert_page(
        &post(&server, &expired, "decision=Approved"),
        410,
        "Link expired",
    );

    // A genuine link for a token that does not exist.
    let unknown = links::path(&key, "no-such-token", now_s() + 600);
    assert_page(&get(&server, &unknown), 404, "No such approval");

    // Unreadable links and forms.
    let no_sig = path.split("&sig=").next().expect("path").to_owned();
    assert_page(&get(&server, &no_sig), 400, "sig is missing");
    assert_page(
        &post(&server, &path, "decision=Maybe"),
        400,
        "Approved or Rejected",
    );
    assert_page(&post(&server, &path, "summary=hm"), 400, "decision");
    let not_form = server
        .send(
            "POST",
            &path,
            &[("content-type".into(), "application/json".into())],
            br#"{"decision":"Approved"}"#,
        )
        .expect("request");
    assert_page(&not_form, 415, "form");
    let long = format!("decision=Approved&summary={}", "x".repeat(600));
    assert_page(&post(&server, &path, &long), 400, "at most 512");

    // None of that acted.
    assert_eq!(review_state(&server)["status"], "InProgress");
    assert_eq!(status_now(&server, &id), "InProgress");

    // The genuine link rejects: the action and the execution fail.
    let done = post(&server, &path, "decision=Rejected&summary=not+now");
    assert_page(&done, 200, "Rejected");
    assert_eq!(server.wait_done("gate", &id), "Failed");
    assert_eq!(review_state(&server)["status"], "Failed");
    assert_page(&get(&server, &path), 410, "rejected");

    // The server kept serving through all of it.
    assert_eq!(get(&server, "/health").status, 200);
}

/// The execution's status now.
fn status_now(server: &Server, id: &str) -> String {
    server.ok(
        "GetPipelineExecution",
        json!({"pipelineName": "gate", "pipelineExecutionId": id}),
    )["pipelineExecution"]["status"]
        .as_str()
        .expect("status")
        .to_owned()
}
