//! A CodePipeline job function written the way users write them, with nothing of Sluice in it: it reads the
//! `CodePipeline.job` event, fetches its input artifact with the artifact credentials the event carries, writes its
//! output artifact, and reports through the CodePipeline API (whose endpoint the standard
//! `AWS_ENDPOINT_URL_CODEPIPELINE` setting points at Sluice). `UserParameters` choose what it does:
//!
//! - `copy`: the input zip's files plus `listing.txt` (their names) as the output; variable `Files` counts them.
//! - `continue`: first asks to be invoked again (a continuation token), then succeeds with variable `Round`.
//! - `fail`: reports the job failed.

use std::io::{Cursor, Read, Write};

use aws_credential_types::Credentials;
use aws_lambda_events::event::codepipeline_job::{CodePipelineJobEvent, CodePipelineS3Location};
use aws_sdk_codepipeline::types::{ExecutionDetails, FailureDetails, FailureType};
use lambda_runtime::{run, service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    run(service_fn(handle)).await
}

fn place(l: &CodePipelineS3Location) -> (String, String) {
    (
        l.bucket_name.clone().unwrap_or_default(),
        l.object_key.clone().unwrap_or_default(),
    )
}

async fn handle(event: LambdaEvent<CodePipelineJobEvent>) -> Result<(), Error> {
    let job = event.payload.code_pipeline_job;
    let id = job.id.clone().ok_or("the event has no job id")?;
    let data = job.data;
    let sdk = aws_config::load_from_env().await;
    let pipeline = aws_sdk_codepipeline::Client::new(&sdk);
    let mode = data
        .action_configuration
        .configuration
        .user_parameters
        .clone()
        .unwrap_or_default();
    match mode.as_str() {
        "fail" => {
            pipeline
                .put_job_failure_result()
                .job_id(&id)
                .failure_details(
                    FailureDetails::builder()
                        .r#type(FailureType::JobFailed)
                        .message("the function says no")
                        .build()?,
                )
                .send()
                .await?;
        }
        "continue" => {
            let mut call = pipeline.put_job_success_result().job_id(&id);
            call = match data.continuation_token.as_deref() {
                None => call.continuation_token("round-2"),
                Some(token) => call.output_variables("Round", token),
            };
            call.send().await?;
        }
        _ => {
            let creds = &data.artifact_credentials;
            let s3_config = aws_sdk_s3::config::Builder::from(&sdk)
                .credentials_provider(Credentials::new(
                    creds.access_key_id.clone().unwrap_or_default(),
                    creds.secret_access_key.clone().unwrap_or_default(),
                    creds.session_token.clone(),
                    None,
                    "artifact-credentials",
                ))
                .force_path_style(true)
                .build();
            let s3 = aws_sdk_s3::Client::from_conf(s3_config);
            let input = data.input_artifacts.first().ok_or("no input artifact")?;
            let (bucket, key) = place(&input.location.s3_location);
            let zipped = s3
                .get_object()
                .bucket(&bucket)
                .key(&key)
                .send()
                .await?
                .body
                .collect()
                .await?
                .into_bytes();
            let mut archive = zip::ZipArchive::new(Cursor::new(zipped))?;
            let mut out = zip::ZipWriter::new(Cursor::new(Vec::new()));
            let options = zip::write::SimpleFileOptions::default();
            let mut names = Vec::new();
            for i in 0..archive.len() {
                let mut file = archive.by_index(i)?;
                if file.is_dir() {
                    continue;
                }
                let mut bytes = Vec::new();
                file.read_to_end(&mut bytes)?;
                out.start_file(file.name(), options)?;
                out.write_all(&bytes)?;
                names.push(file.name().to_owned());
            }
            out.start_file("listing.txt", options)?;
            out.write_all(names.join("\n").as_bytes())?;
            let body = out.finish()?.into_inner();
            let output = data.out_put_artifacts.first().ok_or("no output artifact")?;
            let (bucket, key) = place(&output.location.s3_location);
            s3.put_object()
                .bucket(&bucket)
                .key(&key)
                .body(body.into())
                .send()
                .await?;
            pipeline
                .put_job_success_result()
                .job_id(&id)
                .output_variables("Files", names.len().to_string())
                .execution_details(
                    ExecutionDetails::builder()
                        .summary(format!("copied {} files", names.len()))
                        .external_execution_id(format!("copy-{id}"))
                        .build(),
                )
                .send()
                .await?;
        }
    }
    Ok(())
}
