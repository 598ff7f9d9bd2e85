//! Signing in with an access key pair of the keys file, and signing out.

use tracing::info;

use super::context::Console;
use super::html::{esc, hidden, Page};
use super::request::{field, html_reply, message, redirect, ConsoleReply, ConsoleRequest};
use super::session::{self, Session};

/// Where to go after signing in: a path on this site, never another site (`//host`, `/\host`).
fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.starts_with("/\\") => n,
        _ => "/",
    }
}

/// The sign-in page (with why the last attempt failed).
pub(super) async fn page(
    console: &Console<'_>,
    req: &ConsoleRequest<'_>,
    problem: Option<&str>,
) -> ConsoleReply {
    if problem.is_none() {
        if let Ok(Some(_)) = session::find(console.runtime, req).await {
            return redirect("/");
        }
    }
    let params = if req.method == "POST" {
        req.form()
    } else {
        req.params()
    };
    let next = safe_next(field(&params, "next"));
    let mut page = Page::new("Sign in");
    page.refresh = false;
    let mut body = String::from("<div class=\"panel signin\">\n<h1>Sign in to Sluice</h1>\n");
    if let Some(problem) = problem {
        body.push_str(&format!(
            "<p class=\"error\" role=\"alert\">{}</p>\n",
            esc(problem)
        ));
    }
    body.push_str(&format!(
        "<p class=\"muted\">Use an access key pair from the keys file <code>sluice serve</code> reads \
         (<code>&lt;state&gt;/keys</code> unless given with <code>--keys</code>).</p>\n\
         <form method=\"post\" action=\"/sign-in\">{}\n\
         <p><label for=\"keyId\">Access key id</label><br>\
         <input type=\"text\" id=\"keyId\" name=\"keyId\" autocomplete=\"username\" required autofocus spellcheck=\"false\"></p>\n\
         <p><label for=\"secret\">Secret access key</label><br>\
         <input type=\"password\" id=\"secret\" name=\"secret\" autocomplete=\"current-password\" required></p>\n\
         <p><button type=\"submit\" id=\"sign-in\">Sign in</button></p>\n</form>\n</div>\n",
        hidden("next", next)
    ));
    page.raw(&body);
    let status = if problem.is_some() { 403 } else { 200 };
    html_reply(status, page.finish(None)).into()
}

/// Checks a key pair; on success starts a session and sets its cookie.
pub(super) async fn sign_in(console: &Console<'_>, req: &ConsoleRequest<'_>) -> ConsoleReply {
    // A sign-in posted from another site would sign the victim in as the attacker.
    if !session::same_origin(req) {
        return message(403, "Refused", "Sign in from this console's own page.").into();
    }
    let fields = req.form();
    let key_id = field(&fields, "keyId").unwrap_or("").trim();
    let secret = field(&fields, "secret").unwrap_or("").trim();
    let known = console
        .access
        .keys()
        .secret(key_id)
        .is_some_and(|s| session::same_secret(s, secret));
    if !known {
        info!(key_id, "console sign-in refused");
        return page(
            console,
            req,
            Some("That access key id and secret do not match a key pair of this server."),
        )
        .await;
    }
    let started = session::create(
        console.runtime,
        key_id,
        req.now_s,
        console.session_lifetime_s,
    )
    .await;
    match started {
        Ok(s) => {
            info!(key_id, "console sign-in");
            let mut r = redirect(safe_next(field(&fields, "next")));
            r.headers.push((
                "set-cookie",
                session::set_cookie(req, &s.id, console.session_lifetime_s),
            ));
            r
        }
        Err(e) => message(503, "Try again", &e.to_string()).into(),
    }
}

/// Ends the session (in the store: the cookie stops working everywhere) and clears the cookie.
pub(super) async fn sign_out(
    console: &Console<'_>,
    req: &ConsoleRequest<'_>,
    s: &Session,
) -> ConsoleReply {
    if let Err(e) = session::delete(console.runtime, s).await {
        return message(503, "Try again", &e.to_string()).into();
    }
    info!(key_id = %s.key_id, "console sign-out");
    let mut r = redirect("/sign-in");
    r.headers.push(("set-cookie", session::clear_cookie(req)));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn goes_only_to_paths_of_this_site_after_signing_in() {
        for (next, to) in [
            (Some("/pipelines/p"), "/pipelines/p"),
            (Some("//evil.example/"), "/"),
            (Some("/\\evil.example"), "/"),
            (Some("https://evil.example/"), "/"),
            (None, "/"),
        ] {
            assert_eq!(safe_next(next), to);
        }
    }
}
