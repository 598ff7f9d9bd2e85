//! Console sessions: signing in with an access key pair of the keys file, a random session id in an HttpOnly,
//! SameSite=Strict cookie, the session itself kept in the store (so signing out ends it everywhere, and a copied
//! cookie dies with it), and the checks every state-changing request passes: the session's CSRF token, and the
//! request's `Origin` (or `Referer`) when the browser sent one.

use serde_json::json;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use sluice_runtime::ports::{Condition, Item, Write};
use sluice_runtime::Runtime;

use super::request::ConsoleRequest;

/// The session cookie's name.
pub const COOKIE: &str = "sluice_session";

/// How long a session lasts unless the server is told otherwise: 12 hours.
pub const DEFAULT_LIFETIME_S: i64 = 12 * 3600;

/// A signed-in session, as read from the store.
#[derive(Debug, Clone)]
pub struct Session {
    /// The access key id signed in with: who changes are recorded as.
    pub key_id: String,
    /// The token every form of this session carries.
    pub csrf: String,
    /// The session id (the cookie's value).
    pub id: String,
}

/// Why a session could not be read or written.
#[derive(Debug, thiserror::Error)]
#[error("session store: {0}")]
pub struct SessionError(String);

fn store_key(id: &str) -> (String, String) {
    let digest = hex::encode(Sha256::digest(id.as_bytes()));
    // Keyed by the id's hash: the store never holds a usable cookie.
    (format!("CONSOLE#SESSION#{digest}"), "SESSION".to_owned())
}

/// 32 random bytes as hex.
pub fn random_token() -> Result<String, SessionError> {
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes).map_err(|e| SessionError(format!("no randomness: {e}")))?;
    Ok(hex::encode(bytes))
}

/// Starts a session for `key_id`, valid `lifetime_s` seconds from `now_s`.
pub async fn create(
    runtime: &Runtime,
    key_id: &str,
    now_s: i64,
    lifetime_s: i64,
) -> Result<Session, SessionError> {
    let session = Session {
        key_id: key_id.to_owned(),
        csrf: random_token()?,
        id: random_token()?,
    };
    let (pk, sk) = store_key(&session.id);
    let expires = now_s + lifetime_s;
    let item = Item {
        pk,
        sk,
        version: 1,
        data: json!({"keyId": key_id, "csrf": session.csrf, "created": now_s, "expires": expires}),
        expires_at: Some(expires),
    };
    runtime
        .store
        .transact(vec![Write::Put(item, Condition::Absent)])
        .await
        .map_err(|e| SessionError(e.to_string()))?;
    Ok(session)
}

/// The session a request's cookie names, if it exists and has not expired.
pub async fn find(
    runtime: &Runtime,
    req: &ConsoleRequest<'_>,
) -> Result<Option<Session>, SessionError> {
    let Some(id) = cookie(req.cookie.unwrap_or(""), COOKIE) else {
        return Ok(None);
    };
    if id.len() != 64 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(None);
    }
    let (pk, sk) = store_key(id);
    let Some(item) = runtime
        .store
        .get(&pk, &sk)
        .await
        .map_err(|e| SessionError(e.to_string()))?
    else {
        return Ok(None);
    };
    // The store's TTL removes items lazily: the expiry is checked here too.
    if item.data["expires"].as_i64().unwrap_or(0) <= req.now_s {
        return Ok(None);
    }
    Ok(Some(Session {
        key_id: item.data["keyId"].as_str().unwrap_or_default().to_owned(),
        csrf: item.data["csrf"].as_str().unwrap_or_default().to_owned(),
        id: id.to_owned(),
    }))
}

/// Ends a session: its cookie no longer works anywhere.
pub async fn delete(runtime: &Runtime, session: &Session) -> Result<(), SessionError> {
    let (pk, sk) = store_key(&session.id);
    runtime
        .store
        .transact(vec![Write::Delete {
            pk,
            sk,
            condition: Condition::None,
        }])
        .await
        .map_err(|e| SessionError(e.to_string()))
}

/// The `Set-Cookie` value that carries a session (Secure when the request came over TLS).
pub fn set_cookie(req: &ConsoleRequest<'_>, id: &str, lifetime_s: i64) -> String {
    format!(
        "{COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict; Max-Age={lifetime_s}{}",
        if req.is_tls() { "; Secure" } else { "" }
    )
}

/// The `Set-Cookie` value that clears the session cookie.
pub fn clear_cookie(req: &ConsoleRequest<'_>) -> String {
    format!(
        "{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{}",
        if req.is_tls() { "; Secure" } else { "" }
    )
}

/// A cookie's value in a `Cookie` header.
fn cookie<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header.split(';').find_map(|pair| {
        let (n, v) = pair.trim().split_once('=')?;
        (n == name).then_some(v.trim())
    })
}

/// Whether two secrets are equal, in time that does not depend on where they differ.
pub fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// Whether a state-changing request comes from this site: its `Origin` (or, without one, its `Referer`) must
/// be this server's own, when the browser sent either.
pub fn same_origin(req: &ConsoleRequest<'_>) -> bool {
    let Some(host) = req.host else {
        return req.origin.is_none() && req.referer.is_none();
    };
    let scheme = if req.is_tls() { "https" } else { "http" };
    let own = format!("{scheme}://{host}");
    if let Some(origin) = req.origin {
        return origin == own;
    }
    if let Some(referer) = req.referer {
        return referer == own || referer.starts_with(&format!("{own}/"));
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_session_cookie_among_others() {
        assert_eq!(cookie("a=1; sluice_session=abc; b=2", COOKIE), Some("abc"));
        assert_eq!(cookie("xsluice_session=abc", COOKIE), None);
    }

    #[test]
    fn compares_secrets_whole() {
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
        assert!(!same_secret("abc", "abcd"));
    }
}
