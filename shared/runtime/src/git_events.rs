//! The git hosts' webhook events, read into what the trigger decisions take: a [`Push`] ([`crate::triggers`])
//! or a [`PullRequest`] ([`crate::pull_requests`]). GitHub's `push` and `pull_request` payloads are read here,
//! GitLab's in [`crate::gitlab_events`], Bitbucket Cloud's in [`crate::bitbucket_events`]; the members read
//! are the ones each host documents. Every reader names the payload member at fault, and an event that starts
//! nothing by its kind alone (an issue comment, a labelled pull request) is [`GitEvent::Ignored`] with the
//! reason, before its payload is looked at.
//!
//! Pure, like the decisions: `sluice serve` and the trigger function share it through `sluice_web`.

use serde_json::Value;

use crate::pull_requests::{PullRequest, PullRequestEvent};
use crate::triggers::{GitRef, Push};

/// One delivery's event, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GitEvent {
    /// Branch or tag pushes: one for GitHub and GitLab, one per change for Bitbucket (which may carry several).
    Pushes(Vec<Push>),
    /// A pull request opened, updated or closed.
    PullRequest(PullRequest),
    /// An event that starts no pipeline, and why.
    Ignored(String),
}

/// Why a delivery is not taken as the webhook's: what is wrong with which header.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// The header that carries the secret or signature is absent.
    #[error("the {0} header is missing")]
    Missing(&'static str),
    /// The header is not of the host's form.
    #[error("the {0} header must be {1}")]
    Malformed(&'static str, &'static str),
    /// The header does not match the secret (and the body, for signatures).
    #[error("the {0} header does not match {1}")]
    Mismatch(&'static str, &'static str),
}

/// A string member: absent or null is `None`.
pub(crate) fn text(v: &Value, at: &str) -> Result<Option<String>, String> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s.clone())),
        _ => Err(format!("{at} must be a string")),
    }
}

/// A string member that must be there.
pub(crate) fn required(v: &Value, at: &str) -> Result<String, String> {
    text(v, at)?.ok_or_else(|| format!("{at} is missing"))
}

/// A non-negative whole number (a pull request's number).
pub(crate) fn number(v: &Value, at: &str) -> Result<u64, String> {
    match v {
        Value::Null => Err(format!("{at} is missing")),
        v => v
            .as_u64()
            .ok_or_else(|| format!("{at} must be a whole number")),
    }
}

/// The member must be a JSON object.
pub(crate) fn object<'a>(v: &'a Value, at: &str) -> Result<&'a Value, String> {
    match v {
        Value::Object(_) => Ok(v),
        Value::Null => Err(format!("{at} is missing")),
        _ => Err(format!("{at} must be an object")),
    }
}

/// `refs/heads/<branch>` or `refs/tags/<tag>`.
pub(crate) fn git_ref(full: &str) -> Result<GitRef, String> {
    if let Some(b) = full.strip_prefix("refs/heads/") {
        Ok(GitRef::Branch(b.to_owned()))
    } else if let Some(t) = full.strip_prefix("refs/tags/") {
        Ok(GitRef::Tag(t.to_owned()))
    } else {
        Err(format!(
            "ref {full:?} is neither refs/heads/<branch> nor refs/tags/<tag>"
        ))
    }
}

/// Whether a commit id is all zeros: what GitHub and GitLab send as `after` when a ref is deleted.
pub(crate) fn zero_commit(commit: &str) -> bool {
    commit.bytes().all(|b| b == b'0')
}

/// The `added`, `modified` and `removed` paths of one commit of a push (GitHub's and GitLab's shape).
pub(crate) fn commit_files(commit: &Value, at: &str, into: &mut Vec<String>) -> Result<(), String> {
    if !commit.is_object() {
        return Err(format!("{at} must be an object"));
    }
    for list in ["added", "modified", "removed"] {
        match &commit[list] {
            Value::Null => {}
            Value::Array(files) => {
                for (i, f) in files.iter().enumerate() {
                    let f = f
                        .as_str()
                        .ok_or_else(|| format!("{at}.{list}[{i}] must be a string"))?;
                    into.push(f.to_owned());
                }
            }
            _ => return Err(format!("{at}.{list} must be a list of paths")),
        }
    }
    Ok(())
}

/// Every path `commits[]` lists, once each (sorted); the payload's own `at` for errors.
pub(crate) fn commits_files(commits: &Value, into: &mut Vec<String>) -> Result<(), String> {
    match commits {
        Value::Null => Ok(()),
        Value::Array(list) => list
            .iter()
            .enumerate()
            .try_for_each(|(i, c)| commit_files(c, &format!("commits[{i}]"), into)),
        _ => Err("commits must be a list".into()),
    }
}

/// Reads a GitHub delivery's payload by its `X-GitHub-Event`: `push` and `pull_request` (`ping` is answered
/// before any payload is read). Errors start with the event's kind: `push payload: after is missing`.
pub fn github_event(event: &str, payload: &Value) -> Result<GitEvent, String> {
    match event {
        "push" => Push::from_github(payload)
            .map(|p| GitEvent::Pushes(vec![p]))
            .map_err(|m| format!("push payload: {m}")),
        "pull_request" => {
            github_pull_request(payload).map_err(|m| format!("pull_request payload: {m}"))
        }
        other => Ok(GitEvent::Ignored(format!(
            "{other} events are not handled (push, pull_request and ping are)"
        ))),
    }
}

fn github_pull_request(payload: &Value) -> Result<GitEvent, String> {
    object(payload, "the payload")?;
    let action = required(&payload["action"], "action")?;
    let event = match action.as_str() {
        "opened" | "reopened" => PullRequestEvent::Open,
        "synchronize" | "edited" => PullRequestEvent::Updated,
        "closed" => PullRequestEvent::Closed,
        other => {
            return Ok(GitEvent::Ignored(format!(
                "pull_request action {other} starts nothing (opened, reopened, synchronize, edited and closed do)"
            )))
        }
    };
    let pr = object(&payload["pull_request"], "pull_request")?;
    let number = match &payload["number"] {
        Value::Null => number(&pr["number"], "pull_request.number")?,
        n => number(n, "number")?,
    };
    Ok(GitEvent::PullRequest(PullRequest {
        event,
        number,
        title: text(&pr["title"], "pull_request.title")?,
        source_branch: required(&pr["head"]["ref"], "pull_request.head.ref")?,
        destination_branch: required(&pr["base"]["ref"], "pull_request.base.ref")?,
        commit: required(&pr["head"]["sha"], "pull_request.head.sha")?,
        changed_files: None,
        repository: text(&payload["repository"]["full_name"], "repository.full_name")?,
    }))
}

impl Push {
    /// Reads a GitHub `push` event payload. Errors name the member at fault.
    pub fn from_github(payload: &Value) -> Result<Self, String> {
        if !payload.is_object() {
            return Err("the push payload must be a JSON object".into());
        }
        let git_ref = git_ref(&required(&payload["ref"], "ref")?)?;
        let commit = required(&payload["after"], "after")?;
        let deleted = match &payload["deleted"] {
            Value::Null => zero_commit(&commit),
            Value::Bool(b) => *b,
            _ => return Err("deleted must be true or false".into()),
        };
        let mut changed = Vec::new();
        commits_files(&payload["commits"], &mut changed)?;
        if !payload["head_commit"].is_null() {
            commit_files(&payload["head_commit"], "head_commit", &mut changed)?;
        }
        changed.sort();
        changed.dedup();
        Ok(Self {
            git_ref,
            commit,
            message: text(&payload["head_commit"]["message"], "head_commit.message")?,
            pusher: text(&payload["pusher"]["name"], "pusher.name")?,
            changed_files: changed,
            before: text(&payload["before"], "before")?.filter(|b| !zero_commit(b)),
            default_branch: text(
                &payload["repository"]["default_branch"],
                "repository.default_branch",
            )?,
            deleted,
            repository: text(&payload["repository"]["full_name"], "repository.full_name")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn push_payloads_are_read_with_their_changed_files() {
        let p = Push::from_github(&json!({
            "ref": "refs/heads/main",
            "after": "abc",
            "pusher": {"name": "octocat"},
            "head_commit": {"message": "fix", "added": ["c"], "modified": [], "removed": []},
            "commits": [
                {"added": ["b"], "modified": ["a"], "removed": []},
                {"added": [], "modified": ["a"], "removed": ["d"]}
            ]
        }))
        .expect("a push");
        assert_eq!(p.git_ref, GitRef::Branch("main".into()));
        assert_eq!(p.commit, "abc");
        assert_eq!(p.message.as_deref(), Some("fix"));
        assert_eq!(p.pusher.as_deref(), Some("octocat"));
        assert_eq!(p.changed_files, ["a", "b", "c", "d"]);
        assert!(!p.deleted);
        let gone = Push::from_github(&json!({"ref": "refs/heads/x", "after": "0000000000"}))
            .expect("a push");
        assert!(gone.deleted);
    }

    #[test]
    fn unreadable_payloads_name_the_member_at_fault() {
        let cases = [
            (json!([]), "must be a JSON object"),
            (json!({"after": "a"}), "ref is missing"),
            (json!({"ref": 5, "after": "a"}), "ref must be a string"),
            (
                json!({"ref": "refs/pull/1", "after": "a"}),
                "neither refs/heads",
            ),
            (json!({"ref": "refs/heads/m"}), "after is missing"),
            (
                json!({"ref": "refs/heads/m", "after": "a", "commits": {}}),
                "commits must be a list",
            ),
            (
                json!({"ref": "refs/heads/m", "after": "a", "commits": [{"added": [1]}]}),
                "commits[0].added[0] must be a string",
            ),
            (
                json!({"ref": "refs/heads/m", "after": "a", "commits": [{"removed": "x"}]}),
                "commits[0].removed must be a list",
            ),
        ];
        for (payload, needle) in cases {
            let e = Push::from_github(&payload).expect_err("refused");
            assert!(e.contains(needle), "{payload}: {e}");
        }
    }

    fn github_pr(action: &str) -> Value {
        json!({
            "action": action,
            "number": 17,
            "pull_request": {
                "number": 17,
                "title": "Faster checkout",
                "state": "open",
                "head": {"ref": "perf/checkout", "sha": "5d41402abc4b2a76b9719d911017c592aaaa0001"},
                "base": {"ref": "trunk", "sha": "7d793037a0760186574b0282f2f435e7aaaa0002"}
            },
            "repository": {"full_name": "acme/shop", "default_branch": "trunk"}
        })
    }

    #[test]
    fn github_pull_request_actions_map_to_codepipelines_events() {
        for (action, event) in [
            ("opened", PullRequestEvent::Open),
            ("reopened", PullRequestEvent::Open),
            ("synchronize", PullRequestEvent::Updated),
            ("edited", PullRequestEvent::Updated),
            ("closed", PullRequestEvent::Closed),
        ] {
            let read = github_event("pull_request", &github_pr(action)).expect("read");
            assert_eq!(
                read,
                GitEvent::PullRequest(PullRequest {
                    event,
                    number: 17,
                    title: Some("Faster checkout".into()),
                    source_branch: "perf/checkout".into(),
                    destination_branch: "trunk".into(),
                    commit: "5d41402abc4b2a76b9719d911017c592aaaa0001".into(),
                    changed_files: None,
                    repository: Some("acme/shop".into()),
                }),
                "{action}"
            );
        }
        let labeled = github_event("pull_request", &github_pr("labeled")).expect("read");
        assert!(
            matches!(&labeled, GitEvent::Ignored(r) if r.contains("action labeled starts nothing")),
            "{labeled:?}"
        );
        let issues = github_event("issues", &json!({})).expect("read");
        assert!(
            matches!(&issues, GitEvent::Ignored(r) if r.contains("issues events are not handled"))
        );
    }

    #[test]
    fn github_pull_request_payloads_name_the_member_at_fault() {
        let mut no_sha = github_pr("opened");
        no_sha["pull_request"]["head"]
            .as_object_mut()
            .expect("head")
            .remove("sha");
        let mut bad_number = github_pr("opened");
        bad_number["number"] = json!("17");
        let cases = [
            (
                json!({"number": 1}),
                "pull_request payload: action is missing",
            ),
            (
                json!({"action": "opened", "number": 1}),
                "pull_request payload: pull_request is missing",
            ),
            (
                no_sha,
                "pull_request payload: pull_request.head.sha is missing",
            ),
            (
                bad_number,
                "pull_request payload: number must be a whole number",
            ),
        ];
        for (payload, message) in cases {
            let e = github_event("pull_request", &payload).expect_err("refused");
            assert_eq!(e, message, "{payload}");
        }
    }
}
