//! The event sink on EventBridge and SNS: every pipeline, stage and action event goes to an event bus as
//! `runtime::events` shapes it (CodePipeline's detail-types and details, source `sluice`), and approvals that
//! start waiting are published to an SNS topic as CodePipeline's approval notification: its JSON message for
//! programs (SQS, Lambda, HTTP subscribers), a readable body with the links for email subscribers.

use async_trait::async_trait;
use aws_sdk_eventbridge::primitives::{DateTime, DateTimeFormat};
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use serde_json::{json, Value};
use sluice_runtime::events::SOURCE;
use sluice_runtime::notifications::{self, ApprovalLinks};
use std::sync::Arc;

use sluice_runtime::ports::{Directory, EventSink, NoDirectory};
use sluice_runtime::records::ApprovalRecord;

/// SNS's limit on a subject.
const MAX_SUBJECT: usize = 100;

/// Where approval notifications go, and how their links are made.
#[derive(Debug, Clone)]
pub struct ApprovalNotices {
    /// The SNS topic approval notifications are published to.
    pub topic_arn: String,
    /// Where people reach the approval pages (the approval function's URL), without a trailing `/`.
    pub base_url: String,
    /// The key approval links are signed with (the approval function checks them with the same key).
    pub link_key: Vec<u8>,
}

/// [`EventSink`] over an EventBridge bus, with approval notifications on SNS.
#[derive(Debug, Clone)]
pub struct AwsNotifier {
    events: aws_sdk_eventbridge::Client,
    sns: aws_sdk_sns::Client,
    bus: String,
    approvals: Option<ApprovalNotices>,
    directory: People,
}

/// The principals approval links are issued to (one per approver, groups expanded).
#[derive(Clone)]
struct People(Arc<dyn Directory>);

impl std::fmt::Debug for People {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("People")
    }
}

impl AwsNotifier {
    /// A notifier publishing events to `bus` (a name or an ARN), and approval notifications when `approvals`
    /// says where. Clients are best given [`crate::sfn::control_plane`] settings.
    pub fn new(
        events: aws_sdk_eventbridge::Client,
        sns: aws_sdk_sns::Client,
        bus: impl Into<String>,
        approvals: Option<ApprovalNotices>,
    ) -> Self {
        Self {
            events,
            sns,
            bus: bus.into(),
            approvals,
            directory: People(Arc::new(NoDirectory)),
        }
    }

    /// The same notifier issuing one approval link per approver, groups expanded with `directory` (the
    /// stack's principals); without one, only approvers named outright get links.
    pub fn with_directory(mut self, directory: Arc<dyn Directory>) -> Self {
        self.directory = People(directory);
        self
    }

    /// A notifier with clients from `sdk` and the control-plane settings.
    pub fn from_sdk(
        sdk: &aws_config::SdkConfig,
        bus: impl Into<String>,
        approvals: Option<ApprovalNotices>,
    ) -> Self {
        let sdk = crate::sfn::control_plane(sdk);
        Self::new(
            aws_sdk_eventbridge::Client::new(&sdk),
            aws_sdk_sns::Client::new(&sdk),
            bus,
            approvals,
        )
    }
}

#[async_trait]
impl EventSink for AwsNotifier {
    async fn publish(&self, event: &Value) -> Result<(), String> {
        let entry = put_events_entry(&self.bus, event)?;
        let out = self
            .events
            .put_events()
            .entries(entry)
            .send()
            .await
            .map_err(|e| {
                format!(
                    "PutEvents to bus {}: {}",
                    self.bus,
                    aws_sdk_eventbridge::error::DisplayErrorContext(&e)
                )
            })?;
        if out.failed_entry_count() > 0 {
            let why = out
                .entries()
                .iter()
                .filter_map(|e| {
                    e.error_code()
                        .map(|c| format!("{c}: {}", e.error_message().unwrap_or("")))
                })
                .collect::<Vec<_>>()
                .join("; ");
            return Err(format!(
                "EventBridge bus {} refused the event ({}): {why}",
                self.bus,
                event["detail-type"].as_str().unwrap_or("?")
            ));
        }
        Ok(())
    }

    async fn approval_requested(
        &self,
        approval: &ApprovalRecord,
        expires_s: i64,
    ) -> Result<(), String> {
        self.announce(approval, expires_s, None).await
    }

    async fn approval_reminder(
        &self,
        approval: &ApprovalRecord,
        expires_s: i64,
        minutes_before: u32,
    ) -> Result<(), String> {
        self.announce(approval, expires_s, Some(minutes_before))
            .await
    }
}

impl AwsNotifier {
    /// Publishes an approval's notice (a reminder when `reminder` holds its minutes before the deadline) on
    /// Sluice's approval topic and the action's NotificationArn.
    async fn announce(
        &self,
        approval: &ApprovalRecord,
        expires_s: i64,
        reminder: Option<u32>,
    ) -> Result<(), String> {
        let Some(notices) = &self.approvals else {
            return Ok(());
        };
        let region = self
            .sns
            .config()
            .region()
            .map(ToString::to_string)
            .unwrap_or_default();
        let people = if approval.approvers.is_empty() {
            Vec::new()
        } else {
            self.directory.0.people().await.unwrap_or_else(|e| {
                tracing::warn!(error = %e, "cannot read the principals: approver groups expand to no one");
                Vec::new()
            })
        };
        let mut links = ApprovalLinks::issue(
            &notices.link_key,
            &notices.base_url,
            &region,
            approval,
            expires_s,
            &people,
        );
        links.reminder_minutes_before = reminder;
        // Sluice's own approval topic, and the action's NotificationArn as CodePipeline publishes to it.
        let mut topics = vec![notices.topic_arn.as_str()];
        topics.extend(approval.notification_arn.as_deref());
        let mut failed = Vec::new();
        for topic in topics {
            if let Err(e) = publish_approval(&self.sns, topic, approval, &links).await {
                failed.push(e);
            }
        }
        if failed.is_empty() {
            Ok(())
        } else {
            Err(failed.join("; "))
        }
    }
}

/// Publishes CodePipeline's approval notification to an SNS topic: the JSON message for programs (SQS,
/// Lambda, HTTP subscribers) and the readable body for email, one message per protocol.
pub async fn publish_approval(
    sns: &aws_sdk_sns::Client,
    topic_arn: &str,
    approval: &ApprovalRecord,
    links: &ApprovalLinks,
) -> Result<(), String> {
    let message = notifications::approval_message(approval, links);
    let (subject, body) = notifications::approval_email(approval, links);
    let structured = json!({"default": message.to_string(), "email": body});
    sns.publish()
        .topic_arn(topic_arn)
        .subject(subject_line(&subject))
        .message_structure("json")
        .message(structured.to_string())
        .send()
        .await
        .map(|_| ())
        .map_err(|e| {
            format!(
                "publish the approval of {}.{}.{} to {topic_arn}: {}",
                approval.pipeline,
                approval.stage,
                approval.action,
                aws_sdk_sns::error::DisplayErrorContext(&e)
            )
        })
}

/// The PutEvents entry, on `bus`, of an event built by `runtime::events`.
pub fn put_events_entry(bus: &str, event: &Value) -> Result<PutEventsRequestEntry, String> {
    let detail_type = event["detail-type"]
        .as_str()
        .ok_or("the event has no detail-type string")?;
    let detail = event
        .get("detail")
        .filter(|d| d.is_object())
        .ok_or("the event has no detail object")?;
    let source = event["source"].as_str().unwrap_or(SOURCE);
    let mut entry = PutEventsRequestEntry::builder()
        .event_bus_name(bus)
        .source(source)
        .detail_type(detail_type)
        .detail(detail.to_string());
    for resource in event["resources"].as_array().into_iter().flatten() {
        let resource = resource
            .as_str()
            .ok_or("the event's resources must be strings")?;
        entry = entry.resources(resource);
    }
    if let Some(time) = event["time"].as_str() {
        let time = DateTime::from_str(time, DateTimeFormat::DateTime)
            .map_err(|e| format!("the event's time {time:?} is not RFC 3339: {e}"))?;
        entry = entry.time(time);
    }
    Ok(entry.build())
}

/// A subject SNS accepts: printable ASCII on one line, at most 100 characters.
fn subject_line(subject: &str) -> String {
    let mut out: String = subject
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .collect();
    if out.len() > MAX_SUBJECT {
        out.truncate(MAX_SUBJECT - 3);
        out.push_str("...");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_stay_within_snss_rules() {
        assert_eq!(
            subject_line("APPROVAL NEEDED: a b.c"),
            "APPROVAL NEEDED: a b.c"
        );
        assert_eq!(subject_line("line\nbreak é"), "line?break ?");
        let long = subject_line(&"x".repeat(200));
        assert_eq!(long.len(), MAX_SUBJECT);
        assert!(long.ends_with("..."));
    }

    #[test]
    fn entries_keep_the_events_shape() {
        let origin = sluice_runtime::events::Origin {
            account: "123456789012".into(),
            region: "us-east-1".into(),
        };
        let event = origin.pipeline_event(
            "e-1".into(),
            1_700_000_000_000,
            "hello",
            "x-1",
            2,
            "STARTED",
        );
        let entry = put_events_entry("sluice-bus", &event).expect("entry");
        assert_eq!(entry.event_bus_name(), Some("sluice-bus"));
        assert_eq!(entry.source(), Some(SOURCE));
        assert_eq!(
            entry.detail_type(),
            Some("CodePipeline Pipeline Execution State Change")
        );
        let detail: Value = serde_json::from_str(entry.detail().expect("detail")).expect("json");
        assert_eq!(detail, event["detail"]);
        assert_eq!(
            entry.resources(),
            ["arn:aws:codepipeline:us-east-1:123456789012:hello"]
        );
        assert_eq!(entry.time().map(|t| t.secs()), Some(1_700_000_000));
    }

    #[test]
    fn malformed_events_are_refused_with_the_reason() {
        for (event, reason) in [
            (json!({"detail": {}}), "detail-type"),
            (json!({"detail-type": "x"}), "detail object"),
            (
                json!({"detail-type": "x", "detail": {}, "time": "yesterday"}),
                "RFC 3339",
            ),
            (
                json!({"detail-type": "x", "detail": {}, "resources": [1]}),
                "resources",
            ),
        ] {
            let e = put_events_entry("b", &event).expect_err("refused");
            assert!(e.contains(reason), "{e}");
        }
    }
}
