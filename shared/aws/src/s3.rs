//! The object store on S3. Each object carries its content's SHA-256 as user metadata (`sha256`), computed
//! while reading the file before the upload and checked again on every download.
//!
//! Names are held to the folder store's rules (`sluice_local::objects`), so a pipeline that works on one
//! store works on the other.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::Client;
use sha2::{Digest, Sha256};
use sluice_core::runtime::ports::{ObjectError, ObjectInfo, ObjectStore};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The metadata key holding the content's SHA-256, hex.
pub const SHA256_METADATA: &str = "sha256";

/// Temporary files (downloads in progress) start with this; keys may not, as in the folder store.
use sluice_core::runtime::object_names::TEMP_PREFIX;
pub use sluice_core::runtime::object_names::{validate_bucket, validate_key};

/// The version id S3 reports for objects of a bucket without versioning.
const NULL_VERSION: &str = "null";

/// [`ObjectStore`] over S3 buckets.
#[derive(Debug, Clone)]
pub struct S3ObjectStore {
    client: Client,
}

impl S3ObjectStore {
    /// A store using `client` for every bucket.
    pub fn new(client: Client) -> Self {
        Self { client }
    }
}

#[async_trait]
impl ObjectStore for S3ObjectStore {
    async fn put_file(
        &self,
        bucket: &str,
        key: &str,
        file: &Path,
    ) -> Result<ObjectInfo, ObjectError> {
        validate(bucket, key)?;
        let (size, sha256) = digest_file(file).await?;
        let body = ByteStream::from_path(file)
            .await
            .map_err(|e| ObjectError::Other(format!("{}: {e}", file.display())))?;
        let output = self
            .client
            .put_object()
            .bucket(bucket)
            .key(key)
            .body(body)
            .metadata(SHA256_METADATA, &sha256)
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

    async fn get_file(
        &self,
        bucket: &str,
        key: &str,
        dest: &Path,
    ) -> Result<ObjectInfo, ObjectError> {
        validate(bucket, key)?;
        let output = self
            .client
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| object_error(&e, bucket, key))?;
        let expected = recorded_sha256(output.metadata(), bucket, key)?;
        let info = ObjectInfo {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            size: 0,
            sha256: expected,
            etag: output.e_tag().unwrap_or_default().to_owned(),
            version_id: output.version_id().unwrap_or(NULL_VERSION).to_owned(),
        };
        let temp = temp_path(dest)?;
        let result = download(output.body, &temp, &info).await;
        match result {
            Ok(size) => {
                tokio::fs::rename(&temp, dest)
                    .await
                    .map_err(|e| io_error(dest, &e))
                    .inspect_err(|_| {
                        let _ = std::fs::remove_file(&temp);
                    })?;
                Ok(ObjectInfo { size, ..info })
            }
            Err(e) => {
                let _ = tokio::fs::remove_file(&temp).await;
                Err(e)
            }
        }
    }

    async fn head(&self, bucket: &str, key: &str) -> Result<ObjectInfo, ObjectError> {
        validate(bucket, key)?;
        let output = self
            .client
            .head_object()
            .bucket(bucket)
            .key(key)
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
            sha256: recorded_sha256(output.metadata(), bucket, key)?,
            etag: output.e_tag().unwrap_or_default().to_owned(),
            version_id: output.version_id().unwrap_or(NULL_VERSION).to_owned(),
        })
    }
}

/// Streams `body` into `temp`, hashing it; the size when the hash matches `info.sha256`.
async fn download(
    mut body: ByteStream,
    temp: &Path,
    info: &ObjectInfo,
) -> Result<u64, ObjectError> {
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
    if actual != info.sha256 {
        return Err(ObjectError::Corrupt {
            bucket: info.bucket.clone(),
            key: info.key.clone(),
            reason: format!("content has sha256 {actual}, recorded {}", info.sha256),
        });
    }
    Ok(size)
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

fn recorded_sha256(
    metadata: Option<&std::collections::HashMap<String, String>>,
    bucket: &str,
    key: &str,
) -> Result<String, ObjectError> {
    metadata
        .and_then(|m| m.get(SHA256_METADATA))
        .cloned()
        .ok_or_else(|| ObjectError::Corrupt {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            reason: format!("no {SHA256_METADATA} metadata"),
        })
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
