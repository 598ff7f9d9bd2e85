//! Pipeline definitions: reading them in every form CodePipeline users have them, and writing them back.
//!
//! Accepted forms, in JSON or YAML:
//! - the output of `aws codepipeline get-pipeline`: `{"pipeline": {...}, "metadata": {...}}`;
//! - the `--cli-input-json` document of create-pipeline / update-pipeline: `{"pipeline": {...}, "tags": [...]}`;
//! - the bare pipeline object.
//!
//! Reading is in two steps: the raw document's shape is checked against CodePipeline's service model (every
//! problem at once, see [`crate::schema`]), then it is read into the types of [`crate::model`]. Semantic rules live in
//! [`crate::validate`].

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::model::*;
use crate::problem::{JsonPath, Problems};
use crate::schema;
use crate::yaml::{self, Step, Tags, YamlErrorKind, YamlLimits};

/// The syntax a definition is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Syntax {
    /// JSON.
    Json,
    /// YAML (1.2, core schema; see [`crate::yaml`]).
    Yaml,
}

impl Syntax {
    /// The syntax a file name implies: `.yaml`/`.yml` are YAML, anything else JSON.
    pub fn from_file_name(name: &str) -> Self {
        let lower = name.to_ascii_lowercase();
        if lower.ends_with(".yaml") || lower.ends_with(".yml") {
            Self::Yaml
        } else {
            Self::Json
        }
    }
}

/// Which of the accepted forms a document had, so it can be written back the same way.
#[derive(Debug, Clone, PartialEq)]
pub enum Form {
    /// The bare pipeline object.
    Bare,
    /// `{"pipeline": ..., "metadata": ..., "tags": ...}`: get-pipeline output or `--cli-input-json`.
    Wrapped {
        /// get-pipeline's metadata, kept as it was (Sluice does not interpret it).
        metadata: Option<Value>,
        /// create-pipeline's tags.
        tags: Option<Vec<Tag>>,
    },
}

/// A resource tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tag {
    /// The tag's key.
    pub key: String,
    /// The tag's value.
    pub value: String,
}

/// A definition as read: the pipeline and the form it came in.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// The pipeline.
    pub pipeline: Pipeline,
    /// The form it was written in.
    pub form: Form,
}

/// Why a definition could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DefinitionError {
    /// The text is not JSON or YAML.
    #[error("line {line}, column {column}: {message}")]
    Syntax {
        /// 1-based line of the error.
        line: usize,
        /// 1-based column of the error.
        column: usize,
        /// The parser's description.
        message: String,
    },
    /// The document is JSON or YAML but not a pipeline definition.
    #[error("{0}")]
    Invalid(Problems),
}

impl Document {
    /// Reads a definition from text.
    pub fn parse(text: &str, syntax: Syntax) -> Result<Self, DefinitionError> {
        let raw = parse_value(text, syntax)?;
        Self::from_value(raw)
    }

    /// Reads a definition from a JSON value (already parsed from JSON or YAML).
    pub fn from_value(raw: Value) -> Result<Self, DefinitionError> {
        let mut problems = Problems::default();
        let Value::Object(mut top) = raw else {
            problems.push(
                JsonPath::root(),
                format!(
                    "expected a pipeline definition object, found {}",
                    schema::describe(&raw)
                ),
            );
            return Err(DefinitionError::Invalid(problems));
        };

        let (pipeline_value, form) = if top.contains_key("pipeline") {
            let metadata = top.remove("metadata");
            let tags_value = top.remove("tags");
            if let Some(tags) = &tags_value {
                schema::check(
                    tags,
                    &schema::TAGS,
                    &JsonPath::root().field("tags"),
                    &mut problems,
                );
            }
            let pipeline = top.remove("pipeline").unwrap_or(Value::Null);
            for key in top.keys() {
                problems.push(
                    JsonPath::root().field(key),
                    "unknown field (a wrapped definition has pipeline, metadata and tags)",
                );
            }
            if !problems.is_empty() {
                // Report the pipeline's own problems too.
                schema::check(
                    &pipeline,
                    &schema::PIPELINE,
                    &JsonPath::root(),
                    &mut problems,
                );
                return Err(DefinitionError::Invalid(problems));
            }
            let tags = tags_value
                .map(serde_json::from_value::<Vec<Tag>>)
                .transpose()
                .map_err(|e| single(JsonPath::root().field("tags"), e.to_string()))?;
            (pipeline, Form::Wrapped { metadata, tags })
        } else {
            (Value::Object(top), Form::Bare)
        };

        schema::check(
            &pipeline_value,
            &schema::PIPELINE,
            &JsonPath::root(),
            &mut problems,
        );
        if !problems.is_empty() {
            return Err(DefinitionError::Invalid(problems));
        }
        // The shape was checked above, so this only fails on a disagreement between the schema and the types.
        let pipeline: Pipeline = serde_json::from_value(strip_nulls(pipeline_value))
            .map_err(|e| single(JsonPath::root(), e.to_string()))?;
        Ok(Self { pipeline, form })
    }

    /// Writes the definition back in the form it was read in, as CodePipeline prints it.
    pub fn to_value(&self) -> Value {
        let pipeline = to_value_or_null(&self.pipeline);
        match &self.form {
            Form::Bare => pipeline,
            Form::Wrapped { metadata, tags } => {
                let mut out = Map::new();
                out.insert("pipeline".into(), pipeline);
                if let Some(m) = metadata {
                    out.insert("metadata".into(), m.clone());
                }
                if let Some(t) = tags {
                    out.insert("tags".into(), to_value_or_null(t));
                }
                Value::Object(out)
            }
        }
    }
}

fn to_value_or_null<T: Serialize>(v: &T) -> Value {
    // Serializing these plain data types into a Value cannot fail (no non-string map keys, no foreign types).
    serde_json::to_value(v).unwrap_or(Value::Null)
}

fn single(path: JsonPath, message: String) -> DefinitionError {
    let mut problems = Problems::default();
    problems.push(path, message);
    DefinitionError::Invalid(problems)
}

/// The pipeline of a definition whose shape has problems, when it can still be read as the model's types
/// (the problem is a value's pattern or range, or a field beside `pipeline`): for the semantic rules to run
/// too. `None` when it cannot.
pub fn lenient_pipeline(raw: &Value) -> Option<Pipeline> {
    let pipeline = match raw.get("pipeline") {
        Some(p) => p.clone(),
        None => raw.clone(),
    };
    serde_json::from_value(strip_nulls(pipeline)).ok()
}

/// Optional fields written as `null` mean absent (YAML authors leave keys empty).
fn strip_nulls(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, strip_nulls(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(strip_nulls).collect()),
        other => other,
    }
}

/// Parses JSON or YAML text into a JSON value, with the position of a syntax error. Both are read as untrusted
/// text under [`YamlLimits::default`]: at most 4 MiB, 64 levels of nesting for YAML (JSON: serde_json's 128), and
/// YAML aliases adding at most four times the text.
pub fn parse_value(text: &str, syntax: Syntax) -> Result<Value, DefinitionError> {
    let limits = YamlLimits::default();
    match syntax {
        Syntax::Json => {
            if text.len() > limits.max_bytes {
                return Err(DefinitionError::Syntax {
                    line: 1,
                    column: 1,
                    message: format!(
                        "the text is {} bytes, over the limit of {} bytes",
                        text.len(),
                        limits.max_bytes
                    ),
                });
            }
            serde_json::from_str(text).map_err(|e| DefinitionError::Syntax {
                line: e.line(),
                column: e.column(),
                message: e
                    .to_string()
                    .split(" at line ")
                    .next()
                    .unwrap_or_default()
                    .to_owned(),
            })
        }
        Syntax::Yaml => yaml::read(text, &limits, &NoIntrinsics).map_err(|e| match e.kind {
            YamlErrorKind::Value => single(
                yaml_path(&e.path),
                format!("{} (line {}, column {})", e.message, e.line, e.column),
            ),
            YamlErrorKind::Syntax | YamlErrorKind::Limit => DefinitionError::Syntax {
                line: e.line,
                column: e.column,
                message: e.message,
            },
        }),
    }
}

/// Tags are refused in definitions: CloudFormation's short forms belong in templates.
struct NoIntrinsics;

impl Tags for NoIntrinsics {
    fn tagged(&self, tag: &str, _value: Value) -> Result<Value, String> {
        Err(format!(
            "YAML tag {tag} is not supported (CloudFormation intrinsics belong in a template, not a pipeline definition)"
        ))
    }
}

/// A YAML path relative to the pipeline object (a wrapper's `pipeline.` is dropped, as everywhere else).
fn yaml_path(steps: &[Step]) -> JsonPath {
    let mut path = JsonPath::root();
    for (i, step) in steps.iter().enumerate() {
        path = match step {
            Step::Key(k) if i == 0 && k == "pipeline" => path,
            Step::Key(k) => path.field(k),
            Step::Index(n) => path.index(*n),
        };
    }
    path
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn minimal() -> Value {
        json!({
            "name": "p",
            "stages": [
                {"name": "Source", "actions": [{"name": "S", "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "S3", "version": "1"}, "configuration": {"S3Bucket": "b", "S3ObjectKey": "k"}, "outputArtifacts": [{"name": "Src"}]}]},
                {"name": "Build", "actions": [{"name": "B", "actionTypeId": {"category": "Build", "owner": "AWS", "provider": "CodeBuild", "version": "1"}, "configuration": {"ProjectName": "x"}, "inputArtifacts": [{"name": "Src"}]}]}
            ]
        })
    }

    #[test]
    fn reads_every_form_and_writes_it_back() {
        let bare = minimal();
        let wrapped = json!({"pipeline": minimal(), "metadata": {"pipelineArn": "arn:aws:codepipeline:us-east-1:111122223333:p"}});
        let cli = json!({"pipeline": minimal(), "tags": [{"key": "team", "value": "web"}]});
        for v in [bare, wrapped, cli] {
            let doc = Document::from_value(v.clone()).expect("valid");
            assert_eq!(doc.to_value(), v);
        }
    }

    #[test]
    fn yaml_reads_like_json() {
        let yaml = "name: p\nstages:\n  - name: A\n    actions:\n      - name: S\n        actionTypeId: {category: Source, owner: AWS, provider: S3, version: '1'}\n        configuration: {S3Bucket: b, S3ObjectKey: k, PollForSourceChanges: false}\n";
        let doc = Document::parse(yaml, Syntax::Yaml).expect("valid");
        let action = &doc.pipeline.stages[0].actions[0];
        assert_eq!(action.config("PollForSourceChanges"), Some("false"));
    }

    #[test]
    fn syntax_errors_give_line_and_column() {
        let err = Document::parse("{\n  \"name\": \"p\",,\n}", Syntax::Json).expect_err("bad");
        assert!(
            matches!(err, DefinitionError::Syntax { line: 2, .. }),
            "{err}"
        );
    }

    #[test]
    fn unknown_wrapper_fields_are_reported_with_the_pipelines_problems() {
        let err = Document::from_value(
            json!({"pipeline": {"name": "p", "stages": [], "colour": 1}, "extra": 1}),
        )
        .expect_err("bad");
        assert_eq!(
            err.to_string(),
            "extra: unknown field (a wrapped definition has pipeline, metadata and tags)\ncolour: unknown field (expected one of name, roleArn, artifactStore, artifactStores, stages, version, executionMode, pipelineType, variables, triggers)"
        );
    }
}
