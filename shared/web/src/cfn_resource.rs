//! CloudFormation custom resources that declare Sluice's pipelines: `Custom::SluicePipeline` (the properties of
//! `AWS::CodePipeline::Pipeline`, exactly), `Custom::SluiceCustomActionType` (those of
//! `AWS::CodePipeline::CustomActionType`) and `Custom::SluiceWebhook` (those of `AWS::CodePipeline::Webhook`:
//! physical id the webhook's name, `Fn::GetAtt` `Url`; `RegisterWithThirdParty` is not acted on, since Sluice
//! holds no token for the hosting service: the URL is registered by hand). A request (Create, Update, Delete) becomes CodePipeline API calls on the
//! runtime, and [`handle`] answers the response document CloudFormation expects at the request's pre-signed
//! `ResponseURL` (the caller PUTs it there).
//!
//! - The physical id of a pipeline is its name (so `!Ref` gives the name, as for `AWS::CodePipeline::Pipeline`);
//!   `Fn::GetAtt` gives `Name` and `Version`. A new name is a replacement: the new pipeline is created, and
//!   CloudFormation then deletes the old one.
//! - Retries are harmless: creating a pipeline that already has exactly the requested definition succeeds;
//!   deleting one that is not there succeeds; a resource whose creation failed has a physical id of its own
//!   (`failed-<request id>`), whose deletion does nothing.
//! - A failure's reason names the property path of each mistake, cut to fit CloudFormation's 4 KiB response.

use serde_json::{json, Map, Value};
use sluice_definition::template::{self, property_path};
use sluice_definition::{validate, Document, Limits};
use sluice_runtime::Runtime;

use crate::codepipeline::{handle_as, TARGET_PREFIX};

/// The resource type of a pipeline.
pub const PIPELINE: &str = "Custom::SluicePipeline";
/// The resource type of a custom action type.
pub const CUSTOM_ACTION_TYPE: &str = "Custom::SluiceCustomActionType";
/// The resource type of a webhook.
pub const WEBHOOK: &str = "Custom::SluiceWebhook";
/// Who the calls are recorded as.
const CALLER: &str = "cloudformation";
/// CloudFormation's limit on a response document.
const MAX_RESPONSE: usize = 4096;

/// A custom resource request's fields this handler reads.
struct Request<'a> {
    kind: &'a str,
    resource_type: &'a str,
    logical_id: &'a str,
    physical_id: Option<&'a str>,
    stack_id: &'a str,
    request_id: &'a str,
    properties: Value,
    old_properties: Value,
}

fn without_token(v: Option<&Value>) -> Value {
    let mut props = v.and_then(Value::as_object).cloned().unwrap_or_default();
    props.remove("ServiceToken");
    Value::Object(props)
}

/// What happened: the physical id and the attributes, or why not.
type Outcome = Result<(String, Map<String, Value>), String>;

/// Answers a custom resource request: the response document for its `ResponseURL`.
pub async fn handle(runtime: &Runtime, event: &Value) -> Value {
    let s = |k: &str| event.get(k).and_then(Value::as_str).unwrap_or_default();
    let request = Request {
        kind: s("RequestType"),
        resource_type: s("ResourceType"),
        logical_id: s("LogicalResourceId"),
        physical_id: event.get("PhysicalResourceId").and_then(Value::as_str),
        stack_id: s("StackId"),
        request_id: s("RequestId"),
        properties: without_token(event.get("ResourceProperties")),
        old_properties: without_token(event.get("OldResourceProperties")),
    };
    let outcome = match (request.resource_type, request.kind) {
        (PIPELINE, "Create") => create_pipeline(runtime, &request).await,
        (PIPELINE, "Update") => update_pipeline(runtime, &request).await,
        (PIPELINE, "Delete") => delete_pipeline(runtime, &request).await,
        (CUSTOM_ACTION_TYPE, "Create" | "Update") => create_action_type(runtime, &request).await,
        (CUSTOM_ACTION_TYPE, "Delete") => delete_action_type(runtime, &request).await,
        (WEBHOOK, "Create" | "Update") => put_webhook(runtime, &request).await,
        (WEBHOOK, "Delete") => delete_webhook(runtime, &request).await,
        (PIPELINE | CUSTOM_ACTION_TYPE | WEBHOOK, other) => {
            Err(format!("unknown RequestType {other:?}"))
        }
        (other, _) => Err(format!(
            "resource type {other:?} is not served here: this service token serves {PIPELINE}, \
             {CUSTOM_ACTION_TYPE} and {WEBHOOK}"
        )),
    };
    response(&request, outcome)
}

fn response(request: &Request<'_>, outcome: Outcome) -> Value {
    let (status, physical, data, reason) = match outcome {
        Ok((physical, data)) => ("SUCCESS", physical, data, String::new()),
        Err(reason) => {
            // A failed resource keeps the id it had, or gets one its deletion recognizes.
            let physical = request
                .physical_id
                .map(str::to_owned)
                .unwrap_or_else(|| format!("failed-{}", request.request_id));
            ("FAILED", physical, Map::new(), reason)
        }
    };
    let mut body = json!({
        "Status": status,
        "Reason": reason,
        "PhysicalResourceId": physical,
        "StackId": request.stack_id,
        "RequestId": request.request_id,
        "LogicalResourceId": request.logical_id,
        "NoEcho": false,
        "Data": data,
    });
    let size = body.to_string().len();
    if size > MAX_RESPONSE {
        let keep = reason.len().saturating_sub(size - MAX_RESPONSE + 40);
        let mut cut = keep;
        while !reason.is_char_boundary(cut) {
            cut -= 1;
        }
        body["Reason"] = json!(format!("{} ... (cut to fit)", &reason[..cut]));
    }
    body
}

/// One API call on the runtime: its answer, or the error's `kind: message`.
async fn call(runtime: &Runtime, operation: &str, input: Value) -> Result<Value, (String, String)> {
    let target = format!("{TARGET_PREFIX}{operation}");
    let body = input.to_string();
    let answer = handle_as(runtime, &target, body.as_bytes(), CALLER).await;
    if answer.status == 200 {
        Ok(answer.body)
    } else {
        let kind = answer.body["__type"].as_str().unwrap_or("Error").to_owned();
        let message = answer.body["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        Err((kind, message))
    }
}

fn said((kind, message): (String, String)) -> String {
    format!("{kind}: {message}")
}

/// The stack's name, from its id (`arn:aws:cloudformation:<region>:<account>:stack/<name>/<uuid>`).
fn stack_name(stack_id: &str) -> &str {
    stack_id.split('/').nth(1).unwrap_or("stack")
}

/// The pipeline a request's properties declare (CreatePipeline's input), or the reason it is not valid.
struct Declared {
    name: String,
    input: Value,
    disabled: Vec<(String, String)>,
    restart: bool,
}

fn declared(request: &Request<'_>, properties: &Value) -> Result<Declared, String> {
    let name = template::generated_name(stack_name(request.stack_id), request.logical_id);
    let mapped = template::pipeline_properties(properties, &name).map_err(|problems| {
        problems
            .into_iter()
            .map(|(path, message)| format!("Properties.{path}: {message}"))
            .collect::<Vec<_>>()
            .join("; ")
    })?;
    let mut input = json!({"pipeline": mapped.pipeline});
    if !mapped.tags.is_empty() {
        input["tags"] = json!(mapped
            .tags
            .iter()
            .map(|t| json!({"key": t.key, "value": t.value}))
            .collect::<Vec<_>>());
    }
    let reasons = |problems: sluice_definition::Problems| {
        problems
            .iter()
            .map(|p| {
                let at = if p.path.is_root() {
                    "Properties".to_owned()
                } else {
                    format!(
                        "Properties.{}",
                        property_path(p.path.as_str(), &mapped.store_regions)
                    )
                };
                format!("{at}: {}", p.message)
            })
            .collect::<Vec<_>>()
            .join("; ")
    };
    let doc = Document::from_value(input.clone()).map_err(|e| match e {
        sluice_definition::DefinitionError::Invalid(p) => reasons(p),
        other => other.to_string(),
    })?;
    let problems = validate::validate(&doc.pipeline, &Limits::default());
    if !problems.is_empty() {
        return Err(reasons(problems));
    }
    Ok(Declared {
        name: doc.pipeline.name.clone(),
        input,
        disabled: mapped.disabled_transitions,
        restart: mapped.restart_on_update,
    })
}

fn attributes(answer: &Value) -> Map<String, Value> {
    let mut data = Map::new();
    data.insert("Name".into(), answer["pipeline"]["name"].clone());
    data.insert(
        "Version".into(),
        json!(answer["pipeline"]["version"]
            .as_i64()
            .unwrap_or(1)
            .to_string()),
    );
    data
}

/// The definition as compared for idempotency: without the version the service adds.
fn comparable(pipeline: &Value) -> Value {
    let mut p = pipeline.clone();
    if let Some(o) = p.as_object_mut() {
        o.remove("version");
    }
    p
}

async fn set_transitions(
    runtime: &Runtime,
    name: &str,
    disabled: &[(String, String)],
    enabled: &[String],
) -> Result<(), String> {
    for stage in enabled {
        call(
            runtime,
            "EnableStageTransition",
            json!({"pipelineName": name, "stageName": stage, "transitionType": "Inbound"}),
        )
        .await
        .map_err(said)?;
    }
    for (stage, reason) in disabled {
        call(
            runtime,
            "DisableStageTransition",
            json!({"pipelineName": name, "stageName": stage, "transitionType": "Inbound", "reason": reason}),
        )
        .await
        .map_err(|e| format!("Properties.DisableInboundStageTransitions ({stage}): {}", said(e)))?;
    }
    Ok(())
}

async fn create_pipeline(runtime: &Runtime, request: &Request<'_>) -> Outcome {
    let d = declared(request, &request.properties)?;
    match call(runtime, "GetPipeline", json!({"name": d.name})).await {
        Ok(existing) => {
            // A retried Create: the same definition is success; another pipeline of that name is not ours.
            if comparable(&existing["pipeline"]) != comparable(&d.input["pipeline"]) {
                return Err(format!(
                    "a pipeline named {} already exists with another definition",
                    d.name
                ));
            }
            set_transitions(runtime, &d.name, &d.disabled, &[]).await?;
            Ok((d.name, attributes(&existing)))
        }
        Err((kind, _)) if kind == "PipelineNotFoundException" => {
            let created = call(runtime, "CreatePipeline", d.input)
                .await
                .map_err(said)?;
            set_transitions(runtime, &d.name, &d.disabled, &[]).await?;
            Ok((d.name, attributes(&created)))
        }
        Err(e) => Err(said(e)),
    }
}

async fn update_pipeline(runtime: &Runtime, request: &Request<'_>) -> Outcome {
    let d = declared(request, &request.properties)?;
    if request.physical_id != Some(d.name.as_str()) {
        // A new name replaces the pipeline; CloudFormation deletes the old one afterwards.
        return create_pipeline(runtime, request).await;
    }
    let old = template::pipeline_properties(&request.old_properties, &d.name).unwrap_or_default();
    let updated = call(
        runtime,
        "UpdatePipeline",
        json!({"pipeline": d.input["pipeline"]}),
    )
    .await
    .map_err(said)?;
    let enabled: Vec<String> = old
        .disabled_transitions
        .iter()
        .filter(|(stage, _)| !d.disabled.iter().any(|(s, _)| s == stage))
        .map(|(stage, _)| stage.clone())
        .collect();
    set_transitions(runtime, &d.name, &d.disabled, &enabled).await?;
    if d.restart {
        call(runtime, "StartPipelineExecution", json!({"name": d.name}))
            .await
            .map_err(|e| format!("RestartExecutionOnUpdate: {}", said(e)))?;
    }
    Ok((d.name, attributes(&updated)))
}

async fn delete_pipeline(runtime: &Runtime, request: &Request<'_>) -> Outcome {
    let Some(name) = request.physical_id.filter(|id| !id.starts_with("failed-")) else {
        // Never created: nothing to delete.
        return Ok((
            request.physical_id.unwrap_or_default().to_owned(),
            Map::new(),
        ));
    };
    match call(runtime, "DeletePipeline", json!({"name": name})).await {
        Ok(_) => Ok((name.to_owned(), Map::new())),
        Err((kind, _)) if kind == "PipelineNotFoundException" => Ok((name.to_owned(), Map::new())),
        Err(e) => Err(said(e)),
    }
}

/// A custom action type's physical id: `Category|Provider|Version`.
fn action_type_id(input: &Value) -> String {
    let s = |k: &str| input[k].as_str().unwrap_or_default().to_owned();
    format!("{}|{}|{}", s("category"), s("provider"), s("version"))
}

async fn create_action_type(runtime: &Runtime, request: &Request<'_>) -> Outcome {
    let input = template::api_shape(&request.properties);
    let id = action_type_id(&input);
    if request.kind == "Update" && request.physical_id == Some(id.as_str()) {
        let strip = |v: &Value| {
            let mut v = v.clone();
            if let Some(o) = v.as_object_mut() {
                o.remove("Tags");
            }
            v
        };
        if strip(&request.properties) == strip(&request.old_properties) {
            return Ok((id, Map::new()));
        }
        return Err(format!(
            "custom action type {id} cannot change in place (CodePipeline keeps action types as they were \
             created): give it a new Version"
        ));
    }
    match call(runtime, "CreateCustomActionType", input).await {
        Ok(_) => Ok((id, Map::new())),
        // A retried Create.
        Err((_, message)) if message.contains("already exists") && request.kind == "Create" => {
            Ok((id, Map::new()))
        }
        Err(e) => Err(said(e)),
    }
}

async fn delete_action_type(runtime: &Runtime, request: &Request<'_>) -> Outcome {
    let Some(id) = request.physical_id.filter(|id| !id.starts_with("failed-")) else {
        return Ok((
            request.physical_id.unwrap_or_default().to_owned(),
            Map::new(),
        ));
    };
    let parts: Vec<&str> = id.split('|').collect();
    let [category, provider, version] = parts.as_slice() else {
        return Ok((id.to_owned(), Map::new()));
    };
    call(
        runtime,
        "DeleteCustomActionType",
        json!({"category": category, "provider": provider, "version": version}),
    )
    .await
    .map_err(said)?;
    Ok((id.to_owned(), Map::new()))
}

/// A webhook's PutWebhook input from the properties (a name generated as CloudFormation does when absent).
fn webhook_input(request: &Request<'_>) -> Value {
    let mut hook = template::api_shape(&request.properties);
    if let Some(o) = hook.as_object_mut() {
        // Properties of the resource, not of the webhook: registration is by hand, and any version is run.
        o.remove("registerWithThirdParty");
        o.remove("targetPipelineVersion");
        if !o.contains_key("name") {
            o.insert(
                "name".into(),
                json!(template::generated_name(
                    stack_name(request.stack_id),
                    request.logical_id
                )),
            );
        }
        o.entry("filters").or_insert_with(|| json!([]));
        o.entry("authenticationConfiguration")
            .or_insert_with(|| json!({}));
    }
    json!({ "webhook": hook })
}

async fn put_webhook(runtime: &Runtime, request: &Request<'_>) -> Outcome {
    let input = webhook_input(request);
    let name = input["webhook"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    // A new name on Update is a replacement: CloudFormation deletes the old webhook afterwards.
    let answer = call(runtime, "PutWebhook", input)
        .await
        .map_err(|(kind, message)| {
            let message = message.replace("webhook.", "Properties.");
            format!("{kind}: {message}")
        })?;
    let mut data = Map::new();
    data.insert("Url".into(), answer["webhook"]["url"].clone());
    data.insert("Name".into(), json!(name));
    Ok((name, data))
}

async fn delete_webhook(runtime: &Runtime, request: &Request<'_>) -> Outcome {
    let Some(name) = request.physical_id.filter(|id| !id.starts_with("failed-")) else {
        return Ok((
            request.physical_id.unwrap_or_default().to_owned(),
            Map::new(),
        ));
    };
    call(runtime, "DeleteWebhook", json!({ "name": name }))
        .await
        .map_err(said)?;
    Ok((name.to_owned(), Map::new()))
}
