//! Approval notices on a Manual action's `NotificationArn` from the embedded host: CodePipeline's approval
//! message published to that SNS topic with the user's standard AWS settings (profile, credentials,
//! `AWS_ENDPOINT_URL`), as the providers' calls are made, in the topic's own region.

use aws_config::{BehaviorVersion, Region};
use sluice_runtime::notifications::ApprovalLinks;
use sluice_runtime::records::ApprovalRecord;

/// Publishes the approval's notice to `topic_arn` (an `arn:aws:sns:<region>:<account>:<name>`).
pub async fn publish_approval(
    topic_arn: &str,
    approval: &ApprovalRecord,
    links: &ApprovalLinks,
) -> Result<(), String> {
    let region = topic_region(topic_arn).ok_or_else(|| {
        format!(
            "NotificationArn {topic_arn} of {}.{}.{} is not an SNS topic ARN \
             (arn:aws:sns:<region>:<account>:<topic>)",
            approval.pipeline, approval.stage, approval.action
        )
    })?;
    let sdk = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(region.to_owned()))
        .load()
        .await;
    let sns = aws_sdk_sns::Client::new(&sdk);
    sluice_aws::notifier::publish_approval(&sns, topic_arn, approval, links).await
}

/// The region of an SNS topic ARN.
fn topic_region(arn: &str) -> Option<&str> {
    let parts: Vec<&str> = arn.split(':').collect();
    match parts.as_slice() {
        ["arn", _, "sns", region, _, name] if !region.is_empty() && !name.is_empty() => {
            Some(region)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::topic_region;

    #[test]
    fn the_region_comes_from_the_topic_arn() {
        assert_eq!(
            topic_region("arn:aws:sns:eu-west-1:123456789012:approvals"),
            Some("eu-west-1")
        );
        assert_eq!(topic_region("arn:aws:sqs:eu-west-1:1:q"), None);
        assert_eq!(topic_region("approvals"), None);
    }
}
