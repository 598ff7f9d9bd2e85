//! Approval notifications in CodePipeline's format: the JSON message CodePipeline publishes to SNS when a
//! manual approval starts waiting (`region`, `consoleLink`, and `approval` with the pipeline, stage, action,
//! token, expiry, external link, review link and custom data), and a readable text body with the links for
//! email. Pure: `sluice serve` writes them to a file, the SNS notifier (later) publishes them.

use serde_json::{json, Value};

use crate::approval_quorum::link_holders;
use crate::events::rfc3339;
use crate::links;
use crate::ports::Person;
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
    /// One link per approver, `(principal, link)`, when the action's `Approvers` names any: a decision
    /// through one is recorded as that principal's. Published in `approval.approverLinks`, a field
    /// CodePipeline does not use.
    pub approver_links: Vec<(String, String)>,
    /// Set when the notice is a reminder (the action's `Reminders`): how many minutes before the deadline it
    /// was due. Published as `approval.reminder.minutesBeforeDeadline`, a field CodePipeline does not use;
    /// the email's subject starts `REMINDER:`.
    pub reminder_minutes_before: Option<u32>,
}

impl ApprovalLinks {
    /// The links of `approval` for a server at `base_url` signing with `key`, valid until `expires_s`: one per
    /// approver ([`link_holders`], groups expanded with `people`), and `review_link` the console page where a
    /// signed-in approver decides; or, when `Approvers` names nobody, one shared signed link.
    pub fn issue(
        key: &[u8],
        base_url: &str,
        region: &str,
        approval: &ApprovalRecord,
        expires_s: i64,
        people: &[Person],
    ) -> Self {
        let base = base_url.trim_end_matches('/');
        let console_link = console_link(base, approval);
        let (review_link, approver_links) = if approval.approvers.is_empty() {
            let link = format!("{base}{}", links::path(key, &approval.token, expires_s));
            (link, Vec::new())
        } else {
            let holders = link_holders(approval, people)
                .into_iter()
                .filter(|h| links::valid_approver(h))
                .map(|h| {
                    let link = links::approver_path(key, &approval.token, expires_s, &h);
                    (h, format!("{base}{link}"))
                })
                .collect();
            (console_link.clone(), holders)
        };
        Self {
            region: region.to_owned(),
            console_link,
            review_link,
            expires_s,
            approver_links,
            reminder_minutes_before: None,
        }
    }
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
    if !links.approver_links.is_empty() {
        inner["approverLinks"] = links
            .approver_links
            .iter()
            .map(|(who, link)| json!({"principal": who, "approvalReviewLink": link}))
            .collect();
    }
    if let Some(data) = &approval.custom_data {
        inner["customData"] = json!(data);
    }
    if let Some(minutes) = links.reminder_minutes_before {
        inner["reminder"] = json!({"minutesBeforeDeadline": minutes});
    }
    json!({
        "region": links.region,
        "consoleLink": links.console_link,
        "approval": inner,
    })
}

/// The subject and text body of an approval email: what waits, and the links.
pub fn approval_email(approval: &ApprovalRecord, links: &ApprovalLinks) -> (String, String) {
    let reminder = links.reminder_minutes_before;
    let subject = format!(
        "{}APPROVAL NEEDED: {} {}.{}",
        if reminder.is_some() { "REMINDER: " } else { "" },
        approval.pipeline,
        approval.stage,
        approval.action
    );
    let mut body = String::new();
    if let Some(minutes) = reminder {
        body.push_str(&format!(
            "Reminder: this approval is still waiting, {} before its deadline ({}).\n\n",
            sluice_definition::approval_rules::describe_minutes(minutes),
            expiry_text(links.expires_s)
        ));
    }
    body.push_str(&format!(
        "The pipeline {} is waiting for approval at {}.{} (execution {}).\n\n",
        approval.pipeline, approval.stage, approval.action, approval.execution_id
    ));
    if let Some(data) = &approval.custom_data {
        body.push_str(&format!("Approval request: {data}\n\n"));
    }
    if let Some(link) = &approval.external_link {
        body.push_str(&format!("Content to review: {link}\n\n"));
    }
    if links.approver_links.is_empty() && !approval.approvers.is_empty() {
        body.push_str(&format!(
            "Approvers: {}. Sign in to approve or reject: {}\n\n",
            approval.approvers.join(", "),
            links.review_link
        ));
    } else if !links.approver_links.is_empty() {
        body.push_str(&format!(
            "Approvers: {}. Each has a link of their own, which records who decided; it works once and \
             expires {}.\n",
            approval.approvers.join(", "),
            expiry_text(links.expires_s)
        ));
        for (who, link) in &links.approver_links {
            body.push_str(&format!("  {who}: {link}\n"));
        }
        body.push('\n');
    } else {
        body.push_str(&format!(
            "Approve or reject: {}\nThe link works once and expires {}.\n\n",
            links.review_link,
            expiry_text(links.expires_s)
        ));
    }
    body.push_str(&format!("Pipeline: {}\n", links.console_link));
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
            approvers: Vec::new(),
            not_approvable_by: None,
            required_approvals: 0,
        }
    }

    fn links() -> ApprovalLinks {
        ApprovalLinks {
            region: "us-east-2".into(),
            console_link: "http://127.0.0.1:7088/".into(),
            review_link: "http://127.0.0.1:7088/approvals/t-1?expires=1467922920&sig=ab".into(),
            // 2016-07-07T20:22:00Z
            expires_s: 1_467_922_920,
            approver_links: Vec::new(),
            reminder_minutes_before: None,
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

    #[test]
    fn a_reminder_says_so_in_the_message_the_subject_and_the_body() {
        let a = approval(None, None);
        let first = approval_message(&a, &links());
        let reminding = ApprovalLinks {
            reminder_minutes_before: Some(90),
            ..links()
        };
        let again = approval_message(&a, &reminding);
        assert_eq!(again["approval"]["reminder"]["minutesBeforeDeadline"], 90);
        // Otherwise the same notice: programs that read CodePipeline's members see no difference.
        let mut stripped = again.clone();
        if let Some(inner) = stripped["approval"].as_object_mut() {
            inner.remove("reminder");
        }
        assert_eq!(stripped, first);
        let (subject, body) = approval_email(&a, &reminding);
        assert_eq!(
            subject,
            "REMINDER: APPROVAL NEEDED: MyFirstPipeline MyApprovalStage.MyApprovalAction"
        );
        assert!(
            body.starts_with(
                "Reminder: this approval is still waiting, 1h 30m before its deadline (2016-07-07T20:22Z)."
            ),
            "{body}"
        );
    }

    #[test]
    fn each_approver_gets_a_link_of_their_own_and_the_starter_none() {
        let mut a = approval(None, None);
        a.approvers = vec!["alice".into(), "group:leads".into()];
        a.not_approvable_by = Some("carol".into());
        let people = [
            Person {
                name: "bob".into(),
                groups: vec!["leads".into()],
            },
            Person {
                name: "carol".into(),
                groups: vec!["leads".into()],
            },
            Person {
                name: "dave".into(),
                groups: vec!["ops".into()],
            },
        ];
        let links = ApprovalLinks::issue(b"key", "http://h:1/", "us-east-1", &a, 2_000, &people);
        let who: Vec<&str> = links
            .approver_links
            .iter()
            .map(|(w, _)| w.as_str())
            .collect();
        assert_eq!(who, ["alice", "bob"]);
        let (_, alices) = &links.approver_links[0];
        let query = alices.split_once('?').expect("a query").1;
        let checked =
            crate::links::verify_link(b"key", "t-1", query, 1_000).expect("a genuine link");
        assert_eq!(checked.by.as_deref(), Some("alice"));
        assert_eq!(
            links.review_link,
            "http://h:1/pipelines/MyFirstPipeline/executions/e-1"
        );
        let m = approval_message(&a, &links);
        assert_eq!(m["approval"]["approverLinks"][1]["principal"], "bob");
        let (_, body) = approval_email(&a, &links);
        assert!(
            body.contains(&format!("  bob: {}", links.approver_links[1].1)),
            "{body}"
        );
    }
}
