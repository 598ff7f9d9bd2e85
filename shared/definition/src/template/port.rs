//! Porting a template to Sluice: its `AWS::CodePipeline::Pipeline`, `AWS::CodePipeline::CustomActionType` and
//! `AWS::CodePipeline::Webhook` resources become the Sluice stack's custom resources (`Custom::SluicePipeline`,
//! `Custom::SluiceCustomActionType`, `Custom::SluiceWebhook`) with a `ServiceToken`, by editing those two places
//! in the text and nothing else: comments, order, formatting and every other resource stay as they were.

use serde_json::Value;

use super::source::{parse, CUSTOM_ACTION_TYPE, PIPELINE, WEBHOOK};
use crate::document::{DefinitionError, Syntax};
use crate::problem::{JsonPath, Problems};

/// Where the custom resources' ServiceToken comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceToken {
    /// `Fn::ImportValue` of the Sluice stack's export (its name).
    Import(String),
    /// The cfn-resource function's ARN, written out.
    Arn(String),
}

impl ServiceToken {
    fn text(&self, syntax: Syntax) -> String {
        match (self, syntax) {
            (Self::Import(name), Syntax::Yaml) => format!("!ImportValue {name}"),
            (Self::Import(name), Syntax::Json) => {
                format!("{{\"Fn::ImportValue\": {}}}", Value::from(name.as_str()))
            }
            (Self::Arn(arn), _) => Value::from(arn.as_str()).to_string(),
        }
    }
}

/// The Sluice resource type a CodePipeline one is ported to.
fn ported(kind: &str) -> Option<&'static str> {
    match kind {
        PIPELINE => Some("Custom::SluicePipeline"),
        CUSTOM_ACTION_TYPE => Some("Custom::SluiceCustomActionType"),
        WEBHOOK => Some("Custom::SluiceWebhook"),
        _ => None,
    }
}

/// The byte offset of a 1-based line and column (in characters).
fn offset(text: &str, (line, column): (usize, usize)) -> Option<usize> {
    let start: usize = text
        .split_inclusive('\n')
        .take(line - 1)
        .map(str::len)
        .sum();
    let line_text = text[start..].split('\n').next()?;
    let within: usize = line_text.chars().take(column - 1).map(char::len_utf8).sum();
    Some(start + within)
}

fn refused(path: String, message: String) -> DefinitionError {
    let mut problems = Problems::default();
    problems.push(JsonPath::root().field(&path), message);
    DefinitionError::Invalid(problems)
}

/// The template with its CodePipeline resources ported; the logical ids ported.
pub fn port(
    text: &str,
    syntax: Syntax,
    token: &ServiceToken,
) -> Result<(String, Vec<String>), DefinitionError> {
    let (value, lines) = parse(text, syntax)?;
    let resources = value
        .get("Resources")
        .and_then(Value::as_object)
        .ok_or_else(|| refused("Resources".into(), "a template has Resources".into()))?;
    let mut edits: Vec<(usize, usize, String)> = Vec::new();
    let mut done = Vec::new();
    let token = token.text(syntax);
    for (id, resource) in resources {
        let kind = resource
            .get("Type")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let Some(new_kind) = ported(kind) else {
            continue;
        };
        let type_path = format!("Resources.{id}.Type");
        let at = lines
            .of(&type_path)
            .and_then(|p| offset(text, p))
            .ok_or_else(|| {
                refused(
                    type_path.clone(),
                    "cannot find this value in the text".into(),
                )
            })?;
        let quote = usize::from(matches!(text.as_bytes().get(at), Some(b'"' | b'\'')));
        if !text[at + quote..].starts_with(kind) {
            return Err(refused(
                type_path,
                format!("{kind} is not written plainly here"),
            ));
        }
        edits.push((at + quote, kind.len(), new_kind.to_owned()));
        let props_path = format!("Resources.{id}.Properties");
        match lines
            .of(&props_path)
            .and_then(|p| offset(text, p).map(|o| (o, p.1)))
        {
            Some((o, _)) if text.as_bytes().get(o) == Some(&b'{') => {
                let empty = text[o + 1..].trim_start().starts_with('}');
                let entry = match syntax {
                    Syntax::Yaml => format!(" ServiceToken: {token}"),
                    Syntax::Json => format!(" \"ServiceToken\": {token}"),
                };
                edits.push((
                    o + 1,
                    0,
                    if empty {
                        format!("{entry} ")
                    } else {
                        format!("{entry},")
                    },
                ));
            }
            Some((o, _)) if syntax == Syntax::Yaml => {
                // A block mapping: a line of its own before the first key's, indented as that line.
                let line_start = text[..o].rfind('\n').map_or(0, |i| i + 1);
                let indent = text[line_start..].chars().take_while(|c| *c == ' ').count();
                edits.push((
                    line_start + indent,
                    0,
                    format!("ServiceToken: {token}\n{}", " ".repeat(indent)),
                ));
            }
            Some(_) => return Err(refused(props_path, "Properties is not an object".into())),
            None => {
                // No Properties: add them after the Type.
                let end = at + quote + kind.len() + quote;
                let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
                let indent: String = text[line_start..]
                    .chars()
                    .take_while(|c| *c == ' ')
                    .collect();
                let added = match syntax {
                    Syntax::Yaml => {
                        format!("\n{indent}Properties:\n{indent}  ServiceToken: {token}")
                    }
                    Syntax::Json => format!(", \"Properties\": {{\"ServiceToken\": {token}}}"),
                };
                edits.push((end, 0, added));
            }
        }
        done.push(id.clone());
    }
    if done.is_empty() {
        return Err(refused(
            "Resources".into(),
            format!("the template has no {PIPELINE} or {CUSTOM_ACTION_TYPE} to port"),
        ));
    }
    edits.sort_by_key(|(at, _, _)| std::cmp::Reverse(*at));
    let mut out = text.to_owned();
    for (at, len, insert) in edits {
        out.replace_range(at..at + len, &insert);
    }
    Ok((out, done))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_block_flow_and_missing_properties_are_ported_in_place() {
        let text = "Resources:\n  # the pipeline\n  Pipeline:\n    Type: AWS::CodePipeline::Pipeline\n    Properties:\n      Name: web  # keep this comment\n  Kind:\n    Type: 'AWS::CodePipeline::CustomActionType'\n    Properties: {Category: Build}\n  Bare:\n    Type: AWS::CodePipeline::CustomActionType\n  Bucket:\n    Type: AWS::S3::Bucket\n";
        let (out, ids) = port(
            text,
            Syntax::Yaml,
            &ServiceToken::Import("sluice-ServiceToken".into()),
        )
        .expect("ports");
        assert_eq!(ids, ["Pipeline", "Kind", "Bare"]);
        assert_eq!(
            out,
            "Resources:\n  # the pipeline\n  Pipeline:\n    Type: Custom::SluicePipeline\n    Properties:\n      ServiceToken: !ImportValue sluice-ServiceToken\n      Name: web  # keep this comment\n  Kind:\n    Type: 'Custom::SluiceCustomActionType'\n    Properties: { ServiceToken: !ImportValue sluice-ServiceToken,Category: Build}\n  Bare:\n    Type: Custom::SluiceCustomActionType\n    Properties:\n      ServiceToken: !ImportValue sluice-ServiceToken\n  Bucket:\n    Type: AWS::S3::Bucket\n"
        );
    }

    #[test]
    fn json_is_ported_in_place() {
        let text = "{\n  \"Resources\": {\n    \"Pipeline\": {\n      \"Type\": \"AWS::CodePipeline::Pipeline\",\n      \"Properties\": {\n        \"Name\": \"web\"\n      }\n    }\n  }\n}\n";
        let (out, _) = port(
            text,
            Syntax::Json,
            &ServiceToken::Arn("arn:aws:lambda:us-east-1:111122223333:function:cfn".into()),
        )
        .expect("ports");
        assert!(
            out.contains("\"Type\": \"Custom::SluicePipeline\""),
            "{out}"
        );
        assert!(out.contains("\"Properties\": { \"ServiceToken\": \"arn:aws:lambda:us-east-1:111122223333:function:cfn\",\n        \"Name\": \"web\""), "{out}");
        let reread: Value = serde_json::from_str(&out).expect("still JSON");
        assert_eq!(reread["Resources"]["Pipeline"]["Properties"]["Name"], "web");
    }

    #[test]
    fn webhooks_become_sluice_webhooks() {
        let text = "Resources:\n  Hook:\n    Type: AWS::CodePipeline::Webhook\n    Properties:\n      Name: h\n";
        let (out, done) =
            port(text, Syntax::Yaml, &ServiceToken::Import("x".into())).expect("ports");
        assert_eq!(done, ["Hook"]);
        assert_eq!(
            out,
            "Resources:\n  Hook:\n    Type: Custom::SluiceWebhook\n    Properties:\n      ServiceToken: !ImportValue x\n      Name: h\n"
        );
    }
}
