//! Bitbucket Cloud's webhook deliveries: the `X-Hub-Signature` check (`sha256=` and the hex HMAC-SHA256 of the
//! raw body with the webhook's secret, Bitbucket Cloud's scheme), and the `repo:push` and `pullrequest:*`
//! payloads (named by `X-Event-Key`) read into [`Push`]es or a [`PullRequest`].
//!
//! One `repo:push` may carry several changes (`push.changes[]`, say a branch and a tag pushed together): each
//! is a push of its own, judged and started on its own. A change whose `new` is null (or `closed` true) deletes
//! its ref. Bitbucket lists no changed files in pushes or pull requests, so `filePaths` filters cannot match
//! them. Pull request events: `pullrequest:created` is OPEN, `pullrequest:updated` UPDATED,
//! `pullrequest:fulfilled` (merged) and `pullrequest:rejected` (declined) CLOSED.

use serde_json::Value;

use crate::git_events::{number, object, required, text, AuthError, GitEvent};
use crate::pull_requests::{PullRequest, PullRequestEvent};
use crate::triggers::{github_signature, verify_github_signature, GitRef, Push, SignatureError};

/// The header Bitbucket Cloud signs deliveries in.
pub const SIGNATURE_HEADER: &str = "X-Hub-Signature";

/// The `X-Hub-Signature` value Bitbucket Cloud sends for `body` with `secret`.
pub fn bitbucket_signature(secret: &[u8], body: &[u8]) -> String {
    github_signature(secret, body)
}

/// Checks a delivery's `X-Hub-Signature` against the raw body, in constant time.
pub fn verify_bitbucket_signature(
    secret: &[u8],
    body: &[u8],
    header: Option<&str>,
) -> Result<(), AuthError> {
    verify_github_signature(secret, body, header).map_err(|e| match e {
        SignatureError::Missing => AuthError::Missing(SIGNATURE_HEADER),
        SignatureError::Malformed => {
            AuthError::Malformed(SIGNATURE_HEADER, "sha256=<hex HMAC-SHA256 of the body>")
        }
        SignatureError::Mismatch => {
            AuthError::Mismatch(SIGNATURE_HEADER, "the body and the webhook secret")
        }
    })
}

/// Reads a Bitbucket Cloud delivery's payload by its `X-Event-Key`. Errors start with the event:
/// `repo:push payload: push.changes is missing`.
pub fn bitbucket_event(event: &str, payload: &Value) -> Result<GitEvent, String> {
    let pr_event = match event {
        "repo:push" => {
            return pushes(payload)
                .map(GitEvent::Pushes)
                .map_err(|m| format!("{event} payload: {m}"))
        }
        "pullrequest:created" => PullRequestEvent::Open,
        "pullrequest:updated" => PullRequestEvent::Updated,
        "pullrequest:fulfilled" | "pullrequest:rejected" => PullRequestEvent::Closed,
        other => {
            return Ok(GitEvent::Ignored(format!(
                "Bitbucket {other} events are not handled (repo:push and pullrequest:created, updated, fulfilled and rejected are)"
            )))
        }
    };
    pull_request(pr_event, payload)
        .map(GitEvent::PullRequest)
        .map_err(|m| format!("{event} payload: {m}"))
}

/// Every change of a `repo:push`, in order.
fn pushes(payload: &Value) -> Result<Vec<Push>, String> {
    object(payload, "the payload")?;
    let changes = match &object(&payload["push"], "push")?["changes"] {
        Value::Array(list) => list,
        Value::Null => return Err("push.changes is missing".into()),
        _ => return Err("push.changes must be a list".into()),
    };
    let pusher = match text(&payload["actor"]["nickname"], "actor.nickname")? {
        Some(n) => Some(n),
        None => text(&payload["actor"]["display_name"], "actor.display_name")?,
    };
    let repository = text(&payload["repository"]["full_name"], "repository.full_name")?;
    changes
        .iter()
        .enumerate()
        .map(|(i, change)| {
            let at = format!("push.changes[{i}]");
            let mut push = change_push(object(change, &at)?, &at)?;
            push.pusher.clone_from(&pusher);
            push.repository.clone_from(&repository);
            Ok(push)
        })
        .collect()
}

fn change_push(change: &Value, at: &str) -> Result<Push, String> {
    let closed = match &change["closed"] {
        Value::Null => false,
        Value::Bool(b) => *b,
        _ => return Err(format!("{at}.closed must be true or false")),
    };
    let (side, state) = match (&change["new"], &change["old"]) {
        (Value::Null, Value::Null) => return Err(format!("{at} has neither new nor old")),
        (Value::Null, old) => ("old", object(old, &format!("{at}.old"))?),
        (new, _) => ("new", object(new, &format!("{at}.new"))?),
    };
    let name = required(&state["name"], &format!("{at}.{side}.name"))?;
    let kind = required(&state["type"], &format!("{at}.{side}.type"))?;
    let git_ref = match kind.as_str() {
        "branch" | "named_branch" => GitRef::Branch(name),
        "tag" | "annotated_tag" => GitRef::Tag(name),
        other => {
            return Err(format!(
                "{at}.{side}.type must be branch or tag, not {other}"
            ))
        }
    };
    let hash_at = format!("{at}.{side}.target.hash");
    let (commit, message) = if side == "new" {
        let message_at = format!("{at}.new.target.message");
        (
            required(&state["target"]["hash"], &hash_at)?,
            text(&state["target"]["message"], &message_at)?,
        )
    } else {
        (
            text(&state["target"]["hash"], &hash_at)?.unwrap_or_default(),
            None,
        )
    };
    let before = if side == "new" && !change["old"].is_null() {
        text(
            &change["old"]["target"]["hash"],
            &format!("{at}.old.target.hash"),
        )?
    } else {
        None
    };
    Ok(Push {
        git_ref,
        commit,
        message,
        pusher: None,
        changed_files: Vec::new(),
        before,
        default_branch: None,
        deleted: closed || side == "old",
        repository: None,
    })
}

fn pull_request(event: PullRequestEvent, payload: &Value) -> Result<PullRequest, String> {
    object(payload, "the payload")?;
    let pr = object(&payload["pullrequest"], "pullrequest")?;
    Ok(PullRequest {
        event,
        number: number(&pr["id"], "pullrequest.id")?,
        title: text(&pr["title"], "pullrequest.title")?,
        source_branch: required(
            &pr["source"]["branch"]["name"],
            "pullrequest.source.branch.name",
        )?,
        destination_branch: required(
            &pr["destination"]["branch"]["name"],
            "pullrequest.destination.branch.name",
        )?,
        commit: required(
            &pr["source"]["commit"]["hash"],
            "pullrequest.source.commit.hash",
        )?,
        changed_files: None,
        repository: text(&payload["repository"]["full_name"], "repository.full_name")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn change(kind: &str, name: &str, hash: &str) -> Value {
        json!({
            "new": {"type": kind, "name": name, "target": {"type": "commit", "hash": hash, "message": "ship it\n"}},
            "old": {"type": kind, "name": name, "target": {"type": "commit", "hash": "1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e"}},
            "created": false, "forced": false, "closed": false, "truncated": false,
            "commits": [{"hash": hash, "message": "ship it\n"}]
        })
    }

    fn repo_push(changes: Value) -> Value {
        json!({
            "actor": {"display_name": "Alan Turing", "nickname": "alan", "type": "user"},
            "repository": {"full_name": "bletchley/bombe", "name": "bombe", "type": "repository"},
            "push": {"changes": changes}
        })
    }

    #[test]
    fn bitbucket_signatures_are_checked_against_the_body() {
        let body = br#"{"push": {"changes": []}}"#;
        let good = bitbucket_signature(b"enigma", body);
        assert!(good.starts_with("sha256=") && good.len() == 71, "{good}");
        assert_eq!(
            verify_bitbucket_signature(b"enigma", body, Some(&good)),
            Ok(())
        );
        assert_eq!(
            verify_bitbucket_signature(b"lorenz", body, Some(&good)),
            Err(AuthError::Mismatch(
                SIGNATURE_HEADER,
                "the body and the webhook secret"
            ))
        );
        assert_eq!(
            verify_bitbucket_signature(b"enigma", b"{}", Some(&good)),
            Err(AuthError::Mismatch(
                SIGNATURE_HEADER,
                "the body and the webhook secret"
            ))
        );
        assert_eq!(
            verify_bitbucket_signature(b"enigma", body, None),
            Err(AuthError::Missing(SIGNATURE_HEADER))
        );
        assert!(matches!(
            verify_bitbucket_signature(b"enigma", body, Some("sha1=00")),
            Err(AuthError::Malformed(SIGNATURE_HEADER, _))
        ));
    }

    #[test]
    fn each_change_of_a_push_is_a_push_of_its_own() {
        let mut deleted = change("branch", "spike", "0");
        deleted["new"] = Value::Null;
        deleted["closed"] = json!(true);
        let payload = repo_push(json!([
            change(
                "branch",
                "master",
                "aaaa1111bbbb2222cccc3333dddd4444eeee5555"
            ),
            change("tag", "r42", "ffff6666aaaa1111bbbb2222cccc3333dddd4444"),
            deleted
        ]));
        let GitEvent::Pushes(pushes) = bitbucket_event("repo:push", &payload).expect("read") else {
            panic!("pushes")
        };
        assert_eq!(pushes.len(), 3);
        assert_eq!(
            pushes[0],
            Push {
                git_ref: GitRef::Branch("master".into()),
                commit: "aaaa1111bbbb2222cccc3333dddd4444eeee5555".into(),
                message: Some("ship it\n".into()),
                pusher: Some("alan".into()),
                changed_files: Vec::new(),
                before: Some("1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e".into()),
                default_branch: None,
                deleted: false,
                repository: Some("bletchley/bombe".into()),
            }
        );
        assert_eq!(pushes[1].git_ref, GitRef::Tag("r42".into()));
        assert_eq!(pushes[1].commit, "ffff6666aaaa1111bbbb2222cccc3333dddd4444");
        assert!(!pushes[1].deleted);
        assert_eq!(pushes[2].git_ref, GitRef::Branch("spike".into()));
        assert!(pushes[2].deleted);
        let none = bitbucket_event("repo:push", &repo_push(json!([]))).expect("read");
        assert_eq!(none, GitEvent::Pushes(Vec::new()));
    }

    #[test]
    fn each_change_is_judged_on_its_own() {
        use crate::triggers::{decide, Verdict};
        let pipeline: sluice_definition::model::Pipeline = serde_json::from_value(json!({
            "name": "bombe",
            "pipelineType": "V2",
            "stages": [
                {"name": "Source", "actions": [{
                    "name": "Code",
                    "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "CodeStarSourceConnection", "version": "1"},
                    "configuration": {"BranchName": "master", "ConnectionArn": "arn:aws:codestar-connections:us-east-1:111122223333:connection/x", "FullRepositoryId": "bletchley/bombe"},
                    "outputArtifacts": [{"name": "Src"}]
                }]},
                {"name": "Build", "actions": [{
                    "name": "Make",
                    "actionTypeId": {"category": "Build", "owner": "AWS", "provider": "CodeBuild", "version": "1"},
                    "configuration": {"ProjectName": "x"},
                    "inputArtifacts": [{"name": "Src"}]
                }]}
            ],
            "triggers": [{
                "providerType": "CodeStarSourceConnection",
                "gitConfiguration": {"sourceActionName": "Code", "push": [
                    {"branches": {"includes": ["master"]}},
                    {"tags": {"includes": ["r*"]}}
                ]}
            }]
        }))
        .expect("a pipeline");
        let mut gone = change("branch", "master", "0");
        gone["new"] = Value::Null;
        let payload = repo_push(json!([
            change(
                "branch",
                "master",
                "aaaa1111bbbb2222cccc3333dddd4444eeee5555"
            ),
            change("branch", "wip", "bbbb1111bbbb2222cccc3333dddd4444eeee5555"),
            change("tag", "r7", "cccc1111bbbb2222cccc3333dddd4444eeee5555"),
            gone
        ]));
        let GitEvent::Pushes(pushes) = bitbucket_event("repo:push", &payload).expect("read") else {
            panic!("pushes")
        };
        let verdicts: Vec<_> = pushes.iter().map(|p| decide(&pipeline, p)).collect();
        assert!(
            matches!(&verdicts[0], Verdict::Start { matched, .. } if matched == "triggers[0].push[0] (branch master)")
        );
        assert!(matches!(&verdicts[1], Verdict::Skip(r) if r.contains("branch wip matches none")));
        assert!(
            matches!(&verdicts[2], Verdict::Start { matched, .. } if matched == "triggers[0].push[1] (tag r7)")
        );
        assert!(
            matches!(&verdicts[3], Verdict::Skip(r) if r == "the push deletes the branch master")
        );
        // Bitbucket lists no changed files: a filePaths filter cannot select a Bitbucket push.
        let mut by_path = pipeline.clone();
        let triggers = by_path.triggers.as_mut().expect("triggers");
        let filter = &mut triggers[0].git_configuration.push.as_mut().expect("push")[0];
        filter.file_paths = Some(sluice_definition::model::FilterCriteria {
            includes: Some(vec!["**".into()]),
            excludes: None,
        });
        assert!(
            matches!(decide(&by_path, &pushes[0]), Verdict::Skip(r) if r.contains("lists no changed files"))
        );
    }

    fn pull_request_payload() -> Value {
        json!({
            "actor": {"nickname": "alan"},
            "repository": {"full_name": "bletchley/bombe"},
            "pullrequest": {
                "id": 9,
                "title": "Faster rotors",
                "state": "OPEN",
                "source": {"branch": {"name": "rotors"}, "commit": {"hash": "0a1b2c3d4e5f"}, "repository": {"full_name": "bletchley/bombe"}},
                "destination": {"branch": {"name": "master"}, "commit": {"hash": "5f4e3d2c1b0a"}, "repository": {"full_name": "bletchley/bombe"}}
            }
        })
    }

    #[test]
    fn pull_request_events_map_to_codepipelines_events() {
        for (key, event) in [
            ("pullrequest:created", PullRequestEvent::Open),
            ("pullrequest:updated", PullRequestEvent::Updated),
            ("pullrequest:fulfilled", PullRequestEvent::Closed),
            ("pullrequest:rejected", PullRequestEvent::Closed),
        ] {
            assert_eq!(
                bitbucket_event(key, &pull_request_payload()).expect("read"),
                GitEvent::PullRequest(PullRequest {
                    event,
                    number: 9,
                    title: Some("Faster rotors".into()),
                    source_branch: "rotors".into(),
                    destination_branch: "master".into(),
                    commit: "0a1b2c3d4e5f".into(),
                    changed_files: None,
                    repository: Some("bletchley/bombe".into()),
                }),
                "{key}"
            );
        }
        let approved =
            bitbucket_event("pullrequest:approved", &pull_request_payload()).expect("read");
        assert!(
            matches!(&approved, GitEvent::Ignored(r) if r.contains("pullrequest:approved events are not handled"))
        );
    }

    #[test]
    fn unreadable_bitbucket_payloads_name_the_member_at_fault() {
        let mut no_hash = pull_request_payload();
        no_hash["pullrequest"]["source"]["commit"] = json!({});
        let mut bookmark = change("bookmark", "b", "abc");
        bookmark["old"] = Value::Null;
        let cases = [
            (
                "repo:push",
                json!({"push": {}}),
                "repo:push payload: push.changes is missing",
            ),
            (
                "repo:push",
                repo_push(json!([{"new": null, "old": null}])),
                "repo:push payload: push.changes[0] has neither new nor old",
            ),
            (
                "repo:push",
                repo_push(json!([change("branch", "a", "x"), bookmark])),
                "repo:push payload: push.changes[1].new.type must be branch or tag, not bookmark",
            ),
            (
                "repo:push",
                repo_push(json!([{"new": {"type": "branch", "name": "a", "target": {}}}])),
                "repo:push payload: push.changes[0].new.target.hash is missing",
            ),
            (
                "pullrequest:created",
                no_hash,
                "pullrequest:created payload: pullrequest.source.commit.hash is missing",
            ),
            (
                "pullrequest:updated",
                json!({"repository": {}}),
                "pullrequest:updated payload: pullrequest is missing",
            ),
        ];
        for (event, payload, message) in cases {
            assert_eq!(
                bitbucket_event(event, &payload).expect_err("refused"),
                message
            );
        }
    }
}
