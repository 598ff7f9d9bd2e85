//! What a provider works with while it runs one job: the job, its folders, its log, and the object store, with
//! the chores every provider shares (fetching and extracting inputs, zipping and storing outputs).
//!
//! A job's folder is `<work_dir>/<execution>/<stage>.<action>.<attempt>/`, holding `src/` (the workspace: the
//! primary input), `inputs/<name>/` (the other inputs) and, beside them, the scratch files (zips, the shell script
//! and its reports, kept out of the workspace so they never end up in an output).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sluice_runtime::jobs::{Job, JobOutput, SourceRevision};
use sluice_runtime::ports::{ObjectInfo, ObjectStore};

use crate::error::JobError;
use crate::log::{safe_component, JobLog};
use crate::zip_files::build::{self, ArchiveDigest, Selection};
use crate::zip_files::extract::{extract_file, extract_zip};
use crate::zip_files::{Limits, ZipSummary};

/// What a provider produced.
#[derive(Debug, Clone, Default)]
pub(crate) struct Success {
    pub artifacts: BTreeMap<String, ObjectInfo>,
    pub variables: BTreeMap<String, String>,
    pub summary: Option<String>,
    pub revision: Option<SourceRevision>,
}

/// An input artifact in place.
#[derive(Debug, Clone)]
pub(crate) struct InputDir {
    pub name: String,
    pub dir: PathBuf,
}

/// One running job's world.
pub(crate) struct JobContext {
    pub objects: Arc<dyn ObjectStore>,
    pub job: Job,
    pub log: Arc<JobLog>,
    /// The job's folder.
    pub dir: PathBuf,
    /// Where commands run: the primary input, extracted.
    pub workspace: PathBuf,
    /// Zips, scripts and reports: the job's folder itself.
    pub scratch: PathBuf,
    pub limits: Limits,
    /// The working copy a git source action reads instead of fetching (`sluice run --source`).
    pub binding: Option<PathBuf>,
}

/// Runs blocking file work off the async threads.
pub(crate) async fn blocking<T, F>(work: F) -> Result<T, JobError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, JobError> + Send + 'static,
{
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| JobError::failed(format!("the job agent's worker thread failed: {e}")))?
}

impl JobContext {
    /// A configuration value, when set and not blank.
    pub(crate) fn config(&self, key: &str) -> Option<&str> {
        self.job
            .configuration
            .get(key)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
    }

    /// A required configuration value.
    pub(crate) fn required(&self, key: &str) -> Result<&str, JobError> {
        self.config(key).ok_or_else(|| {
            JobError::failed(format!(
                "{} needs the configuration key {key}",
                self.job.action_type.provider
            ))
        })
    }

    /// The first output artifact (source and build actions have one).
    pub(crate) fn first_output(&self) -> Result<&JobOutput, JobError> {
        self.job.outputs.first().ok_or_else(|| {
            JobError::failed(format!(
                "{} needs an output artifact",
                self.job.action_type.provider
            ))
        })
    }

    /// Fetches one input's zip into the scratch folder.
    pub(crate) async fn fetch_zip(&self, index: usize) -> Result<PathBuf, JobError> {
        let input = self.job.inputs.get(index).ok_or_else(|| {
            JobError::failed(format!(
                "{} needs an input artifact",
                self.job.action_type.provider
            ))
        })?;
        let zip = self
            .scratch
            .join(format!("input-{index}-{}.zip", safe_component(&input.name)));
        let info = self
            .objects
            .get_file(&input.object.bucket, &input.object.key, &zip)
            .await?;
        self.log.line(&format!(
            "Fetched input artifact {} (s3://{}/{}, {} bytes)",
            input.name, info.bucket, info.key, info.size
        ));
        Ok(zip)
    }

    /// Extracts a zip into a folder that must not exist yet.
    pub(crate) async fn extract(&self, zip: PathBuf, target: PathBuf) -> Result<(), JobError> {
        let limits = self.limits;
        let summary = blocking(move || Ok(extract_zip(&zip, &target, &limits)?)).await?;
        self.log.line(&format!(
            "Extracted {} files and {} symlinks ({} bytes)",
            summary.files, summary.symlinks, summary.bytes
        ));
        Ok(())
    }

    /// Extracts input `index` into `target` straight from the object store when it keeps objects as local
    /// files (its size and SHA-256 checked first); false when it does not, and nothing was done.
    async fn extract_in_place(&self, index: usize, target: &Path) -> Result<bool, JobError> {
        let Some(input) = self.job.inputs.get(index) else {
            return Ok(false);
        };
        let Some((info, file)) = self
            .objects
            .open_checked(&input.object.bucket, &input.object.key)
            .await?
        else {
            return Ok(false);
        };
        self.log.line(&format!(
            "Reading input artifact {} in place (s3://{}/{}, {} bytes)",
            input.name, info.bucket, info.key, info.size
        ));
        let limits = self.limits;
        let label = PathBuf::from(format!("s3://{}/{}", info.bucket, info.key));
        let target = target.to_path_buf();
        let summary = blocking(move || Ok(extract_file(&file, &label, &target, &limits)?)).await?;
        self.log.line(&format!(
            "Extracted {} files and {} symlinks ({} bytes)",
            summary.files, summary.symlinks, summary.bytes
        ));
        Ok(true)
    }

    /// Fetches and extracts every input: the first into the workspace, the others under `inputs/<name>`.
    /// Creates the workspace (empty when there are no inputs).
    pub(crate) async fn fetch_inputs(&self) -> Result<Vec<InputDir>, JobError> {
        let mut dirs = Vec::new();
        for (index, input) in self.job.inputs.iter().enumerate() {
            let target = if index == 0 {
                self.workspace.clone()
            } else {
                self.dir.join("inputs").join(safe_component(&input.name))
            };
            if !self.extract_in_place(index, &target).await? {
                let zip = self.fetch_zip(index).await?;
                self.extract(zip.clone(), target.clone()).await?;
                let _ = std::fs::remove_file(&zip);
            }
            dirs.push(InputDir {
                name: input.name.clone(),
                dir: target,
            });
        }
        if dirs.is_empty() {
            std::fs::create_dir_all(&self.workspace).map_err(JobError::io(format!(
                "cannot create {}",
                self.workspace.display()
            )))?;
        }
        Ok(dirs)
    }

    /// The variables CodeBuild sets, for the build and Commands actions.
    pub(crate) fn codebuild_env(&self, inputs: &[InputDir]) -> BTreeMap<String, String> {
        let mut env = BTreeMap::new();
        env.insert(
            "CODEBUILD_SRC_DIR".to_string(),
            self.workspace.display().to_string(),
        );
        for input in inputs {
            env.insert(
                format!("CODEBUILD_SRC_DIR_{}", input.name),
                input.dir.display().to_string(),
            );
        }
        env.insert("CODEBUILD_BUILD_ID".to_string(), self.job.id.clone());
        env.insert("CODEBUILD_BUILD_SUCCEEDING".to_string(), "1".to_string());
        env.insert(
            "CODEBUILD_INITIATOR".to_string(),
            format!("codepipeline/{}", self.job.pipeline),
        );
        env.insert("CODEBUILD_LOCAL_BUILD".to_string(), "true".to_string());
        env
    }

    /// Stores a zip as the output artifact.
    pub(crate) async fn put_output(
        &self,
        output: &JobOutput,
        zip: &Path,
    ) -> Result<ObjectInfo, JobError> {
        let info = self
            .objects
            .put_file_encrypted(
                &output.bucket,
                &output.key,
                zip,
                output.encryption_key.as_deref(),
            )
            .await?;
        self.log.line(&format!(
            "Stored output artifact {} (s3://{}/{}, {} bytes)",
            output.name, info.bucket, info.key, info.size
        ));
        Ok(info)
    }

    /// Stores a zip that is not needed afterwards as the output artifact: the store may move it into place,
    /// trusting `digest` (its size and SHA-256 computed as it was written).
    pub(crate) async fn put_owned_output(
        &self,
        output: &JobOutput,
        zip: &Path,
        digest: Option<&ArchiveDigest>,
    ) -> Result<ObjectInfo, JobError> {
        let info = self
            .objects
            .put_owned_file(
                &output.bucket,
                &output.key,
                zip,
                output.encryption_key.as_deref(),
                digest.map(|d| (d.size, d.sha256.clone())),
            )
            .await?;
        self.log.line(&format!(
            "Stored output artifact {} (s3://{}/{}, {} bytes)",
            output.name, info.bucket, info.key, info.size
        ));
        Ok(info)
    }

    /// Zips the files of `root` chosen by `selection` and stores them as the output artifact.
    pub(crate) async fn zip_and_put(
        &self,
        output: &JobOutput,
        root: PathBuf,
        selection: Selection,
    ) -> Result<(ObjectInfo, ZipSummary), JobError> {
        let zip = self
            .scratch
            .join(format!("output-{}.zip", safe_component(&output.name)));
        let dest = zip.clone();
        let (summary, digest) =
            blocking(move || Ok(build::zip_folder_with_digest(&root, &selection, &dest)?)).await?;
        self.log_skipped(&summary);
        if summary.entries.is_empty() {
            self.log.line(&format!(
                "Warning: output artifact {} matched no files",
                output.name
            ));
        }
        let info = self.put_owned_output(output, &zip, Some(&digest)).await?;
        Ok((info, summary))
    }

    /// Logs what an archive left out.
    pub(crate) fn log_skipped(&self, summary: &ZipSummary) {
        for note in &summary.skipped {
            self.log.line(note);
        }
    }
}
