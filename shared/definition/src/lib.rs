//! Pipeline definitions, pure: reading them in every form CodePipeline users have them ([`document`]), the
//! service model's shapes ([`schema`]) and types ([`model`]), the semantic rules ([`validate`]), the built-in
//! providers' facts ([`providers`]), the compiler to Amazon States Language ([`compile`]) and the contract
//! between the compiled state machine and the handlers it calls ([`contract`]).
//!
//! No async, no IO, no AWS SDK: every binary uses this crate, `sluice validate` and `sluice asl` need nothing
//! else.

pub mod approval_rules;
pub mod compile;
pub mod contract;
pub mod document;
pub mod model;
pub mod placeholder;
pub mod problem;
pub mod providers;
pub mod schema;
pub mod template;
pub mod validate;
pub mod yaml;

pub use document::{parse_value, DefinitionError, Document, Form, Syntax, Tag};
pub use model::*;
pub use problem::{JsonPath, Problem, Problems};
pub use validate::Limits;

/// Reads a definition and checks every rule: the shape first, then the semantics.
///
/// On success the pipeline is valid and can be compiled. When the shape has problems, the semantic rules
/// still run wherever the pipeline can be read as the model's types (a malformed `roleArn`, an unknown field
/// beside `pipeline`), so that one problem never hides the others.
pub fn load(text: &str, syntax: Syntax, limits: &Limits) -> Result<Document, DefinitionError> {
    let doc = match Document::parse(text, syntax) {
        Ok(doc) => doc,
        Err(DefinitionError::Invalid(mut problems)) => {
            if let Some(pipeline) = parse_value(text, syntax)
                .ok()
                .and_then(|raw| document::lenient_pipeline(&raw))
            {
                // Not where the shape already has a problem: one value, one message.
                let shaped: Vec<String> = problems
                    .iter()
                    .filter(|q| !q.path.is_root())
                    .map(|q| q.path.as_str().to_owned())
                    .collect();
                let covered = |path: &str| {
                    shaped.iter().any(|s| {
                        path == s
                            || path
                                .strip_prefix(s.as_str())
                                .is_some_and(|rest| rest.starts_with('.') || rest.starts_with('['))
                    })
                };
                for p in validate::validate(&pipeline, limits).0 {
                    if !covered(p.path.as_str()) && !problems.iter().any(|q| q == &p) {
                        problems.0.push(p);
                    }
                }
            }
            return Err(DefinitionError::Invalid(problems));
        }
        Err(other) => return Err(other),
    };
    let problems = validate::validate(&doc.pipeline, limits);
    if problems.is_empty() {
        Ok(doc)
    } else {
        Err(DefinitionError::Invalid(problems))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn shape_problems_do_not_hide_the_structural_ones() {
        let stages = json!([
            {"name": "Build", "actions": [{
                "name": "Make",
                "actionTypeId": {"category": "Build", "owner": "AWS", "provider": "CodeBuild", "version": "1"},
                "configuration": {"ProjectName": "p"},
                "inputArtifacts": [{"name": "Nowhere"}]
            }]}
        ]);
        let wrapped = json!({"pipeline": {"name": "p", "stages": stages}, "extra": 1});
        let bad_role = json!({"name": "p", "roleArn": "not-an-arn", "stages": stages});
        for definition in [wrapped, bad_role] {
            let err = load(&definition.to_string(), Syntax::Json, &Limits::default())
                .expect_err("invalid");
            let text = err.to_string();
            // The shape problem, and the structure's: a source stage missing, an artifact nothing produces.
            assert!(text.contains("extra") || text.contains("roleArn"), "{text}");
            assert!(text.contains("Nowhere"), "{text}");
            assert!(text.lines().count() >= 2, "{text}");
        }
    }
}
