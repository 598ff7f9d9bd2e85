//! `Invoke/AWS/Lambda`: invokes `FunctionName` asynchronously with CodePipeline's job event, and leaves the
//! outcome to the function, which reports it through the API (PutJobSuccessResult, with a continuation token to
//! be invoked again; PutJobFailureResult), as an unchanged CodePipeline function does. No answer: the action
//! times out like any other.
//!
//! The event (`{"CodePipeline.job": {...}}`) carries the job id (the function's credential for reporting), the
//! account, the configuration (`FunctionName`, `UserParameters`), the input and output artifacts' S3 locations
//! (staged in the pipeline's artifact store bucket when artifacts are not in S3), temporary credentials that may
//! read exactly those inputs and write exactly those outputs (STS AssumeRole of the artifact role with a session
//! policy naming the objects), the KMS key when the pipeline has one, and the continuation token.

use async_trait::async_trait;
use aws_sdk_lambda::operation::RequestId;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::InvocationType;
use serde_json::{json, Value};
use sluice_runtime::jobs::ExternalExecution;

use crate::artifacts;
use crate::provider::{sdk_error, Context, Provider, Step};

/// How long the artifact credentials are good for.
const CREDENTIALS_SECONDS: i32 = 3600;

/// The provider.
pub struct Lambda;

#[async_trait]
impl Provider for Lambda {
    async fn start(&self, ctx: &Context<'_>) -> Result<Step, String> {
        let job = ctx.job;
        let invocation = job.invocation.as_ref().ok_or(
            "a Lambda action's job is invoked through the runtime, which gives it a job id",
        )?;
        let function = job
            .configuration
            .get("FunctionName")
            .filter(|f| !f.is_empty())
            .ok_or("configuration.FunctionName is required")?
            .clone();
        let mut inputs = Vec::new();
        for input in &job.inputs {
            let (bucket, key) = artifacts::s3_location_of(ctx, input).await?;
            inputs.push(json!({
                "name": input.name,
                "revision": Value::Null,
                "location": {"type": "S3", "s3Location": {"bucketName": bucket, "objectKey": key}},
            }));
        }
        let mut outputs = Vec::new();
        for output in &job.outputs {
            let (bucket, key) = artifacts::s3_location_for(ctx, output)?;
            outputs.push(json!({
                "name": output.name,
                "revision": Value::Null,
                "location": {"type": "S3", "s3Location": {"bucketName": bucket, "objectKey": key}},
            }));
        }
        let role = ctx.artifact_role.clone().or_else(|| job.role_arn.clone()).ok_or(
            "a Lambda action hands the function credentials for its artifacts, minted from a role: give the \
             pipeline (or the action) a roleArn, or set SLUICE_ARTIFACT_ROLE_ARN",
        )?;
        let credentials = artifact_credentials(ctx, &role, &inputs, &outputs).await?;
        let account = role.split(':').nth(4).unwrap_or_default().to_owned();
        let mut configuration = json!({"FunctionName": function});
        if let Some(p) = job.configuration.get("UserParameters") {
            configuration["UserParameters"] = json!(p);
        }
        let mut data = json!({
            "actionConfiguration": {"configuration": configuration},
            "inputArtifacts": inputs,
            "outputArtifacts": outputs,
            "artifactCredentials": credentials,
        });
        if let Some(token) = &invocation.continuation_token {
            data["continuationToken"] = json!(token);
        }
        if let Some(key) = job.outputs.iter().find_map(|o| o.encryption_key.clone()) {
            data["encryptionKey"] = json!({"id": key, "type": "KMS"});
        }
        let event = json!({"CodePipeline.job": {"id": invocation.job_id, "accountId": account, "data": data}});
        let client = aws_sdk_lambda::Client::new(ctx.sdk);
        let out = client
            .invoke()
            .function_name(&function)
            .invocation_type(InvocationType::Event)
            .payload(Blob::new(
                serde_json::to_vec(&event).map_err(|e| e.to_string())?,
            ))
            .send()
            .await
            .map_err(|e| format!("Invoke {function}: {}", sdk_error(&e)))?;
        if let Some(error) = out.function_error() {
            return Err(format!("Invoke {function}: the function failed: {error}"));
        }
        Ok(Step::Detached {
            external: ExternalExecution {
                id: out
                    .request_id()
                    .map_or_else(|| invocation.job_id.clone(), str::to_owned),
                url: None,
                summary: Some(format!("Invoked {function}, waiting for its result")),
            },
        })
    }

    async fn check(&self, _ctx: &Context<'_>, _state: &Value) -> Result<Step, String> {
        Err("a Lambda action's outcome comes from the function, not from looking".into())
    }
}

/// Temporary credentials that may read the inputs and write the outputs, and nothing else.
async fn artifact_credentials(
    ctx: &Context<'_>,
    role: &str,
    inputs: &[Value],
    outputs: &[Value],
) -> Result<Value, String> {
    let arn = |a: &Value| {
        let l = &a["location"]["s3Location"];
        format!(
            "arn:aws:s3:::{}/{}",
            l["bucketName"].as_str().unwrap_or_default(),
            l["objectKey"].as_str().unwrap_or_default()
        )
    };
    let mut statements = Vec::new();
    if !inputs.is_empty() {
        statements.push(json!({"Effect": "Allow", "Action": ["s3:GetObject", "s3:GetObjectVersion"], "Resource": inputs.iter().map(arn).collect::<Vec<_>>()}));
    }
    if !outputs.is_empty() {
        statements.push(json!({"Effect": "Allow", "Action": ["s3:PutObject"], "Resource": outputs.iter().map(arn).collect::<Vec<_>>()}));
    }
    if statements.is_empty() {
        statements.push(json!({"Effect": "Deny", "Action": "s3:*", "Resource": "*"}));
    }
    let policy = json!({"Version": "2012-10-17", "Statement": statements}).to_string();
    let sts = aws_sdk_sts::Client::new(ctx.sdk);
    let out = sts
        .assume_role()
        .role_arn(role)
        .role_session_name("sluice-artifacts")
        .policy(policy)
        .duration_seconds(CREDENTIALS_SECONDS)
        .send()
        .await
        .map_err(|e| {
            format!(
                "cannot mint artifact credentials from {role}: {}",
                sdk_error(&e)
            )
        })?;
    let c = out
        .credentials()
        .ok_or("AssumeRole answered no credentials")?;
    Ok(json!({
        "accessKeyId": c.access_key_id(),
        "secretAccessKey": c.secret_access_key(),
        "sessionToken": c.session_token(),
        "expirationTime": c.expiration().to_millis().unwrap_or(0),
    }))
}
