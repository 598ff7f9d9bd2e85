//! Signed approval links: `/approvals/<token>?expires=<unix seconds>&sig=<hex>`, where `sig` is
//! HMAC-SHA256 over the approval token and the expiry with a key only the server knows. The link is the
//! credential of the approval pages, so nothing else (no session, no login) is needed to open it.
//!
//! Pure: no IO, no clock. `sluice serve` and (later) the approval Lambda call it with their key and time.
//! A link stays single-use because an approval can be decided only once (the runtime refuses a second
//! decision); the signature only proves the server issued the link for that token, until `expires`.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// How long a link lives when the approval has no expiry of its own: CodePipeline's seven days.
pub const DEFAULT_LIFETIME_S: i64 = 7 * 24 * 3600;

/// The route prefix of the approval pages.
pub const PATH_PREFIX: &str = "/approvals/";

/// The longest approval token a link may carry.
const MAX_TOKEN: usize = 128;

/// Why a link is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    /// The link is not one the server could have issued: a part missing or unreadable.
    #[error("malformed approval link: {0}")]
    Malformed(String),
    /// The signature does not match the token and expiry: the link was altered or made up.
    #[error(
        "the approval link's signature does not match: the link was altered or not issued here"
    )]
    Forged,
    /// The link was genuine but its time is over.
    #[error("the approval link expired at {expired_at} (unix seconds)")]
    Expired {
        /// When it expired, unix seconds.
        expired_at: i64,
    },
}

/// Whether `token` can be an approval token in a link: 1 to 128 of `A-Z a-z 0-9 - _`.
pub fn valid_token(token: &str) -> bool {
    !token.is_empty()
        && token.len() <= MAX_TOKEN
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn mac(key: &[u8], token: &str, expires: i64, by: Option<&str>) -> Hmac<Sha256> {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    // Domain-separated, and the token cannot contain a newline, so no two (token, expiry) pairs share bytes.
    mac.update(b"sluice-approval-link\n");
    mac.update(token.as_bytes());
    mac.update(b"\n");
    mac.update(expires.to_string().as_bytes());
    // An approver's link signs its name too; the expiry holds only digits, so this cannot be mistaken for it.
    if let Some(by) = by {
        mac.update(b"\nby\n");
        mac.update(by.as_bytes());
    }
    mac
}

/// Whether `name` can be named in a link as its approver: a principal's name, 1 to 64 of
/// `A-Z a-z 0-9 . _ @ -` (URL-safe as it is).
pub fn valid_approver(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'@' | b'-'))
}

/// A link checked by [`verify_link`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// When it expires, unix seconds.
    pub expires: i64,
    /// The approver it was issued to, for one approver's link; None for a shared link.
    pub by: Option<String>,
}

/// The query string of the link issued to approver `by` alone: `expires=<unix seconds>&by=<name>&sig=<hex>`.
/// A decision through it is recorded as `by`'s. `by` must pass [`valid_approver`].
pub fn approver_query(key: &[u8], token: &str, expires: i64, by: &str) -> String {
    let sig = hex::encode(mac(key, token, expires, Some(by)).finalize().into_bytes());
    format!("expires={expires}&by={by}&sig={sig}")
}

/// The path and query of approver `by`'s link: `/approvals/<token>?expires=...&by=...&sig=...`.
pub fn approver_path(key: &[u8], token: &str, expires: i64, by: &str) -> String {
    format!(
        "{PATH_PREFIX}{token}?{}",
        approver_query(key, token, expires, by)
    )
}

/// The hex signature of a link for `token` valid until `expires` (unix seconds).
pub fn signature(key: &[u8], token: &str, expires: i64) -> String {
    hex::encode(mac(key, token, expires, None).finalize().into_bytes())
}

/// The query string of a link: `expires=<unix seconds>&sig=<hex>`.
pub fn query(key: &[u8], token: &str, expires: i64) -> String {
    format!("expires={expires}&sig={}", signature(key, token, expires))
}

/// The path and query of a link: `/approvals/<token>?expires=...&sig=...`.
pub fn path(key: &[u8], token: &str, expires: i64) -> String {
    format!("{PATH_PREFIX}{token}?{}", query(key, token, expires))
}

/// Checks a link's token and query string (`expires` and `sig`, in any order; nothing else) at `now_s`.
/// Returns the link's expiry. A forged link is reported as forged even when its expiry has passed too, so
/// nothing is learnt about links the server did not issue.
pub fn verify(key: &[u8], token: &str, query: &str, now_s: i64) -> Result<i64, LinkError> {
    verify_link(key, token, query, now_s).map(|v| v.expires)
}

/// Checks a link's token and query string (`expires`, `sig` and, in an approver's link, `by`; in any order;
/// nothing else) at `now_s`. Answers its expiry and approver. A forged link is reported as forged even when
/// its expiry has passed too, so nothing is learnt about links the server did not issue.
pub fn verify_link(
    key: &[u8],
    token: &str,
    query: &str,
    now_s: i64,
) -> Result<Verified, LinkError> {
    if !valid_token(token) {
        return Err(LinkError::Malformed(
            "the approval token must be 1 to 128 letters, digits, '-' or '_'".into(),
        ));
    }
    let mut expires = None;
    let mut sig = None;
    let mut by = None;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let slot = match name {
            "expires" => &mut expires,
            "sig" => &mut sig,
            "by" => &mut by,
            other => {
                return Err(LinkError::Malformed(format!(
                    "unexpected query parameter {other:?} (a link has only expires, by and sig)"
                )))
            }
        };
        if slot.replace(value).is_some() {
            return Err(LinkError::Malformed(format!(
                "query parameter {name} is given twice"
            )));
        }
    }
    let expires =
        expires.ok_or_else(|| LinkError::Malformed("query parameter expires is missing".into()))?;
    let expires: i64 = expires
        .parse()
        .ok()
        .filter(|&e: &i64| e > 0 && !expires.starts_with('+'))
        .ok_or_else(|| {
            LinkError::Malformed(format!(
                "query parameter expires must be unix seconds, not {expires:?}"
            ))
        })?;
    let sig = sig.ok_or_else(|| LinkError::Malformed("query parameter sig is missing".into()))?;
    let sig = hex::decode(sig).map_err(|_| {
        LinkError::Malformed("query parameter sig must be a hex HMAC-SHA256 signature".into())
    })?;
    // Constant time: `verify_slice` compares without an early exit.
    if let Some(name) = by.filter(|b| !valid_approver(b)) {
        return Err(LinkError::Malformed(format!(
            "query parameter by must be a principal's name, not {name:?}"
        )));
    }
    mac(key, token, expires, by)
        .verify_slice(&sig)
        .map_err(|_| LinkError::Forged)?;
    if now_s >= expires {
        return Err(LinkError::Expired {
            expired_at: expires,
        });
    }
    Ok(Verified {
        expires,
        by: by.map(str::to_owned),
    })
}

/// When a link for an approval requested at `requested_ms` expires: when the approval action times out
/// (`timeout_minutes`, when known), else after [`DEFAULT_LIFETIME_S`].
pub fn expiry_s(requested_ms: i64, timeout_minutes: Option<u32>) -> i64 {
    let lifetime = timeout_minutes.map_or(DEFAULT_LIFETIME_S, |m| i64::from(m) * 60);
    requested_ms.div_euclid(1000) + lifetime
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"0123456789abcdef0123456789abcdef";
    const TOKEN: &str = "4b1c9e2a-0d3f-4e5a-9b6c-7d8e9f0a1b2c";

    fn check(token: &str, query: &str, now: i64, expected: Result<i64, LinkError>) {
        assert_eq!(verify(KEY, token, query, now), expected, "{token}?{query}");
    }

    #[test]
    fn a_link_it_signed_is_accepted_until_it_expires() {
        let q = query(KEY, TOKEN, 1_000);
        check(TOKEN, &q, 999, Ok(1_000));
        check(
            TOKEN,
            &q,
            1_000,
            Err(LinkError::Expired { expired_at: 1_000 }),
        );
        check(
            TOKEN,
            &q,
            5_000,
            Err(LinkError::Expired { expired_at: 1_000 }),
        );
        // Parameter order does not matter.
        let (e, s) = q.split_once('&').expect("two parameters");
        check(TOKEN, &format!("{s}&{e}"), 999, Ok(1_000));
        assert_eq!(path(KEY, TOKEN, 1_000), format!("/approvals/{TOKEN}?{q}"));
    }

    #[test]
    fn any_change_to_the_link_is_forged() {
        let sig = signature(KEY, TOKEN, 1_000);
        // Another expiry, another token, another key, a flipped signature digit.
        check(
            TOKEN,
            &format!("expires=2000&sig={sig}"),
            0,
            Err(LinkError::Forged),
        );
        check(
            "other-token",
            &format!("expires=1000&sig={sig}"),
            0,
            Err(LinkError::Forged),
        );
        let other_key = query(b"another key", TOKEN, 1_000);
        check(TOKEN, &other_key, 0, Err(LinkError::Forged));
        let mut flipped = sig.clone().into_bytes();
        flipped[0] = if flipped[0] == b'0' { b'1' } else { b'0' };
        let flipped = String::from_utf8(flipped).expect("hex");
        check(
            TOKEN,
            &format!("expires=1000&sig={flipped}"),
            0,
            Err(LinkError::Forged),
        );
        // A truncated signature is a wrong one, not a shorter match.
        check(
            TOKEN,
            &format!("expires=1000&sig={}", &sig[..32]),
            0,
            Err(LinkError::Forged),
        );
        // Forged wins over expired: nothing is said about links the server did not issue.
        check(
            TOKEN,
            &format!("expires=10&sig={sig}"),
            5_000,
            Err(LinkError::Forged),
        );
    }

    #[test]
    fn unreadable_links_are_malformed_and_say_what_is_wrong() {
        let sig = signature(KEY, TOKEN, 1_000);
        let cases = [
            (TOKEN, "sig=00".to_owned(), "expires is missing"),
            (TOKEN, "expires=1000".to_owned(), "sig is missing"),
            (TOKEN, format!("expires=soon&sig={sig}"), "unix seconds"),
            (TOKEN, format!("expires=-5&sig={sig}"), "unix seconds"),
            (TOKEN, format!("expires=+1000&sig={sig}"), "unix seconds"),
            (TOKEN, "expires=1000&sig=zz".to_owned(), "hex"),
            (
                TOKEN,
                format!("expires=1000&expires=1000&sig={sig}"),
                "given twice",
            ),
            (
                TOKEN,
                format!("expires=1000&sig={sig}&decision=Approved"),
                "\"decision\"",
            ),
            ("", format!("expires=1000&sig={sig}"), "approval token"),
            ("a/b", format!("expires=1000&sig={sig}"), "approval token"),
            (
                "<script>",
                format!("expires=1000&sig={sig}"),
                "approval token",
            ),
        ];
        for (token, q, needle) in cases {
            match verify(KEY, token, &q, 0) {
                Err(LinkError::Malformed(m)) => assert!(m.contains(needle), "{q}: {m}"),
                other => panic!("{token}?{q}: {other:?}"),
            }
        }
        assert!(valid_token(&"a".repeat(128)));
        assert!(!valid_token(&"a".repeat(129)));
    }

    #[test]
    fn links_expire_with_the_approval_or_after_seven_days() {
        assert_eq!(expiry_s(10_500, None), 10 + 7 * 24 * 3600);
        assert_eq!(expiry_s(10_500, Some(60)), 10 + 3600);
    }

    #[test]
    fn an_approvers_link_names_its_approver_and_cannot_be_renamed() {
        let q = approver_query(KEY, TOKEN, 1_000, "alice");
        assert_eq!(
            verify_link(KEY, TOKEN, &q, 999),
            Ok(Verified {
                expires: 1_000,
                by: Some("alice".into())
            })
        );
        // Another name on alice's signature, or her name dropped: both forged.
        let renamed = q.replace("by=alice", "by=bob");
        assert_eq!(
            verify_link(KEY, TOKEN, &renamed, 999),
            Err(LinkError::Forged)
        );
        let dropped = q.replace("by=alice&", "");
        assert_eq!(
            verify_link(KEY, TOKEN, &dropped, 999),
            Err(LinkError::Forged)
        );
        // A shared link's signature does not become alice's by adding her name.
        let shared = query(KEY, TOKEN, 1_000);
        assert_eq!(
            verify_link(KEY, TOKEN, &format!("{shared}&by=alice"), 999),
            Err(LinkError::Forged)
        );
        assert!(matches!(
            verify_link(KEY, TOKEN, &q.replace("by=alice", "by=al%20ice"), 999),
            Err(LinkError::Malformed(_))
        ));
    }
}
