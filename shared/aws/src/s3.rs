//! The object store on S3. Each object carries its content's SHA-256 as user metadata (`sha256`), computed
//! while reading the file before the upload and checked again on every download.
//!
//! Objects Sluice did not write (an S3 source's zip a person uploaded, the output a CodeBuild build put where it
//! was told to) have no such metadata. They are read all the same: S3 makes an object visible only whole, the
//! download is hashed as it streams and checked against S3's own SHA-256 checksum when the object has one, and
//! the hash computed becomes the object's `sha256`. `head` reports S3's checksum for them, or an empty `sha256`
//! when S3 has none.
//!
//! Files above [`Multipart::threshold`] go up as a multipart upload, one part at a time read from disk, so
//! memory stays at one part whatever the file's size; the parts are hashed again as they are read and the
//! upload is completed only if that second reading matches the recorded SHA-256. Any failure aborts the
//! upload, so no partial object becomes visible (the bucket's lifecycle rule sweeps uploads a killed process
//! left open). Downloads stream into a temporary file beside the destination, renamed once the hash matches.
//!
//! `put_file_encrypted` asks for SSE-KMS with the key it is given (a pipeline's `artifactStore.encryptionKey`,
//! which jobs carry on their outputs, or an S3 deploy's `KMSEncryptionKeyARN`); without one, the store's own
//! key ([`S3ObjectStore::with_kms_key`]) if it has one, else the bucket's default encryption.
//!
//! Names are held to the folder store's rules (`sluice_local::objects`), so a pipeline that works on one
//! store works on the other.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    ChecksumAlgorithm, CompletedMultipartUpload, CompletedPart, ServerSideEncryption,
};
use aws_sdk_s3::Client;
use sha2::{Digest, Sha256};
use sluice_runtime::ports::{ObjectError, ObjectInfo, ObjectStore};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The metadata key holding the content's SHA-256, hex.
pub const SHA256_METADATA: &str = "sha256";

/// Temporary files (downloads in progress) start with this; keys may not, as in the folder store.
use sluice_runtime::objects::TEMP_PREFIX;
pub use sluice_runtime::objects::{validate_bucket, validate_key};

/// The version id S3 reports for objects of a bucket without versioning.
const NULL_VERSION: &str = "null";

const MIB: u64 = 1024 * 1024;

/// When a put goes up in parts, and how big the parts are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Multipart {
    threshold: u64,
    part_size: u64,
}

/// A part size S3 would refuse.
#[derive(Debug, Clone, thiserror::Error)]
#[error("part size {0} is outside S3's {min}..={max} bytes", min = Multipart::MIN_PART_SIZE, max = Multipart::MAX_PART_SIZE)]
pub struct InvalidPartSize(pub u64);

impl Multipart {
    /// S3's smallest part (every part but the last must be at least this).
    pub const MIN_PART_SIZE: u64 = 5 * MIB;
    /// S3's largest part.
    pub const MAX_PART_SIZE: u64 = 5 * 1024 * MIB;
    /// S3's most parts per upload.
    pub const MAX_PARTS: u64 = 10_000;

    /// Files larger than `threshold` bytes go up in parts of `part_size` bytes (grown for files that would
    /// otherwise need more than [`Self::MAX_PARTS`]). Any threshold is allowed (tests use small ones); the
    /// part size must be one S3 accepts.
    pub fn new(threshold: u64, part_size: u64) -> Result<Self, InvalidPartSize> {
        if !(Self::MIN_PART_SIZE..=Self::MAX_PART_SIZE).contains(&part_size) {
            return Err(InvalidPartSize(part_size));
        }
        Ok(Self {
            threshold,
            part_size,
        })
    }

    /// Files larger than this many bytes go up in parts.
    pub fn threshold(&self) -> u64 {
        self.threshold
    }

    /// The part size for a file of `size` bytes: the configured one, or the smallest whole MiB that keeps
    /// the upload within [`Self::MAX_PARTS`].
    pub fn part_size_for(&self, size: u64) -> u64 {
        let needed = size.div_ceil(Self::MAX_PARTS).div_ceil(MIB) * MIB;
        self.part_size.max(needed)
    }
}

impl Default for Multipart {
    /// Parts above 16 MiB, in 8 MiB parts.
    fn default() -> Self {
        Self {
            threshold: 16 * MIB,
            part_size: 8 * MIB,
        }
    }
}

/// [`ObjectStore`] over S3 buckets.
#[derive(Debug, Clone)]
pub struct S3ObjectStore {
    client: Client,
    /// Clients for buckets in other regions than `client`'s (S3 refuses a request signed for another
    /// region than its bucket's), by bucket.
    bucket_clients: std::collections::HashMap<String, Client>,
    multipart: Multipart,
    kms_key_id: Option<String>,
}

impl S3ObjectStore {
    /// A store using `client` for every bucket, with the default [`Multipart`] settings and the bucket's
    /// default encryption.
    pub fn new(client: Client) -> Self {
        Self {
            client,
            bucket_clients: std::collections::HashMap::new(),
            multipart: Multipart::default(),
            kms_key_id: None,
        }
    }

    /// The same store reaching `bucket` through `client` (one of the bucket's region), as a cross-region
    /// pipeline's artifact stores need.
    #[must_use]
    pub fn with_bucket_client(mut self, bucket: impl Into<String>, client: Client) -> Self {
        self.bucket_clients.insert(bucket.into(), client);
        self
    }

    fn client_for(&self, bucket: &str) -> &Client {
        self.bucket_clients.get(bucket).unwrap_or(&self.client)
    }

    /// The same store with other multipart settings.
    #[must_use]
    pub fn with_multipart(self, multipart: Multipart) -> Self {
        Self { multipart, ..self }
    }

    /// The same store encrypting every object it puts with SSE-KMS under `key_id` (a key id, ARN or alias,
    /// as in a pipeline's `artifactStore.encryptionKey.id`).
    #[must_use]
    pub fn with_kms_key(self, key_id: impl Into<String>) -> Self {
        Self {
            kms_key_id: Some(key_id.into()),
            ..self
        }
    }

    /// The KMS key puts are encrypted with, if any.
    pub fn kms_key_id(&self) -> Option<&str> {
        self.kms_key_id.as_deref()
    }

    /// The key a put is encrypted with: the one given, else the store's.
    fn kms<'a>(&'a self, given: Option<&'a str>) -> Option<&'a str> {
        given.or(self.kms_key_id.as_deref())
    }

    async fn put_single(
        &self,
        bucket: &str,
        key: &str,
        file: &Path,
        size: u64,
        sha256: String,
        kms: Option<&str>,
    ) -> Result<ObjectInfo, ObjectError> {
        let body = ByteStream::from_path(file)
            .await
            .map_err(|e| ObjectError::Other(format!("{}: {e}", file.display())))?;
        let output = self
            .client_for(bucket)
            .put_object()
            .bucket(bucket)
            .key(key)
            .body(body)
            .metadata(SHA256_METADATA, &sha256)
            .set_server_side_encryption(kms.map(|_| ServerSideEncryption::AwsKms))
            .set_ssekms_key_id(kms.map(str::to_owned))
            .send()
            .await
            .map_err(|e| object_error(&e, bucket, key))?;
        Ok(ObjectInfo {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            size,
            sha256,
            etag: output.e_tag().unwrap_or_default().to_owned(),
            version_id: output.version_id().unwrap_or(NULL_VERSION).to_owned(),
        })
    }

    async fn put_multipart(
        &self,
        bucket: &str,
        key: &str,
        file: &Path,
        size: u64,
        sha256: String,
        kms: Option<&str>,
    ) -> Result<ObjectInfo, ObjectError> {
        let created = self
            .client_for(bucket)
            .create_multipart_upload()
            .bucket(bucket)
            .key(key)
            .metadata(SHA256_METADATA, &sha256)
            .checksum_algorithm(ChecksumAlgorithm::Crc32)
            .set_server_side_encryption(kms.map(|_| ServerSideEncryption::AwsKms))
            .set_ssekms_key_id(kms.map(str::to_owned))
            .send()
            .await
            .map_err(|e| object_error(&e, bucket, key))?;
        let upload_id = created
            .upload_id()
            .ok_or_else(|| {
                ObjectError::Other(format!("s3://{bucket}/{key}: no upload id in the answer"))
            })?
            .to_owned();
        let upload = Upload {
            client: self.client_for(bucket),
            bucket,
            key,
            upload_id: &upload_id,
        };
        match upload
            .send_parts(file, size, self.multipart.part_size_for(size), &sha256)
            .await
        {
            Ok((etag, version_id)) => Ok(ObjectInfo {
                bucket: bucket.to_owned(),
                key: key.to_owned(),
                size,
                sha256,
                etag,
                version_id,
            }),
            Err(e) => {
                upload.abort().await;
                Err(e)
            }
        }
    }
}

/// One open multipart upload.
struct Upload<'a> {
    client: &'a Client,
    bucket: &'a str,
    key: &'a str,
    upload_id: &'a str,
}

impl Upload<'_> {
    /// Reads `file` part by part, uploads each part, and completes the upload if the file still has the
    /// `size` and `sha256` measured before: the etag and version id of the new object.
    async fn send_parts(
        &self,
        file: &Path,
        size: u64,
        part_size: u64,
        sha256: &str,
    ) -> Result<(String, String), ObjectError> {
        let mut reader = tokio::fs::File::open(file)
            .await
            .map_err(|e| io_error(file, &e))?;
        let mut hasher = Sha256::new();
        let mut parts = Vec::new();
        let mut sent = 0u64;
        let mut number = 0i32;
        while sent < size {
            number += 1;
            let want = part_size.min(size - sent);
            let mut part = Vec::with_capacity(usize::try_from(want).unwrap_or(0));
            (&mut reader)
                .take(want)
                .read_to_end(&mut part)
                .await
                .map_err(|e| io_error(file, &e))?;
            if part.len() as u64 != want {
                return Err(changed(file, "shrank"));
            }
            hasher.update(&part);
            sent += want;
            let output = self
                .client
                .upload_part()
                .bucket(self.bucket)
                .key(self.key)
                .upload_id(self.upload_id)
                .part_number(number)
                .checksum_algorithm(ChecksumAlgorithm::Crc32)
                .body(ByteStream::from(part))
                .send()
                .await
                .map_err(|e| object_error(&e, self.bucket, self.key))?;
            parts.push(
                CompletedPart::builder()
                    .part_number(number)
                    .set_e_tag(output.e_tag().map(str::to_owned))
                    .set_checksum_crc32(output.checksum_crc32().map(str::to_owned))
                    .build(),
            );
        }
        let mut probe = [0u8; 1];
        if reader
            .read(&mut probe)
            .await
            .map_err(|e| io_error(file, &e))?
            != 0
        {
            return Err(changed(file, "grew"));
        }
        if hex::encode(hasher.finalize()) != sha256 {
            return Err(changed(file, "changed"));
        }
        let output = self
            .client
            .complete_multipart_upload()
            .bucket(self.bucket)
            .key(self.key)
            .upload_id(self.upload_id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(parts))
                    .build(),
            )
            .send()
            .await
            .map_err(|e| object_error(&e, self.bucket, self.key))?;
        Ok((
            output.e_tag().unwrap_or_default().to_owned(),
            output.version_id().unwrap_or(NULL_VERSION).to_owned(),
        ))
    }

    /// Aborts the upload, dropping its parts; a failure is logged (the lifecycle rule is the backstop).
    async fn abort(&self) {
        if let Err(e) = self
            .client
            .abort_multipart_upload()
            .bucket(self.bucket)
            .key(self.key)
            .upload_id(self.upload_id)
            .send()
            .await
        {
            tracing::warn!(
                bucket = self.bucket,
                key = self.key,
                upload_id = self.upload_id,
                error = %aws_sdk_s3::error::DisplayErrorContext(&e),
                "could not abort a failed multipart upload"
            );
        }
    }
}

fn changed(file: &Path, how: &str) -> ObjectError {
    ObjectError::Other(format!(
        "{}: the file {how} while it was being uploaded",
        file.display()
    ))
}

#[async_trait]
impl ObjectStore for S3ObjectStore {
    async fn put_file(
        &self,
        bucket: &str,
        key: &str,
        file: &Path,
    ) -> Result<ObjectInfo, ObjectError> {
        self.put_file_encrypted(bucket, key, file, None).await
    }

    async fn put_file_encrypted(
        &self,
        bucket: &str,
        key: &str,
        file: &Path,
        kms_key: Option<&str>,
    ) -> Result<ObjectInfo, ObjectError> {
        validate(bucket, key)?;
        let kms = self.kms(kms_key);
        let (size, sha256) = digest_file(file).await?;
        if size > self.multipart.threshold {
            self.put_multipart(bucket, key, file, size, sha256, kms)
                .await
        } else {
            self.put_single(bucket, key, file, size, sha256, kms).await
        }
    }

    async fn get_file(
        &self,
        bucket: &str,
        key: &str,
        dest: &Path,
    ) -> Result<ObjectInfo, ObjectError> {
        self.get(bucket, key, None, dest).await
    }

    async fn get_file_version(
        &self,
        bucket: &str,
        key: &str,
        version_id: &str,
        dest: &Path,
    ) -> Result<ObjectInfo, ObjectError> {
        self.get(bucket, key, Some(version_id), dest).await
    }

    async fn head(&self, bucket: &str, key: &str) -> Result<ObjectInfo, ObjectError> {
        validate(bucket, key)?;
        let output = self
            .client_for(bucket)
            .head_object()
            .bucket(bucket)
            .key(key)
            .checksum_mode(aws_sdk_s3::types::ChecksumMode::Enabled)
            .send()
            .await
            .map_err(|e| object_error(&e, bucket, key))?;
        Ok(ObjectInfo {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            size: output
                .content_length()
                .and_then(|n| u64::try_from(n).ok())
                .unwrap_or_default(),
            sha256: output
                .metadata()
                .and_then(|m| m.get(SHA256_METADATA))
                .cloned()
                .or_else(|| s3_sha256(output.checksum_sha256()))
                .unwrap_or_default(),
            etag: output.e_tag().unwrap_or_default().to_owned(),
            version_id: output.version_id().unwrap_or(NULL_VERSION).to_owned(),
        })
    }
}

impl S3ObjectStore {
    /// GetObject of the newest version, or of `version_id`, streamed into `dest` and checked.
    async fn get(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
        dest: &Path,
    ) -> Result<ObjectInfo, ObjectError> {
        validate(bucket, key)?;
        let output = self
            .client_for(bucket)
            .get_object()
            .bucket(bucket)
            .key(key)
            .set_version_id(version_id.map(str::to_owned))
            .checksum_mode(aws_sdk_s3::types::ChecksumMode::Enabled)
            .send()
            .await
            .map_err(|e| object_error(&e, bucket, key))?;
        // Sluice's own record first; for objects Sluice did not write, S3's full-object checksum if any.
        let expected = output
            .metadata()
            .and_then(|m| m.get(SHA256_METADATA))
            .cloned()
            .or_else(|| s3_sha256(output.checksum_sha256()));
        let info = ObjectInfo {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            size: 0,
            sha256: expected.unwrap_or_default(),
            etag: output.e_tag().unwrap_or_default().to_owned(),
            version_id: output.version_id().unwrap_or(NULL_VERSION).to_owned(),
        };
        let temp = temp_path(dest)?;
        let result = download(output.body, &temp, &info).await;
        match result {
            Ok((size, sha256)) => {
                tokio::fs::rename(&temp, dest)
                    .await
                    .map_err(|e| io_error(dest, &e))
                    .inspect_err(|_| {
                        let _ = std::fs::remove_file(&temp);
                    })?;
                Ok(ObjectInfo {
                    size,
                    sha256,
                    ..info
                })
            }
            Err(e) => {
                let _ = tokio::fs::remove_file(&temp).await;
                Err(e)
            }
        }
    }
}

/// Streams `body` into `temp`, hashing it; the size and hash when the hash matches `info.sha256` (any hash when
/// that is empty: an object with no recorded checksum).
async fn download(
    mut body: ByteStream,
    temp: &Path,
    info: &ObjectInfo,
) -> Result<(u64, String), ObjectError> {
    let mut file = tokio::fs::File::create(temp)
        .await
        .map_err(|e| io_error(temp, &e))?;
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    while let Some(chunk) = body
        .try_next()
        .await
        .map_err(|e| ObjectError::Other(format!("s3://{}/{}: {e}", info.bucket, info.key)))?
    {
        hasher.update(&chunk);
        size += chunk.len() as u64;
        file.write_all(&chunk)
            .await
            .map_err(|e| io_error(temp, &e))?;
    }
    file.sync_all().await.map_err(|e| io_error(temp, &e))?;
    let actual = hex::encode(hasher.finalize());
    if !info.sha256.is_empty() && actual != info.sha256 {
        return Err(ObjectError::Corrupt {
            bucket: info.bucket.clone(),
            key: info.key.clone(),
            reason: format!("content has sha256 {actual}, recorded {}", info.sha256),
        });
    }
    Ok((size, actual))
}

/// S3's SHA-256 checksum of a whole object (base64) as hex; `None` for none, or for a multipart object's
/// checksum of checksums (`...-N`), which is no hash of the content.
fn s3_sha256(checksum: Option<&str>) -> Option<String> {
    use base64::Engine as _;
    let checksum = checksum?;
    if checksum.contains('-') {
        return None;
    }
    base64::engine::general_purpose::STANDARD
        .decode(checksum)
        .ok()
        .filter(|bytes| bytes.len() == 32)
        .map(hex::encode)
}

/// Size and SHA-256 of a local file, read through a buffer.
async fn digest_file(path: &Path) -> Result<(u64, String), ObjectError> {
    let mut file = tokio::fs::File::open(path)
        .await
        .map_err(|e| io_error(path, &e))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 64 * 1024];
    let mut size = 0u64;
    loop {
        let n = file
            .read(&mut buffer)
            .await
            .map_err(|e| io_error(path, &e))?;
        if n == 0 {
            return Ok((size, hex::encode(hasher.finalize())));
        }
        hasher.update(&buffer[..n]);
        size += n as u64;
    }
}

/// A temporary file next to `dest`, created with its folder if needed.
fn temp_path(dest: &Path) -> Result<PathBuf, ObjectError> {
    let dir = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir).map_err(|e| io_error(&dir, &e))?;
    let name = dest
        .file_name()
        .ok_or_else(|| ObjectError::Other(format!("{} names no file", dest.display())))?;
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    Ok(dir.join(format!(
        "{TEMP_PREFIX}{}-{}-{nanos:x}",
        name.to_string_lossy(),
        std::process::id()
    )))
}

fn io_error(path: &Path, e: &std::io::Error) -> ObjectError {
    ObjectError::Other(format!("{}: {e}", path.display()))
}

/// 404s and their codes become `NotFound`; everything else `Other`.
fn object_error<E>(e: &SdkError<E, HttpResponse>, bucket: &str, key: &str) -> ObjectError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let code = match e {
        SdkError::ServiceError(service) => service.err().code(),
        _ => None,
    };
    let status = e.raw_response().map(|r| r.status().as_u16());
    if status == Some(404) || matches!(code, Some("NoSuchKey" | "NoSuchBucket" | "NotFound")) {
        return ObjectError::NotFound {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
        };
    }
    ObjectError::Other(format!(
        "s3://{bucket}/{key}: {}",
        aws_sdk_s3::error::DisplayErrorContext(e)
    ))
}

fn validate(bucket: &str, key: &str) -> Result<(), ObjectError> {
    validate_bucket(bucket)?;
    validate_key(key)
}
