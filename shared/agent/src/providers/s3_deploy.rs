//! `Deploy/AWS/S3`: puts the input artifact into `BucketName`. With `Extract` true every file of the artifact
//! becomes an object under the `ObjectKey` prefix (when given); with `Extract` false the zip itself is stored
//! as `ObjectKey`. `KMSEncryptionKeyARN` encrypts the deployed objects with that key where the store has KMS
//! (S3; the local store ignores it). `CannedACL` and `CacheControl` are accepted and ignored, with a line in
//! the log. Symlinks in the artifact are not deployed (objects cannot
//! be links); the log names each.

use std::fs;
use std::path::{Path, PathBuf};

use crate::error::JobError;
use crate::job::{blocking, JobContext, Success};

/// The files of an extracted artifact.
struct Listing {
    /// Every regular file as (path relative to the root with `/`, full path), sorted.
    files: Vec<(String, PathBuf)>,
    /// What is left out, for the log.
    notes: Vec<String>,
}

fn list_files(root: &Path) -> Result<Listing, JobError> {
    let mut files = Vec::new();
    let mut notes = Vec::new();
    let mut pending = vec![(String::new(), root.to_path_buf())];
    while let Some((prefix, dir)) = pending.pop() {
        let read =
            fs::read_dir(&dir).map_err(JobError::io(format!("cannot read {}", dir.display())))?;
        for item in read {
            let item = item.map_err(JobError::io(format!("cannot read {}", dir.display())))?;
            let name = item.file_name().to_string_lossy().into_owned();
            let rel = if prefix.is_empty() {
                name
            } else {
                format!("{prefix}/{name}")
            };
            let kind = item.file_type().map_err(JobError::io(format!(
                "cannot read {}",
                item.path().display()
            )))?;
            if kind.is_symlink() {
                notes.push(format!("Not deployed: {rel} is a symlink"));
            } else if kind.is_dir() {
                pending.push((rel, item.path()));
            } else {
                files.push((rel, item.path()));
            }
        }
    }
    files.sort();
    Ok(Listing { files, notes })
}

pub(crate) async fn run(ctx: &JobContext) -> Result<Success, JobError> {
    let bucket = ctx.required("BucketName")?;
    let extract = match ctx.required("Extract")?.to_ascii_lowercase().as_str() {
        "true" => true,
        "false" => false,
        other => {
            return Err(JobError::failed(format!(
                "Extract must be true or false, not `{other}`"
            )))
        }
    };
    let object_key = ctx.config("ObjectKey");
    for ignored in ["CannedACL", "CacheControl"] {
        if let Some(value) = ctx.config(ignored) {
            ctx.log.line(&format!("{ignored} `{value}` is ignored"));
        }
    }
    let kms_key = ctx.config("KMSEncryptionKeyARN");
    let zip = ctx.fetch_zip(0).await?;
    if !extract {
        let key = object_key
            .ok_or_else(|| JobError::failed("ObjectKey is required when Extract is false"))?;
        let info = ctx
            .objects
            .put_file_encrypted(bucket, key, &zip, kms_key)
            .await?;
        ctx.log.line(&format!(
            "Deployed the artifact as s3://{bucket}/{key} ({} bytes)",
            info.size
        ));
        return Ok(Success {
            summary: Some(format!("deployed to s3://{bucket}/{key}")),
            ..Success::default()
        });
    }
    let folder = ctx.dir.join("deploy");
    ctx.extract(zip, folder.clone()).await?;
    let Listing { files, notes } = blocking(move || list_files(&folder)).await?;
    for note in notes {
        ctx.log.line(&note);
    }
    let prefix = object_key
        .map(|k| k.trim_matches('/'))
        .filter(|k| !k.is_empty());
    for (rel, path) in &files {
        let key = match prefix {
            Some(prefix) => format!("{prefix}/{rel}"),
            None => rel.clone(),
        };
        ctx.objects
            .put_file_encrypted(bucket, &key, path, kms_key)
            .await?;
        ctx.log.line(&format!("Deployed s3://{bucket}/{key}"));
    }
    let place = match prefix {
        Some(prefix) => format!("s3://{bucket}/{prefix}/"),
        None => format!("s3://{bucket}/"),
    };
    Ok(Success {
        summary: Some(format!("deployed {} files to {place}", files.len())),
        ..Success::default()
    })
}
