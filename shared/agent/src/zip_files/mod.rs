//! Artifact zips: building them from folders (or entry by entry) and extracting them safely.
//!
//! Both directions stream: a file's bytes go through a fixed buffer, never whole in memory (only the zip's
//! central directory is held, bounded by [`Limits::max_entries`]).
//!
//! Extraction treats every archive as hostile. It refuses, naming the entry and the reason:
//! - paths that are absolute, carry a drive letter, contain a `..` component (even a harmless `a/../b`: an
//!   artifact has no reason to use one) or NUL, or are not UTF-8;
//! - duplicate entries;
//! - symlink entries (unix mode `S_IFLNK`) whose target is absolute, or that resolve outside the folder once
//!   every link of the archive is in place (links are created last and checked together, so a chain of links
//!   cannot smuggle a path out);
//! - more entries than [`Limits::max_entries`], and more decompressed bytes than [`Limits::max_entry_bytes`]
//!   for one entry or [`Limits::max_total_bytes`] in all. Bytes are counted while they are decompressed: the
//!   sizes an archive declares are never trusted (a zip bomb lies about them).
//!
//! The archive is extracted into a temporary folder beside the target and renamed into place once whole, so a
//! refused archive leaves nothing behind.
//!
//! Building keeps relative paths with `/` separators and unix permissions (scripts stay executable), stores
//! symlinks that stay inside the folder as links, and skips (with a note) links that point outside, absolute
//! links, and names that are not UTF-8. Only files and links are stored; empty folders are not.
//!
//! [`build`] writes zips, [`extract`] reads them; the limits, errors, summaries and path rules both share
//! are here.

pub mod build;
mod compress;
pub mod extract;
mod format;

use sha2::{Digest, Sha256};
use std::collections::VecDeque;
use std::fs::{self};
use std::io::{self};
use std::path::{Path, PathBuf};

/// Bounds on what one archive may expand to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The most entries (files, folders and links) an archive may hold.
    pub max_entries: usize,
    /// The most decompressed bytes of all entries together.
    pub max_total_bytes: u64,
    /// The most decompressed bytes of one entry.
    pub max_entry_bytes: u64,
}

impl Default for Limits {
    /// 100,000 entries, 5 GiB in all, 5 GiB for one entry.
    fn default() -> Self {
        Limits {
            max_entries: 100_000,
            max_total_bytes: 5 << 30,
            max_entry_bytes: 5 << 30,
        }
    }
}

/// Why an archive could not be built or extracted.
#[derive(Debug, thiserror::Error)]
pub enum ZipError {
    /// An entry was refused; nothing of the archive was left in place.
    #[error("zip entry `{entry}` refused: {reason}")]
    Refused {
        /// The entry's name, as the archive spells it.
        entry: String,
        /// Why.
        reason: String,
    },
    /// The archive as a whole was refused (too many entries, too many bytes, not a zip).
    #[error("zip archive {archive} refused: {reason}")]
    Archive {
        /// The archive's file.
        archive: PathBuf,
        /// Why.
        reason: String,
    },
    /// A glob pattern does not parse.
    #[error("invalid glob pattern `{pattern}`: {reason}")]
    Pattern {
        /// The pattern.
        pattern: String,
        /// Why.
        reason: String,
    },
    /// The extraction target already exists.
    #[error("cannot extract into {0}: it already exists")]
    TargetExists(PathBuf),
    /// Reading or writing a file failed.
    #[error("{context} {path}: {source}")]
    Io {
        /// What was being done.
        context: &'static str,
        /// The file.
        path: PathBuf,
        /// The failure.
        #[source]
        source: io::Error,
    },
    /// The zip library failed (a corrupt archive, a bad checksum).
    #[error("zip archive {archive}: {source}")]
    Zip {
        /// The archive's file.
        archive: PathBuf,
        /// The failure.
        #[source]
        source: zip::result::ZipError,
    },
}

pub(crate) fn io_err<'a>(
    context: &'static str,
    path: &'a Path,
) -> impl FnOnce(io::Error) -> ZipError + 'a {
    move |source| ZipError::Io {
        context,
        path: path.to_path_buf(),
        source,
    }
}

pub(crate) fn refused(entry: &str, reason: impl Into<String>) -> ZipError {
    ZipError::Refused {
        entry: entry.to_string(),
        reason: reason.into(),
    }
}

/// One stored entry of an archive that was built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The path inside the archive (`/` separators).
    pub path: String,
    /// Bytes of content (a link's target for links).
    pub size: u64,
    /// SHA-256 of the content, hex (of the target, for links).
    pub sha256: String,
    /// Whether the entry is a symlink.
    pub symlink: bool,
}

/// What building an archive did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ZipSummary {
    /// The entries stored, in order.
    pub entries: Vec<Entry>,
    /// Things left out, one sentence each, for the job's log.
    pub skipped: Vec<String>,
}

impl ZipSummary {
    /// SHA-256 over the sorted (path, content digest) pairs: the same files give the same id, whatever their
    /// order or timestamps.
    pub fn content_id(&self) -> String {
        let mut pairs: Vec<(&str, &str)> = self
            .entries
            .iter()
            .map(|e| (e.path.as_str(), e.sha256.as_str()))
            .collect();
        pairs.sort_unstable();
        let mut hasher = Sha256::new();
        for (path, digest) in pairs {
            hasher.update(path.as_bytes());
            hasher.update([0]);
            hasher.update(digest.as_bytes());
            hasher.update([b'\n']);
        }
        hex::encode(hasher.finalize())
    }
}

/// What extracting an archive did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExtractSummary {
    /// Files written.
    pub files: usize,
    /// Symlinks created.
    pub symlinks: usize,
    /// Decompressed bytes written.
    pub bytes: u64,
}

/// Checks an entry's name and returns its components.
pub(crate) fn entry_components(name: &str) -> Result<Vec<String>, ZipError> {
    if name.contains('\0') {
        return Err(refused(name, "its path contains a NUL byte"));
    }
    let unified = name.replace('\\', "/");
    if unified.starts_with('/') {
        return Err(refused(name, "its path is absolute"));
    }
    let bytes = unified.as_bytes();
    if bytes.len() >= 2 && bytes[1] == b':' && bytes[0].is_ascii_alphabetic() {
        return Err(refused(name, "its path starts with a drive letter"));
    }
    let mut parts = Vec::new();
    for part in unified.split('/') {
        match part {
            "" | "." => {}
            ".." => return Err(refused(name, "its path contains `..`")),
            other => parts.push(other.to_string()),
        }
    }
    if parts.is_empty() {
        return Err(refused(name, "its path is empty"));
    }
    Ok(parts)
}

/// How many links a path may pass through before resolution gives up (Linux's own limit).
pub(crate) const MAX_LINK_HOPS: usize = 40;

/// A symlink entry's target is a path: anything longer is not one.
pub(crate) const MAX_LINK_TARGET: u64 = 4096;

pub(crate) fn parent_components(rel: &str) -> Vec<String> {
    let mut parts: Vec<String> = rel.split('/').map(str::to_string).collect();
    parts.pop();
    parts
}

/// Follows `target`, seen from the folder `parent` (components relative to `root`), through the links that
/// exist under `root`, and fails when the path would leave `root`. Missing components are taken as they are
/// written (a dangling link is allowed while it points inside).
pub(crate) fn resolve_inside(root: &Path, parent: &[String], target: &str) -> Result<(), String> {
    let mut position: Vec<String> = parent.to_vec();
    let mut pending: VecDeque<String> = target.split('/').map(str::to_string).collect();
    let mut hops = 0;
    while let Some(part) = pending.pop_front() {
        match part.as_str() {
            "" | "." => {}
            ".." => {
                if position.pop().is_none() {
                    return Err("it points outside the folder".to_string());
                }
            }
            name => {
                position.push(name.to_string());
                let here = position.iter().fold(root.to_path_buf(), |p, c| p.join(c));
                let is_link = fs::symlink_metadata(&here).is_ok_and(|m| m.file_type().is_symlink());
                if is_link {
                    hops += 1;
                    if hops > MAX_LINK_HOPS {
                        return Err("too many levels of symlinks".to_string());
                    }
                    let next = fs::read_link(&here)
                        .map_err(|e| format!("cannot read a link on its way: {e}"))?;
                    if next.is_absolute() {
                        return Err(format!(
                            "it passes through a link to the absolute path {}",
                            next.display()
                        ));
                    }
                    let next = next
                        .to_str()
                        .ok_or_else(|| {
                            "it passes through a link whose target is not UTF-8".to_string()
                        })?
                        .to_string();
                    position.pop();
                    for (i, c) in next.split('/').enumerate() {
                        pending.insert(i, c.to_string());
                    }
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(name: &str, expected: Result<Vec<&str>, &str>) {
        let got = entry_components(name).map_err(|e| e.to_string());
        match (got, expected) {
            (Ok(parts), Ok(want)) => assert_eq!(parts, want, "{name}"),
            (Err(msg), Err(want)) => assert!(msg.contains(want), "{name}: {msg}"),
            (got, want) => panic!("{name}: got {got:?}, want {want:?}"),
        }
    }

    #[test]
    fn entry_names_are_checked() {
        check("a/b.txt", Ok(vec!["a", "b.txt"]));
        check("./a//b", Ok(vec!["a", "b"]));
        check("../escape", Err("contains `..`"));
        check("a/../../b", Err("contains `..`"));
        check("/abs/path", Err("absolute"));
        check("..\\x", Err("contains `..`"));
        check("C:/x", Err("drive letter"));
        check("./", Err("empty"));
    }

    #[test]
    fn content_id_ignores_order() {
        let e = |p: &str, d: &str| Entry {
            path: p.into(),
            size: 0,
            sha256: d.into(),
            symlink: false,
        };
        let a = ZipSummary {
            entries: vec![e("a", "1"), e("b", "2")],
            skipped: vec![],
        };
        let b = ZipSummary {
            entries: vec![e("b", "2"), e("a", "1")],
            skipped: vec![],
        };
        assert_eq!(a.content_id(), b.content_id());
    }
}
