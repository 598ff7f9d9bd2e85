//! Parsed pipeline versions kept by a runtime ([`DefinitionCache`]), so action starts and stage gates do not
//! parse their execution's version again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::records::PipelineRecord;

/// How many pipeline versions a runtime keeps parsed; past that the cache starts over.
const CACHED_VERSIONS: usize = 64;

/// Pipeline versions already read, by pipeline name and serial. A stored version never changes (a new
/// version, or a pipeline created again under the same name, gets a new serial), so entries never go stale;
/// every action start and stage gate reads its execution's version from here instead of parsing it again.
#[derive(Default)]
pub struct DefinitionCache(Mutex<HashMap<(String, u64), Arc<PipelineRecord>>>);

impl std::fmt::Debug for DefinitionCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.0.lock().map_or(0, |m| m.len());
        f.debug_struct("DefinitionCache")
            .field("versions", &n)
            .finish()
    }
}

impl DefinitionCache {
    pub(crate) fn get(&self, name: &str, serial: u64) -> Option<Arc<PipelineRecord>> {
        self.0.lock().ok()?.get(&(name.to_owned(), serial)).cloned()
    }

    pub(crate) fn insert(&self, name: &str, serial: u64, record: Arc<PipelineRecord>) {
        if let Ok(mut map) = self.0.lock() {
            if map.len() >= CACHED_VERSIONS {
                map.clear();
            }
            map.insert((name.to_owned(), serial), record);
        }
    }
}
