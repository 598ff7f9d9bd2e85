//! `Source/AWS/ECR` in AWS: the image `RepositoryName`:`ImageTag` (default `latest`), or the digest an execution
//! was pinned to (`IMAGE_DIGEST`, as the trigger function pins pushes), described with DescribeImages. The output
//! artifact is a zip holding `imageDetail.json`, as CodePipeline's ECR source makes it; the output variables are
//! `RegistryId`, `RepositoryName`, `ImageTag`, `ImageDigest` and `ImageURI`; the revision is the digest.

use std::collections::BTreeMap;

use aws_config::SdkConfig;
use aws_sdk_ecr::types::ImageIdentifier;
use serde_json::json;
use sluice_agent::zip_files::build::{zip_folder, Selection};
use sluice_runtime::jobs::{Job, JobOutcome, SourceRevision};
use sluice_runtime::ports::ObjectStore;

/// Describes the job's image and stores its `imageDetail.json` as the output artifact, in `scratch`.
pub async fn run(
    job: &Job,
    sdk: &SdkConfig,
    objects: &dyn ObjectStore,
    scratch: &std::path::Path,
) -> Result<JobOutcome, String> {
    let repository = job
        .configuration
        .get("RepositoryName")
        .filter(|r| !r.is_empty())
        .ok_or("configuration.RepositoryName is required for an ECR source")?;
    let tag = job
        .configuration
        .get("ImageTag")
        .filter(|t| !t.is_empty())
        .map_or("latest", String::as_str);
    let pinned = job
        .revision_override
        .as_ref()
        .filter(|o| o.revision_type == "IMAGE_DIGEST")
        .map(|o| o.revision_value.clone());
    let id = match &pinned {
        Some(digest) => ImageIdentifier::builder().image_digest(digest).build(),
        None => ImageIdentifier::builder().image_tag(tag).build(),
    };
    let client = aws_sdk_ecr::Client::new(sdk);
    let described = client
        .describe_images()
        .repository_name(repository)
        .image_ids(id)
        .send()
        .await
        .map_err(|e| {
            let wanted = pinned.as_deref().unwrap_or(tag);
            format!(
                "cannot describe image {repository}:{wanted}: {}",
                aws_sdk_ecr::error::DisplayErrorContext(&e)
            )
        })?;
    let image = described
        .image_details()
        .first()
        .ok_or_else(|| format!("ECR has no image {repository}:{tag}"))?;
    let registry = image.registry_id().unwrap_or_default();
    let digest = image
        .image_digest()
        .ok_or_else(|| format!("image {repository}:{tag} has no digest"))?;
    let region = sdk.region().map(ToString::to_string).unwrap_or_default();
    let uri = format!("{registry}.dkr.ecr.{region}.amazonaws.com/{repository}@{digest}");
    let tags = image.image_tags().to_vec();
    let shown_tag = if pinned.is_some() {
        tags.first().cloned().unwrap_or_default()
    } else {
        tag.to_owned()
    };
    let detail = json!({
        "ImageSizeInBytes": image.image_size_in_bytes().map(|n| n.to_string()),
        "ImageDigest": digest,
        "Version": "1.0",
        "ImagePushedAt": image.image_pushed_at().map(ToString::to_string),
        "RegistryId": registry,
        "RepositoryName": repository,
        "ImageURI": uri,
        "ImageTags": tags,
    });
    let output = job
        .outputs
        .first()
        .ok_or("an ECR source action needs one output artifact")?;
    let folder = scratch.join("image");
    std::fs::create_dir_all(&folder).map_err(|e| format!("{}: {e}", folder.display()))?;
    std::fs::write(
        folder.join("imageDetail.json"),
        serde_json::to_vec_pretty(&detail).map_err(|e| e.to_string())?,
    )
    .map_err(|e| format!("cannot write imageDetail.json: {e}"))?;
    let zip = scratch.join("image.zip");
    zip_folder(&folder, &Selection::all(), &zip).map_err(|e| e.to_string())?;
    let stored = objects
        .put_file_encrypted(
            &output.bucket,
            &output.key,
            &zip,
            output.encryption_key.as_deref(),
        )
        .await
        .map_err(|e| e.to_string())?;
    let variables = BTreeMap::from([
        ("RegistryId".to_owned(), registry.to_owned()),
        ("RepositoryName".to_owned(), repository.clone()),
        ("ImageTag".to_owned(), shown_tag),
        ("ImageDigest".to_owned(), digest.to_owned()),
        ("ImageURI".to_owned(), uri.clone()),
    ]);
    Ok(JobOutcome::Succeeded {
        artifacts: BTreeMap::from([(output.name.clone(), stored)]),
        variables,
        summary: Some(format!("ECR image {repository}@{digest}")),
        revision: Some(SourceRevision {
            revision_id: digest.to_owned(),
            revision_summary: Some(format!("{repository}:{tag}")),
            revision_url: None,
        }),
    })
}
