//! Lambda function URL requests and responses (payload format 2.0) to and from the core's transport-neutral
//! shapes.

use aws_lambda_events::event::lambda_function_urls::{
    LambdaFunctionUrlRequest, LambdaFunctionUrlResponse,
};
use aws_lambda_events::http::{HeaderMap, HeaderName, HeaderValue};
use base64::Engine as _;
use serde_json::{json, Value};
use sluice_web::WebReply;

/// The request's HTTP method (upper case; empty when the event has none).
pub fn method(req: &LambdaFunctionUrlRequest) -> String {
    req.request_context
        .http
        .method
        .clone()
        .unwrap_or_default()
        .to_ascii_uppercase()
}

/// A header's value, trimmed.
pub fn header<'a>(req: &'a LambdaFunctionUrlRequest, name: &str) -> Option<&'a str> {
    req.headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

/// The raw body bytes (function URLs base64-encode bodies that are not text).
pub fn body(req: &LambdaFunctionUrlRequest) -> Result<Vec<u8>, String> {
    let text = req.body.as_deref().unwrap_or("");
    if req.is_base64_encoded {
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(|e| format!("the body is not valid base64: {e}"))
    } else {
        Ok(text.as_bytes().to_vec())
    }
}

/// A response with a status, a content type, more headers and a text body.
pub fn response(reply: WebReply) -> LambdaFunctionUrlResponse {
    let mut headers = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(reply.content_type) {
        headers.insert("content-type", v);
    }
    for (name, value) in reply.headers {
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            headers.insert(n, v);
        }
    }
    let mut response = LambdaFunctionUrlResponse::default();
    response.status_code = i64::from(reply.status);
    response.headers = headers;
    response.body = Some(reply.body);
    response
}

/// A JSON answer.
pub fn json_reply(status: u16, body: &Value) -> WebReply {
    WebReply {
        status,
        content_type: "application/json",
        headers: Vec::new(),
        body: body.to_string(),
    }
}

/// A JSON refusal `{"error": kind, "message": ...}`.
pub fn refusal(status: u16, kind: &str, message: &str) -> WebReply {
    json_reply(status, &json!({"error": kind, "message": message}))
}

/// Reads a function URL request from an event, or says why it is not one.
pub fn request(event: Value) -> Result<LambdaFunctionUrlRequest, String> {
    serde_json::from_value(event).map_err(|e| format!("not a function URL request: {e}"))
}
