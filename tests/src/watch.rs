//! `cargo lambda watch`: the workspace's Lambda functions built for this machine and served behind the Lambda
//! Invoke API on a free loopback port (`infra/cargo-lambda.sh` installs it into `.venv-lambda`).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::workspace;

/// `cargo lambda watch` in its own process group, killed (the whole group) when dropped.
pub struct Watch {
    child: Child,
    /// The port its Lambda Invoke API listens on.
    pub port: u16,
}

impl Watch {
    /// Starts it with the function settings of `env_file`, and waits until it listens.
    pub fn start(env_file: &std::path::Path) -> Self {
        Self::start_at(env_file, free_port())
    }

    /// Starts it on `port` (for settings that must name it before it starts).
    pub fn start_at(env_file: &std::path::Path, port: u16) -> Self {
        let bin = workspace().join(".venv-lambda/bin");
        assert!(
            bin.join("cargo-lambda").exists(),
            "cargo-lambda is not installed: run infra/cargo-lambda.sh (scripts/test.sh does)"
        );
        let path = format!(
            "{}:{}",
            bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let child = Command::new(bin.join("cargo-lambda"))
            .args([
                "lambda",
                "watch",
                "--ignore-changes",
                "-A",
                "127.0.0.1",
                "-P",
            ])
            .arg(port.to_string())
            .arg("--env-file")
            .arg(env_file)
            .current_dir(workspace())
            .env("PATH", path)
            .stdin(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("cargo lambda watch starts");
        let watch = Self { child, port };
        let deadline = Instant::now() + Duration::from_secs(60);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "cargo lambda watch did not listen in 60 s"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        watch
    }

    /// Invokes a function through the Lambda Invoke API: the HTTP status and the JSON answer. The first call of
    /// each function builds it.
    pub fn invoke(&self, function: &str, event: &Value) -> (u16, Value) {
        let body = event.to_string();
        let request = format!(
            "POST /2015-03-31/functions/{function}/invocations HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.port,
            body.len()
        );
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(900)))
            .expect("timeout");
        stream.write_all(request.as_bytes()).expect("send");
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).expect("answer");
        let text = String::from_utf8_lossy(&raw);
        let (head, rest) = text.split_once("\r\n\r\n").expect("an HTTP answer");
        let status: u16 = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .expect("a status");
        let chunked = head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked");
        let body = if chunked {
            dechunk(rest)
        } else {
            rest.to_owned()
        };
        let value = serde_json::from_str(&body)
            .unwrap_or_else(|e| panic!("{function} answered {status} with non-JSON ({e}): {body}"));
        (status, value)
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", "--", &format!("-{}", self.child.id())])
            .status();
        let _ = self.child.wait();
    }
}

/// A loopback port free now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// The body of a chunked HTTP answer.
fn dechunk(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some((size, tail)) = rest.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&tail[..n]);
        rest = tail[n..].trim_start_matches("\r\n");
    }
    out
}
