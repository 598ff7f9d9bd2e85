//! AWS Signature Version 4 for Sluice's API, served by `sluice serve` and by the api function: the
//! `Authorization: AWS4-HMAC-SHA256 ...` header is checked against the canonical request rebuilt from what
//! arrived, with the secret of the access key it names (keys Sluice manages, as S3-compatible servers do), so the
//! aws CLI and the SDKs authenticate to Sluice exactly as they do to CodePipeline. `sign` is the client side
//! (`sluice --endpoint`).
//!
//! Pure functions over a request's parts; the server supplies the clock and the key table.
//!
//! Verifying is here; [`canonical`] builds what is signed, [`sign`] signs.

pub mod canonical;
pub mod sign;

use canonical::{canonical_request, signature, ALGORITHM};
pub use canonical::{format_amz_date, parse_amz_date, SignedRequest};
pub use sign::{sign, Credentials, Outgoing};

use sha2::{Digest, Sha256};
use std::collections::HashMap;
use subtle::ConstantTimeEq;

/// The service name requests must be signed for.
pub const SERVICE: &str = "codepipeline";

/// How far `X-Amz-Date` may be from the server's clock, as AWS allows.
pub const MAX_SKEW_SECONDS: i64 = 15 * 60;

/// Access key id -> secret access key.
#[derive(Debug, Clone, Default)]
pub struct Keys(HashMap<String, String>);

impl Keys {
    /// Reads a keys file's text: one `ACCESS_KEY_ID SECRET` pair a line; blank lines and `#` comments skipped.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut keys = HashMap::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut words = line.split_whitespace();
            match (words.next(), words.next(), words.next()) {
                (Some(id), Some(secret), None) => {
                    keys.insert(id.to_owned(), secret.to_owned());
                }
                _ => {
                    return Err(format!(
                        "line {}: expected `ACCESS_KEY_ID SECRET_ACCESS_KEY`",
                        n + 1
                    ))
                }
            }
        }
        Ok(Self(keys))
    }

    /// Reads a secret's text (the api function's keys, from Secrets Manager): a JSON object
    /// `{"accessKeyId": ..., "secretAccessKey": ...}` (what template.yaml generates), or a keys file's lines.
    pub fn parse_secret(text: &str) -> Result<Self, String> {
        if !text.trim_start().starts_with('{') {
            return Self::parse(text);
        }
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Pair {
            access_key_id: String,
            secret_access_key: String,
        }
        let pair: Pair = serde_json::from_str(text).map_err(|e| {
            format!("expected {{\"accessKeyId\": ..., \"secretAccessKey\": ...}}: {e}")
        })?;
        if pair.access_key_id.is_empty() || pair.secret_access_key.is_empty() {
            return Err("accessKeyId and secretAccessKey must not be empty".into());
        }
        Ok(Self(HashMap::from([(
            pair.access_key_id,
            pair.secret_access_key,
        )])))
    }

    /// How many key pairs there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The secret of an access key id.
    pub fn secret(&self, access_key_id: &str) -> Option<&str> {
        self.0.get(access_key_id).map(String::as_str)
    }
}

/// Why a request is not authenticated, named as AWS services name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthError {
    /// No `Authorization` header.
    Missing,
    /// The header (or `X-Amz-Date`) is not a well-formed SigV4 signature.
    Incomplete(String),
    /// The access key id is not in the keys file.
    UnknownKey,
    /// The signature does not match.
    BadSignature(String),
    /// `X-Amz-Date` is more than 15 minutes from now.
    Expired(String),
}

impl AuthError {
    /// The `__type` of the error response.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Missing => "MissingAuthenticationTokenException",
            Self::Incomplete(_) => "IncompleteSignatureException",
            Self::UnknownKey => "UnrecognizedClientException",
            Self::BadSignature(_) | Self::Expired(_) => "InvalidSignatureException",
        }
    }

    /// The message of the error response.
    pub fn message(&self) -> String {
        match self {
            Self::Missing => "Missing Authentication Token".into(),
            Self::Incomplete(m) | Self::BadSignature(m) => m.clone(),
            Self::UnknownKey => "The security token included in the request is invalid.".into(),
            Self::Expired(m) => format!("Signature expired: {m}"),
        }
    }
}

/// The parts of an `Authorization` header.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Authorization<'a> {
    access_key_id: &'a str,
    date: &'a str,
    region: &'a str,
    service: &'a str,
    signed_headers: Vec<&'a str>,
    signature: &'a str,
}

pub(crate) fn parse_authorization(value: &str) -> Result<Authorization<'_>, AuthError> {
    let incomplete = |m: &str| AuthError::Incomplete(m.to_owned());
    let rest = value
        .strip_prefix(ALGORITHM)
        .and_then(|r| r.strip_prefix(' '))
        .ok_or_else(|| incomplete("Authorization header must use AWS4-HMAC-SHA256"))?;
    let (mut credential, mut signed, mut signature) = (None, None, None);
    for part in rest.split(',') {
        let (k, v) = part
            .trim()
            .split_once('=')
            .ok_or_else(|| incomplete("Authorization header is malformed"))?;
        match k {
            "Credential" => credential = Some(v),
            "SignedHeaders" => signed = Some(v),
            "Signature" => signature = Some(v),
            _ => return Err(incomplete("Authorization header has an unknown part")),
        }
    }
    let (Some(credential), Some(signed), Some(signature)) = (credential, signed, signature) else {
        return Err(incomplete(
            "Authorization header requires Credential, SignedHeaders and Signature",
        ));
    };
    let scope: Vec<&str> = credential.split('/').collect();
    let [access_key_id, date, region, service, "aws4_request"] = scope[..] else {
        return Err(incomplete(
            "Credential must be ACCESS_KEY_ID/DATE/REGION/SERVICE/aws4_request",
        ));
    };
    let signed_headers: Vec<&str> = signed.split(';').collect();
    if signed_headers.iter().any(|h| h.is_empty()) {
        return Err(incomplete("SignedHeaders is malformed"));
    }
    Ok(Authorization {
        access_key_id,
        date,
        region,
        service,
        signed_headers,
        signature,
    })
}

/// Verifies a request's signature; answers the access key id that signed it.
///
/// The body's SHA-256 is what was signed (and, when `x-amz-content-sha256` declares one, it must be the body's).
pub fn verify(req: &SignedRequest<'_>, keys: &Keys, now_s: i64) -> Result<String, AuthError> {
    let body_hash = hex::encode(Sha256::digest(req.body));
    if let Some(declared) = req.header("x-amz-content-sha256") {
        // A declared hash is what was signed; it must also be the body's, or the body was swapped.
        if declared.trim() != body_hash {
            return Err(AuthError::BadSignature(
                "x-amz-content-sha256 does not match the request body".into(),
            ));
        }
    }
    verify_head(req, keys, now_s, &body_hash)
}

/// Verifies a request's signature before its body is read, against the payload hash its signed
/// `x-amz-content-sha256` header declares (required here); the caller checks the body against that hash as it
/// reads it. `req.body` is not looked at.
pub fn verify_declared(
    req: &SignedRequest<'_>,
    keys: &Keys,
    now_s: i64,
) -> Result<String, AuthError> {
    req.header("authorization").ok_or(AuthError::Missing)?;
    let declared = req
        .header("x-amz-content-sha256")
        .map(str::trim)
        .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
        .ok_or_else(|| {
            AuthError::Incomplete(
                "an x-amz-content-sha256 header with the body's SHA-256 (hex) is required here"
                    .into(),
            )
        })?
        .to_ascii_lowercase();
    verify_head(req, keys, now_s, &declared)
}

/// The checks that need no body and no signature computation: the `Authorization` header is well formed, its
/// key is known, the date is within [`MAX_SKEW_SECONDS`], and every header that changes the request's meaning
/// is signed. A server runs them before it reads a body, so an unsigned request costs it nothing.
pub fn precheck(req: &SignedRequest<'_>, keys: &Keys, now_s: i64) -> Result<(), AuthError> {
    let access_key_id = well_formed(req, now_s)?;
    keys.secret(&access_key_id).ok_or(AuthError::UnknownKey)?;
    Ok(())
}

/// A well-formed, fresh SigV4 request with every meaningful header signed, whatever its key; answers the key id.
/// For callers whose key Sluice cannot know (see [`crate::codepipeline::invoked_job_caller`]).
pub fn well_formed(req: &SignedRequest<'_>, now_s: i64) -> Result<String, AuthError> {
    let header = req.header("authorization").ok_or(AuthError::Missing)?;
    let auth = parse_authorization(header)?;
    let (amz_date, signed_at) = amz_date(req)?;
    covered(req, &auth)?;
    fresh(amz_date, signed_at, now_s)?;
    Ok(auth.access_key_id.to_owned())
}

/// `X-Amz-Date` and the time it says.
pub(crate) fn amz_date<'r>(req: &'r SignedRequest<'_>) -> Result<(&'r str, i64), AuthError> {
    let amz_date = req
        .header("x-amz-date")
        .ok_or_else(|| AuthError::Incomplete("X-Amz-Date header is required".into()))?
        .trim();
    let signed_at = parse_amz_date(amz_date).ok_or_else(|| {
        AuthError::Incomplete(format!(
            "X-Amz-Date {amz_date:?} is not of the form YYYYMMDDTHHMMSSZ"
        ))
    })?;
    Ok((amz_date, signed_at))
}

pub(crate) fn fresh(amz_date: &str, signed_at: i64, now_s: i64) -> Result<(), AuthError> {
    if (now_s - signed_at).abs() > MAX_SKEW_SECONDS {
        return Err(AuthError::Expired(format!(
            "{amz_date} is more than 15 minutes from the server time {}",
            format_amz_date(now_s)
        )));
    }
    Ok(())
}

/// Every header that changes what a request means must be signed, as AWS requires: `host`, `x-amz-date`,
/// `content-type` and every `x-amz-*` header the request carries (`X-Amz-Target` names the operation: a
/// signature that does not cover it could be replayed as another operation).
pub(crate) fn covered(req: &SignedRequest<'_>, auth: &Authorization<'_>) -> Result<(), AuthError> {
    let mut unsigned: Vec<&str> = ["host", "x-amz-date"]
        .into_iter()
        .filter(|h| !auth.signed_headers.contains(h))
        .collect();
    for (name, _) in req.headers {
        let name = name.as_str();
        let meaningful = name == "content-type" || name.starts_with("x-amz-");
        if meaningful && !auth.signed_headers.contains(&name) && !unsigned.contains(&name) {
            unsigned.push(name);
        }
    }
    if unsigned.is_empty() {
        return Ok(());
    }
    Err(AuthError::Incomplete(format!(
        "SignedHeaders must include {}: host, x-amz-date, content-type and every x-amz-* header the request carries are signed",
        unsigned.join(", ")
    )))
}

/// The signature check itself, with the payload hash that was signed.
pub(crate) fn verify_head(
    req: &SignedRequest<'_>,
    keys: &Keys,
    now_s: i64,
    payload_hash: &str,
) -> Result<String, AuthError> {
    let header = req.header("authorization").ok_or(AuthError::Missing)?;
    let auth = parse_authorization(header)?;
    let (amz_date, signed_at) = amz_date(req)?;
    covered(req, &auth)?;
    let secret = keys
        .secret(auth.access_key_id)
        .ok_or(AuthError::UnknownKey)?;
    if !amz_date.starts_with(auth.date) || auth.date.len() != 8 {
        return Err(AuthError::BadSignature(
            "Credential date does not match X-Amz-Date".into(),
        ));
    }
    if auth.service != SERVICE {
        return Err(AuthError::BadSignature(format!(
            "Credential should be scoped to correct service: '{SERVICE}'."
        )));
    }
    let canonical = canonical_request(req, &auth.signed_headers, payload_hash);
    let scope = format!(
        "{}/{}/{}/aws4_request",
        auth.date, auth.region, auth.service
    );
    let expected = signature(
        secret,
        auth.date,
        auth.region,
        auth.service,
        amz_date,
        &scope,
        &canonical,
    );
    if !bool::from(expected.as_bytes().ct_eq(auth.signature.as_bytes())) {
        return Err(AuthError::BadSignature(
            "The request signature we calculated does not match the signature you provided. \
             Check your AWS Secret Access Key and signing method."
                .into(),
        ));
    }
    fresh(amz_date, signed_at, now_s)?;
    Ok(auth.access_key_id.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

    /// AWS's documented example (IAM ListUsers, General Reference "Signature Version 4 signing process").
    fn list_users(
        signature: &str,
        service_override: Option<&str>,
    ) -> (Vec<(String, String)>, Keys) {
        let service = service_override.unwrap_or("iam");
        let headers = vec![
            (
                "content-type".to_owned(),
                "application/x-www-form-urlencoded; charset=utf-8".to_owned(),
            ),
            ("host".to_owned(), "iam.amazonaws.com".to_owned()),
            ("x-amz-date".to_owned(), "20150830T123600Z".to_owned()),
            (
                "authorization".to_owned(),
                format!(
                    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/{service}/aws4_request, \
                     SignedHeaders=content-type;host;x-amz-date, Signature={signature}"
                ),
            ),
        ];
        let keys = Keys::parse(&format!("AKIDEXAMPLE {SECRET}\n")).expect("keys");
        (headers, keys)
    }

    const EXAMPLE_SIGNATURE: &str =
        "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7";

    fn request<'a>(headers: &'a [(String, String)]) -> SignedRequest<'a> {
        SignedRequest {
            method: "GET",
            path: "/",
            query: "Action=ListUsers&Version=2010-05-08",
            headers,
            body: b"",
        }
    }

    #[test]
    fn computes_the_documented_example_signature() {
        let (headers, _) = list_users(EXAMPLE_SIGNATURE, None);
        let req = request(&headers);
        let canonical = canonical_request(
            &req,
            &["content-type", "host", "x-amz-date"],
            &hex::encode(Sha256::digest(b"")),
        );
        assert_eq!(
            hex::encode(Sha256::digest(canonical.as_bytes())),
            "f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59"
        );
        let sig = signature(
            SECRET,
            "20150830",
            "us-east-1",
            "iam",
            "20150830T123600Z",
            "20150830/us-east-1/iam/aws4_request",
            &canonical,
        );
        assert_eq!(sig, EXAMPLE_SIGNATURE);
    }

    #[test]
    fn the_example_fails_only_on_its_service() {
        // The example is signed for iam; Sluice accepts codepipeline only.
        let (headers, keys) = list_users(EXAMPLE_SIGNATURE, None);
        let now = parse_amz_date("20150830T123600Z").expect("date");
        let err = verify(&request(&headers), &keys, now).expect_err("wrong service");
        assert_eq!(err.kind(), "InvalidSignatureException");
        assert!(err.message().contains("codepipeline"));
    }

    #[test]
    fn rejects_each_kind_of_bad_request() {
        let now = parse_amz_date("20150830T123600Z").expect("date");
        let (headers, keys) = list_users("00", Some("codepipeline"));
        let check = |headers: &[(String, String)], now: i64, kind: &str| {
            let err = verify(&request(headers), &keys, now).expect_err("rejected");
            assert_eq!(err.kind(), kind, "{}", err.message());
        };
        check(&headers, now, "InvalidSignatureException");
        check(&headers[..3], now, "MissingAuthenticationTokenException");
        let mut unknown = headers.clone();
        unknown[3].1 = unknown[3].1.replace("AKIDEXAMPLE", "AKIDOTHER");
        check(&unknown, now, "UnrecognizedClientException");
        let mut garbled = headers.clone();
        garbled[3].1 = "AWS4-HMAC-SHA256 nonsense".into();
        check(&garbled, now, "IncompleteSignatureException");
    }

    #[test]
    fn accepts_a_codepipeline_signature_within_fifteen_minutes() {
        let (mut headers, keys) = list_users("", Some("codepipeline"));
        let req = request(&headers);
        let signed = ["content-type", "host", "x-amz-date"];
        let canonical = canonical_request(&req, &signed, &hex::encode(Sha256::digest(b"")));
        let sig = signature(
            SECRET,
            "20150830",
            "us-east-1",
            "codepipeline",
            "20150830T123600Z",
            "20150830/us-east-1/codepipeline/aws4_request",
            &canonical,
        );
        headers[3].1.push_str(&sig);
        let now = parse_amz_date("20150830T123600Z").expect("date");
        assert!(verify(&request(&headers), &keys, now + 14 * 60).is_ok());
        let err = verify(&request(&headers), &keys, now + 16 * 60).expect_err("stale");
        assert!(err.message().starts_with("Signature expired"));
    }

    #[test]
    fn dates_round_trip() {
        for s in ["19700101T000000Z", "20150830T123600Z", "20240229T235959Z"] {
            let t = parse_amz_date(s).expect("parses");
            assert_eq!(format_amz_date(t), s);
        }
        assert_eq!(parse_amz_date("20150830T123600Z"), Some(1_440_938_160));
        assert_eq!(parse_amz_date("2015-08-30T12:36Z"), None);
    }

    #[test]
    fn keys_file_lines() {
        let keys = Keys::parse("# comment\n\nAKID1 s1\n AKID2   s2 \n").expect("parses");
        assert_eq!(keys.len(), 2);
        assert_eq!(keys.secret("AKID2"), Some("s2"));
        assert!(Keys::parse("AKID only\nx").is_err());
    }

    #[test]
    fn what_sign_signs_verify_accepts_and_names_the_key() {
        let keys =
            Keys::parse("AKIDEXAMPLE wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY\n").expect("keys");
        let creds = Credentials {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
            session_token: None,
        };
        let mut headers = vec![
            ("host".to_owned(), "127.0.0.1:7088".to_owned()),
            (
                "x-amz-target".to_owned(),
                "CodePipeline_20150709.ListPipelines".to_owned(),
            ),
        ];
        let now = parse_amz_date("20261126T080000Z").expect("date");
        let out = Outgoing {
            method: "POST",
            path: "/",
            body: b"{}",
        };
        sign(&out, &mut headers, &creds, "us-east-1", SERVICE, now);
        let req = SignedRequest {
            method: "POST",
            path: "/",
            query: "",
            headers: &headers,
            body: b"{}",
        };
        assert_eq!(verify(&req, &keys, now).as_deref(), Ok("AKIDEXAMPLE"));
        let tampered = SignedRequest {
            body: b"{ }",
            ..req
        };
        assert!(verify(&tampered, &keys, now).is_err());
    }

    /// Signed for ListPipelines: the same signature sent with another X-Amz-Target is refused, whether the
    /// target was signed (the signature no longer matches) or left out of SignedHeaders (refused as unsigned).
    #[test]
    fn a_signature_covers_the_operation() {
        let keys =
            Keys::parse("AKIDEXAMPLE wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY\n").expect("keys");
        let creds = Credentials {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
            session_token: None,
        };
        let now = parse_amz_date("20261126T080000Z").expect("date");
        let body = br#"{"name":"p"}"#;
        let out = Outgoing {
            method: "POST",
            path: "/",
            body,
        };
        // Signed with only host in the list (as a careless client would): the target rides along unsigned.
        let mut headers = vec![("host".to_owned(), "127.0.0.1:7088".to_owned())];
        sign(&out, &mut headers, &creds, "us-east-1", SERVICE, now);
        headers.push((
            "x-amz-target".to_owned(),
            "CodePipeline_20150709.DeletePipeline".to_owned(),
        ));
        let req = SignedRequest {
            method: "POST",
            path: "/",
            query: "",
            headers: &headers,
            body,
        };
        let err = verify(&req, &keys, now).expect_err("the target is not signed");
        assert_eq!(err.kind(), "IncompleteSignatureException");
        assert!(err.message().contains("x-amz-target"), "{}", err.message());
        assert!(precheck(&req, &keys, now).is_err());

        // Signed with the target: changing it breaks the signature.
        let mut headers = vec![
            ("host".to_owned(), "127.0.0.1:7088".to_owned()),
            (
                "x-amz-target".to_owned(),
                "CodePipeline_20150709.GetPipeline".to_owned(),
            ),
            (
                "content-type".to_owned(),
                "application/x-amz-json-1.1".to_owned(),
            ),
        ];
        sign(&out, &mut headers, &creds, "us-east-1", SERVICE, now);
        for (n, v) in &mut headers {
            if n == "x-amz-target" {
                *v = "CodePipeline_20150709.DeletePipeline".into();
            }
        }
        let req = SignedRequest {
            method: "POST",
            path: "/",
            query: "",
            headers: &headers,
            body,
        };
        assert!(precheck(&req, &keys, now).is_ok());
        assert_eq!(
            verify(&req, &keys, now).expect_err("replayed").kind(),
            "InvalidSignatureException"
        );
    }

    #[test]
    fn a_declared_payload_hash_is_checked_before_the_body() {
        let keys =
            Keys::parse("AKIDEXAMPLE wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY\n").expect("keys");
        let creds = Credentials {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
            session_token: None,
        };
        let now = parse_amz_date("20261126T080000Z").expect("date");
        let mut headers = vec![("host".to_owned(), "127.0.0.1:7088".to_owned())];
        let out = Outgoing {
            method: "PUT",
            path: "/artifacts/b/k",
            body: b"zip bytes",
        };
        sign(&out, &mut headers, &creds, "us-east-1", SERVICE, now);
        let head = SignedRequest {
            method: "PUT",
            path: "/artifacts/b/k",
            query: "",
            headers: &headers,
            body: b"",
        };
        assert_eq!(
            verify_declared(&head, &keys, now).as_deref(),
            Ok("AKIDEXAMPLE")
        );
        let no_hash: Vec<(String, String)> = headers
            .iter()
            .filter(|(n, _)| n != "x-amz-content-sha256")
            .cloned()
            .collect();
        let err = verify_declared(
            &SignedRequest {
                headers: &no_hash,
                ..head
            },
            &keys,
            now,
        )
        .expect_err("a hash is required");
        assert_eq!(err.kind(), "IncompleteSignatureException");
    }
}
