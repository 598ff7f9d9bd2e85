//! Artifacts as the AWS providers use them: one file read out of an input artifact's zip
//! (`ArtifactName::path`), an output artifact made of a few files, and artifacts handed to an AWS service (a
//! CodeDeploy revision, a template too big to send inline, a Lambda function's inputs) where that service can
//! read them: in place when the artifact store is S3, else staged in the pipeline's artifact store bucket.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::PathBuf;

use sluice_aws::S3ObjectStore;
use sluice_runtime::jobs::{JobInput, JobOutput};
use sluice_runtime::ports::{ObjectInfo, ObjectStore};

use crate::provider::Context;

/// The largest file read out of an artifact (templates, task definitions, image definitions, inputs).
pub const MAX_FILE_BYTES: u64 = 4 * 1024 * 1024;

/// `ArtifactName::path/in/it` split; a bare path names a file of the first input artifact.
pub fn artifact_path(spec: &str) -> (Option<&str>, &str) {
    match spec.split_once("::") {
        Some((artifact, path)) => (Some(artifact), path),
        None => (None, spec),
    }
}

/// The input artifact named `name`, or the first one when `name` is None.
pub fn input<'a>(ctx: &'a Context<'_>, name: Option<&str>) -> Result<&'a JobInput, String> {
    match name {
        Some(name) => ctx
            .job
            .inputs
            .iter()
            .find(|i| i.name == name)
            .ok_or_else(|| {
                format!(
                    "the action has no input artifact {name} (its inputs: {})",
                    names(ctx)
                )
            }),
        None => ctx
            .job
            .inputs
            .first()
            .ok_or_else(|| "the action has no input artifact".to_owned()),
    }
}

fn names(ctx: &Context<'_>) -> String {
    let names: Vec<&str> = ctx.job.inputs.iter().map(|i| i.name.as_str()).collect();
    if names.is_empty() {
        "none".into()
    } else {
        names.join(", ")
    }
}

/// Fetches an input artifact's zip into the job's scratch folder (once per artifact).
async fn fetch(ctx: &Context<'_>, input: &JobInput) -> Result<PathBuf, String> {
    std::fs::create_dir_all(ctx.scratch)
        .map_err(|e| format!("cannot create {}: {e}", ctx.scratch.display()))?;
    let path = ctx.scratch.join(format!("{}.zip", safe(&input.name)));
    if !path.exists() {
        ctx.objects
            .get_file(&input.object.bucket, &input.object.key, &path)
            .await
            .map_err(|e| format!("cannot fetch input artifact {}: {e}", input.name))?;
    }
    Ok(path)
}

fn safe(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The bytes of `path` in the input artifact named `artifact` (the first input when None), at most
/// [`MAX_FILE_BYTES`].
pub async fn read_file(
    ctx: &Context<'_>,
    artifact: Option<&str>,
    path: &str,
) -> Result<Vec<u8>, String> {
    let input = input(ctx, artifact)?;
    let zip = fetch(ctx, input).await?;
    let wanted = path.trim_start_matches("./").to_owned();
    let name = input.name.clone();
    tokio::task::spawn_blocking(move || -> Result<Vec<u8>, String> {
        let file =
            std::fs::File::open(&zip).map_err(|e| format!("cannot open artifact {name}: {e}"))?;
        let mut archive =
            zip::ZipArchive::new(file).map_err(|e| format!("artifact {name} is not a zip: {e}"))?;
        let mut entry = archive
            .by_name(&wanted)
            .map_err(|_| format!("artifact {name} has no file {wanted}"))?;
        let mut bytes = Vec::new();
        (&mut entry)
            .take(MAX_FILE_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| format!("cannot read {wanted} from artifact {name}: {e}"))?;
        if bytes.len() as u64 > MAX_FILE_BYTES {
            return Err(format!(
                "{wanted} in artifact {name} is over the limit of {MAX_FILE_BYTES} bytes"
            ));
        }
        Ok(bytes)
    })
    .await
    .map_err(|e| format!("reading an artifact failed: {e}"))?
}

/// The text of `spec` (`ArtifactName::path`), as UTF-8.
pub async fn read_text(ctx: &Context<'_>, spec: &str) -> Result<String, String> {
    let (artifact, path) = artifact_path(spec);
    let bytes = read_file(ctx, artifact, path).await?;
    String::from_utf8(bytes).map_err(|_| format!("{spec} is not UTF-8 text"))
}

/// Makes the output artifact `output` of `files` (name, bytes) and stores it where the runtime expects it.
pub async fn write_output(
    ctx: &Context<'_>,
    output: &JobOutput,
    files: &[(String, Vec<u8>)],
) -> Result<ObjectInfo, String> {
    std::fs::create_dir_all(ctx.scratch)
        .map_err(|e| format!("cannot create {}: {e}", ctx.scratch.display()))?;
    let path = ctx.scratch.join(format!("out-{}.zip", safe(&output.name)));
    let zip_path = path.clone();
    let files = files.to_vec();
    tokio::task::spawn_blocking(move || -> Result<(), String> {
        let file = std::fs::File::create(&zip_path).map_err(|e| e.to_string())?;
        let mut writer = zip::ZipWriter::new(file);
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .unix_permissions(0o644);
        for (name, bytes) in &files {
            writer
                .start_file(name.as_str(), options)
                .map_err(|e| e.to_string())?;
            writer.write_all(bytes).map_err(|e| e.to_string())?;
        }
        writer.finish().map_err(|e| e.to_string())?;
        Ok(())
    })
    .await
    .map_err(|e| format!("writing an artifact failed: {e}"))?
    .map_err(|e| format!("cannot write output artifact {}: {e}", output.name))?;
    let stored = ctx
        .objects
        .put_file_encrypted(
            &output.bucket,
            &output.key,
            &path,
            output.encryption_key.as_deref(),
        )
        .await;
    stored.map_err(|e| format!("cannot store output artifact {}: {e}", output.name))
}

/// The S3 bucket artifacts are staged in for AWS services when the artifact store is not S3: the pipeline's
/// `artifactStore.location`.
pub fn staging_bucket(ctx: &Context<'_>) -> Result<String, String> {
    ctx.job.artifact_store.clone().ok_or_else(|| {
        "this action hands its artifacts to an AWS service, which reads them from S3: give the pipeline an \
         artifactStore with the location of an S3 bucket in the account it deploys to"
            .to_owned()
    })
}

/// Where an AWS service can read an input artifact: its own place when artifacts are in S3, else a copy in the
/// staging bucket (at the same key).
pub async fn s3_location_of(
    ctx: &Context<'_>,
    input: &JobInput,
) -> Result<(String, String), String> {
    if ctx.objects_in_s3 {
        return Ok((input.object.bucket.clone(), input.object.key.clone()));
    }
    let bucket = staging_bucket(ctx)?;
    let zip = fetch(ctx, input).await?;
    let s3 = S3ObjectStore::new(aws_sdk_s3::Client::new(ctx.sdk));
    s3.put_file(&bucket, &input.object.key, &zip)
        .await
        .map_err(|e| {
            format!(
                "cannot stage input artifact {} in s3://{bucket}: {e}",
                input.name
            )
        })?;
    Ok((bucket, input.object.key.clone()))
}

/// Where an AWS service writes an output artifact: its place when artifacts are in S3, else the staging bucket
/// (at the same key), from which [`collect_output`] brings it back.
pub fn s3_location_for(ctx: &Context<'_>, output: &JobOutput) -> Result<(String, String), String> {
    if ctx.objects_in_s3 {
        return Ok((output.bucket.clone(), output.key.clone()));
    }
    Ok((staging_bucket(ctx)?, output.key.clone()))
}

/// The output artifacts an AWS service wrote (see [`s3_location_for`]), where the runtime keeps artifacts.
pub async fn collect_outputs(ctx: &Context<'_>) -> Result<BTreeMap<String, ObjectInfo>, String> {
    let mut found = BTreeMap::new();
    for output in &ctx.job.outputs {
        let (bucket, key) = s3_location_for(ctx, output)?;
        let info = if ctx.objects_in_s3 {
            ctx.objects.head(&bucket, &key).await
        } else {
            std::fs::create_dir_all(ctx.scratch)
                .map_err(|e| format!("cannot create {}: {e}", ctx.scratch.display()))?;
            let path = ctx
                .scratch
                .join(format!("collected-{}.zip", safe(&output.name)));
            let s3 = S3ObjectStore::new(aws_sdk_s3::Client::new(ctx.sdk));
            match s3.get_file(&bucket, &key, &path).await {
                Ok(_) => {
                    ctx.objects
                        .put_file(&output.bucket, &output.key, &path)
                        .await
                }
                Err(e) => Err(e),
            }
        };
        let info = info.map_err(|e| {
            format!(
                "output artifact {} is not at s3://{bucket}/{key}: {e}",
                output.name
            )
        })?;
        found.insert(output.name.clone(), info);
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn artifact_paths_name_the_artifact_or_the_first() {
        assert_eq!(
            artifact_path("Build::infra/stack.yaml"),
            (Some("Build"), "infra/stack.yaml")
        );
        assert_eq!(artifact_path("stack.yaml"), (None, "stack.yaml"));
    }
}
