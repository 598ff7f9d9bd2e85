//! Which working copies `sluice run` reads instead of fetching a git source action's repository: those
//! `--source ACTION=PATH` names, and (unless `--no-bind`) the working copy the command runs in when one of its
//! remotes is the action's repository. Told on stderr, with any changes not committed (which a run never
//! reads), and listed in the state folder for every process that drives the run.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use sluice_agent::git::{names_repository, process_env, provider_of, GitRemote};
use sluice_definition::model::Pipeline;

use crate::usage::UsageError;

/// Finds the bindings for `pipeline`, says what they are, and records them (replacing the pipeline's last).
pub(crate) fn bind_sources(
    state_dir: &Path,
    pipeline: &Pipeline,
    explicit: &[String],
    automatic: bool,
) -> Result<(), UsageError> {
    let sources: Vec<(String, String, GitRemote)> = pipeline
        .actions()
        .filter_map(|(_, _, stage, action)| {
            let provider = provider_of(&action.action_type_id)?;
            let config = action.configuration.clone().unwrap_or_default();
            let remote = GitRemote::for_action(provider, &config, &process_env).ok()?;
            Some((stage.name.clone(), action.name.clone(), remote))
        })
        .collect();
    let mut bound: BTreeMap<String, PathBuf> = BTreeMap::new();
    let mut found_here: Vec<String> = Vec::new();
    for spec in explicit {
        let (name, path) = spec.split_once('=').ok_or_else(|| {
            UsageError(format!(
                "--source takes ACTION=PATH (a git source action and a working copy), not {spec:?}"
            ))
        })?;
        let found = sources
            .iter()
            .find(|(stage, action, _)| name == action || name == format!("{stage}.{action}"));
        let Some((_, action, _)) = found else {
            let names: Vec<String> = sources.iter().map(|(s, a, _)| format!("{s}.{a}")).collect();
            return Err(UsageError(format!(
                "--source {spec}: the pipeline has no git source action named {name} (its git source actions: {})",
                if names.is_empty() { "none".to_string() } else { names.join(", ") }
            )));
        };
        let path = Path::new(path)
            .canonicalize()
            .map_err(|e| UsageError(format!("--source {spec}: cannot open {path}: {e}")))?;
        if sluice_agent::working_copy_head(&path).is_none() {
            return Err(UsageError(format!(
                "--source {spec}: {} is not a git working copy with a commit checked out",
                path.display()
            )));
        }
        bound.insert(action.clone(), path);
    }
    if automatic {
        if let Some((root, urls)) = std::env::current_dir()
            .ok()
            .and_then(|d| sluice_agent::working_copy_remotes(&d))
        {
            for (_, action, remote) in &sources {
                if !bound.contains_key(action) && urls.iter().any(|u| names_repository(u, remote)) {
                    bound.insert(action.clone(), root.clone());
                    found_here.push(action.clone());
                }
            }
        }
    }
    for (stage, action, remote) in &sources {
        let Some(path) = bound.get(action) else {
            continue;
        };
        let (commit, on) = sluice_agent::working_copy_head(path).unwrap_or_default();
        eprintln!(
            "sluice: {stage}.{action} reads the working copy {} (commit {} on {on}) instead of fetching {}{}",
            path.display(),
            commit.get(..12).unwrap_or(&commit),
            remote.url,
            if found_here.contains(action) {
                " (its remote is the action's repository; --no-bind fetches it)"
            } else {
                ""
            }
        );
        if let Some(changes) = sluice_agent::uncommitted_in(path) {
            eprintln!("sluice: warning: {changes}");
        }
    }
    sluice_agent::save_bindings(
        &state_dir.join(sluice_host::BINDINGS_FILE),
        &pipeline.name,
        &bound,
    )
    .map_err(|e| {
        UsageError(format!(
            "cannot record the working copies bound to git sources: {e}"
        ))
    })
}
