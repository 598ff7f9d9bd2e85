//! `sluice serve` through the built binary: CodePipeline's API over HTTP with SigV4, signed by the tests
//! crate's small signer (`sluice_tests::served`) and by the aws CLI when it is installed, and the ways a
//! request is refused.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sluice_tests::served::{amz_date, now_s, sign, Server, KEY_ID, SECRET, TARGET};
use sluice_web::sigv4::{self, Credentials, Outgoing};

// ---------------------------------------------------------------------------------------------- the tests

fn hello(src: &Path) -> Value {
    json!({
        "name": "hello",
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

#[test]
fn the_signer_here_reproduces_the_documented_date_format() {
    assert_eq!(amz_date(1_440_938_160), "20150830T123600Z");
    assert_eq!(amz_date(0), "19700101T000000Z");
}

#[test]
fn a_pipeline_runs_through_the_signed_http_api_and_the_server_stops_on_sigterm() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut server = Server::start(dir.path());
    let src: PathBuf = server.dir.join("src");
    std::fs::create_dir_all(&src).expect("src");
    std::fs::write(src.join("greeting.txt"), "hello").expect("file");

    let created = server.ok("CreatePipeline", json!({"pipeline": hello(&src)}));
    assert_eq!(created["pipeline"]["version"], 1);
    let started = server.ok("StartPipelineExecution", json!({"name": "hello"}));
    let id = started["pipelineExecutionId"]
        .as_str()
        .expect("execution id")
        .to_owned();

    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        let r = server.call(
            "GetPipelineExecution",
            &json!({"pipelineName": "hello", "pipelineExecutionId": id}),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.header("content-type"), Some("application/x-amz-json-1.1"));
        assert!(r.header("x-amzn-requestid").is_some_and(|v| v.len() == 36));
        let status = r.json()["pipelineExecution"]["status"]
            .as_str()
            .expect("status")
            .to_owned();
        if status != "InProgress" || Instant::now() > deadline {
            break status;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(status, "Succeeded", "{}", server.output());

    let listed = server.ok("ListPipelines", json!({}));
    assert_eq!(listed["pipelines"][0]["name"], "hello");

    // The aws CLI signs with botocore; when it is here, it must be accepted as it is by CodePipeline.
    match Command::new("aws").arg("--version").output() {
        Ok(o) if o.status.success() => {
            let out = Command::new("aws")
                .args(["codepipeline", "list-pipelines", "--output", "json"])
                .args(["--endpoint-url", &format!("http://{}", server.host())])
                .args(["--region", "us-east-1"])
                .env("AWS_ACCESS_KEY_ID", KEY_ID)
                .env("AWS_SECRET_ACCESS_KEY", SECRET)
                .env_remove("AWS_SESSION_TOKEN")
                .env_remove("AWS_PROFILE")
                .env("AWS_CONFIG_FILE", server.dir.join("no-config"))
                .env(
                    "AWS_SHARED_CREDENTIALS_FILE",
                    server.dir.join("no-credentials"),
                )
                .env("AWS_EC2_METADATA_DISABLED", "true")
                .output()
                .expect("aws runs");
            assert!(
                out.status.success(),
                "aws codepipeline list-pipelines failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let listed: Value = serde_json::from_slice(&out.stdout).expect("aws prints JSON");
            assert_eq!(listed["pipelines"][0]["name"], "hello");
        }
        _ => eprintln!("skipping the aws CLI check: `aws` is not installed"),
    }

    // SIGTERM: the server stops the engine and exits cleanly.
    let pid = server.child.id().to_string();
    let killed = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    let exit = loop {
        if let Some(status) = server.child.try_wait().expect("wait") {
            break status;
        }
        assert!(Instant::now() < deadline, "no exit after SIGTERM");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(exit.success(), "{exit}: {}", server.output());
    assert!(server.output().contains("stopping"));
}

#[test]
fn requests_without_a_valid_signature_are_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = Server::start(dir.path());
    let body = json!({});
    let unsigned = server
        .send(
            "POST",
            "/",
            &[("x-amz-target".into(), format!("{TARGET}ListPipelines"))],
            body.to_string().as_bytes(),
        )
        .expect("request");
    assert_eq!(unsigned.error(403), "MissingAuthenticationTokenException");

    let wrong_secret = server.call_as("ListPipelines", &body, KEY_ID, "not-the-secret", now_s());
    assert_eq!(wrong_secret.error(403), "InvalidSignatureException");

    let unknown = server.call_as(
        "ListPipelines",
        &body,
        "AKIAUNKNOWN000000000",
        SECRET,
        now_s(),
    );
    assert_eq!(unknown.error(403), "UnrecognizedClientException");

    let stale = server.call_as("ListPipelines", &body, KEY_ID, SECRET, now_s() - 20 * 60);
    assert_eq!(stale.error(403), "InvalidSignatureException");
    assert!(stale.json()["message"]
        .as_str()
        .is_some_and(|m| m.starts_with("Signature expired")));

    // A signed body swapped for another one.
    let mut headers = sign(
        &server.host(),
        "ListPipelines",
        b"{}",
        KEY_ID,
        SECRET,
        now_s(),
    );
    headers.retain(|(n, _)| n != "content-length");
    let swapped = server
        .send("POST", "/", &headers, br#"{"nextToken":"x"}"#)
        .expect("request");
    assert_eq!(swapped.error(403), "InvalidSignatureException");

    let garbled = server
        .send(
            "POST",
            "/",
            &[("authorization".into(), "AWS4-HMAC-SHA256 garbage".into())],
            b"{}",
        )
        .expect("request");
    assert_eq!(garbled.error(403), "IncompleteSignatureException");

    // Still fine for a good one.
    assert_eq!(server.call("ListPipelines", &body).status, 200);
}

/// The product's signer, for requests the JSON-call signer here does not make (artifacts, chosen header lists).
fn product_signed(
    server: &Server,
    method: &str,
    path: &str,
    mut headers: Vec<(String, String)>,
    body: &[u8],
) -> Vec<(String, String)> {
    headers.push(("host".into(), server.host()));
    sigv4::sign(
        &Outgoing { method, path, body },
        &mut headers,
        &Credentials {
            access_key_id: KEY_ID.into(),
            secret_access_key: SECRET.into(),
            session_token: None,
        },
        "us-east-1",
        sigv4::SERVICE,
        now_s(),
    );
    headers
}

/// A request signed for GetPipeline whose signature leaves X-Amz-Target out cannot be replayed as
/// DeletePipeline: every x-amz-* header and the content type must be signed.
#[test]
fn a_signature_must_cover_the_operation() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = Server::start(dir.path());
    let src = dir.path().join("src");
    std::fs::create_dir_all(&src).expect("src");
    std::fs::write(src.join("greeting.txt"), "hi").expect("greeting");
    server.ok("CreatePipeline", json!({"pipeline": hello(&src)}));
    let body = br#"{"name":"hello"}"#;
    // Signed over host and x-amz-date only; the target and content type ride along unsigned.
    let mut headers = product_signed(&server, "POST", "/", vec![], body);
    headers.retain(|(n, _)| n != "host");
    headers.push(("x-amz-target".into(), format!("{TARGET}DeletePipeline")));
    headers.push(("content-type".into(), "application/x-amz-json-1.1".into()));
    let replayed = server.send("POST", "/", &headers, body).expect("request");
    assert_eq!(replayed.error(403), "IncompleteSignatureException");
    assert!(replayed.body.contains("x-amz-target"), "{}", replayed.body);
    assert_eq!(
        server.ok("GetPipeline", json!({"name": "hello"}))["pipeline"]["name"],
        "hello"
    );
}

/// Headers announcing a big body, and no body: an unsigned request is answered at once, without the server
/// waiting for (or buffering) a byte of it.
#[test]
fn unsigned_requests_are_refused_before_their_body_is_read() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = Server::start(dir.path());
    for (method, path) in [
        ("PUT", "/artifacts/sluice-artifacts/big.zip"),
        ("POST", "/"),
    ] {
        let mut stream = TcpStream::connect(server.host()).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .expect("timeout");
        let head = format!(
            "{method} {path} HTTP/1.1\r\nhost: {}\r\nx-amz-target: {TARGET}ListPipelines\r\ncontent-length: 209715200\r\n\r\n",
            server.host()
        );
        stream.write_all(head.as_bytes()).expect("head");
        let mut raw = Vec::new();
        let mut buf = [0u8; 4096];
        // The answer comes although the body never does (a server that waited for it would time out here).
        loop {
            match stream.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    raw.extend_from_slice(&buf[..n]);
                    if raw.windows(4).any(|w| w == b"\r\n\r\n") && raw.ends_with(b"}") {
                        break;
                    }
                }
                Err(e) => panic!("{method} {path}: no answer without the body: {e}"),
            }
        }
        let text = String::from_utf8_lossy(&raw);
        assert!(text.starts_with("HTTP/1.1 403"), "{method} {path}: {text}");
        assert!(
            text.contains("MissingAuthenticationTokenException"),
            "{text}"
        );
    }
}

/// An upload is checked against the hash its signature declares as it streams to disk: another body of the
/// same length is refused and nothing is stored; the signed one is stored.
#[test]
fn an_upload_must_be_the_body_that_was_signed() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = Server::start(dir.path());
    let path = "/artifacts/sluice-artifacts/up/one.zip";
    let headers = product_signed(&server, "PUT", path, vec![], b"the signed bytes");
    let swapped = server
        .send("PUT", path, &headers, b"other bytes here")
        .expect("request");
    assert_eq!(swapped.error(400), "BadDigest");
    let info = product_signed(
        &server,
        "GET",
        &path.replace("/artifacts/", "/artifacts-info/"),
        vec![],
        b"",
    );
    let missing = server
        .send(
            "GET",
            &path.replace("/artifacts/", "/artifacts-info/"),
            &info,
            b"",
        )
        .expect("request");
    assert_eq!(missing.status, 404, "{}", missing.body);

    let stored = server
        .send("PUT", path, &headers, b"the signed bytes")
        .expect("request");
    assert_eq!(stored.status, 200, "{}", stored.body);
    assert_eq!(stored.json()["size"], 16);
    let unsigned_hash: Vec<(String, String)> = headers
        .iter()
        .filter(|(n, _)| n != "x-amz-content-sha256")
        .cloned()
        .collect();
    let refused = server
        .send("PUT", path, &unsigned_hash, b"the signed bytes")
        .expect("request");
    assert_eq!(refused.error(403), "IncompleteSignatureException");

    // A key through an object's key: a clear 409 in the bucket's terms, no machine path.
    let through = "/artifacts/sluice-artifacts/up/one.zip/inner";
    let headers = product_signed(&server, "PUT", through, vec![], b"x");
    let conflict = server
        .send("PUT", through, &headers, b"x")
        .expect("request");
    assert_eq!(conflict.error(409), "ConflictException");
    assert!(
        conflict.body.contains("`up/one.zip` is already an object"),
        "{}",
        conflict.body
    );
    assert!(
        !conflict.body.contains(&dir.path().display().to_string()),
        "{}",
        conflict.body
    );
}

#[test]
fn bad_input_gets_an_error_and_the_server_keeps_answering() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = Server::start(dir.path());

    let huge = vec![b' '; 2 * 1024 * 1024];
    let headers = sign(
        &server.host(),
        "ListPipelines",
        &huge,
        KEY_ID,
        SECRET,
        now_s(),
    );
    let r = server.send("POST", "/", &headers, &huge).expect("request");
    assert_eq!(r.error(413), "ValidationException");
    assert_eq!(r.json()["message"], "request body over 1048576 bytes");
    let health = server.send("GET", "/health", &[], b"").expect("health");
    assert_eq!((health.status, health.body.as_str()), (200, "ok"));

    let bad_json = b"{\"name\": ";
    let headers = sign(
        &server.host(),
        "GetPipeline",
        bad_json,
        KEY_ID,
        SECRET,
        now_s(),
    );
    let r = server
        .send("POST", "/", &headers, bad_json)
        .expect("request");
    assert_eq!(r.error(400), "ValidationException");

    let r = server.call("NoSuchOperation", &json!({}));
    assert_eq!(r.status, 400, "{}", r.body);

    // GET / is the console: without a session, the way to sign in.
    let r = server.send("GET", "/", &[], b"").expect("request");
    assert_eq!(r.status, 303, "{}", r.body);
    assert!(
        r.header("location")
            .is_some_and(|l| l.starts_with("/sign-in")),
        "{:?}",
        r.header("location")
    );
    let r = server.send("GET", "/elsewhere", &[], b"").expect("request");
    assert_eq!(r.status, 404);
    assert!(r.json()["__type"].is_string());
    let r = server
        .send("POST", "/elsewhere", &[], b"{}")
        .expect("request");
    assert_eq!(r.status, 404);

    // Not HTTP at all.
    let mut raw = TcpStream::connect(server.host()).expect("connect");
    raw.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let _ = raw.write_all(b"\x00\x01garbage\r\n\r\n");
    let mut sink = Vec::new();
    let _ = raw.read_to_end(&mut sink);

    let health = server.send("GET", "/health", &[], b"").expect("health");
    assert_eq!(health.status, 200);
}

#[test]
fn a_first_start_creates_a_keys_file_that_signs_requests() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = Server::start_with(dir.path(), false);
    let keys = server.dir.join("state/keys");
    let text = std::fs::read_to_string(&keys).expect("keys file created");
    let (id, secret) = text.trim().split_once(' ').expect("one pair");
    assert!(id.starts_with("AKIA") && id.len() == 20, "{id}");
    assert_eq!(secret.len(), 40);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&keys).expect("meta").permissions().mode();
        assert_eq!(mode & 0o077, 0, "keys file readable by others");
    }
    assert!(server.output().contains(&keys.display().to_string()));
    let r = server.call_as("ListPipelines", &json!({}), id, secret, now_s());
    assert_eq!(r.status, 200, "{}", r.body);
}

#[test]
fn refuses_a_non_loopback_address_unless_allowed() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = Command::new(sluice_tests::sluice_bin())
        .arg("--state-dir")
        .arg(dir.path())
        .args(["serve", "--bind", "0.0.0.0:0"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--allow-remote"));
}

/// `sluice --endpoint URL create FILE`: a LocalSource's relative Path is the file's folder's, not the server's
/// working directory's.
#[test]
fn a_created_definition_reads_its_local_source_from_the_files_folder() {
    let dir = tempfile::tempdir().expect("temp");
    let server = Server::start(&dir.path().join("server"));
    let project = dir.path().join("project");
    std::fs::create_dir_all(project.join("src")).expect("src");
    std::fs::write(project.join("src/greeting.txt"), "hello").expect("file");
    std::fs::write(
        project.join("pipeline.yaml"),
        "pipeline:\n  name: anchored\n  pipelineType: V2\n  stages:\n    - name: Source\n      actions:\n        - name: Checkout\n          actionTypeId: {category: Source, owner: ThirdParty, provider: LocalSource, version: '1'}\n          configuration: {Path: src}\n          outputArtifacts: [{name: Src}]\n    - name: Build\n      actions:\n        - name: Greet\n          actionTypeId: {category: Compute, owner: AWS, provider: Commands, version: '1'}\n          commands: [cat greeting.txt]\n          inputArtifacts: [{name: Src}]\n",
    )
    .expect("definition");
    let out = server
        .cli()
        .current_dir(dir.path())
        .args(["create", "project/pipeline.yaml"])
        .output()
        .expect("create");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got = server.ok("GetPipeline", serde_json::json!({"name": "anchored"}));
    let path = got["pipeline"]["stages"][0]["actions"][0]["configuration"]["Path"]
        .as_str()
        .expect("Path")
        .to_owned();
    assert_eq!(
        std::path::Path::new(&path),
        project.join("src").canonicalize().expect("canonical")
    );
    let out = server
        .cli()
        .args(["start", "anchored", "--wait"])
        .output()
        .expect("start");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
