//! Stage conditions' rules, pure: the five rule providers CodePipeline has (what ListRuleTypes answers), how
//! each rule is run, and the evaluation of the rules Sluice decides itself.
//!
//! | provider | configuration | how it runs |
//! |---|---|---|
//! | `VariableCheck` | Variable, Operator (EQ, NE, CONTAINS, MATCHES), Value | here, at once |
//! | `DeploymentWindow` | Cron, TimeZone | here, with the runtime's clock; outside the window the rule waits, looked at again when the window opens (at most a minute later) |
//! | `CloudWatchAlarm` | AlarmName, AlarmStates, WaitTime | a job: DescribeAlarms, watched for WaitTime minutes |
//! | `LambdaInvoke` | FunctionName, UserParameters | a job: the function is invoked with a CodePipeline job event and reports with PutJobSuccessResult/PutJobFailureResult |
//! | `Commands` | the rule's `commands` and `inputArtifacts` | a job: the Commands action's executor (a CodeBuild build in AWS) |

use std::collections::BTreeMap;

use crate::cron;
use crate::variables::Scope;
use sluice_definition::model::{ActionTypeId, Rule};

/// One configuration property of a rule provider, as ListRuleTypes describes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuleProperty {
    /// Its name.
    pub name: &'static str,
    /// Whether a rule must set it.
    pub required: bool,
    /// Whether it identifies the rule's resource.
    pub key: bool,
    /// What it means.
    pub description: &'static str,
}

/// A rule provider: its name, configuration properties and input artifacts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuleProvider {
    /// The provider (`ruleTypeId.provider`).
    pub provider: &'static str,
    /// Its configuration properties.
    pub properties: &'static [RuleProperty],
    /// The most input artifacts it reads.
    pub max_inputs: u32,
}

const fn prop(
    name: &'static str,
    required: bool,
    key: bool,
    description: &'static str,
) -> RuleProperty {
    RuleProperty {
        name,
        required,
        key,
        description,
    }
}

/// Every rule provider, category `Rule`, owner `AWS`, version `1`.
pub const RULE_PROVIDERS: &[RuleProvider] = &[
    RuleProvider {
        provider: "CloudWatchAlarm",
        properties: &[
            prop("AlarmName", true, true, "The CloudWatch alarm to watch."),
            prop(
                "AlarmStates",
                false,
                false,
                "The alarm states that fail the rule, comma-separated: ALARM (the default), OK, INSUFFICIENT_DATA.",
            ),
            prop(
                "WaitTime",
                false,
                false,
                "Minutes to keep watching the alarm before the rule passes.",
            ),
        ],
        max_inputs: 0,
    },
    RuleProvider {
        provider: "Commands",
        properties: &[],
        max_inputs: 10,
    },
    RuleProvider {
        provider: "DeploymentWindow",
        properties: &[
            prop(
                "Cron",
                true,
                true,
                "When deployments are allowed: seconds (*), minutes, hours, day-of-month, month, day-of-week and an optional year.",
            ),
            prop(
                "TimeZone",
                false,
                false,
                "The time zone the cron expression is read in (UTC by default).",
            ),
        ],
        max_inputs: 0,
    },
    RuleProvider {
        provider: "LambdaInvoke",
        properties: &[
            prop("FunctionName", true, true, "The Lambda function to invoke."),
            prop(
                "UserParameters",
                false,
                false,
                "A string handed to the function in the job's data.",
            ),
        ],
        max_inputs: 5,
    },
    RuleProvider {
        provider: "VariableCheck",
        properties: &[
            prop("Variable", true, true, "The variable to check, e.g. #{SourceVariables.BranchName}."),
            prop("Operator", true, false, "EQ, NE, CONTAINS or MATCHES."),
            prop("Value", true, false, "The value (a regular expression for MATCHES) to compare with."),
        ],
        max_inputs: 0,
    },
];

/// The provider named `provider`, if it is one.
pub fn rule_provider(provider: &str) -> Option<&'static RuleProvider> {
    RULE_PROVIDERS.iter().find(|p| p.provider == provider)
}

/// How a rule is run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleRun {
    /// Decided by the runtime from the execution's values and its clock.
    Here,
    /// Run as a job of this action type by the executor; its outcome comes back like an action's.
    Job(ActionTypeId),
}

/// How a rule provider runs.
pub fn rule_run(provider: &str) -> RuleRun {
    let id = |category: &str, provider: &str| ActionTypeId {
        category: category.into(),
        owner: "AWS".into(),
        provider: provider.into(),
        version: "1".into(),
    };
    match provider {
        "Commands" => RuleRun::Job(id("Compute", "Commands")),
        "LambdaInvoke" => RuleRun::Job(id("Invoke", "Lambda")),
        "CloudWatchAlarm" => RuleRun::Job(id("Rule", "CloudWatchAlarm")),
        _ => RuleRun::Here,
    }
}

/// The action type of the wait a DeploymentWindow rule takes outside its window: a job that only waits, so
/// each host wakes the rule with its own timers (the embedded host's, the dispatch function's schedule).
pub fn window_wait_type() -> ActionTypeId {
    ActionTypeId {
        category: "Rule".into(),
        owner: "AWS".into(),
        provider: "DeploymentWindow".into(),
        version: "1".into(),
    }
}

/// The most a waiting DeploymentWindow rule goes between looks.
pub const WINDOW_RECHECK_MS: i64 = 60_000;

/// What evaluating a rule here found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Evaluation {
    /// It passed; a summary for people.
    Passed(String),
    /// It did not pass; why.
    Failed(String),
    /// Not yet (outside a deployment window): look again in `recheck_ms`.
    Waiting {
        /// What it waits for.
        summary: String,
        /// When to look again, from now.
        recheck_ms: i64,
    },
}

/// A rule's configuration with `#{...}` references resolved; an unresolvable reference is the error.
pub fn resolve_configuration(
    rule: &Rule,
    scope: &Scope,
) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    for (k, v) in rule.configuration.iter().flatten() {
        out.insert(k.clone(), scope.resolve(v)?);
    }
    Ok(out)
}

/// Evaluates a rule that runs here (VariableCheck, DeploymentWindow) with its resolved configuration at
/// `now_ms`.
pub fn evaluate(provider: &str, config: &BTreeMap<String, String>, now_ms: i64) -> Evaluation {
    match provider {
        "VariableCheck" => variable_check(config),
        "DeploymentWindow" => deployment_window(config, now_ms),
        other => Evaluation::Failed(format!(
            "the {other} rule is not evaluated by the runtime itself"
        )),
    }
}

fn variable_check(config: &BTreeMap<String, String>) -> Evaluation {
    let (Some(actual), Some(expected)) = (config.get("Variable"), config.get("Value")) else {
        return Evaluation::Failed("VariableCheck needs Variable and Value".into());
    };
    let operator = config.get("Operator").map_or("EQ", String::as_str);
    let ok = match operator {
        "EQ" => actual == expected,
        "NE" => actual != expected,
        "CONTAINS" => actual.contains(expected.as_str()),
        "MATCHES" => match regex::Regex::new(&format!("^(?:{expected})$")) {
            Ok(re) => re.is_match(actual),
            Err(e) => {
                return Evaluation::Failed(format!(
                    "Value {expected:?} is not a regular expression: {e}"
                ))
            }
        },
        other => {
            return Evaluation::Failed(format!(
                "unknown operator {other} (use EQ, NE, CONTAINS or MATCHES)"
            ))
        }
    };
    if ok {
        Evaluation::Passed(format!("{actual:?} {operator} {expected:?}"))
    } else {
        Evaluation::Failed(format!("{actual:?} {operator} {expected:?} is false"))
    }
}

fn deployment_window(config: &BTreeMap<String, String>, now_ms: i64) -> Evaluation {
    let Some(expression) = config.get("Cron") else {
        return Evaluation::Failed("DeploymentWindow needs Cron".into());
    };
    let window = match cron::parse(expression, config.get("TimeZone").map(String::as_str)) {
        Ok(w) => w,
        Err(e) => return Evaluation::Failed(e),
    };
    if window.is_open(now_ms) {
        return Evaluation::Passed(format!("inside the deployment window {expression}"));
    }
    match window.next_open(now_ms, 400) {
        Some(at) => Evaluation::Waiting {
            summary: format!(
                "waiting for the deployment window {expression} to open (at {})",
                chrono::DateTime::from_timestamp_millis(at)
                    .map_or_else(String::new, |t| t.to_rfc3339())
            ),
            recheck_ms: (at - now_ms).clamp(1_000, WINDOW_RECHECK_MS),
        },
        None => Evaluation::Failed(format!(
            "the deployment window {expression} does not open within 400 days"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn check(provider: &str, pairs: &[(&str, &str)], now_ms: i64) -> Evaluation {
        evaluate(provider, &config(pairs), now_ms)
    }

    #[test]
    fn variable_checks_compare_values() {
        let passed = |op: &str, value: &str| {
            matches!(
                check(
                    "VariableCheck",
                    &[
                        ("Variable", "release-42"),
                        ("Operator", op),
                        ("Value", value)
                    ],
                    0
                ),
                Evaluation::Passed(_)
            )
        };
        assert!(passed("EQ", "release-42"));
        assert!(!passed("EQ", "release"));
        assert!(passed("NE", "release"));
        assert!(passed("CONTAINS", "-42"));
        assert!(passed("MATCHES", "release-[0-9]+"));
        assert!(!passed("MATCHES", "[0-9]+"));
        assert!(!passed("GT", "1"));
    }

    #[test]
    fn a_closed_window_waits_until_it_opens() {
        // 2026-12-07T08:30:00Z, a Monday: the window opens at 09:00.
        let now = 1_796_632_200_000;
        let rule = [("Cron", "* * 9-17 ? * MON-FRI")];
        match check("DeploymentWindow", &rule, now) {
            Evaluation::Waiting { recheck_ms, .. } => assert_eq!(recheck_ms, WINDOW_RECHECK_MS),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            check("DeploymentWindow", &rule, now + 30 * 60_000),
            Evaluation::Passed(_)
        ));
        assert!(matches!(
            check("DeploymentWindow", &[("Cron", "* * 25 * * ?")], now),
            Evaluation::Failed(_)
        ));
    }

    #[test]
    fn rules_that_call_out_run_as_jobs() {
        assert_eq!(rule_run("VariableCheck"), RuleRun::Here);
        assert_eq!(rule_run("DeploymentWindow"), RuleRun::Here);
        let RuleRun::Job(id) = rule_run("Commands") else {
            panic!("Commands runs as a job")
        };
        assert_eq!(
            (id.category.as_str(), id.provider.as_str()),
            ("Compute", "Commands")
        );
        assert_eq!(RULE_PROVIDERS.len(), 5);
    }
}
