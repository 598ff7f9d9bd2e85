//! GitLab's webhook deliveries: the `X-Gitlab-Token` check, and the `Push Hook`, `Tag Push Hook` and
//! `Merge Request Hook` payloads (named by `X-Gitlab-Event`) read into a [`Push`] or a [`PullRequest`].
//!
//! GitLab sends the webhook's secret token itself, not a signature: it is compared with the secret in
//! constant time. A push's commit is `checkout_sha` (the commit a tag points at, where `after` may be an
//! annotated tag's object), else `after`; an `after` of zeros deletes the ref. A merge request's action maps to
//! CodePipeline's events: `open` and `reopen` OPEN, `update` UPDATED, `close` and `merge` CLOSED; approvals
//! start nothing. Merge request events list no changed files.

use serde_json::Value;
use subtle::ConstantTimeEq;

use crate::git_events::{
    commits_files, git_ref, number, object, required, text, zero_commit, AuthError, GitEvent,
};
use crate::pull_requests::{PullRequest, PullRequestEvent};
use crate::triggers::Push;

/// The header GitLab sends the webhook's secret token in.
pub const TOKEN_HEADER: &str = "X-Gitlab-Token";

/// Checks a delivery's `X-Gitlab-Token` against the webhook secret, in constant time.
pub fn verify_gitlab_token(secret: &[u8], header: Option<&str>) -> Result<(), AuthError> {
    let token = header
        .filter(|t| !t.is_empty())
        .ok_or(AuthError::Missing(TOKEN_HEADER))?;
    if bool::from(token.as_bytes().ct_eq(secret)) {
        Ok(())
    } else {
        Err(AuthError::Mismatch(TOKEN_HEADER, "the webhook secret"))
    }
}

/// Reads a GitLab delivery's payload by its `X-Gitlab-Event`. Errors start with the event:
/// `Push Hook payload: after is missing`.
pub fn gitlab_event(event: &str, payload: &Value) -> Result<GitEvent, String> {
    let read = match event {
        "Push Hook" | "Tag Push Hook" => {
            Push::from_gitlab(payload).map(|p| GitEvent::Pushes(vec![p]))
        }
        "Merge Request Hook" => merge_request(payload),
        other => {
            return Ok(GitEvent::Ignored(format!(
                "GitLab {other} events are not handled (Push Hook, Tag Push Hook and Merge Request Hook are)"
            )))
        }
    };
    read.map_err(|m| format!("{event} payload: {m}"))
}

impl Push {
    /// Reads a GitLab `Push Hook` or `Tag Push Hook` payload. Errors name the member at fault.
    pub fn from_gitlab(payload: &Value) -> Result<Self, String> {
        if !payload.is_object() {
            return Err("the push payload must be a JSON object".into());
        }
        let git_ref = git_ref(&required(&payload["ref"], "ref")?)?;
        let after = required(&payload["after"], "after")?;
        let deleted = zero_commit(&after);
        let commit = match text(&payload["checkout_sha"], "checkout_sha")? {
            Some(sha) if !deleted => sha,
            _ => after,
        };
        let mut changed = Vec::new();
        commits_files(&payload["commits"], &mut changed)?;
        changed.sort();
        changed.dedup();
        let message = match &payload["commits"] {
            Value::Array(list) => list
                .iter()
                .enumerate()
                .find(|(_, c)| c["id"].as_str() == Some(commit.as_str()))
                .map(|(i, c)| text(&c["message"], &format!("commits[{i}].message")))
                .transpose()?
                .flatten(),
            _ => None,
        };
        let pusher = match text(&payload["user_username"], "user_username")? {
            Some(u) => Some(u),
            None => text(&payload["user_name"], "user_name")?,
        };
        Ok(Self {
            git_ref,
            commit,
            message,
            pusher,
            changed_files: changed,
            before: text(&payload["before"], "before")?.filter(|b| !zero_commit(b)),
            default_branch: text(
                &payload["project"]["default_branch"],
                "project.default_branch",
            )?,
            deleted,
            repository: text(
                &payload["project"]["path_with_namespace"],
                "project.path_with_namespace",
            )?,
        })
    }
}

fn merge_request(payload: &Value) -> Result<GitEvent, String> {
    object(payload, "the payload")?;
    let attrs = object(&payload["object_attributes"], "object_attributes")?;
    let action = required(&attrs["action"], "object_attributes.action")?;
    let event = match action.as_str() {
        "open" | "reopen" => PullRequestEvent::Open,
        "update" => PullRequestEvent::Updated,
        "close" | "merge" => PullRequestEvent::Closed,
        other => {
            return Ok(GitEvent::Ignored(format!(
                "merge request action {other} starts nothing (open, reopen, update, close and merge do)"
            )))
        }
    };
    Ok(GitEvent::PullRequest(PullRequest {
        event,
        number: number(&attrs["iid"], "object_attributes.iid")?,
        title: text(&attrs["title"], "object_attributes.title")?,
        source_branch: required(&attrs["source_branch"], "object_attributes.source_branch")?,
        destination_branch: required(&attrs["target_branch"], "object_attributes.target_branch")?,
        commit: required(
            &attrs["last_commit"]["id"],
            "object_attributes.last_commit.id",
        )?,
        changed_files: None,
        repository: text(
            &payload["project"]["path_with_namespace"],
            "project.path_with_namespace",
        )?,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::triggers::GitRef;
    use serde_json::json;

    const SHA: &str = "c0ffee00c0ffee00c0ffee00c0ffee00c0ffee01";

    fn push_hook(git_ref: &str) -> Value {
        json!({
            "object_kind": "push",
            "event_name": "push",
            "before": "feedface00feedface00feedface00feedface00",
            "after": SHA,
            "ref": git_ref,
            "checkout_sha": SHA,
            "user_name": "Ada Lovelace",
            "user_username": "ada",
            "project": {"path_with_namespace": "analytical/engine", "default_branch": "stable"},
            "commits": [
                {"id": "feedface00feedface00feedface00feedface01", "message": "notes", "added": ["notes/g.md"], "modified": [], "removed": []},
                {"id": SHA, "message": "cards", "added": [], "modified": ["cards/loop.txt"], "removed": ["notes/g.md"]}
            ],
            "total_commits_count": 2
        })
    }

    #[test]
    fn gitlab_tokens_are_the_secret_itself() {
        assert_eq!(verify_gitlab_token(b"s3cret", Some("s3cret")), Ok(()));
        assert_eq!(
            verify_gitlab_token(b"s3cret", Some("s3creT")),
            Err(AuthError::Mismatch(TOKEN_HEADER, "the webhook secret"))
        );
        assert_eq!(
            verify_gitlab_token(b"s3cret", Some("s3cret-and-more")),
            Err(AuthError::Mismatch(TOKEN_HEADER, "the webhook secret"))
        );
        for missing in [None, Some("")] {
            assert_eq!(
                verify_gitlab_token(b"s3cret", missing),
                Err(AuthError::Missing(TOKEN_HEADER))
            );
        }
        assert_eq!(
            AuthError::Missing(TOKEN_HEADER).to_string(),
            "the X-Gitlab-Token header is missing"
        );
    }

    #[test]
    fn push_hooks_are_read_with_commit_pusher_and_changed_files() {
        let GitEvent::Pushes(pushes) =
            gitlab_event("Push Hook", &push_hook("refs/heads/stable")).expect("read")
        else {
            panic!("a push")
        };
        assert_eq!(
            pushes,
            [Push {
                git_ref: GitRef::Branch("stable".into()),
                commit: SHA.into(),
                message: Some("cards".into()),
                pusher: Some("ada".into()),
                changed_files: vec!["cards/loop.txt".into(), "notes/g.md".into()],
                before: Some("feedface00feedface00feedface00feedface00".into()),
                default_branch: Some("stable".into()),
                deleted: false,
                repository: Some("analytical/engine".into()),
            }]
        );
    }

    #[test]
    fn tag_pushes_run_the_tagged_commit_and_deletions_are_known() {
        let mut tag = push_hook("refs/tags/v2.0");
        tag["object_kind"] = json!("tag_push");
        // An annotated tag: `after` is the tag object, `checkout_sha` the commit.
        tag["after"] = json!("7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b");
        tag["commits"] = json!([]);
        let GitEvent::Pushes(pushes) = gitlab_event("Tag Push Hook", &tag).expect("read") else {
            panic!("a push")
        };
        assert_eq!(pushes[0].git_ref, GitRef::Tag("v2.0".into()));
        assert_eq!(pushes[0].commit, SHA);

        let mut gone = push_hook("refs/heads/old");
        gone["after"] = json!("0000000000000000000000000000000000000000");
        gone["checkout_sha"] = Value::Null;
        let push = Push::from_gitlab(&gone).expect("read");
        assert!(push.deleted);
        // Without user_username, user_name says who pushed.
        let mut named = push_hook("refs/heads/stable");
        named
            .as_object_mut()
            .expect("object")
            .remove("user_username");
        assert_eq!(
            Push::from_gitlab(&named).expect("read").pusher.as_deref(),
            Some("Ada Lovelace")
        );
    }

    fn merge_request_hook(action: &str) -> Value {
        json!({
            "object_kind": "merge_request",
            "event_type": "merge_request",
            "user": {"username": "grace"},
            "project": {"path_with_namespace": "navy/cobol", "default_branch": "stable"},
            "object_attributes": {
                "iid": 233,
                "title": "Nanosecond wire",
                "action": action,
                "state": "opened",
                "source_branch": "wire/ns",
                "target_branch": "stable",
                "last_commit": {"id": "ab12cd34ef56ab12cd34ef56ab12cd34ef56ab12", "message": "wire"}
            }
        })
    }

    #[test]
    fn merge_request_actions_map_to_codepipelines_events() {
        for (action, event) in [
            ("open", PullRequestEvent::Open),
            ("reopen", PullRequestEvent::Open),
            ("update", PullRequestEvent::Updated),
            ("close", PullRequestEvent::Closed),
            ("merge", PullRequestEvent::Closed),
        ] {
            assert_eq!(
                gitlab_event("Merge Request Hook", &merge_request_hook(action)).expect("read"),
                GitEvent::PullRequest(PullRequest {
                    event,
                    number: 233,
                    title: Some("Nanosecond wire".into()),
                    source_branch: "wire/ns".into(),
                    destination_branch: "stable".into(),
                    commit: "ab12cd34ef56ab12cd34ef56ab12cd34ef56ab12".into(),
                    changed_files: None,
                    repository: Some("navy/cobol".into()),
                }),
                "{action}"
            );
        }
        let approved =
            gitlab_event("Merge Request Hook", &merge_request_hook("approved")).expect("read");
        assert!(
            matches!(&approved, GitEvent::Ignored(r) if r.contains("action approved starts nothing")),
            "{approved:?}"
        );
        let note = gitlab_event("Note Hook", &json!({})).expect("read");
        assert!(
            matches!(&note, GitEvent::Ignored(r) if r.contains("GitLab Note Hook events are not handled"))
        );
    }

    #[test]
    fn unreadable_gitlab_payloads_name_the_member_at_fault() {
        let mut no_target = merge_request_hook("open");
        no_target["object_attributes"]
            .as_object_mut()
            .expect("attributes")
            .remove("target_branch");
        let mut no_commit = merge_request_hook("update");
        no_commit["object_attributes"]["last_commit"] = json!({});
        let cases = [
            (
                "Push Hook",
                json!({"ref": "refs/heads/a"}),
                "Push Hook payload: after is missing",
            ),
            (
                "Tag Push Hook",
                json!({"ref": "refs/merge-requests/1", "after": "a"}),
                "Tag Push Hook payload: ref \"refs/merge-requests/1\" is neither refs/heads/<branch> nor refs/tags/<tag>",
            ),
            (
                "Push Hook",
                json!({"ref": "refs/heads/a", "after": "a", "commits": [{"modified": "x"}]}),
                "Push Hook payload: commits[0].modified must be a list of paths",
            ),
            (
                "Merge Request Hook",
                json!({"object_kind": "merge_request"}),
                "Merge Request Hook payload: object_attributes is missing",
            ),
            (
                "Merge Request Hook",
                no_target,
                "Merge Request Hook payload: object_attributes.target_branch is missing",
            ),
            (
                "Merge Request Hook",
                no_commit,
                "Merge Request Hook payload: object_attributes.last_commit.id is missing",
            ),
        ];
        for (event, payload, message) in cases {
            assert_eq!(gitlab_event(event, &payload).expect_err("refused"), message);
        }
    }
}
