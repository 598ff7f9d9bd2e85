//! The dispatch function may do what stage-condition rules need when a pipeline names no role (they then run
//! as the function): read CloudWatch alarms (CloudWatchAlarm rules) and invoke functions (LambdaInvoke rules),
//! each on resources of the stack's account and region only.

use serde_yaml::Value;

/// Every action the DispatchFunction's inline policy statements allow, with the resources of each.
fn dispatch_allows() -> Vec<(String, Vec<Value>)> {
    let text = std::fs::read_to_string(sluice_tests::workspace().join("template.yaml"))
        .expect("template.yaml");
    let template: Value = serde_yaml::from_str(&text).expect("YAML");
    let policies = template["Resources"]["DispatchFunction"]["Properties"]["Policies"]
        .as_sequence()
        .expect("the dispatch function's policies");
    let mut allowed = Vec::new();
    for statement in policies
        .iter()
        .filter_map(|p| p["Statement"].as_sequence())
        .flatten()
        .filter(|s| s["Effect"].as_str() == Some("Allow"))
    {
        let actions: Vec<String> = match &statement["Action"] {
            Value::String(a) => vec![a.clone()],
            Value::Sequence(list) => list
                .iter()
                .filter_map(|a| a.as_str().map(str::to_owned))
                .collect(),
            _ => Vec::new(),
        };
        let resources = match &statement["Resource"] {
            Value::Sequence(list) => list.clone(),
            other => vec![other.clone()],
        };
        for action in actions {
            allowed.push((action, resources.clone()));
        }
    }
    allowed
}

/// The `!Sub` text of a resource, if it is one.
fn sub(resource: &Value) -> String {
    match resource {
        Value::Tagged(t) if t.tag == "!Sub" => t.value.as_str().unwrap_or_default().to_owned(),
        _ => String::new(),
    }
}

#[test]
fn the_dispatch_function_may_read_rule_alarms_and_invoke_rule_functions() {
    let allowed = dispatch_allows();
    for (action, arn) in [
        (
            "cloudwatch:DescribeAlarms",
            "arn:${AWS::Partition}:cloudwatch:${AWS::Region}:${AWS::AccountId}:alarm:*",
        ),
        (
            "lambda:InvokeFunction",
            "arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:*",
        ),
    ] {
        let resources: Vec<String> = allowed
            .iter()
            .filter(|(a, _)| a == action)
            .flat_map(|(_, r)| r.iter().map(sub))
            .collect();
        assert_eq!(resources, [arn], "{action}: {allowed:?}");
    }
}
