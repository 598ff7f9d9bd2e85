//! Reading requests: the body checked against the operation's shape (every problem at once, each with its
//! member path) before it is read into its type, pipeline definitions, and page tokens.

use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use sluice_definition::problem::{JsonPath, Problems};
use sluice_definition::schema::{self, Kind};
use sluice_definition::{DefinitionError, Document, Pipeline};

use crate::codepipeline::errors::*;

/// Reads a request body: JSON, an object, matching the operation's input shape, then typed.
pub(crate) fn read<T: DeserializeOwned>(body: &[u8], shape: &Kind) -> ApiResult<T> {
    let value: Value = if body.iter().all(u8::is_ascii_whitespace) {
        // The CLI sends `{}` for an operation without members; an empty body means the same.
        json!({})
    } else {
        serde_json::from_slice(body).map_err(|e| {
            ApiError::new(
                "ValidationException",
                format!("the request body is not valid JSON: {e}"),
            )
        })?
    };
    if !value.is_object() {
        return Err(ApiError::new(
            "ValidationException",
            format!(
                "the request body must be a JSON object, not {}",
                schema::describe(&value)
            ),
        ));
    }
    let mut problems = Problems::default();
    schema::check(&value, shape, &JsonPath::root(), &mut problems);
    if !problems.is_empty() {
        return Err(validation(&problems));
    }
    // The shape was checked, so this only fails on a disagreement between the shape and the type.
    serde_json::from_value(value).map_err(|e| ApiError::new("ValidationException", e.to_string()))
}

/// Shape problems in CodePipeline's words: `1 validation error detected: Value null at 'pipelineName' failed
/// to satisfy constraint: Member must not be null`.
pub(crate) fn validation(problems: &Problems) -> ApiError {
    let details: Vec<String> = problems
        .iter()
        .map(|p| {
            if p.message == "required field is missing" {
                format!(
                    "Value null at '{}' failed to satisfy constraint: Member must not be null",
                    p.path
                )
            } else {
                format!(
                    "Value at '{}' failed to satisfy constraint: {}",
                    p.path, p.message
                )
            }
        })
        .collect();
    let n = details.len();
    ApiError::new(
        "ValidationException",
        format!(
            "{n} validation error{} detected: {}",
            if n == 1 { "" } else { "s" },
            details.join("; ")
        ),
    )
}

/// Reads the `pipeline` member of CreatePipeline and UpdatePipeline (its shape is already checked).
pub(crate) fn definition(value: Value) -> ApiResult<Pipeline> {
    Document::from_value(value)
        .map(|d| d.pipeline)
        .map_err(|e| match e {
            DefinitionError::Invalid(problems) => ApiError::new(
                "ValidationException",
                problems
                    .iter()
                    .map(|p| format!("pipeline.{p}"))
                    .collect::<Vec<_>>()
                    .join("\n"),
            ),
            other => ApiError::new("ValidationException", other.to_string()),
        })
}

/// Page tokens: opaque (hex) text naming what the page ended after, tagged with what it lists.
pub(crate) fn encode_token(kind: &str, key: &str) -> String {
    format!("{kind}:{key}")
        .bytes()
        .map(|b| format!("{b:02x}"))
        .collect()
}

pub(crate) fn decode_token(kind: &str, token: &str) -> ApiResult<String> {
    let invalid = || {
        ApiError::new(
            "InvalidNextTokenException",
            "the next token is not one this operation gave",
        )
    };
    let bytes = (0..token.len())
        .step_by(2)
        .map(|i| {
            token
                .get(i..i + 2)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        })
        .collect::<Option<Vec<u8>>>()
        .ok_or_else(invalid)?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    text.strip_prefix(kind)
        .and_then(|rest| rest.strip_prefix(':'))
        .map(str::to_owned)
        .ok_or_else(invalid)
}

#[cfg(test)]
mod tests {
    use serde_json::Value;
    use sluice_definition::schema::Kind;

    use super::*;
    use crate::codepipeline::shapes::{GET_STATE, LIST_PIPELINES, STOP_EXECUTION};

    fn check(body: &str, shape: &Kind, expected: &str) {
        let got = read::<Value>(body.as_bytes(), shape)
            .map(|_| "ok".to_owned())
            .unwrap_or_else(|e| format!("{}: {}", e.kind, e.message));
        assert_eq!(got, expected, "{body}");
    }

    #[test]
    fn requests_are_checked_against_their_shape() {
        check(r#"{"name": "p"}"#, &GET_STATE, "ok");
        check("", &LIST_PIPELINES, "ok");
        check(
            "{}",
            &GET_STATE,
            "ValidationException: 1 validation error detected: Value null at 'name' failed to satisfy constraint: Member must not be null",
        );
        check(
            r#"{"pipelineName": "p", "pipelineExecutionId": 7, "abandon": "yes"}"#,
            &STOP_EXECUTION,
            "ValidationException: 2 validation errors detected: Value at 'pipelineExecutionId' failed to satisfy constraint: expected a string, found a whole number; Value at 'abandon' failed to satisfy constraint: expected true or false, found a string",
        );
        check(
            r#"{"name": "p", "nmae": "q"}"#,
            &GET_STATE,
            "ValidationException: 1 validation error detected: Value at 'nmae' failed to satisfy constraint: unknown field (did you mean \"name\"?)",
        );
        check(
            "[1]",
            &GET_STATE,
            "ValidationException: the request body must be a JSON object, not a list",
        );
        assert!(read::<Value>(b"{", &GET_STATE)
            .expect_err("not JSON")
            .message
            .starts_with("the request body is not valid JSON"));
    }

    #[test]
    fn page_tokens_round_trip_and_refuse_strangers() {
        let t = encode_token("pipelines", "a#b|1");
        assert_eq!(decode_token("pipelines", &t).expect("round trip"), "a#b|1");
        for bad in ["zz", "abc", &encode_token("actions", "x")] {
            assert_eq!(
                decode_token("pipelines", bad).expect_err("refused").kind,
                "InvalidNextTokenException"
            );
        }
    }
}
