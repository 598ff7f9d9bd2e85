//! A `sluice serve` process for end-to-end suites: started from the built binary on a free loopback port over
//! a state folder, with a keys file of one known pair; stopped (SIGTERM, then kill) when dropped or restarted.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The access key id every test server accepts.
pub const KEY_ID: &str = "AKIASLUICETEST000002";
/// Its secret.
pub const SECRET: &str = "c2x1aWNlLXNkay10ZXN0LXNlY3JldC1rZXktMDAy";

/// A running server.
pub struct ServeProcess {
    child: Option<Child>,
    /// The port it listens on.
    pub port: u16,
    /// The folder holding `state/`, `keys` and `server.out`.
    pub dir: PathBuf,
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        self.stop();
    }
}

impl ServeProcess {
    /// Starts a server over `<dir>/state`.
    pub fn start(dir: &Path) -> Self {
        std::fs::create_dir_all(dir).expect("server folder");
        std::fs::write(dir.join("keys"), format!("{KEY_ID} {SECRET}\n")).expect("keys file");
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let mut server = Self {
            child: None,
            port,
            dir: dir.to_owned(),
        };
        server.spawn();
        server
    }

    fn spawn(&mut self) {
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("server.out"))
            .expect("server log");
        let err = out.try_clone().expect("server log");
        let child = Command::new(crate::sluice_bin())
            .arg("--state-dir")
            .arg(self.state_dir())
            .args(["serve", "--bind", &format!("127.0.0.1:{}", self.port)])
            .arg("--keys")
            .arg(self.dir.join("keys"))
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("sluice serve starts");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!("sluice serve exited with {status}: {}", self.output());
            }
            assert!(
                Instant::now() < deadline,
                "server not ready: {}",
                self.output()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The state folder.
    pub fn state_dir(&self) -> PathBuf {
        self.dir.join("state")
    }

    /// The server's URL.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// What it printed.
    pub fn output(&self) -> String {
        std::fs::read_to_string(self.dir.join("server.out")).unwrap_or_default()
    }

    /// Stops it: SIGTERM (a graceful stop), then a kill after 10 seconds.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
    }

    /// Kills it at once (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again over the same state folder and port.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    /// A `sluice` command acting through this server (`--endpoint`, signed with the test key).
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
}
