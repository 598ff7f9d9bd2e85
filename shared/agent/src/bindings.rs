//! Working copies bound to git source actions (`sluice run --source ACTION=PATH`, or found automatically), kept
//! in one JSON file of the state folder so every process driving the pipeline's executions (`sluice run`, the
//! background `sluice drive`, `sluice resume` after a crash) reads the same ones:
//! `{"<pipeline>": {"<action>": "<absolute path>"}}`. `sluice run` replaces a pipeline's entry each time it
//! starts it, so a binding lasts until the pipeline is next run without it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

type Bindings = BTreeMap<String, BTreeMap<String, PathBuf>>;

fn read(file: &Path) -> Bindings {
    std::fs::read(file)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default()
}

/// Replaces `pipeline`'s bindings in `file` (none: removes them). Written whole to a temporary file and renamed,
/// so a reader sees the old or the new file, never half of one.
pub fn save_bindings(
    file: &Path,
    pipeline: &str,
    actions: &BTreeMap<String, PathBuf>,
) -> std::io::Result<()> {
    let mut all = read(file);
    if actions.is_empty() {
        if all.remove(pipeline).is_none() {
            return Ok(());
        }
    } else {
        all.insert(pipeline.to_owned(), actions.clone());
    }
    let tmp = file.with_extension("json.tmp");
    let text = serde_json::to_vec_pretty(&all).map_err(std::io::Error::other)?;
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, file)
}

/// The working copy bound to `pipeline`'s `action`, if any.
pub(crate) fn binding_for(file: &Path, pipeline: &str, action: &str) -> Option<PathBuf> {
    read(file).remove(pipeline)?.remove(action)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bindings_are_replaced_per_pipeline() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("bindings.json");
        let one = BTreeMap::from([("Code".to_string(), PathBuf::from("/w/kite"))]);
        save_bindings(&file, "kite", &one).expect("save");
        save_bindings(&file, "other", &one).expect("save");
        assert_eq!(
            binding_for(&file, "kite", "Code"),
            Some(PathBuf::from("/w/kite"))
        );
        save_bindings(&file, "kite", &BTreeMap::new()).expect("clear");
        assert_eq!(binding_for(&file, "kite", "Code"), None);
        assert_eq!(
            binding_for(&file, "other", "Code"),
            Some(PathBuf::from("/w/kite"))
        );
    }
}
