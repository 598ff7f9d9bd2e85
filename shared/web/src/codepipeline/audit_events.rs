//! Sluice's own operation beside CodePipeline's: `SluiceAudit_20261206.ListAuditEvents`, the audit log
//! ([`crate::audit`]) over the same JSON 1.1 protocol and signatures, for `sluice audit --endpoint`.
//!
//! Input: `pipelineName` (only that pipeline's calls), `sinceTime` (epoch seconds), `maxResults` (1 to 1000,
//! default 50), `nextToken`. Output: `auditEvents` (newest first, each as the log keeps it) and `nextToken`.
//! Each caller reads what the console would show it: a pipeline's entries when it may view the pipeline, the
//! rest when it is an admin on every pipeline. Reading the log is not itself recorded.

use serde_json::{json, Value};
use sluice_runtime::audit::{AuditQuery, MAX_PAGE};
use sluice_runtime::Runtime;

use super::errors::{ApiError, ApiResponse};
use crate::access::Principal;
use crate::audit::visible_to;

/// The `X-Amz-Target` of the operation.
pub const LIST_AUDIT_EVENTS: &str = "SluiceAudit_20261206.ListAuditEvents";

/// The entries a page answers unless `maxResults` says otherwise.
const DEFAULT_PAGE: usize = 50;

/// Answers one ListAuditEvents request made by `principal`.
pub async fn list_audit_events(
    runtime: &Runtime,
    body: &[u8],
    principal: &Principal,
) -> ApiResponse {
    match answer(runtime, body, principal).await {
        Ok(body) => ApiResponse { status: 200, body },
        Err(e) => e.response(),
    }
}

async fn answer(runtime: &Runtime, body: &[u8], principal: &Principal) -> Result<Value, ApiError> {
    let query = read(body)?;
    if let Some(p) = &query.pipeline {
        if principal.role_on(p).is_none() {
            return Err(ApiError::new(
                "AccessDeniedException",
                format!(
                    "User: {} is not authorized to perform: sluice:ListAuditEvents on resource: pipeline {p} \
                     (it needs viewer; {} has no role there)",
                    principal.name, principal.name
                ),
            ));
        }
    }
    let page = runtime
        .audit_page(&query, &|e| visible_to(principal, e))
        .await?;
    let mut out = json!({"auditEvents": page.entries});
    if let Some(next) = page.next {
        out["nextToken"] = json!(next);
    }
    Ok(out)
}

/// The request, each mistake named by its member.
fn read(body: &[u8]) -> Result<AuditQuery, ApiError> {
    let invalid = |m: String| ApiError::new("ValidationException", m);
    let request: Value = if body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        serde_json::from_slice(body)
            .map_err(|e| invalid(format!("the request body is not JSON: {e}")))?
    };
    let Some(members) = request.as_object() else {
        return Err(invalid("the request body must be a JSON object".into()));
    };
    let mut query = AuditQuery {
        limit: DEFAULT_PAGE,
        ..Default::default()
    };
    for (name, value) in members {
        match name.as_str() {
            "pipelineName" => {
                query.pipeline = Some(
                    value
                        .as_str()
                        .filter(|s| !s.is_empty())
                        .ok_or_else(|| invalid("pipelineName: expected a pipeline's name".into()))?
                        .to_owned(),
                );
            }
            "sinceTime" => {
                let s = value
                    .as_f64()
                    .ok_or_else(|| invalid("sinceTime: expected epoch seconds".into()))?;
                query.since_ms = Some((s * 1000.0) as i64);
            }
            "maxResults" => {
                query.limit = value
                    .as_u64()
                    .and_then(|n| usize::try_from(n).ok())
                    .filter(|n| (1..=MAX_PAGE).contains(n))
                    .ok_or_else(|| invalid(format!("maxResults: expected 1 to {MAX_PAGE}, not {value}")))?;
            }
            "nextToken" => {
                query.after = Some(
                    value
                        .as_str()
                        .ok_or_else(|| invalid("nextToken: expected a string".into()))?
                        .to_owned(),
                );
            }
            other => {
                return Err(invalid(format!(
                    "{other}: not a member of ListAuditEvents (pipelineName, sinceTime, maxResults, nextToken)"
                )))
            }
        }
    }
    Ok(query)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_read_with_mistakes_named_by_member() {
        let q = read(
            br#"{"pipelineName": "web", "sinceTime": 12.5, "maxResults": 3, "nextToken": "t"}"#,
        )
        .expect("a value");
        assert_eq!(q.pipeline.as_deref(), Some("web"));
        assert_eq!(q.since_ms, Some(12_500));
        assert_eq!((q.limit, q.after.as_deref()), (3, Some("t")));
        assert_eq!(read(b"").expect("a value").limit, DEFAULT_PAGE);
        for (body, member) in [
            (r#"{"maxResults": 0}"#, "maxResults"),
            (r#"{"maxResults": 5000}"#, "maxResults"),
            (r#"{"sinceTime": "yesterday"}"#, "sinceTime"),
            (r#"{"pipelineName": 3}"#, "pipelineName"),
            (r#"{"limit": 3}"#, "limit: not a member"),
            ("[1]", "JSON object"),
        ] {
            let e = read(body.as_bytes()).expect_err("an error");
            assert_eq!(e.kind, "ValidationException");
            assert!(e.message.contains(member), "{body}: {}", e.message);
        }
    }
}
