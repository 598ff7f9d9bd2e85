//! Pull-request triggers: whether a pull request event starts a pipeline, and the commit it runs. Pure, like
//! [`crate::triggers`] for pushes; the hosts' payloads are read into a [`PullRequest`] by [`crate::git_events`]
//! and its siblings.
//!
//! The decision follows CodePipeline's `triggers[].gitConfiguration.pullRequest[]` filters:
//! - Only a pipeline with triggers is started by pull requests, and only through a pull-request filter: a
//!   pipeline without triggers follows its source's branch on pushes alone.
//! - `events` lists OPEN, UPDATED and CLOSED; a filter without `events` takes all three.
//! - `branches` is matched against the pull request's destination (target) branch, excludes winning over
//!   includes, as push filters match the pushed branch.
//! - `filePaths` needs one changed file included and not excluded. The hosts' pull request events (GitHub's
//!   `pull_request`, GitLab's merge request, Bitbucket's `pullrequest:*`) list no changed files, so when a
//!   filter whose events and branches match has `filePaths`, [`files_needed`] names the trigger's source action
//!   and the transport asks its [`ChangedFiles`] (`sluice serve`: git, against the repository) before deciding.
//!   Without one, such a filter cannot match; the reason says so.
//!
//! A started execution runs the pull request's source (head) commit on the source action of the trigger whose
//! filter matched, recorded as [`TRIGGER_TYPE_V2`].

use async_trait::async_trait;
use sluice_definition::model::{Action, GitPullRequestFilter, Pipeline};
use sluice_definition::providers;

use crate::records::RevisionOverride;
use crate::triggers::{criteria, file_paths, Verdict, TRIGGER_TYPE_V2};

/// What happened to a pull request, in CodePipeline's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PullRequestEvent {
    /// Opened, or reopened.
    Open,
    /// New commits, or an edit.
    Updated,
    /// Closed, merged or not.
    Closed,
}

impl PullRequestEvent {
    /// `OPEN`, `UPDATED` or `CLOSED`, as a filter's `events` names it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "OPEN",
            Self::Updated => "UPDATED",
            Self::Closed => "CLOSED",
        }
    }
}

impl std::fmt::Display for PullRequestEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The parts of a pull request event that decide a start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullRequest {
    /// What happened.
    pub event: PullRequestEvent,
    /// The pull request's number in its repository (GitHub's `number`, GitLab's `iid`, Bitbucket's `id`).
    pub number: u64,
    /// Its title.
    pub title: Option<String>,
    /// The branch it asks to merge (head).
    pub source_branch: String,
    /// The branch it merges into (base, target).
    pub destination_branch: String,
    /// The source branch's newest commit: what an execution it starts runs.
    pub commit: String,
    /// The files it changes, when known: no host's event lists them; a [`ChangedFiles`] fills them in.
    pub changed_files: Option<Vec<String>>,
    /// The repository it merges into, as its host names it, when the payload says.
    pub repository: Option<String>,
}

impl PullRequest {
    /// `pull request #7 (OPEN, feature/x into main)`: which pull request, for people and trigger details.
    pub fn describe(&self) -> String {
        format!(
            "pull request #{} ({}, {} into {})",
            self.number, self.event, self.source_branch, self.destination_branch
        )
    }
}

/// Who lists the files a pull request changes: a transport that can reach the repository.
#[async_trait]
pub trait ChangedFiles: Send + Sync + std::fmt::Debug {
    /// The paths `pr` changes (added, modified, deleted; a rename as both paths) between the destination
    /// branch and its commit, in the repository of `source`, the trigger's source action, hosted by `host`
    /// (`GitHub`, `GitLab` or `Bitbucket`: who sent the event). `Err` says why they cannot be listed.
    async fn changed_files(
        &self,
        host: &str,
        source: &Action,
        pr: &PullRequest,
    ) -> Result<Vec<String>, String>;

    /// The paths a push changes between `push.before` and `push.commit`, for events that list none
    /// (Bitbucket's), in the repository of `source`, hosted by `host`.
    async fn push_files(
        &self,
        host: &str,
        source: &Action,
        push: &crate::triggers::Push,
    ) -> Result<Vec<String>, String>;
}

/// The source action whose repository must list `pr`'s changed files before `pipeline` can be judged: some
/// pull-request filter matches the event and destination branch and has `filePaths`, and the event listed no
/// files. `None` when the decision needs no files.
pub fn files_needed<'p>(pipeline: &'p Pipeline, pr: &PullRequest) -> Option<&'p Action> {
    if pr.changed_files.is_some()
        || crate::triggers::same_repository(pipeline, pr.repository.as_deref()).is_err()
    {
        return None;
    }
    let trigger = pipeline.triggers.iter().flatten().find(|t| {
        t.git_configuration
            .pull_request
            .iter()
            .flatten()
            .any(|f| f.file_paths.is_some() && events_and_branches(f, pr).is_ok())
    })?;
    let name = trigger.git_configuration.source_action_name.as_str();
    pipeline
        .actions()
        .map(|(_, _, _, a)| a)
        .find(|a| a.name == name)
}

/// The first trigger and pull-request filter that match: `(trigger index, what matched)`; `Err` says why none
/// does.
fn matching(pipeline: &Pipeline, pr: &PullRequest) -> Result<(usize, String), String> {
    let triggers = pipeline.triggers.as_deref().unwrap_or_default();
    if triggers.is_empty() {
        return Err(
            "the pipeline has no triggers; pull requests start a pipeline only through a triggers pullRequest filter"
                .into(),
        );
    }
    let mut misses = Vec::new();
    for (ti, trigger) in triggers.iter().enumerate() {
        let filters = trigger.git_configuration.pull_request.iter().flatten();
        for (fi, filter) in filters.enumerate() {
            let at = format!("triggers[{ti}].pullRequest[{fi}]");
            match pull_request_filter(filter, pr) {
                Ok(()) => return Ok((ti, format!("{at} ({})", pr.describe()))),
                Err(why) => misses.push(format!("{at}: {why}")),
            }
        }
    }
    if misses.is_empty() {
        return Err("the pipeline's triggers have no pullRequest filters (pushes only)".into());
    }
    Err(format!(
        "no pullRequest filter matches {}: {}",
        pr.describe(),
        misses.join("; ")
    ))
}

/// Whether one pull-request filter matches; `Err` says why not.
fn pull_request_filter(filter: &GitPullRequestFilter, pr: &PullRequest) -> Result<(), String> {
    events_and_branches(filter, pr)?;
    match (&filter.file_paths, &pr.changed_files) {
        (None, _) => Ok(()),
        (Some(paths), Some(files)) if files.is_empty() => {
            Err(format!("the pull request changes no files, so filePaths ({paths:?}) cannot match"))
        }
        (Some(paths), Some(files)) => file_paths(paths, files),
        (Some(_), None) => Err(
            "the filter has filePaths, and the pull request event lists no changed files, so it cannot match"
                .into(),
        ),
    }
}

/// Whether a filter's `events` and `branches` take `pr`; `Err` says why not.
fn events_and_branches(filter: &GitPullRequestFilter, pr: &PullRequest) -> Result<(), String> {
    if let Some(events) = &filter.events {
        if !events.iter().any(|e| e == pr.event.as_str()) {
            return Err(format!("{} is not one of the events {events:?}", pr.event));
        }
    }
    if let Some(branches) = &filter.branches {
        criteria(branches, &pr.destination_branch, "destination branch")?;
    }
    Ok(())
}

/// Decides whether `pr` starts `pipeline`.
pub fn decide(pipeline: &Pipeline, pr: &PullRequest) -> Verdict {
    if let Err(why) = crate::triggers::same_repository(pipeline, pr.repository.as_deref()) {
        return Verdict::Skip(why);
    }
    match matching(pipeline, pr) {
        Ok((_, matched)) => Verdict::Start {
            trigger_type: TRIGGER_TYPE_V2,
            matched,
        },
        Err(reason) => Verdict::Skip(reason),
    }
}

/// The source revisions an execution `pr` starts runs with: its source commit, for the source action of the
/// trigger whose filter matched (none when none does, or when that action is a `LocalSource`, which reads a
/// repository on this machine).
pub fn pinned_revisions(pipeline: &Pipeline, pr: &PullRequest) -> Vec<RevisionOverride> {
    let Ok((ti, _)) = matching(pipeline, pr) else {
        return Vec::new();
    };
    let Some(trigger) = pipeline.triggers.iter().flatten().nth(ti) else {
        return Vec::new();
    };
    let name = trigger.git_configuration.source_action_name.as_str();
    pipeline
        .actions()
        .map(|(_, _, _, a)| a)
        .filter(|a| {
            let id = &a.action_type_id;
            a.name == name
                && id.category == "Source"
                && id.provider != "LocalSource"
                && providers::find(id).is_some_and(|p| p.is_git_source())
        })
        .map(|a| RevisionOverride {
            action_name: a.name.clone(),
            revision_type: "COMMIT_ID".into(),
            revision_value: pr.commit.clone(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    const HEAD: &str = "9f8e7d6c5b4a39281706f5e4d3c2b1a098765432";

    fn pr(event: PullRequestEvent, into: &str) -> PullRequest {
        PullRequest {
            event,
            number: 41,
            title: Some("Add login".into()),
            source_branch: "feature/login".into(),
            destination_branch: into.into(),
            commit: HEAD.into(),
            changed_files: None,
            repository: Some("o/app".into()),
        }
    }

    fn pipeline(triggers: Value) -> Pipeline {
        let mut p = json!({
            "name": "p",
            "pipelineType": "V2",
            "stages": [
                {"name": "Source", "actions": [
                    {
                        "name": "App",
                        "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "CodeStarSourceConnection", "version": "1"},
                        "configuration": {"BranchName": "main", "ConnectionArn": "arn:aws:codestar-connections:us-east-1:111122223333:connection/x", "FullRepositoryId": "o/app"},
                        "outputArtifacts": [{"name": "AppSrc"}]
                    },
                    {
                        "name": "Lib",
                        "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "CodeStarSourceConnection", "version": "1"},
                        "configuration": {"BranchName": "main", "ConnectionArn": "arn:aws:codestar-connections:us-east-1:111122223333:connection/x", "FullRepositoryId": "o/lib"},
                        "outputArtifacts": [{"name": "LibSrc"}]
                    }
                ]},
                {"name": "Build", "actions": [{
                    "name": "Make",
                    "actionTypeId": {"category": "Build", "owner": "AWS", "provider": "CodeBuild", "version": "1"},
                    "configuration": {"ProjectName": "x", "PrimarySource": "AppSrc"},
                    "inputArtifacts": [{"name": "AppSrc"}, {"name": "LibSrc"}]
                }]}
            ]
        });
        if !triggers.is_null() {
            p["triggers"] = triggers;
        }
        serde_json::from_value(p).expect("a pipeline")
    }

    fn with_pr_filters(action: &str, filters: Value) -> Pipeline {
        pipeline(json!([{
            "providerType": "CodeStarSourceConnection",
            "gitConfiguration": {"sourceActionName": action, "pullRequest": filters}
        }]))
    }

    fn skip_reason(p: &Pipeline, pr: &PullRequest) -> String {
        match decide(p, pr) {
            Verdict::Skip(r) => r,
            other => panic!("expected a skip, got {other:?}"),
        }
    }

    #[test]
    fn a_matching_filter_starts_the_pipeline_on_the_pull_requests_head_commit() {
        let p = with_pr_filters(
            "Lib",
            json!([{"branches": {"includes": ["main"]}, "events": ["OPEN"]}]),
        );
        let opened = pr(PullRequestEvent::Open, "main");
        assert_eq!(
            decide(&p, &opened),
            Verdict::Start {
                trigger_type: TRIGGER_TYPE_V2,
                matched:
                    "triggers[0].pullRequest[0] (pull request #41 (OPEN, feature/login into main))"
                        .into()
            }
        );
        // Only the trigger's source action is pinned, to the head commit.
        assert_eq!(
            pinned_revisions(&p, &opened),
            [RevisionOverride {
                action_name: "Lib".into(),
                revision_type: "COMMIT_ID".into(),
                revision_value: HEAD.into(),
            }]
        );
    }

    #[test]
    fn events_select_what_starts_and_absent_events_take_all_three() {
        let p = with_pr_filters(
            "App",
            json!([{"branches": {"includes": ["main"]}, "events": ["OPEN", "UPDATED"]}]),
        );
        assert!(matches!(
            decide(&p, &pr(PullRequestEvent::Updated, "main")),
            Verdict::Start { .. }
        ));
        let r = skip_reason(&p, &pr(PullRequestEvent::Closed, "main"));
        assert!(
            r.contains("triggers[0].pullRequest[0]: CLOSED is not one of the events [\"OPEN\", \"UPDATED\"]"),
            "{r}"
        );
        assert!(pinned_revisions(&p, &pr(PullRequestEvent::Closed, "main")).is_empty());

        let all = with_pr_filters("App", json!([{"branches": {"includes": ["main"]}}]));
        for event in [
            PullRequestEvent::Open,
            PullRequestEvent::Updated,
            PullRequestEvent::Closed,
        ] {
            assert!(
                matches!(decide(&all, &pr(event, "main")), Verdict::Start { .. }),
                "{event}"
            );
        }
    }

    #[test]
    fn branches_are_matched_against_the_destination_branch() {
        let p = with_pr_filters(
            "App",
            json!([{"branches": {"includes": ["main", "release/**"], "excludes": ["release/old-*"]}}]),
        );
        assert!(matches!(
            decide(&p, &pr(PullRequestEvent::Open, "release/2025/q1")),
            Verdict::Start { .. }
        ));
        // The source branch feature/login is not what the filter judges.
        let r = skip_reason(&p, &pr(PullRequestEvent::Open, "develop"));
        assert!(
            r.contains("destination branch develop matches none of the includes"),
            "{r}"
        );
        let r = skip_reason(&p, &pr(PullRequestEvent::Open, "release/old-2"));
        assert!(
            r.contains("destination branch release/old-2 is excluded"),
            "{r}"
        );
        let by_source = with_pr_filters("App", json!([{"branches": {"includes": ["feature/*"]}}]));
        assert!(matches!(
            decide(&by_source, &pr(PullRequestEvent::Open, "main")),
            Verdict::Skip(_)
        ));
    }

    #[test]
    fn file_paths_cannot_match_an_event_without_changed_files() {
        let p = with_pr_filters(
            "App",
            json!([{"branches": {"includes": ["main"]}, "filePaths": {"includes": ["src/**"]}}]),
        );
        let r = skip_reason(&p, &pr(PullRequestEvent::Open, "main"));
        assert!(
            r.contains("lists no changed files, so it cannot match"),
            "{r}"
        );
        // Were the files known, they would be judged like a push's.
        let mut listed = pr(PullRequestEvent::Open, "main");
        listed.changed_files = Some(vec!["src/login.rs".into()]);
        assert!(matches!(decide(&p, &listed), Verdict::Start { .. }));
        listed.changed_files = Some(vec!["docs/login.md".into()]);
        assert!(skip_reason(&p, &listed).contains("selected by filePaths"));
        listed.changed_files = Some(Vec::new());
        assert!(skip_reason(&p, &listed).contains("changes no files"));
    }

    #[test]
    fn files_are_needed_only_where_a_file_path_filter_could_match() {
        let p = with_pr_filters(
            "Lib",
            json!([
                {"branches": {"includes": ["main"]}, "events": ["OPEN"]},
                {"branches": {"includes": ["release"]}, "filePaths": {"includes": ["src/**"]}}
            ]),
        );
        // Into release: the second filter could match, on Lib's repository.
        let into_release = pr(PullRequestEvent::Updated, "release");
        assert_eq!(
            files_needed(&p, &into_release).map(|a| a.name.as_str()),
            Some("Lib")
        );
        // Into main, or listed already, or about another repository: nothing to list.
        assert!(files_needed(&p, &pr(PullRequestEvent::Open, "main")).is_none());
        let mut listed = into_release.clone();
        listed.changed_files = Some(vec!["src/a.rs".into()]);
        assert!(files_needed(&p, &listed).is_none());
        let mut elsewhere = into_release;
        elsewhere.repository = Some("someone/else".into());
        assert!(files_needed(&p, &elsewhere).is_none());
    }

    #[test]
    fn pipelines_without_pull_request_filters_are_not_started() {
        let none = pipeline(Value::Null);
        assert!(skip_reason(&none, &pr(PullRequestEvent::Open, "main"))
            .contains("the pipeline has no triggers"));
        let push_only = pipeline(json!([{
            "providerType": "CodeStarSourceConnection",
            "gitConfiguration": {"sourceActionName": "App", "push": [{"branches": {"includes": ["main"]}}]}
        }]));
        assert_eq!(
            skip_reason(&push_only, &pr(PullRequestEvent::Open, "main")),
            "the pipeline's triggers have no pullRequest filters (pushes only)"
        );
    }
}
