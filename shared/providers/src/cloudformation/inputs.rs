//! What a CloudFormation action is given: its configuration, and the template with its parameters, tags and
//! policy (the template configuration file, `ParameterOverrides` and their functions).

use std::collections::BTreeMap;

use aws_sdk_cloudformation::types::{Capability, Parameter, Tag};
use serde_json::{Map, Value};
use sluice_aws::S3ObjectStore;
use sluice_runtime::ports::ObjectStore;

use crate::artifacts;
use crate::provider::Context;

/// Templates up to this size go inline; bigger ones through S3 (CloudFormation's limit).
const INLINE_TEMPLATE_BYTES: usize = 51_200;

/// The most `ParameterOverrides` may hold (CodePipeline's limit).
const MAX_OVERRIDES_BYTES: usize = 1024;

/// The action's configuration, read and checked.
pub(crate) struct Config {
    pub(crate) mode: String,
    pub(crate) stack: String,
    pub(crate) change_set: Option<String>,
    pub(crate) template_path: Option<String>,
    pub(crate) template_configuration: Option<String>,
    pub(crate) overrides: Option<String>,
    pub(crate) capabilities: Vec<Capability>,
    pub(crate) role_arn: Option<String>,
    pub(crate) output_file: Option<String>,
}

impl Config {
    pub(crate) fn read(ctx: &Context<'_>) -> Result<Self, String> {
        let c = &ctx.job.configuration;
        let get = |k: &str| c.get(k).filter(|v| !v.is_empty()).cloned();
        let mode = get("ActionMode").ok_or("configuration.ActionMode is required")?;
        let stack = get("StackName").ok_or("configuration.StackName is required")?;
        let change_set = get("ChangeSetName");
        if mode.starts_with("CHANGE_SET") && change_set.is_none() {
            return Err(format!(
                "configuration.ChangeSetName is required for {mode}"
            ));
        }
        let template_path = get("TemplatePath");
        if matches!(
            mode.as_str(),
            "CREATE_UPDATE" | "REPLACE_ON_FAILURE" | "CHANGE_SET_REPLACE"
        ) && template_path.is_none()
        {
            return Err(format!("configuration.TemplatePath is required for {mode}"));
        }
        let capabilities = get("Capabilities")
            .map(|caps| {
                caps.split(',')
                    .map(str::trim)
                    .filter(|c| !c.is_empty())
                    .map(Capability::from)
                    .collect()
            })
            .unwrap_or_default();
        Ok(Self {
            mode: mode.clone(),
            stack,
            change_set,
            template_path,
            template_configuration: get("TemplateConfiguration"),
            overrides: get("ParameterOverrides"),
            capabilities,
            role_arn: get("RoleArn").filter(|_| mode != "CHANGE_SET_EXECUTE"),
            output_file: get("OutputFileName"),
        })
    }
}

/// What a stack operation is made of: the template, parameters, tags and policy.
pub(crate) struct Template {
    pub(crate) body: Option<String>,
    pub(crate) url: Option<String>,
    pub(crate) parameters: Vec<Parameter>,
    pub(crate) tags: Vec<Tag>,
    pub(crate) policy: Option<String>,
}

pub(crate) async fn template(ctx: &Context<'_>, cfg: &Config) -> Result<Template, String> {
    let path = cfg.template_path.as_deref().unwrap_or_default();
    let text = artifacts::read_text(ctx, path).await?;
    let (body, url) = if text.len() <= INLINE_TEMPLATE_BYTES {
        (Some(text), None)
    } else {
        (None, Some(upload_template(ctx, path, &text).await?))
    };
    let mut parameters: BTreeMap<String, String> = BTreeMap::new();
    let mut tags = Vec::new();
    let mut policy = None;
    if let Some(spec) = &cfg.template_configuration {
        let text = artifacts::read_text(ctx, spec).await?;
        let config: Value = serde_json::from_str(&text)
            .map_err(|e| format!("TemplateConfiguration {spec} is not JSON: {e}"))?;
        for (k, v) in config["Parameters"].as_object().into_iter().flatten() {
            parameters.insert(
                k.clone(),
                scalar(v).ok_or_else(|| {
                    format!("TemplateConfiguration {spec}: Parameters.{k} is not a string")
                })?,
            );
        }
        for (k, v) in config["Tags"].as_object().into_iter().flatten() {
            tags.push(
                Tag::builder()
                    .key(k)
                    .value(scalar(v).unwrap_or_default())
                    .build(),
            );
        }
        if !config["StackPolicy"].is_null() {
            policy = Some(config["StackPolicy"].to_string());
        }
    }
    if let Some(overrides) = &cfg.overrides {
        if overrides.len() > MAX_OVERRIDES_BYTES {
            return Err(format!(
                "ParameterOverrides is {} bytes, over CodePipeline's limit of {MAX_OVERRIDES_BYTES}",
                overrides.len()
            ));
        }
        let map: Map<String, Value> = serde_json::from_str(overrides)
            .map_err(|e| format!("ParameterOverrides is not a JSON object: {e}"))?;
        for (name, value) in map {
            let resolved = override_value(ctx, &name, &value).await?;
            parameters.insert(name, resolved);
        }
    }
    Ok(Template {
        body,
        url,
        parameters: parameters
            .into_iter()
            .map(|(k, v)| {
                Parameter::builder()
                    .parameter_key(k)
                    .parameter_value(v)
                    .build()
            })
            .collect(),
        tags,
        policy,
    })
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// One `ParameterOverrides` value: a literal, `Fn::GetArtifactAtt` or `Fn::GetParam`.
async fn override_value(ctx: &Context<'_>, name: &str, value: &Value) -> Result<String, String> {
    if let Some(s) = scalar(value) {
        return Ok(s);
    }
    let at = format!("ParameterOverrides.{name}");
    if let Some(args) = value.get("Fn::GetArtifactAtt") {
        let [Value::String(artifact), Value::String(attribute)] =
            args.as_array().map(Vec::as_slice).unwrap_or(&[])
        else {
            return Err(format!(
                "{at}: Fn::GetArtifactAtt takes [artifact name, attribute]"
            ));
        };
        let input = artifacts::input(ctx, Some(artifact)).map_err(|e| format!("{at}: {e}"))?;
        let (bucket, key) = artifacts::s3_location_of(ctx, input)
            .await
            .map_err(|e| format!("{at}: {e}"))?;
        return match attribute.as_str() {
            "BucketName" => Ok(bucket),
            "ObjectKey" => Ok(key),
            "URL" => Ok(s3_url(ctx, &bucket, &key)),
            other => Err(format!(
                "{at}: Fn::GetArtifactAtt has no attribute {other} (BucketName, ObjectKey or URL)"
            )),
        };
    }
    if let Some(args) = value.get("Fn::GetParam") {
        let [Value::String(artifact), Value::String(file), Value::String(key)] =
            args.as_array().map(Vec::as_slice).unwrap_or(&[])
        else {
            return Err(format!(
                "{at}: Fn::GetParam takes [artifact name, JSON file, key]"
            ));
        };
        let text = artifacts::read_text(ctx, &format!("{artifact}::{file}"))
            .await
            .map_err(|e| format!("{at}: {e}"))?;
        let doc: Value = serde_json::from_str(&text)
            .map_err(|e| format!("{at}: {artifact}::{file} is not JSON: {e}"))?;
        return doc
            .get(key)
            .and_then(scalar)
            .ok_or_else(|| format!("{at}: {artifact}::{file} has no string value at {key}"));
    }
    Err(format!(
        "{at}: a value is a string, Fn::GetArtifactAtt or Fn::GetParam"
    ))
}

/// Puts a template too big to send inline where CloudFormation can read it, and answers its URL.
async fn upload_template(ctx: &Context<'_>, path: &str, text: &str) -> Result<String, String> {
    let bucket = match ctx.job.outputs.first() {
        Some(o) if ctx.objects_in_s3 => o.bucket.clone(),
        _ if ctx.objects_in_s3 => ctx
            .job
            .inputs
            .first()
            .map(|i| i.object.bucket.clone())
            .ok_or("no artifact bucket to put the template in")?,
        _ => artifacts::staging_bucket(ctx)?,
    };
    let key = format!(
        "{}/templates/{}/{}",
        ctx.job.pipeline,
        ctx.job.id.replace('/', "-"),
        path.rsplit("::").next().unwrap_or("template")
    );
    std::fs::create_dir_all(ctx.scratch).map_err(|e| e.to_string())?;
    let file = ctx.scratch.join("template.upload");
    std::fs::write(&file, text).map_err(|e| e.to_string())?;
    S3ObjectStore::new(aws_sdk_s3::Client::new(ctx.sdk))
        .put_file(&bucket, &key, &file)
        .await
        .map_err(|e| format!("cannot put the template in s3://{bucket}: {e}"))?;
    Ok(s3_url(ctx, &bucket, &key))
}

/// An object's URL as CloudFormation reads it: `https://<bucket>.s3.<region>.amazonaws.com/<key>`.
fn s3_url(ctx: &Context<'_>, bucket: &str, key: &str) -> String {
    let region = ctx.sdk.region().map_or("us-east-1", |r| r.as_ref());
    format!("https://{bucket}.s3.{region}.amazonaws.com/{key}")
}
