//! Git webhook triggers: verifying a GitHub delivery's signature, reading a push event, and deciding whether
//! it starts a pipeline. Pure, so `sluice serve` and (later) the trigger Lambda share it.
//!
//! The decision follows CodePipeline:
//! - A pipeline with `triggers` starts when any push filter of any trigger matches. A tag push is matched by a
//!   filter's `tags`; a branch push by its `branches` and, when the filter has them, its `filePaths` (at least
//!   one changed file included and not excluded). Excludes win over includes; absent includes select
//!   everything. A filter without `tags` never matches a tag push, one without `branches` never a branch push.
//! - A pipeline without triggers starts on pushes to the `BranchName` of one of its git source actions (the
//!   repository's default branch when `BranchName` is not set); tag pushes do not start it, nor do pushes to a
//!   `CodeStarSourceConnection` source configured with `DetectChanges: "false"`.
//!
//! Pull requests are judged in [`crate::pull_requests`]; GitLab's, Bitbucket's and GitHub's payloads are read in
//! [`crate::git_events`] and its siblings.
//!
//! Patterns are globs ([`crate::globs`]) as CodePipeline documents them: `*` any characters within one path segment, `**` any
//! characters across segments, `?` one character, `[abc]`, `[a-z]` and `[!a-z]` one character of (not of) a
//! set, `{a,b}` one of the sub-patterns (not nested), `\` escapes. A leading or inner `**/` also matches no
//! folder at all, so `**/README.md` selects the top-level README too.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use sluice_definition::model::{Action, FilterCriteria, GitPushFilter, Pipeline};
use sluice_definition::providers;

use crate::globs::glob_match;
use crate::records::RevisionOverride;

/// What the webhook's starts are recorded as when the pipeline has `triggers` (CodePipeline's V2 webhooks).
pub const TRIGGER_TYPE_V2: &str = "WebhookV2";
/// What the webhook's starts are recorded as when the pipeline follows its source's `BranchName`.
pub const TRIGGER_TYPE_V1: &str = "Webhook";

/// Why a delivery's signature is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// No `X-Hub-Signature-256` header.
    #[error("the X-Hub-Signature-256 header is missing")]
    Missing,
    /// The header is not `sha256=<64 hex digits>`.
    #[error("the X-Hub-Signature-256 header must be sha256=<hex HMAC-SHA256>")]
    Malformed,
    /// The signature is not the body's with the shared secret.
    #[error("the X-Hub-Signature-256 signature does not match the body and the webhook secret")]
    Mismatch,
}

fn body_mac(secret: &[u8], body: &[u8]) -> Hmac<Sha256> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(body);
    mac
}

/// The `X-Hub-Signature-256` value GitHub sends for `body` signed with `secret`.
pub fn github_signature(secret: &[u8], body: &[u8]) -> String {
    format!(
        "sha256={}",
        hex::encode(body_mac(secret, body).finalize().into_bytes())
    )
}

/// Checks a delivery's `X-Hub-Signature-256` header against the raw body, in constant time.
pub fn verify_github_signature(
    secret: &[u8],
    body: &[u8],
    header: Option<&str>,
) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let hex_sig = header
        .trim()
        .strip_prefix("sha256=")
        .ok_or(SignatureError::Malformed)?;
    let sig = hex::decode(hex_sig).map_err(|_| SignatureError::Malformed)?;
    if sig.len() != 32 {
        return Err(SignatureError::Malformed);
    }
    body_mac(secret, body)
        .verify_slice(&sig)
        .map_err(|_| SignatureError::Mismatch)
}

/// What a push updated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GitRef {
    /// `refs/heads/<name>`.
    Branch(String),
    /// `refs/tags/<name>`.
    Tag(String),
}

impl GitRef {
    /// The branch's or tag's name.
    pub fn name(&self) -> &str {
        match self {
            Self::Branch(n) | Self::Tag(n) => n,
        }
    }
}

impl std::fmt::Display for GitRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Branch(b) => write!(f, "branch {b}"),
            Self::Tag(t) => write!(f, "tag {t}"),
        }
    }
}

/// The parts of a push event that decide a start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Push {
    /// The branch or tag pushed.
    pub git_ref: GitRef,
    /// The commit the ref points at after the push (`after`).
    pub commit: String,
    /// The head commit's message.
    pub message: Option<String>,
    /// Who pushed (`pusher.name`).
    pub pusher: Option<String>,
    /// Every file added, modified or removed by the pushed commits, sorted, once each (none when the event
    /// lists none: Bitbucket's; a [`ChangedFiles`](crate::pull_requests::ChangedFiles) may fill them in).
    pub changed_files: Vec<String>,
    /// The commit the ref pointed at before the push, when it existed and the payload says (`before`,
    /// Bitbucket's `old.target.hash`).
    pub before: Option<String>,
    /// The repository's default branch (`repository.default_branch`), when the payload says.
    pub default_branch: Option<String>,
    /// Whether the push deleted the ref.
    pub deleted: bool,
    /// The repository, as its host names it (`owner/name`, GitLab's `group/project`), when the payload says.
    pub repository: Option<String>,
}

/// Whether a push starts the pipeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Start an execution.
    Start {
        /// [`TRIGGER_TYPE_V2`] or [`TRIGGER_TYPE_V1`].
        trigger_type: &'static str,
        /// What matched, for people: `triggers[0].push[1] (branch main)`.
        matched: String,
    },
    /// Do not: why not.
    Skip(String),
}

/// Decides whether `push` starts `pipeline`.
pub fn decide(pipeline: &Pipeline, push: &Push) -> Verdict {
    if push.deleted {
        return Verdict::Skip(format!("the push deletes the {}", push.git_ref));
    }
    if let Err(why) = same_repository(pipeline, push.repository.as_deref()) {
        return Verdict::Skip(why);
    }
    let triggers = pipeline.triggers.as_deref().unwrap_or_default();
    if !triggers.is_empty() {
        let mut misses = Vec::new();
        for (ti, trigger) in triggers.iter().enumerate() {
            for (fi, filter) in trigger.git_configuration.push.iter().flatten().enumerate() {
                let at = format!("triggers[{ti}].push[{fi}]");
                match push_filter(filter, push) {
                    Ok(()) => {
                        return Verdict::Start {
                            trigger_type: TRIGGER_TYPE_V2,
                            matched: format!("{at} ({})", push.git_ref),
                        }
                    }
                    Err(why) => misses.push(format!("{at}: {why}")),
                }
            }
        }
        if misses.is_empty() {
            return Verdict::Skip(
                "the pipeline's triggers have no push filters (pull requests only)".into(),
            );
        }
        return Verdict::Skip(format!(
            "no push filter matches the {}: {}",
            push.git_ref,
            misses.join("; ")
        ));
    }
    let (sources, undetected): (Vec<&Action>, Vec<&Action>) = pipeline
        .stages
        .first()
        .into_iter()
        .flat_map(|s| &s.actions)
        .filter(|a| providers::find(&a.action_type_id).is_some_and(|p| p.is_git_source()))
        .partition(|a| detects_changes(a));
    if sources.is_empty() {
        if let Some(a) = undetected.first() {
            return Verdict::Skip(format!(
                "the pipeline has no triggers and its source action {} has DetectChanges false, so pushes do not start it",
                a.name
            ));
        }
        return Verdict::Skip(
            "the pipeline has no triggers and no git source action, so pushes do not start it"
                .into(),
        );
    }
    let sources: Vec<(&str, Option<&str>)> = sources
        .iter()
        .map(|a| (a.name.as_str(), config(a, "BranchName")))
        .collect();
    let branch = match &push.git_ref {
        GitRef::Tag(t) => {
            return Verdict::Skip(format!(
                "tag {t} was pushed; tags start a pipeline only through a triggers push filter with tags"
            ))
        }
        GitRef::Branch(b) => b,
    };
    let mut follows = Vec::new();
    for (name, configured) in &sources {
        let wanted = configured.or(push.default_branch.as_deref());
        match wanted {
            // A source with no branch of its own and no default branch known follows whatever is pushed.
            None => {
                return Verdict::Start {
                    trigger_type: TRIGGER_TYPE_V1,
                    matched: format!("source action {name} (branch {branch})"),
                }
            }
            Some(w) if w == branch => {
                return Verdict::Start {
                    trigger_type: TRIGGER_TYPE_V1,
                    matched: format!("source action {name} (branch {branch})"),
                }
            }
            Some(w) => follows.push(format!("{name} follows {w}")),
        }
    }
    Verdict::Skip(format!(
        "the push is to branch {branch}, but the source action {}",
        follows.join(", ")
    ))
}

fn config<'a>(action: &'a Action, key: &str) -> Option<&'a str> {
    action
        .configuration
        .as_ref()
        .and_then(|c| c.get(key))
        .map(String::as_str)
}

/// Whether a delivery about `repository` is for this pipeline: yes when the payload names no repository, or the
/// pipeline's git sources name none (a `LocalSource`), or one of them reads it (`FullRepositoryId`, GitHub's
/// `Owner/Repo`, compared without case as the hosts do). A shared webhook secret must not let a push to one
/// repository start a pipeline of another, pinned to a commit its source does not have.
pub(crate) fn same_repository(pipeline: &Pipeline, repository: Option<&str>) -> Result<(), String> {
    let Some(repository) = repository else {
        return Ok(());
    };
    let named: Vec<String> = pipeline
        .actions()
        .filter_map(
            |(_, _, _, action)| match action.action_type_id.provider.as_str() {
                "CodeStarSourceConnection" => config(action, "FullRepositoryId").map(str::to_owned),
                "GitHub" => Some(format!(
                    "{}/{}",
                    config(action, "Owner")?,
                    config(action, "Repo")?
                )),
                _ => None,
            },
        )
        .collect();
    if named.is_empty() || named.iter().any(|n| n.eq_ignore_ascii_case(repository)) {
        return Ok(());
    }
    Err(format!(
        "the delivery is about repository {repository}, and the pipeline's git sources read {}",
        named.join(", ")
    ))
}

/// The source action whose repository must list `push`'s changed files before `pipeline` can be judged: the
/// event listed none (Bitbucket's never do), the branch existed before, and a push filter whose branches take
/// it has `filePaths`. `None` when the decision needs no files.
pub fn files_needed<'p>(pipeline: &'p Pipeline, push: &Push) -> Option<&'p Action> {
    let GitRef::Branch(branch) = &push.git_ref else {
        return None;
    };
    if !push.changed_files.is_empty()
        || push.before.is_none()
        || push.deleted
        || same_repository(pipeline, push.repository.as_deref()).is_err()
    {
        return None;
    }
    let trigger = pipeline.triggers.iter().flatten().find(|t| {
        t.git_configuration.push.iter().flatten().any(|f| {
            f.file_paths.is_some()
                && f.branches
                    .as_ref()
                    .is_some_and(|b| criteria(b, branch, "branch").is_ok())
        })
    })?;
    let name = trigger.git_configuration.source_action_name.as_str();
    pipeline
        .actions()
        .map(|(_, _, _, a)| a)
        .find(|a| a.name == name)
}

/// Whether pushes start the pipeline through this source when it has no triggers: not when a
/// `CodeStarSourceConnection` source says `DetectChanges: "false"` (CodePipeline's default is true).
fn detects_changes(action: &Action) -> bool {
    !(action.action_type_id.provider == "CodeStarSourceConnection"
        && config(action, "DetectChanges").is_some_and(|v| v.eq_ignore_ascii_case("false")))
}

/// Whether one push filter matches; `Err` says why not.
fn push_filter(filter: &GitPushFilter, push: &Push) -> Result<(), String> {
    match &push.git_ref {
        GitRef::Tag(tag) => {
            let tags = filter
                .tags
                .as_ref()
                .ok_or("the filter has no tags, so it matches branch pushes only")?;
            criteria(tags, tag, "tag")
        }
        GitRef::Branch(branch) => {
            let branches = filter
                .branches
                .as_ref()
                .ok_or("the filter has no branches, so it matches tag pushes only")?;
            criteria(branches, branch, "branch")?;
            match &filter.file_paths {
                Some(paths) => file_paths(paths, &push.changed_files),
                None => Ok(()),
            }
        }
    }
}

/// Whether `value` (a `noun`) is included and not excluded by `c`; `Err` says why not.
pub(crate) fn criteria(c: &FilterCriteria, value: &str, noun: &str) -> Result<(), String> {
    if let Some(p) = c.excludes.iter().flatten().find(|p| glob_match(p, value)) {
        return Err(format!("{noun} {value} is excluded by {p:?}"));
    }
    match &c.includes {
        Some(list) if !list.iter().any(|p| glob_match(p, value)) => Err(format!(
            "{noun} {value} matches none of the includes {list:?}"
        )),
        _ => Ok(()),
    }
}

/// Whether one of `files` is included and not excluded by `c`; `Err` says why not.
pub(crate) fn file_paths(c: &FilterCriteria, files: &[String]) -> Result<(), String> {
    if files.is_empty() {
        return Err("the filter has filePaths, and the push lists no changed files".into());
    }
    let selected = files.iter().any(|f| {
        c.includes
            .as_ref()
            .is_none_or(|inc| inc.iter().any(|p| glob_match(p, f)))
            && !c.excludes.iter().flatten().any(|p| glob_match(p, f))
    });
    if selected {
        Ok(())
    } else {
        Err(format!(
            "none of the {} changed file(s) is selected by filePaths (includes {:?}, excludes {:?})",
            files.len(),
            c.includes.as_deref().unwrap_or_default(),
            c.excludes.as_deref().unwrap_or_default()
        ))
    }
}

/// The source revisions an execution a push starts runs with: the pushed commit, for the git source the
/// triggers name (or, when there are none, every git source that detects changes). `LocalSource` reads a repository on this
/// machine, which a push to a remote does not change, so it keeps reading its branch's newest commit.
pub fn pinned_revisions(pipeline: &Pipeline, push: &Push) -> Vec<RevisionOverride> {
    let named: Vec<&str> = pipeline
        .triggers
        .iter()
        .flatten()
        .map(|t| t.git_configuration.source_action_name.as_str())
        .collect();
    pipeline
        .actions()
        .filter(|(_, _, _, a)| {
            let id = &a.action_type_id;
            id.category == "Source"
                && id.provider != "LocalSource"
                && providers::find(id).is_some_and(|p| p.is_git_source())
                && if named.is_empty() {
                    detects_changes(a)
                } else {
                    named.contains(&a.name.as_str())
                }
        })
        .map(|(_, _, _, a)| RevisionOverride {
            action_name: a.name.clone(),
            revision_type: "COMMIT_ID".into(),
            revision_value: push.commit.clone(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn push(git_ref: &str, files: &[&str]) -> Push {
        Push::from_github(&json!({
            "ref": git_ref,
            "after": "0123456789abcdef0123456789abcdef01234567",
            "repository": {"default_branch": "main"},
            "pusher": {"name": "octocat"},
            "head_commit": {"id": "0123", "message": "change", "modified": files},
            "commits": [{"id": "0123", "message": "change", "modified": files}],
        }))
        .expect("a push")
    }

    fn pipeline(extra: Value) -> Pipeline {
        let mut p = json!({
            "name": "p",
            "pipelineType": "V2",
            "stages": [
                {"name": "Source", "actions": [{
                    "name": "Code",
                    "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "CodeStarSourceConnection", "version": "1"},
                    "configuration": {"BranchName": "main", "ConnectionArn": "arn:aws:codestar-connections:us-east-1:111122223333:connection/x", "FullRepositoryId": "o/r"},
                    "outputArtifacts": [{"name": "Src"}]
                }]},
                {"name": "Build", "actions": [{
                    "name": "Make",
                    "actionTypeId": {"category": "Build", "owner": "AWS", "provider": "CodeBuild", "version": "1"},
                    "configuration": {"ProjectName": "x"},
                    "inputArtifacts": [{"name": "Src"}]
                }]}
            ]
        });
        if let Some(o) = extra.as_object() {
            for (k, v) in o {
                p[k] = v.clone();
            }
        }
        serde_json::from_value(p).expect("a pipeline")
    }

    #[test]
    fn a_push_pins_its_commit_on_the_git_source_but_not_on_local_sources() {
        let pinned = pinned_revisions(&pipeline(json!({})), &push("refs/heads/main", &["a"]));
        assert_eq!(pinned.len(), 1);
        assert_eq!(pinned[0].action_name, "Code");
        assert_eq!(pinned[0].revision_type, "COMMIT_ID");
        assert_eq!(
            pinned[0].revision_value,
            "0123456789abcdef0123456789abcdef01234567"
        );
        let mut local = pipeline(json!({}));
        local.stages[0].actions[0].action_type_id.owner = "ThirdParty".into();
        local.stages[0].actions[0].action_type_id.provider = "LocalSource".into();
        assert!(pinned_revisions(&local, &push("refs/heads/main", &["a"])).is_empty());
    }

    fn with_push_filters(filters: Value) -> Pipeline {
        pipeline(json!({"triggers": [{
            "providerType": "CodeStarSourceConnection",
            "gitConfiguration": {"sourceActionName": "Code", "push": filters}
        }]}))
    }

    fn starts(p: &Pipeline, push: &Push) -> bool {
        matches!(decide(p, push), Verdict::Start { .. })
    }

    fn skip_reason(p: &Pipeline, push: &Push) -> String {
        match decide(p, push) {
            Verdict::Skip(r) => r,
            other => panic!("expected a skip, got {other:?}"),
        }
    }

    #[test]
    fn without_triggers_pushes_to_the_source_branch_start_it() {
        let p = pipeline(json!({}));
        assert_eq!(
            decide(&p, &push("refs/heads/main", &["a.txt"])),
            Verdict::Start {
                trigger_type: TRIGGER_TYPE_V1,
                matched: "source action Code (branch main)".into()
            }
        );
        let r = skip_reason(&p, &push("refs/heads/dev", &["a.txt"]));
        assert_eq!(
            r,
            "the push is to branch dev, but the source action Code follows main"
        );
        let r = skip_reason(&p, &push("refs/tags/v1", &[]));
        assert!(r.contains("tag v1"), "{r}");
    }

    #[test]
    fn without_a_branch_name_the_default_branch_is_followed() {
        let mut p = pipeline(json!({}));
        p.stages[0].actions[0]
            .configuration
            .as_mut()
            .expect("configuration")
            .remove("BranchName");
        assert!(starts(&p, &push("refs/heads/main", &[])));
        assert!(!starts(&p, &push("refs/heads/dev", &[])));
    }

    #[test]
    fn branch_excludes_win_over_includes() {
        let p = with_push_filters(json!([{
            "branches": {"includes": ["release/**", "main"], "excludes": ["release/old-*"]}
        }]));
        assert!(starts(&p, &push("refs/heads/main", &[])));
        assert!(starts(&p, &push("refs/heads/release/2024/q1", &[])));
        let r = skip_reason(&p, &push("refs/heads/release/old-1", &[]));
        assert!(
            r.contains(
                "triggers[0].push[0]: branch release/old-1 is excluded by \"release/old-*\""
            ),
            "{r}"
        );
        let r = skip_reason(&p, &push("refs/heads/dev", &[]));
        assert!(r.contains("matches none of the includes"), "{r}");
    }

    #[test]
    fn triggers_replace_the_source_branch() {
        // BranchName is main, but the trigger selects feature branches only.
        let p = with_push_filters(json!([{"branches": {"includes": ["feature/*"]}}]));
        assert!(starts(&p, &push("refs/heads/feature/x", &[])));
        assert!(!starts(&p, &push("refs/heads/main", &[])));
        assert_eq!(
            decide(&p, &push("refs/heads/feature/x", &[])),
            Verdict::Start {
                trigger_type: TRIGGER_TYPE_V2,
                matched: "triggers[0].push[0] (branch feature/x)".into()
            }
        );
    }

    #[test]
    fn excludes_alone_select_every_other_branch() {
        let p = with_push_filters(json!([{"branches": {"excludes": ["wip/**"]}}]));
        assert!(starts(&p, &push("refs/heads/anything", &[])));
        assert!(!starts(&p, &push("refs/heads/wip/a/b", &[])));
    }

    #[test]
    fn file_paths_need_one_changed_file_included_and_not_excluded() {
        let p = with_push_filters(json!([{
            "branches": {"includes": ["main"]},
            "filePaths": {"includes": ["projectA/**", "common/**/*.js"], "excludes": ["**/README.md"]}
        }]));
        assert!(starts(&p, &push("refs/heads/main", &["projectA/src/x.rs"])));
        assert!(starts(&p, &push("refs/heads/main", &["common/util.js"])));
        assert!(starts(
            &p,
            &push(
                "refs/heads/main",
                &["projectA/README.md", "projectA/lib.rs"]
            )
        ));
        let r = skip_reason(&p, &push("refs/heads/main", &["projectA/README.md"]));
        assert!(r.contains("none of the 1 changed file(s)"), "{r}");
        assert!(!starts(&p, &push("refs/heads/main", &["projectB/x.rs"])));
        assert!(!starts(&p, &push("refs/heads/main", &[])));
        // The branch still has to match.
        assert!(!starts(&p, &push("refs/heads/dev", &["projectA/x.rs"])));

        let only_excludes = with_push_filters(json!([{
            "branches": {"includes": ["main"]},
            "filePaths": {"excludes": ["docs/**"]}
        }]));
        assert!(starts(
            &only_excludes,
            &push("refs/heads/main", &["src/a.rs", "docs/x.md"])
        ));
        assert!(!starts(
            &only_excludes,
            &push("refs/heads/main", &["docs/x.md"])
        ));
    }

    #[test]
    fn tags_are_matched_by_tag_filters_only() {
        let p = with_push_filters(json!([
            {"tags": {"includes": ["v*"], "excludes": ["v0*"]}},
            {"branches": {"includes": ["main"]}}
        ]));
        assert!(starts(&p, &push("refs/tags/v1.2.0", &[])));
        let r = skip_reason(&p, &push("refs/tags/v0.9", &[]));
        assert!(
            r.contains("triggers[0].push[0]: tag v0.9 is excluded"),
            "{r}"
        );
        assert!(
            r.contains("triggers[0].push[1]: the filter has no tags"),
            "{r}"
        );
        // A tag called main is not the branch main.
        assert!(!starts(&p, &push("refs/tags/main", &[])));
        assert!(starts(&p, &push("refs/heads/main", &[])));
        // A branch called v1 is not a tag.
        assert!(!starts(&p, &push("refs/heads/v1", &[])));
    }

    #[test]
    fn a_filter_with_tags_and_branches_judges_each_kind_by_its_own_list() {
        let p = with_push_filters(json!([{
            "tags": {"includes": ["release-*"]},
            "branches": {"includes": ["main"]},
            "filePaths": {"includes": ["src/**"]}
        }]));
        // File paths apply to branch pushes; a tag push has no file list to judge.
        assert!(starts(&p, &push("refs/tags/release-1", &[])));
        assert!(starts(&p, &push("refs/heads/main", &["src/a"])));
        assert!(!starts(&p, &push("refs/heads/main", &["doc/a"])));
    }

    #[test]
    fn pull_request_only_triggers_and_deletions_do_not_start() {
        let p = pipeline(json!({"triggers": [{
            "providerType": "CodeStarSourceConnection",
            "gitConfiguration": {"sourceActionName": "Code", "pullRequest": [{"branches": {"includes": ["main"]}}]}
        }]}));
        assert!(skip_reason(&p, &push("refs/heads/main", &[])).contains("pull requests only"));
        let mut deleted = push("refs/heads/main", &[]);
        deleted.deleted = true;
        assert_eq!(
            skip_reason(&pipeline(json!({})), &deleted),
            "the push deletes the branch main"
        );
    }

    #[test]
    fn detect_changes_false_keeps_pushes_from_starting_a_pipeline_without_triggers() {
        let mut p = pipeline(json!({}));
        let config = p.stages[0].actions[0]
            .configuration
            .as_mut()
            .expect("configuration");
        config.insert("DetectChanges".into(), "false".into());
        assert_eq!(
            skip_reason(&p, &push("refs/heads/main", &["a"])),
            "the pipeline has no triggers and its source action Code has DetectChanges false, so pushes do not start it"
        );
        assert!(pinned_revisions(&p, &push("refs/heads/main", &["a"])).is_empty());
        // "true" (the default) is followed as before.
        let config = p.stages[0].actions[0]
            .configuration
            .as_mut()
            .expect("configuration");
        config.insert("DetectChanges".into(), "true".into());
        assert!(starts(&p, &push("refs/heads/main", &["a"])));
        // With triggers, the triggers decide.
        let mut t = with_push_filters(json!([{"branches": {"includes": ["main"]}}]));
        let config = t.stages[0].actions[0]
            .configuration
            .as_mut()
            .expect("configuration");
        config.insert("DetectChanges".into(), "false".into());
        assert!(starts(&t, &push("refs/heads/main", &["a"])));
    }

    #[test]
    fn a_pipeline_without_git_sources_is_not_started_by_pushes() {
        let p: Pipeline = serde_json::from_value(json!({
            "name": "s3",
            "stages": [
                {"name": "Source", "actions": [{
                    "name": "Bucket",
                    "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "S3", "version": "1"},
                    "configuration": {"S3Bucket": "b", "S3ObjectKey": "k.zip"},
                    "outputArtifacts": [{"name": "Src"}]
                }]}
            ]
        }))
        .expect("a pipeline");
        assert!(skip_reason(&p, &push("refs/heads/main", &[])).contains("no git source"));
    }

    #[test]
    fn a_push_to_another_repository_does_not_start_the_pipeline() {
        let p = pipeline(json!({}));
        let mut other = push("refs/heads/main", &[]);
        other.repository = Some("o/fork".into());
        assert!(
            skip_reason(&p, &other)
                .contains("about repository o/fork, and the pipeline's git sources read o/r"),
            "{}",
            skip_reason(&p, &other)
        );
        let mut same = push("refs/heads/main", &[]);
        same.repository = Some("O/R".into());
        assert!(matches!(decide(&p, &same), Verdict::Start { .. }));
    }

    #[test]
    fn github_signatures_are_checked_against_the_body() {
        let secret = b"It's a Secret to Everybody";
        let body = b"Hello, World!";
        // GitHub's documented example of X-Hub-Signature-256.
        let good = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        assert_eq!(github_signature(secret, body), good);
        assert_eq!(verify_github_signature(secret, body, Some(good)), Ok(()));
        assert_eq!(
            verify_github_signature(secret, b"Hello, World?", Some(good)),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_github_signature(b"other", body, Some(good)),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_github_signature(secret, body, None),
            Err(SignatureError::Missing)
        );
        for bad in ["sha1=abc", "sha256=xyz", "sha256=abcd", ""] {
            assert_eq!(
                verify_github_signature(secret, body, Some(bad)),
                Err(SignatureError::Malformed),
                "{bad}"
            );
        }
    }
}
