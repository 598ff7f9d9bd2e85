//! Extracting artifact zips as hostile input: every entry's path checked, sizes counted while decompressing,
//! links placed last and checked together, and the whole extracted beside the target then renamed in.

use super::*;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use zip::ZipArchive;

pub(crate) const S_IFMT: u32 = 0o170_000;

pub(crate) const S_IFLNK: u32 = 0o120_000;

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

pub(crate) fn extract_into(
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
    let file = File::open(zip).map_err(io_err("cannot read", zip))?;
    let mut archive = ZipArchive::new(BufReader::new(file)).map_err(zip_err)?;
    if archive.len() > limits.max_entries {
        return Err(archive_err(format!(
            "it has {} entries, more than the limit of {}",
            archive.len(),
            limits.max_entries
        )));
    }
    // The zip reader keeps one entry per name (the last), so a name the central directory lists twice would
    // pass silently: count them from the directory itself.
    if let Some(name) = duplicate_name(zip, archive.central_directory_start(), limits.max_entries)
        .map_err(io_err("cannot read", zip))?
    {
        return Err(refused(&name, "the archive has it twice"));
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

/// The central directory's file header signature.
const CENTRAL_HEADER: u32 = 0x0201_4b50;

/// The first name the central directory at `start` lists twice, reading at most `max` headers past the
/// limit (an archive with more is refused for its count anyway).
fn duplicate_name(zip: &Path, start: u64, max: usize) -> io::Result<Option<String>> {
    use std::io::{Seek, SeekFrom};
    let mut r = BufReader::new(File::open(zip)?);
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
