//! What every transport-neutral handler answers: an HTTP reply as data, which `sluice serve` turns into a
//! hyper response and the Lambda functions into a function URL response.

/// An HTTP answer, whatever the transport: status, content type, more headers and the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebReply {
    /// The HTTP status.
    pub status: u16,
    /// The `Content-Type`.
    pub content_type: &'static str,
    /// Further headers (lowercase names).
    pub headers: Vec<(&'static str, &'static str)>,
    /// The body.
    pub body: String,
}

/// A JSON answer.
pub(crate) fn json_reply(status: u16, body: serde_json::Value) -> WebReply {
    WebReply {
        status,
        content_type: "application/json",
        headers: Vec::new(),
        body: body.to_string(),
    }
}

/// A JSON refusal: `{"error": kind, "message": message}`.
pub(crate) fn json_refusal(status: u16, kind: &str, message: &str) -> WebReply {
    json_reply(
        status,
        serde_json::json!({"error": kind, "message": message}),
    )
}
