//! An `AWS::CodePipeline::*` resource's properties (PascalCase, as CloudFormation takes them) as the API's
//! shapes (camelCase): each key's first letter lowered, `Configuration` maps kept key for key with their values as
//! the strings CloudFormation sends, numbers and booleans where the API wants them (a custom resource gets every
//! scalar as a string), `ArtifactStores` as the API's per-region map. What the API keeps elsewhere (tags, disabled
//! transitions, RestartExecutionOnUpdate) is taken out.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::document::Tag;

/// A pipeline resource's properties, mapped.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PipelineProperties {
    /// The pipeline, as CreatePipeline's `pipeline` member.
    pub pipeline: Value,
    /// `Tags`.
    pub tags: Vec<Tag>,
    /// `DisableInboundStageTransitions`: (stage, reason).
    pub disabled_transitions: Vec<(String, String)>,
    /// `RestartExecutionOnUpdate`.
    pub restart_on_update: bool,
    /// Where each region's store was in `ArtifactStores`.
    pub store_regions: BTreeMap<String, usize>,
}

fn lower_first(k: &str) -> String {
    let mut chars = k.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Upper-cases a key's first letter: the property a mapped key came from.
pub(crate) fn upper_first(k: &str) -> String {
    let mut chars = k.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn scalar_text(v: &Value) -> Value {
    match v {
        Value::Number(n) => Value::String(n.to_string()),
        Value::Bool(b) => Value::String(b.to_string()),
        other => other.clone(),
    }
}

/// Keys whose values the API takes as whole numbers.
const NUMBERS: &[&str] = &[
    "runOrder",
    "timeoutInMinutes",
    "minimumCount",
    "maximumCount",
];
/// Keys whose values the API takes as booleans.
const BOOLEANS: &[&str] = &[
    "required",
    "key",
    "secret",
    "queryable",
    "registerWithThirdParty",
];
/// Keys whose values the API takes as strings.
const STRINGS: &[&str] = &["version"];

/// Maps keys (lower first letter) and scalars (to the types the API takes), keeping `Configuration` maps' keys.
pub fn api_shape(v: &Value) -> Value {
    match v {
        Value::Object(map) => {
            let mut out = Map::new();
            for (k, x) in map {
                let name = lower_first(k);
                let value = if k == "Configuration" || k == "AuthenticationConfiguration" {
                    match x {
                        Value::Object(c) => Value::Object(
                            c.iter()
                                .map(|(ck, cv)| (ck.clone(), scalar_text(cv)))
                                .collect(),
                        ),
                        other => other.clone(),
                    }
                } else if NUMBERS.contains(&name.as_str()) {
                    match x {
                        Value::String(s) => s
                            .trim()
                            .parse::<i64>()
                            .map_or_else(|_| x.clone(), Value::from),
                        other => other.clone(),
                    }
                } else if BOOLEANS.contains(&name.as_str()) {
                    match x.as_str() {
                        Some("true") => Value::Bool(true),
                        Some("false") => Value::Bool(false),
                        _ => x.clone(),
                    }
                } else if STRINGS.contains(&name.as_str()) {
                    scalar_text(x)
                } else {
                    api_shape(x)
                };
                out.insert(name, value);
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(api_shape).collect()),
        other => other.clone(),
    }
}

fn truthy(v: &Value) -> bool {
    matches!(v, Value::Bool(true)) || v.as_str() == Some("true")
}

/// Maps a pipeline resource's resolved properties; `name` is used when they have no `Name`. Problems: (property
/// path, message).
pub fn pipeline(
    properties: &Value,
    name: &str,
) -> Result<PipelineProperties, Vec<(String, String)>> {
    let Value::Object(props) = properties else {
        return Err(vec![(String::new(), "Properties must be an object".into())]);
    };
    let mut problems = Vec::new();
    let mut props = props.clone();
    let tags = props.remove("Tags");
    let disabled = props.remove("DisableInboundStageTransitions");
    let restart = props.remove("RestartExecutionOnUpdate");
    let stores = props.remove("ArtifactStores");
    let mut shaped = api_shape(&Value::Object(props));
    let mut out = PipelineProperties {
        restart_on_update: restart.as_ref().is_some_and(truthy),
        ..Default::default()
    };
    if let Value::Object(p) = &mut shaped {
        if !p.contains_key("name") {
            p.insert("name".into(), Value::String(name.to_owned()));
        }
        if let Some(stores) = stores {
            let mut by_region = Map::new();
            for (i, item) in stores.as_array().into_iter().flatten().enumerate() {
                let region = item.get("Region").and_then(Value::as_str);
                let store = item.get("ArtifactStore");
                match (region, store) {
                    (Some(r), Some(s)) => {
                        out.store_regions.insert(r.to_owned(), i);
                        by_region.insert(r.to_owned(), api_shape(s));
                    }
                    _ => problems.push((
                        format!("ArtifactStores[{i}]"),
                        "an artifact store has Region and ArtifactStore".to_owned(),
                    )),
                }
            }
            p.insert("artifactStores".into(), Value::Object(by_region));
        }
    }
    for (i, t) in tags
        .as_ref()
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        match (
            t.get("Key").and_then(Value::as_str),
            t.get("Value").map(scalar_text),
        ) {
            (Some(k), Some(Value::String(v))) => out.tags.push(Tag {
                key: k.to_owned(),
                value: v,
            }),
            _ => problems.push((
                format!("Tags[{i}]"),
                "a tag has a Key and a string Value".into(),
            )),
        }
    }
    for (i, d) in disabled
        .as_ref()
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        match (
            d.get("StageName").and_then(Value::as_str),
            d.get("Reason").and_then(Value::as_str),
        ) {
            (Some(s), Some(r)) => out.disabled_transitions.push((s.to_owned(), r.to_owned())),
            _ => problems.push((
                format!("DisableInboundStageTransitions[{i}]"),
                "a disabled transition has StageName and Reason".into(),
            )),
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    out.pipeline = shaped;
    Ok(out)
}

/// The property path an API path (`stages[1].actions[0].configuration.BucketName`) came from
/// (`Stages[1].Actions[0].Configuration.BucketName`).
pub fn property_path(api_path: &str, store_regions: &BTreeMap<String, usize>) -> String {
    let mut out = Vec::new();
    let mut segments = api_path.split('.').peekable();
    let mut verbatim = false;
    while let Some(segment) = segments.next() {
        if verbatim {
            out.push(segment.to_owned());
            continue;
        }
        if segment == "artifactStores" {
            if let Some(region) = segments.next() {
                let i = store_regions.get(region).copied().unwrap_or(0);
                out.push(format!("ArtifactStores[{i}].ArtifactStore"));
                continue;
            }
        }
        let (name, rest) = segment.split_at(segment.find('[').unwrap_or(segment.len()));
        out.push(format!("{}{rest}", upper_first(name)));
        verbatim = name == "configuration" || name == "authenticationConfiguration";
    }
    out.join(".")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn properties_take_the_apis_shape() {
        let props = json!({
            "RoleArn": "arn:aws:iam::111122223333:role/p",
            "ArtifactStores": [{"Region": "eu-west-1", "ArtifactStore": {"Type": "S3", "Location": "b"}}],
            "Stages": [{"Name": "Source", "Actions": [{
                "Name": "S",
                "RunOrder": "2",
                "ActionTypeId": {"Category": "Source", "Owner": "AWS", "Provider": "S3", "Version": 1},
                "Configuration": {"S3Bucket": "b", "PollForSourceChanges": false, "Depth": 3},
                "OutputArtifacts": [{"Name": "Src"}]
            }]}],
            "Tags": [{"Key": "team", "Value": "web"}],
            "DisableInboundStageTransitions": [{"StageName": "Source", "Reason": "freeze"}],
            "RestartExecutionOnUpdate": "true"
        });
        let mapped = pipeline(&props, "stack-Pipeline-ABC").expect("maps");
        let p = &mapped.pipeline;
        assert_eq!(p["name"], "stack-Pipeline-ABC");
        assert_eq!(
            p["artifactStores"]["eu-west-1"],
            json!({"type": "S3", "location": "b"})
        );
        let action = &p["stages"][0]["actions"][0];
        assert_eq!(action["runOrder"], 2);
        assert_eq!(action["actionTypeId"]["version"], "1");
        assert_eq!(
            action["configuration"],
            json!({"S3Bucket": "b", "PollForSourceChanges": "false", "Depth": "3"})
        );
        assert_eq!(
            mapped.tags,
            [Tag {
                key: "team".into(),
                value: "web".into()
            }]
        );
        assert_eq!(
            mapped.disabled_transitions,
            [("Source".to_owned(), "freeze".to_owned())]
        );
        assert!(mapped.restart_on_update);
        assert_eq!(
            property_path(
                "stages[0].actions[0].configuration.S3Bucket",
                &mapped.store_regions
            ),
            "Stages[0].Actions[0].Configuration.S3Bucket"
        );
        assert_eq!(
            property_path("artifactStores.eu-west-1.location", &mapped.store_regions),
            "ArtifactStores[0].ArtifactStore.Location"
        );
    }
}
