//! `Source/AWS/S3`: the object at `S3Bucket`/`S3ObjectKey` is a zip; it is copied as it is to the output
//! artifact. Variables `ETag` and `VersionId`; the revision is the object's version id. An execution started with
//! an `S3_OBJECT_KEY` revision fetches that key; with `S3_OBJECT_VERSION_ID`, that version (S3 keeps every
//! version of a versioned bucket; the local store keeps only the newest, so another version fails the action,
//! saying so).

use std::collections::BTreeMap;

use sluice_runtime::jobs::SourceRevision;

use crate::error::JobError;
use crate::job::{blocking, JobContext, Success};

pub(crate) async fn run(ctx: &JobContext) -> Result<Success, JobError> {
    let bucket = ctx.required("S3Bucket")?;
    let pinned = ctx.job.revision_override.as_ref();
    // StartPipelineExecution's sourceRevisions: another key, or a version of the configured one.
    let key = match pinned {
        Some(o) if o.revision_type == "S3_OBJECT_KEY" => o.revision_value.as_str(),
        _ => ctx.required("S3ObjectKey")?,
    };
    let output = ctx.first_output()?;
    let zip = ctx.scratch.join("source.zip");
    let info = match pinned.filter(|o| o.revision_type == "S3_OBJECT_VERSION_ID") {
        Some(o) => {
            ctx.objects
                .get_file_version(bucket, key, &o.revision_value, &zip)
                .await?
        }
        None => ctx.objects.get_file(bucket, key, &zip).await?,
    };
    ctx.log.line(&format!(
        "Fetched s3://{bucket}/{key} (version {}, {} bytes)",
        info.version_id, info.size
    ));
    let check = zip.clone();
    let name = format!("s3://{}/{}", info.bucket, info.key);
    blocking(move || {
        let file = std::fs::File::open(&check)
            .map_err(JobError::io(format!("cannot read {}", check.display())))?;
        zip::ZipArchive::new(std::io::BufReader::new(file))
            .map(|_| ())
            .map_err(|e| JobError::failed(format!("{name} is not a zip file: {e}")))
    })
    .await?;
    let stored = ctx.put_output(output, &zip).await?;
    let variables = BTreeMap::from([
        ("ETag".to_string(), info.etag.clone()),
        ("VersionId".to_string(), info.version_id.clone()),
    ]);
    Ok(Success {
        artifacts: BTreeMap::from([(output.name.clone(), stored)]),
        variables,
        summary: Some(format!("s3://{bucket}/{key} version {}", info.version_id)),
        revision: Some(SourceRevision {
            revision_id: info.version_id,
            revision_summary: None,
            revision_url: None,
        }),
    })
}
