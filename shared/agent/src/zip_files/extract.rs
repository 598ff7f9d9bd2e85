//! Extracting artifact zips as hostile input: every entry's path checked, sizes counted while decompressing,
//! links placed last and checked together, and the whole extracted beside the target then renamed in.
//!
//! Every folder it creates carries ext4's "top of a hierarchy" flag (`chattr +T`), so the folders below it are
//! spread across block groups as top-level folders are. Without it a workspace's folders all land in the block
//! group of the work folder, where the inodes of the workspaces deleted before it lie: ext4 without a journal
//! skips inodes deleted in the last half minute one by one, and creating 19k files there took 10 s instead of
//! 1 s. Other filesystems refuse the flag, which changes nothing.

use super::*;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{FileExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use zip::ZipArchive;

/// How many entries justify one more extracting thread.
const ENTRIES_PER_THREAD: usize = 64;

pub(crate) const S_IFMT: u32 = 0o170_000;

pub(crate) const S_IFLNK: u32 = 0o120_000;

/// Extracts the archive at `zip` into the folder `target`, which must not exist yet, within `limits`.
///
/// All or nothing: on any refusal or failure `target` is not created and nothing is left beside it.
pub fn extract_zip(zip: &Path, target: &Path, limits: &Limits) -> Result<ExtractSummary, ZipError> {
    let file = File::open(zip).map_err(io_err("cannot read", zip))?;
    extract_file(&file, zip, target, limits)
}

/// As [`extract_zip`], reading the archive from the open `file` (an object store's file opened in place);
/// `label` names it in errors.
pub fn extract_file(
    file: &File,
    label: &Path,
    target: &Path,
    limits: &Limits,
) -> Result<ExtractSummary, ZipError> {
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
    spread(temp.path());
    let summary = extract_into(file, label, temp.path(), limits)?;
    fs::rename(temp.path(), target)
        .map_err(io_err("cannot move the extracted folder to", target))?;
    // `temp` now names nothing; dropping it finds nothing to remove.
    drop(temp);
    Ok(summary)
}

pub(crate) fn extract_into(
    file: &File,
    zip: &Path,
    dir: &Path,
    limits: &Limits,
) -> Result<ExtractSummary, ZipError> {
    let archive_err = |reason: String| ZipError::Archive {
        archive: zip.to_path_buf(),
        reason,
    };
    let zip_err = |source| ZipError::Zip {
        archive: zip.to_path_buf(),
        source,
    };
    let archive = ZipArchive::new(BufReader::with_capacity(256 * 1024, file)).map_err(zip_err)?;
    if archive.len() > limits.max_entries {
        return Err(archive_err(format!(
            "it has {} entries, more than the limit of {}",
            archive.len(),
            limits.max_entries
        )));
    }
    // The zip reader keeps one entry per name (the last), so a name the central directory lists twice would
    // pass silently: count them from the directory itself.
    if let Some(name) = duplicate_name(file, archive.central_directory_start(), limits.max_entries)
        .map_err(io_err("cannot read", zip))?
    {
        return Err(refused(&name, "the archive has it twice"));
    }
    // Entries are written by one thread per core, each taking the next few entries in turn; links wait. A small
    // archive is written by the calling thread alone: starting threads would cost more than its entries.
    let shared = Shared {
        next: AtomicUsize::new(0),
        total: AtomicU64::new(0),
        stop: AtomicBool::new(false),
    };
    let reader = At { file, pos: 0 };
    let base = ZipArchive::new(reader).map_err(zip_err)?;
    let threads = std::thread::available_parallelism()
        .map_or(1, std::num::NonZero::get)
        .clamp(1, 8)
        .min(base.len().div_ceil(ENTRIES_PER_THREAD).max(1));
    let results: Vec<Result<Part, ZipError>> = if threads == 1 {
        vec![extract_part(&mut base.clone(), zip, dir, limits, &shared)]
    } else {
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..threads)
                .map(|_| {
                    let mut archive = base.clone();
                    let shared = &shared;
                    scope.spawn(move || {
                        let result = extract_part(&mut archive, zip, dir, limits, shared);
                        if result.is_err() {
                            shared.stop.store(true, Ordering::Relaxed);
                        }
                        result
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| {
                        Err(archive_err("a thread extracting it failed".to_string()))
                    })
                })
                .collect()
        })
    };
    let mut summary = ExtractSummary::default();
    let mut links: Vec<(usize, String, Vec<String>, String)> = Vec::new();
    for result in results {
        let part = result?;
        summary.files += part.files;
        summary.bytes += part.bytes;
        links.extend(part.links);
    }
    links.sort_by_key(|l| l.0);
    let links: Vec<(String, Vec<String>, String)> =
        links.into_iter().map(|(_, n, p, t)| (n, p, t)).collect();
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

/// What the extracting threads share: the next entry to take, the bytes written in all, and whether to stop.
struct Shared {
    next: AtomicUsize,
    total: AtomicU64,
    stop: AtomicBool,
}

/// What one thread wrote, and the links it left for last (with their index in the archive).
#[derive(Default)]
struct Part {
    files: usize,
    bytes: u64,
    links: Vec<(usize, String, Vec<String>, String)>,
}

/// Reads the archive at its own position (positional reads), so that threads share one open file.
#[derive(Clone)]
struct At<'a> {
    file: &'a File,
    pos: u64,
}

impl Read for At<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.file.read_at(buf, self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for At<'_> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let (base, delta) = match to {
            SeekFrom::Start(p) => (p, 0),
            SeekFrom::Current(d) => (self.pos, d),
            SeekFrom::End(d) => (self.file.metadata()?.len(), d),
        };
        self.pos = base
            .checked_add_signed(delta)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek out of range"))?;
        Ok(self.pos)
    }
}

/// Takes entries in turn (see [`Shared`]) and writes files and folders, keeping links for last.
fn extract_part(
    archive: &mut ZipArchive<At<'_>>,
    zip: &Path,
    dir: &Path,
    limits: &Limits,
    shared: &Shared,
) -> Result<Part, ZipError> {
    let zip_err = |source| ZipError::Zip {
        archive: zip.to_path_buf(),
        source,
    };
    let mut folders = Folders::new(dir);
    let mut part = Part::default();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        if shared.stop.load(Ordering::Relaxed) {
            return Ok(part);
        }
        let index = shared.next.fetch_add(1, Ordering::Relaxed);
        if index >= archive.len() {
            return Ok(part);
        }
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
            part.links.push((index, name, parts, target));
            continue;
        }
        if entry.is_dir() {
            folders
                .ensure(&out)
                .map_err(|e| refused(&name, format!("cannot create the folder: {e}")))?;
            if let Some(m) = mode {
                let perms = fs::Permissions::from_mode((m & 0o777) | 0o700);
                fs::set_permissions(&out, perms)
                    .map_err(io_err("cannot set permissions on", &out))?;
            }
            continue;
        }
        if let Some(p) = out.parent() {
            folders
                .ensure(p)
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
            if shared.total.fetch_add(n as u64, Ordering::Relaxed) + n as u64
                > limits.max_total_bytes
            {
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
        part.bytes += written;
        part.files += 1;
    }
}

/// Asks the filesystem to spread the folders created below `dir` across the disk (ext4's `FS_TOPDIR_FL`); a
/// filesystem without the flag refuses it, and nothing changes.
pub(crate) fn spread(dir: &Path) {
    if let Ok(handle) = File::open(dir) {
        if let Ok(flags) = rustix::fs::ioctl_getflags(&handle) {
            let _ = rustix::fs::ioctl_setflags(&handle, flags | rustix::fs::IFlags::TOPDIR);
        }
    }
}

/// The folders of an extraction: created once each, one level at a time, each flagged by [`spread`].
struct Folders {
    root: PathBuf,
    made: std::collections::HashSet<PathBuf>,
}

impl Folders {
    fn new(root: &Path) -> Self {
        Folders {
            root: root.to_path_buf(),
            made: std::collections::HashSet::new(),
        }
    }

    /// Creates `dir` (below the root) and its missing parents; a file in the way is an error.
    fn ensure(&mut self, dir: &Path) -> io::Result<()> {
        if dir == self.root || self.made.contains(dir) {
            return Ok(());
        }
        if let Some(parent) = dir.parent() {
            if parent.starts_with(&self.root) {
                self.ensure(parent)?;
            }
        }
        match fs::create_dir(dir) {
            Ok(()) => spread(dir),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && dir.is_dir() => {}
            Err(e) => return Err(e),
        }
        self.made.insert(dir.to_path_buf());
        Ok(())
    }
}

/// The central directory's file header signature.
const CENTRAL_HEADER: u32 = 0x0201_4b50;

/// The first name the central directory at `start` lists twice, reading at most `max` headers past the
/// limit (an archive with more is refused for its count anyway).
fn duplicate_name(zip: &File, start: u64, max: usize) -> io::Result<Option<String>> {
    use std::io::{Seek, SeekFrom};
    let mut r = BufReader::new(zip);
    r.seek(SeekFrom::Start(start))?;
    let mut seen = std::collections::HashSet::new();
    let mut fixed = [0u8; 46];
    for _ in 0..=max {
        if r.read_exact(&mut fixed).is_err()
            || u32::from_le_bytes([fixed[0], fixed[1], fixed[2], fixed[3]]) != CENTRAL_HEADER
        {
            break;
        }
        let field = |at: usize| u64::from(u16::from_le_bytes([fixed[at], fixed[at + 1]]));
        let mut name = vec![0u8; field(28) as usize];
        r.read_exact(&mut name)?;
        r.seek(SeekFrom::Current((field(30) + field(32)) as i64))?;
        if !seen.insert(name.clone()) {
            return Ok(Some(String::from_utf8_lossy(&name).into_owned()));
        }
    }
    Ok(None)
}
