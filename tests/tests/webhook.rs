//! The GitHub-compatible webhook of `sluice serve`, through the built binary: signed pushes start executions
//! (once per delivery id), unsigned or wrongly signed ones start nothing, pushes the trigger filters do not
//! select are skipped with the reason.

use std::path::Path;

use serde_json::{json, Value};
use sluice_runtime::triggers::github_signature;
use sluice_tests::served::{Reply, Server};

fn source(src: &Path) -> Value {
    json!({"name": "Source", "actions": [{
        "name": "Checkout",
        "actionTypeId": {"category": "Source", "owner": "ThirdParty", "provider": "LocalSource", "version": "1"},
        "configuration": {"Path": src.to_string_lossy()},
        "outputArtifacts": [{"name": "Src"}]
    }]})
}

fn build() -> Value {
    json!({"name": "Build", "actions": [{
        "name": "Greet",
        "actionTypeId": {"category": "Compute", "owner": "AWS", "provider": "Commands", "version": "1"},
        "commands": ["cat greeting.txt"],
        "inputArtifacts": [{"name": "Src"}]
    }]})
}

/// A server with `hooked` (V2 triggers: main and release/** branches, not for docs-only changes) and `plain`
/// (no triggers: follows its source's branch, the repository's default).
fn serve(dir: &Path) -> Server {
    let server = Server::start(dir);
    let src = dir.join("src");
    std::fs::create_dir_all(&src).expect("src");
    std::fs::write(src.join("greeting.txt"), "hello").expect("file");
    server.ok(
        "CreatePipeline",
        json!({"pipeline": {
            "name": "hooked",
            "pipelineType": "V2",
            "stages": [source(&src), build()],
            "triggers": [{
                "providerType": "CodeStarSourceConnection",
                "gitConfiguration": {
                    "sourceActionName": "Checkout",
                    "push": [
                        {"branches": {"includes": ["main", "release/**"]}, "filePaths": {"excludes": ["docs/**"]}},
                        {"tags": {"includes": ["v*"]}}
                    ]
                }
            }]
        }}),
    );
    server.ok(
        "CreatePipeline",
        json!({"pipeline": {"name": "plain", "pipelineType": "V2", "stages": [source(&src), build()]}}),
    );
    server
}

fn push_payload(git_ref: &str, files: &[&str]) -> Vec<u8> {
    json!({
        "ref": git_ref,
        "before": "1111111111111111111111111111111111111111",
        "after": "2222222222222222222222222222222222222222",
        "repository": {"full_name": "octo/app", "default_branch": "main"},
        "pusher": {"name": "octocat"},
        "head_commit": {"id": "2222222222222222222222222222222222222222", "message": "change", "modified": files},
        "commits": [{"id": "2222222222222222222222222222222222222222", "message": "change", "modified": files}]
    })
    .to_string()
    .into_bytes()
}

fn secret(server: &Server) -> Vec<u8> {
    std::fs::read_to_string(server.state().join("webhook.secret"))
        .expect("the webhook secret")
        .trim()
        .as_bytes()
        .to_vec()
}

/// A delivery as GitHub sends it; `signature` None signs with the server's secret.
fn deliver(
    server: &Server,
    pipeline: &str,
    event: &str,
    delivery: &str,
    body: &[u8],
    signature: Option<&str>,
) -> Reply {
    let sig = signature.map_or_else(|| github_signature(&secret(server), body), str::to_owned);
    let mut headers = vec![
        ("content-type".to_owned(), "application/json".to_owned()),
        ("user-agent".to_owned(), "GitHub-Hookshot/test".to_owned()),
        ("x-github-event".to_owned(), event.to_owned()),
        ("x-github-delivery".to_owned(), delivery.to_owned()),
    ];
    if !sig.is_empty() {
        headers.push(("x-hub-signature-256".to_owned(), sig));
    }
    server
        .send("POST", &format!("/webhooks/{pipeline}"), &headers, body)
        .expect("request")
}

fn executions(server: &Server, pipeline: &str) -> Vec<Value> {
    server.ok("ListPipelineExecutions", json!({"pipelineName": pipeline}))
        ["pipelineExecutionSummaries"]
        .as_array()
        .expect("summaries")
        .clone()
}

fn started(r: &Reply) -> String {
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("content-type"), Some("application/json"));
    let body = r.json();
    assert_eq!(body["started"], true, "{body}");
    body["pipelineExecutionId"]
        .as_str()
        .expect("an execution id")
        .to_owned()
}

fn skipped(r: &Reply) -> String {
    assert_eq!(r.status, 200, "{}", r.body);
    let body = r.json();
    assert_eq!(body["started"], false, "{body}");
    assert!(body.get("pipelineExecutionId").is_none(), "{body}");
    body["reason"].as_str().expect("a reason").to_owned()
}

#[test]
fn a_signed_push_starts_one_execution_and_its_redelivery_none() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = serve(dir.path());
    let body = push_payload("refs/heads/main", &["src/app.rs"]);
    let delivery = "72d3162e-cc78-11e3-81ab-4c9367dc0958";

    let first = deliver(&server, "hooked", "push", delivery, &body, None);
    let id = started(&first);
    assert_eq!(first.json()["triggerType"], "WebhookV2");
    let listed = executions(&server, "hooked");
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["pipelineExecutionId"], id.as_str());
    assert_eq!(
        listed[0]["trigger"],
        json!({"triggerType": "WebhookV2", "triggerDetail": delivery})
    );

    // GitHub redelivers the same id: the first execution is the answer, and nothing new starts.
    for _ in 0..2 {
        let again = deliver(&server, "hooked", "push", delivery, &body, None);
        assert_eq!(again.status, 200, "{}", again.body);
        let again = again.json();
        assert_eq!(again["duplicate"], true, "{again}");
        assert_eq!(again["started"], false, "{again}");
        assert_eq!(again["pipelineExecutionId"], id.as_str());
    }
    assert_eq!(executions(&server, "hooked").len(), 1);
    assert_eq!(server.wait_done("hooked", &id), "Succeeded");

    // A new delivery id is a new push.
    let other = deliver(&server, "hooked", "push", "delivery-2", &body, None);
    assert_ne!(started(&other), id);
    assert_eq!(executions(&server, "hooked").len(), 2);
}

#[test]
fn unsigned_or_wrongly_signed_deliveries_start_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = serve(dir.path());
    let body = push_payload("refs/heads/main", &["src/app.rs"]);

    let unsigned = deliver(&server, "hooked", "push", "d-1", &body, Some(""));
    assert_eq!(unsigned.status, 401, "{}", unsigned.body);
    assert!(unsigned.json()["message"]
        .as_str()
        .is_some_and(|m| m.contains("X-Hub-Signature-256")));

    let wrong_secret = github_signature(b"not the secret", &body);
    let r = deliver(&server, "hooked", "push", "d-2", &body, Some(&wrong_secret));
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(r.json()["error"], "InvalidSignature");

    // Signed for another body.
    let other = push_payload("refs/heads/release/1", &["src/app.rs"]);
    let swapped = github_signature(&secret(&server), &other);
    let r = deliver(&server, "hooked", "push", "d-3", &body, Some(&swapped));
    assert_eq!(r.status, 403, "{}", r.body);

    let r = deliver(&server, "hooked", "push", "d-4", &body, Some("sha1=abc"));
    assert_eq!(r.status, 403, "{}", r.body);

    // Refused before the pipeline is even looked up.
    let r = deliver(&server, "nope", "push", "d-5", &body, Some(&wrong_secret));
    assert_eq!(r.status, 403, "{}", r.body);

    assert!(executions(&server, "hooked").is_empty());
    assert_eq!(
        server
            .send("GET", "/health", &[], b"")
            .expect("health")
            .status,
        200
    );
}

#[test]
fn pings_unknown_pipelines_and_bad_payloads_get_clear_answers() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = serve(dir.path());

    let ping = deliver(
        &server,
        "hooked",
        "ping",
        "p-1",
        br#"{"zen":"Keep it logically awesome.","hook_id":1}"#,
        None,
    );
    assert_eq!(ping.status, 200, "{}", ping.body);
    assert_eq!(ping.json()["message"], "pong");

    let body = push_payload("refs/heads/main", &["a"]);
    let r = deliver(&server, "nope", "push", "p-2", &body, None);
    assert_eq!(r.status, 404, "{}", r.body);
    assert!(r.json()["message"]
        .as_str()
        .is_some_and(|m| m.contains("nope")));

    let r = deliver(&server, "hooked", "push", "p-3", b"{\"ref\": ", None);
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.json()["message"]
        .as_str()
        .is_some_and(|m| m.contains("not JSON")));

    let r = deliver(
        &server,
        "hooked",
        "push",
        "p-4",
        br#"{"ref": "refs/heads/main"}"#,
        None,
    );
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.json()["message"], "push payload: after is missing");

    let r = deliver(&server, "hooked", "push", "bad id!", &body, None);
    assert_eq!(r.status, 400, "{}", r.body);

    let r = deliver(&server, "hooked", "issues", "p-5", b"{}", None);
    assert!(skipped(&r).contains("issues events are not handled"));

    let r = server
        .send("GET", "/webhooks/hooked", &[], b"")
        .expect("request");
    assert_eq!(r.status, 405, "{}", r.body);

    assert!(executions(&server, "hooked").is_empty());
}

#[test]
fn pushes_the_filters_do_not_select_are_skipped_with_the_reason() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = serve(dir.path());

    let r = deliver(
        &server,
        "hooked",
        "push",
        "s-1",
        &push_payload("refs/heads/dev", &["src/a.rs"]),
        None,
    );
    let reason = skipped(&r);
    assert!(
        reason.contains("branch dev matches none of the includes"),
        "{reason}"
    );

    let r = deliver(
        &server,
        "hooked",
        "push",
        "s-2",
        &push_payload("refs/heads/main", &["docs/guide.md"]),
        None,
    );
    let reason = skipped(&r);
    assert!(reason.contains("filePaths"), "{reason}");

    let r = deliver(
        &server,
        "hooked",
        "push",
        "s-3",
        &push_payload("refs/tags/nightly", &[]),
        None,
    );
    let reason = skipped(&r);
    assert!(reason.contains("tag nightly"), "{reason}");
    assert!(executions(&server, "hooked").is_empty());

    // What the filters select does start.
    started(&deliver(
        &server,
        "hooked",
        "push",
        "s-4",
        &push_payload("refs/heads/release/2024/q1", &["src/a.rs"]),
        None,
    ));
    started(&deliver(
        &server,
        "hooked",
        "push",
        "s-5",
        &push_payload("refs/tags/v1.0.0", &[]),
        None,
    ));
    assert_eq!(executions(&server, "hooked").len(), 2);

    // Without triggers: the source's branch (here the repository's default), recorded as Webhook.
    let r = deliver(
        &server,
        "plain",
        "push",
        "s-6",
        &push_payload("refs/heads/dev", &["a"]),
        None,
    );
    assert!(skipped(&r).contains("follows main"));
    let r = deliver(
        &server,
        "plain",
        "push",
        "s-7",
        &push_payload("refs/heads/main", &["a"]),
        None,
    );
    started(&r);
    assert_eq!(r.json()["triggerType"], "Webhook");

    // GitHub's form content type: the JSON is the payload field, the signature covers the raw form.
    let json = String::from_utf8(push_payload("refs/heads/main", &["b"])).expect("text");
    let form = format!("payload={}", percent_encode(&json));
    let sig = github_signature(&secret(&server), form.as_bytes());
    let headers = [
        (
            "content-type".to_owned(),
            "application/x-www-form-urlencoded".to_owned(),
        ),
        ("x-github-event".to_owned(), "push".to_owned()),
        ("x-github-delivery".to_owned(), "s-8".to_owned()),
        ("x-hub-signature-256".to_owned(), sig),
    ];
    let r = server
        .send("POST", "/webhooks/plain", &headers, form.as_bytes())
        .expect("request");
    started(&r);
    let listed = executions(&server, "plain");
    assert_eq!(listed.len(), 2);
    assert!(listed
        .iter()
        .all(|e| e["trigger"]["triggerType"] == "Webhook"));
}

fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
