//! A real git server on loopback: git's own CGI program `git-http-backend` behind a small HTTP/1.1 server, serving
//! clone, fetch, ls-remote and push over smart HTTP (protocol v0 and v2), optionally behind HTTP basic auth; and
//! [`WorkTree`], a working copy to commit and push with.
//!
//! Every git command here runs through [`git`], which keeps the user's and the system's configuration out and never
//! prompts, so a wrong password fails instead of waiting for a terminal.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::Duration;

use base64::Engine as _;

/// The largest request body accepted (pushes of test fixtures are far smaller).
const MAX_BODY: usize = 512 * 1024 * 1024;

/// A `git` command that reads no system or user configuration, never prompts for credentials and ignores any
/// repository the calling process is in.
pub fn git() -> Command {
    let mut command = Command::new("git");
    command
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env_remove("GIT_ASKPASS")
        .env_remove("SSH_ASKPASS")
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .env_remove("GIT_INDEX_FILE")
        .env_remove("GIT_PROTOCOL")
        .stdin(Stdio::null());
    command
}

/// Runs `command`, panicking with its stderr unless it succeeds; its stdout, trimmed.
pub fn run(command: &mut Command) -> String {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
    assert!(
        output.status.success(),
        "{command:?} failed ({}):\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

/// `url` (`http://host/...`) with `user` and `password` in it, as git takes them without a credential helper.
pub fn with_credentials(url: &str, user: &str, password: &str) -> String {
    let rest = url
        .strip_prefix("http://")
        .expect("an http:// URL to put credentials in");
    format!("http://{user}:{password}@{rest}")
}

/// `git-http-backend` of the installed git.
fn backend() -> &'static Path {
    static BACKEND: OnceLock<PathBuf> = OnceLock::new();
    BACKEND.get_or_init(|| {
        let exec_path = run(git().arg("--exec-path"));
        let backend = Path::new(&exec_path).join("git-http-backend");
        assert!(
            backend.exists(),
            "{} is missing: git's smart HTTP backend is needed",
            backend.display()
        );
        backend
    })
}

/// The server: a thread accepting on a free loopback port, a thread per connection, until dropped.
pub struct GitServer {
    root: PathBuf,
    port: u16,
    requests: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
    _temp: Option<tempfile::TempDir>,
}

/// What every connection needs to answer.
struct Shared {
    root: PathBuf,
    /// The expected `Authorization` header value, `Basic <base64(user:password)>`, and the user.
    auth: Option<(String, String)>,
    requests: Arc<AtomicUsize>,
}

impl GitServer {
    /// Serves every bare repository under `root` at `http://127.0.0.1:<port>/<name>.git`. With `auth`, every
    /// request needs basic auth with that user and password (401 with `WWW-Authenticate: Basic realm="git"`
    /// otherwise).
    pub fn start(root: &Path, auth: Option<(&str, &str)>) -> GitServer {
        Self::serve(root.to_path_buf(), auth, None)
    }

    /// [`GitServer::start`] on a fresh temporary root, removed when the server is dropped.
    pub fn start_temp(auth: Option<(&str, &str)>) -> GitServer {
        let temp = tempfile::tempdir().expect("a temporary git root");
        Self::serve(temp.path().to_path_buf(), auth, Some(temp))
    }

    fn serve(
        root: PathBuf,
        auth: Option<(&str, &str)>,
        temp: Option<tempfile::TempDir>,
    ) -> GitServer {
        backend();
        std::fs::create_dir_all(&root)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", root.display()));
        let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        let port = listener.local_addr().expect("the bound address").port();
        let requests = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let shared = Arc::new(Shared {
            root: root.clone(),
            auth: auth.map(|(user, password)| {
                let token =
                    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
                (format!("Basic {token}"), user.to_string())
            }),
            requests: requests.clone(),
        });
        let stopping = stop.clone();
        let accept = std::thread::Builder::new()
            .name(format!("git-server-{port}"))
            .spawn(move || {
                for stream in listener.incoming() {
                    if stopping.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let shared = shared.clone();
                    std::thread::spawn(move || serve_connection(stream, &shared));
                }
            })
            .expect("the accept thread starts");
        GitServer {
            root,
            port,
            requests,
            stop,
            accept: Some(accept),
            _temp: temp,
        }
    }

    /// The folder the repositories are served from.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `http://127.0.0.1:<port>`.
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// `http://127.0.0.1:<port>/<repo>.git`.
    pub fn url(&self, repo: &str) -> String {
        format!("{}/{repo}.git", self.base_url())
    }

    /// Creates the bare repository `<root>/<name>.git` (default branch `main`) that accepts pushes; its path.
    pub fn create_repo(&self, name: &str) -> PathBuf {
        let path = self.root.join(format!("{name}.git"));
        run(git()
            .args(["init", "--quiet", "--bare", "--initial-branch=main"])
            .arg(&path));
        for (key, value) in [
            ("http.receivepack", "true"),
            ("uploadpack.allowReachableSHA1InWant", "true"),
        ] {
            run(git().arg("-C").arg(&path).args(["config", key, value]));
        }
        path
    }

    /// How many HTTP requests were received (answered or refused).
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

impl Drop for GitServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accept loop so it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
    }
}

/// One parsed request.
struct Request {
    method: String,
    path: String,
    query: String,
    /// Header names (lower case) and values.
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Answers requests on one connection until the client closes it or a request fails.
fn serve_connection(stream: TcpStream, shared: &Shared) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(120)));
    let Ok(writer) = stream.try_clone() else {
        return;
    };
    let mut writer = writer;
    let mut reader = BufReader::new(stream);
    loop {
        let request = match read_request(&mut reader, &mut writer) {
            Ok(Some(request)) => request,
            Ok(None) => break,
            Err(message) => {
                let _ = respond(&mut writer, "400 Bad Request", &[], message.as_bytes());
                break;
            }
        };
        shared.requests.fetch_add(1, Ordering::SeqCst);
        let keep_alive = !request
            .header("connection")
            .is_some_and(|c| c.eq_ignore_ascii_case("close"));
        let answered = match authorize(&request, shared) {
            Err(()) => respond(
                &mut writer,
                "401 Unauthorized",
                &[("WWW-Authenticate", "Basic realm=\"git\"")],
                b"authentication required\n",
            ),
            Ok(user) => match run_backend(&request, user, shared) {
                Ok((status, headers, body)) => {
                    let headers: Vec<(&str, &str)> = headers
                        .iter()
                        .map(|(n, v)| (n.as_str(), v.as_str()))
                        .collect();
                    respond(&mut writer, &status, &headers, &body)
                }
                Err(message) => respond(
                    &mut writer,
                    "500 Internal Server Error",
                    &[],
                    message.as_bytes(),
                ),
            },
        };
        if answered.is_err() || !keep_alive {
            break;
        }
    }
    let _ = writer.shutdown(Shutdown::Both);
}

/// The authenticated user (`None` without auth), or `Err` when the credentials are missing or wrong.
fn authorize<'a>(request: &Request, shared: &'a Shared) -> Result<Option<&'a str>, ()> {
    match &shared.auth {
        None => Ok(None),
        Some((expected, user)) => match request.header("authorization") {
            Some(given) if given.trim() == expected => Ok(Some(user.as_str())),
            _ => Err(()),
        },
    }
}

/// Reads one request: `Ok(None)` when the client closed the connection before a request line.
fn read_request(
    reader: &mut BufReader<TcpStream>,
    writer: &mut TcpStream,
) -> Result<Option<Request>, String> {
    let mut line = String::new();
    if reader.read_line(&mut line).map_err(|e| e.to_string())? == 0 {
        return Ok(None);
    }
    let mut parts = line.split_whitespace();
    let (Some(method), Some(target)) = (parts.next(), parts.next()) else {
        return Err(format!("bad request line {line:?}"));
    };
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let (method, path, query) = (method.to_string(), path.to_string(), query.to_string());
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).map_err(|e| e.to_string())? == 0 {
            return Err("the headers end early".to_string());
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| format!("bad header {line:?}"))?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
    }
    let mut request = Request {
        method,
        path,
        query,
        headers,
        body: Vec::new(),
    };
    if request
        .header("expect")
        .is_some_and(|e| e.eq_ignore_ascii_case("100-continue"))
    {
        writer
            .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
            .map_err(|e| e.to_string())?;
    }
    let chunked = request
        .header("transfer-encoding")
        .is_some_and(|t| t.to_ascii_lowercase().contains("chunked"));
    request.body = if chunked {
        read_chunked(reader)?
    } else if let Some(length) = request.header("content-length") {
        let length: usize = length
            .parse()
            .map_err(|_| format!("bad Content-Length {length:?}"))?;
        if length > MAX_BODY {
            return Err("the body is too large".to_string());
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).map_err(|e| e.to_string())?;
        body
    } else {
        Vec::new()
    };
    Ok(Some(request))
}

/// A chunked body, decoded; the trailers are read and dropped.
fn read_chunked(reader: &mut BufReader<TcpStream>) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).map_err(|e| e.to_string())?;
        let size = line.trim().split(';').next().unwrap_or("").trim();
        let size =
            usize::from_str_radix(size, 16).map_err(|_| format!("bad chunk size line {line:?}"))?;
        if size == 0 {
            break;
        }
        if body.len() + size > MAX_BODY {
            return Err("the body is too large".to_string());
        }
        let start = body.len();
        body.resize(start + size, 0);
        reader
            .read_exact(&mut body[start..])
            .map_err(|e| e.to_string())?;
        let mut crlf = [0; 2];
        reader.read_exact(&mut crlf).map_err(|e| e.to_string())?;
        if &crlf != b"\r\n" {
            return Err("a chunk does not end with CRLF".to_string());
        }
    }
    loop {
        let mut trailer = String::new();
        if reader.read_line(&mut trailer).map_err(|e| e.to_string())? == 0
            || trailer.trim().is_empty()
        {
            return Ok(body);
        }
    }
}

/// CGI output: the status line, the headers other than `Status`, the body.
type CgiAnswer = (String, Vec<(String, String)>, Vec<u8>);

/// Runs `git-http-backend` for `request`.
fn run_backend(
    request: &Request,
    user: Option<&str>,
    shared: &Shared,
) -> Result<CgiAnswer, String> {
    let mut command = Command::new(backend());
    command
        .env("GIT_PROJECT_ROOT", &shared.root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .env_remove("GIT_INDEX_FILE")
        .env_remove("GIT_PROTOCOL")
        .env("GATEWAY_INTERFACE", "CGI/1.1")
        .env("SERVER_PROTOCOL", "HTTP/1.1")
        .env("REQUEST_METHOD", &request.method)
        .env("PATH_INFO", &request.path)
        .env("QUERY_STRING", &request.query)
        .env("REMOTE_ADDR", "127.0.0.1")
        .env("CONTENT_LENGTH", request.body.len().to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(content_type) = request.header("content-type") {
        command.env("CONTENT_TYPE", content_type);
    }
    if let Some(encoding) = request.header("content-encoding") {
        command.env("HTTP_CONTENT_ENCODING", encoding);
    }
    if let Some(protocol) = request.header("git-protocol") {
        command.env("GIT_PROTOCOL", protocol);
    }
    if let Some(user) = user {
        command.env("REMOTE_USER", user).env("AUTH_TYPE", "Basic");
    }
    let mut child = command
        .spawn()
        .map_err(|e| format!("cannot run git-http-backend: {e}"))?;
    let mut stdin = child.stdin.take().expect("the backend's stdin is piped");
    let body = request.body.clone();
    // Fed from a thread so a backend that answers before reading everything cannot deadlock with us.
    let feeder = std::thread::spawn(move || {
        let _ = stdin.write_all(&body);
    });
    let output = child
        .wait_with_output()
        .map_err(|e| format!("git-http-backend failed: {e}"))?;
    let _ = feeder.join();
    parse_cgi(&output)
}

/// Splits the backend's output into status, headers and body.
fn parse_cgi(output: &Output) -> Result<CgiAnswer, String> {
    let out = &output.stdout;
    let (head, body) = match find(out, b"\r\n\r\n") {
        Some(at) => (&out[..at], &out[at + 4..]),
        None => match find(out, b"\n\n") {
            Some(at) => (&out[..at], &out[at + 2..]),
            None => {
                return Err(format!(
                    "git-http-backend answered no headers ({}): {}",
                    output.status,
                    String::from_utf8_lossy(&output.stderr)
                ))
            }
        },
    };
    let mut status = "200 OK".to_string();
    let mut headers = Vec::new();
    for line in String::from_utf8_lossy(head).lines() {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let (name, value) = (name.trim(), value.trim());
        if name.eq_ignore_ascii_case("status") {
            status = value.to_string();
        } else if !name.eq_ignore_ascii_case("content-length")
            && !name.eq_ignore_ascii_case("connection")
        {
            headers.push((name.to_string(), value.to_string()));
        }
    }
    Ok((status, headers, body.to_vec()))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Writes one response with a Content-Length.
fn respond(
    writer: &mut TcpStream,
    status: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<()> {
    let mut head = format!("HTTP/1.1 {status}\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    writer.write_all(head.as_bytes())?;
    writer.write_all(body)?;
    writer.flush()
}

/// A working copy with an author configured, to write files, commit and push.
pub struct WorkTree {
    dir: PathBuf,
}

impl WorkTree {
    /// `git init` of `dir` (created if missing) on branch `main`.
    pub fn init(dir: &Path) -> WorkTree {
        std::fs::create_dir_all(dir)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
        run(git()
            .args(["init", "--quiet", "--initial-branch=main"])
            .arg(dir));
        let tree = WorkTree {
            dir: dir.to_path_buf(),
        };
        tree.configure();
        tree
    }

    /// `git clone` of `url` into `dir`.
    pub fn clone_from(url: &str, dir: &Path) -> WorkTree {
        run(git().args(["clone", "--quiet", url]).arg(dir));
        let tree = WorkTree {
            dir: dir.to_path_buf(),
        };
        tree.configure();
        tree
    }

    fn configure(&self) {
        for (key, value) in [
            ("user.name", "Sluice Tests"),
            ("user.email", "tests@sluice.invalid"),
            ("commit.gpgsign", "false"),
        ] {
            self.git(&["config", key, value]);
        }
    }

    /// The working copy's folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A `git` command ([`git`]) run in the working copy.
    pub fn command(&self) -> Command {
        let mut command = git();
        command.current_dir(&self.dir);
        command
    }

    /// Runs `git <args>` in the working copy, panicking unless it succeeds; its stdout, trimmed.
    pub fn git(&self, args: &[&str]) -> String {
        run(self.command().args(args))
    }

    /// Writes `contents` to the file `rel` (creating its folders).
    pub fn write(&self, rel: &str, contents: impl AsRef<[u8]>) -> &WorkTree {
        let path = self.dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .unwrap_or_else(|e| panic!("cannot create {}: {e}", parent.display()));
        }
        std::fs::write(&path, contents)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        self
    }

    /// Commits every change (`git add -A`) with `message`; the new commit's sha.
    pub fn commit(&self, message: &str) -> String {
        self.git(&["add", "-A"]);
        self.git(&["commit", "--quiet", "--allow-empty", "-m", message]);
        self.head()
    }

    /// The sha of `HEAD`.
    pub fn head(&self) -> String {
        self.git(&["rev-parse", "HEAD"])
    }

    /// Switches to branch `name`, creating it (or resetting it) at `HEAD`.
    pub fn branch(&self, name: &str) {
        self.git(&["checkout", "--quiet", "-B", name]);
    }

    /// Pushes `HEAD` to `refs/heads/<branch>` at `url` (credentials, if any, in the URL: [`with_credentials`]),
    /// panicking unless it succeeds.
    pub fn push(&self, url: &str, branch: &str) {
        run(&mut self.push_command(url, branch));
    }

    /// Like [`WorkTree::push`] but returns git's output whatever happened.
    pub fn try_push(&self, url: &str, branch: &str) -> Output {
        let mut command = self.push_command(url, branch);
        command
            .output()
            .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"))
    }

    fn push_command(&self, url: &str, branch: &str) -> Command {
        let mut command = self.command();
        command
            .args(["push", "--quiet", "--force", url])
            .arg(format!("HEAD:refs/heads/{branch}"));
        command
    }
}
