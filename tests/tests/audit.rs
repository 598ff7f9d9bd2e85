//! The audit log through the built binary: calls made to `sluice serve` by principals (allowed and refused),
//! through its console and through the in-process client each leave one entry saying who, what, when and from
//! where; `sluice audit` lists them newest first, by pipeline, since a time and page by page; the console's
//! audit pages show each reader only what it may see. And the store side over the SQLite store: retention via
//! `expires_at`, paging across many entries.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use serde_json::{json, Value};
use sluice_runtime::audit::{AuditEntry, AuditQuery, AuditSettings, Outcome};
use sluice_runtime::Runtime;
use sluice_tests::embedded::{wire, TestEnv};
use sluice_tests::served::{now_s, Server, KEY_ID};

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

/// `sluice audit ARGS --output json` over the server's state folder: the entries and the next token.
fn audit(server: &Server, args: &[&str]) -> (Vec<Value>, Option<String>) {
    let out = audit_command(server, args)
        .arg("--output")
        .arg("json")
        .output()
        .expect("sluice audit");
    assert!(
        out.status.success(),
        "sluice audit {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let page: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let entries = page["entries"].as_array().expect("entries").clone();
    (entries, page["nextToken"].as_str().map(str::to_owned))
}

fn audit_command(server: &Server, args: &[&str]) -> Command {
    let mut cmd = server.local();
    cmd.arg("audit").args(args).env_remove("SLUICE_ENDPOINT");
    cmd
}

fn operations(entries: &[Value]) -> Vec<String> {
    entries
        .iter()
        .map(|e| e["operation"].as_str().expect("operation").to_owned())
        .collect()
}

/// The session cookie and CSRF token of a console sign-in with a key pair.
fn sign_in(server: &Server, key: &(String, String)) -> (String, String) {
    let body: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("keyId", &key.0)
        .append_pair("secret", &key.1)
        .append_pair("next", "/")
        .finish();
    let r = server
        .send(
            "POST",
            "/sign-in",
            &form_headers(server, None),
            body.as_bytes(),
        )
        .expect("sign in");
    assert_eq!(r.status, 303, "{}", r.body);
    let cookie = r
        .header("set-cookie")
        .and_then(|c| c.split(';').next())
        .expect("a session cookie")
        .to_owned();
    let page = get(server, &cookie, "/");
    let csrf = page
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a CSRF token in the page")
        .to_owned();
    (cookie, csrf)
}

fn form_headers(server: &Server, cookie: Option<&str>) -> Vec<(String, String)> {
    let mut h = vec![
        (
            "content-type".to_owned(),
            "application/x-www-form-urlencoded".to_owned(),
        ),
        ("origin".to_owned(), server.url()),
    ];
    if let Some(c) = cookie {
        h.push(("cookie".to_owned(), c.to_owned()));
    }
    h
}

fn get(server: &Server, cookie: &str, path: &str) -> String {
    let r = server
        .send("GET", path, &[("cookie".into(), cookie.to_owned())], b"")
        .expect("page");
    assert_eq!(r.status, 200, "{path}: {}", r.body);
    r.body
}

#[test]
fn the_audit_log_lists_each_call_with_who_what_when_and_from_where() {
    let dir = tempfile::tempdir().expect("temp");
    let src = dir.path().join("src");
    std::fs::create_dir_all(&src).expect("src");
    std::fs::write(src.join("greeting.txt"), "hello").expect("greeting");
    let server = Server::start(&dir.path().join("server"));
    let before_ms = now_s() * 1000 - 1000;
    // The keys file's pair, which no principal names: an admin named by its key id.
    server.ok("CreatePipeline", json!({"pipeline": pipeline("web", &src)}));
    server.ok(
        "CreatePipeline",
        json!({"pipeline": pipeline("infra", &src)}),
    );
    let olga = server.add_principal("olga", &["*=operator"]);
    let vera = server.add_principal("vera", &["web=viewer"]);

    let started = server.call_as(
        "StartPipelineExecution",
        &json!({"name": "web"}),
        &olga.0,
        &olga.1,
        now_s(),
    );
    assert_eq!(started.status, 200, "{}", started.body);
    let id = started.json()["pipelineExecutionId"]
        .as_str()
        .expect("id")
        .to_owned();
    assert_eq!(server.wait_done("web", &id), "Succeeded");
    let disabled = server.call_as(
        "DisableStageTransition",
        &json!({"pipelineName": "web", "stageName": "Build", "transitionType": "Inbound", "reason": "freeze"}),
        &olga.0,
        &olga.1,
        now_s(),
    );
    assert_eq!(disabled.status, 200, "{}", disabled.body);
    let refused = server.call_as(
        "StartPipelineExecution",
        &json!({"name": "web"}),
        &vera.0,
        &vera.1,
        now_s(),
    );
    assert_eq!(refused.error(400), "AccessDeniedException");
    // Reads leave nothing.
    let read = server.call_as(
        "GetPipelineState",
        &json!({"name": "web"}),
        &vera.0,
        &vera.1,
        now_s(),
    );
    assert_eq!(read.status, 200, "{}", read.body);
    // A call that fails once made is recorded with its error type.
    let missing = server.call("StartPipelineExecution", &json!({"name": "nowhere"}));
    assert_eq!(missing.error(400), "PipelineNotFoundException");

    let (entries, next) = audit(&server, &[]);
    assert_eq!(next, None);
    assert_eq!(
        operations(&entries),
        [
            "StartPipelineExecution",
            "StartPipelineExecution",
            "DisableStageTransition",
            "StartPipelineExecution",
            "CreatePipeline",
            "CreatePipeline"
        ],
        "newest first, reads left out: {entries:#?}"
    );
    let [missing, refused, disabled, started, infra, web] = &entries[..] else {
        unreachable!()
    };
    for e in &entries {
        assert_eq!(e["source"], "127.0.0.1", "{e}");
        let at = e["atMs"].as_i64().expect("atMs");
        assert!(at >= before_ms && at <= now_s() * 1000 + 1000, "{e}");
    }
    assert!(
        entries
            .windows(2)
            .all(|w| w[0]["atMs"].as_i64() >= w[1]["atMs"].as_i64()),
        "{entries:#?}"
    );
    assert_eq!(
        (&web["principal"], &web["pipeline"], &web["outcome"]),
        (&json!(KEY_ID), &json!("web"), &json!("ok")),
        "{web}"
    );
    assert_eq!(web["details"]["version"], 1, "{web}");
    assert_eq!(infra["pipeline"], "infra");
    assert_eq!(
        (
            &started["principal"],
            &started["keyId"],
            &started["pipeline"]
        ),
        (&json!("olga"), &json!(olga.0), &json!("web")),
        "{started}"
    );
    assert_eq!(started["executionId"], id.as_str(), "{started}");
    assert_eq!(started["outcome"], "ok");
    assert_eq!(
        (
            &disabled["principal"],
            &disabled["stage"],
            &disabled["details"]["transitionType"]
        ),
        (&json!("olga"), &json!("Build"), &json!("Inbound")),
        "{disabled}"
    );
    assert_eq!(
        (
            &refused["principal"],
            &refused["keyId"],
            &refused["outcome"],
            &refused["error"]
        ),
        (
            &json!("vera"),
            &json!(vera.0),
            &json!("refused"),
            &json!("AccessDeniedException")
        ),
        "{refused}"
    );
    assert!(
        refused["message"]
            .as_str()
            .unwrap_or_default()
            .contains("needs operator"),
        "{refused}"
    );
    assert_eq!(
        (&missing["outcome"], &missing["error"], &missing["pipeline"]),
        (
            &json!("failed"),
            &json!("PipelineNotFoundException"),
            &json!("nowhere")
        ),
        "{missing}"
    );

    // The text form: one line per call, who (and key), from where, what, how it ended.
    let out = audit_command(&server, &["--pipeline", "web"])
        .output()
        .expect("sluice audit");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 5, "a header and web's four calls:\n{text}");
    assert!(
        lines[0].starts_with("TIME") && lines[0].contains("OUTCOME"),
        "{text}"
    );
    let vera_line = lines[1];
    for part in [
        format!("vera ({})", vera.0).as_str(),
        "127.0.0.1",
        "StartPipelineExecution",
        "refused: AccessDeniedException",
        "web",
    ] {
        assert!(vera_line.contains(part), "{part} in {vera_line}");
    }
    assert!(lines[3].contains(&format!("execution {id}")), "{text}");

    // Page by page, and since a time.
    let (first, token) = audit(&server, &["--pipeline", "web", "--limit", "2"]);
    assert_eq!(
        operations(&first),
        ["StartPipelineExecution", "DisableStageTransition"]
    );
    let token = token.expect("a next token");
    let (second, last) = audit(
        &server,
        &["--pipeline", "web", "--limit", "2", "--next-token", &token],
    );
    assert_eq!(
        operations(&second),
        ["StartPipelineExecution", "CreatePipeline"]
    );
    assert_eq!(last, None);
    std::thread::sleep(std::time::Duration::from_millis(2500));
    // The in-process client (no --endpoint) is audited too: the user's name, from `local`.
    let out = server
        .local()
        .env("USER", "lena")
        .env_remove("SLUICE_ENDPOINT")
        .args(["transition", "enable", "web", "Build"])
        .output()
        .expect("sluice transition");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (recent, _) = audit(&server, &["--since", "2s"]);
    assert_eq!(
        operations(&recent),
        ["EnableStageTransition"],
        "{recent:#?}"
    );
    assert_eq!(
        (&recent[0]["principal"], &recent[0]["source"]),
        (&json!("lena"), &json!("local"))
    );

    // Through the endpoint (ListAuditEvents): each key reads what it may see.
    let remote = |key: Option<&(String, String)>, args: &[&str]| -> Vec<String> {
        let mut cmd = server.cli();
        if let Some((id, secret)) = key {
            cmd.env("AWS_ACCESS_KEY_ID", id)
                .env("AWS_SECRET_ACCESS_KEY", secret);
        }
        let out = cmd
            .args(["audit", "--output", "json"])
            .args(args)
            .output()
            .expect("sluice audit --endpoint");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let page: Value = serde_json::from_slice(&out.stdout).expect("JSON");
        operations(page["entries"].as_array().expect("entries"))
    };
    assert_eq!(remote(None, &[]).len(), 7, "the admin reads every entry");
    assert_eq!(
        remote(Some(&vera), &[]),
        [
            "EnableStageTransition",
            "StartPipelineExecution",
            "DisableStageTransition",
            "StartPipelineExecution",
            "CreatePipeline"
        ],
        "vera views web only"
    );
    assert_eq!(
        remote(None, &["--pipeline", "web", "--limit", "1"]),
        ["EnableStageTransition"]
    );
    let out = server
        .cli()
        .env("AWS_ACCESS_KEY_ID", &vera.0)
        .env("AWS_SECRET_ACCESS_KEY", &vera.1)
        .args(["audit", "--pipeline", "infra"])
        .output()
        .expect("sluice audit --endpoint");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("AccessDeniedException"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Sluice's own access operations are recorded too (the principal's name, never a secret).
    let out = server
        .cli()
        .args(["principals", "add", "pat", "--role", "web=viewer"])
        .output()
        .expect("sluice principals add --endpoint");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (newest, _) = audit(&server, &["--limit", "1"]);
    assert_eq!(
        (
            &newest[0]["operation"],
            &newest[0]["principal"],
            &newest[0]["details"]["principalName"]
        ),
        (&json!("PutPrincipal"), &json!(KEY_ID), &json!("pat")),
        "{newest:#?}"
    );

    // Mistakes are named.
    let out = audit_command(&server, &["--since", "2 weeks"])
        .output()
        .expect("sluice audit");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--since \"2 weeks\": expected"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = audit_command(&server, &["--next-token", "nope"])
        .output()
        .expect("sluice audit");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("page token"));
    let out = audit_command(&server, &[])
        .env("SLUICE_AUDIT_RETENTION_DAYS", "forever")
        .output()
        .expect("sluice audit");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("SLUICE_AUDIT_RETENTION_DAYS=\"forever\"")
    );
}

#[test]
fn the_console_shows_each_reader_the_audit_entries_it_may_see() {
    let dir = tempfile::tempdir().expect("temp");
    let src = dir.path().join("src");
    std::fs::create_dir_all(&src).expect("src");
    std::fs::write(src.join("greeting.txt"), "hello").expect("greeting");
    let server = Server::start(&dir.path().join("server"));
    server.ok("CreatePipeline", json!({"pipeline": pipeline("web", &src)}));
    server.ok(
        "CreatePipeline",
        json!({"pipeline": pipeline("infra", &src)}),
    );
    // A call that names no pipeline: admins only.
    server.ok(
        "CreateCustomActionType",
        json!({"category": "Build", "provider": "Mine", "version": "1",
               "inputArtifactDetails": {"minimumCount": 0, "maximumCount": 1},
               "outputArtifactDetails": {"minimumCount": 0, "maximumCount": 1}}),
    );
    let olga = server.add_principal("olga", &["web=operator"]);
    let vera = server.add_principal("vera", &["web=viewer"]);

    // A change made in the console is recorded as from the console.
    let (cookie, csrf) = sign_in(&server, &olga);
    let body: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("op", "transition")
        .append_pair("stage", "Build")
        .append_pair("reason", "hold")
        .append_pair("csrf", &csrf)
        .finish();
    let r = server
        .send(
            "POST",
            "/pipelines/web/actions",
            &form_headers(&server, Some(&cookie)),
            body.as_bytes(),
        )
        .expect("disable");
    assert_eq!(r.status, 303, "{}", r.body);
    let page = get(&server, &cookie, "/audit");
    assert!(
        page.contains("href=\"/audit\""),
        "the header links the log: {page}"
    );
    let rows: Vec<&str> = page.split("<tr data-operation=").skip(1).collect();
    assert_eq!(rows.len(), 2, "olga sees web's two entries only: {page}");
    assert!(
        rows[0].starts_with("\"DisableStageTransition\"")
            && rows[0].contains("console 127.0.0.1")
            && rows[0].contains(&format!("olga ({})", olga.0)),
        "{}",
        rows[0]
    );
    assert!(rows[1].starts_with("\"CreatePipeline\""), "{}", rows[1]);

    // A viewer: web's entries, not infra's nor the action type's; infra's log is refused.
    let (cookie, _) = sign_in(&server, &vera);
    let page = get(&server, &cookie, "/pipelines/web/audit");
    assert_eq!(page.matches("<tr data-operation=").count(), 2, "{page}");
    let page = get(&server, &cookie, "/audit");
    assert!(
        !page.contains("CreateCustomActionType") && !page.contains(">infra<"),
        "{page}"
    );
    let r = server
        .send(
            "GET",
            "/pipelines/infra/audit",
            &[("cookie".into(), cookie)],
            b"",
        )
        .expect("page");
    assert_eq!(r.status, 403, "{}", r.body);

    // The admin sees everything, paged newest first.
    let admin = (KEY_ID.to_owned(), sluice_tests::served::SECRET.to_owned());
    let (cookie, _) = sign_in(&server, &admin);
    let page = get(&server, &cookie, "/audit");
    let ops: Vec<&str> = page
        .split("<tr data-operation=\"")
        .skip(1)
        .filter_map(|r| r.split('"').next())
        .collect();
    assert_eq!(
        ops,
        [
            "DisableStageTransition",
            "CreateCustomActionType",
            "CreatePipeline",
            "CreatePipeline"
        ],
        "{page}"
    );
}

fn entry(env: &TestEnv, pipeline: Option<&str>, n: usize) -> AuditEntry {
    use sluice_runtime::ports::Env;
    AuditEntry {
        id: env.new_id(),
        at_ms: env.now_ms(),
        principal: format!("p{n}"),
        key_id: None,
        source: "127.0.0.1".into(),
        operation: "StartPipelineExecution".into(),
        pipeline: pipeline.map(str::to_owned),
        stage: None,
        action: None,
        execution_id: None,
        details: Default::default(),
        outcome: Outcome::Ok,
        error: None,
        message: None,
    }
}

async fn page(runtime: &Runtime, query: &AuditQuery) -> (Vec<String>, Option<String>) {
    let page = runtime
        .audit_page(query, &|e: &AuditEntry| e.principal != "p3")
        .await
        .expect("a page");
    let who = page.entries.iter().map(|e| e.principal.clone()).collect();
    (who, page.next)
}

#[tokio::test]
async fn pages_run_newest_first_skip_what_the_reader_may_not_see_and_expire() {
    let dir = tempfile::tempdir().expect("temp");
    let start = 1_900_000_000_000;
    let env = TestEnv::at(start);
    let (runtime, _engine) = wire(dir.path(), Arc::clone(&env));
    for n in 0..7 {
        let pipeline = if n % 2 == 0 { Some("web") } else { None };
        runtime
            .record_audit(&entry(&env, pipeline, n), AuditSettings::default())
            .await
            .expect("recorded");
        env.advance_ms(1000);
    }
    let mut query = AuditQuery {
        limit: 3,
        ..Default::default()
    };
    let (who, next) = page(&runtime, &query).await;
    assert_eq!(who, ["p6", "p5", "p4"]);
    query.after = next;
    let (who, next) = page(&runtime, &query).await;
    assert_eq!(who, ["p2", "p1", "p0"], "p3 is skipped");
    assert_eq!(next, None, "p0 is the oldest: no page after it");
    // A page that fills exactly at a batch's end may be followed by an empty one, never by a repeat.
    query.limit = 6;
    query.after = None;
    let (who, next) = page(&runtime, &query).await;
    assert_eq!(who, ["p6", "p5", "p4", "p2", "p1", "p0"]);
    assert_eq!(next, None);

    let web = AuditQuery {
        pipeline: Some("web".into()),
        limit: 10,
        ..Default::default()
    };
    assert_eq!(page(&runtime, &web).await.0, ["p6", "p4", "p2", "p0"]);
    let since = AuditQuery {
        since_ms: Some(start + 4000),
        limit: 10,
        ..Default::default()
    };
    assert_eq!(page(&runtime, &since).await.0, ["p6", "p5", "p4"]);

    // Written with a retention that has already passed (the SQLite store's clock is the system's), an entry
    // is gone at once, as DynamoDB's TTL makes it gone.
    let env_past = TestEnv::at(now_s() * 1000 - 3 * 86_400_000);
    let old = entry(&env_past, Some("ttl"), 9);
    runtime
        .record_audit(&old, AuditSettings { retention_days: 1 })
        .await
        .expect("recorded");
    let fresh = entry(&TestEnv::at(now_s() * 1000), Some("ttl"), 10);
    runtime
        .record_audit(&fresh, AuditSettings { retention_days: 1 })
        .await
        .expect("recorded");
    let ttl = AuditQuery {
        pipeline: Some("ttl".into()),
        limit: 20,
        ..Default::default()
    };
    assert_eq!(
        page(&runtime, &ttl).await.0,
        ["p10"],
        "the expired entry is gone"
    );
}
