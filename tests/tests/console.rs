//! The console in real headless Chromium (Debian's `chromium` under `chromedriver`), against the built binary's
//! `sluice serve`: signing in, an execution turning green without a reload, approving, retrying a failed stage,
//! disabling a transition, downloading an artifact, opening a log, every page checked with axe-core; and the
//! refusals: no session, a cross-site form, a cookie replayed after signing out, an expired session.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sluice_tests::browser::{screenshots, Browser};
use sluice_tests::served::{Server, KEY_ID, SECRET};

/// Source, then `Build.Run` (a few seconds of work).
fn quick(src: &Path) -> Value {
    json!({
        "name": "quick",
        "pipelineType": "V2",
        "stages": [
            {"name": "Source", "actions": [{
                "name": "Checkout",
                "actionTypeId": {"category": "Source", "owner": "ThirdParty", "provider": "LocalSource", "version": "1"},
                "configuration": {"Path": src.to_string_lossy()},
                "outputArtifacts": [{"name": "Src"}]
            }]},
            {"name": "Build", "actions": [{
                "name": "Run",
                "actionTypeId": {"category": "Compute", "owner": "AWS", "provider": "Commands", "version": "1"},
                "commands": ["sleep 3", "echo built-$(cat greeting.txt)"],
                "inputArtifacts": [{"name": "Src"}]
            }]}
        ]
    })
}

/// Source, a manual approval, then `Build.Check`, which fails until `flag` exists.
fn steer(src: &Path, flag: &Path) -> Value {
    json!({
        "name": "steer",
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
                "configuration": {"CustomData": "Ship it?"}
            }]},
            {"name": "Build", "actions": [
                {
                    "name": "Check",
                    "actionTypeId": {"category": "Compute", "owner": "AWS", "provider": "Commands", "version": "1"},
                    "commands": ["cat greeting.txt", format!("test -f {}", flag.display())],
                    "inputArtifacts": [{"name": "Src"}]
                },
                {
                    "name": "Lint",
                    "actionTypeId": {"category": "Compute", "owner": "AWS", "provider": "Commands", "version": "1"},
                    "commands": ["echo lint"],
                    "inputArtifacts": [{"name": "Src"}]
                },
                {
                    "name": "Package",
                    "runOrder": 2,
                    "actionTypeId": {"category": "Compute", "owner": "AWS", "provider": "Commands", "version": "1"},
                    "commands": ["echo package"],
                    "inputArtifacts": [{"name": "Src"}]
                }
            ]}
        ]
    })
}

/// A server with the two pipelines; the source folder, and the flag `steer`'s build waits for.
fn served(dir: &Path, env: &[(&str, &str)]) -> (Server, std::path::PathBuf) {
    let src = dir.join("src");
    std::fs::create_dir_all(&src).expect("src");
    std::fs::write(src.join("greeting.txt"), "hello").expect("greeting");
    let flag = dir.join("flag");
    let server = Server::start_env(&dir.join("server"), true, env);
    server.ok("CreatePipeline", json!({"pipeline": quick(&src)}));
    server.ok("CreatePipeline", json!({"pipeline": steer(&src, &flag)}));
    (server, flag)
}

fn shot(browser: &Browser, name: &str) {
    browser.screenshot(&screenshots().join(name));
}

/// Signs in through the sign-in page the browser was sent to.
fn sign_in(browser: &Browser) {
    browser.type_into("#keyId", KEY_ID);
    browser.type_into("#secret", SECRET);
    browser.click("#sign-in");
}

fn wait_file(dir: &Path, extension: &str) -> std::path::PathBuf {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let found = std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|e| e == extension));
        if let Some(path) = found {
            return path;
        }
        assert!(
            Instant::now() < deadline,
            "nothing downloaded into {}",
            dir.display()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn a_signed_in_key_watches_and_steers_pipelines_in_chromium() {
    let dir = tempfile::tempdir().expect("temp");
    let (server, flag) = served(dir.path(), &[]);
    let base = server.url();
    let browser = Browser::start(1280, 1000);

    // Without a session every page sends the browser to sign in, and back afterwards.
    browser.goto(&format!("{base}/pipelines/quick"));
    browser.wait_for("#keyId", 10);
    assert!(
        browser.url().contains("/sign-in?next="),
        "{}",
        browser.url()
    );
    browser.assert_accessible("the sign-in page");
    shot(&browser, "sign-in.png");
    sign_in(&browser);
    browser.wait_for("form[data-op=start]", 10);
    assert!(
        browser.url().ends_with("/pipelines/quick"),
        "{}",
        browser.url()
    );
    let cookie = browser
        .cookies()
        .into_iter()
        .find(|c| c["name"] == "sluice_session")
        .expect("a session cookie");
    assert_eq!(cookie["httpOnly"], true, "{cookie}");
    assert_eq!(cookie["sameSite"], "Strict", "{cookie}");

    // Release a change; the execution page turns green without being reloaded.
    browser.click("form[data-op=start] button[type=submit]");
    browser.wait_for("#execution-status", 10);
    assert!(
        browser.url().contains("/pipelines/quick/executions/"),
        "{}",
        browser.url()
    );
    assert!(
        browser
            .try_find("#execution-status[data-status=Succeeded]")
            .is_none(),
        "the run should still be going when its page opens"
    );
    browser.script("window.sluiceNotReloaded = 42;", json!([]));
    browser.wait_for("#execution-status[data-status=Succeeded]", 90);
    assert_eq!(
        browser.script("return window.sluiceNotReloaded;", json!([])),
        json!(42),
        "the page was reloaded instead of updated in place"
    );
    browser.wait_for("section[data-action='Build.Run'] a[data-log]", 10);
    browser.assert_accessible("the execution page");
    shot(&browser, "execution.png");

    // The source artifact downloads as the zip the API lists.
    browser.click("a[data-artifact=Src]");
    let zip = wait_file(&browser.downloads, "zip");
    let bytes = std::fs::read(&zip).expect("downloaded zip");
    assert_eq!(sluice_tests::unzipped(&bytes, "greeting.txt"), "hello");

    // The build's log.
    browser.click("a[data-log='Build.Run']");
    let log = browser.text("pre#log");
    assert!(log.contains("built-hello"), "{log}");
    browser.assert_accessible("the log page");

    // A run that waits for approval: approve it from the pipeline page, with a comment.
    browser.goto(&format!("{base}/pipelines/steer"));
    browser.click("form[data-op=start] button[type=submit]");
    // The start answers with its execution's page: wait for it, or that answer may land after the next
    // navigation and replace the pipeline page.
    browser.wait_for("#execution-status", 10);
    browser.goto(&format!("{base}/pipelines/steer"));
    browser.wait_for("form[data-op=approve]", 60);
    browser.assert_accessible("the pipeline page");
    shot(&browser, "pipeline.png");
    browser.type_into("form[data-op=approve] textarea", "looks right");
    browser.click("form[data-op=approve] button[value=Approved]");
    browser.wait_for("section[data-stage=Build][data-status=Failed]", 90);
    let state = server.ok("GetPipelineState", json!({"name": "steer"}));
    let review = &state["stageStates"][1]["actionStates"][0]["latestExecution"];
    assert_eq!(review["status"], "Succeeded", "{state}");
    // Recorded with who decided: the signed-in key.
    assert_eq!(
        review["summary"],
        format!("Approved by {KEY_ID}. looks right"),
        "{state}"
    );
    // Parallel actions side by side, the later runOrder after them.
    let groups = browser.script(
        "return Array.from(document.querySelectorAll('section[data-stage=Build] .group'))\
           .map(function (g) { return g.querySelectorAll('.action').length; });",
        json!([]),
    );
    assert_eq!(groups, json!([2, 1]));

    // Retry the failed stage once the build can pass.
    std::fs::write(&flag, "go").expect("flag");
    browser.click("form[data-op=retry][data-stage=Build] button[value=FAILED_ACTIONS]");
    browser.wait_for("section[data-stage=Build][data-status=Succeeded]", 90);

    // Disable the transition into Build, with a reason; the API says so; enable it again.
    browser.type_into("#why-Build", "freeze for the demo");
    browser.click("form[data-op=transition][data-stage=Build] button");
    browser.wait_for("[data-transition=Build][data-enabled=false]", 10);
    let state = server.ok("GetPipelineState", json!({"name": "steer"}));
    let t = &state["stageStates"][2]["inboundTransitionState"];
    assert_eq!(t["enabled"], false, "{state}");
    assert_eq!(t["disabledReason"], "freeze for the demo", "{state}");
    shot(&browser, "pipeline-transition.png");
    browser.click("form[data-op=transition][data-stage=Build] button[value=true]");
    browser.wait_for("[data-transition=Build][data-enabled=true]", 10);

    // History, the definition and the pipelines list read well too.
    browser.goto(&format!("{base}/pipelines/steer/executions"));
    browser.wait_for("tr[data-execution]", 10);
    browser.assert_accessible("the history page");
    shot(&browser, "history.png");
    browser.goto(&format!("{base}/pipelines/steer/definition"));
    assert!(browser.text("#definition-yaml").contains("name: steer"));
    browser.assert_accessible("the definition page");
    browser.goto(&format!("{base}/"));
    browser.wait_for("tr[data-pipeline=steer]", 10);
    browser.assert_accessible("the pipelines page");
    shot(&browser, "pipelines.png");

    // At 375 px wide nothing runs off the screen.
    browser.resize(375, 812);
    browser.goto(&format!("{base}/pipelines/steer"));
    browser.wait_for("section[data-stage=Build]", 10);
    let overflow = browser.script(
        "return document.documentElement.scrollWidth - document.documentElement.clientWidth;",
        json!([]),
    );
    assert!(
        overflow.as_i64().unwrap_or(1) <= 0,
        "the page is wider than the screen by {overflow}px"
    );
    shot(&browser, "pipeline-375.png");

    // A few go into docs/ for the README.
    let docs = sluice_tests::workspace().join("docs");
    std::fs::create_dir_all(&docs).expect("docs/");
    for (from, to) in [
        ("pipeline.png", "console-pipeline.png"),
        ("execution.png", "console-execution.png"),
    ] {
        std::fs::copy(screenshots().join(from), docs.join(to)).expect("copy a screenshot to docs/");
    }
}

/// The session cookie and the CSRF token of a sign-in over plain HTTP.
fn http_sign_in(server: &Server) -> (String, String) {
    http_sign_in_as(server, KEY_ID, SECRET)
}

/// [`http_sign_in`] with another key pair.
fn http_sign_in_as(server: &Server, key_id: &str, secret: &str) -> (String, String) {
    // Secrets may hold `+` and `/`, which a form body must escape.
    let body = form_urlencoded::Serializer::new(String::new())
        .append_pair("keyId", key_id)
        .append_pair("secret", secret)
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
    let page = server
        .send("GET", "/", &[("cookie".into(), cookie.clone())], b"")
        .expect("page");
    assert_eq!(page.status, 200, "{}", page.body);
    let csrf = page
        .body
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

fn executions(server: &Server, pipeline: &str) -> usize {
    server.ok("ListPipelineExecutions", json!({"pipelineName": pipeline}))
        ["pipelineExecutionSummaries"]
        .as_array()
        .map_or(0, Vec::len)
}

#[test]
fn a_viewer_watches_but_is_refused_the_buttons_and_the_calls_behind_them() {
    let dir = tempfile::tempdir().expect("temp");
    let (server, _) = served(dir.path(), &[]);
    let base = server.url();
    let (viewer_id, viewer_secret) = server.add_principal("vera", &["*=viewer"]);
    let (operator_id, operator_secret) = server.add_principal("otto", &["steer=operator"]);
    server.ok("StartPipelineExecution", json!({"name": "steer"}));

    let browser = Browser::start(1280, 1000);
    browser.goto(&format!("{base}/pipelines/steer"));
    browser.wait_for("#keyId", 10);
    browser.type_into("#keyId", &viewer_id);
    browser.type_into("#secret", &viewer_secret);
    browser.click("#sign-in");
    browser.wait_for("section[data-stage=Approval] [data-status=InProgress]", 60);
    let who = browser.text(".who");
    assert!(who.contains("vera"), "{who}");
    // Statuses, transitions and history are there; no button that changes anything.
    browser.wait_for("[data-transition=Build]", 10);
    for form in [
        "start",
        "stop",
        "approve",
        "transition",
        "retry",
        "rollback",
    ] {
        assert!(
            browser.try_find(&format!("form[data-op={form}]")).is_none(),
            "a viewer was shown the {form} form"
        );
    }
    browser.assert_accessible("the pipeline page as a viewer");
    shot(&browser, "pipeline-viewer.png");

    // The call behind a button, posted anyway with the session's own token, is refused by the API's check.
    let answer = browser.script_async(
        "var done = arguments[arguments.length - 1];\
         var token = document.querySelector('input[name=csrf]').value;\
         fetch('/pipelines/steer/actions', {method: 'POST', headers: {'content-type': 'application/x-www-form-urlencoded'},\
           body: 'op=start&csrf=' + encodeURIComponent(token)})\
           .then(function (r) { return r.text().then(function (t) { done([r.status, t]); }); });",
        json!([]),
    );
    assert_eq!(answer[0], 403, "{answer}");
    let page = answer[1].as_str().unwrap_or_default();
    assert!(
        page.contains("AccessDeniedException") && page.contains("needs operator"),
        "{page}"
    );
    assert_eq!(executions(&server, "steer"), 1, "nothing was started");

    // An operator of that pipeline gets the buttons there, and approves: recorded by name.
    let (cookie, csrf) = http_sign_in_as(&server, &operator_id, &operator_secret);
    let page = server
        .send(
            "GET",
            "/pipelines/steer",
            &[("cookie".into(), cookie.clone())],
            b"",
        )
        .expect("page");
    assert!(page.body.contains("data-op=\"approve\""), "{}", page.body);
    let token = page
        .body
        .split("name=\"token\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the approval's token");
    let body = format!(
        "op=approve&stage=Approval&action=Review&decision=Approved&summary=fine&token={token}&csrf={csrf}"
    );
    let r = server
        .send(
            "POST",
            "/pipelines/steer/actions",
            &form_headers(&server, Some(&cookie)),
            body.as_bytes(),
        )
        .expect("approve");
    assert_eq!(r.status, 303, "{}", r.body);
    let state = server.ok("GetPipelineState", json!({"name": "steer"}));
    let review = &state["stageStates"][1]["actionStates"][0]["latestExecution"];
    assert_eq!(review["summary"], "Approved by otto. fine", "{state}");
    // The quick pipeline is not theirs to steer: no buttons there.
    let page = server
        .send("GET", "/pipelines/quick", &[("cookie".into(), cookie)], b"")
        .expect("page");
    assert_eq!(page.status, 403, "otto has no role on quick: {}", page.body);
}

/// The newest approval link `sluice serve` announced (its notifications file), waiting for one.
fn approval_link(server: &Server) -> String {
    let file = server.state().join("notifications.jsonl");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        let link = text
            .lines()
            .rev()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter_map(|n| {
                n["approval"]["approvalReviewLink"]
                    .as_str()
                    .map(str::to_owned)
            })
            .next();
        if let Some(link) = link {
            return link;
        }
        assert!(
            Instant::now() < deadline,
            "no approval link in {}",
            file.display()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn the_approval_links_page_has_the_consoles_look_and_fits_a_phone() {
    let dir = tempfile::tempdir().expect("temp");
    let (server, _) = served(dir.path(), &[]);
    server.ok("StartPipelineExecution", json!({"name": "steer"}));
    let link = approval_link(&server);

    let browser = Browser::start(390, 844);
    browser.goto(&link);
    browser.wait_for("textarea#summary", 10);
    // The console's stylesheet, not the browser's defaults: its header bar and panel.
    let styled = browser.script(
        "var top = document.querySelector('header.top');\
         var panel = document.querySelector('.panel');\
         return [getComputedStyle(document.body).fontFamily, getComputedStyle(top).display,\
                 getComputedStyle(panel).borderTopStyle];",
        json!([]),
    );
    assert!(
        !styled[0].as_str().unwrap_or_default().contains("Times"),
        "browser-default font: {styled}"
    );
    assert_eq!(styled[1], "flex", "the header bar is laid out: {styled}");
    assert_eq!(styled[2], "solid", "the panel has its border: {styled}");
    // At 390 px nothing runs off the screen, the comment box included.
    let overflow = browser.script(
        "var box = document.querySelector('textarea#summary').getBoundingClientRect();\
         return [document.documentElement.scrollWidth - document.documentElement.clientWidth,\
                 Math.ceil(box.right) - document.documentElement.clientWidth];",
        json!([]),
    );
    assert!(
        overflow[0].as_i64().unwrap_or(1) <= 0 && overflow[1].as_i64().unwrap_or(1) <= 0,
        "wider than the screen (page, comment box): {overflow}"
    );
    browser.assert_accessible("the approval link's page");
    shot(&browser, "approval-link-390.png");

    browser.type_into("textarea#summary", "from my phone");
    browser.click("button[value=Approved]");
    // The form's page has an h1 too: wait for the answer's.
    browser.wait_text("h1", "Approved", 10);
    let state = server.ok("GetPipelineState", json!({"name": "steer"}));
    let review = &state["stageStates"][1]["actionStates"][0]["latestExecution"];
    assert_eq!(review["status"], "Succeeded", "{state}");
    assert!(
        review["summary"]
            .as_str()
            .unwrap_or_default()
            .ends_with("from my phone"),
        "{state}"
    );
}

#[test]
fn requests_without_a_session_or_from_another_site_change_nothing() {
    let dir = tempfile::tempdir().expect("temp");
    let (server, _) = served(dir.path(), &[]);
    let start = b"op=start";

    // No session: pages redirect to sign in, posts are refused.
    let page = server
        .send("GET", "/pipelines/quick", &[], b"")
        .expect("page");
    assert_eq!(page.status, 303);
    assert_eq!(
        page.header("location"),
        Some("/sign-in?next=%2Fpipelines%2Fquick")
    );
    let post = server
        .send(
            "POST",
            "/pipelines/quick/actions",
            &form_headers(&server, None),
            start,
        )
        .expect("post");
    assert_eq!(post.status, 403, "{}", post.body);
    // A wrong secret signs nobody in.
    let wrong = format!("keyId={KEY_ID}&secret=not-the-secret");
    let r = server
        .send(
            "POST",
            "/sign-in",
            &form_headers(&server, None),
            wrong.as_bytes(),
        )
        .expect("sign in");
    assert_eq!(r.status, 403);
    assert!(r.header("set-cookie").is_none());

    let (cookie, csrf) = http_sign_in(&server);
    let headers = form_headers(&server, Some(&cookie));
    // Signed in, but no token, a foreign token, or another site's Origin: refused.
    for (body, origin) in [
        ("op=start".to_owned(), server.url()),
        ("op=start&csrf=0000".to_owned(), server.url()),
        (
            format!("op=start&csrf={csrf}"),
            "https://evil.example".to_owned(),
        ),
    ] {
        let mut h = headers.clone();
        h[1].1 = origin.clone();
        let r = server
            .send("POST", "/pipelines/quick/actions", &h, body.as_bytes())
            .expect("post");
        assert_eq!(r.status, 403, "{body} from {origin}: {}", r.body);
    }
    assert_eq!(
        executions(&server, "quick"),
        0,
        "a refused form started an execution"
    );
    // The same form from this console starts one, recorded as the signed-in key.
    let r = server
        .send(
            "POST",
            "/pipelines/quick/actions",
            &headers,
            format!("op=start&csrf={csrf}").as_bytes(),
        )
        .expect("post");
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(executions(&server, "quick"), 1);
    let listed = server.ok("ListPipelineExecutions", json!({"pipelineName": "quick"}));
    let trigger = listed["pipelineExecutionSummaries"][0]["trigger"].to_string();
    assert!(
        trigger.contains(KEY_ID),
        "the start is not recorded as the signed-in key: {trigger}"
    );

    // After signing out, the same cookie is worth nothing.
    let out = server
        .send(
            "POST",
            "/sign-out",
            &headers,
            format!("csrf={csrf}").as_bytes(),
        )
        .expect("sign out");
    assert_eq!(out.status, 303, "{}", out.body);
    assert!(out
        .header("set-cookie")
        .is_some_and(|c| c.contains("Max-Age=0")));
    let replay = server
        .send(
            "GET",
            "/pipelines/quick",
            &[("cookie".into(), cookie.clone())],
            b"",
        )
        .expect("replay");
    assert_eq!(
        replay.status, 303,
        "a cookie replayed after sign-out still works"
    );
    let replay = server
        .send(
            "POST",
            "/pipelines/quick/actions",
            &headers,
            format!("op=start&csrf={csrf}").as_bytes(),
        )
        .expect("replay");
    assert_eq!(replay.status, 403);
    assert_eq!(executions(&server, "quick"), 1);

    // A cross-site form in a real browser: another origin's page posting to the console changes nothing.
    let browser = Browser::start(1024, 768);
    browser.goto(&format!("{}/sign-in", server.url()));
    sign_in(&browser);
    browser.wait_for("tr[data-pipeline=quick]", 10);
    let evil = format!(
        "data:text/html,<form id=f method=post action='{}/pipelines/quick/actions'>\
         <input name=op value=start><input name=csrf value=guess></form>\
         <script>document.getElementById('f').submit()</script>",
        server.url()
    );
    browser.goto(&evil);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !browser.url().starts_with(&server.url()) {
        assert!(
            Instant::now() < deadline,
            "the cross-site form was not sent"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        browser.source().contains("Not signed in") || browser.source().contains("Refused"),
        "{}",
        browser.source()
    );
    assert_eq!(
        executions(&server, "quick"),
        1,
        "a cross-site form started an execution"
    );
}

#[test]
fn an_expired_session_is_refused() {
    let dir = tempfile::tempdir().expect("temp");
    let (server, _) = served(dir.path(), &[("SLUICE_CONSOLE_SESSION_SECONDS", "2")]);
    let (cookie, csrf) = http_sign_in(&server);
    std::thread::sleep(Duration::from_millis(3100));
    let page = server
        .send("GET", "/", &[("cookie".into(), cookie.clone())], b"")
        .expect("page");
    assert_eq!(page.status, 303, "an expired session still shows pages");
    let post = server
        .send(
            "POST",
            "/pipelines/quick/actions",
            &form_headers(&server, Some(&cookie)),
            format!("op=start&csrf={csrf}").as_bytes(),
        )
        .expect("post");
    assert_eq!(post.status, 403, "{}", post.body);
    assert_eq!(executions(&server, "quick"), 0);
}
