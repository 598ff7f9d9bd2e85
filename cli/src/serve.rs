//! `sluice serve`: CodePipeline's JSON 1.1 API over HTTP, authenticated with SigV4, while the engine drives
//! executions. `POST /` with `X-Amz-Target` goes to `sluice_web::codepipeline::handle`; `GET /` and the
//! console's pages go to `sluice_web::console` (signed-in sessions, see `console.rs`); `GET /health` answers
//! `ok` without authentication. Access keys come from a keys file (`ACCESS_KEY_ID SECRET` lines), created with
//! one random pair on first start.
//!
//! Two more routes carry their own credentials instead of SigV4: the approval pages (`/approvals/<token>`,
//! a signed link, see `approvals.rs`; `router.rs` routes every path) and the GitHub webhook (`POST /webhooks/<pipeline>`, an HMAC of the body,
//! see `webhooks.rs`). Their keys live in the state folder: `approval.key` and `webhook.secret`.

use crate::approvals;
use crate::people::write_private;
use crate::service::Service;
use anyhow::{bail, Context, Result};
use hyper_util::rt::TokioIo;
use sluice_host::Host;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tracing::{info, warn};

/// How long in-flight requests get to finish on shutdown.
pub(crate) const DRAIN: Duration = Duration::from_secs(5);

/// What `sluice serve` was asked for.
pub struct ServeOptions {
    /// The address to listen on.
    pub bind: SocketAddr,
    /// The keys file; `<state>/keys` when not given.
    pub keys: Option<PathBuf>,
    /// Allow a non-loopback bind address.
    pub allow_remote: bool,
    /// The URL approval links start with; `http://<bound address>` when not given.
    pub public_url: Option<String>,
}

/// Serves until SIGINT or SIGTERM, then stops the engine (handing its leases back) and returns.
pub async fn serve(host: &Host, options: ServeOptions) -> Result<()> {
    if !options.bind.ip().is_loopback() && !options.allow_remote {
        bail!(
            "refusing to listen on {}: it is not a loopback address (add --allow-remote to serve the network)",
            options.bind
        );
    }
    let files = crate::people::AccessFiles::new(&host.state_dir, options.keys.clone());
    let access = Arc::new(crate::people::LiveAccess::open(files.clone())?);
    let listener = TcpListener::bind(options.bind)
        .await
        .with_context(|| format!("cannot listen on {}", options.bind))?;
    let addr = listener
        .local_addr()
        .context("cannot read the bound address")?;
    let approval_key =
        load_or_create_secret(&host.state_dir.join("approval.key"), "approval link key")?;
    let webhook_path = host.state_dir.join("webhook.secret");
    let webhook_secret = load_or_create_secret(&webhook_path, "webhook secret")?;
    let base_url = match &options.public_url {
        Some(url) => url.trim_end_matches('/').to_owned(),
        None => format!("http://{addr}"),
    };
    // PutWebhook's webhook URLs start with it (set once: a second serve in this process keeps the first).
    let _ = host.runtime.config.webhook_base_url.set(base_url.clone());
    let (stop, engine) = host.drive().await?;
    outln!("sluice: serving the CodePipeline API on http://{addr}");
    let now = access.get();
    outln!(
        "sluice: {} access key(s) from {}, {} principal(s) from {} (keys no principal names are admins)",
        now.keys().len(),
        files.keys.display(),
        now.principals().len(),
        files.principals.display()
    );
    outln!(
        "sluice: configure the aws CLI with `aws configure` (the key pair from that file), then \
         `aws codepipeline list-pipelines --endpoint-url http://{addr} --region us-east-1`"
    );
    outln!(
        "sluice: GitHub, GitLab and Bitbucket webhooks at {base_url}/webhooks/PIPELINE (content type \
         application/json), secret in {}",
        webhook_path.display()
    );
    outln!("sluice: the console is at {base_url}/ (sign in with a key pair from the keys file)");
    let notifications = host.state_dir.join("notifications.jsonl");
    outln!(
        "sluice: approval links are printed here and appended to {}",
        notifications.display()
    );
    let announcer = tokio::spawn(approvals::announce(
        Arc::clone(&host.runtime),
        Arc::clone(&access) as Arc<dyn sluice_runtime::ports::Directory>,
        approval_key.clone(),
        base_url,
        notifications,
    ));
    let poller = crate::polls::interval().map(|every| {
        outln!(
            "sluice: polling sources with PollForSourceChanges every {}s (SLUICE_SOURCE_POLL_SECONDS)",
            every.as_secs_f64()
        );
        tokio::spawn(crate::polls::poll_forever(Arc::clone(&host.runtime), every))
    });
    let service = Arc::new(Service {
        runtime: Arc::clone(&host.runtime),
        access,
        approval_key,
        webhook_secret,
        uploads: fresh_uploads(&host.state_dir)?,
        logs: host.state_dir.join("logs"),
        session_lifetime_s: session_lifetime()?,
        changed_files: crate::changed_files::GitChangedFiles {
            cache: host.state_dir.join("git-cache"),
        },
    });
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let service = Arc::clone(&service);
                let svc = hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
                    // The caller's address, for webhooks that allow an address range.
                    req.extensions_mut().insert(peer);
                    let service = Arc::clone(&service);
                    async move { Ok::<_, Infallible>(service.respond(req).await) }
                });
                let conn = hyper::server::conn::http1::Builder::new()
                    .timer(hyper_util::rt::TokioTimer::new())
                    .header_read_timeout(Duration::from_secs(30))
                    .serve_connection(TokioIo::new(stream), svc);
                let conn = graceful.watch(conn);
                tokio::spawn(async move {
                    if let Err(e) = conn.await {
                        info!(error = %e, "connection ended with an error");
                    }
                });
            }
            signal = &mut shutdown => {
                if let Err(e) = signal {
                    warn!(error = %e, "cannot wait for signals; stopping");
                }
                break;
            }
        }
    }
    outln!("sluice: stopping");
    announcer.abort();
    if let Some(poller) = poller {
        poller.abort();
    }
    drop(listener);
    if tokio::time::timeout(DRAIN, graceful.shutdown())
        .await
        .is_err()
    {
        warn!("requests still in flight after the drain period; closing them");
    }
    stop.notify_one();
    let _ = tokio::time::timeout(DRAIN, engine).await;
    Ok(())
}

#[cfg(unix)]
pub(crate) async fn shutdown_signal() -> std::io::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r,
        _ = term.recv() => Ok(()),
    }
}

#[cfg(not(unix))]
pub(crate) async fn shutdown_signal() -> std::io::Result<()> {
    tokio::signal::ctrl_c().await
}

/// Reads a secret from a file of hex text; the file is created with 32 random bytes (mode 0600) when missing.
pub(crate) fn load_or_create_secret(path: &Path, what: &str) -> Result<Vec<u8>> {
    if !path.exists() {
        let mut bytes = [0u8; 32];
        getrandom::getrandom(&mut bytes)
            .map_err(|e| anyhow::anyhow!("cannot draw random bytes for the {what}: {e}"))?;
        match write_private(path, &format!("{}\n", hex::encode(bytes))) {
            Ok(()) => outln!("sluice: created the {what} {}", path.display()),
            // Another process created it first: read theirs.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => {
                return Err(e)
                    .with_context(|| format!("cannot create the {what} {}", path.display()))
            }
        }
    }
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the {what} {}", path.display()))?;
    let text = text.trim();
    if text.len() < 32 {
        bail!(
            "{what} {} is too short: it needs at least 32 characters (sluice writes 64 hex digits)",
            path.display()
        );
    }
    Ok(text.as_bytes().to_vec())
}

/// How long console sessions last: `SLUICE_CONSOLE_SESSION_SECONDS`, or 12 hours.
fn session_lifetime() -> Result<i64> {
    match std::env::var(crate::console::SESSION_SECONDS_ENV) {
        Ok(v) => match v.trim().parse::<i64>() {
            Ok(n) if n > 0 => Ok(n),
            _ => bail!(
                "{} must be a positive number of seconds, not {v:?}",
                crate::console::SESSION_SECONDS_ENV
            ),
        },
        Err(_) => Ok(sluice_web::console::session::DEFAULT_LIFETIME_S),
    }
}

/// The folder artifact uploads stream to, emptied: what is there was left by a server that was killed mid-upload.
fn fresh_uploads(state_dir: &Path) -> Result<PathBuf> {
    let dir = state_dir.join("uploads");
    if dir.exists() {
        std::fs::remove_dir_all(&dir).with_context(|| format!("cannot empty {}", dir.display()))?;
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(dir)
}
