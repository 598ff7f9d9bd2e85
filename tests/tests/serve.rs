//! `sluice serve` through the built binary: CodePipeline's API over HTTP with SigV4, signed here by a small
//! signer of the test's own (and by the aws CLI when it is installed), and the ways a request is refused.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

const KEY_ID: &str = "AKIASLUICETEST000001";
const SECRET: &str = "c2x1aWNlLXRlc3Qtc2VjcmV0LWtleS1kby1ub3Qt";
const TARGET: &str = "CodePipeline_20150709.";

/// A running `sluice serve`; killed by PID when dropped.
struct Server {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Starts the server on a free loopback port with a keys file of one pair (or the default keys file).
    fn start(with_keys_file: bool) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let mut cmd = Command::new(sluice_tests::sluice_bin());
        cmd.arg("--state-dir").arg(dir.path().join("state")).args([
            "serve",
            "--bind",
            &format!("127.0.0.1:{port}"),
        ]);
        if with_keys_file {
            let keys = dir.path().join("keys");
            std::fs::write(&keys, format!("# test keys\n{KEY_ID} {SECRET}\n")).expect("keys");
            cmd.arg("--keys").arg(&keys);
        }
        let out = std::fs::File::create(dir.path().join("server.out")).expect("log");
        let err = out.try_clone().expect("log");
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("sluice serve starts");
        let mut server = Self { child, port, dir };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = server.child.try_wait().expect("wait") {
                panic!("sluice serve exited with {status}: {}", server.output());
            }
            if let Ok(r) = server.send("GET", "/health", &[], b"") {
                if r.status == 200 {
                    assert_eq!(r.body, "ok");
                    break;
                }
            }
            assert!(
                Instant::now() < deadline,
                "server not ready: {}",
                server.output()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        server
    }

    fn output(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.out")).unwrap_or_default()
    }

    fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// One HTTP/1.1 request on a fresh connection.
    fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(String, String)],
        body: &[u8],
    ) -> std::io::Result<Reply> {
        let mut stream = TcpStream::connect(self.host())?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        stream.set_write_timeout(Some(Duration::from_secs(30)))?;
        let mut head = format!("{method} {path} HTTP/1.1\r\n");
        if !headers.iter().any(|(n, _)| n == "host") {
            head.push_str(&format!("host: {}\r\n", self.host()));
        }
        for (n, v) in headers {
            head.push_str(&format!("{n}: {v}\r\n"));
        }
        head.push_str(&format!(
            "content-length: {}\r\nconnection: close\r\n\r\n",
            body.len()
        ));
        stream.write_all(head.as_bytes())?;
        stream.write_all(body)?;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw)?;
        Ok(Reply::parse(&raw))
    }

    /// A signed API call.
    fn call(&self, operation: &str, body: &Value) -> Reply {
        self.call_as(operation, body, KEY_ID, SECRET, now_s())
    }

    fn call_as(&self, operation: &str, body: &Value, id: &str, secret: &str, at: i64) -> Reply {
        let body = body.to_string().into_bytes();
        let headers = sign(&self.host(), operation, &body, id, secret, at);
        self.send("POST", "/", &headers, &body).expect("request")
    }

    /// A signed call that must succeed.
    fn ok(&self, operation: &str, body: Value) -> Value {
        let r = self.call(operation, &body);
        assert_eq!(r.status, 200, "{operation}: {}", r.body);
        r.json()
    }
}

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Reply {
    fn parse(raw: &[u8]) -> Self {
        let text = String::from_utf8_lossy(raw);
        let (head, body) = text.split_once("\r\n\r\n").expect("a complete response");
        let mut lines = head.lines();
        let status = lines
            .next()
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|s| s.parse().ok())
            .expect("a status line");
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        Self {
            status,
            headers,
            body: body.to_owned(),
        }
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }

    /// The error's `__type`, checking the status on the way.
    fn error(&self, status: u16) -> String {
        assert_eq!(self.status, status, "{}", self.body);
        self.json()["__type"].as_str().expect("__type").to_owned()
    }
}

// ---------------------------------------------------------------------------------------- a SigV4 signer

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut k = [0u8; 64];
    if key.len() > 64 {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha256::new();
    inner.update(k.map(|b| b ^ 0x36));
    inner.update(data);
    let mut outer = Sha256::new();
    outer.update(k.map(|b| b ^ 0x5c));
    outer.update(inner.finalize());
    outer.finalize().to_vec()
}

/// The headers of a JSON 1.1 call signed for codepipeline in us-east-1 at `at` (epoch seconds).
fn sign(
    host: &str,
    operation: &str,
    body: &[u8],
    id: &str,
    secret: &str,
    at: i64,
) -> Vec<(String, String)> {
    let amz_date = amz_date(at);
    let date = &amz_date[..8];
    let headers = [
        ("content-type", "application/x-amz-json-1.1".to_owned()),
        ("host", host.to_owned()),
        ("x-amz-date", amz_date.clone()),
        ("x-amz-target", format!("{TARGET}{operation}")),
    ];
    let canonical_headers: String = headers.iter().map(|(n, v)| format!("{n}:{v}\n")).collect();
    let signed = "content-type;host;x-amz-date;x-amz-target";
    let canonical = format!(
        "POST\n/\n\n{canonical_headers}\n{signed}\n{}",
        hex::encode(Sha256::digest(body))
    );
    let scope = format!("{date}/us-east-1/codepipeline/aws4_request");
    let to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        hex::encode(Sha256::digest(canonical.as_bytes()))
    );
    let mut key = hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    for part in ["us-east-1", "codepipeline", "aws4_request"] {
        key = hmac(&key, part.as_bytes());
    }
    let signature = hex::encode(hmac(&key, to_sign.as_bytes()));
    let mut out: Vec<(String, String)> = headers
        .into_iter()
        .map(|(n, v)| (n.to_owned(), v))
        .collect();
    out.push((
        "authorization".into(),
        format!("AWS4-HMAC-SHA256 Credential={id}/{scope}, SignedHeaders={signed}, Signature={signature}"),
    ));
    out
}

fn now_s() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64
}

/// Epoch seconds as `YYYYMMDDTHHMMSSZ` (Howard Hinnant's civil_from_days).
fn amz_date(t: i64) -> String {
    let (days, secs) = (t.div_euclid(86_400) + 719_468, t.rem_euclid(86_400));
    let era = days.div_euclid(146_097);
    let doe = days - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

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
    let mut server = Server::start(true);
    let src: PathBuf = server.dir.path().join("src");
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
                .env("AWS_CONFIG_FILE", server.dir.path().join("no-config"))
                .env(
                    "AWS_SHARED_CREDENTIALS_FILE",
                    server.dir.path().join("no-credentials"),
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
    let server = Server::start(true);
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

#[test]
fn bad_input_gets_an_error_and_the_server_keeps_answering() {
    let server = Server::start(true);

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

    let r = server.send("GET", "/", &[], b"").expect("request");
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
    let server = Server::start(false);
    let keys = server.dir.path().join("state/keys");
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
