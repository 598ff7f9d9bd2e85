//! Step Functions error names and the rules by which `ErrorEquals` matches them.

use serde::{Deserialize, Serialize};

/// Wildcard matching every error except [`RUNTIME`] and [`DATA_LIMIT_EXCEEDED`].
pub const ALL: &str = "States.ALL";
/// Matches every error except timeouts (and the terminal errors).
pub const TASK_FAILED: &str = "States.TaskFailed";
/// A task ran longer than `TimeoutSeconds`; as a pattern it also matches heartbeat timeouts.
pub const TIMEOUT: &str = "States.Timeout";
/// A callback task sent no heartbeat within `HeartbeatSeconds`.
pub const HEARTBEAT_TIMEOUT: &str = "States.HeartbeatTimeout";
/// An unprocessable situation (a path that matches nothing, ...): never retried, never caught.
pub const RUNTIME: &str = "States.Runtime";
/// A payload over 256 KiB: never retried, never caught.
pub const DATA_LIMIT_EXCEEDED: &str = "States.DataLimitExceeded";
/// A Choice state matched no rule and has no `Default`.
pub const NO_CHOICE_MATCHED: &str = "States.NoChoiceMatched";
/// A `ResultPath` could not be applied to the state's input.
pub const RESULT_PATH_MATCH_FAILURE: &str = "States.ResultPathMatchFailure";
/// A branch of a Parallel state failed (pattern only: the Parallel reports the branch's own error).
pub const BRANCH_FAILED: &str = "States.BranchFailed";
/// A `Parameters` path could not be applied (pattern only: the interpreter reports [`RUNTIME`], as AWS does).
pub const PARAMETER_PATH_FAILURE: &str = "States.ParameterPathFailure";
/// Insufficient privileges (never raised here).
pub const PERMISSIONS: &str = "States.Permissions";

/// The largest state payload Step Functions accepts, in bytes of serialized JSON.
pub const MAX_PAYLOAD_BYTES: usize = 256 * 1024;

/// An error as Step Functions reports it: a name that `ErrorEquals` matches, and a human cause.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    /// The error name, e.g. `Sluice.ActionFailed` or `States.Timeout`.
    pub error: String,
    /// A human-readable explanation; absent when the reporter gave none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
}

impl Failure {
    /// A failure with a cause.
    pub fn new(error: impl Into<String>, cause: impl Into<String>) -> Self {
        Self {
            error: error.into(),
            cause: Some(cause.into()),
        }
    }

    /// A failure without a cause.
    pub fn bare(error: impl Into<String>) -> Self {
        Self {
            error: error.into(),
            cause: None,
        }
    }

    /// The error output handed to a catcher: `{"Error": ..., "Cause": ...}`.
    pub fn to_error_output(&self) -> serde_json::Value {
        let mut output = serde_json::Map::new();
        output.insert("Error".into(), self.error.clone().into());
        if let Some(cause) = &self.cause {
            output.insert("Cause".into(), cause.clone().into());
        }
        serde_json::Value::Object(output)
    }

    /// Whether any Retry or Catch may handle this error at all.
    pub fn is_terminal(&self) -> bool {
        self.error == RUNTIME || self.error == DATA_LIMIT_EXCEEDED
    }
}

/// Whether the `ErrorEquals` entry `pattern` matches the reported `error`.
pub fn pattern_matches(pattern: &str, error: &str) -> bool {
    if error == RUNTIME || error == DATA_LIMIT_EXCEEDED {
        return false;
    }
    let is_timeout = error == TIMEOUT || error == HEARTBEAT_TIMEOUT;
    match pattern {
        ALL => true,
        TASK_FAILED => !is_timeout,
        TIMEOUT => is_timeout,
        _ => pattern == error,
    }
}

/// Whether any entry of an `ErrorEquals` list matches `error`.
pub fn any_matches(patterns: &[String], error: &str) -> bool {
    patterns
        .iter()
        .any(|pattern| pattern_matches(pattern, error))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(pattern: &str, error: &str, expected: bool) {
        assert_eq!(
            pattern_matches(pattern, error),
            expected,
            "{pattern} vs {error}"
        );
    }

    #[test]
    fn error_equals_matching_rules() {
        let table = [
            (ALL, "Sluice.ActionFailed", true),
            (ALL, TIMEOUT, true),
            (ALL, NO_CHOICE_MATCHED, true),
            (ALL, RUNTIME, false),
            (ALL, DATA_LIMIT_EXCEEDED, false),
            (RUNTIME, RUNTIME, false),
            (TASK_FAILED, "Sluice.ActionFailed", true),
            (TASK_FAILED, TIMEOUT, false),
            (TASK_FAILED, HEARTBEAT_TIMEOUT, false),
            (TASK_FAILED, RUNTIME, false),
            (TIMEOUT, TIMEOUT, true),
            (TIMEOUT, HEARTBEAT_TIMEOUT, true),
            (HEARTBEAT_TIMEOUT, TIMEOUT, false),
            (HEARTBEAT_TIMEOUT, HEARTBEAT_TIMEOUT, true),
            ("Sluice.ActionFailed", "Sluice.ActionFailed", true),
            ("Sluice.ActionFailed", "Sluice.Retryable", false),
            ("sluice.actionfailed", "Sluice.ActionFailed", false),
        ];
        for (pattern, error, expected) in table {
            check(pattern, error, expected);
        }
    }

    #[test]
    fn error_output_omits_a_missing_cause() {
        assert_eq!(
            Failure::bare("E").to_error_output(),
            serde_json::json!({"Error": "E"})
        );
        assert_eq!(
            Failure::new("E", "c").to_error_output(),
            serde_json::json!({"Error": "E", "Cause": "c"})
        );
    }
}
