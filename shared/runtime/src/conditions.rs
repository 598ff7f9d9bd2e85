//! Stage conditions: evaluating rules against the execution's values. Pure.

use crate::variables::Scope;
use sluice_definition::model::ConditionResult;

/// Evaluates conditions; Some((result, why)) when a rule did not pass.
pub(crate) fn evaluate_conditions(
    conditions: Option<&[sluice_definition::model::Condition]>,
    scope: &Scope,
) -> Option<(ConditionResult, String)> {
    for condition in conditions.into_iter().flatten() {
        let result = condition.result.unwrap_or(ConditionResult::Fail);
        for rule in condition.rules.iter().flatten() {
            if let Err(why) = evaluate_rule(rule, scope) {
                return Some((result, format!("rule {} did not pass: {why}", rule.name)));
            }
        }
    }
    None
}

/// Evaluates one rule. VariableCheck is evaluated here; rules that need AWS services fail with a reason.
pub(crate) fn evaluate_rule(
    rule: &sluice_definition::model::Rule,
    scope: &Scope,
) -> std::result::Result<(), String> {
    let config = rule.configuration.clone().unwrap_or_default();
    match rule.rule_type_id.provider.as_str() {
        "VariableCheck" => {
            let variable = config
                .get("Variable")
                .ok_or("VariableCheck needs Variable")?;
            let expected = config.get("Value").ok_or("VariableCheck needs Value")?;
            let operator = config.get("Operator").map_or("EQ", String::as_str);
            let actual = scope.resolve(variable)?;
            let expected = scope.resolve(expected)?;
            let ok = match operator {
                "EQ" => actual == expected,
                "NE" => actual != expected,
                "CONTAINS" => actual.contains(&expected),
                "GT" | "LT" | "GE" | "LE" => {
                    let (a, b) = (actual.parse::<f64>(), expected.parse::<f64>());
                    let (Ok(a), Ok(b)) = (a, b) else {
                        return Err(format!(
                            "{operator} compares numbers, not {actual:?} and {expected:?}"
                        ));
                    };
                    match operator {
                        "GT" => a > b,
                        "LT" => a < b,
                        "GE" => a >= b,
                        _ => a <= b,
                    }
                }
                other => return Err(format!("unknown operator {other}")),
            };
            if ok {
                Ok(())
            } else {
                Err(format!("{actual:?} {operator} {expected:?} is false"))
            }
        }
        other => Err(format!(
            "the {other} rule needs AWS and cannot be evaluated by this runtime"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_definition::model::{Condition as Cond, Rule, RuleTypeId};

    fn variable_check(variable: &str, operator: &str, value: &str) -> Rule {
        Rule {
            name: "check".into(),
            rule_type_id: RuleTypeId {
                category: "Rule".into(),
                owner: Some("AWS".into()),
                provider: "VariableCheck".into(),
                version: Some("1".into()),
            },
            configuration: Some(
                [
                    ("Variable", variable),
                    ("Operator", operator),
                    ("Value", value),
                ]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
            ),
            commands: None,
            input_artifacts: None,
            role_arn: None,
            region: None,
            timeout_in_minutes: None,
        }
    }

    #[test]
    fn variable_checks_compare_resolved_values() {
        let mut scope = Scope::default();
        scope.set("variables", "env", "prod");
        scope.set("variables", "n", "3");
        let check = |rule: Rule| evaluate_rule(&rule, &scope);
        assert!(check(variable_check("#{variables.env}", "EQ", "prod")).is_ok());
        assert!(check(variable_check("#{variables.env}", "NE", "prod")).is_err());
        assert!(check(variable_check("#{variables.n}", "GT", "2")).is_ok());
        assert!(check(variable_check("#{variables.n}", "LE", "2")).is_err());
        assert!(check(variable_check("#{variables.env}", "GT", "2")).is_err());
    }

    #[test]
    fn a_failing_rule_gives_its_conditions_result() {
        let scope = Scope::default();
        let conditions = vec![Cond {
            result: Some(ConditionResult::Skip),
            rules: Some(vec![variable_check("a", "EQ", "b")]),
        }];
        let verdict = evaluate_conditions(Some(&conditions), &scope);
        assert_eq!(verdict.map(|v| v.0), Some(ConditionResult::Skip));
    }
}
