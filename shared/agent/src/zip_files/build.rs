//! Building artifact zips: which files a selection takes (globs), entry by entry or from a folder, each
//! file hashed as it is read and deflated on a bounded pool of threads, the archive hashed as it is written.

use super::compress::{self, Done, Piece, Pool, Source, Task};
use super::extract::S_IFLNK;
pub use super::format::ArchiveDigest;
use super::format::{SeqZip, STORED};
use super::*;
use globset::{Glob, GlobBuilder, GlobSet, GlobSetBuilder};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File};
use std::io::{self, BufReader, BufWriter, Read};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// The unix type bits of a regular file.
const S_IFREG: u32 = 0o100_000;

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

/// The most bytes of content queued for compression or waiting to be written, in all.
const IN_FLIGHT_BYTES: u64 = 16 << 20;
/// The most tasks queued or waiting to be written.
const IN_FLIGHT_TASKS: usize = 64;
/// Files up to this size are read whole by a worker; larger ones are read here and deflated in pieces of it.
const PIECE: usize = 1 << 20;

/// What a numbered slot of the archive holds, in writing order.
enum Slot {
    /// A whole entry deflated by a worker.
    Whole { name: String, mode: u32 },
    /// A piece of a large entry; the first carries its name, the last its checksums.
    Piece {
        first: Option<(String, u32)>,
        last: Option<Finished>,
    },
    /// A symlink, written as it is.
    Link { name: String, target: String },
}

/// A large entry's checksums, computed here as its pieces are read.
struct Finished {
    name: String,
    crc: u32,
    size: u64,
    sha256: String,
}

/// Writes an archive entry by entry: entries are deflated on a small pool of threads (one per core) and
/// written in the order they were added, with a bounded amount in flight; the archive is hashed as it is
/// written.
pub struct ZipBuilder {
    zip: SeqZip<BufWriter<File>>,
    pool: Pool,
    path: PathBuf,
    summary: ZipSummary,
    names: BTreeSet<String>,
    /// Slots added and not yet written, by number, with the bytes each holds in flight.
    slots: BTreeMap<u64, (Slot, u64)>,
    /// Results that arrived before their turn.
    ready: BTreeMap<u64, io::Result<Done>>,
    next_seq: u64,
    next_write: u64,
    in_flight: u64,
}

impl std::fmt::Debug for ZipBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZipBuilder")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl ZipBuilder {
    /// Creates (or truncates) the archive file.
    pub fn create(path: &Path) -> Result<Self, ZipError> {
        let file = File::create(path).map_err(io_err("cannot create", path))?;
        Ok(ZipBuilder {
            zip: SeqZip::new(BufWriter::with_capacity(256 * 1024, file)),
            pool: Pool::start(compress::threads()),
            path: path.to_path_buf(),
            summary: ZipSummary::default(),
            names: BTreeSet::new(),
            slots: BTreeMap::new(),
            ready: BTreeMap::new(),
            next_seq: 0,
            next_write: 0,
            in_flight: 0,
        })
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

    fn write_err(&self) -> impl FnOnce(io::Error) -> ZipError + '_ {
        io_err("cannot write", &self.path)
    }

    /// Writes every slot whose turn has come and whose result is there.
    fn write_ready(&mut self) -> Result<(), ZipError> {
        loop {
            let Some(entry) = self.slots.first_entry() else {
                return Ok(());
            };
            if *entry.key() != self.next_write {
                return Ok(());
            }
            let done = if matches!(entry.get().0, Slot::Link { .. }) {
                None
            } else {
                match self.ready.remove(&self.next_write) {
                    Some(done) => Some(done),
                    None => return Ok(()),
                }
            };
            let (slot, bytes) = entry.remove();
            self.next_write += 1;
            self.in_flight -= bytes;
            self.write_slot(slot, done)?;
        }
    }

    fn write_slot(&mut self, slot: Slot, done: Option<io::Result<Done>>) -> Result<(), ZipError> {
        let done = match done {
            Some(Ok(done)) => Some(done),
            Some(Err(e)) => {
                let name = match &slot {
                    Slot::Whole { name, .. } => name.clone(),
                    Slot::Piece { first, last } => first
                        .as_ref()
                        .map(|f| f.0.clone())
                        .or_else(|| last.as_ref().map(|l| l.name.clone()))
                        .unwrap_or_default(),
                    Slot::Link { name, .. } => name.clone(),
                };
                return Err(refused(&name, e.to_string()));
            }
            None => None,
        };
        match (slot, done) {
            (Slot::Link { name, target }, _) => {
                let mut crc = flate2::Crc::new();
                crc.update(target.as_bytes());
                self.zip
                    .add_whole(
                        &name,
                        S_IFLNK | 0o777,
                        STORED,
                        crc.sum(),
                        target.len() as u64,
                        target.as_bytes(),
                    )
                    .map_err(self.write_err())?;
                self.summary.entries.push(Entry {
                    path: name,
                    size: target.len() as u64,
                    sha256: hex::encode(Sha256::digest(target.as_bytes())),
                    symlink: true,
                });
            }
            (Slot::Whole { name, mode }, Some(done)) => {
                self.zip
                    .add_whole(&name, mode, done.method, done.crc, done.size, &done.data)
                    .map_err(self.write_err())?;
                self.summary.entries.push(Entry {
                    path: name,
                    size: done.size,
                    sha256: hex::encode(done.sha256),
                    symlink: false,
                });
            }
            (Slot::Piece { first, last }, Some(done)) => {
                if let Some((name, mode)) = first {
                    self.zip.begin(&name, mode).map_err(self.write_err())?;
                }
                self.zip.stream(&done.data).map_err(self.write_err())?;
                if let Some(f) = last {
                    self.zip.end(f.crc, f.size).map_err(self.write_err())?;
                    self.summary.entries.push(Entry {
                        path: f.name,
                        size: f.size,
                        sha256: f.sha256,
                        symlink: false,
                    });
                }
            }
            (_, None) => return Err(refused("", "a compressed entry went missing")),
        }
        Ok(())
    }

    /// Writes what it can, then waits for results until `bytes` more fit in flight.
    fn make_room(&mut self, bytes: u64) -> Result<(), ZipError> {
        self.write_ready()?;
        while !self.slots.is_empty()
            && (self.slots.len() >= IN_FLIGHT_TASKS || self.in_flight + bytes > IN_FLIGHT_BYTES)
        {
            let (seq, result) = self.pool.next().map_err(self.write_err())?;
            self.ready.insert(seq, result);
            self.write_ready()?;
        }
        Ok(())
    }

    /// Adds a slot (and its task, if it has one).
    fn push(
        &mut self,
        slot: Slot,
        task: Option<(Source, Piece)>,
        bytes: u64,
    ) -> Result<(), ZipError> {
        self.make_room(bytes)?;
        let seq = self.next_seq;
        self.next_seq += 1;
        self.in_flight += bytes;
        self.slots.insert(seq, (slot, bytes));
        if let Some((source, piece)) = task {
            self.pool
                .submit(Task { seq, source, piece })
                .map_err(self.write_err())?;
        }
        Ok(())
    }

    /// Adds a file of `size` bytes with unix `mode`, its content read from `content`.
    pub fn add_file(
        &mut self,
        name: &str,
        mode: u32,
        size: u64,
        content: &mut dyn Read,
    ) -> Result<(), ZipError> {
        let _ = size;
        self.claim(name)?;
        let mode = S_IFREG | (mode & 0o777);
        let read_err = |e: io::Error| refused(name, format!("cannot read: {e}"));
        let mut piece = read_piece(content).map_err(read_err)?;
        if piece.len() < PIECE {
            let bytes = piece.len() as u64;
            let slot = Slot::Whole {
                name: name.to_string(),
                mode,
            };
            return self.push(slot, Some((Source::Bytes(piece), Piece::Whole)), bytes);
        }
        // Large: hashed here in order, deflated in pieces by the pool.
        let mut crc = flate2::Crc::new();
        let mut sha = Sha256::new();
        let mut size: u64 = 0;
        let mut first = Some((name.to_string(), mode));
        loop {
            crc.update(&piece);
            sha.update(&piece);
            size += piece.len() as u64;
            let next = if piece.len() < PIECE {
                Vec::new()
            } else {
                read_piece(content).map_err(read_err)?
            };
            let bytes = piece.len() as u64;
            if next.is_empty() {
                let last = Finished {
                    name: name.to_string(),
                    crc: crc.sum(),
                    size,
                    sha256: hex::encode(sha.finalize()),
                };
                let slot = Slot::Piece {
                    first,
                    last: Some(last),
                };
                return self.push(slot, Some((Source::Bytes(piece), Piece::Last)), bytes);
            }
            let slot = Slot::Piece {
                first: first.take(),
                last: None,
            };
            self.push(slot, Some((Source::Bytes(piece), Piece::Middle)), bytes)?;
            piece = next;
        }
    }

    /// Adds the file at `path` (of `size` bytes when looked at) with unix `mode`: small files are read by the
    /// compressing threads themselves.
    pub fn add_path(
        &mut self,
        name: &str,
        mode: u32,
        size: u64,
        path: &Path,
    ) -> Result<(), ZipError> {
        if size >= PIECE as u64 {
            let file = File::open(path).map_err(io_err("cannot read", path))?;
            return self.add_file(name, mode, size, &mut BufReader::new(file));
        }
        self.claim(name)?;
        let slot = Slot::Whole {
            name: name.to_string(),
            mode: S_IFREG | (mode & 0o777),
        };
        self.push(
            slot,
            Some((Source::Path(path.to_path_buf()), Piece::Whole)),
            size,
        )
    }

    /// Adds a symlink to `target` (a relative path).
    pub fn add_symlink(&mut self, name: &str, target: &str) -> Result<(), ZipError> {
        self.claim(name)?;
        let slot = Slot::Link {
            name: name.to_string(),
            target: target.to_string(),
        };
        self.push(slot, None, 0)
    }

    /// Notes something left out.
    pub fn skip(&mut self, note: String) {
        self.summary.skipped.push(note);
    }

    /// Writes the remaining entries and the central directory and closes the file.
    pub fn finish(self) -> Result<ZipSummary, ZipError> {
        self.finish_with_digest().map(|(summary, _)| summary)
    }

    /// As [`Self::finish`], also giving the archive's size and SHA-256, computed as it was written.
    pub fn finish_with_digest(mut self) -> Result<(ZipSummary, ArchiveDigest), ZipError> {
        while !self.slots.is_empty() {
            self.write_ready()?;
            if self.slots.is_empty() {
                break;
            }
            let (seq, result) = self.pool.next().map_err(self.write_err())?;
            self.ready.insert(seq, result);
        }
        let path = self.path;
        let (buffered, digest) = self.zip.finish().map_err(io_err("cannot write", &path))?;
        // Flushed, not synced: archives are built in scratch folders that a crash may lose, and are made
        // durable by the object store's put.
        buffered.into_inner().map_err(|e| ZipError::Io {
            context: "cannot write",
            path: path.clone(),
            source: e.into_error(),
        })?;
        Ok((self.summary, digest))
    }
}

/// Reads up to [`PIECE`] bytes (fewer only at the end).
fn read_piece(content: &mut dyn Read) -> io::Result<Vec<u8>> {
    let mut piece = Vec::with_capacity(PIECE);
    content.take(PIECE as u64).read_to_end(&mut piece)?;
    Ok(piece)
}

/// Zips the files of `root` chosen by `selection` into a new archive at `dest` (which must not be inside
/// `root` unless excluded), in sorted path order.
pub fn zip_folder(root: &Path, selection: &Selection, dest: &Path) -> Result<ZipSummary, ZipError> {
    zip_folder_with_digest(root, selection, dest).map(|(summary, _)| summary)
}

/// As [`zip_folder`], also giving the archive's size and SHA-256, computed as it was written.
pub fn zip_folder_with_digest(
    root: &Path,
    selection: &Selection,
    dest: &Path,
) -> Result<(ZipSummary, ArchiveDigest), ZipError> {
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
    builder.finish_with_digest()
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
            builder.add_path(&stored, meta.permissions().mode(), meta.len(), &path)?;
        } else {
            builder.skip(format!("skipped {rel}: not a regular file"));
        }
    }
    Ok(())
}
