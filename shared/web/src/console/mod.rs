//! The console: pages that show and steer pipelines in a browser, answered the same way by `sluice serve` and a
//! function URL. Nothing here speaks HTTP: the transport turns a request into [`ConsoleRequest`] and
//! [`ConsoleReply`] into its response (streaming an artifact when the reply names a [`Download`]).
//!
//! Every page is rendered from CodePipeline API answers ([`crate::codepipeline::handle_as`]), made on behalf of
//! the signed-in key, so the console shows what the API says and every change it makes is recorded with who made
//! it. The routes (names percent-encoded):
//!
//! - `GET /` — the pipelines, each with its latest execution;
//! - `GET /pipelines/{name}` — stages, actions, transitions and the buttons that steer them;
//! - `GET /pipelines/{name}/executions` — the history, paged; `.../executions/{id}` — one execution;
//!   `.../executions/{id}/logs/{stage}/{action}` — an action's log; `.../artifacts/{stage}/{action}/{artifact}`
//!   — an output artifact, downloaded;
//! - `GET /pipelines/{name}/definition` — JSON, YAML, and the difference between two versions;
//! - `GET /audit` and `GET /pipelines/{name}/audit` — the audit log, newest first, paged ([`audit`]);
//! - `POST /pipelines/{name}/actions` — start, stop, retry, roll back, approve or reject, transitions;
//! - `GET|POST /sign-in`, `POST /sign-out`, `GET /console/assets/*`.
//!
//! GET never changes anything. Every POST needs a session ([`session`]), its CSRF token and, when the browser
//! sent one, this site's `Origin` (or `Referer`). Pages without a session redirect to the sign-in page; POSTs are
//! refused with 403. With the `X-Sluice-Fragment` header a page answers only its live region, which the
//! page's script swaps in every two seconds.

mod audit;
mod context;
mod definition;
mod executions;
mod forms;
pub mod html;
pub mod logs;
mod pipelines;
mod request;
pub mod session;
mod signin;
mod waiting;

use tracing::warn;

use crate::reply::WebReply;

pub use self::context::Console;
use self::context::Ctx;
use self::request::{field, redirect};
pub use self::request::{message, ConsoleReply, ConsoleRequest, Download};

/// Whether a path is the console's (so a transport routes it here).
pub fn is_console_path(method: &str, path: &str) -> bool {
    (method == "GET" && path == "/")
        || path == "/pipelines"
        || path.starts_with("/pipelines/")
        || (method == "GET" && path == "/audit")
        || (method == "GET" && path == waiting::PATH)
        || path == "/sign-in"
        || path == "/sign-out"
        || path.starts_with("/console/")
}

/// Answers one console request.
pub async fn answer(console: &Console<'_>, req: ConsoleRequest<'_>) -> ConsoleReply {
    let segments: Option<Vec<String>> = req
        .path
        .trim_start_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .map(percent_decode)
        .collect();
    let Some(segments) = segments else {
        return message(400, "Bad address", "The address has a malformed %-escape.").into();
    };
    let segs: Vec<&str> = segments.iter().map(String::as_str).collect();
    match (req.method, segs.as_slice()) {
        ("GET", ["console", "assets", "console.css"]) => {
            return asset("text/css; charset=utf-8", html::CSS)
        }
        ("GET", ["console", "assets", "console.js"]) => {
            return asset("text/javascript; charset=utf-8", html::JS)
        }
        ("GET", ["sign-in"]) => return signin::page(console, &req, None).await,
        ("POST", ["sign-in"]) => return signin::sign_in(console, &req).await,
        _ => {}
    }
    let session = match session::find(console.runtime, &req).await {
        Ok(s) => s,
        Err(e) => {
            warn!(error = %e, "console session lookup failed");
            return message(503, "Try again", "Sessions cannot be read just now.").into();
        }
    };
    // A session whose key has since been removed is no session.
    let session = session.and_then(|s| console.access.principal(&s.key_id).map(|p| (s, p)));
    let Some((session, principal)) = session else {
        if req.method == "GET" {
            if req.fragment {
                return message(401, "Signed out", "Sign in again.").into();
            }
            let here = if req.query.is_empty() {
                req.path.to_owned()
            } else {
                format!("{}?{}", req.path, req.query)
            };
            let next: String = form_urlencoded::byte_serialize(here.as_bytes()).collect();
            return redirect(&format!("/sign-in?next={next}"));
        }
        return message(
            403,
            "Not signed in",
            "Sign in to the console first; nothing was changed.",
        )
        .into();
    };
    if req.method == "POST" {
        let fields = req.form();
        let token = field(&fields, "csrf").unwrap_or("");
        if !session::same_origin(&req) || !session::same_secret(token, &session.csrf) {
            warn!(
                path = req.path,
                "console refused a cross-site or token-less form post"
            );
            return message(
                403,
                "Refused",
                "This form did not come from this console (its token or origin does not match); nothing was changed.",
            )
            .into();
        }
        return match segs.as_slice() {
            ["sign-out"] => signin::sign_out(console, &req, &session).await,
            ["pipelines", name, "actions"] => {
                forms::act(&Ctx::new(console, &req, &session, principal), name, &fields).await
            }
            _ => not_found(),
        };
    }
    if req.method != "GET" {
        let mut r = message(
            405,
            "Method not allowed",
            "Console pages are read with GET and changed with POST.",
        );
        r.headers.push(("allow", "GET, POST"));
        return r.into();
    }
    let ctx = Ctx::new(console, &req, &session, principal);
    let page = match segs.as_slice() {
        [] | ["pipelines"] => pipelines::list(&ctx).await,
        ["pipelines", name] => pipelines::show(&ctx, name).await,
        ["pipelines", name, "executions"] => executions::history(&ctx, name).await,
        ["pipelines", name, "executions", id] => executions::show(&ctx, name, id).await,
        ["pipelines", name, "executions", id, "logs", stage, action] => {
            executions::log(&ctx, name, id, stage, action).await
        }
        ["pipelines", name, "executions", id, "artifacts", stage, action, artifact] => {
            return executions::artifact(&ctx, name, id, stage, action, artifact).await
        }
        ["pipelines", name, "definition"] => definition::show(&ctx, name).await,
        ["audit"] => audit::all(&ctx).await,
        ["waiting"] => waiting::page(&ctx).await,
        ["pipelines", name, "audit"] => audit::pipeline(&ctx, name).await,
        _ => return not_found(),
    };
    match page {
        Ok(page) => ctx.render(&page),
        Err(failure) => failure.reply(&ctx),
    }
}

fn asset(content_type: &'static str, body: &str) -> ConsoleReply {
    WebReply {
        status: 200,
        content_type,
        headers: vec![
            ("cache-control", "public, max-age=300"),
            ("x-content-type-options", "nosniff"),
        ],
        body: body.to_owned(),
    }
    .into()
}

fn not_found() -> ConsoleReply {
    message(
        404,
        "Not found",
        "There is no console page at this address.",
    )
    .into()
}

/// Decodes `%XX` escapes; None when one is malformed or the result is not UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}
