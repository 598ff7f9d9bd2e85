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

use std::collections::{BTreeSet, VecDeque};
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use globset::{Glob, GlobBuilder, GlobSet, GlobSetBuilder};
use sha2::{Digest, Sha256};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipArchive, ZipWriter};

const S_IFMT: u32 = 0o170_000;
const S_IFLNK: u32 = 0o120_000;
/// How many links a path may pass through before resolution gives up (Linux's own limit).
const MAX_LINK_HOPS: usize = 40;
/// A symlink entry's target is a path: anything longer is not one.
const MAX_LINK_TARGET: u64 = 4096;

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

fn io_err<'a>(context: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> ZipError + 'a {
    move |source| ZipError::Io {
        context,
        path: path.to_path_buf(),
        source,
    }
}

fn refused(entry: &str, reason: impl Into<String>) -> ZipError {
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

fn glob(pattern: &str) -> Result<Glob, ZipError> {
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
struct Hashing<R> {
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
        let options = SimpleFileOptions::default()
            .compression_method(CompressionMethod::Deflated)
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
        let file = buffered.into_inner().map_err(|e| ZipError::Io {
            context: "cannot write",
            path: path.clone(),
            source: e.into_error(),
        })?;
        file.sync_all().map_err(io_err("cannot write", &path))?;
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

fn walk(
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

fn parent_components(rel: &str) -> Vec<String> {
    let mut parts: Vec<String> = rel.split('/').map(str::to_string).collect();
    parts.pop();
    parts
}

/// Follows `target`, seen from the folder `parent` (components relative to `root`), through the links that
/// exist under `root`, and fails when the path would leave `root`. Missing components are taken as they are
/// written (a dangling link is allowed while it points inside).
fn resolve_inside(root: &Path, parent: &[String], target: &str) -> Result<(), String> {
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

/// Checks an entry's name and returns its components.
fn entry_components(name: &str) -> Result<Vec<String>, ZipError> {
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

/// Extracts the archive at `zip` into the folder `target`, which must not exist yet, within `limits`.
///
/// All or nothing: on any refusal or failure `target` is not created and nothing is left beside it.
pub fn extract_zip(zip: &Path, target: &Path, limits: &Limits) -> Result<ExtractSummary, ZipError> {
    if fs::symlink_metadata(target).is_ok() {
        return Err(ZipError::TargetExists(target.to_path_buf()));
    }
    let parent = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&parent).map_err(io_err("cannot create", &parent))?;
    let temp = tempfile::Builder::new()
        .prefix(".extract-")
        .tempdir_in(&parent)
        .map_err(io_err("cannot create a temporary folder in", &parent))?;
    let summary = extract_into(zip, temp.path(), limits)?;
    fs::rename(temp.path(), target)
        .map_err(io_err("cannot move the extracted folder to", target))?;
    // `temp` now names nothing; dropping it finds nothing to remove.
    drop(temp);
    Ok(summary)
}

fn extract_into(zip: &Path, dir: &Path, limits: &Limits) -> Result<ExtractSummary, ZipError> {
    let archive_err = |reason: String| ZipError::Archive {
        archive: zip.to_path_buf(),
        reason,
    };
    let zip_err = |source| ZipError::Zip {
        archive: zip.to_path_buf(),
        source,
    };
    let file = File::open(zip).map_err(io_err("cannot read", zip))?;
    let mut archive = ZipArchive::new(BufReader::new(file)).map_err(zip_err)?;
    if archive.len() > limits.max_entries {
        return Err(archive_err(format!(
            "it has {} entries, more than the limit of {}",
            archive.len(),
            limits.max_entries
        )));
    }
    let mut summary = ExtractSummary::default();
    let mut links: Vec<(String, Vec<String>, String)> = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    for index in 0..archive.len() {
        let mut entry = archive.by_index(index).map_err(zip_err)?;
        let name = match std::str::from_utf8(entry.name_raw()) {
            Ok(n) => n.to_string(),
            Err(_) => {
                return Err(refused(
                    &String::from_utf8_lossy(entry.name_raw()),
                    "its path is not UTF-8",
                ))
            }
        };
        let parts = entry_components(&name)?;
        let out = parts.iter().fold(dir.to_path_buf(), |p, c| p.join(c));
        let mode = entry.unix_mode();
        if mode.is_some_and(|m| m & S_IFMT == S_IFLNK) {
            if entry.size() > MAX_LINK_TARGET {
                return Err(refused(&name, "a symlink target longer than 4096 bytes"));
            }
            let mut target = Vec::new();
            (&mut entry)
                .take(MAX_LINK_TARGET + 1)
                .read_to_end(&mut target)
                .map_err(|e| refused(&name, format!("cannot read the link target: {e}")))?;
            if target.len() as u64 > MAX_LINK_TARGET {
                return Err(refused(&name, "a symlink target longer than 4096 bytes"));
            }
            let target = String::from_utf8(target)
                .map_err(|_| refused(&name, "its symlink target is not UTF-8"))?;
            if target.is_empty() || target.contains('\0') {
                return Err(refused(
                    &name,
                    "its symlink target is empty or contains NUL",
                ));
            }
            if target.starts_with('/') {
                return Err(refused(
                    &name,
                    format!("symlink to the absolute path {target}"),
                ));
            }
            links.push((name, parts, target));
            continue;
        }
        if entry.is_dir() {
            fs::create_dir_all(&out)
                .map_err(|e| refused(&name, format!("cannot create the folder: {e}")))?;
            if let Some(m) = mode {
                let perms = fs::Permissions::from_mode((m & 0o777) | 0o700);
                fs::set_permissions(&out, perms)
                    .map_err(io_err("cannot set permissions on", &out))?;
            }
            continue;
        }
        if let Some(p) = out.parent() {
            fs::create_dir_all(p)
                .map_err(|e| refused(&name, format!("cannot create its folder: {e}")))?;
        }
        let file_mode = mode.map_or(0o644, |m| m & 0o777) | 0o600;
        let mut outfile = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(file_mode)
            .open(&out)
            .map_err(|e| match e.kind() {
                io::ErrorKind::AlreadyExists => refused(&name, "the archive has it twice"),
                _ => refused(&name, format!("cannot create the file: {e}")),
            })?;
        let mut written: u64 = 0;
        loop {
            let n = entry
                .read(&mut buf)
                .map_err(|e| refused(&name, format!("cannot decompress: {e}")))?;
            if n == 0 {
                break;
            }
            written += n as u64;
            if written > limits.max_entry_bytes {
                return Err(refused(
                    &name,
                    format!(
                        "it expands to more than the limit of {} bytes for one entry (it declares {})",
                        limits.max_entry_bytes,
                        entry.size()
                    ),
                ));
            }
            if summary.bytes + written > limits.max_total_bytes {
                return Err(refused(
                    &name,
                    format!(
                        "the archive expands to more than the limit of {} bytes in all",
                        limits.max_total_bytes
                    ),
                ));
            }
            outfile
                .write_all(&buf[..n])
                .map_err(io_err("cannot write", &out))?;
        }
        // The permission given at creation is filtered by the umask; set it exactly.
        fs::set_permissions(&out, fs::Permissions::from_mode(file_mode))
            .map_err(io_err("cannot set permissions on", &out))?;
        summary.bytes += written;
        summary.files += 1;
    }
    // Links last: every file above was written through real folders only.
    for (name, parts, target) in &links {
        let out = parts.iter().fold(dir.to_path_buf(), |p, c| p.join(c));
        let mut here = dir.to_path_buf();
        for part in &parts[..parts.len() - 1] {
            here.push(part);
            match fs::symlink_metadata(&here) {
                Ok(m) if m.file_type().is_symlink() => {
                    return Err(refused(name, "its path passes through a symlink"));
                }
                Ok(m) if !m.is_dir() => return Err(refused(name, "its folder is a file")),
                Ok(_) => {}
                Err(_) => {
                    fs::create_dir(&here)
                        .map_err(|e| refused(name, format!("cannot create its folder: {e}")))?;
                }
            }
        }
        std::os::unix::fs::symlink(target, &out).map_err(|e| match e.kind() {
            io::ErrorKind::AlreadyExists => refused(name, "the archive has it twice"),
            _ => refused(name, format!("cannot create the symlink: {e}")),
        })?;
        summary.symlinks += 1;
    }
    // Checked once all are in place: a link that looked inside may leave through one created after it.
    for (name, parts, target) in &links {
        resolve_inside(dir, &parts[..parts.len() - 1], target)
            .map_err(|why| refused(name, format!("symlink to {target}: {why}")))?;
    }
    Ok(summary)
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
