//! CloudFormation and SAM templates that declare pipelines: their `AWS::CodePipeline::Pipeline` resources read as
//! pipeline definitions, with the template's intrinsic functions resolved from its parameters (see
//! [`intrinsics`]), the properties mapped to the API's shapes (see [`properties`]) and every problem reported at
//! its template path and line (`Resources.Pipeline.Properties.Stages[2].Actions[0].Name`).
//!
//! Also read: the template's `AWS::CodePipeline::CustomActionType` resources (as CreateCustomActionType inputs) and
//! `AWS::CodePipeline::Webhook` resources (as PutWebhook inputs). A resource whose `Condition` is false is not
//! there, as in CloudFormation.

mod intrinsics;
mod port;
mod properties;
mod source;
mod tags;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::{json, Map, Value};

pub use intrinsics::UNRESOLVED;
pub use port::{port, ServiceToken};
pub use properties::{
    api_shape, pipeline as pipeline_properties, property_path, PipelineProperties,
};
pub use source::{parse, CUSTOM_ACTION_TYPE, PIPELINE, WEBHOOK};

use crate::document::{DefinitionError, Document, Syntax};
use crate::problem::{JsonPath, Problems};
use crate::validate::{self, Limits};
use crate::yaml::Lines;
use intrinsics::{Out, Scope};

/// Whether a parameter's value is the allowed value `a` (written as a string, a number or a boolean).
fn allowed_value(a: &Value, text: &str) -> bool {
    match a {
        Value::String(s) => s == text,
        Value::Number(n) => text.trim().parse::<f64>().ok() == n.as_f64(),
        Value::Bool(b) => text == if *b { "true" } else { "false" },
        _ => false,
    }
}

/// Transforms a template may name: SAM's and the language extensions, which leave pipelines as they are.
const KNOWN_TRANSFORMS: &[&str] = &["AWS::Serverless-2016-10-31", "AWS::LanguageExtensions"];

/// How a template is read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TemplateOptions {
    /// The pipeline resource to read, when the template has several.
    pub resource: Option<String>,
    /// Values by name: parameters (`Stage`), pseudo parameters (`AWS::Region`, `AWS::AccountId`,
    /// `AWS::StackName`), and what only a deployment knows: another resource's `Ref` (`ArtifactBucket`), an
    /// attribute (`PipelineRole.Arn`), an export's name, a dynamic reference (`{{resolve:...}}`).
    pub values: BTreeMap<String, String>,
    /// Put a marked placeholder ([`UNRESOLVED`]) where a value only a deployment knows was not given, instead of
    /// refusing the template (`sluice validate`, `sluice asl`).
    pub placeholders: bool,
}

/// A pipeline read from a template.
#[derive(Debug, Clone, PartialEq)]
pub struct TemplatePipeline {
    /// The resource's logical id.
    pub logical_id: String,
    /// The pipeline (with its tags, as CreatePipeline's input has them).
    pub document: Document,
    /// What the API keeps apart: disabled transitions, RestartExecutionOnUpdate.
    pub properties: PipelineProperties,
    /// The template's custom action types: (logical id, CreateCustomActionType input).
    pub custom_action_types: Vec<(String, Value)>,
    /// The template's webhooks: (logical id, PutWebhook's `webhook` member).
    pub webhooks: Vec<(String, Value)>,
    /// Placeholders put in, each `template path: what`.
    pub unresolved: Vec<String>,
}

/// Whether a parsed document is a template (it has `Resources`) rather than a pipeline definition.
pub fn is_template(value: &Value) -> bool {
    value.get("Resources").is_some_and(Value::is_object) && value.get("pipeline").is_none()
}

/// Where a template path is in the text: the path itself, else without its intrinsic functions' keys (the
/// short forms have none), else its nearest ancestor.
fn line_of(lines: &Lines, path: &str) -> Option<(usize, usize)> {
    if let Some(at) = lines.of(path) {
        return Some(at);
    }
    let mut stripped: Vec<String> = Vec::new();
    for segment in path.split('.') {
        let is_function =
            segment.starts_with("Fn::") || segment == "Ref" || segment.starts_with("Ref[");
        match (is_function, stripped.last_mut()) {
            (true, Some(last)) => {
                if let Some(i) = segment.find('[') {
                    last.push_str(&segment[i..]);
                }
            }
            _ => stripped.push(segment.to_owned()),
        }
    }
    let stripped = stripped.join(".");
    lines.of(&stripped).or_else(|| lines.nearest(&stripped))
}

/// Problems at template paths, each with its line when known.
fn problems_at(lines: &Lines, found: Vec<(String, String)>) -> DefinitionError {
    let mut problems = Problems::default();
    for (path, message) in found {
        let message = match line_of(lines, &path) {
            Some((line, column)) => format!("{message} (line {line}, column {column})"),
            None => message,
        };
        problems.push(JsonPath::root().field(&path), message);
    }
    DefinitionError::Invalid(problems)
}

/// A short, stable suffix for a generated name (CloudFormation's is random; this one is the same every run, so a
/// local pipeline keeps its name).
fn suffix(seed: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in seed.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    let alphabet = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    (0..12)
        .map(|_| {
            let c = alphabet[(h % 36) as usize] as char;
            h /= 36;
            c
        })
        .collect()
}

/// The name CloudFormation gives a resource without one: `<stack>-<logical id>-<suffix>`.
pub fn generated_name(stack: &str, logical_id: &str) -> String {
    format!(
        "{stack}-{logical_id}-{}",
        suffix(&format!("{stack}/{logical_id}"))
    )
}

struct Template<'t> {
    resources: &'t Map<String, Value>,
}

impl<'t> Template<'t> {
    fn of_type(&self, kind: &str) -> Vec<(&'t String, &'t Value)> {
        self.resources
            .iter()
            .filter(|(_, r)| r.get("Type").and_then(Value::as_str) == Some(kind))
            .collect()
    }
}

/// The scope a template's values resolve in: parameters from their defaults and the caller's values, pseudo
/// parameters, conditions, mappings.
fn scope<'a>(
    top: &Map<String, Value>,
    options: &'a TemplateOptions,
    problems: &mut Vec<(String, String)>,
) -> Scope<'a> {
    let value = |k: &str, default: &str| {
        options
            .values
            .get(k)
            .cloned()
            .unwrap_or_else(|| default.to_owned())
    };
    let region = value("AWS::Region", "us-east-1");
    let account = value("AWS::AccountId", "123456789012");
    let stack = value("AWS::StackName", "sluice");
    let mut parameters = BTreeMap::new();
    let mut broken = BTreeSet::new();
    for (k, v) in [
        ("AWS::Region", region.clone()),
        ("AWS::AccountId", account.clone()),
        ("AWS::StackName", stack.clone()),
        ("AWS::Partition", value("AWS::Partition", "aws")),
        ("AWS::URLSuffix", value("AWS::URLSuffix", "amazonaws.com")),
        (
            "AWS::StackId",
            value(
                "AWS::StackId",
                &format!("arn:aws:cloudformation:{region}:{account}:stack/{stack}/sluice"),
            ),
        ),
    ] {
        parameters.insert(k.to_owned(), Value::String(v));
    }
    parameters.insert("AWS::NotificationARNs".into(), json!([]));
    let declared = top.get("Parameters").and_then(Value::as_object);
    for (name, p) in declared.into_iter().flatten() {
        let at = format!("Parameters.{name}");
        let kind = p.get("Type").and_then(Value::as_str).unwrap_or("String");
        let given = options.values.get(name).cloned();
        let default = p.get("Default").and_then(|d| match d {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            Value::Array(items) => Some(
                items
                    .iter()
                    .filter_map(|i| {
                        i.as_str()
                            .map(str::to_owned)
                            .or_else(|| Some(i.to_string()))
                    })
                    .collect::<Vec<_>>()
                    .join(","),
            ),
            _ => None,
        });
        let text = if kind.starts_with("AWS::SSM::Parameter::Value") {
            // The value is read from Systems Manager when the stack deploys.
            match given {
                Some(v) => v,
                None if options.placeholders => format!("{UNRESOLVED}the SSM parameter of {name}>"),
                None => {
                    problems.push((
                        at,
                        format!(
                            "parameter {name} is read from Systems Manager when the stack deploys: give its value \
                             with --parameter '{name}=VALUE'"
                        ),
                    ));
                    broken.insert(name.clone());
                    continue;
                }
            }
        } else {
            match given.or(default) {
                Some(v) => v,
                None => {
                    problems.push((
                        at,
                        format!("parameter {name} has no Default: give it with --parameter '{name}=VALUE'"),
                    ));
                    broken.insert(name.clone());
                    continue;
                }
            }
        };
        if let Some(allowed) = p.get("AllowedValues").and_then(Value::as_array) {
            let ok = allowed.iter().any(|a| allowed_value(a, &text));
            if !ok {
                problems.push((
                    at.clone(),
                    format!(
                        "parameter {name} is {text:?}, not one of its AllowedValues {}",
                        Value::Array(allowed.clone())
                    ),
                ));
            }
        }
        let is_list = kind == "CommaDelimitedList" || kind.starts_with("List<");
        let v = if is_list {
            Value::Array(
                text.split(',')
                    .map(|s| Value::String(s.trim().to_owned()))
                    .collect(),
            )
        } else {
            Value::String(text)
        };
        parameters.insert(name.clone(), v);
    }
    let resources: BTreeSet<String> = top
        .get("Resources")
        .and_then(Value::as_object)
        .map(|r| r.keys().cloned().collect())
        .unwrap_or_default();
    for k in options.values.keys() {
        let plain = k.chars().all(|c| c.is_ascii_alphanumeric());
        if plain && !parameters.contains_key(k) && !resources.contains(k) {
            problems.push((
                "Parameters".into(),
                format!("--parameter {k}: the template has no parameter or resource {k}"),
            ));
        }
    }
    Scope {
        parameters,
        values: &options.values,
        resources,
        mappings: top.get("Mappings").cloned().unwrap_or(Value::Null),
        condition_exprs: top
            .get("Conditions")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default(),
        conditions: BTreeMap::new(),
        placeholders: options.placeholders,
        problems: Vec::new(),
        unresolved: Vec::new(),
        origins: Vec::new(),
        names: BTreeMap::new(),
        broken,
    }
}

/// Whether a resource exists: its `Condition`, if any, holds.
fn exists(scope: &mut Scope<'_>, id: &str, resource: &Value) -> Option<bool> {
    match resource.get("Condition").and_then(Value::as_str) {
        Some(c) => scope.condition(c, &format!("Resources.{id}.Condition")),
        None => Some(true),
    }
}

/// Resolves a resource's properties.
fn properties(scope: &mut Scope<'_>, id: &str, resource: &Value) -> Option<Value> {
    let empty = json!({});
    let props = resource.get("Properties").unwrap_or(&empty);
    match scope.resolve(props, &format!("Resources.{id}.Properties"), "Properties")? {
        Out::Val(v) => Some(v),
        Out::NoValue => Some(json!({})),
    }
}

/// Reads the pipeline resource of a parsed template.
pub fn read(
    template: &Value,
    lines: &Lines,
    options: &TemplateOptions,
    limits: &Limits,
) -> Result<TemplatePipeline, DefinitionError> {
    let mut found = Vec::new();
    let Some(top) = template.as_object() else {
        return Err(problems_at(
            lines,
            vec![(String::new(), "a template is an object".into())],
        ));
    };
    let transforms: Vec<&str> = match top.get("Transform") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    for t in transforms {
        if !KNOWN_TRANSFORMS.contains(&t) {
            found.push((
                "Transform".to_owned(),
                format!("the template uses the macro {t}, which only CloudFormation can expand"),
            ));
        }
    }
    let Some(resources) = top.get("Resources").and_then(Value::as_object) else {
        return Err(problems_at(
            lines,
            vec![("Resources".into(), "a template has Resources".into())],
        ));
    };
    let template_resources = Template { resources };
    let mut scope = scope(top, options, &mut found);
    let stack = scope.parameters["AWS::StackName"]
        .as_str()
        .unwrap_or("sluice")
        .to_owned();

    // The pipeline resources that exist, and their names (a pipeline's Ref is its name).
    let mut pipelines = Vec::new();
    for (id, resource) in template_resources.of_type(PIPELINE) {
        if exists(&mut scope, id, resource) == Some(true) {
            pipelines.push((id.clone(), resource));
        }
    }
    for (id, resource) in &pipelines {
        let name = match resource.get("Properties").and_then(|p| p.get("Name")) {
            Some(Value::String(n)) => n.clone(),
            _ => generated_name(&stack, id),
        };
        scope.names.insert(id.clone(), name);
    }
    let chosen = match &options.resource {
        Some(r) => match pipelines.iter().find(|(id, _)| id == r) {
            Some(p) => p.clone(),
            None => {
                let message = if resources.contains_key(r) {
                    format!("resource {r} is not an {PIPELINE} the template creates")
                } else {
                    format!("the template has no resource {r}")
                };
                found.push(("Resources".into(), message));
                return Err(problems_at(lines, found));
            }
        },
        None => match pipelines.as_slice() {
            [one] => one.clone(),
            [] => {
                found.push((
                    "Resources".into(),
                    format!("the template creates no {PIPELINE}"),
                ));
                return Err(problems_at(lines, found));
            }
            many => {
                let ids: Vec<&str> = many.iter().map(|(id, _)| id.as_str()).collect();
                found.push((
                    "Resources".into(),
                    format!(
                        "the template creates {} pipelines ({}): choose one with --resource",
                        ids.len(),
                        ids.join(", ")
                    ),
                ));
                return Err(problems_at(lines, found));
            }
        },
    };
    let (id, resource) = chosen;
    let props = properties(&mut scope, &id, resource);
    let name = scope.names[&id].clone();

    let mut custom_action_types = Vec::new();
    for (cid, r) in template_resources.of_type(CUSTOM_ACTION_TYPE) {
        if exists(&mut scope, cid, r) == Some(true) {
            if let Some(p) = properties(&mut scope, cid, r) {
                custom_action_types.push((cid.clone(), api_shape(&p)));
            }
        }
    }
    let mut webhooks = Vec::new();
    for (wid, r) in template_resources.of_type(WEBHOOK) {
        if exists(&mut scope, wid, r) == Some(true) {
            // The version it names is the resource's business, not the webhook's (any version runs): unread.
            let mut r = r.clone();
            if let Some(p) = r.get_mut("Properties").and_then(Value::as_object_mut) {
                p.remove("TargetPipelineVersion");
            }
            if let Some(p) = properties(&mut scope, wid, &r) {
                let mut hook = api_shape(&p);
                if hook.get("name").is_none() {
                    hook["name"] = json!(generated_name(&stack, wid));
                }
                webhooks.push((wid.clone(), hook));
            }
        }
    }
    found.append(&mut scope.problems);
    let origins: HashMap<String, String> = scope.origins.drain(..).collect();
    let base = format!("Resources.{id}.Properties");
    let Some(props) = props.filter(|_| found.is_empty()) else {
        return Err(problems_at(lines, found));
    };
    let mapped = match properties::pipeline(&props, &name) {
        Ok(m) => m,
        Err(problems) => {
            let at = problems
                .into_iter()
                .map(|(p, m)| (origin(&origins, &base, &p), m))
                .collect();
            return Err(problems_at(lines, at));
        }
    };
    let mut wrapped = json!({"pipeline": mapped.pipeline});
    if !mapped.tags.is_empty() {
        wrapped["tags"] = serde_json::to_value(&mapped.tags).unwrap_or(Value::Null);
    }
    let translate = |problems: Problems| {
        let at = problems
            .iter()
            .map(|p| {
                let api = p.path.to_string();
                let prop = if p.path.is_root() {
                    String::new()
                } else if api.starts_with("tags") {
                    api.replacen("tags", "Tags", 1)
                } else {
                    properties::property_path(&api, &mapped.store_regions)
                };
                (origin(&origins, &base, &prop), p.message.clone())
            })
            .collect();
        problems_at(lines, at)
    };
    let document = match Document::from_value(wrapped) {
        Ok(d) => d,
        Err(DefinitionError::Invalid(problems)) => return Err(translate(problems)),
        Err(other) => return Err(other),
    };
    let problems = validate::validate(&document.pipeline, limits);
    if !problems.is_empty() {
        return Err(translate(problems));
    }
    Ok(TemplatePipeline {
        logical_id: id,
        document,
        properties: mapped,
        custom_action_types,
        webhooks,
        unresolved: scope.unresolved,
    })
}

/// The template path a property path (`Stages[1].Name`, relative to the resource's Properties) came from.
fn origin(origins: &HashMap<String, String>, base: &str, property: &str) -> String {
    let resolved = if property.is_empty() {
        "Properties".to_owned()
    } else {
        format!("Properties.{property}")
    };
    // The longest prefix the resolution recorded, with the rest of the path as it is.
    let mut cut = resolved.len();
    loop {
        let prefix = &resolved[..cut];
        if let Some(at) = origins.get(prefix) {
            return format!("{at}{}", &resolved[cut..]);
        }
        match prefix.rfind(['.', '[']) {
            Some(i) => cut = i,
            None => return format!("{base}.{property}"),
        }
    }
}

/// Reads the text of a template.
pub fn read_text(
    text: &str,
    syntax: Syntax,
    options: &TemplateOptions,
    limits: &Limits,
) -> Result<TemplatePipeline, DefinitionError> {
    let (value, lines) = parse(text, syntax)?;
    read(&value, &lines, options, limits)
}

#[cfg(test)]
mod tests;
