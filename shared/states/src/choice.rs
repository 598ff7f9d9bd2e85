//! Choice rules: parsing the boolean expressions of a Choice state and evaluating them.

use std::cmp::Ordering;

use serde_json::{Map, Value};

use crate::errors::{self, Failure};
use crate::paths::Path;
use crate::timestamp::Timestamp;

/// A boolean expression of a Choice state.
// Rules are built once at load time and never moved in a hot path.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Rule {
    /// All sub-rules hold.
    And(Vec<Rule>),
    /// At least one sub-rule holds.
    Or(Vec<Rule>),
    /// The sub-rule does not hold.
    Not(Box<Rule>),
    /// A test of the node at `variable`.
    Test {
        /// The reference path (input or context) of the value tested.
        variable: Path,
        /// What is tested.
        test: Test,
    },
}

/// The type family a comparison operator works on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `String*`: lexical comparison of strings.
    String,
    /// `Numeric*`: comparison of numbers.
    Numeric,
    /// `BooleanEquals*`.
    Boolean,
    /// `Timestamp*`: comparison of RFC 3339 instants.
    Timestamp,
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `*Equals`.
    Equals,
    /// `*LessThan`.
    LessThan,
    /// `*GreaterThan`.
    GreaterThan,
    /// `*LessThanEquals`.
    LessThanEquals,
    /// `*GreaterThanEquals`.
    GreaterThanEquals,
}

/// The right-hand side of a comparison.
#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    /// A literal from the definition.
    Literal(Value),
    /// A `*Path` operator's path, read at run time.
    Path(Path),
}

/// A type test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TypeTest {
    /// `IsPresent`.
    Present,
    /// `IsNull`.
    Null,
    /// `IsString`.
    String,
    /// `IsNumeric`.
    Numeric,
    /// `IsBoolean`.
    Boolean,
    /// `IsTimestamp`.
    Timestamp,
}

/// What a rule tests about its variable.
#[derive(Debug, Clone, PartialEq)]
pub enum Test {
    /// `IsPresent`, `IsNull`, ... compared with the expected boolean.
    Is(TypeTest, bool),
    /// `StringMatches` with `*` wildcards (`\*` and `\\` escape).
    Matches(String),
    /// A comparison.
    Compare {
        /// Operand type.
        kind: Kind,
        /// Operator.
        op: Op,
        /// Right-hand side.
        operand: Operand,
    },
}

const TYPE_TESTS: [(&str, TypeTest); 6] = [
    ("IsPresent", TypeTest::Present),
    ("IsNull", TypeTest::Null),
    ("IsString", TypeTest::String),
    ("IsNumeric", TypeTest::Numeric),
    ("IsBoolean", TypeTest::Boolean),
    ("IsTimestamp", TypeTest::Timestamp),
];

fn parse_operator(name: &str) -> Option<(Kind, Op, bool)> {
    let (name, is_path) = match name.strip_suffix("Path") {
        Some(stripped) => (stripped, true),
        None => (name, false),
    };
    let (kind, rest) = [
        ("String", Kind::String),
        ("Numeric", Kind::Numeric),
        ("Boolean", Kind::Boolean),
        ("Timestamp", Kind::Timestamp),
    ]
    .into_iter()
    .find_map(|(prefix, kind)| name.strip_prefix(prefix).map(|rest| (kind, rest)))?;
    let op = match rest {
        "Equals" => Op::Equals,
        "LessThan" => Op::LessThan,
        "GreaterThan" => Op::GreaterThan,
        "LessThanEquals" => Op::LessThanEquals,
        "GreaterThanEquals" => Op::GreaterThanEquals,
        _ => return None,
    };
    if kind == Kind::Boolean && op != Op::Equals {
        return None;
    }
    Some((kind, op, is_path))
}

impl Rule {
    /// Parses a rule; at the top level (`top_level`) it carries a `Next`, which is returned.
    pub fn parse(object: &Value, top_level: bool) -> Result<(Self, Option<String>), String> {
        let Value::Object(map) = object else {
            return Err("a choice rule must be an object".into());
        };
        let mut map: Map<String, Value> = map.clone();
        map.remove("Comment");
        let next = if top_level {
            match map.remove("Next") {
                Some(Value::String(next)) => Some(next),
                Some(_) => return Err("a choice rule's Next must be a string".into()),
                None => return Err("a choice rule must have a Next".into()),
            }
        } else {
            if map.contains_key("Next") {
                return Err("a nested choice rule must not have a Next".into());
            }
            None
        };
        let rule = if let Some(list) = map.remove("And") {
            Self::And(Self::parse_list("And", &list)?)
        } else if let Some(list) = map.remove("Or") {
            Self::Or(Self::parse_list("Or", &list)?)
        } else if let Some(inner) = map.remove("Not") {
            Self::Not(Box::new(Self::parse(&inner, false)?.0))
        } else {
            let variable = match map.remove("Variable") {
                Some(Value::String(text)) => {
                    Path::parse_reference(&text).map_err(|e| format!("Variable: {e}"))?
                }
                Some(_) => return Err("Variable must be a string".into()),
                None => return Err("a choice rule needs And, Or, Not or a Variable".into()),
            };
            let mut operators = std::mem::take(&mut map).into_iter();
            let (Some((name, value)), None) = (operators.next(), operators.next()) else {
                return Err("a choice rule needs exactly one comparison operator".into());
            };
            Self::Test {
                variable,
                test: parse_test(&name, &value)?,
            }
        };
        if let Some(extra) = map.keys().next() {
            return Err(format!("unsupported field '{extra}' in a choice rule"));
        }
        Ok((rule, next))
    }

    fn parse_list(name: &str, value: &Value) -> Result<Vec<Self>, String> {
        match value {
            Value::Array(items) if !items.is_empty() => items
                .iter()
                .map(|item| Ok(Self::parse(item, false)?.0))
                .collect(),
            _ => Err(format!("{name} must be a non-empty array of rules")),
        }
    }

    /// Evaluates the rule; a comparison whose variable or path operand is missing is a
    /// `States.Runtime` failure, as in Step Functions.
    pub fn evaluate(&self, input: &Value, context: &Value) -> Result<bool, Failure> {
        match self {
            Self::And(rules) => {
                for rule in rules {
                    if !rule.evaluate(input, context)? {
                        return Ok(false);
                    }
                }
                Ok(true)
            }
            Self::Or(rules) => {
                for rule in rules {
                    if rule.evaluate(input, context)? {
                        return Ok(true);
                    }
                }
                Ok(false)
            }
            Self::Not(rule) => Ok(!rule.evaluate(input, context)?),
            Self::Test { variable, test } => {
                let value = variable.evaluate(input, context);
                if let Test::Is(TypeTest::Present, expected) = test {
                    return Ok(value.is_some() == *expected);
                }
                let value = value.ok_or_else(|| invalid_path(variable))?;
                test.evaluate(&value, input, context)
            }
        }
    }
}

fn invalid_path(path: &Path) -> Failure {
    Failure::new(
        errors::RUNTIME,
        format!(
            "Invalid path '{}': The choice state's condition path references an invalid value.",
            path.as_str()
        ),
    )
}

fn parse_test(name: &str, value: &Value) -> Result<Test, String> {
    if let Some((_, test)) = TYPE_TESTS.iter().find(|(n, _)| *n == name) {
        let Value::Bool(expected) = value else {
            return Err(format!("{name} must be a boolean"));
        };
        return Ok(Test::Is(*test, *expected));
    }
    if name == "StringMatches" {
        let Value::String(pattern) = value else {
            return Err("StringMatches must be a string".into());
        };
        return Ok(Test::Matches(pattern.clone()));
    }
    let Some((kind, op, is_path)) = parse_operator(name) else {
        return Err(format!("unsupported choice operator '{name}'"));
    };
    let operand = if is_path {
        let Value::String(text) = value else {
            return Err(format!("{name} must be a path string"));
        };
        Operand::Path(Path::parse_reference(text).map_err(|e| format!("{name}: {e}"))?)
    } else {
        let valid = match kind {
            Kind::String => value.is_string(),
            Kind::Numeric => value.is_number(),
            Kind::Boolean => value.is_boolean(),
            Kind::Timestamp => value.as_str().and_then(Timestamp::parse_rfc3339).is_some(),
        };
        if !valid {
            return Err(format!("{name} has an operand of the wrong type: {value}"));
        }
        Operand::Literal(value.clone())
    };
    Ok(Test::Compare { kind, op, operand })
}

impl Test {
    fn evaluate(&self, value: &Value, input: &Value, context: &Value) -> Result<bool, Failure> {
        match self {
            Self::Is(test, expected) => {
                let holds = match test {
                    TypeTest::Present => true,
                    TypeTest::Null => value.is_null(),
                    TypeTest::String => value.is_string(),
                    TypeTest::Numeric => value.is_number(),
                    TypeTest::Boolean => value.is_boolean(),
                    TypeTest::Timestamp => {
                        value.as_str().and_then(Timestamp::parse_rfc3339).is_some()
                    }
                };
                Ok(holds == *expected)
            }
            Self::Matches(pattern) => Ok(value
                .as_str()
                .is_some_and(|text| wildcard_match(pattern, text))),
            Self::Compare { kind, op, operand } => {
                let right = match operand {
                    Operand::Literal(literal) => literal.clone(),
                    Operand::Path(path) => path
                        .evaluate(input, context)
                        .ok_or_else(|| invalid_path(path))?,
                };
                Ok(compare(*kind, value, &right).is_some_and(|ordering| op.holds(ordering)))
            }
        }
    }
}

impl Op {
    fn holds(self, ordering: Ordering) -> bool {
        match self {
            Self::Equals => ordering == Ordering::Equal,
            Self::LessThan => ordering == Ordering::Less,
            Self::GreaterThan => ordering == Ordering::Greater,
            Self::LessThanEquals => ordering != Ordering::Greater,
            Self::GreaterThanEquals => ordering != Ordering::Less,
        }
    }
}

/// Orders two values of the operator's type; `None` (the rule is false) when either is of another type.
fn compare(kind: Kind, left: &Value, right: &Value) -> Option<Ordering> {
    match kind {
        Kind::String => Some(left.as_str()?.cmp(right.as_str()?)),
        Kind::Numeric => left.as_f64()?.partial_cmp(&right.as_f64()?),
        Kind::Boolean => (left.as_bool()? == right.as_bool()?).then_some(Ordering::Equal),
        Kind::Timestamp => {
            let left = Timestamp::parse_rfc3339(left.as_str()?)?;
            Some(left.cmp(&Timestamp::parse_rfc3339(right.as_str()?)?))
        }
    }
}

/// `StringMatches`: `*` matches any run of characters; `\*` and `\\` are literal.
fn wildcard_match(pattern: &str, text: &str) -> bool {
    enum Token {
        Star,
        Char(char),
    }
    let mut tokens = Vec::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => tokens.push(Token::Char(chars.next().unwrap_or('\\'))),
            '*' => tokens.push(Token::Star),
            c => tokens.push(Token::Char(c)),
        }
    }
    let text: Vec<char> = text.chars().collect();
    // Classic greedy match with backtracking to the last star.
    let (mut t, mut p) = (0, 0);
    let mut last_star: Option<(usize, usize)> = None;
    while t < text.len() {
        match tokens.get(p) {
            Some(Token::Char(c)) if *c == text[t] => {
                t += 1;
                p += 1;
            }
            Some(Token::Star) => {
                last_star = Some((p, t));
                p += 1;
            }
            _ => match last_star {
                Some((star_p, star_t)) => {
                    p = star_p + 1;
                    t = star_t + 1;
                    last_star = Some((star_p, star_t + 1));
                }
                None => return false,
            },
        }
    }
    tokens[p..].iter().all(|token| matches!(token, Token::Star))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Evaluates `rule` (a nested rule, no `Next`) against `input`.
    fn check(rule: Value, input: Value, expected: Result<bool, &str>) {
        let (parsed, _) = Rule::parse(&rule, false).expect("rule parses");
        let context = json!({"Execution": {"Name": "exec-1"}});
        let got = parsed.evaluate(&input, &context).map_err(|f| f.error);
        assert_eq!(got, expected.map_err(str::to_owned), "{rule}");
    }

    #[test]
    fn comparison_operators() {
        let input = json!({"s": "beta", "n": 5, "f": 2.5, "b": true, "t": "2024-05-01T12:00:00Z",
                           "other_s": "beta", "other_n": 7, "nul": null});
        let table = [
            (json!({"Variable": "$.s", "StringEquals": "beta"}), Ok(true)),
            (
                json!({"Variable": "$.s", "StringEquals": "alpha"}),
                Ok(false),
            ),
            (
                json!({"Variable": "$.s", "StringLessThan": "gamma"}),
                Ok(true),
            ),
            (
                json!({"Variable": "$.s", "StringGreaterThan": "gamma"}),
                Ok(false),
            ),
            (
                json!({"Variable": "$.s", "StringLessThanEquals": "beta"}),
                Ok(true),
            ),
            (
                json!({"Variable": "$.s", "StringGreaterThanEquals": "beta"}),
                Ok(true),
            ),
            (
                json!({"Variable": "$.s", "StringEqualsPath": "$.other_s"}),
                Ok(true),
            ),
            (json!({"Variable": "$.n", "StringEquals": "5"}), Ok(false)),
            (json!({"Variable": "$.n", "NumericEquals": 5}), Ok(true)),
            (json!({"Variable": "$.n", "NumericEquals": 5.0}), Ok(true)),
            (json!({"Variable": "$.f", "NumericLessThan": 3}), Ok(true)),
            (
                json!({"Variable": "$.n", "NumericGreaterThan": 5}),
                Ok(false),
            ),
            (
                json!({"Variable": "$.n", "NumericGreaterThanEquals": 5}),
                Ok(true),
            ),
            (
                json!({"Variable": "$.n", "NumericLessThanEquals": 4}),
                Ok(false),
            ),
            (
                json!({"Variable": "$.n", "NumericLessThanPath": "$.other_n"}),
                Ok(true),
            ),
            (json!({"Variable": "$.s", "NumericEquals": 5}), Ok(false)),
            (json!({"Variable": "$.b", "BooleanEquals": true}), Ok(true)),
            (
                json!({"Variable": "$.b", "BooleanEqualsPath": "$.b"}),
                Ok(true),
            ),
            (
                json!({"Variable": "$.t", "TimestampEquals": "2024-05-01T14:00:00+02:00"}),
                Ok(true),
            ),
            (
                json!({"Variable": "$.t", "TimestampLessThan": "2024-05-02T00:00:00Z"}),
                Ok(true),
            ),
            (
                json!({"Variable": "$.t", "TimestampGreaterThan": "2024-05-02T00:00:00Z"}),
                Ok(false),
            ),
            (
                json!({"Variable": "$.s", "TimestampEquals": "2024-05-01T12:00:00Z"}),
                Ok(false),
            ),
            (
                json!({"Variable": "$.missing", "StringEquals": "x"}),
                Err(errors::RUNTIME),
            ),
            (
                json!({"Variable": "$.s", "StringEqualsPath": "$.missing"}),
                Err(errors::RUNTIME),
            ),
            (
                json!({"Variable": "$$.Execution.Name", "StringEquals": "exec-1"}),
                Ok(true),
            ),
        ];
        for (rule, expected) in table {
            check(rule, input.clone(), expected);
        }
    }

    #[test]
    fn type_tests_and_matching() {
        let input = json!({"s": "build-42.log", "n": 1, "nul": null, "b": false, "t": "2024-05-01T12:00:00Z"});
        let table = [
            (json!({"Variable": "$.s", "IsPresent": true}), Ok(true)),
            (
                json!({"Variable": "$.missing", "IsPresent": true}),
                Ok(false),
            ),
            (
                json!({"Variable": "$.missing", "IsPresent": false}),
                Ok(true),
            ),
            (
                json!({"Variable": "$.missing", "IsNull": true}),
                Err(errors::RUNTIME),
            ),
            (json!({"Variable": "$.nul", "IsNull": true}), Ok(true)),
            (json!({"Variable": "$.nul", "IsPresent": true}), Ok(true)),
            (json!({"Variable": "$.s", "IsString": true}), Ok(true)),
            (json!({"Variable": "$.n", "IsString": false}), Ok(true)),
            (json!({"Variable": "$.n", "IsNumeric": true}), Ok(true)),
            (json!({"Variable": "$.b", "IsBoolean": true}), Ok(true)),
            (json!({"Variable": "$.t", "IsTimestamp": true}), Ok(true)),
            (json!({"Variable": "$.s", "IsTimestamp": true}), Ok(false)),
            (
                json!({"Variable": "$.s", "StringMatches": "build-*.log"}),
                Ok(true),
            ),
            (
                json!({"Variable": "$.s", "StringMatches": "*42*"}),
                Ok(true),
            ),
            (
                json!({"Variable": "$.s", "StringMatches": "build-*.txt"}),
                Ok(false),
            ),
            (
                json!({"Variable": "$.s", "StringMatches": "build\\*"}),
                Ok(false),
            ),
            (json!({"Variable": "$.n", "StringMatches": "*"}), Ok(false)),
        ];
        for (rule, expected) in table {
            check(rule, input.clone(), expected);
        }
    }

    #[test]
    fn boolean_combinators_short_circuit() {
        let input = json!({"a": 1});
        let table = [
            (
                json!({"And": [{"Variable": "$.a", "NumericEquals": 1}, {"Variable": "$.a", "IsNumeric": true}]}),
                Ok(true),
            ),
            (
                json!({"And": [{"Variable": "$.a", "NumericEquals": 2}, {"Variable": "$.zz", "IsNull": true}]}),
                Ok(false),
            ),
            (
                json!({"Or": [{"Variable": "$.a", "NumericEquals": 1}, {"Variable": "$.zz", "IsNull": true}]}),
                Ok(true),
            ),
            (
                json!({"Or": [{"Variable": "$.a", "NumericEquals": 2}, {"Variable": "$.zz", "IsNull": true}]}),
                Err(errors::RUNTIME),
            ),
            (
                json!({"Not": {"Variable": "$.a", "NumericEquals": 2}}),
                Ok(true),
            ),
        ];
        for (rule, expected) in table {
            check(rule, input.clone(), expected);
        }
    }

    #[test]
    fn refuses_malformed_rules() {
        let table = [
            (
                json!({"Variable": "$.a"}),
                false,
                "a choice rule needs exactly one comparison operator",
            ),
            (
                json!({"Variable": "$.a", "StringEquals": "x", "NumericEquals": 1}),
                false,
                "a choice rule needs exactly one comparison operator",
            ),
            (
                json!({"Variable": "$.a", "StringContains": "x"}),
                false,
                "unsupported choice operator 'StringContains'",
            ),
            (
                json!({"Variable": "$.a", "BooleanLessThan": true}),
                false,
                "unsupported choice operator 'BooleanLessThan'",
            ),
            (
                json!({"Variable": "$.a", "NumericEquals": "1"}),
                false,
                "NumericEquals has an operand of the wrong type: \"1\"",
            ),
            (
                json!({"Variable": "$.a[*]", "IsPresent": true}),
                false,
                "Variable: '$.a[*]' is not a reference path",
            ),
            (
                json!({"Variable": "$.a", "IsPresent": true}),
                true,
                "a choice rule must have a Next",
            ),
            (
                json!({"Variable": "$.a", "IsPresent": true, "Next": "X"}),
                false,
                "a nested choice rule must not have a Next",
            ),
            (
                json!({"And": []}),
                false,
                "And must be a non-empty array of rules",
            ),
            (
                json!({"Not": {"Variable": "$.a", "IsPresent": true}, "Variable": "$.b"}),
                false,
                "unsupported field 'Variable' in a choice rule",
            ),
        ];
        for (rule, top, expected) in table {
            assert_eq!(
                Rule::parse(&rule, top).expect_err("refused"),
                expected,
                "{rule}"
            );
        }
    }
}
