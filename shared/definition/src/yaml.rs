//! YAML read as untrusted input: definitions, templates and buildspecs come from repositories and API callers, so
//! reading one never costs much more than its size.
//!
//! The text goes through a pull parser (no recursion, so nesting cannot overflow a stack) and is built into a
//! JSON value under three limits, each refused with its name, the line and column, and the path reached:
//! - the input's size ([`YamlLimits::max_bytes`]);
//! - nesting ([`YamlLimits::max_depth`]), counting what an alias brings in;
//! - what aliases add ([`YamlLimits::max_alias_expansion`], a multiple of the input's size): an alias copies its
//!   anchor's value, so a few anchors aliased many times (a "billion laughs") would otherwise grow without bound.
//!
//! Scalars resolve as YAML 1.2's core schema does (as serde_yaml did before): plain `null`/`~`/empty, `true`,
//! `false`, integers (decimal, `0o`, `0x`) and floats; anything quoted, literal or folded is a string. Mapping keys
//! must be strings (booleans and numbers are written as text). Duplicate keys and more than one document are
//! refused. Tags other than the core ones (`!!str`, `!!int`, ...) are handed to the caller's [`Tags`], which
//! refuses them (definitions) or turns them into something (CloudFormation's short-form intrinsics).

use serde_json::{Map, Number, Value};
use yaml_rust2::parser::{Event, Parser, Tag};
use yaml_rust2::scanner::TScalarStyle;

/// How much a YAML text may cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct YamlLimits {
    /// The largest text read, in bytes.
    pub max_bytes: usize,
    /// The deepest nesting of sequences and mappings.
    pub max_depth: usize,
    /// What aliases may add, in bytes of scalars plus one per node, as a multiple of the text's size (at least
    /// [`ALIAS_FLOOR`] bytes).
    pub max_alias_expansion: usize,
}

/// What aliases may add to a small text, whatever its size.
pub const ALIAS_FLOOR: usize = 64 * 1024;

impl Default for YamlLimits {
    /// 4 MiB, 64 levels, aliases adding at most 4 times the text.
    fn default() -> Self {
        Self {
            max_bytes: 4 * 1024 * 1024,
            max_depth: 64,
            max_alias_expansion: 4,
        }
    }
}

/// One step of the path to a value: a mapping key or a sequence index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// A mapping's value under this key.
    Key(String),
    /// A sequence's item.
    Index(usize),
}

/// What went wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum YamlErrorKind {
    /// The text is not YAML.
    Syntax,
    /// A limit was hit.
    Limit,
    /// The YAML cannot be a JSON value here (a key that is not a string, a duplicate key, a refused tag).
    Value,
}

/// Why a YAML text could not be read: where, and what.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {column}: {message}")]
pub struct YamlError {
    /// What kind of problem.
    pub kind: YamlErrorKind,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// The path of the value being read.
    pub path: Vec<Step>,
    /// What is wrong.
    pub message: String,
}

/// What a reader does with a tag that is not one of YAML's core tags (`!Ref`, `!Sub`, `!custom`...).
pub trait Tags {
    /// The value a tagged node stands for; `Err` says why the tag is refused. `tag` includes its handle (`!Ref`).
    fn tagged(&self, tag: &str, value: Value) -> Result<Value, String>;
}

/// Refuses every tag beyond the core ones.
pub struct NoTags;

impl Tags for NoTags {
    fn tagged(&self, tag: &str, _value: Value) -> Result<Value, String> {
        Err(format!("YAML tag {tag} is not supported"))
    }
}

/// Reads YAML text into a JSON value (null for an empty document).
pub fn read(text: &str, limits: &YamlLimits, tags: &dyn Tags) -> Result<Value, YamlError> {
    Reader::new(text, limits, tags, None).run()
}

/// Where each value of a document starts: its path (`a.b[2].c`, the form serde's paths take) to its 1-based
/// line and column. Values an alias copied are found at the alias.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Lines(std::collections::HashMap<String, (usize, usize)>);

impl Lines {
    /// Where the value at `path` starts, if the document has it.
    pub fn of(&self, path: &str) -> Option<(usize, usize)> {
        self.0.get(path).copied()
    }

    /// Where the value at `path` starts, or its nearest ancestor that the document has.
    pub fn nearest(&self, path: &str) -> Option<(usize, usize)> {
        let mut p = path;
        loop {
            if let Some(at) = self.of(p) {
                return Some(at);
            }
            let cut = p.rfind(['.', '['])?;
            p = &p[..cut];
        }
    }
}

/// Renders a path as serde's paths are written: keys joined by `.`, indexes as `[n]`.
pub fn dotted(path: &[Step]) -> String {
    let mut out = String::new();
    for step in path {
        match step {
            Step::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            Step::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

/// Reads YAML text into a JSON value, with where each of its values starts.
pub fn read_with_lines(
    text: &str,
    limits: &YamlLimits,
    tags: &dyn Tags,
) -> Result<(Value, Lines), YamlError> {
    let mut lines = Lines::default();
    let value = Reader::new(text, limits, tags, Some(&mut lines)).run()?;
    Ok((value, lines))
}

/// A collection being built.
enum Frame {
    Seq {
        items: Vec<Value>,
        start: Start,
    },
    Map {
        map: Map<String, Value>,
        key: Option<String>,
        start: Start,
    },
}

/// What a collection's start event said.
struct Start {
    anchor: usize,
    tag: Option<Tag>,
    /// Bytes of scalars plus one per node, so far.
    cost: usize,
    /// The deepest nesting below this collection, so far.
    height: usize,
}

/// An anchored value, with what copying it costs and how deep it is.
struct Anchored {
    value: Value,
    cost: usize,
    height: usize,
}

struct Reader<'a> {
    text: &'a str,
    lines: Option<&'a mut Lines>,
    limits: &'a YamlLimits,
    tags: &'a dyn Tags,
    stack: Vec<Frame>,
    anchors: Vec<Option<Anchored>>,
    /// What aliases have added so far, and may add at most.
    expanded: usize,
    budget: usize,
    root: Option<Value>,
    documents: usize,
    /// Where the current event is: 1-based line, 0-based column.
    mark: (usize, usize),
}

impl<'a> Reader<'a> {
    fn new(
        text: &'a str,
        limits: &'a YamlLimits,
        tags: &'a dyn Tags,
        lines: Option<&'a mut Lines>,
    ) -> Self {
        Self {
            text,
            lines,
            limits,
            tags,
            stack: Vec::new(),
            anchors: Vec::new(),
            expanded: 0,
            budget: text
                .len()
                .saturating_mul(limits.max_alias_expansion)
                .max(ALIAS_FLOOR),
            root: None,
            documents: 0,
            mark: (1, 0),
        }
    }

    fn error(&self, kind: YamlErrorKind, message: impl Into<String>) -> YamlError {
        YamlError {
            kind,
            line: self.mark.0,
            column: self.mark.1 + 1,
            path: self.path(),
            message: message.into(),
        }
    }

    /// The path of the value the reader is at.
    fn path(&self) -> Vec<Step> {
        self.stack
            .iter()
            .filter_map(|f| match f {
                Frame::Seq { items, .. } => Some(Step::Index(items.len())),
                Frame::Map { key, .. } => key.clone().map(Step::Key),
            })
            .collect()
    }

    fn run(mut self) -> Result<Value, YamlError> {
        if self.text.len() > self.limits.max_bytes {
            return Err(self.error(
                YamlErrorKind::Limit,
                format!(
                    "the text is {} bytes, over the limit of {} bytes",
                    self.text.len(),
                    self.limits.max_bytes
                ),
            ));
        }
        let mut parser = Parser::new_from_str(self.text);
        loop {
            let (event, mark) = parser.next_token().map_err(|e| {
                // The scanner refuses flow collections nested past 255 levels before they reach us.
                let (kind, message) = if e.info() == "recursion limit exceeded" {
                    (
                        YamlErrorKind::Limit,
                        format!(
                            "nesting deeper than the limit of {} levels",
                            self.limits.max_depth
                        ),
                    )
                } else {
                    (YamlErrorKind::Syntax, e.info().to_owned())
                };
                YamlError {
                    kind,
                    line: e.marker().line(),
                    column: e.marker().col() + 1,
                    path: self.path(),
                    message,
                }
            })?;
            self.mark = (mark.line(), mark.col());
            if matches!(
                event,
                Event::Scalar(..)
                    | Event::Alias(_)
                    | Event::SequenceStart(..)
                    | Event::MappingStart(..)
            ) {
                self.note_position();
            }
            match event {
                Event::StreamEnd => break,
                Event::Nothing | Event::StreamStart | Event::DocumentEnd => {}
                Event::DocumentStart => {
                    self.documents += 1;
                    if self.documents > 1 {
                        return Err(self.error(
                            YamlErrorKind::Value,
                            "more than one YAML document: a definition is one document",
                        ));
                    }
                }
                Event::SequenceStart(anchor, tag) => {
                    self.open()?;
                    self.stack.push(Frame::Seq {
                        items: Vec::new(),
                        start: Start::new(anchor, tag),
                    });
                }
                Event::MappingStart(anchor, tag) => {
                    self.open()?;
                    self.stack.push(Frame::Map {
                        map: Map::new(),
                        key: None,
                        start: Start::new(anchor, tag),
                    });
                }
                Event::SequenceEnd | Event::MappingEnd => self.close()?,
                Event::Scalar(text, style, anchor, tag) => {
                    let cost = text.len() + 1;
                    let value = self.scalar(text, style, tag)?;
                    self.remember(anchor, &value, cost, 0);
                    self.place(value, cost, 0)?;
                }
                Event::Alias(id) => {
                    let Some(Some(a)) = self.anchors.get(id) else {
                        return Err(self.error(
                            YamlErrorKind::Value,
                            "an alias refers to an anchor that is not complete here",
                        ));
                    };
                    let (cost, height) = (a.cost, a.height);
                    if self.stack.len() + height > self.limits.max_depth {
                        return Err(self.error(
                            YamlErrorKind::Limit,
                            format!(
                                "nesting deeper than the limit of {} levels (through an alias)",
                                self.limits.max_depth
                            ),
                        ));
                    }
                    self.expanded = self.expanded.saturating_add(cost);
                    if self.expanded > self.budget {
                        return Err(self.error(
                            YamlErrorKind::Limit,
                            format!(
                                "aliases expand to more than {} bytes ({} times the text's size): refused as an alias bomb",
                                self.budget, self.limits.max_alias_expansion
                            ),
                        ));
                    }
                    let value = a.value.clone();
                    self.place(value, cost, height)?;
                }
            }
        }
        Ok(self.root.take().unwrap_or(Value::Null))
    }

    /// Records where the value about to be read starts (keys are not values).
    fn note_position(&mut self) {
        if self.lines.is_none() {
            return;
        }
        if let Some(Frame::Map { key: None, .. }) = self.stack.last() {
            return;
        }
        let path = dotted(&self.path());
        let at = (self.mark.0, self.mark.1 + 1);
        if let Some(lines) = self.lines.as_deref_mut() {
            lines.0.entry(path).or_insert(at);
        }
    }

    /// A collection starts: one level deeper.
    fn open(&self) -> Result<(), YamlError> {
        if self.stack.len() >= self.limits.max_depth {
            return Err(self.error(
                YamlErrorKind::Limit,
                format!(
                    "nesting deeper than the limit of {} levels",
                    self.limits.max_depth
                ),
            ));
        }
        if let Some(Frame::Map { key: None, .. }) = self.stack.last() {
            return Err(self.error(
                YamlErrorKind::Value,
                "mapping keys must be strings, found a sequence or mapping",
            ));
        }
        Ok(())
    }

    /// A collection ends: its value goes where it belongs.
    fn close(&mut self) -> Result<(), YamlError> {
        let Some(frame) = self.stack.pop() else {
            return Err(self.error(
                YamlErrorKind::Syntax,
                "a collection ends that never started",
            ));
        };
        let (value, start) = match frame {
            Frame::Seq { items, start } => (Value::Array(items), start),
            Frame::Map { map, start, .. } => (Value::Object(map), start),
        };
        let cost = start.cost + 1;
        let height = start.height + 1;
        let value = match start.tag {
            Some(tag) => self.apply_tag(&tag, value)?,
            None => value,
        };
        self.remember(start.anchor, &value, cost, height);
        self.place(value, cost, height)
    }

    fn remember(&mut self, anchor: usize, value: &Value, cost: usize, height: usize) {
        if anchor == 0 {
            return;
        }
        if self.anchors.len() <= anchor {
            self.anchors.resize_with(anchor + 1, || None);
        }
        self.anchors[anchor] = Some(Anchored {
            value: value.clone(),
            cost,
            height,
        });
    }

    /// Puts a finished value into its collection (or makes it the document).
    fn place(&mut self, value: Value, cost: usize, height: usize) -> Result<(), YamlError> {
        let mark_error = |s: &Self, m: String| s.error(YamlErrorKind::Value, m);
        match self.stack.last_mut() {
            None => {
                self.root = Some(value);
                Ok(())
            }
            Some(Frame::Seq { items, start }) => {
                start.cost = start.cost.saturating_add(cost);
                start.height = start.height.max(height);
                items.push(value);
                Ok(())
            }
            Some(Frame::Map { map, key, start }) => {
                start.cost = start.cost.saturating_add(cost);
                start.height = start.height.max(height);
                match key.take() {
                    Some(k) => {
                        if map.contains_key(&k) {
                            let message = format!("duplicate key {k:?}");
                            *key = Some(k);
                            return Err(mark_error(self, message));
                        }
                        map.insert(k, value);
                        Ok(())
                    }
                    None => {
                        let k = match value {
                            Value::String(s) => s,
                            Value::Bool(b) => b.to_string(),
                            Value::Number(n) => n.to_string(),
                            other => {
                                return Err(mark_error(
                                    self,
                                    format!(
                                        "mapping keys must be strings, found {}",
                                        kind_of(&other)
                                    ),
                                ))
                            }
                        };
                        *key = Some(k);
                        Ok(())
                    }
                }
            }
        }
    }

    fn scalar(
        &self,
        text: String,
        style: TScalarStyle,
        tag: Option<Tag>,
    ) -> Result<Value, YamlError> {
        match tag {
            None if style == TScalarStyle::Plain => Ok(plain(text)),
            None => Ok(Value::String(text)),
            Some(tag) => match core_tag(&tag) {
                Some("str") => Ok(Value::String(text)),
                Some(core @ ("int" | "float" | "bool" | "null")) => {
                    let value = plain(text.clone());
                    let fits = match core {
                        "int" => value.is_i64() || value.is_u64(),
                        "float" => value.is_number(),
                        "bool" => value.is_boolean(),
                        _ => value.is_null(),
                    };
                    if fits {
                        Ok(value)
                    } else {
                        Err(self.error(
                            YamlErrorKind::Value,
                            format!("{text:?} is not a valid !!{core}"),
                        ))
                    }
                }
                _ => self.apply_tag(&tag, Value::String(text)),
            },
        }
    }

    fn apply_tag(&self, tag: &Tag, value: Value) -> Result<Value, YamlError> {
        if let Some(core) = core_tag(tag) {
            return match (core, &value) {
                ("seq", Value::Array(_)) | ("map", Value::Object(_)) => Ok(value),
                _ => Err(self.error(
                    YamlErrorKind::Value,
                    format!("YAML tag !!{core} does not fit this value"),
                )),
            };
        }
        let name = format!("{}{}", tag.handle, tag.suffix);
        self.tags
            .tagged(&name, value)
            .map_err(|m| self.error(YamlErrorKind::Value, m))
    }
}

impl Start {
    fn new(anchor: usize, tag: Option<Tag>) -> Self {
        Self {
            anchor,
            tag,
            cost: 0,
            height: 0,
        }
    }
}

/// The suffix of one of YAML's own tags (`!!str`), None for any other tag.
fn core_tag(tag: &Tag) -> Option<&str> {
    matches!(tag.handle.as_str(), "!!" | "tag:yaml.org,2002:").then_some(tag.suffix.as_str())
}

/// A plain scalar as YAML 1.2's core schema resolves it.
fn plain(text: String) -> Value {
    match text.as_str() {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        _ => {}
    }
    if let Some(n) = integer(&text) {
        return Value::Number(n);
    }
    if is_float(&text) {
        if let Ok(f) = text.parse::<f64>() {
            if let Some(n) = Number::from_f64(f) {
                return Value::Number(n);
            }
        }
    }
    match text.as_str() {
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" | "-.inf" | "-.Inf" | "-.INF"
        | ".nan" | ".NaN" | ".NAN" => Value::Null,
        _ => Value::String(text),
    }
}

fn integer(text: &str) -> Option<Number> {
    let (negative, digits) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let (radix, body) = if let Some(h) = digits.strip_prefix("0x") {
        (16, h)
    } else if let Some(o) = digits.strip_prefix("0o") {
        (8, o)
    } else {
        (10, digits)
    };
    if body.is_empty() || !body.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    if radix != 10 && negative {
        return None;
    }
    let magnitude = u64::from_str_radix(body, radix).ok()?;
    if negative {
        i64::try_from(magnitude)
            .ok()
            .map(|m| Number::from(-m))
            .or_else(|| (magnitude == 1 << 63).then(|| Number::from(i64::MIN)))
    } else {
        Some(Number::from(magnitude))
    }
}

/// `[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?`
fn is_float(text: &str) -> bool {
    let s = text.strip_prefix(['-', '+']).unwrap_or(text);
    let (mantissa, exponent) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let mantissa_ok = match mantissa.split_once('.') {
        Some((whole, frac)) => {
            whole.bytes().all(|b| b.is_ascii_digit())
                && frac.bytes().all(|b| b.is_ascii_digit())
                && !(whole.is_empty() && frac.is_empty())
        }
        None => !mantissa.is_empty() && mantissa.bytes().all(|b| b.is_ascii_digit()),
    };
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['-', '+']).unwrap_or(e);
        !e.is_empty() && e.bytes().all(|b| b.is_ascii_digit())
    });
    mantissa_ok && exponent_ok
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a sequence",
        Value::Object(_) => "a mapping",
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn check(text: &str, expected: Result<Value, &str>) {
        let got = read(text, &YamlLimits::default(), &NoTags).map_err(|e| e.to_string());
        let shown: String = text.chars().take(80).collect();
        match (got, expected) {
            (Ok(v), Ok(want)) => assert_eq!(v, want, "{shown}"),
            (Err(e), Err(want)) => assert!(e.contains(want), "{shown}: {e}"),
            (got, want) => {
                let got: Result<String, String> =
                    got.map(|v| v.to_string().chars().take(200).collect());
                panic!("{shown}: got {got:?}, want {want:?}")
            }
        }
    }

    #[test]
    fn scalars_resolve_as_the_core_schema_says() {
        check(
            "a: 1\nb: -2\nc: 1.5\nd: true\ne: ~\nf: yes\ng: '1'\nh: 0x1F\ni: 1e3\nj: .5\nk: 01\nl:\nm: \"true\"\nn: 1.2.3",
            Ok(json!({"a": 1, "b": -2, "c": 1.5, "d": true, "e": null, "f": "yes", "g": "1", "h": 31, "i": 1000.0, "j": 0.5, "k": 1, "l": null, "m": "true", "n": "1.2.3"})),
        );
        check(
            "- !!str 1\n- !!int '2'\n- |\n  x\n",
            Ok(json!(["1", 2, "x\n"])),
        );
        check("", Ok(Value::Null));
    }

    #[test]
    fn anchors_and_aliases_copy_values() {
        check(
            "base: &b {x: 1}\nother: *b\nlist: [&s str, *s]",
            Ok(json!({"base": {"x": 1}, "other": {"x": 1}, "list": ["str", "str"]})),
        );
    }

    #[test]
    fn what_json_cannot_hold_is_refused_with_its_place() {
        check("a: 1\na: 2", Err("line 2, column 4: duplicate key \"a\""));
        check("? [a]\n: b", Err("mapping keys must be strings"));
        check("a: !Ref b", Err("YAML tag !Ref is not supported"));
        check("a: 1\n---\nb: 2", Err("more than one YAML document"));
        check("a: [1, 2", Err("line"));
    }

    #[test]
    fn an_alias_bomb_is_refused_early() {
        let mut text = String::from(
            "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
        );
        let mut prev = 'a';
        for name in 'b'..='j' {
            text.push_str(&format!("{name}: &{name} [*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev}]\n"));
            prev = name;
        }
        check(&text, Err("refused as an alias bomb"));
        let big = format!(
            "s: &s \"{}\"\nlist: [{}]",
            "x".repeat(1 << 20),
            vec!["*s"; 1500].join(",")
        );
        check(&big, Err("refused as an alias bomb"));
    }

    #[test]
    fn deep_nesting_is_refused_at_the_limit() {
        let deep = format!("{}1{}", "[".repeat(60_000), "]".repeat(60_000));
        check(&deep, Err("nesting deeper than the limit of 64 levels"));
        let mut block = String::new();
        for i in 0..100 {
            block.push_str(&format!("{}k{i}:\n", " ".repeat(i)));
        }
        check(&block, Err("nesting deeper than the limit of 64 levels"));
        let ok = format!("{}1{}", "[".repeat(64), "]".repeat(64));
        assert!(read(&ok, &YamlLimits::default(), &NoTags).is_ok());
        let through_alias = format!("a: &a {}1{}\nb: [[*a]]", "[".repeat(63), "]".repeat(63));
        check(&through_alias, Err("through an alias"));
    }

    #[test]
    fn the_size_limit_is_checked_first() {
        let limits = YamlLimits {
            max_bytes: 10,
            ..YamlLimits::default()
        };
        let e = read("a: 12345678901", &limits, &NoTags).expect_err("too big");
        assert_eq!(e.kind, YamlErrorKind::Limit);
        assert!(e.message.contains("over the limit of 10 bytes"), "{e}");
    }

    #[test]
    fn every_value_knows_its_line() {
        let (v, lines) = read_with_lines(
            "phases:\n  build:\n    commands:\n      - make\n      - make test\nversion: 0.2\n",
            &YamlLimits::default(),
            &NoTags,
        )
        .expect("reads");
        assert_eq!(v["phases"]["build"]["commands"][1], "make test");
        assert_eq!(lines.of("phases.build.commands[1]"), Some((5, 9)));
        assert_eq!(lines.of("version"), Some((6, 10)));
        assert_eq!(
            lines.nearest("phases.build.nothing[3]").map(|at| at.0),
            Some(3)
        );
    }

    #[test]
    fn errors_carry_the_path_reached() {
        let e = read(
            "stages:\n  - name: a\n    x: !Sub y\n",
            &YamlLimits::default(),
            &NoTags,
        )
        .expect_err("tag refused");
        assert_eq!(
            e.path,
            vec![
                Step::Key("stages".into()),
                Step::Index(0),
                Step::Key("x".into())
            ]
        );
        assert_eq!((e.line, e.kind), (3, YamlErrorKind::Value));
    }
}
