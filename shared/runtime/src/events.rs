//! Pipeline, stage and action state changes as EventBridge events shaped like CodePipeline's, on Sluice's own
//! source, so rules written for CodePipeline port with one edit (`"source": ["sluice"]`).

use serde_json::{json, Value};

use sluice_definition::model::ActionTypeId;

/// The events' `source`.
pub const SOURCE: &str = "sluice";
/// detail-type of pipeline execution events.
pub const PIPELINE_DETAIL_TYPE: &str = "CodePipeline Pipeline Execution State Change";
/// detail-type of stage execution events.
pub const STAGE_DETAIL_TYPE: &str = "CodePipeline Stage Execution State Change";
/// detail-type of action execution events.
pub const ACTION_DETAIL_TYPE: &str = "CodePipeline Action Execution State Change";

/// Where events come from: account and region as CodePipeline puts them in the envelope.
#[derive(Debug, Clone)]
pub struct Origin {
    /// The account id (`000000000000` locally).
    pub account: String,
    /// The region (`local` locally).
    pub region: String,
}

impl Origin {
    /// The ARN CodePipeline uses for a pipeline.
    pub fn pipeline_arn(&self, pipeline: &str) -> String {
        format!(
            "arn:aws:codepipeline:{}:{}:{pipeline}",
            self.region, self.account
        )
    }

    fn envelope(
        &self,
        id: String,
        time_ms: i64,
        detail_type: &str,
        pipeline: &str,
        detail: Value,
    ) -> Value {
        json!({
            "version": "0",
            "id": id,
            "detail-type": detail_type,
            "source": SOURCE,
            "account": self.account,
            "time": rfc3339(time_ms),
            "region": self.region,
            "resources": [self.pipeline_arn(pipeline)],
            "detail": detail,
        })
    }

    /// A pipeline execution event; `state` is STARTED, SUCCEEDED, FAILED, STOPPING, STOPPED, SUPERSEDED, ...
    #[allow(clippy::too_many_arguments)]
    pub fn pipeline_event(
        &self,
        id: String,
        time_ms: i64,
        pipeline: &str,
        execution_id: &str,
        version: u64,
        state: &str,
    ) -> Value {
        let detail = json!({
            "pipeline": pipeline,
            "execution-id": execution_id,
            "state": state,
            "version": version,
        });
        self.envelope(id, time_ms, PIPELINE_DETAIL_TYPE, pipeline, detail)
    }

    /// A stage execution event.
    #[allow(clippy::too_many_arguments)]
    pub fn stage_event(
        &self,
        id: String,
        time_ms: i64,
        pipeline: &str,
        execution_id: &str,
        version: u64,
        stage: &str,
        state: &str,
    ) -> Value {
        let detail = json!({
            "pipeline": pipeline,
            "execution-id": execution_id,
            "stage": stage,
            "state": state,
            "version": version,
        });
        self.envelope(id, time_ms, STAGE_DETAIL_TYPE, pipeline, detail)
    }

    /// An action execution event.
    #[allow(clippy::too_many_arguments)]
    pub fn action_event(
        &self,
        id: String,
        time_ms: i64,
        pipeline: &str,
        execution_id: &str,
        version: u64,
        stage: &str,
        action: &str,
        action_type: &ActionTypeId,
        state: &str,
    ) -> Value {
        let detail = json!({
            "pipeline": pipeline,
            "execution-id": execution_id,
            "stage": stage,
            "action": action,
            "state": state,
            "region": self.region,
            "type": {
                "owner": action_type.owner,
                "category": action_type.category,
                "provider": action_type.provider,
                // CodePipeline sends the type's version as a number (aws_lambda_events reads an i64).
                "version": action_type.version.parse::<i64>().map_or_else(|_| json!(action_type.version), |v| json!(v)),
            },
            "version": version,
        });
        self.envelope(id, time_ms, ACTION_DETAIL_TYPE, pipeline, detail)
    }
}

/// Milliseconds since the epoch as RFC 3339 UTC with second precision, as EventBridge prints `time`.
pub fn rfc3339(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (h, m, s) = (rem / 3600, (rem % 3600) / 60, rem % 60);
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{d:02}T{h:02}:{m:02}:{s:02}Z")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_print_as_rfc3339() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(951_782_400_000), "2000-02-29T00:00:00Z");
    }
}
