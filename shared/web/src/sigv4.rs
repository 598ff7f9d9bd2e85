//! AWS Signature Version 4 for Sluice's API, served by `sluice serve` and by the api function: the
//! `Authorization: AWS4-HMAC-SHA256 ...` header is checked against the canonical request rebuilt from what
//! arrived, with the secret of the access key it names (keys Sluice manages, as S3-compatible servers do), so the
//! aws CLI and the SDKs authenticate to Sluice exactly as they do to CodePipeline. `sign` is the client side
//! (`sluice --endpoint`).
//!
//! Pure functions over a request's parts; the server supplies the clock and the key table.

use std::collections::HashMap;
use std::fmt::Write as _;

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The only algorithm SigV4 defines for headers.
const ALGORITHM: &str = "AWS4-HMAC-SHA256";

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

    fn secret(&self, access_key_id: &str) -> Option<&str> {
        self.0.get(access_key_id).map(String::as_str)
    }
}

/// What arrived, as the verifier needs it.
pub struct SignedRequest<'a> {
    /// The HTTP method.
    pub method: &'a str,
    /// The path, as sent (already URI-encoded by the client).
    pub path: &'a str,
    /// The raw query string, without `?`.
    pub query: &'a str,
    /// Every header: lowercase name, raw value (a name may repeat).
    pub headers: &'a [(String, String)],
    /// The body.
    pub body: &'a [u8],
}

impl SignedRequest<'_> {
    fn header_values(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.header_values(name).into_iter().next()
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
struct Authorization<'a> {
    access_key_id: &'a str,
    date: &'a str,
    region: &'a str,
    service: &'a str,
    signed_headers: Vec<&'a str>,
    signature: &'a str,
}

fn parse_authorization(value: &str) -> Result<Authorization<'_>, AuthError> {
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

/// Verifies a request's signature; `now_s` is the server's clock in epoch seconds. Answers the access key id
/// that signed it.
pub fn verify(req: &SignedRequest<'_>, keys: &Keys, now_s: i64) -> Result<String, AuthError> {
    let header = req.header("authorization").ok_or(AuthError::Missing)?;
    let auth = parse_authorization(header)?;
    let amz_date = req
        .header("x-amz-date")
        .ok_or_else(|| AuthError::Incomplete("X-Amz-Date header is required".into()))?
        .trim();
    let signed_at = parse_amz_date(amz_date).ok_or_else(|| {
        AuthError::Incomplete(format!(
            "X-Amz-Date {amz_date:?} is not of the form YYYYMMDDTHHMMSSZ"
        ))
    })?;
    if !auth.signed_headers.contains(&"host") || !auth.signed_headers.contains(&"x-amz-date") {
        return Err(AuthError::Incomplete(
            "SignedHeaders must include host and x-amz-date".into(),
        ));
    }
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
    let body_hash = hex::encode(Sha256::digest(req.body));
    let payload_hash = match req.header("x-amz-content-sha256") {
        // A declared hash is what was signed; it must also be the body's, or the body was swapped.
        Some(declared) if declared.trim() != body_hash => {
            return Err(AuthError::BadSignature(
                "x-amz-content-sha256 does not match the request body".into(),
            ))
        }
        _ => body_hash,
    };
    let canonical = canonical_request(req, &auth.signed_headers, &payload_hash);
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
    if (now_s - signed_at).abs() > MAX_SKEW_SECONDS {
        return Err(AuthError::Expired(format!(
            "{amz_date} is more than 15 minutes from the server time {}",
            format_amz_date(now_s)
        )));
    }
    Ok(auth.access_key_id.to_owned())
}

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

/// The canonical request: method, URI, query, signed headers, their list, the payload hash.
fn canonical_request(req: &SignedRequest<'_>, signed: &[&str], payload_hash: &str) -> String {
    let mut out = format!(
        "{}\n{}\n{}\n",
        req.method,
        if req.path.is_empty() { "/" } else { req.path },
        canonical_query(req.query)
    );
    for name in signed {
        let values: Vec<String> = req
            .header_values(name)
            .into_iter()
            .map(|v| v.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect();
        let _ = writeln!(out, "{name}:{}", values.join(","));
    }
    let _ = write!(out, "\n{}\n{payload_hash}", signed.join(";"));
    out
}

/// The query's parameters sorted by name, then value (clients send them URI-encoded already).
fn canonical_query(query: &str) -> String {
    let mut pairs: Vec<(&str, &str)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| p.split_once('=').unwrap_or((p, "")))
        .collect();
    pairs.sort_unstable();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    // HMAC takes keys of any length, so this never fails.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// The hex signature of a canonical request.
fn signature(
    secret: &str,
    date: &str,
    region: &str,
    service: &str,
    amz_date: &str,
    scope: &str,
    canonical: &str,
) -> String {
    let string_to_sign = format!(
        "{ALGORITHM}\n{amz_date}\n{scope}\n{}",
        hex::encode(Sha256::digest(canonical.as_bytes()))
    );
    let k_date = hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let k_region = hmac(&k_date, region.as_bytes());
    let k_service = hmac(&k_region, service.as_bytes());
    let k_signing = hmac(&k_service, b"aws4_request");
    hex::encode(hmac(&k_signing, string_to_sign.as_bytes()))
}

/// `YYYYMMDDTHHMMSSZ` -> epoch seconds.
pub fn parse_amz_date(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = s.get(r)?;
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    let (y, mo, d) = (num(0..4)?, num(4..6)?, num(6..8)?);
    let (h, mi, se) = (num(9..11)?, num(11..13)?, num(13..15)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    Some(days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + se)
}

/// Epoch seconds -> `YYYYMMDDTHHMMSSZ`.
pub fn format_amz_date(t: i64) -> String {
    let (days, secs) = (t.div_euclid(86_400), t.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

// Howard Hinnant's algorithms for the proleptic Gregorian calendar.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (
        if m <= 2 {
            yoe + era * 400 + 1
        } else {
            yoe + era * 400
        },
        m,
        d,
    )
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
}
