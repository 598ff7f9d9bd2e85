//! A template's text and the resource types Sluice reads from it.

use serde_json::Value;

use super::tags;
use crate::document::{parse_value, DefinitionError, Syntax};
use crate::problem::{JsonPath, Problems};
use crate::yaml::{self, Lines, YamlErrorKind, YamlLimits};

/// The resource type of a pipeline.
pub const PIPELINE: &str = "AWS::CodePipeline::Pipeline";
/// The resource type of a custom action type.
pub const CUSTOM_ACTION_TYPE: &str = "AWS::CodePipeline::CustomActionType";
/// The resource type of a webhook.
pub const WEBHOOK: &str = "AWS::CodePipeline::Webhook";

/// Parses a template's text (YAML with the short-form tags, or JSON), with where each value starts.
pub fn parse(text: &str, syntax: Syntax) -> Result<(Value, Lines), DefinitionError> {
    let limits = YamlLimits::default();
    match yaml::read_with_lines(text, &limits, &tags::Intrinsics) {
        Ok(read) => Ok(read),
        // JSON that YAML does not read (tabs, say): read as JSON, without lines.
        Err(_) if syntax == Syntax::Json => Ok((parse_value(text, syntax)?, Lines::default())),
        Err(e) => Err(match e.kind {
            YamlErrorKind::Value => {
                let mut problems = Problems::default();
                problems.push(
                    JsonPath::root().field(&yaml::dotted(&e.path)),
                    format!("{} (line {}, column {})", e.message, e.line, e.column),
                );
                DefinitionError::Invalid(problems)
            }
            YamlErrorKind::Syntax | YamlErrorKind::Limit => DefinitionError::Syntax {
                line: e.line,
                column: e.column,
                message: e.message,
            },
        }),
    }
}
