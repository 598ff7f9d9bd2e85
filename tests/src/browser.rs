//! Real headless Chromium for the console suite, driven through chromedriver's WebDriver protocol: a tiny JSON
//! client over plain HTTP/1.1 (one request a connection), the commands the suite uses, screenshots, and an
//! axe-core accessibility check run inside the page.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// WebDriver's key for an element reference.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A headless Chromium under chromedriver, with one WebDriver session; both end when dropped.
pub struct Browser {
    driver: Child,
    port: u16,
    session: String,
    /// Where downloads land.
    pub downloads: PathBuf,
    _profile: tempfile::TempDir,
}

/// Finds a program on PATH.
fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(name))
            .find(|p| p.is_file())
    })
}

impl Browser {
    /// Starts chromedriver and a headless Chromium `width` pixels wide. Fails (never skips) when either is
    /// missing, saying how to install them.
    pub fn start(width: u32, height: u32) -> Self {
        let install =
            "install them with `apt-get install -y chromium chromium-driver` (.ci/run does)";
        let chromium = which("chromium")
            .or_else(|| which("chromium-browser"))
            .unwrap_or_else(|| panic!("chromium is not installed: {install}"));
        let chromedriver = which("chromedriver")
            .unwrap_or_else(|| panic!("chromedriver is not installed: {install}"));
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let driver = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let profile = tempfile::tempdir().expect("a profile folder");
        let downloads = profile.path().join("downloads");
        std::fs::create_dir_all(&downloads).expect("downloads folder");
        let mut browser = Self {
            driver,
            port,
            session: String::new(),
            downloads: downloads.clone(),
            _profile: profile,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while browser.request("GET", "/status", None).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium.to_string_lossy(),
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--no-first-run", "--disable-extensions",
                    format!("--user-data-dir={}", browser._profile.path().join("chrome").display()),
                    format!("--window-size={width},{height}"),
                ],
                "prefs": {
                    "download.default_directory": downloads.to_string_lossy(),
                    "download.prompt_for_download": false,
                    "safebrowsing.enabled": false,
                }
            }
        }}});
        let created = browser
            .request("POST", "/session", Some(&caps))
            .unwrap_or_else(|e| panic!("cannot start a Chromium session: {e}"));
        browser.session = created["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {created}"))
            .to_owned();
        // Downloads in headless Chromium go where the DevTools command says.
        let _ = browser.cmd(
            "POST",
            "/goog/cdp/execute",
            json!({"cmd": "Browser.setDownloadBehavior", "params": {
                "behavior": "allow", "downloadPath": downloads.to_string_lossy()}}),
        );
        browser
    }

    /// One WebDriver request; the answer's JSON, or the error it carried.
    fn request(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Value, String> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).map_err(|e| e.to_string())?;
        stream
            .set_read_timeout(Some(Duration::from_secs(120)))
            .map_err(|e| e.to_string())?;
        let body = body.map(Value::to_string).unwrap_or_default();
        let head = format!(
            "{method} {path} HTTP/1.1\r\nhost: 127.0.0.1:{}\r\ncontent-type: application/json\r\n\
             content-length: {}\r\nconnection: close\r\n\r\n",
            self.port,
            body.len()
        );
        stream
            .write_all(head.as_bytes())
            .and_then(|_| stream.write_all(body.as_bytes()))
            .map_err(|e| e.to_string())?;
        // chromedriver may keep the connection open: read the head, then exactly Content-Length bytes.
        let mut raw = Vec::new();
        let mut buf = [0u8; 64 * 1024];
        let body_start = loop {
            if let Some(at) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
                break at + 4;
            }
            let n = stream.read(&mut buf).map_err(|e| e.to_string())?;
            if n == 0 {
                return Err("connection closed before a response".into());
            }
            raw.extend_from_slice(&buf[..n]);
        };
        let head_text = String::from_utf8_lossy(&raw[..body_start]).to_ascii_lowercase();
        let length = head_text
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse::<usize>().ok());
        loop {
            if length.is_some_and(|n| raw.len() >= body_start + n) {
                break;
            }
            let n = stream.read(&mut buf).map_err(|e| e.to_string())?;
            if n == 0 {
                break;
            }
            raw.extend_from_slice(&buf[..n]);
        }
        let text = String::from_utf8_lossy(&raw);
        let (head, body) = text.split_once("\r\n\r\n").ok_or("no complete response")?;
        let body = if head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked")
        {
            dechunk(body)
        } else {
            body.to_owned()
        };
        let value: Value = serde_json::from_str(&body).map_err(|e| format!("{e}: {body}"))?;
        if head.starts_with("HTTP/1.1 2") {
            Ok(value)
        } else {
            Err(value["value"]["message"]
                .as_str()
                .unwrap_or(&body)
                .to_owned())
        }
    }

    /// A command of this session; its `value`.
    fn cmd(&self, method: &str, path: &str, body: Value) -> Result<Value, String> {
        let path = format!("/session/{}{path}", self.session);
        let body = (method == "POST").then_some(body);
        self.request(method, &path, body.as_ref())
            .map(|v| v["value"].clone())
    }

    fn must(&self, method: &str, path: &str, body: Value) -> Value {
        self.cmd(method, path, body.clone())
            .unwrap_or_else(|e| panic!("WebDriver {method} {path} {body}: {e}"))
    }

    /// Opens a URL.
    pub fn goto(&self, url: &str) {
        self.must("POST", "/url", json!({"url": url}));
    }

    /// The current URL.
    pub fn url(&self) -> String {
        self.must("GET", "/url", Value::Null)
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// The page's HTML as the browser has it now.
    pub fn source(&self) -> String {
        self.must("GET", "/source", Value::Null)
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// The first element matching a CSS selector, if any.
    pub fn try_find(&self, css: &str) -> Option<String> {
        self.cmd(
            "POST",
            "/element",
            json!({"using": "css selector", "value": css}),
        )
        .ok()
        .and_then(|v| v[ELEMENT].as_str().map(str::to_owned))
    }

    /// The first element matching a CSS selector, waiting up to `secs` seconds for it.
    pub fn wait_for(&self, css: &str, secs: u64) -> String {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(e) = self.try_find(css) {
                return e;
            }
            assert!(
                Instant::now() < deadline,
                "no element {css} within {secs}s at {}:\n{}",
                self.url(),
                self.source()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Waits up to `secs` seconds for the first element matching `css` to have exactly the
    /// visible text `want` (after a click the old page may still be showing).
    pub fn wait_text(&self, css: &str, want: &str, secs: u64) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let text = self
                .try_find(css)
                .and_then(|e| {
                    self.cmd("GET", &format!("/element/{e}/text"), Value::Null)
                        .ok()
                })
                .and_then(|v| v.as_str().map(str::to_owned));
            if text.as_deref() == Some(want) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{css} does not read {want:?} within {secs}s (it reads {text:?}) at {}",
                self.url()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Clicks the element matching `css` (waiting for it).
    pub fn click(&self, css: &str) {
        let e = self.wait_for(css, 10);
        self.must("POST", &format!("/element/{e}/click"), json!({}));
    }

    /// Types into the element matching `css`.
    pub fn type_into(&self, css: &str, text: &str) {
        let e = self.wait_for(css, 10);
        self.must(
            "POST",
            &format!("/element/{e}/value"),
            json!({"text": text}),
        );
    }

    /// The visible text of the element matching `css`.
    pub fn text(&self, css: &str) -> String {
        let e = self.wait_for(css, 10);
        self.must("GET", &format!("/element/{e}/text"), Value::Null)
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Runs a script in the page; its result.
    pub fn script(&self, script: &str, args: Value) -> Value {
        self.must(
            "POST",
            "/execute/sync",
            json!({"script": script, "args": args}),
        )
    }

    /// Runs an asynchronous script (its last argument is the callback); its result.
    pub fn script_async(&self, script: &str, args: Value) -> Value {
        self.must(
            "POST",
            "/execute/async",
            json!({"script": script, "args": args}),
        )
    }

    /// The browser's cookies.
    pub fn cookies(&self) -> Vec<Value> {
        self.must("GET", "/cookie", Value::Null)
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// Sets a cookie for the current page's site.
    pub fn add_cookie(&self, cookie: Value) {
        self.must("POST", "/cookie", json!({"cookie": cookie}));
    }

    /// Saves a screenshot of the viewport as PNG.
    pub fn screenshot(&self, path: &Path) {
        use base64::Engine as _;
        let data = self.must("GET", "/screenshot", Value::Null);
        let png = base64::engine::general_purpose::STANDARD
            .decode(data.as_str().unwrap_or_default())
            .expect("a base64 screenshot");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("screenshot folder");
        }
        std::fs::write(path, png).expect("screenshot written");
    }

    /// Sets the window's size.
    pub fn resize(&self, width: u32, height: u32) {
        self.must(
            "POST",
            "/window/rect",
            json!({"width": width, "height": height}),
        );
    }

    /// Runs axe-core (from `node_modules`) in the page; panics listing every serious or critical violation.
    pub fn assert_accessible(&self, what: &str) {
        let axe = crate::workspace().join("node_modules/axe-core/axe.min.js");
        let source = std::fs::read_to_string(&axe).unwrap_or_else(|e| {
            panic!(
                "{} is missing ({e}): run `npm ci` at the workspace root (the README's test command does)",
                axe.display()
            )
        });
        self.script(&source, json!([]));
        let result = self.script_async(
            "var done = arguments[arguments.length - 1];\
             axe.run(document, {resultTypes: ['violations']}).then(function (r) { done(r.violations.map(function (v) {\
               return {id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map(function (n) { return n.html; })};\
             })); }, function (e) { done([{id: 'axe-error', impact: 'critical', help: String(e), nodes: []}]); });",
            json!([]),
        );
        let serious: Vec<&Value> = result
            .as_array()
            .into_iter()
            .flatten()
            .filter(|v| matches!(v["impact"].as_str(), Some("serious" | "critical")))
            .collect();
        assert!(
            serious.is_empty(),
            "{what}: serious accessibility violations: {}",
            serde_json::to_string_pretty(&serious).unwrap_or_default()
        );
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = self.request("DELETE", &format!("/session/{}", self.session), None);
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn dechunk(body: &str) -> String {
    let mut out = String::new();
    let mut rest = body;
    while let Some((size, after)) = rest.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || after.len() < n {
            break;
        }
        out.push_str(&after[..n]);
        rest = after[n..].trim_start_matches("\r\n");
    }
    out
}

/// Where the suite saves screenshots: `target/console-screenshots`.
pub fn screenshots() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| crate::workspace().join("target"));
    target.join("console-screenshots")
}
