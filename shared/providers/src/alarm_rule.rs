//! The CloudWatchAlarm rule of stage conditions (`Rule/AWS/CloudWatchAlarm` jobs): DescribeAlarms on
//! `AlarmName`. The rule fails as soon as the alarm is in one of `AlarmStates` (comma-separated; `ALARM`
//! when not given); with `WaitTime` (minutes) the alarm is watched that long and the rule passes when it never
//! was, so an onSuccess condition rolls back a deployment whose alarm goes off while it bakes. Without
//! WaitTime one look decides. A missing alarm fails the rule.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use aws_sdk_cloudwatch::Client;
use serde_json::{json, Value};
use sluice_runtime::jobs::{ExternalExecution, JobOutcome};

use crate::provider::{sdk_error, Context, Provider, Step};

/// The longest wait between looks at the alarm.
const LOOK_EVERY: Duration = Duration::from_secs(15);

/// The CloudWatchAlarm rule.
pub struct AlarmRule;

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// The alarm states that fail the rule.
pub fn failing_states(config: Option<&String>) -> Vec<String> {
    match config.map(|s| s.trim()).filter(|s| !s.is_empty()) {
        None => vec!["ALARM".into()],
        Some(s) => s.split(',').map(|p| p.trim().to_owned()).collect(),
    }
}

/// What one look decided: the state the alarm is in and whether it fails the rule, given the states.
pub fn judge(state: &str, failing: &[String]) -> bool {
    failing.iter().any(|f| f == state)
}

fn passed(summary: String) -> Step {
    Step::Done(JobOutcome::Succeeded {
        artifacts: Default::default(),
        variables: Default::default(),
        summary: Some(summary),
        revision: None,
    })
}

impl AlarmRule {
    async fn look(&self, ctx: &Context<'_>, until_ms: i64) -> Result<Step, String> {
        let config = &ctx.job.configuration;
        let name = config
            .get("AlarmName")
            .ok_or("the CloudWatchAlarm rule needs AlarmName")?;
        let failing = failing_states(config.get("AlarmStates"));
        let out = Client::new(ctx.sdk)
            .describe_alarms()
            .alarm_names(name)
            .send()
            .await
            .map_err(|e| format!("DescribeAlarms {name}: {}", sdk_error(&e)))?;
        let Some(alarm) = out.metric_alarms().first() else {
            return Ok(Step::failed(format!(
                "CloudWatch alarm {name} does not exist"
            )));
        };
        let state = alarm
            .state_value()
            .map_or("INSUFFICIENT_DATA", |s| s.as_str())
            .to_owned();
        let reason = alarm.state_reason().unwrap_or_default();
        if judge(&state, &failing) {
            return Ok(Step::failed(format!(
                "CloudWatch alarm {name} is in {state}{}",
                if reason.is_empty() {
                    String::new()
                } else {
                    format!(": {reason}")
                }
            )));
        }
        let now = now_ms();
        if now >= until_ms {
            return Ok(passed(format!(
                "CloudWatch alarm {name} is in {state}, not {}",
                failing.join(" or ")
            )));
        }
        let left = Duration::from_millis(u64::try_from(until_ms - now).unwrap_or(0));
        Ok(Step::Wait {
            state: json!({"untilMs": until_ms}),
            external: ExternalExecution {
                id: alarm.alarm_arn().unwrap_or(name).to_owned(),
                url: None,
                summary: Some(format!(
                    "watching CloudWatch alarm {name} ({state}) for {} more seconds",
                    left.as_secs()
                )),
            },
            after: left.min(LOOK_EVERY),
        })
    }
}

#[async_trait]
impl Provider for AlarmRule {
    async fn start(&self, ctx: &Context<'_>) -> Result<Step, String> {
        let minutes = match ctx.job.configuration.get("WaitTime") {
            None => 0,
            Some(w) => w
                .trim()
                .parse::<i64>()
                .map_err(|_| format!("WaitTime {w:?} is not a whole number of minutes"))?,
        };
        self.look(ctx, now_ms() + minutes * 60_000).await
    }

    async fn check(&self, ctx: &Context<'_>, state: &Value) -> Result<Step, String> {
        let until = state["untilMs"].as_i64().unwrap_or(0);
        self.look(ctx, until).await
    }

    fn event_ids(&self, _state: &Value) -> Vec<String> {
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_alarm_states_fail_the_rule() {
        let default = failing_states(None);
        assert!(judge("ALARM", &default));
        assert!(!judge("OK", &default));
        let both = failing_states(Some(&"ALARM, INSUFFICIENT_DATA".to_owned()));
        assert!(judge("INSUFFICIENT_DATA", &both));
        assert!(!judge("OK", &both));
    }
}
