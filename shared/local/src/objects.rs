//! The folder object store: S3's buckets and keys as files under one root folder.
//!
//! # Layout
//!
//! ```text
//! <root>/buckets/<bucket>/<key>        the object's bytes
//! <root>/meta/<bucket>/<key>.json      its ObjectInfo (size, sha256, etag, versionId), the commit record
//! ```
//!
//! A put streams the source through SHA-256 into a temporary file beside the object, writes the sidecar's
//! temporary file too, fsyncs both, then renames the object into place and then the sidecar. An object counts
//! only when its sidecar exists and its size matches, so a reader never sees a partial object; a get also
//! checks the SHA-256 before renaming its temporary file onto the destination.
//!
//! Two shortcuts for files on the same filesystem keep the same order: a put of a file the caller gives up
//! along with the size and SHA-256 it computed while writing it (an artifact zip) fsyncs the file and moves it
//! beside the object instead of copying it; and a reader may open an object in place, its size and SHA-256
//! checked against the sidecar first, instead of fetching a copy (objects are replaced by rename, never
//! rewritten, so an open handle keeps the bytes it was checked with).
//!
//! # Names
//!
//! Buckets follow S3's rules (3 to 63 characters of `a-z 0-9 . -`, starting and ending with a letter or
//! digit, no `..`). Keys are stricter than S3's because they become paths: not empty, at most 1024 bytes, `/`
//! separated segments that are neither empty, `.` nor `..`, at most 250 bytes each, no NUL or backslash.
//! One more limit is the filesystem's: a key cannot also be a folder of another key (`a` and `a/b`).
//!
//! # Entity tags and versions
//!
//! The etag is the first 16 bytes of the content's SHA-256 in hex, in double quotes: the shape of S3's
//! single-part etag (there an MD5), not its value, so never compare it with an etag S3 computed. Each put gets
//! a new version id, time-ordered within a process: 16 hex digits of nanoseconds, 8 of the process id, 8 of a
//! counter.
//!
//! # Concurrency
//!
//! Within a process, puts and reads of one key are ordered by a lock held only around the renames (and
//! around opening object and sidecar for a read). Across processes a reader that sees a sidecar and object
//! from two different puts retries; two processes overwriting the same key at the same instant may leave
//! the sidecar of one with the bytes of the other, which the next get reports as corrupt. Sluice writes
//! artifact keys once (they carry a fresh id), so this does not arise in practice.

use std::fs::File;
use std::hash::{Hash, Hasher};
use std::io::{Read, Write as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::RwLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use sha2::{Digest, Sha256};
use sluice_runtime::ports::{ObjectError, ObjectInfo, ObjectStore};

/// The buffer objects stream through: memory stays bounded whatever an object's size.
const BUFFER: usize = 64 * 1024;

/// The prefix of temporary files; keys cannot contain a segment starting with it.
use sluice_runtime::objects::TEMP_PREFIX;
pub use sluice_runtime::objects::{validate_bucket, validate_key};

/// How often a get re-reads an object that changed under it before calling it corrupt.
const READ_ATTEMPTS: usize = 3;

/// An [`ObjectStore`] in a folder.
#[derive(Debug, Clone)]
pub struct FolderObjectStore {
    root: PathBuf,
}

impl FolderObjectStore {
    /// A store rooted at `root`, creating the folder when missing.
    pub fn open(root: impl AsRef<Path>) -> Result<Self, ObjectError> {
        let root = root.as_ref().to_path_buf();
        for sub in ["buckets", "meta"] {
            let dir = root.join(sub);
            std::fs::create_dir_all(&dir).map_err(|e| io_error(&dir, &e))?;
        }
        Ok(Self { root })
    }

    /// The root folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where `bucket/key`'s bytes live (the name is checked). Tests corrupt objects through it.
    pub fn object_path(&self, bucket: &str, key: &str) -> Result<PathBuf, ObjectError> {
        validate(bucket, key)?;
        Ok(self.paths(bucket, key).object)
    }

    fn paths(&self, bucket: &str, key: &str) -> Paths {
        let object = self.root.join("buckets").join(bucket).join(key);
        let mut meta = self
            .root
            .join("meta")
            .join(bucket)
            .join(key)
            .into_os_string();
        meta.push(".json");
        Paths {
            object,
            meta: PathBuf::from(meta),
            bucket_dir: self.root.join("buckets").join(bucket),
            meta_bucket_dir: self.root.join("meta").join(bucket),
        }
    }
}

struct Paths {
    object: PathBuf,
    meta: PathBuf,
    /// The bucket's folders, which object and sidecar folders are below.
    bucket_dir: PathBuf,
    meta_bucket_dir: PathBuf,
}

fn validate(bucket: &str, key: &str) -> Result<(), ObjectError> {
    validate_bucket(bucket)?;
    validate_key(key)
}

fn io_error(path: &Path, e: &std::io::Error) -> ObjectError {
    ObjectError::Other(format!("{}: {e}", path.display()))
}

fn not_found(bucket: &str, key: &str) -> ObjectError {
    ObjectError::NotFound {
        bucket: bucket.to_owned(),
        key: key.to_owned(),
    }
}

/// Striped locks ordering renames and reads of one key within the process, whatever store instance.
static LOCKS: [RwLock<()>; 64] = [const { RwLock::new(()) }; 64];

fn lock_for(path: &Path) -> &'static RwLock<()> {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    path.hash(&mut hasher);
    let stripe = usize::try_from(hasher.finish() % LOCKS.len() as u64).unwrap_or(0);
    &LOCKS[stripe]
}

fn new_version_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
    let count = COUNTER.fetch_add(1, Ordering::Relaxed) & 0xffff_ffff;
    format!("{nanos:016x}{:08x}{count:08x}", std::process::id())
}

/// `"` + the first 16 bytes of the SHA-256, hex + `"`.
fn etag(sha256: &[u8]) -> String {
    format!("\"{}\"", hex::encode(&sha256[..16.min(sha256.len())]))
}

/// Copies `from` into `to` through a fixed buffer, returning the size and SHA-256.
fn copy_hashed(
    from: &mut impl Read,
    to: &mut impl std::io::Write,
) -> std::io::Result<(u64, Vec<u8>)> {
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; BUFFER];
    let mut size = 0u64;
    loop {
        let n = match from.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buffer[..n]);
        to.write_all(&buffer[..n])?;
        size += n as u64;
    }
    to.flush()?;
    Ok((size, hasher.finalize().to_vec()))
}

/// Creates `dir` and its parents (below `base`, the bucket's folder), telling the one conflict a folder has
/// and S3 has not: a shorter key of the bucket is already an object where a folder must go.
fn create_parent(base: &Path, dir: &Path, bucket: &str, key: &str) -> Result<(), ObjectError> {
    std::fs::create_dir_all(dir).map_err(|e| {
        let shorter = dir
            .ancestors()
            .take_while(|a| a.starts_with(base) && *a != base)
            .find(|a| a.is_file())
            .and_then(|a| a.strip_prefix(base).ok())
            .map(|rel| rel.to_string_lossy().into_owned());
        match shorter {
            Some(shorter) => conflict(bucket, key, &format!("`{shorter}` is already an object")),
            None => ObjectError::Other(format!("cannot store s3://{bucket}/{key}: {}", e.kind())),
        }
    })
}

/// The conflict of a key with another key of the bucket, in the bucket's terms (no machine paths).
fn conflict(bucket: &str, key: &str, why: &str) -> ObjectError {
    ObjectError::Conflict(format!(
        "cannot store s3://{bucket}/{key}: {why}, and the local object store keeps keys as files and folders, \
         so it cannot hold both `a` and `a/b` (S3 can)"
    ))
}

fn parent_of(path: &Path) -> Result<&Path, ObjectError> {
    path.parent()
        .ok_or_else(|| ObjectError::Other(format!("{} has no parent folder", path.display())))
}

fn temp_in(dir: &Path) -> Result<tempfile::NamedTempFile, ObjectError> {
    tempfile::Builder::new()
        .prefix(TEMP_PREFIX)
        .tempfile_in(dir)
        .map_err(|e| io_error(dir, &e))
}

/// Makes a rename in `dir` durable.
fn sync_dir(dir: &Path) -> Result<(), ObjectError> {
    #[cfg(unix)]
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_error(dir, &e))?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

fn put_blocking(
    paths: &Paths,
    bucket: &str,
    key: &str,
    source: &Path,
) -> Result<ObjectInfo, ObjectError> {
    let object_dir = parent_of(&paths.object)?;
    let meta_dir = parent_of(&paths.meta)?;
    create_parent(&paths.bucket_dir, object_dir, bucket, key)?;
    create_parent(&paths.meta_bucket_dir, meta_dir, bucket, key)?;

    let mut input = File::open(source)
        .map_err(|e| ObjectError::Other(format!("cannot read {}: {e}", source.display())))?;
    let mut object_tmp = temp_in(object_dir)?;
    let (size, digest) = copy_hashed(&mut input, object_tmp.as_file_mut()).map_err(|e| {
        ObjectError::Other(format!("copying {} into the store: {e}", source.display()))
    })?;
    object_tmp
        .as_file()
        .sync_all()
        .map_err(|e| io_error(object_tmp.path(), &e))?;

    let info = ObjectInfo {
        bucket: bucket.to_owned(),
        key: key.to_owned(),
        size,
        sha256: hex::encode(&digest),
        etag: etag(&digest),
        version_id: new_version_id(),
    };
    let mut meta_tmp = temp_in(meta_dir)?;
    let json = serde_json::to_vec_pretty(&info).map_err(|e| ObjectError::Other(e.to_string()))?;
    meta_tmp
        .write_all(&json)
        .and_then(|()| meta_tmp.as_file().sync_all())
        .map_err(|e| io_error(meta_tmp.path(), &e))?;

    {
        // Object first, then the sidecar that makes it visible; both renames under the key's lock.
        let _guard = lock_for(&paths.object)
            .write()
            .map_err(|_| ObjectError::Other("object lock poisoned".into()))?;
        object_tmp.persist(&paths.object).map_err(|e| {
            if paths.object.is_dir() {
                conflict(
                    bucket,
                    key,
                    &format!("longer keys under `{key}/` are already objects"),
                )
            } else {
                ObjectError::Other(format!(
                    "cannot store s3://{bucket}/{key}: {}",
                    e.error.kind()
                ))
            }
        })?;
        meta_tmp
            .persist(&paths.meta)
            .map_err(|e| io_error(&paths.meta, &e.error))?;
    }
    sync_dir(object_dir)?;
    sync_dir(meta_dir)?;
    Ok(info)
}

/// Stores `source`, which the caller gives up and whose size and SHA-256 it computed while writing it, by moving
/// it into place: fsynced, renamed beside the object (same filesystem), then renamed onto the object and its
/// sidecar written as in [`put_blocking`]. `None` when the file cannot be moved (another filesystem, or its size
/// is not the one given): the caller copies it instead.
fn put_owned_blocking(
    paths: &Paths,
    bucket: &str,
    key: &str,
    source: &Path,
    (size, sha256): (u64, String),
) -> Result<Option<ObjectInfo>, ObjectError> {
    let object_dir = parent_of(&paths.object)?;
    let meta_dir = parent_of(&paths.meta)?;
    create_parent(&paths.bucket_dir, object_dir, bucket, key)?;
    create_parent(&paths.meta_bucket_dir, meta_dir, bucket, key)?;
    let file = File::open(source)
        .map_err(|e| ObjectError::Other(format!("cannot read {}: {e}", source.display())))?;
    if size_of(&file, source)? != size {
        return Ok(None);
    }
    let digest = hex::decode(&sha256)
        .map_err(|_| ObjectError::Other(format!("not a SHA-256 in hex: {sha256}")))?;
    file.sync_all().map_err(|e| io_error(source, &e))?;
    drop(file);
    let moved = object_dir.join(format!("{TEMP_PREFIX}{}", new_version_id()));
    if std::fs::rename(source, &moved).is_err() {
        return Ok(None);
    }
    let info = ObjectInfo {
        bucket: bucket.to_owned(),
        key: key.to_owned(),
        size,
        sha256,
        etag: etag(&digest),
        version_id: new_version_id(),
    };
    let result = commit(paths, bucket, key, &moved, &info);
    if result.is_err() {
        let _ = std::fs::remove_file(&moved);
    }
    result.map(|()| Some(info))
}

/// Writes `info`'s sidecar, then renames `moved` (a file beside the object) onto the object and the sidecar into
/// place, under the key's lock, and makes both renames durable.
fn commit(
    paths: &Paths,
    bucket: &str,
    key: &str,
    moved: &Path,
    info: &ObjectInfo,
) -> Result<(), ObjectError> {
    let object_dir = parent_of(&paths.object)?;
    let meta_dir = parent_of(&paths.meta)?;
    let mut meta_tmp = temp_in(meta_dir)?;
    let json = serde_json::to_vec_pretty(info).map_err(|e| ObjectError::Other(e.to_string()))?;
    meta_tmp
        .write_all(&json)
        .and_then(|()| meta_tmp.as_file().sync_all())
        .map_err(|e| io_error(meta_tmp.path(), &e))?;
    {
        let _guard = lock_for(&paths.object)
            .write()
            .map_err(|_| ObjectError::Other("object lock poisoned".into()))?;
        std::fs::rename(moved, &paths.object).map_err(|e| {
            if paths.object.is_dir() {
                conflict(
                    bucket,
                    key,
                    &format!("longer keys under `{key}/` are already objects"),
                )
            } else {
                ObjectError::Other(format!("cannot store s3://{bucket}/{key}: {}", e.kind()))
            }
        })?;
        meta_tmp
            .persist(&paths.meta)
            .map_err(|e| io_error(&paths.meta, &e.error))?;
    }
    sync_dir(object_dir)?;
    sync_dir(meta_dir)
}

/// Opens the object for reading in place, after checking its size and SHA-256 against the sidecar.
fn open_checked_blocking(
    paths: &Paths,
    bucket: &str,
    key: &str,
) -> Result<(ObjectInfo, File), ObjectError> {
    use std::io::{Seek, SeekFrom};
    with_retries(paths, bucket, key, |info, mut file| {
        if let Err(why) = copy_checked(paths, bucket, key, &info, &mut file, &mut std::io::sink())?
        {
            return Ok(Err(why));
        }
        file.seek(SeekFrom::Start(0))
            .map_err(|e| io_error(&paths.object, &e))?;
        Ok(Ok((info, file)))
    })
}

/// Copies an object's bytes to `out`, checking them against its sidecar on the way: `Ok(Err(why))` when the
/// size or the SHA-256 differ (a write in progress or a damaged object, for [`with_retries`] to judge).
fn copy_checked(
    paths: &Paths,
    bucket: &str,
    key: &str,
    info: &ObjectInfo,
    file: &mut File,
    out: &mut impl std::io::Write,
) -> Result<Result<(), String>, ObjectError> {
    let size = size_of(file, &paths.object)?;
    if size != info.size {
        return Ok(Err(format!(
            "metadata says {} bytes, the file has {size}",
            info.size
        )));
    }
    let (read, digest) = copy_hashed(file, out)
        .map_err(|e| ObjectError::Other(format!("reading s3://{bucket}/{key}: {e}")))?;
    let sha256 = hex::encode(&digest);
    if read != info.size {
        return Ok(Err(format!(
            "metadata says {} bytes, read {read}",
            info.size
        )));
    }
    if sha256 != info.sha256 {
        return Ok(Err(format!(
            "sha256 is {sha256}, metadata says {}",
            info.sha256
        )));
    }
    Ok(Ok(()))
}

/// The sidecar and an open handle on the object's bytes, read together under the key's lock.
fn open_object(paths: &Paths, bucket: &str, key: &str) -> Result<(ObjectInfo, File), ObjectError> {
    let _guard = lock_for(&paths.object)
        .read()
        .map_err(|_| ObjectError::Other("object lock poisoned".into()))?;
    let json = match std::fs::read(&paths.meta) {
        Ok(json) => json,
        Err(e) if is_missing(&e) => return Err(not_found(bucket, key)),
        Err(e) => return Err(io_error(&paths.meta, &e)),
    };
    let info: ObjectInfo = serde_json::from_slice(&json).map_err(|e| ObjectError::Corrupt {
        bucket: bucket.to_owned(),
        key: key.to_owned(),
        reason: format!("unreadable metadata: {e}"),
    })?;
    let file = match File::open(&paths.object) {
        Ok(file) => file,
        Err(e) if is_missing(&e) => return Err(not_found(bucket, key)),
        Err(e) => return Err(io_error(&paths.object, &e)),
    };
    Ok((info, file))
}

fn is_missing(e: &std::io::Error) -> bool {
    // A path through a file (`a/b` where `a` is an object) is as absent as a missing one.
    matches!(
        e.kind(),
        std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
    )
}

/// Runs `attempt` until it succeeds, fails otherwise than by a mismatch, or the mismatch persists with the
/// same version (a concurrent overwrite from another process changes the version between attempts).
fn with_retries<T>(
    paths: &Paths,
    bucket: &str,
    key: &str,
    mut attempt: impl FnMut(ObjectInfo, File) -> Result<Result<T, String>, ObjectError>,
) -> Result<T, ObjectError> {
    let mut last: Option<(String, String)> = None;
    for _ in 0..READ_ATTEMPTS {
        let (info, file) = open_object(paths, bucket, key)?;
        if let Some((version, reason)) = &last {
            if *version == info.version_id {
                return Err(ObjectError::Corrupt {
                    bucket: bucket.to_owned(),
                    key: key.to_owned(),
                    reason: reason.clone(),
                });
            }
        }
        let version = info.version_id.clone();
        match attempt(info, file)? {
            Ok(value) => return Ok(value),
            Err(reason) => last = Some((version, reason)),
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let reason = last.map_or_else(|| "unstable".to_owned(), |(_, r)| r);
    Err(ObjectError::Corrupt {
        bucket: bucket.to_owned(),
        key: key.to_owned(),
        reason,
    })
}

fn size_of(file: &File, path: &Path) -> Result<u64, ObjectError> {
    file.metadata()
        .map(|m| m.len())
        .map_err(|e| io_error(path, &e))
}

fn head_blocking(paths: &Paths, bucket: &str, key: &str) -> Result<ObjectInfo, ObjectError> {
    with_retries(paths, bucket, key, |info, file| {
        let size = size_of(&file, &paths.object)?;
        Ok(if size == info.size {
            Ok(info)
        } else {
            Err(format!(
                "metadata says {} bytes, the file has {size}",
                info.size
            ))
        })
    })
}

fn get_blocking(
    paths: &Paths,
    bucket: &str,
    key: &str,
    dest: &Path,
) -> Result<ObjectInfo, ObjectError> {
    let dest_dir = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&dest_dir).map_err(|e| io_error(&dest_dir, &e))?;
    with_retries(paths, bucket, key, |info, mut file| {
        let mut tmp = temp_in(&dest_dir)?;
        if let Err(why) = copy_checked(paths, bucket, key, &info, &mut file, tmp.as_file_mut())? {
            return Ok(Err(why));
        }
        // Not synced: a download is a scratch copy that a crash may lose; the object itself is durable.
        tmp.persist(dest).map_err(|e| io_error(dest, &e.error))?;
        Ok(Ok(info))
    })
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ObjectError> + Send + 'static,
) -> Result<T, ObjectError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| ObjectError::Other(format!("object store task failed: {e}")))?
}

#[async_trait]
impl ObjectStore for FolderObjectStore {
    async fn put_file(
        &self,
        bucket: &str,
        key: &str,
        file: &Path,
    ) -> Result<ObjectInfo, ObjectError> {
        validate(bucket, key)?;
        let paths = self.paths(bucket, key);
        let (bucket, key, file) = (bucket.to_owned(), key.to_owned(), file.to_path_buf());
        blocking(move || put_blocking(&paths, &bucket, &key, &file)).await
    }

    async fn get_file(
        &self,
        bucket: &str,
        key: &str,
        dest: &Path,
    ) -> Result<ObjectInfo, ObjectError> {
        validate(bucket, key)?;
        let paths = self.paths(bucket, key);
        let (bucket, key, dest) = (bucket.to_owned(), key.to_owned(), dest.to_path_buf());
        blocking(move || get_blocking(&paths, &bucket, &key, &dest)).await
    }

    async fn put_owned_file(
        &self,
        bucket: &str,
        key: &str,
        file: &Path,
        kms_key: Option<&str>,
        digest: Option<(u64, String)>,
    ) -> Result<ObjectInfo, ObjectError> {
        validate(bucket, key)?;
        if let Some(digest) = digest {
            let paths = self.paths(bucket, key);
            let (b, k, f) = (bucket.to_owned(), key.to_owned(), file.to_path_buf());
            let moved = blocking(move || put_owned_blocking(&paths, &b, &k, &f, digest)).await?;
            if let Some(info) = moved {
                return Ok(info);
            }
        }
        let info = self.put_file_encrypted(bucket, key, file, kms_key).await?;
        let _ = std::fs::remove_file(file);
        Ok(info)
    }

    async fn open_checked(
        &self,
        bucket: &str,
        key: &str,
    ) -> Result<Option<(ObjectInfo, File)>, ObjectError> {
        validate(bucket, key)?;
        let paths = self.paths(bucket, key);
        let (bucket, key) = (bucket.to_owned(), key.to_owned());
        blocking(move || open_checked_blocking(&paths, &bucket, &key).map(Some)).await
    }

    async fn head(&self, bucket: &str, key: &str) -> Result<ObjectInfo, ObjectError> {
        validate(bucket, key)?;
        let paths = self.paths(bucket, key);
        let (bucket, key) = (bucket.to_owned(), key.to_owned());
        blocking(move || head_blocking(&paths, &bucket, &key)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_bucket(bucket: &str, valid: bool) {
        assert_eq!(validate_bucket(bucket).is_ok(), valid, "bucket {bucket:?}");
    }

    fn check_key(key: &str, valid: bool) {
        assert_eq!(validate_key(key).is_ok(), valid, "key {key:?}");
    }

    #[test]
    fn bucket_names_follow_s3_rules() {
        for ok in ["abc", "my-bucket.v2", "0ab", &"a".repeat(63)] {
            check_bucket(ok, true);
        }
        for bad in [
            "ab",
            &"a".repeat(64),
            "ABC",
            "a_b",
            "-ab",
            "ab-",
            ".ab",
            "a..b",
            "a b",
            "...",
        ] {
            check_bucket(bad, false);
        }
    }

    #[test]
    fn keys_that_could_leave_the_bucket_folder_are_refused() {
        for ok in ["a", "p/artifact/01J.zip", "with space/ü", "a..b/c.", "..a"] {
            check_key(ok, true);
        }
        for bad in [
            "",
            "/abs",
            "..",
            "a/../b",
            "a/..",
            "./a",
            "a//b",
            "a/",
            "a\\b",
            "a\0b",
            ".sluice-tmp-x",
            &"k".repeat(251),
            &"k/".repeat(600),
        ] {
            check_key(bad, false);
        }
    }

    #[test]
    fn etag_is_the_quoted_hex_of_the_first_half_of_the_sha256() {
        let digest = Sha256::digest(b"");
        assert_eq!(etag(&digest), "\"e3b0c44298fc1c149afbf4c8996fb924\"");
    }

    #[test]
    fn version_ids_differ_and_sort_by_time_within_a_process() {
        let a = new_version_id();
        let b = new_version_id();
        assert_ne!(a, b);
        assert_eq!(a.len(), 32);
        assert!(a[..16] <= b[..16]);
    }
}
