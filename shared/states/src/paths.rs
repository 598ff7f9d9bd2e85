//! JSONPath handling with Step Functions semantics.
//!
//! Two kinds of path appear in ASL (JSONPath query language):
//! - *reference paths* (`InputPath`, `OutputPath`, `ResultPath`, Choice `Variable`, the `*Path` fields):
//!   `$`, then `.name`, `['name']` or `[index]` segments only, so they select at most one node;
//! - *paths* (the values of `.$` fields in `Parameters` and `ResultSelector`): any JSONPath; a path
//!   that is not a reference path (wildcards, filters, slices, descendants) yields an array of matches.
//!
//! Reading uses `serde_json_path` (RFC 9535). Reference paths are parsed here first, which both
//! validates them and rewrites them to bracket notation (so Jayway-style names such as
//! `$.detail-type` work), and lets `ResultPath` write into nested fields.
//! Paths beginning `$$` read the context object instead of the state input.

use serde_json::{Map, Value};
use serde_json_path::JsonPath;

use crate::errors::{self, Failure};

/// One step of a reference path.
#[derive(Debug, Clone, PartialEq)]
enum Segment {
    Field(String),
    Index(usize),
}

/// A path selecting at most one node, e.g. `$.gate.attempt` or `$['a b'][0]`.
#[derive(Debug, Clone)]
pub struct ReferencePath {
    text: String,
    segments: Vec<Segment>,
    /// `None` for the root path `$`.
    query: Option<JsonPath>,
}

impl PartialEq for ReferencePath {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl ReferencePath {
    /// Parses a reference path; the error says why it is not one.
    pub fn parse(text: &str) -> Result<Self, String> {
        let segments = parse_segments(text)?;
        let query = if segments.is_empty() {
            None
        } else {
            let normalized = normalize(&segments);
            Some(
                JsonPath::parse(&normalized)
                    .map_err(|e| format!("invalid reference path '{text}': {e}"))?,
            )
        };
        Ok(Self {
            text: text.to_owned(),
            segments,
            query,
        })
    }

    /// `$`.
    pub fn root() -> Self {
        Self {
            text: "$".into(),
            segments: Vec::new(),
            query: None,
        }
    }

    /// The path as written in the definition.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether this is `$`, the whole value.
    pub fn is_root(&self) -> bool {
        self.segments.is_empty()
    }

    /// Whether every segment names an object field (required of `ResultPath`).
    pub fn is_fields_only(&self) -> bool {
        self.segments.iter().all(|s| matches!(s, Segment::Field(_)))
    }

    /// The node this path selects in `value`, if it exists.
    pub fn read<'v>(&self, value: &'v Value) -> Option<&'v Value> {
        match &self.query {
            None => Some(value),
            Some(query) => query.query(value).at_most_one().ok().flatten(),
        }
    }

    /// Places `result` at this path inside `target`, creating missing objects on the way, as
    /// `ResultPath` does. Fails when a segment meets something other than an object.
    pub fn write(&self, target: Value, result: Value) -> Result<Value, Failure> {
        if self.is_root() {
            return Ok(result);
        }
        let mut root = target;
        let mut node = &mut root;
        let last = self.segments.len() - 1;
        for (i, segment) in self.segments.iter().enumerate() {
            let Segment::Field(name) = segment else {
                return Err(self.write_failure());
            };
            let Value::Object(map) = node else {
                return Err(self.write_failure());
            };
            if i == last {
                map.insert(name.clone(), result);
                return Ok(root);
            }
            node = map
                .entry(name.clone())
                .or_insert_with(|| Value::Object(Map::new()));
        }
        Ok(root)
    }

    fn write_failure(&self) -> Failure {
        Failure::new(
            errors::RESULT_PATH_MATCH_FAILURE,
            format!(
                "Unable to apply ResultPath '{}' to the state's input",
                self.text
            ),
        )
    }
}

fn parse_segments(text: &str) -> Result<Vec<Segment>, String> {
    let not_reference = |why: &str| format!("'{text}' is not a reference path: {why}");
    let mut chars = text.chars().peekable();
    if chars.next() != Some('$') {
        return Err(not_reference("it must begin with '$'"));
    }
    let mut segments = Vec::new();
    while let Some(c) = chars.next() {
        match c {
            '.' => {
                let mut name = String::new();
                while let Some(&c) = chars.peek() {
                    if c == '.' || c == '[' {
                        break;
                    }
                    name.push(c);
                    chars.next();
                }
                if name.is_empty() {
                    return Err(not_reference("empty or descendant ('..') segment"));
                }
                if name == "*" {
                    return Err(not_reference("wildcards select several nodes"));
                }
                segments.push(Segment::Field(name));
            }
            '[' => {
                if let Some(&quote @ ('\'' | '"')) = chars.peek() {
                    chars.next();
                    let mut name = String::new();
                    loop {
                        match chars.next() {
                            Some('\\') => name.extend(chars.next()),
                            Some(c) if c == quote => break,
                            Some(c) => name.push(c),
                            None => return Err(not_reference("unterminated bracket")),
                        }
                    }
                    if chars.next() != Some(']') {
                        return Err(not_reference("unterminated bracket"));
                    }
                    segments.push(Segment::Field(name));
                } else {
                    let mut digits = String::new();
                    loop {
                        match chars.next() {
                            Some(']') => break,
                            Some(c) => digits.push(c),
                            None => return Err(not_reference("unterminated bracket")),
                        }
                    }
                    let index = digits.parse::<usize>().map_err(|_| {
                        not_reference("only field names and array indexes are allowed")
                    })?;
                    segments.push(Segment::Index(index));
                }
            }
            _ => return Err(not_reference("expected '.' or '['")),
        }
    }
    Ok(segments)
}

fn normalize(segments: &[Segment]) -> String {
    let mut out = String::from("$");
    for segment in segments {
        match segment {
            Segment::Field(name) => {
                out.push_str("['");
                for c in name.chars() {
                    if c == '\'' || c == '\\' {
                        out.push('\\');
                    }
                    out.push(c);
                }
                out.push_str("']");
            }
            Segment::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

/// Where a path reads from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The state's (effective) input, `$...`.
    Input,
    /// The context object, `$$...`.
    Context,
}

#[derive(Debug, Clone)]
enum Expr {
    Definite(ReferencePath),
    Indefinite(JsonPath),
}

/// A path as allowed in `.$` fields: definite (one node) or indefinite (an array of matches).
#[derive(Debug, Clone)]
pub struct Path {
    text: String,
    source: Source,
    expr: Expr,
}

impl PartialEq for Path {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Path {
    /// Parses a path; `$$`-paths read the context object.
    pub fn parse(text: &str) -> Result<Self, String> {
        let (source, body) = match text.strip_prefix("$$") {
            Some(rest) => (Source::Context, format!("${rest}")),
            None => (Source::Input, text.to_owned()),
        };
        let expr = match ReferencePath::parse(&body) {
            Ok(reference) => Expr::Definite(reference),
            Err(_) => Expr::Indefinite(
                JsonPath::parse(&body).map_err(|e| format!("invalid JSONPath '{text}': {e}"))?,
            ),
        };
        Ok(Self {
            text: text.to_owned(),
            source,
            expr,
        })
    }

    /// Parses a reference path that may read the context object (Choice `Variable`s and `*Path` fields).
    pub fn parse_reference(text: &str) -> Result<Self, String> {
        let path = Self::parse(text)?;
        match path.expr {
            Expr::Definite(_) => Ok(path),
            Expr::Indefinite(_) => Err(format!("'{text}' is not a reference path")),
        }
    }

    /// The path as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Which document the path reads.
    pub fn source(&self) -> Source {
        self.source
    }

    /// Evaluates against the input or the context; `None` when a definite path matches nothing.
    pub fn evaluate(&self, input: &Value, context: &Value) -> Option<Value> {
        let doc = match self.source {
            Source::Input => input,
            Source::Context => context,
        };
        match &self.expr {
            Expr::Definite(reference) => reference.read(doc).cloned(),
            Expr::Indefinite(query) => Some(Value::Array(
                query.query(doc).all().into_iter().cloned().collect(),
            )),
        }
    }
}

/// `InputPath` / `OutputPath`: a reference path, or `null` meaning "an empty object".
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Selector {
    /// `$` (the default): everything.
    #[default]
    All,
    /// A reference path.
    Path(ReferencePath),
    /// `null`: `{}`.
    Empty,
}

impl Selector {
    /// Applies the selector; the error is a `States.Runtime` failure naming `field`.
    pub fn select(&self, value: &Value, field: &str) -> Result<Value, Failure> {
        match self {
            Self::All => Ok(value.clone()),
            Self::Empty => Ok(Value::Object(Map::new())),
            Self::Path(path) => path
                .read(value)
                .cloned()
                .ok_or_else(|| not_found(path.as_str(), field, value, Source::Input)),
        }
    }
}

/// `ResultPath`: where a state's result goes in its raw input.
#[derive(Debug, Clone, PartialEq)]
pub enum ResultPath {
    /// A reference path of field names (default `$`: the result replaces the input).
    Path(ReferencePath),
    /// `null`: the result is discarded and the input passes through.
    Discard,
}

impl Default for ResultPath {
    fn default() -> Self {
        Self::Path(ReferencePath::root())
    }
}

impl ResultPath {
    /// Combines the raw state input with the result.
    pub fn apply(&self, raw_input: &Value, result: Value) -> Result<Value, Failure> {
        match self {
            Self::Discard => Ok(raw_input.clone()),
            Self::Path(path) => path.write(raw_input.clone(), result),
        }
    }
}

/// The `States.Runtime` failure Step Functions reports when a path matches nothing.
pub fn not_found(path: &str, field: &str, doc: &Value, source: Source) -> Failure {
    let whence = match source {
        Source::Input => "input",
        Source::Context => "context object",
    };
    Failure::new(
        errors::RUNTIME,
        format!("The JSONPath '{path}' specified for the field '{field}' could not be found in the {whence} '{doc}'"),
    )
}

/// A compiled `Parameters` / `ResultSelector` payload template.
#[derive(Debug, Clone, PartialEq)]
pub enum Template {
    /// A value copied as is.
    Literal(Value),
    /// An object whose fields may be dynamic (`"key.$": "$.path"`).
    Object(Vec<(String, Field)>),
    /// An array whose elements are templates.
    Array(Vec<Template>),
}

/// One field of an object template.
#[derive(Debug, Clone, PartialEq)]
pub enum Field {
    /// `"key": <template>`.
    Static(Template),
    /// `"key.$": "<path>"`: the value is read at run time.
    Dynamic(Path),
}

impl Template {
    /// Compiles a template; `.$` values must be paths (intrinsic functions are refused).
    pub fn compile(value: &Value) -> Result<Self, String> {
        match value {
            Value::Object(map) => {
                let mut fields = Vec::with_capacity(map.len());
                for (key, value) in map {
                    if let Some(name) = key.strip_suffix(".$") {
                        let Value::String(text) = value else {
                            return Err(format!("field '{key}' must be a string path"));
                        };
                        if !text.starts_with('$') {
                            return Err(format!(
                                "field '{key}': intrinsic functions and other non-path values are not supported: '{text}'"
                            ));
                        }
                        let path = Path::parse(text).map_err(|e| format!("field '{key}': {e}"))?;
                        if map.contains_key(name) {
                            return Err(format!("fields '{name}' and '{key}' collide"));
                        }
                        fields.push((name.to_owned(), Field::Dynamic(path)));
                    } else {
                        fields.push((key.clone(), Field::Static(Self::compile(value)?)));
                    }
                }
                Ok(Self::Object(fields))
            }
            Value::Array(items) => Ok(Self::Array(
                items.iter().map(Self::compile).collect::<Result<_, _>>()?,
            )),
            other => Ok(Self::Literal(other.clone())),
        }
    }

    /// The static value of `key` in an object template, if it is a literal string.
    pub fn literal_str(&self, key: &str) -> Option<&str> {
        let Self::Object(fields) = self else {
            return None;
        };
        fields.iter().find_map(|(name, field)| match field {
            Field::Static(Self::Literal(Value::String(s))) if name == key => Some(s.as_str()),
            _ => None,
        })
    }

    /// Whether an object template has a field called `key` (static or dynamic).
    pub fn has_field(&self, key: &str) -> bool {
        matches!(self, Self::Object(fields) if fields.iter().any(|(name, _)| name == key))
    }

    /// The names of an object template's fields.
    pub fn field_names(&self) -> Vec<&str> {
        match self {
            Self::Object(fields) => fields.iter().map(|(name, _)| name.as_str()).collect(),
            _ => Vec::new(),
        }
    }

    /// Builds the payload from the input and the context object.
    pub fn render(&self, input: &Value, context: &Value) -> Result<Value, Failure> {
        match self {
            Self::Literal(value) => Ok(value.clone()),
            Self::Array(items) => Ok(Value::Array(
                items
                    .iter()
                    .map(|t| t.render(input, context))
                    .collect::<Result<_, _>>()?,
            )),
            Self::Object(fields) => {
                let mut out = Map::new();
                for (name, field) in fields {
                    let value = match field {
                        Field::Static(template) => template.render(input, context)?,
                        Field::Dynamic(path) => path.evaluate(input, context).ok_or_else(|| {
                            let doc = match path.source() {
                                Source::Input => input,
                                Source::Context => context,
                            };
                            not_found(path.as_str(), &format!("{name}.$"), doc, path.source())
                        })?,
                    };
                    out.insert(name.clone(), value);
                }
                Ok(Value::Object(out))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check_read(path: &str, doc: Value, expected: Option<Value>) {
        let path = ReferencePath::parse(path).expect("reference path");
        assert_eq!(path.read(&doc).cloned(), expected, "{}", path.as_str());
    }

    #[test]
    fn reads_reference_paths() {
        let doc = json!({"a": {"b": [10, {"c": "x"}]}, "detail-type": "t", "it's": 1});
        check_read("$", doc.clone(), Some(doc.clone()));
        check_read("$.a.b[0]", doc.clone(), Some(json!(10)));
        check_read("$.a.b[1].c", doc.clone(), Some(json!("x")));
        check_read("$['a']['b'][1]", doc.clone(), Some(json!({"c": "x"})));
        check_read("$.detail-type", doc.clone(), Some(json!("t")));
        check_read("$['it\\'s']", doc.clone(), Some(json!(1)));
        check_read("$.missing", doc.clone(), None);
        check_read("$.a.b[7]", doc, None);
    }

    #[test]
    fn refuses_non_reference_paths() {
        for text in [
            "a.b",
            "$..a",
            "$.a[*]",
            "$.*",
            "$.a[?(@.b)]",
            "$.a[1:2]",
            "$[",
            "$.a[",
        ] {
            assert!(ReferencePath::parse(text).is_err(), "{text} accepted");
        }
    }

    fn check_write(path: &str, input: Value, result: Value, expected: Result<Value, &str>) {
        let path = ReferencePath::parse(path).expect("reference path");
        let got = path.write(input, result).map_err(|f| f.error);
        assert_eq!(got, expected.map_err(str::to_owned), "{}", path.as_str());
    }

    #[test]
    fn writes_result_paths() {
        check_write("$", json!({"a": 1}), json!(2), Ok(json!(2)));
        check_write(
            "$.r",
            json!({"a": 1}),
            json!(2),
            Ok(json!({"a": 1, "r": 2})),
        );
        check_write("$.a", json!({"a": 1}), json!(2), Ok(json!({"a": 2})));
        check_write(
            "$.x.y.z",
            json!({}),
            json!(true),
            Ok(json!({"x": {"y": {"z": true}}})),
        );
        check_write(
            "$.a.b",
            json!({"a": {"c": 1}}),
            json!(2),
            Ok(json!({"a": {"c": 1, "b": 2}})),
        );
        check_write(
            "$.a.b",
            json!({"a": 5}),
            json!(2),
            Err(errors::RESULT_PATH_MATCH_FAILURE),
        );
        check_write(
            "$.a",
            json!("text"),
            json!(2),
            Err(errors::RESULT_PATH_MATCH_FAILURE),
        );
    }

    #[test]
    fn full_paths_return_arrays_when_indefinite() {
        let input = json!({"items": [{"n": 1}, {"n": 2}], "one": {"n": 3}});
        let context = json!({"Execution": {"Name": "e1"}});
        let table = [
            ("$.one.n", Some(json!(3))),
            ("$.items[*].n", Some(json!([1, 2]))),
            ("$..n", Some(json!([1, 2, 3]))),
            ("$.items[?@.n > 1]", Some(json!([{"n": 2}]))),
            ("$.nothing", None),
            ("$$.Execution.Name", Some(json!("e1"))),
            ("$$.Task.Token", None),
        ];
        for (text, expected) in table {
            let path = Path::parse(text).expect("path");
            assert_eq!(path.evaluate(&input, &context), expected, "{text}");
        }
    }

    #[test]
    fn renders_templates() {
        let template = Template::compile(&json!({
            "fixed": "v",
            "from.$": "$.a",
            "nested": {"ctx.$": "$$.Execution.Name", "list": [1, {"x.$": "$.b"}]}
        }))
        .expect("compiles");
        let input = json!({"a": 1, "b": [2]});
        let context = json!({"Execution": {"Name": "e1"}});
        assert_eq!(
            template.render(&input, &context).expect("renders"),
            json!({"fixed": "v", "from": 1, "nested": {"ctx": "e1", "list": [1, {"x": [2]}]}})
        );
        let failure = Template::compile(&json!({"e.$": "$.error"}))
            .expect("compiles")
            .render(&json!({"a": 1}), &context)
            .expect_err("missing path");
        assert_eq!(failure.error, errors::RUNTIME);
        assert_eq!(
            failure.cause.as_deref(),
            Some("The JSONPath '$.error' specified for the field 'e.$' could not be found in the input '{\"a\":1}'")
        );
    }

    #[test]
    fn refuses_intrinsics_and_bad_templates() {
        let table = [
            (json!({"a.$": "States.Format('{}', $.x)"}), "field 'a.$': intrinsic functions and other non-path values are not supported: 'States.Format('{}', $.x)'"),
            (json!({"a.$": 3}), "field 'a.$' must be a string path"),
            (json!({"a": 1, "a.$": "$.x"}), "fields 'a' and 'a.$' collide"),
        ];
        for (value, expected) in table {
            assert_eq!(Template::compile(&value).expect_err("refused"), expected);
        }
    }
}
