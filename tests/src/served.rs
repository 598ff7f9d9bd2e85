//! A `sluice serve` run from the built binary for a test: started on a free loopback port with a keys file of
//! one known pair, plain HTTP/1.1 requests on fresh connections, and SigV4-signed API calls.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use sha2::{Digest, Sha256};

/// The access key id of the keys file the server is started with.
pub const KEY_ID: &str = "AKIASLUICETEST000001";
/// Its secret.
pub const SECRET: &str = "c2x1aWNlLXRlc3Qtc2VjcmV0LWtleS1kby1ub3Qt";
/// The prefix of every operation's `X-Amz-Target`.
pub const TARGET: &str = "CodePipeline_20150709.";

/// A running `sluice serve`; killed by PID when dropped.
pub struct Server {
    /// The process.
    pub child: Child,
    /// The port it listens on.
    pub port: u16,
    /// The folder it was started in (its state folder is `state/` inside).
    pub dir: PathBuf,
    keys_file: bool,
    env: Vec<(String, String)>,
}

/// Starts `sluice serve` over `<dir>/state` on `port`, its output appended to `<dir>/server.out`.
fn spawn(dir: &Path, port: u16, keys_file: bool, env: &[(String, String)]) -> Child {
    let mut cmd = Command::new(crate::sluice_bin());
    cmd.envs(env.iter().map(|(k, v)| (k, v)));
    cmd.arg("--state-dir").arg(dir.join("state")).args([
        "serve",
        "--bind",
        &format!("127.0.0.1:{port}"),
    ]);
    if keys_file {
        cmd.arg("--keys").arg(dir.join("keys"));
    }
    let out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("server.out"))
        .expect("log");
    let err = out.try_clone().expect("log");
    cmd.stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .expect("sluice serve starts")
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Starts the server with its state in `dir/state` and a keys file of [`KEY_ID`] and [`SECRET`], and waits
    /// until `/health` answers.
    pub fn start(dir: &Path) -> Self {
        Self::start_with(dir, true)
    }

    /// Starts the server, with the keys file of [`KEY_ID`] and [`SECRET`] or else the default one (which the
    /// server creates), and waits until `/health` answers.
    pub fn start_with(dir: &Path, keys_file: bool) -> Self {
        Self::start_env(dir, keys_file, &[])
    }

    /// [`Server::start_with`], the server's process given these environment variables too.
    pub fn start_env(dir: &Path, keys_file: bool, env: &[(&str, &str)]) -> Self {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        std::fs::create_dir_all(dir).expect("the server's folder");
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        if keys_file {
            std::fs::write(
                dir.join("keys"),
                format!("# test keys\n{KEY_ID} {SECRET}\n"),
            )
            .expect("keys");
        }
        let child = spawn(dir, port, keys_file, &env);
        let mut server = Self {
            child,
            port,
            dir: dir.to_owned(),
            keys_file,
            env,
        };
        server.wait_ready();
        server
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                panic!("sluice serve exited with {status}: {}", self.output());
            }
            if let Ok(r) = self.send("GET", "/health", &[], b"") {
                if r.status == 200 {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "server not ready: {}",
                self.output()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Stops the server as an operator would: SIGTERM (a graceful stop), a kill after 10 seconds.
    pub fn stop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.kill();
    }

    /// Kills the server at once (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Kills the server at once (SIGKILL, its jobs' process groups left running) and starts it again over the
    /// same state folder, port and keys, as a supervisor would after a crash.
    pub fn crash_and_restart(&mut self) {
        self.kill();
        self.child = spawn(&self.dir, self.port, self.keys_file, &self.env);
        self.wait_ready();
    }

    /// Stops the server and starts it again over the same state folder, port and keys.
    pub fn restart(&mut self) {
        self.stop();
        self.child = spawn(&self.dir, self.port, self.keys_file, &self.env);
        self.wait_ready();
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.host())
    }

    /// A `sluice` command acting through this server (`--endpoint`, signed with [`KEY_ID`]).
    pub fn cli(&self) -> Command {
        let mut cmd = Command::new(crate::sluice_bin());
        cmd.args(["--endpoint", &self.url()])
            .env("AWS_ACCESS_KEY_ID", KEY_ID)
            .env("AWS_SECRET_ACCESS_KEY", SECRET)
            .env("AWS_REGION", "us-east-1")
            .env_remove("AWS_PROFILE")
            .env_remove("AWS_SESSION_TOKEN");
        cmd
    }

    /// The keys file the server reads (the principals file is beside it).
    pub fn keys_path(&self) -> PathBuf {
        if self.keys_file {
            self.dir.join("keys")
        } else {
            self.state().join("keys")
        }
    }

    /// A `sluice` command over this server's files (principals, keys): `--state-dir` and `--keys` set.
    pub fn local(&self) -> Command {
        let mut cmd = Command::new(crate::sluice_bin());
        cmd.arg("--state-dir").arg(self.state());
        cmd
    }

    /// Adds a principal with these roles (`PATTERN=ROLE`) and one key pair through `sluice principals add` and
    /// `sluice keys create`, as an admin would; answers the key id and secret the command printed.
    pub fn add_principal(&self, name: &str, roles: &[&str]) -> (String, String) {
        let mut add = self.local();
        add.args(["principals", "add", name])
            .arg("--keys")
            .arg(self.keys_path());
        for role in roles {
            add.args(["--role", role]);
        }
        let out = add.output().expect("sluice principals add");
        assert!(
            out.status.success(),
            "principals add: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let out = self
            .local()
            .args(["keys", "create", name])
            .arg("--keys")
            .arg(self.keys_path())
            .output()
            .expect("sluice keys create");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "keys create: {text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let after = |label: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(&format!("{name}: {label} ")))
                .unwrap_or_else(|| panic!("no {label} in {text}"))
                .trim()
                .to_owned()
        };
        (after("access key id"), after("secret access key"))
    }

    /// Everything the server printed.
    pub fn output(&self) -> String {
        std::fs::read_to_string(self.dir.join("server.out")).unwrap_or_default()
    }

    /// The server's state folder.
    pub fn state(&self) -> PathBuf {
        self.dir.join("state")
    }

    /// `127.0.0.1:<port>`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// One HTTP/1.1 request on a fresh connection.
    pub fn send(
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
    pub fn call(&self, operation: &str, body: &Value) -> Reply {
        self.call_as(operation, body, KEY_ID, SECRET, now_s())
    }

    /// An API call signed with the given key pair at `at` (epoch seconds).
    pub fn call_as(&self, operation: &str, body: &Value, id: &str, secret: &str, at: i64) -> Reply {
        let body = body.to_string().into_bytes();
        let headers = sign(&self.host(), operation, &body, id, secret, at);
        self.send("POST", "/", &headers, &body).expect("request")
    }

    /// A signed call that must succeed.
    pub fn ok(&self, operation: &str, body: Value) -> Value {
        let r = self.call(operation, &body);
        assert_eq!(r.status, 200, "{operation}: {}", r.body);
        r.json()
    }

    /// Waits until the execution's status is not InProgress, and returns it.
    pub fn wait_done(&self, pipeline: &str, id: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let e = self.ok(
                "GetPipelineExecution",
                serde_json::json!({"pipelineName": pipeline, "pipelineExecutionId": id}),
            );
            let status = e["pipelineExecution"]["status"]
                .as_str()
                .expect("status")
                .to_owned();
            if status != "InProgress" {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "{id} still in progress: {}",
                self.output()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// A response.
pub struct Reply {
    /// The status code.
    pub status: u16,
    /// The headers, names in lower case.
    pub headers: Vec<(String, String)>,
    /// The body as text.
    pub body: String,
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

    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }

    /// The error's `__type`, checking the status on the way.
    pub fn error(&self, status: u16) -> String {
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
pub fn sign(
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

/// Now, in epoch seconds.
pub fn now_s() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64
}

/// Epoch seconds as `YYYYMMDDTHHMMSSZ` (Howard Hinnant's civil_from_days).
pub fn amz_date(t: i64) -> String {
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
