//! The shape of a pipeline definition, checked on the raw JSON before it is read into types.
//!
//! Reading with serde alone stops at the first misspelled field; this walk reports every unknown field, missing
//! field, wrong type and out-of-range value at once, each with its path. The facts (lengths, patterns, enums,
//! list sizes) are those of CodePipeline's service model for `PipelineDeclaration`.

use serde_json::Value;

use crate::problem::{JsonPath, Problems};

/// What a value must be.
pub enum Kind {
    /// A string of `min..=max` characters, all allowed by the charset.
    Str {
        min: usize,
        max: usize,
        charset: Charset,
    },
    /// One of the listed strings.
    Enum(&'static [&'static str]),
    /// An integer in `min..=max`.
    Int { min: i64, max: i64 },
    /// true or false.
    Bool,
    /// A list of `min..=max` items.
    List {
        item: &'static Kind,
        min: usize,
        max: usize,
    },
    /// An object whose keys are free (within 1..=max_key characters) and whose values are scalars of at most
    /// `max_value` characters: action and rule configuration.
    Config { max_key: usize, max_value: usize },
    /// An object keyed by region name.
    RegionMap(&'static Kind),
    /// An object with exactly these fields.
    Obj(&'static [Field]),
    /// Any JSON value (a timestamp the SDKs send as a number or a string).
    Any,
}

/// A field of an object.
pub struct Field {
    /// Its name, as CodePipeline spells it.
    pub name: &'static str,
    /// What its value must be.
    pub kind: &'static Kind,
    /// Whether it must be there.
    pub required: bool,
}

const fn req(name: &'static str, kind: &'static Kind) -> Field {
    Field {
        name,
        kind,
        required: true,
    }
}

const fn opt(name: &'static str, kind: &'static Kind) -> Field {
    Field {
        name,
        kind,
        required: false,
    }
}

/// Which characters a string may hold.
#[derive(Clone, Copy)]
pub enum Charset {
    /// Anything.
    Any,
    /// Pipeline, stage, action and rule names: `[A-Za-z0-9.@_-]`.
    Name,
    /// Artifact names: `[A-Za-z0-9_-]`.
    Artifact,
    /// Namespaces and pipeline variable names: `[A-Za-z0-9@_-]`.
    Namespace,
    /// Provider names and versions: `[A-Za-z0-9_-]`.
    Token,
    /// Environment variable names: `[A-Za-z0-9_]`.
    EnvName,
    /// Bucket names: `[A-Za-z0-9.-]`.
    Bucket,
    /// IAM role ARNs: `arn:aws(-partition)?:iam::<12 digits>:role/...`.
    RoleArn,
}

impl Charset {
    fn allows(self, s: &str) -> bool {
        let all = |f: fn(char) -> bool| s.chars().all(f);
        match self {
            Self::Any => true,
            Self::Name => all(|c| c.is_ascii_alphanumeric() || ".@_-".contains(c)),
            Self::Artifact | Self::Token => all(|c| c.is_ascii_alphanumeric() || "_-".contains(c)),
            Self::Namespace => all(|c| c.is_ascii_alphanumeric() || "@_-".contains(c)),
            Self::EnvName => all(|c| c.is_ascii_alphanumeric() || c == '_'),
            Self::Bucket => all(|c| c.is_ascii_alphanumeric() || ".-".contains(c)),
            Self::RoleArn => is_role_arn(s),
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Self::Any => "any characters",
            Self::Name => "letters, digits and . @ _ -",
            Self::Artifact | Self::Token => "letters, digits and _ -",
            Self::Namespace => "letters, digits and @ _ -",
            Self::EnvName => "letters, digits and _",
            Self::Bucket => "letters, digits and . -",
            Self::RoleArn => "an IAM role ARN (arn:aws:iam::123456789012:role/NAME)",
        }
    }
}

fn is_role_arn(s: &str) -> bool {
    let Some(rest) = s.strip_prefix("arn:aws") else {
        return false;
    };
    // Partition suffixes: `(-[\w]+)*`, as in aws-cn or aws-us-gov.
    let end = rest.find(':').unwrap_or(rest.len());
    let partition = &rest[..end];
    if !partition.is_empty()
        && !partition.strip_prefix('-').is_some_and(|p| {
            p.split('-').all(|seg| {
                !seg.is_empty() && seg.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            })
        })
    {
        return false;
    }
    let rest = &rest[end..];
    let Some(rest) = rest.strip_prefix(":iam::") else {
        return false;
    };
    rest.len() > 18
        && rest[..12].chars().all(|c| c.is_ascii_digit())
        && rest[12..].starts_with(":role/")
}

const fn s(min: usize, max: usize, charset: Charset) -> Kind {
    Kind::Str { min, max, charset }
}

static NAME: Kind = s(1, 100, Charset::Name);
static ROLE_ARN: Kind = s(0, 1024, Charset::RoleArn);
static REGION: Kind = s(4, 30, Charset::Any);
static ARTIFACT_NAME: Kind = s(1, 100, Charset::Artifact);
static COMMAND: Kind = s(1, 1000, Charset::Any);
static COMMANDS: Kind = Kind::List {
    item: &COMMAND,
    min: 1,
    max: 50,
};
static TOKEN: Kind = s(1, 35, Charset::Token);
static VERSION: Kind = s(1, 9, Charset::Token);
static ACTION_TIMEOUT: Kind = Kind::Int { min: 5, max: 86400 };

static ENCRYPTION_KEY: Kind = Kind::Obj(&[
    req("id", &s(1, 400, Charset::Any)),
    req("type", &Kind::Enum(&["KMS"])),
]);
static ARTIFACT_STORE: Kind = Kind::Obj(&[
    req("type", &Kind::Enum(&["S3"])),
    req("location", &s(3, 63, Charset::Bucket)),
    opt("encryptionKey", &ENCRYPTION_KEY),
]);

static INPUT_ARTIFACT: Kind = Kind::Obj(&[req("name", &ARTIFACT_NAME)]);
static INPUT_ARTIFACTS: Kind = Kind::List {
    item: &INPUT_ARTIFACT,
    min: 0,
    max: 100,
};
static OUTPUT_ARTIFACT: Kind = Kind::Obj(&[
    req("name", &ARTIFACT_NAME),
    opt(
        "files",
        &Kind::List {
            item: &s(1, 128, Charset::Any),
            min: 1,
            max: 10,
        },
    ),
]);
static ENV_VAR: Kind = Kind::Obj(&[
    req("name", &s(1, 128, Charset::EnvName)),
    req("value", &s(1, 2000, Charset::Any)),
    opt("type", &Kind::Enum(&["PLAINTEXT", "SECRETS_MANAGER"])),
]);

pub static ACTION_TYPE_ID: Kind = Kind::Obj(&[
    req(
        "category",
        &Kind::Enum(&[
            "Source", "Build", "Deploy", "Test", "Invoke", "Approval", "Compute",
        ]),
    ),
    req("owner", &Kind::Enum(&["AWS", "ThirdParty", "Custom"])),
    req("provider", &TOKEN),
    req("version", &VERSION),
]);

static ACTION: Kind = Kind::Obj(&[
    req("name", &NAME),
    req("actionTypeId", &ACTION_TYPE_ID),
    opt("runOrder", &Kind::Int { min: 1, max: 999 }),
    opt(
        "configuration",
        &Kind::Config {
            max_key: 50,
            max_value: 1000,
        },
    ),
    opt("commands", &COMMANDS),
    opt(
        "outputArtifacts",
        &Kind::List {
            item: &OUTPUT_ARTIFACT,
            min: 0,
            max: 100,
        },
    ),
    opt("inputArtifacts", &INPUT_ARTIFACTS),
    opt(
        "outputVariables",
        &Kind::List {
            item: &s(1, 128, Charset::Any),
            min: 1,
            max: 15,
        },
    ),
    opt("roleArn", &ROLE_ARN),
    opt("region", &REGION),
    opt("namespace", &s(1, 100, Charset::Namespace)),
    opt("timeoutInMinutes", &ACTION_TIMEOUT),
    opt(
        "environmentVariables",
        &Kind::List {
            item: &ENV_VAR,
            min: 1,
            max: 10,
        },
    ),
]);

static RULE: Kind = Kind::Obj(&[
    req("name", &NAME),
    req(
        "ruleTypeId",
        &Kind::Obj(&[
            req("category", &Kind::Enum(&["Rule"])),
            opt("owner", &Kind::Enum(&["AWS"])),
            req("provider", &TOKEN),
            opt("version", &VERSION),
        ]),
    ),
    opt(
        "configuration",
        &Kind::Config {
            max_key: 50,
            max_value: 10000,
        },
    ),
    opt("commands", &COMMANDS),
    opt("inputArtifacts", &INPUT_ARTIFACTS),
    opt("roleArn", &ROLE_ARN),
    opt("region", &REGION),
    opt("timeoutInMinutes", &ACTION_TIMEOUT),
]);

static RESULT: Kind = Kind::Enum(&["ROLLBACK", "FAIL", "RETRY", "SKIP"]);
static CONDITION: Kind = Kind::Obj(&[
    opt("result", &RESULT),
    opt(
        "rules",
        &Kind::List {
            item: &RULE,
            min: 1,
            max: 5,
        },
    ),
]);
static CONDITIONS: Kind = Kind::List {
    item: &CONDITION,
    min: 1,
    max: 1,
};

static STAGE: Kind = Kind::Obj(&[
    req("name", &NAME),
    opt(
        "blockers",
        &Kind::List {
            item: &Kind::Obj(&[
                req("name", &s(1, 100, Charset::Any)),
                req("type", &Kind::Enum(&["Schedule"])),
            ]),
            min: 0,
            max: 100,
        },
    ),
    req(
        "actions",
        &Kind::List {
            item: &ACTION,
            min: 1,
            max: usize::MAX,
        },
    ),
    opt(
        "onFailure",
        &Kind::Obj(&[
            opt("result", &RESULT),
            opt(
                "retryConfiguration",
                &Kind::Obj(&[opt(
                    "retryMode",
                    &Kind::Enum(&["FAILED_ACTIONS", "ALL_ACTIONS"]),
                )]),
            ),
            opt("conditions", &CONDITIONS),
        ]),
    ),
    opt("onSuccess", &Kind::Obj(&[req("conditions", &CONDITIONS)])),
    opt("beforeEntry", &Kind::Obj(&[req("conditions", &CONDITIONS)])),
]);

static PATTERNS: Kind = Kind::List {
    item: &s(1, 255, Charset::Any),
    min: 1,
    max: 8,
};
static FILTER: Kind = Kind::Obj(&[opt("includes", &PATTERNS), opt("excludes", &PATTERNS)]);

static TRIGGER: Kind = Kind::Obj(&[
    req("providerType", &Kind::Enum(&["CodeStarSourceConnection"])),
    req(
        "gitConfiguration",
        &Kind::Obj(&[
            req("sourceActionName", &NAME),
            opt(
                "push",
                &Kind::List {
                    item: &Kind::Obj(&[
                        opt("tags", &FILTER),
                        opt("branches", &FILTER),
                        opt("filePaths", &FILTER),
                    ]),
                    min: 1,
                    max: 3,
                },
            ),
            opt(
                "pullRequest",
                &Kind::List {
                    item: &Kind::Obj(&[
                        opt(
                            "events",
                            &Kind::List {
                                item: &Kind::Enum(&["OPEN", "UPDATED", "CLOSED"]),
                                min: 1,
                                max: 3,
                            },
                        ),
                        opt("branches", &FILTER),
                        opt("filePaths", &FILTER),
                    ]),
                    min: 1,
                    max: 3,
                },
            ),
        ]),
    ),
]);

/// The shape of CodePipeline's `PipelineDeclaration`.
pub static PIPELINE: Kind = Kind::Obj(&[
    req("name", &NAME),
    opt("roleArn", &ROLE_ARN),
    opt("artifactStore", &ARTIFACT_STORE),
    opt("artifactStores", &Kind::RegionMap(&ARTIFACT_STORE)),
    req(
        "stages",
        &Kind::List {
            item: &STAGE,
            min: 0,
            max: usize::MAX,
        },
    ),
    opt(
        "version",
        &Kind::Int {
            min: 1,
            max: i64::MAX,
        },
    ),
    opt(
        "executionMode",
        &Kind::Enum(&["QUEUED", "SUPERSEDED", "PARALLEL"]),
    ),
    opt("pipelineType", &Kind::Enum(&["V1", "V2"])),
    opt(
        "variables",
        &Kind::List {
            item: &Kind::Obj(&[
                req("name", &s(1, 128, Charset::Namespace)),
                opt("defaultValue", &s(1, 1000, Charset::Any)),
                opt("description", &s(0, 200, Charset::Any)),
            ]),
            min: 0,
            max: 50,
        },
    ),
    opt(
        "triggers",
        &Kind::List {
            item: &TRIGGER,
            min: 0,
            max: 50,
        },
    ),
]);

/// The tags of a `--cli-input-json` document.
pub static TAGS: Kind = Kind::List {
    item: &Kind::Obj(&[
        req("key", &s(1, 128, Charset::Any)),
        req("value", &s(0, 256, Charset::Any)),
    ]),
    min: 0,
    max: 50,
};

/// Checks `value` against `kind`, recording every problem found below `path`.
pub fn check(value: &Value, kind: &Kind, path: &JsonPath, problems: &mut Problems) {
    match kind {
        Kind::Any => {}
        Kind::Str { min, max, charset } => {
            let Some(text) = value.as_str() else {
                return problems.push(
                    path.clone(),
                    format!("expected a string, found {}", describe(value)),
                );
            };
            if text.contains(crate::placeholder::UNRESOLVED) {
                // A template's value only a deployment knows: not judged.
                return;
            }
            let len = text.chars().count();
            if len < *min {
                let msg = if *min == 1 {
                    "must not be empty".to_owned()
                } else {
                    format!("must be at least {min} characters long, not {len}")
                };
                problems.push(path.clone(), msg);
            } else if len > *max {
                problems.push(
                    path.clone(),
                    format!("must be at most {max} characters long, not {len}"),
                );
            } else if !charset.allows(text) {
                let msg = match charset {
                    Charset::RoleArn => format!("{text:?} is not {}", charset.describe()),
                    _ => format!("{text:?} may only contain {}", charset.describe()),
                };
                problems.push(path.clone(), msg);
            }
        }
        Kind::Enum(options) => match value.as_str() {
            Some(v) if options.contains(&v) || v.contains(crate::placeholder::UNRESOLVED) => {}
            Some(v) => problems.push(
                path.clone(),
                format!("{v:?} is not one of {}", options.join(", ")),
            ),
            None => problems.push(
                path.clone(),
                format!(
                    "expected one of {}, found {}",
                    options.join(", "),
                    describe(value)
                ),
            ),
        },
        Kind::Int { min, max } => match value.as_i64() {
            Some(n) if (*min..=*max).contains(&n) => {}
            Some(n) if *max == i64::MAX => {
                problems.push(path.clone(), format!("must be at least {min}, not {n}"))
            }
            Some(n) => problems.push(
                path.clone(),
                format!("must be between {min} and {max}, not {n}"),
            ),
            None => problems.push(
                path.clone(),
                format!("expected a whole number, found {}", describe(value)),
            ),
        },
        Kind::Bool => {
            if !value.is_boolean() {
                problems.push(
                    path.clone(),
                    format!("expected true or false, found {}", describe(value)),
                );
            }
        }
        Kind::List { item, min, max } => {
            let Some(items) = value.as_array() else {
                return problems.push(
                    path.clone(),
                    format!("expected a list, found {}", describe(value)),
                );
            };
            if items.len() < *min {
                let msg = if *min == 1 {
                    "must not be empty".to_owned()
                } else {
                    format!("must have at least {min} items, not {}", items.len())
                };
                problems.push(path.clone(), msg);
            } else if items.len() > *max {
                problems.push(
                    path.clone(),
                    format!("must have at most {max} items, not {}", items.len()),
                );
            }
            for (i, v) in items.iter().enumerate() {
                check(v, item, &path.index(i), problems);
            }
        }
        Kind::Config { max_key, max_value } => {
            let Some(map) = value.as_object() else {
                return problems.push(
                    path.clone(),
                    format!("expected an object, found {}", describe(value)),
                );
            };
            for (k, v) in map {
                let at = path.field(k);
                if k.is_empty() || k.chars().count() > *max_key {
                    problems.push(
                        at.clone(),
                        format!("configuration keys must be 1 to {max_key} characters long"),
                    );
                }
                let text = match v {
                    Value::String(s) => s.clone(),
                    Value::Bool(_) | Value::Number(_) => v.to_string(),
                    other => {
                        problems.push(at, format!("expected a string, found {}", describe(other)));
                        continue;
                    }
                };
                let len = text.chars().count();
                if len == 0 {
                    problems.push(at, "must not be empty");
                } else if len > *max_value {
                    problems.push(
                        at,
                        format!("must be at most {max_value} characters long, not {len}"),
                    );
                }
            }
        }
        Kind::RegionMap(item) => {
            let Some(map) = value.as_object() else {
                return problems.push(
                    path.clone(),
                    format!(
                        "expected an object keyed by region, found {}",
                        describe(value)
                    ),
                );
            };
            for (region, v) in map {
                check(v, item, &path.field(region), problems);
            }
        }
        Kind::Obj(fields) => {
            let Some(map) = value.as_object() else {
                return problems.push(
                    path.clone(),
                    format!("expected an object, found {}", describe(value)),
                );
            };
            for (k, v) in map {
                match fields.iter().find(|f| f.name == k) {
                    Some(f) if v.is_null() && !f.required => {}
                    Some(f) => check(v, f.kind, &path.field(k), problems),
                    None => problems.push(path.field(k), unknown_field(k, fields)),
                }
            }
            for f in fields.iter().filter(|f| f.required) {
                if map.get(f.name).is_none_or(Value::is_null) {
                    problems.push(path.field(f.name), "required field is missing");
                }
            }
        }
    }
}

fn unknown_field(name: &str, fields: &[Field]) -> String {
    let closest = fields
        .iter()
        .map(|f| {
            (
                edit_distance(&name.to_lowercase(), &f.name.to_lowercase()),
                f.name,
            )
        })
        .min();
    match closest {
        Some((d, suggestion)) if d <= 3 => {
            format!("unknown field (did you mean {suggestion:?}?)")
        }
        _ => {
            let names: Vec<&str> = fields.iter().map(|f| f.name).collect();
            format!("unknown field (expected one of {})", names.join(", "))
        }
    }
}

/// Levenshtein distance, for "did you mean" suggestions.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// A value's kind, for messages.
pub fn describe(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "a whole number",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check_one(value: Value, kind: &Kind) -> Vec<String> {
        let mut problems = Problems::default();
        check(&value, kind, &JsonPath::root().field("x"), &mut problems);
        problems.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn role_arns_follow_the_iam_pattern() {
        for ok in [
            "arn:aws:iam::111122223333:role/Pipeline",
            "arn:aws-cn:iam::111122223333:role/service-role/x",
            "arn:aws-us-gov:iam::111122223333:role/a",
        ] {
            assert!(is_role_arn(ok), "{ok}");
        }
        for bad in [
            "arn:aws:iam::1111:role/x",
            "arn:aws:s3:::bucket",
            "role",
            "arn:aws:iam::111122223333:user/x",
        ] {
            assert!(!is_role_arn(bad), "{bad}");
        }
    }

    #[test]
    fn strings_report_length_and_charset() {
        assert_eq!(check_one(json!(""), &NAME), ["x: must not be empty"]);
        assert_eq!(
            check_one(json!("a b"), &NAME),
            ["x: \"a b\" may only contain letters, digits and . @ _ -"]
        );
        assert_eq!(
            check_one(json!(7), &NAME),
            ["x: expected a string, found a whole number"]
        );
    }

    #[test]
    fn unknown_fields_suggest_the_closest_name() {
        assert_eq!(
            check_one(json!({"name": "a", "actionTypeID": {}}), &ACTION)[0],
            "x.actionTypeID: unknown field (did you mean \"actionTypeId\"?)"
        );
    }

    #[test]
    fn edit_distance_counts_edits() {
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("same", "same"), 0);
    }
}
