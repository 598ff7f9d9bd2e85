//! The S3 object store's multipart uploads and KMS encryption, on whatever `AWS_ENDPOINT_URL` points at (moto
//! under `make test`). Parts are S3's smallest (5 MiB) with a threshold that sends an 11 MiB file up in three
//! parts; failures are injected with an SDK interceptor on the store's own client.

use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use aws_sdk_s3::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_s3::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_s3::error::BoxError;
use aws_sdk_s3::types::ServerSideEncryption;
use sha2::{Digest, Sha256};
use sluice_aws::s3::{Multipart, SHA256_METADATA};
use sluice_aws::S3ObjectStore;
use sluice_runtime::ports::{ObjectError, ObjectStore};
use sluice_tests::moto::{config, unique};

const MIB: u64 = 1024 * 1024;

/// Three parts: 5 MiB, 5 MiB and the rest.
const LARGE: u64 = 11 * MIB + 3;

fn small_parts() -> Multipart {
    Multipart::new(5 * MIB, Multipart::MIN_PART_SIZE).expect("S3's smallest part size")
}

async fn client() -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::new(&config().await)
}

/// A client whose requests pass through `interceptor` first.
async fn client_with(interceptor: impl Intercept + 'static) -> aws_sdk_s3::Client {
    let sdk = config().await;
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&sdk)
            .interceptor(interceptor)
            .build(),
    )
}

async fn bucket(client: &aws_sdk_s3::Client) -> String {
    let bucket = unique("sluice-s3");
    client
        .create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("create bucket");
    bucket
}

/// A file of `size` bytes that no two offsets of a part repeat in a way S3 could mistake for another part.
fn write_file(path: &Path, size: u64) -> String {
    let mut file = std::fs::File::create(path).expect("create file");
    let mut hasher = Sha256::new();
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut left = size;
    let mut block = vec![0u8; 64 * 1024];
    while left > 0 {
        for byte in &mut block {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            *byte = state.to_le_bytes()[0];
        }
        let n = usize::try_from(left.min(block.len() as u64)).expect("small block");
        file.write_all(&block[..n]).expect("write");
        hasher.update(&block[..n]);
        left -= n as u64;
    }
    hex::encode(hasher.finalize())
}

fn sha256_of(path: &Path) -> String {
    hex::encode(Sha256::digest(std::fs::read(path).expect("read")))
}

/// The bucket has no object under `key` and no multipart upload left open.
async fn assert_nothing_left(client: &aws_sdk_s3::Client, store: &S3ObjectStore, bucket: &str) {
    let listed = client
        .list_objects_v2()
        .bucket(bucket)
        .send()
        .await
        .expect("list objects");
    assert_eq!(
        listed.key_count(),
        Some(0),
        "objects: {:?}",
        listed.contents()
    );
    let uploads = client
        .list_multipart_uploads()
        .bucket(bucket)
        .send()
        .await
        .expect("list uploads");
    assert!(
        uploads.uploads().is_empty(),
        "open uploads: {:?}",
        uploads.uploads()
    );
    assert!(matches!(
        store.head(bucket, "big/artifact.zip").await,
        Err(ObjectError::NotFound { .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_above_the_threshold_goes_up_in_parts_and_round_trips_with_its_checksum() {
    let client = client().await;
    let bucket = bucket(&client).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let source = dir.path().join("big.zip");
    let sha256 = write_file(&source, LARGE);
    let store = S3ObjectStore::new(client.clone()).with_multipart(small_parts());

    let put = store
        .put_file(&bucket, "big/artifact.zip", &source)
        .await
        .expect("put");
    assert_eq!((put.size, put.sha256.as_str()), (LARGE, sha256.as_str()));
    // A multipart object's ETag ends in its part count.
    assert!(put.etag.trim_matches('"').ends_with("-3"), "{}", put.etag);

    let head = client
        .head_object()
        .bucket(&bucket)
        .key("big/artifact.zip")
        .send()
        .await
        .expect("head");
    assert_eq!(head.content_length(), Some(LARGE as i64));
    assert_eq!(
        head.metadata().and_then(|m| m.get(SHA256_METADATA)),
        Some(&sha256)
    );

    let dest = dir.path().join("out/big.zip");
    let got = store
        .get_file(&bucket, "big/artifact.zip", &dest)
        .await
        .expect("get");
    assert_eq!((got.size, got.sha256.as_str()), (LARGE, sha256.as_str()));
    assert_eq!(sha256_of(&dest), sha256);

    // At the threshold itself a file still goes up in one PutObject.
    let at = dir.path().join("at.zip");
    write_file(&at, 5 * MIB);
    let put = store
        .put_file(&bucket, "at/threshold.zip", &at)
        .await
        .expect("put");
    assert!(!put.etag.contains('-'), "{}", put.etag);
}

/// Fails every UploadPart request for one part number, counting them.
#[derive(Debug)]
struct FailPart {
    number: u32,
    seen: Arc<AtomicUsize>,
}

fn is_part(context: &BeforeTransmitInterceptorContextRef<'_>, number: u32) -> bool {
    let uri = context.request().uri();
    uri.contains("uploadId=") && uri.contains(&format!("partNumber={number}"))
}

impl Intercept for FailPart {
    fn name(&self) -> &'static str {
        "FailPart"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if is_part(context, self.number) {
            self.seen.fetch_add(1, Ordering::SeqCst);
            return Err(format!("injected failure of part {}", self.number).into());
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_part_aborts_the_upload_and_leaves_no_object() {
    let plain = client().await;
    let bucket = bucket(&plain).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let source = dir.path().join("big.zip");
    write_file(&source, LARGE);
    let seen = Arc::new(AtomicUsize::new(0));
    let failing = client_with(FailPart {
        number: 2,
        seen: seen.clone(),
    })
    .await;
    let store = S3ObjectStore::new(failing).with_multipart(small_parts());

    let err = store
        .put_file(&bucket, "big/artifact.zip", &source)
        .await
        .expect_err("part 2 fails");
    assert!(err.to_string().contains("s3://"), "{err}");
    assert!(seen.load(Ordering::SeqCst) >= 1, "part 2 was never sent");
    assert_nothing_left(&plain, &S3ObjectStore::new(plain.clone()), &bucket).await;
}

/// Rewrites the last bytes of a file (same size) when part 1 of its upload is sent: the file changed
/// between the digest and the upload.
#[derive(Debug)]
struct RewriteFile(PathBuf);

impl Intercept for RewriteFile {
    fn name(&self) -> &'static str {
        "RewriteFile"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if is_part(context, 1) {
            let mut file = std::fs::OpenOptions::new().write(true).open(&self.0)?;
            file.seek(SeekFrom::End(-16))?;
            file.write_all(&[0xa5; 16])?;
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_changed_during_the_upload_is_not_completed() {
    let plain = client().await;
    let bucket = bucket(&plain).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let source = dir.path().join("big.zip");
    write_file(&source, LARGE);
    let store = S3ObjectStore::new(client_with(RewriteFile(source.clone())).await)
        .with_multipart(small_parts());

    let err = store
        .put_file(&bucket, "big/artifact.zip", &source)
        .await
        .expect_err("the file changed");
    assert!(err.to_string().contains("changed"), "{err}");
    assert_nothing_left(&plain, &S3ObjectStore::new(plain.clone()), &bucket).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vanished_file_fails_before_any_upload_starts() {
    let plain = client().await;
    let bucket = bucket(&plain).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let store = S3ObjectStore::new(plain.clone()).with_multipart(small_parts());
    let err = store
        .put_file(&bucket, "big/artifact.zip", &dir.path().join("gone.zip"))
        .await
        .expect_err("no file");
    assert!(err.to_string().contains("gone.zip"), "{err}");
    assert_nothing_left(&plain, &store, &bucket).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_with_a_kms_key_encrypts_single_and_multipart_puts_with_it() {
    let client = client().await;
    let bucket = bucket(&client).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let key_id = "arn:aws:kms:us-east-1:123456789012:key/0b6a7f0e-5d2c-4c1e-9d4e-3a8f6f1c2b7d";
    let store = S3ObjectStore::new(client.clone())
        .with_multipart(small_parts())
        .with_kms_key(key_id);
    assert_eq!(store.kms_key_id(), Some(key_id));
    for (key, size) in [("small.zip", 1000), ("big.zip", LARGE)] {
        let source = dir.path().join(key);
        let sha256 = write_file(&source, size);
        store.put_file(&bucket, key, &source).await.expect("put");
        let head = client
            .head_object()
            .bucket(&bucket)
            .key(key)
            .send()
            .await
            .expect("head");
        assert_eq!(
            head.server_side_encryption(),
            Some(&ServerSideEncryption::AwsKms),
            "{key}"
        );
        assert_eq!(head.ssekms_key_id(), Some(key_id), "{key}");
        let dest = dir.path().join("out").join(key);
        store.get_file(&bucket, key, &dest).await.expect("get");
        assert_eq!(sha256_of(&dest), sha256);
    }
}

#[test]
fn part_sizes_follow_s3_limits() {
    assert!(Multipart::new(0, Multipart::MIN_PART_SIZE - 1).is_err());
    assert!(Multipart::new(0, Multipart::MAX_PART_SIZE + 1).is_err());
    let default = Multipart::default();
    assert_eq!(default.threshold(), 16 * MIB);
    assert_eq!(default.part_size_for(100 * MIB), 8 * MIB);
    // 10,000 parts of 8 MiB hold 80,000 MiB; a 200 GiB file needs 21 MiB parts.
    assert_eq!(default.part_size_for(200 * 1024 * MIB), 21 * MIB);
}

/// Records the region every request is signed for.
#[derive(Debug)]
struct Regions(Arc<std::sync::Mutex<Vec<String>>>);

impl Intercept for Regions {
    fn name(&self) -> &'static str {
        "Regions"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let auth = context
            .request()
            .headers()
            .get("authorization")
            .unwrap_or_default();
        // `Credential=<key>/<date>/<region>/s3/aws4_request`
        let region = auth
            .split("Credential=")
            .nth(1)
            .and_then(|c| c.split('/').nth(2))
            .unwrap_or("?");
        self.0.lock().expect("lock").push(region.to_owned());
        Ok(())
    }
}

/// A bucket given its own client (a cross-region pipeline's artifact store in another region) is reached
/// through it, signed for its region; every other bucket through the store's client.
#[tokio::test]
async fn a_bucket_with_its_own_client_is_reached_in_its_region() {
    let home_seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let west_seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let sdk = config().await;
    let home = client_with(Regions(home_seen.clone())).await;
    let west = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&sdk)
            .region(aws_sdk_s3::config::Region::new("eu-west-1"))
            .interceptor(Regions(west_seen.clone()))
            .build(),
    );
    let home_bucket = bucket(&client().await).await;
    let west_bucket = bucket(&client().await).await;
    let store = S3ObjectStore::new(home).with_bucket_client(west_bucket.clone(), west);
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("a.zip");
    std::fs::write(&file, b"artifact").expect("file");

    store
        .put_file(&west_bucket, "p/a", &file)
        .await
        .expect("put in the west");
    store
        .get_file(&west_bucket, "p/a", &dir.path().join("back"))
        .await
        .expect("get from the west");
    let west_regions = west_seen.lock().expect("lock").clone();
    assert!(!west_regions.is_empty());
    assert!(
        west_regions.iter().all(|r| r == "eu-west-1"),
        "{west_regions:?}"
    );
    assert!(home_seen.lock().expect("lock").is_empty());

    store
        .put_file(&home_bucket, "p/a", &file)
        .await
        .expect("put at home");
    let home_regions = home_seen.lock().expect("lock").clone();
    assert!(
        home_regions.iter().all(|r| r == "us-east-1"),
        "{home_regions:?}"
    );
    assert_eq!(west_seen.lock().expect("lock").len(), west_regions.len());
}
