//! Lambda function URL events (payload format 2.0) for the function suites, built from
//! `tests/fixtures/functions/function-url-request.json`.

use base64::Engine as _;
use serde_json::{json, Value};
use sluice_web::sigv4::{self, Credentials, Outgoing};

use crate::fixture;

/// A function URL request; the body is base64-encoded when `base64` is set, as function URLs send bodies
/// that are not text.
pub fn url_request(
    method: &str,
    path: &str,
    query: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    base64: bool,
) -> Value {
    let text =
        std::fs::read_to_string(fixture("functions/function-url-request.json")).expect("fixture");
    let mut event: Value = serde_json::from_str(&text).expect("JSON");
    event["rawPath"] = json!(path);
    event["rawQueryString"] = json!(query);
    event["requestContext"]["http"]["method"] = json!(method);
    event["requestContext"]["http"]["path"] = json!(path);
    for (name, value) in headers {
        event["headers"][*name] = json!(value);
    }
    if base64 {
        event["body"] = json!(base64::engine::general_purpose::STANDARD.encode(body));
        event["isBase64Encoded"] = json!(true);
    } else {
        event["body"] = json!(String::from_utf8_lossy(body));
    }
    event
}

/// A CodePipeline API call as the aws CLI sends it to the api function's URL: `POST /` with `target`,
/// signed with SigV4 for `codepipeline` in us-east-1 with the key pair `(id, secret)` at `now_s`.
pub fn signed_api_call(target: &str, body: &str, (id, secret): (&str, &str), now_s: i64) -> Value {
    let mut event = url_request("POST", "/", "", &[], body.as_bytes(), false);
    let host = event["headers"]["host"]
        .as_str()
        .expect("the fixture has a host")
        .to_owned();
    let mut headers = vec![
        ("host".to_owned(), host),
        (
            "content-type".to_owned(),
            "application/x-amz-json-1.1".to_owned(),
        ),
        ("x-amz-target".to_owned(), target.to_owned()),
    ];
    sigv4::sign(
        &Outgoing {
            method: "POST",
            path: "/",
            body: body.as_bytes(),
        },
        &mut headers,
        &Credentials {
            access_key_id: id.to_owned(),
            secret_access_key: secret.to_owned(),
            session_token: None,
        },
        "us-east-1",
        sigv4::SERVICE,
        now_s,
    );
    for (name, value) in headers {
        event["headers"][name] = json!(value);
    }
    event
}
