//! Building artifact zips: which files a selection takes (globs), entry by entry or from a folder, each
//! file streamed and hashed as it is written.

use super::*;
use globset::{Glob, GlobBuilder, GlobSet, GlobSetBuilder};
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io::{self, BufReader, BufWriter, Read};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

/// Which files of a folder go into an archive.
///
/// Include patterns follow CodeBuild's `files`: relative to the base folder, `*` stays within one folder, `**`
/// crosses folders (`**/*` is everything); a pattern that names a folder takes everything under it. Exclude
/// patterns use the same syntax, except that a pattern without a `/` matches a name at any depth (as in
/// `.gitignore`), and an excluded folder takes everything under it along.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    include: Option<GlobSet>,
    exclude: Option<GlobSet>,
    skip_names: BTreeSet<String>,
    discard_paths: bool,
}

pub(crate) fn glob(pattern: &str) -> Result<Glob, ZipError> {
    let trimmed = pattern.trim();
    let trimmed = trimmed.strip_prefix("./").unwrap_or(trimmed);
    let trimmed = trimmed.trim_end_matches('/');
    GlobBuilder::new(trimmed)
        .literal_separator(true)
        .build()
        .map_err(|e| ZipError::Pattern {
            pattern: pattern.to_string(),
            reason: e.kind().to_string(),
        })
}

impl Selection {
    /// Every file.
    pub fn all() -> Self {
        Selection::default()
    }

    /// The files matching any of `patterns`; no patterns means every file.
    pub fn matching<S: AsRef<str>>(patterns: &[S]) -> Result<Self, ZipError> {
        let patterns: Vec<&str> = patterns
            .iter()
            .map(AsRef::as_ref)
            .filter(|p| !p.trim().is_empty())
            .collect();
        if patterns.is_empty() {
            return Ok(Selection::all());
        }
        let mut builder = GlobSetBuilder::new();
        for pattern in patterns {
            builder.add(glob(pattern)?);
        }
        let set = builder.build().map_err(|e| ZipError::Pattern {
            pattern: "(set)".to_string(),
            reason: e.to_string(),
        })?;
        Ok(Selection {
            include: Some(set),
            ..Selection::default()
        })
    }

    /// Leaves out files and folders matching any of `patterns`.
    pub fn excluding<S: AsRef<str>>(mut self, patterns: &[S]) -> Result<Self, ZipError> {
        let mut builder = GlobSetBuilder::new();
        let mut any = false;
        for pattern in patterns.iter().map(AsRef::as_ref) {
            let pattern = pattern.trim();
            if pattern.is_empty() {
                continue;
            }
            any = true;
            builder.add(glob(pattern)?);
            if !pattern.trim_end_matches('/').contains('/') {
                builder.add(glob(&format!("**/{pattern}"))?);
            }
        }
        if any {
            self.exclude = Some(builder.build().map_err(|e| ZipError::Pattern {
                pattern: "(set)".to_string(),
                reason: e.to_string(),
            })?);
        }
        Ok(self)
    }

    /// Leaves out files and folders with one of these names, at any depth (`.git`).
    pub fn skipping_names<S: AsRef<str>>(mut self, names: &[S]) -> Self {
        self.skip_names
            .extend(names.iter().map(|n| n.as_ref().to_string()));
        self
    }

    /// Stores every file under its name alone, without its folders (CodeBuild's `discard-paths`).
    pub fn discarding_paths(mut self, discard: bool) -> Self {
        self.discard_paths = discard;
        self
    }

    pub(crate) fn excluded(&self, rel: &str, name: &str) -> bool {
        self.skip_names.contains(name) || self.exclude.as_ref().is_some_and(|set| set.is_match(rel))
    }

    fn included(&self, rel: &str) -> bool {
        self.include.as_ref().is_none_or(|set| set.is_match(rel))
    }
}

/// Writes an archive entry by entry, streaming each entry's content.
pub struct ZipBuilder {
    writer: ZipWriter<BufWriter<File>>,
    path: PathBuf,
    summary: ZipSummary,
    names: BTreeSet<String>,
}

impl std::fmt::Debug for ZipBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZipBuilder")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// Feeds what it reads to a SHA-256 and counts it.
pub(crate) struct Hashing<R> {
    inner: R,
    hasher: Sha256,
    bytes: u64,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
}

impl ZipBuilder {
    /// Creates (or truncates) the archive file.
    pub fn create(path: &Path) -> Result<Self, ZipError> {
        let file = File::create(path).map_err(io_err("cannot create", path))?;
        Ok(ZipBuilder {
            writer: ZipWriter::new(BufWriter::new(file)),
            path: path.to_path_buf(),
            summary: ZipSummary::default(),
            names: BTreeSet::new(),
        })
    }

    fn zip_err(&self) -> impl FnOnce(zip::result::ZipError) -> ZipError + '_ {
        move |source| ZipError::Zip {
            archive: self.path.clone(),
            source,
        }
    }

    fn claim(&mut self, name: &str) -> Result<(), ZipError> {
        if name.is_empty() || !self.names.insert(name.to_string()) {
            return Err(refused(
                name,
                "the archive already has an entry of that name",
            ));
        }
        Ok(())
    }

    /// Adds a file of `size` bytes (used to pick zip64 for large files) with unix `mode`, its content read
    /// from `content`.
    pub fn add_file(
        &mut self,
        name: &str,
        mode: u32,
        size: u64,
        content: &mut dyn Read,
    ) -> Result<(), ZipError> {
        self.claim(name)?;
        // Deflate's fastest level: artifacts are made on every run and mostly read back on this machine, where
        // the default level's extra CPU (several times level 1's) buys a few percent of size.
        let options = SimpleFileOptions::default()
            .compression_method(CompressionMethod::Deflated)
            .compression_level(Some(1))
            .unix_permissions(mode & 0o777)
            .large_file(size >= u64::from(u32::MAX));
        self.writer
            .start_file(name, options)
            .map_err(self.zip_err())?;
        let mut reader = Hashing {
            inner: content,
            hasher: Sha256::new(),
            bytes: 0,
        };
        io::copy(&mut reader, &mut self.writer).map_err(io_err("cannot write", &self.path))?;
        self.summary.entries.push(Entry {
            path: name.to_string(),
            size: reader.bytes,
            sha256: hex::encode(reader.hasher.finalize()),
            symlink: false,
        });
        Ok(())
    }

    /// Adds a symlink to `target` (a relative path).
    pub fn add_symlink(&mut self, name: &str, target: &str) -> Result<(), ZipError> {
        self.claim(name)?;
        let options = SimpleFileOptions::default()
            .compression_method(CompressionMethod::Stored)
            .unix_permissions(0o777);
        self.writer
            .add_symlink(name, target, options)
            .map_err(self.zip_err())?;
        self.summary.entries.push(Entry {
            path: name.to_string(),
            size: target.len() as u64,
            sha256: hex::encode(Sha256::digest(target.as_bytes())),
            symlink: true,
        });
        Ok(())
    }

    /// Notes something left out.
    pub fn skip(&mut self, note: String) {
        self.summary.skipped.push(note);
    }

    /// Writes the central directory and closes the file.
    pub fn finish(self) -> Result<ZipSummary, ZipError> {
        let path = self.path;
        let buffered = self.writer.finish().map_err(|source| ZipError::Zip {
            archive: path.clone(),
            source,
        })?;
        // Flushed, not synced: archives are built in scratch folders that a crash may lose, and are made
        // durable by the object store's put.
        buffered.into_inner().map_err(|e| ZipError::Io {
            context: "cannot write",
            path: path.clone(),
            source: e.into_error(),
        })?;
        Ok(self.summary)
    }
}

/// Zips the files of `root` chosen by `selection` into a new archive at `dest` (which must not be inside
/// `root` unless excluded), in sorted path order.
pub fn zip_folder(root: &Path, selection: &Selection, dest: &Path) -> Result<ZipSummary, ZipError> {
    let meta = fs::metadata(root).map_err(io_err("cannot read", root))?;
    if !meta.is_dir() {
        return Err(ZipError::Io {
            context: "not a folder:",
            path: root.to_path_buf(),
            source: io::Error::new(io::ErrorKind::NotADirectory, "not a folder"),
        });
    }
    let mut builder = ZipBuilder::create(dest)?;
    walk(root, root, "", false, selection, &mut builder)?;
    builder.finish()
}

pub(crate) fn walk(
    root: &Path,
    dir: &Path,
    prefix: &str,
    included_above: bool,
    selection: &Selection,
    builder: &mut ZipBuilder,
) -> Result<(), ZipError> {
    let mut children: Vec<(String, PathBuf)> = Vec::new();
    for item in fs::read_dir(dir).map_err(io_err("cannot read", dir))? {
        let item = item.map_err(io_err("cannot read", dir))?;
        let path = item.path();
        match item.file_name().into_string() {
            Ok(name) => children.push((name, path)),
            Err(raw) => builder.skip(format!(
                "skipped {}: its name is not UTF-8",
                Path::new(&raw).display()
            )),
        }
    }
    children.sort();
    for (name, path) in children {
        let rel = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}/{name}")
        };
        if selection.excluded(&rel, &name) {
            continue;
        }
        let meta = fs::symlink_metadata(&path).map_err(io_err("cannot read", &path))?;
        let included = included_above || selection.included(&rel);
        let stored = if selection.discard_paths {
            name.clone()
        } else {
            rel.clone()
        };
        if meta.file_type().is_symlink() {
            if !included {
                continue;
            }
            let target = fs::read_link(&path).map_err(io_err("cannot read", &path))?;
            let Some(target_str) = target.to_str() else {
                builder.skip(format!("skipped symlink {rel}: its target is not UTF-8"));
                continue;
            };
            if target.is_absolute() {
                builder.skip(format!(
                    "skipped symlink {rel} -> {target_str}: absolute targets are not stored"
                ));
                continue;
            }
            let parent: Vec<String> = parent_components(&rel);
            match resolve_inside(root, &parent, target_str) {
                Ok(()) => builder.add_symlink(&stored, target_str)?,
                Err(why) => builder.skip(format!("skipped symlink {rel} -> {target_str}: {why}")),
            }
        } else if meta.is_dir() {
            walk(root, &path, &rel, included, selection, builder)?;
        } else if meta.is_file() {
            if !included {
                continue;
            }
            let file = File::open(&path).map_err(io_err("cannot read", &path))?;
            let mut reader = BufReader::new(file);
            builder.add_file(&stored, meta.permissions().mode(), meta.len(), &mut reader)?;
        } else {
            builder.skip(format!("skipped {rel}: not a regular file"));
        }
    }
    Ok(())
}
