//! Objects, whatever stores them: what a store knows of one, how an operation fails, and the names objects may
//! have. The folder store and S3 apply the same rules, so a pipeline that runs locally keeps working against S3
//! and the other way round.

use serde::{Deserialize, Serialize};

/// What the object store knows of a stored object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectInfo {
    /// The bucket.
    pub bucket: String,
    /// The key.
    pub key: String,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256 of the content, hex.
    pub sha256: String,
    /// The object's entity tag.
    pub etag: String,
    /// The object's version id.
    pub version_id: String,
}

/// Why an object operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ObjectError {
    /// No such bucket or key.
    #[error("no object s3://{bucket}/{key}")]
    NotFound {
        /// The bucket.
        bucket: String,
        /// The key.
        key: String,
    },
    /// The content read back does not match its recorded checksum.
    #[error("object s3://{bucket}/{key} is corrupt: {reason}")]
    Corrupt {
        /// The bucket.
        bucket: String,
        /// The key.
        key: String,
        /// What did not match.
        reason: String,
    },
    /// A bucket or key that cannot be stored (path escapes, empty parts).
    #[error("invalid object name: {0}")]
    InvalidName(String),
    /// A key the store cannot hold beside another one (a folder store cannot hold both `a` and `a/b`).
    #[error("{0}")]
    Conflict(String),
    /// Anything else.
    #[error("object store failure: {0}")]
    Other(String),
}

/// The prefix of temporary names the stores write before renaming into place; no key segment may use it.
pub const TEMP_PREFIX: &str = ".sluice-tmp-";

/// Checks a bucket name against S3's rules.
pub fn validate_bucket(bucket: &str) -> Result<(), ObjectError> {
    let refuse = |why: &str| {
        Err(ObjectError::InvalidName(format!(
            "bucket {bucket:?}: {why}"
        )))
    };
    if !(3..=63).contains(&bucket.len()) {
        return refuse("must be 3 to 63 characters");
    }
    if !bucket
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
    {
        return refuse("may hold only a-z, 0-9, '.' and '-'");
    }
    let alnum = |b: Option<u8>| b.is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if !alnum(bucket.bytes().next()) || !alnum(bucket.bytes().last()) {
        return refuse("must start and end with a letter or digit");
    }
    if bucket.contains("..") {
        return refuse("must not contain \"..\"");
    }
    Ok(())
}

/// Checks a key: one that is safe as a relative path under the bucket's folder.
pub fn validate_key(key: &str) -> Result<(), ObjectError> {
    let refuse = |why: &str| Err(ObjectError::InvalidName(format!("key {key:?}: {why}")));
    if key.is_empty() {
        return refuse("must not be empty");
    }
    if key.len() > 1024 {
        return refuse("must be at most 1024 bytes");
    }
    if key.starts_with('/') {
        return refuse("must not start with '/'");
    }
    if key.contains('\0') {
        return refuse("must not contain NUL");
    }
    if key.contains('\\') {
        return refuse("must not contain '\\'");
    }
    for segment in key.split('/') {
        match segment {
            "" => return refuse("must not have empty segments ('//' or a trailing '/')"),
            "." | ".." => return refuse("must not have '.' or '..' segments"),
            s if s.len() > 250 => return refuse("segments must be at most 250 bytes"),
            s if s.starts_with(TEMP_PREFIX) => {
                return refuse("segments must not start with \".sluice-tmp-\"")
            }
            _ => {}
        }
    }
    Ok(())
}
