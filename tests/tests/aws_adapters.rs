//! The AWS adapters (`sluice-aws`) against the conformance suites, on whatever `AWS_ENDPOINT_URL` points at:
//! the moto emulator under `make test` (`infra/moto.sh start`), or a real account.
//!
//! Each run creates its own table and bucket, so runs never see each other's data.

use async_trait::async_trait;
use aws_sdk_s3::primitives::ByteStream;
use sluice_aws::{DynamoStore, S3ObjectStore};
use sluice_tests::conformance::{self, objects::Corrupter};
use sluice_tests::moto::{self, config, serial_dynamodb, unique};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dynamo_store_passes_the_item_store_conformance_suite() {
    // On the serial emulator: moto's threaded server applies a transaction's condition and writes without a
    // lock, so racing writers could both win there whatever the adapter does (seen: a lost update in the
    // racing-increments check); DynamoDB applies each request atomically, as the serial emulator does. The races
    // (sixteen writers for one lock item, exactly one wins; racing versioned increments lose nothing) then show
    // that the adapter's writes are conditioned correctly.
    let client = serial_dynamodb().await;
    let table = unique("sluice-conformance");
    DynamoStore::create_table(&client, &table)
        .await
        .expect("create table");
    let store = DynamoStore::new(client, table);
    let passed = conformance::store::run_all(&store)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(passed, 15);
}

/// Replaces an object's bytes with a raw PutObject (middle bytes flipped, same size) that keeps its old
/// metadata, so the recorded checksum no longer matches.
struct RawOverwrite(aws_sdk_s3::Client);

#[async_trait]
impl Corrupter for RawOverwrite {
    async fn corrupt(&self, bucket: &str, key: &str) -> Result<(), String> {
        let object = self
            .0
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| format!("get: {e:?}"))?;
        let metadata = object.metadata().cloned();
        let mut bytes = object
            .body
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_vec();
        let middle = bytes.len() / 2;
        for byte in bytes.iter_mut().skip(middle).take(16) {
            *byte ^= 0xff;
        }
        self.0
            .put_object()
            .bucket(bucket)
            .key(key)
            .body(ByteStream::from(bytes))
            .set_metadata(metadata)
            .send()
            .await
            .map_err(|e| format!("put: {e:?}"))?;
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn s3_object_store_passes_the_object_store_conformance_suite() {
    let client = aws_sdk_s3::Client::new(&config().await);
    let bucket = unique("sluice-conformance");
    client
        .create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("create bucket");
    // Artifact buckets are versioned (each put of a key is a new version), as the suite checks.
    moto::enable_versioning(&client, &bucket).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let store = S3ObjectStore::new(client.clone());
    let passed = conformance::objects::run_all(
        &store,
        &bucket,
        &dir.path().join("scratch"),
        &RawOverwrite(client),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(passed, 8);
}

/// The same suite with every non-empty file going up as a multipart upload (`tests/tests/aws_s3.rs` has the
/// multipart, failure and KMS cases).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn multipart_puts_pass_the_object_store_conformance_suite() {
    let client = aws_sdk_s3::Client::new(&config().await);
    let bucket = unique("sluice-conformance");
    client
        .create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("create bucket");
    moto::enable_versioning(&client, &bucket).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let every_file = sluice_aws::s3::Multipart::new(0, sluice_aws::s3::Multipart::MIN_PART_SIZE)
        .expect("part size");
    let store = S3ObjectStore::new(client.clone()).with_multipart(every_file);
    let passed = conformance::objects::run_all(
        &store,
        &bucket,
        &dir.path().join("scratch"),
        &RawOverwrite(client),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(passed, 8);
}

/// The adapter and the folder store refuse the same names.
#[test]
fn name_rules_match_the_folder_store() {
    for bucket in ["ab", "Upper", "a..b", "-dash", "fine-bucket", "ok.bucket.1"] {
        assert_eq!(
            sluice_aws::s3::validate_bucket(bucket).is_ok(),
            sluice_local::objects::validate_bucket(bucket).is_ok(),
            "{bucket}"
        );
    }
    for key in [
        "",
        "/a",
        "a//b",
        "a/../b",
        "a/.sluice-tmp-x",
        "back\\slash",
        "ok/key.zip",
    ] {
        assert_eq!(
            sluice_aws::s3::validate_key(key).is_ok(),
            sluice_local::objects::validate_key(key).is_ok(),
            "{key}"
        );
    }
}
