//! CloudFormation's short-form intrinsics in YAML (`!Ref`, `!Sub`, `!GetAtt`...), read as their long forms.

use serde_json::{json, Value};

use crate::yaml::Tags;

/// Tag names CloudFormation reads as `Fn::<name>`.
const FUNCTIONS: &[&str] = &[
    "Base64",
    "Cidr",
    "And",
    "Equals",
    "If",
    "Not",
    "Or",
    "FindInMap",
    "GetAZs",
    "ImportValue",
    "Join",
    "Select",
    "Split",
    "Sub",
    "Transform",
    "Length",
    "ToJsonString",
];

/// Turns `!Name value` into `{"Fn::Name": value}` (`!Ref` and `!Condition` keep their names; `!GetAtt A.b`
/// becomes `["A", "b"]`).
pub(crate) struct Intrinsics;

impl Tags for Intrinsics {
    fn tagged(&self, tag: &str, value: Value) -> Result<Value, String> {
        let name = tag.trim_start_matches('!');
        match name {
            "Ref" | "Condition" => Ok(json!({ name: value })),
            "GetAtt" => match value {
                Value::String(s) => {
                    let (resource, attribute) = s.split_once('.').ok_or_else(|| {
                        format!("!GetAtt {s} names no attribute (write !GetAtt Resource.Attribute)")
                    })?;
                    Ok(json!({"Fn::GetAtt": [resource, attribute]}))
                }
                other => Ok(json!({ "Fn::GetAtt": other })),
            },
            _ if FUNCTIONS.contains(&name) => Ok(json!({ format!("Fn::{name}"): value })),
            _ => Err(format!(
                "YAML tag {tag} is not a CloudFormation intrinsic function"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_forms_become_long_forms() {
        let t = Intrinsics;
        assert_eq!(
            t.tagged("!Ref", json!("Bucket")),
            Ok(json!({"Ref": "Bucket"}))
        );
        assert_eq!(
            t.tagged("!GetAtt", json!("Role.Arn")),
            Ok(json!({"Fn::GetAtt": ["Role", "Arn"]}))
        );
        assert_eq!(
            t.tagged("!Sub", json!("${AWS::Region}")),
            Ok(json!({"Fn::Sub": "${AWS::Region}"}))
        );
        assert!(t.tagged("!Shout", json!("x")).is_err());
        assert!(t.tagged("!GetAtt", json!("Role")).is_err());
    }
}
