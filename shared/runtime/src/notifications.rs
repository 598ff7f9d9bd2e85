//! Approval notifications in CodePipeline's format: the JSON message CodePipeline publishes to SNS when a
//! manual approval starts waiting (`region`, `consoleLink`, and `approval` with the pipeline, stage, action,
//! token, expiry, external link, review link and custom data), and a readable text body with the links for
//! email. Pure: `sluice serve` writes them to a file, the SNS notifier (later) publishes them.

use serde_json::{json, Value};

use crate::events::rfc3339;
use crate::records::ApprovalRecord;

/// Where the notification points people.
#[derive(Debug, Clone)]
pub struct ApprovalLinks {
    /// The region the notification names.
    pub region: String,
    /// A page about the pipeline (CodePipeline's console view).
    pub console_link: String,
    /// The page that approves or rejects this approval (the signed link).
    pub review_link: String,
    /// When the review link expires, unix seconds.
    pub expires_s: i64,
}

/// The console page of an approval's execution, under a console served at `base_url` (`sluice serve`'s
/// address, the web function's URL in AWS): what the notification's `consoleLink` points at. Pipeline names
/// and execution ids are URL-safe as they are (CodePipeline's `[A-Za-z0-9.@\-_]+`, UUIDs).
pub fn console_link(base_url: &str, approval: &ApprovalRecord) -> String {
    format!(
        "{}/pipelines/{}/executions/{}",
        base_url.trim_end_matches('/'),
        approval.pipeline,
        approval.execution_id
    )
}

/// CodePipeline's expiry format in approval notifications: UTC to the minute, `2016-07-07T20:22Z`.
pub fn expiry_text(expires_s: i64) -> String {
    let full = rfc3339(expires_s.saturating_mul(1000));
    // `YYYY-MM-DDTHH:MM:SSZ` without the seconds.
    format!("{}Z", &full[..full.len() - 4])
}

/// The JSON message of an approval notification, as CodePipeline publishes it to SNS.
pub fn approval_message(approval: &ApprovalRecord, links: &ApprovalLinks) -> Value {
    let mut inner = json!({
        "pipelineName": approval.pipeline,
        "stageName": approval.stage,
        "actionName": approval.action,
        "token": approval.token,
        "expires": expiry_text(links.expires_s),
    });
    // CodePipeline leaves out what the action's configuration does not set.
    if let Some(link) = &approval.external_link {
        inner["externalEntityLink"] = json!(link);
    }
    inner["approvalReviewLink"] = json!(links.review_link);
    if let Some(data) = &approval.custom_data {
        inner["customData"] = json!(data);
    }
    json!({
        "region": links.region,
        "consoleLink": links.console_link,
        "approval": inner,
    })
}

/// The subject and text body of an approval email: what waits, and the links.
pub fn approval_email(approval: &ApprovalRecord, links: &ApprovalLinks) -> (String, String) {
    let subject = format!(
        "APPROVAL NEEDED: {} {}.{}",
        approval.pipeline, approval.stage, approval.action
    );
    let mut body = format!(
        "The pipeline {} is waiting for approval at {}.{} (execution {}).\n\n",
        approval.pipeline, approval.stage, approval.action, approval.execution_id
    );
    if let Some(data) = &approval.custom_data {
        body.push_str(&format!("Approval request: {data}\n\n"));
    }
    if let Some(link) = &approval.external_link {
        body.push_str(&format!("Content to review: {link}\n\n"));
    }
    body.push_str(&format!(
        "Approve or reject: {}\nThe link works once and expires {}.\n\nPipeline: {}\n",
        links.review_link,
        expiry_text(links.expires_s),
        links.console_link
    ));
    (subject, body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::ApprovalStatus;

    fn approval(custom: Option<&str>, external: Option<&str>) -> ApprovalRecord {
        ApprovalRecord {
            pipeline: "MyFirstPipeline".into(),
            execution_id: "e-1".into(),
            stage: "MyApprovalStage".into(),
            action: "MyApprovalAction".into(),
            attempt: 1,
            token: "t-1".into(),
            status: ApprovalStatus::Pending,
            summary: None,
            decided_by: None,
            custom_data: custom.map(str::to_owned),
            external_link: external.map(str::to_owned),
            notification_arn: None,
            requested_ms: 0,
            decided_ms: None,
            decisions: Vec::new(),
            deadline_ms: None,
        }
    }

    fn links() -> ApprovalLinks {
        ApprovalLinks {
            region: "us-east-2".into(),
            console_link: "http://127.0.0.1:7088/".into(),
            review_link: "http://127.0.0.1:7088/approvals/t-1?expires=1467922920&sig=ab".into(),
            // 2016-07-07T20:22:00Z
            expires_s: 1_467_922_920,
        }
    }

    #[test]
    fn the_message_has_codepipelines_members() {
        let m = approval_message(
            &approval(Some("Review the changes."), Some("http://example.com")),
            &links(),
        );
        assert_eq!(
            m,
            json!({
                "region": "us-east-2",
                "consoleLink": "http://127.0.0.1:7088/",
                "approval": {
                    "pipelineName": "MyFirstPipeline",
                    "stageName": "MyApprovalStage",
                    "actionName": "MyApprovalAction",
                    "token": "t-1",
                    "expires": "2016-07-07T20:22Z",
                    "externalEntityLink": "http://example.com",
                    "approvalReviewLink": "http://127.0.0.1:7088/approvals/t-1?expires=1467922920&sig=ab",
                    "customData": "Review the changes."
                }
            })
        );
    }

    #[test]
    fn unset_configuration_stays_out_of_the_message() {
        let m = approval_message(&approval(None, None), &links());
        let inner = m["approval"].as_object().expect("approval");
        assert!(!inner.contains_key("customData"));
        assert!(!inner.contains_key("externalEntityLink"));
    }

    #[test]
    fn the_email_names_the_action_and_carries_the_links() {
        let (subject, body) = approval_email(
            &approval(Some("Ship it?"), Some("http://example.com")),
            &links(),
        );
        assert_eq!(
            subject,
            "APPROVAL NEEDED: MyFirstPipeline MyApprovalStage.MyApprovalAction"
        );
        for needle in [
            "Ship it?",
            "http://example.com",
            "/approvals/t-1?expires=1467922920&sig=ab",
            "2016-07-07T20:22Z",
            "execution e-1",
        ] {
            assert!(body.contains(needle), "{needle} missing from {body}");
        }
    }
}
