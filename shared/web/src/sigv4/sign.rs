//! The client side: signing a request (`sluice --endpoint`, the job agent).

use super::canonical::{canonical_request, format_amz_date, signature, SignedRequest, ALGORITHM};
use sha2::{Digest, Sha256};

/// What a client signs with.
#[derive(Debug, Clone)]
pub struct Credentials {
    /// The access key id.
    pub access_key_id: String,
    /// The secret access key.
    pub secret_access_key: String,
    /// A session token, for temporary credentials.
    pub session_token: Option<String>,
}

/// A request to sign.
pub struct Outgoing<'a> {
    /// The HTTP method.
    pub method: &'a str,
    /// The path, URI-encoded.
    pub path: &'a str,
    /// The body.
    pub body: &'a [u8],
}

/// Signs a request for `service` in `region`: adds `x-amz-date`, `x-amz-content-sha256`, the session token
/// when there is one, and `authorization` to `headers` (which must already hold `host`).
pub fn sign(
    request: &Outgoing<'_>,
    headers: &mut Vec<(String, String)>,
    credentials: &Credentials,
    region: &str,
    service: &str,
    now_s: i64,
) {
    let Outgoing { method, path, body } = *request;
    let amz_date = format_amz_date(now_s);
    let date = &amz_date[..8];
    let payload_hash = hex::encode(Sha256::digest(body));
    headers.push(("x-amz-date".into(), amz_date.clone()));
    headers.push(("x-amz-content-sha256".into(), payload_hash.clone()));
    if let Some(t) = &credentials.session_token {
        headers.push(("x-amz-security-token".into(), t.clone()));
    }
    let mut names: Vec<String> = headers
        .iter()
        .map(|(n, _)| n.to_ascii_lowercase())
        .collect();
    names.sort_unstable();
    names.dedup();
    let signed: Vec<&str> = names.iter().map(String::as_str).collect();
    let req = SignedRequest {
        method,
        path,
        query: "",
        headers,
        body,
    };
    let canonical = canonical_request(&req, &signed, &payload_hash);
    let scope = format!("{date}/{region}/{service}/aws4_request");
    let sig = signature(
        &credentials.secret_access_key,
        date,
        region,
        service,
        &amz_date,
        &scope,
        &canonical,
    );
    headers.push((
        "authorization".into(),
        format!(
            "{ALGORITHM} Credential={}/{scope}, SignedHeaders={}, Signature={sig}",
            credentials.access_key_id,
            signed.join(";")
        ),
    ));
}
