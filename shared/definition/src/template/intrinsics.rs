//! Resolving CloudFormation's intrinsic functions in a template's values, as CloudFormation would when it
//! creates the stack, from the parameters' values and the pseudo parameters. What only a deployment can know
//! (another resource's `Ref` or attribute, an export, a dynamic reference) comes from the caller's values when
//! given, else is refused with its path or, when placeholders are allowed, replaced by a marked placeholder.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

pub use crate::placeholder::UNRESOLVED;

/// A value, or CloudFormation's `AWS::NoValue` (the key or item is left out).
pub(crate) enum Out {
    Val(Value),
    NoValue,
}

/// What a template's values resolve against.
pub(crate) struct Scope<'a> {
    /// Parameters and pseudo parameters (`AWS::Region`...): a string, or a list of strings.
    pub parameters: BTreeMap<String, Value>,
    /// Values the caller gave for what only a deployment knows: `Resource`, `Resource.Attribute`, an export's
    /// name, a dynamic reference.
    pub values: &'a BTreeMap<String, String>,
    /// The template's resources' logical ids.
    pub resources: BTreeSet<String>,
    /// The template's Mappings.
    pub mappings: Value,
    /// The template's Conditions (expressions).
    pub condition_exprs: Map<String, Value>,
    /// Conditions evaluated so far.
    pub conditions: BTreeMap<String, bool>,
    /// Replace what cannot be known by a placeholder instead of refusing it.
    pub placeholders: bool,
    /// Problems: (template path, message).
    pub problems: Vec<(String, String)>,
    /// The placeholders used, described.
    pub unresolved: Vec<String>,
    /// Where each resolved value came from: (resolved path, template path).
    pub origins: Vec<(String, String)>,
    /// Names of the template's pipelines by logical id (a pipeline's `Ref` is its name).
    pub names: BTreeMap<String, String>,
    /// Parameters and conditions already reported as broken: what refers to them adds no problem of its own.
    pub broken: BTreeSet<String>,
}

fn key(path: &str, k: &str) -> String {
    if path.is_empty() {
        k.to_owned()
    } else {
        format!("{path}.{k}")
    }
}

fn index(path: &str, i: usize) -> String {
    format!("{path}[{i}]")
}

/// A scalar as the string CloudFormation makes of it.
fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn describe(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// The intrinsic function a one-key object is, if it is one.
fn intrinsic(map: &Map<String, Value>) -> Option<(&str, &Value)> {
    if map.len() != 1 {
        return None;
    }
    let (k, v) = map.iter().next()?;
    (k == "Ref" || k.starts_with("Fn::")).then_some((k.as_str(), v))
}

impl Scope<'_> {
    fn problem(&mut self, at: &str, message: impl Into<String>) -> Option<Out> {
        self.problems.push((at.to_owned(), message.into()));
        None
    }

    /// A value only a deployment knows: the caller's value for `key`, a placeholder, or a problem.
    fn unknown(&mut self, what: &str, key: &str, at: &str) -> Option<Out> {
        if let Some(v) = self.values.get(key) {
            return Some(Out::Val(Value::String(v.clone())));
        }
        if self.placeholders {
            self.unresolved.push(format!("{at}: {what}"));
            return Some(Out::Val(Value::String(format!("{UNRESOLVED}{what}>"))));
        }
        self.problem(
            at,
            format!(
                "{what} cannot be known without deploying the stack: give its value with --parameter '{key}=VALUE'"
            ),
        )
    }

    /// Resolves `v` (at template path `at`), to be placed at resolved path `out`.
    pub(crate) fn resolve(&mut self, v: &Value, at: &str, out: &str) -> Option<Out> {
        if !out.is_empty() {
            self.origins.push((out.to_owned(), at.to_owned()));
        }
        match v {
            Value::Object(map) => {
                if let Some((name, arg)) = intrinsic(map) {
                    return self.function(name, arg, &key(at, name), out);
                }
                let mut resolved = Map::new();
                let mut failed = false;
                for (k, item) in map {
                    match self.resolve(item, &key(at, k), &key(out, k)) {
                        Some(Out::Val(x)) => {
                            resolved.insert(k.clone(), x);
                        }
                        Some(Out::NoValue) => {}
                        None => failed = true,
                    }
                }
                (!failed).then_some(Out::Val(Value::Object(resolved)))
            }
            Value::Array(items) => {
                let mut resolved = Vec::new();
                let mut failed = false;
                for (i, item) in items.iter().enumerate() {
                    match self.resolve(item, &index(at, i), &index(out, resolved.len())) {
                        Some(Out::Val(x)) => resolved.push(x),
                        Some(Out::NoValue) => {}
                        None => failed = true,
                    }
                }
                (!failed).then_some(Out::Val(Value::Array(resolved)))
            }
            Value::String(s) if s.contains("{{resolve:") => {
                let what = format!("the dynamic reference {s}");
                self.unknown(&what, s, at)
            }
            other => Some(Out::Val(other.clone())),
        }
    }

    /// Resolves `v` to a value (not `AWS::NoValue`).
    fn value(&mut self, v: &Value, at: &str) -> Option<Value> {
        match self.resolve(v, at, "")? {
            Out::Val(x) => Some(x),
            Out::NoValue => {
                self.problem(at, "AWS::NoValue is not a value here");
                None
            }
        }
    }

    /// Resolves `v` to a string.
    fn string(&mut self, v: &Value, at: &str) -> Option<String> {
        let x = self.value(v, at)?;
        match text(&x) {
            Some(s) => Some(s),
            None => {
                self.problem(at, format!("expected a string, found {}", describe(&x)));
                None
            }
        }
    }

    /// Resolves `v` to a list of strings.
    fn strings(&mut self, v: &Value, at: &str) -> Option<Vec<String>> {
        let x = self.value(v, at)?;
        let Value::Array(items) = x else {
            self.problem(at, format!("expected a list, found {}", describe(&x)));
            return None;
        };
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            match text(item) {
                Some(s) => out.push(s),
                None => {
                    self.problem(
                        &index(at, i),
                        format!("expected a string, found {}", describe(item)),
                    );
                    return None;
                }
            }
        }
        Some(out)
    }

    /// The arguments of a function taking a list of `n` (or `n..=m`) items.
    fn args<'v>(
        &mut self,
        name: &str,
        arg: &'v Value,
        at: &str,
        n: usize,
        m: usize,
    ) -> Option<&'v [Value]> {
        match arg.as_array() {
            Some(items) if (n..=m).contains(&items.len()) => Some(items),
            _ => {
                let count = if n == m {
                    n.to_string()
                } else {
                    format!("{n} to {m}")
                };
                self.problem(at, format!("{name} takes a list of {count} items"));
                None
            }
        }
    }

    fn function(&mut self, name: &str, arg: &Value, at: &str, out: &str) -> Option<Out> {
        match name {
            "Ref" => {
                let Some(target) = arg.as_str() else {
                    return self.problem(at, "Ref takes the name of a parameter or resource");
                };
                self.reference(target, at)
            }
            "Fn::GetAtt" => {
                let parts = match arg {
                    Value::String(s) => s.split_once('.').map(|(a, b)| (a.to_owned(), b.to_owned())),
                    Value::Array(items) if items.len() == 2 => {
                        let resource = items[0].as_str().map(str::to_owned);
                        let attribute = self.string(&items[1], &index(at, 1));
                        resource.zip(attribute)
                    }
                    _ => None,
                };
                let Some((resource, attribute)) = parts else {
                    return self.problem(at, "Fn::GetAtt takes [Resource, Attribute]");
                };
                self.attribute(&resource, &attribute, at)
            }
            "Fn::Sub" => self.sub(arg, at),
            "Fn::Join" => {
                let items = self.args(name, arg, at, 2, 2)?;
                let delimiter = self.string(&items[0], &index(at, 0))?;
                let parts = self.strings(&items[1], &index(at, 1))?;
                Some(Out::Val(Value::String(parts.join(&delimiter))))
            }
            "Fn::Select" => {
                let items = self.args(name, arg, at, 2, 2)?;
                let i = self.string(&items[0], &index(at, 0))?;
                let list = self.value(&items[1], &index(at, 1))?;
                let Value::Array(list) = list else {
                    return self.problem(&index(at, 1), "Fn::Select picks from a list");
                };
                match i.parse::<usize>().ok().and_then(|i| list.get(i).cloned()) {
                    Some(x) => Some(Out::Val(x)),
                    None => self.problem(
                        at,
                        format!("Fn::Select index {i} is not within the list's {} items", list.len()),
                    ),
                }
            }
            "Fn::Split" => {
                let items = self.args(name, arg, at, 2, 2)?;
                let delimiter = self.string(&items[0], &index(at, 0))?;
                let source = self.string(&items[1], &index(at, 1))?;
                if delimiter.is_empty() {
                    return self.problem(at, "Fn::Split needs a delimiter");
                }
                Some(Out::Val(Value::Array(
                    source.split(&delimiter).map(|s| Value::String(s.to_owned())).collect(),
                )))
            }
            "Fn::If" => {
                let items = self.args(name, arg, at, 3, 3)?;
                let Some(condition) = items[0].as_str() else {
                    return self.problem(&index(at, 0), "Fn::If names a condition of the template");
                };
                let holds = self.condition(condition, &index(at, 0))?;
                let branch = if holds { 1 } else { 2 };
                self.resolve(&items[branch], &index(at, branch), out)
            }
            "Fn::FindInMap" => {
                let items = self.args(name, arg, at, 3, 4)?;
                let map = self.string(&items[0], &index(at, 0))?;
                let top = self.string(&items[1], &index(at, 1))?;
                let second = self.string(&items[2], &index(at, 2))?;
                if let Some(found) = self.mappings.get(&map).and_then(|m| m.get(&top)).and_then(|m| m.get(&second)) {
                    return Some(Out::Val(found.clone()));
                }
                if let Some(default) = items.get(3).and_then(|d| d.get("DefaultValue")) {
                    return self.resolve(default, &key(&index(at, 3), "DefaultValue"), out);
                }
                self.problem(at, format!("Mappings has no {map}.{top}.{second}"))
            }
            "Fn::ImportValue" => {
                let export = self.string(arg, at)?;
                self.unknown(&format!("!ImportValue {export}"), &export, at)
            }
            "Fn::Base64" => {
                let s = self.string(arg, at)?;
                Some(Out::Val(Value::String(base64(s.as_bytes()))))
            }
            "Fn::GetAZs" => self.unknown("!GetAZs", "Fn::GetAZs", at),
            "Fn::Length" => {
                let x = self.value(arg, at)?;
                match x {
                    Value::Array(items) => Some(Out::Val(Value::from(items.len()))),
                    other => self.problem(at, format!("Fn::Length counts a list, not {}", describe(&other))),
                }
            }
            "Fn::ToJsonString" => {
                let x = self.value(arg, at)?;
                Some(Out::Val(Value::String(x.to_string())))
            }
            "Fn::Equals" | "Fn::And" | "Fn::Or" | "Fn::Not" => self.problem(
                at,
                format!("{name} belongs in the template's Conditions (use Fn::If with a condition here)"),
            ),
            other => self.problem(at, format!("{other} is not supported in a pipeline's properties")),
        }
    }

    fn reference(&mut self, target: &str, at: &str) -> Option<Out> {
        if self.broken.contains(target) {
            return None;
        }
        if target == "AWS::NoValue" {
            return Some(Out::NoValue);
        }
        if let Some(v) = self.parameters.get(target) {
            return Some(Out::Val(v.clone()));
        }
        if let Some(name) = self
            .names
            .get(target)
            .filter(|_| !self.values.contains_key(target))
        {
            return Some(Out::Val(Value::String(name.clone())));
        }
        if self.resources.contains(target) {
            return self.unknown(&format!("!Ref {target}"), target, at);
        }
        self.problem(
            at,
            format!("Ref to {target}, which is neither a parameter nor a resource of the template"),
        )
    }

    fn attribute(&mut self, resource: &str, attribute: &str, at: &str) -> Option<Out> {
        if !self.resources.contains(resource) {
            return self.problem(
                at,
                format!("Fn::GetAtt of {resource}, which is not a resource of the template"),
            );
        }
        let key = format!("{resource}.{attribute}");
        self.unknown(&format!("!GetAtt {key}"), &key, at)
    }

    /// Fn::Sub's string with `${Name}`, `${Resource.Attribute}` and `${!Literal}`, and its own variables.
    fn sub(&mut self, arg: &Value, at: &str) -> Option<Out> {
        let (template, vars) = match arg {
            Value::String(s) => (s.clone(), Map::new()),
            Value::Array(items) if items.len() == 2 => {
                let Some(s) = items[0].as_str() else {
                    return self.problem(&index(at, 0), "Fn::Sub's first item is the string");
                };
                let Some(vars) = items[1].as_object() else {
                    return self
                        .problem(&index(at, 1), "Fn::Sub's second item maps names to values");
                };
                (s.to_owned(), vars.clone())
            }
            _ => return self.problem(at, "Fn::Sub takes a string, or [string, {name: value}]"),
        };
        let mut result = String::new();
        let mut rest = template.as_str();
        while let Some(start) = rest.find("${") {
            result.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let Some(end) = after.find('}') else {
                return self.problem(at, format!("Fn::Sub: ${{ without }} in {template:?}"));
            };
            let name = after[..end].trim();
            rest = &after[end + 1..];
            if let Some(literal) = name.strip_prefix('!') {
                result.push_str("${");
                result.push_str(literal);
                result.push('}');
                continue;
            }
            let piece = if let Some(v) = vars.get(name) {
                let var_at = key(&index(at, 1), name);
                self.string(v, &var_at)?
            } else if let Some((resource, attribute)) =
                name.split_once('.').filter(|_| !name.starts_with("AWS::"))
            {
                match self.attribute(resource, attribute, at)? {
                    Out::Val(v) => text(&v).unwrap_or_default(),
                    Out::NoValue => String::new(),
                }
            } else {
                match self.reference(name, at)? {
                    Out::Val(Value::Array(items)) => {
                        return self.problem(
                            at,
                            format!(
                                "Fn::Sub: ${{{name}}} is a list ({} items); join it first",
                                items.len()
                            ),
                        )
                    }
                    Out::Val(v) => text(&v).unwrap_or_default(),
                    Out::NoValue => String::new(),
                }
            };
            result.push_str(&piece);
        }
        result.push_str(rest);
        Some(Out::Val(Value::String(result)))
    }

    /// Whether the template's condition `name` holds.
    pub(crate) fn condition(&mut self, name: &str, at: &str) -> Option<bool> {
        if let Some(v) = self.conditions.get(name) {
            return Some(*v);
        }
        let mark = format!("Condition:{name}");
        if self.broken.contains(&mark) {
            return None;
        }
        let Some(expr) = self.condition_exprs.get(name).cloned() else {
            self.problem(at, format!("the template has no condition {name}"));
            return None;
        };
        // Marked while evaluated: a condition that refers back to itself is refused.
        self.condition_exprs.remove(name);
        let held = self.holds(&expr, &key("Conditions", name));
        self.condition_exprs.insert(name.to_owned(), expr);
        let Some(held) = held else {
            self.broken.insert(mark);
            return None;
        };
        self.conditions.insert(name.to_owned(), held);
        Some(held)
    }

    fn holds(&mut self, expr: &Value, at: &str) -> Option<bool> {
        let Some((name, arg)) = expr
            .as_object()
            .and_then(|m| (m.len() == 1).then(|| m.iter().next()).flatten())
        else {
            self.problem(
                at,
                "a condition is Fn::Equals, Fn::And, Fn::Or, Fn::Not or Condition",
            );
            return None;
        };
        let at = key(at, name);
        match name.as_str() {
            "Condition" => {
                let Some(other) = arg.as_str() else {
                    self.problem(&at, "Condition names a condition");
                    return None;
                };
                self.condition(other, &at)
            }
            "Fn::Equals" => {
                let items = self.args(name, arg, &at, 2, 2)?;
                let a = self.value(&items[0], &index(&at, 0))?;
                let b = self.value(&items[1], &index(&at, 1))?;
                Some(match (text(&a), text(&b)) {
                    (Some(x), Some(y)) => x == y,
                    _ => a == b,
                })
            }
            "Fn::Not" => {
                let items = self.args(name, arg, &at, 1, 1)?;
                Some(!self.holds(&items[0], &index(&at, 0))?)
            }
            "Fn::And" | "Fn::Or" => {
                let items = self.args(name, arg, &at, 2, 10)?;
                let mut all = true;
                let mut any = false;
                for (i, item) in items.iter().enumerate() {
                    let h = self.holds(item, &index(&at, i))?;
                    all &= h;
                    any |= h;
                }
                Some(if name == "Fn::And" { all } else { any })
            }
            _ => {
                self.problem(&at, format!("{name} is not a condition function"));
                None
            }
        }
    }
}

/// Standard base64, as Fn::Base64 encodes.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18, 12, 6, 0].iter().enumerate() {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> shift) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_pads_like_the_standard() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"hello sluice"), "aGVsbG8gc2x1aWNl");
    }
}
