//! The object store's conformance suite: what a folder and S3 both guarantee.
//!
//! Objects go in and out as files, streamed; what comes out is byte for byte what went in, or an error
//! (`Corrupt`) with the destination left alone; names that could escape a folder are refused everywhere.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use sha2::{Digest, Sha256};
use sluice_runtime::ports::{ObjectError, ObjectInfo, ObjectStore};

use super::{ensure, namespace, Context, Outcome, Report};

/// Damages a stored object behind the store's back (its bytes change, its recorded checksum does not), the
/// way each adapter's storage can: a folder's file is rewritten, an S3 object is replaced by a raw put that
/// keeps the old checksum metadata.
#[async_trait]
pub trait Corrupter: Send + Sync {
    /// Changes the stored bytes of `bucket/key`, keeping their size.
    async fn corrupt(&self, bucket: &str, key: &str) -> Result<(), String>;
}

/// Where a check keeps its local files, and the key prefix it stores under.
struct Scratch {
    dir: PathBuf,
    prefix: String,
}

impl Scratch {
    fn new(root: &Path, check: &str) -> Result<Self, String> {
        let prefix = namespace("objects", check);
        let dir = root.join(prefix.replace('/', "_"));
        std::fs::create_dir_all(&dir).context(format!("create {}", dir.display()))?;
        Ok(Self { dir, prefix })
    }

    fn file(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    fn key(&self, name: &str) -> String {
        format!("{}/{name}", self.prefix)
    }
}

/// Writes `size` deterministic pseudo-random bytes to `path` through a small buffer; returns their SHA-256.
fn write_pattern(path: &Path, size: usize, seed: u64) -> Result<String, String> {
    let mut file = File::create(path).context(format!("create {}", path.display()))?;
    let mut hasher = Sha256::new();
    let mut state = seed | 1;
    let mut buffer = [0u8; 8192];
    let mut left = size;
    while left > 0 {
        let n = left.min(buffer.len());
        for byte in &mut buffer[..n] {
            // xorshift64: cheap bytes that compress badly, so no layer can cheat by deduplicating.
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            *byte = state.to_le_bytes()[0];
        }
        hasher.update(&buffer[..n]);
        file.write_all(&buffer[..n])
            .context(format!("write {}", path.display()))?;
        left -= n;
    }
    file.sync_all().context("sync")?;
    Ok(hex::encode(hasher.finalize()))
}

/// The size and SHA-256 of a local file, read through a small buffer.
fn digest_file(path: &Path) -> Result<(u64, String), String> {
    let mut file = File::open(path).context(format!("open {}", path.display()))?;
    let mut hasher = Sha256::new();
    let mut buffer = [0u8; 8192];
    let mut size = 0u64;
    loop {
        let n = file
            .read(&mut buffer)
            .context(format!("read {}", path.display()))?;
        if n == 0 {
            return Ok((size, hex::encode(hasher.finalize())));
        }
        hasher.update(&buffer[..n]);
        size += n as u64;
    }
}

/// The info a put of content with `sha256` and `size` must report.
fn check_info(info: &ObjectInfo, bucket: &str, key: &str, size: u64, sha256: &str) -> Outcome {
    ensure!(
        info.bucket == bucket && info.key == key,
        "info names s3://{}/{}, expected s3://{bucket}/{key}",
        info.bucket,
        info.key
    );
    ensure!(
        info.size == size,
        "info says {} bytes, expected {size}",
        info.size
    );
    ensure!(
        info.sha256 == sha256,
        "info says sha256 {}, expected {sha256}",
        info.sha256
    );
    ensure!(
        info.etag.len() >= 3 && info.etag.starts_with('"') && info.etag.ends_with('"'),
        "etag {:?} is not quoted like S3's",
        info.etag
    );
    ensure!(!info.version_id.is_empty(), "no version id");
    Ok(())
}

fn expect_not_found<T: std::fmt::Debug>(result: Result<T, ObjectError>, what: &str) -> Outcome {
    match result {
        Err(ObjectError::NotFound { .. }) => Ok(()),
        other => Err(format!("{what}: expected NotFound, got {other:?}")),
    }
}

/// A 5 MiB file goes in and comes out byte for byte, with its SHA-256 reported by put, head and get.
pub async fn five_mib_round_trip(store: &dyn ObjectStore, bucket: &str, root: &Path) -> Outcome {
    let scratch = Scratch::new(root, "five_mib_round_trip")?;
    let size = 5 * 1024 * 1024;
    let source = scratch.file("source.bin");
    let sha256 = write_pattern(&source, size, 0x5EED)?;
    let key = scratch.key("pipeline/BuildOutput/01HZX.zip");
    let put = store.put_file(bucket, &key, &source).await.context("put")?;
    check_info(&put, bucket, &key, size as u64, &sha256)?;
    let dest = scratch.file("out/fetched.bin");
    let got = store.get_file(bucket, &key, &dest).await.context("get")?;
    ensure!(got == put, "get reported {got:?}, put reported {put:?}");
    let (got_size, got_sha256) = digest_file(&dest)?;
    ensure!(
        got_size == size as u64 && got_sha256 == sha256,
        "fetched {got_size} bytes with sha256 {got_sha256}, stored {size} with {sha256}"
    );
    Ok(())
}

/// Empty files and keys with spaces and non-ASCII characters round-trip too.
pub async fn empty_files_and_unusual_keys_round_trip(
    store: &dyn ObjectStore,
    bucket: &str,
    root: &Path,
) -> Outcome {
    let scratch = Scratch::new(root, "empty_files_and_unusual_keys_round_trip")?;
    for (name, size) in [("empty", 0), ("with space/ünï ✓/a..b.zip", 1000)] {
        let source = scratch.file("source");
        let sha256 = write_pattern(&source, size, 7)?;
        let key = scratch.key(name);
        let put = store
            .put_file(bucket, &key, &source)
            .await
            .context(format!("put {key}"))?;
        check_info(&put, bucket, &key, size as u64, &sha256)?;
        let dest = scratch.file("dest");
        store
            .get_file(bucket, &key, &dest)
            .await
            .context(format!("get {key}"))?;
        let (got_size, got_sha256) = digest_file(&dest)?;
        ensure!(
            got_size == size as u64 && got_sha256 == sha256,
            "{key}: fetched {got_size} bytes with sha256 {got_sha256}"
        );
    }
    Ok(())
}

/// Head describes a stored object as put did, and a missing one as `NotFound`.
pub async fn head_describes_without_fetching(
    store: &dyn ObjectStore,
    bucket: &str,
    root: &Path,
) -> Outcome {
    let scratch = Scratch::new(root, "head_describes_without_fetching")?;
    let source = scratch.file("source");
    write_pattern(&source, 4096, 3)?;
    let key = scratch.key("headed");
    let put = store.put_file(bucket, &key, &source).await.context("put")?;
    let head = store.head(bucket, &key).await.context("head")?;
    ensure!(head == put, "head reported {head:?}, put reported {put:?}");
    expect_not_found(
        store.head(bucket, &scratch.key("missing")).await,
        "head of a missing key",
    )?;
    Ok(())
}

/// Putting a key again replaces the content and gives a new version id, and the etag follows the content.
pub async fn overwrite_gives_a_new_version(
    store: &dyn ObjectStore,
    bucket: &str,
    root: &Path,
) -> Outcome {
    let scratch = Scratch::new(root, "overwrite_gives_a_new_version")?;
    let key = scratch.key("twice");
    let (first, second) = (scratch.file("first"), scratch.file("second"));
    write_pattern(&first, 2048, 1)?;
    let second_sha256 = write_pattern(&second, 1024, 2)?;
    let a = store
        .put_file(bucket, &key, &first)
        .await
        .context("first put")?;
    let b = store
        .put_file(bucket, &key, &second)
        .await
        .context("second put")?;
    ensure!(
        a.version_id != b.version_id,
        "both puts have version {}",
        a.version_id
    );
    ensure!(
        a.etag != b.etag,
        "different contents have the same etag {}",
        a.etag
    );
    let again = store
        .put_file(bucket, &key, &second)
        .await
        .context("third put")?;
    ensure!(
        again.etag == b.etag,
        "the same content got etags {} and {}",
        b.etag,
        again.etag
    );
    ensure!(
        again.version_id != b.version_id,
        "a put of the same content kept the version id"
    );
    let head = store.head(bucket, &key).await.context("head")?;
    ensure!(
        head == again,
        "head shows {head:?}, expected the last put {again:?}"
    );
    let dest = scratch.file("dest");
    store.get_file(bucket, &key, &dest).await.context("get")?;
    let (size, sha256) = digest_file(&dest)?;
    ensure!(
        size == 1024 && sha256 == second_sha256,
        "get returned {size} bytes with sha256 {sha256}, not the last content"
    );
    Ok(())
}

/// A get of a missing key (or bucket) is `NotFound` and creates no destination file.
pub async fn get_of_a_missing_key_is_not_found(
    store: &dyn ObjectStore,
    bucket: &str,
    root: &Path,
) -> Outcome {
    let scratch = Scratch::new(root, "get_of_a_missing_key_is_not_found")?;
    let dest = scratch.file("never");
    expect_not_found(
        store.get_file(bucket, &scratch.key("missing"), &dest).await,
        "get of a missing key",
    )?;
    expect_not_found(
        store
            .get_file(
                "sluice-conformance-no-such-bucket",
                &scratch.key("x"),
                &dest,
            )
            .await,
        "get from a missing bucket",
    )?;
    ensure!(!dest.exists(), "a failed get created {}", dest.display());
    Ok(())
}

/// Bucket names outside S3's rules and keys that could leave a folder are refused by put, get and head.
pub async fn invalid_names_are_refused(
    store: &dyn ObjectStore,
    bucket: &str,
    root: &Path,
) -> Outcome {
    let scratch = Scratch::new(root, "invalid_names_are_refused")?;
    let source = scratch.file("source");
    write_pattern(&source, 10, 9)?;
    let dest = scratch.file("dest");
    let good_key = scratch.key("fine");
    let long_bucket = "b".repeat(64);
    let mut names: Vec<(&str, String)> = [
        "ab",
        long_bucket.as_str(),
        "Upper-Case",
        "under_score",
        "-dash",
        "a..b",
    ]
    .into_iter()
    .map(|b| (b, good_key.clone()))
    .collect();
    for key in [
        "",
        "/absolute",
        "..",
        "../escape",
        "a/../../b",
        "a//b",
        "trailing/",
        "back\\slash",
        "nul\0byte",
    ] {
        let key = if key.is_empty() || key.starts_with('/') || key.starts_with("..") {
            key.to_owned()
        } else {
            scratch.key(key)
        };
        names.push((bucket, key));
    }
    for (b, key) in &names {
        let refused = |result: Result<ObjectInfo, ObjectError>, op: &str| match result {
            Err(ObjectError::InvalidName(_)) => Ok(()),
            other => Err(format!(
                "{op} s3://{b}/{key:?}: expected InvalidName, got {other:?}"
            )),
        };
        refused(store.put_file(b, key, &source).await, "put")?;
        refused(store.get_file(b, key, &dest).await, "get")?;
        refused(store.head(b, key).await, "head")?;
    }
    ensure!(!dest.exists(), "a refused get created {}", dest.display());
    Ok(())
}

/// A put from a file that does not exist fails and stores nothing.
pub async fn put_of_a_missing_file_stores_nothing(
    store: &dyn ObjectStore,
    bucket: &str,
    root: &Path,
) -> Outcome {
    let scratch = Scratch::new(root, "put_of_a_missing_file_stores_nothing")?;
    let key = scratch.key("ghost");
    let result = store
        .put_file(bucket, &key, &scratch.file("no-such-file"))
        .await;
    ensure!(result.is_err(), "put of a missing file reported {result:?}");
    expect_not_found(store.head(bucket, &key).await, "head after a failed put")?;
    Ok(())
}

/// Content that no longer matches its checksum is `Corrupt` for get, which leaves the destination as it
/// was: absent when it was absent, unchanged when it existed.
pub async fn corrupt_content_is_refused(
    store: &dyn ObjectStore,
    bucket: &str,
    root: &Path,
    corrupter: &dyn Corrupter,
) -> Outcome {
    let scratch = Scratch::new(root, "corrupt_content_is_refused")?;
    let source = scratch.file("source");
    write_pattern(&source, 100_000, 11)?;
    let key = scratch.key("damaged");
    store.put_file(bucket, &key, &source).await.context("put")?;
    corrupter.corrupt(bucket, &key).await.context("corrupt")?;
    let dest = scratch.file("absent");
    match store.get_file(bucket, &key, &dest).await {
        Err(ObjectError::Corrupt { .. }) => {}
        other => {
            return Err(format!(
                "get of a corrupted object: expected Corrupt, got {other:?}"
            ))
        }
    }
    ensure!(!dest.exists(), "a corrupt get created {}", dest.display());
    let existing = scratch.file("existing");
    std::fs::write(&existing, b"previous content").context("write existing")?;
    match store.get_file(bucket, &key, &existing).await {
        Err(ObjectError::Corrupt { .. }) => {}
        other => {
            return Err(format!(
                "second get of a corrupted object: expected Corrupt, got {other:?}"
            ))
        }
    }
    let kept = std::fs::read(&existing).context("read existing")?;
    ensure!(
        kept == b"previous content",
        "a corrupt get changed the destination"
    );
    let leftovers: Vec<_> = std::fs::read_dir(&scratch.dir)
        .context("list scratch")?
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !["source", "existing"].contains(&n.as_str()))
        .collect();
    ensure!(
        leftovers.is_empty(),
        "failed gets left files behind: {leftovers:?}"
    );
    Ok(())
}

macro_rules! run {
    ($report:ident, $($check:ident($($arg:expr),*)),+ $(,)?) => {
        $( $report.record(stringify!($check), $check($($arg),*).await); )+
    };
}

/// Runs every check against `store` in `bucket` (which must exist), with local files under `scratch`;
/// `corrupter` damages stored objects for the corruption check. `Ok` holds how many checks passed, `Err`
/// lists every failure.
pub async fn run_all(
    store: &dyn ObjectStore,
    bucket: &str,
    scratch: &Path,
    corrupter: &dyn Corrupter,
) -> Result<usize, String> {
    let mut report = Report::new("object store");
    run!(
        report,
        five_mib_round_trip(store, bucket, scratch),
        empty_files_and_unusual_keys_round_trip(store, bucket, scratch),
        head_describes_without_fetching(store, bucket, scratch),
        overwrite_gives_a_new_version(store, bucket, scratch),
        get_of_a_missing_key_is_not_found(store, bucket, scratch),
        invalid_names_are_refused(store, bucket, scratch),
        put_of_a_missing_file_stores_nothing(store, bucket, scratch),
        corrupt_content_is_refused(store, bucket, scratch, corrupter),
    );
    report.finish()
}
