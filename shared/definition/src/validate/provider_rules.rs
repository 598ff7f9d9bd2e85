//! What each provider needs: configuration keys, artifact counts, the Commands action's fields.

use super::*;
use crate::approval_rules::ApprovalRules;
use crate::model::Action;
use crate::problem::JsonPath;
use crate::providers::{self, Owner, ProviderSpec};
use std::collections::HashMap;

impl<'a> Validator<'a> {
    /// Checks the provider and its configuration; returns the built-in spec when there is one.
    pub(crate) fn provider_rules(
        &mut self,
        at: &JsonPath,
        action: &Action,
    ) -> Option<&'static ProviderSpec> {
        let id = &action.action_type_id;
        let owner: Owner = id.owner.parse().ok()?;
        let type_path = at.field("actionTypeId");
        // Custom and partner types are job-worker types: their configuration is their owner's business. A
        // partner name that differs from a built-in ThirdParty provider's only in case is taken as a typo.
        if owner == Owner::Custom {
            return None;
        }
        if providers::is_partner(id) {
            let built_in = providers::BUILT_IN
                .iter()
                .filter(|p| p.owner == owner)
                .find(|p| p.provider.eq_ignore_ascii_case(&id.provider));
            if let Some(p) = built_in {
                self.problems.push(
                    type_path.field("provider"),
                    format!(
                        "unknown ThirdParty provider {:?} (did you mean {:?}?); other ThirdParty names are \
                         partner actions, run by the partner's job worker",
                        id.provider, p.provider
                    ),
                );
            }
            return None;
        }
        let Some(spec) = providers::find(id) else {
            let same_name = providers::named(&id.owner, &id.provider);
            if same_name.is_empty() {
                let hint = did_you_mean(
                    &id.provider,
                    providers::BUILT_IN
                        .iter()
                        .filter(|p| p.owner == owner)
                        .map(|p| p.provider),
                );
                self.problems.push(
                    type_path.field("provider"),
                    format!("unknown {} provider {:?}{hint}", id.owner, id.provider),
                );
            } else if same_name.iter().any(|p| p.category.as_str() == id.category) {
                let mut versions: Vec<&str> = same_name.iter().map(|p| p.version).collect();
                versions.sort_unstable();
                versions.dedup();
                self.problems.push(
                    type_path.field("version"),
                    format!(
                        "{} has no version {:?} (known: {})",
                        id.provider,
                        id.version,
                        versions.join(", ")
                    ),
                );
            } else {
                let mut categories: Vec<&str> =
                    same_name.iter().map(|p| p.category.as_str()).collect();
                categories.dedup();
                self.problems.push(
                    type_path.field("category"),
                    format!(
                        "{} is not a {} provider (it is used as {})",
                        id.provider,
                        id.category,
                        categories.join(", ")
                    ),
                );
            }
            return None;
        };
        let config = action.configuration.as_ref();
        for key in spec.required {
            if !config.is_some_and(|c| c.contains_key(*key)) {
                self.problems.push(
                    at.field("configuration").field(key),
                    format!("required by the {} provider but missing", spec.provider),
                );
            }
        }
        for key in config.into_iter().flat_map(|c| c.keys()) {
            if !spec.knows(key) {
                let known = spec.required.iter().chain(spec.optional).copied();
                let hint = did_you_mean(key, known.clone());
                let message = if hint.is_empty() {
                    let list: Vec<&str> = known.collect();
                    format!(
                        "unknown configuration key for the {} provider (known: {})",
                        spec.provider,
                        if list.is_empty() {
                            "none".to_owned()
                        } else {
                            list.join(", ")
                        }
                    )
                } else {
                    format!(
                        "unknown configuration key for the {} provider{hint}",
                        spec.provider
                    )
                };
                self.problems
                    .push(at.field("configuration").field(key), message);
            }
        }
        if spec.category == Category::Approval && spec.provider == "Manual" {
            let config = config.cloned().unwrap_or_default();
            if let Err(problems) = ApprovalRules::read(&config, action.timeout_in_minutes) {
                for (key, message) in problems {
                    self.problems
                        .push(at.field("configuration").field(key), message);
                }
            }
        }
        Some(spec)
    }

    /// commands, files, outputVariables and environmentVariables belong to the Commands action.
    pub(crate) fn commands_fields(&mut self, at: &JsonPath, action: &Action, is_commands: bool) {
        if is_commands {
            if action.commands.is_none() {
                self.problems.push(
                    at.field("commands"),
                    "the Commands action needs a list of commands",
                );
            }
            let mut seen = HashMap::new();
            for (i, env) in action.environment_variables.iter().flatten().enumerate() {
                if let Some(first) = seen.insert(env.name.as_str(), i) {
                    self.problems.push(
                        at.field("environmentVariables").index(i).field("name"),
                        format!(
                            "environment variable {:?} is already set by environmentVariables[{first}]",
                            env.name
                        ),
                    );
                }
            }
            return;
        }
        let only = |field: &str| format!("{field} is only used by the Commands action");
        if action.commands.is_some() {
            self.problems.push(at.field("commands"), only("commands"));
        }
        if action.output_variables.is_some() {
            self.problems
                .push(at.field("outputVariables"), only("outputVariables"));
        }
        if action.environment_variables.is_some() {
            self.problems.push(
                at.field("environmentVariables"),
                only("environmentVariables"),
            );
        }
        for (oi, out) in action.output_artifacts.iter().flatten().enumerate() {
            if out.files.is_some() {
                self.problems.push(
                    at.field("outputArtifacts").index(oi).field("files"),
                    only("files"),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::{Document, Limits, Syntax};

    fn problems(owner: &str, provider: &str, config: &str) -> Vec<String> {
        let text = format!(
            r#"{{"pipeline": {{"name": "p", "roleArn": "arn:aws:iam::123456789012:role/r",
              "artifactStore": {{"type": "S3", "location": "bucket"}},
              "stages": [
                {{"name": "Source", "actions": [{{"name": "S", "actionTypeId": {{"category": "Source",
                  "owner": "AWS", "provider": "S3", "version": "1"}}, "configuration": {{"S3Bucket": "b",
                  "S3ObjectKey": "k"}}, "outputArtifacts": [{{"name": "Src"}}]}}]}},
                {{"name": "Test", "actions": [{{"name": "T", "actionTypeId": {{"category": "Test",
                  "owner": "{owner}", "provider": "{provider}", "version": "1"}}, "configuration": {config},
                  "inputArtifacts": [{{"name": "Src"}}]}}]}}]}}}}"#
        );
        let doc = Document::parse(&text, Syntax::Json).expect("a definition");
        crate::validate::validate(&doc.pipeline, &Limits::default())
            .iter()
            .map(|p| p.to_string())
            .collect()
    }

    #[test]
    fn accepts_partner_thirdparty_providers_with_any_configuration() {
        for provider in ["Runscope", "GhostInspector", "BlazeMeter"] {
            let found = problems(
                "ThirdParty",
                provider,
                r#"{"AnyKey": "v", "ApiToken": "t"}"#,
            );
            assert!(found.is_empty(), "{provider}: {found:?}");
        }
    }

    #[test]
    fn a_thirdparty_name_that_differs_from_a_built_in_only_in_case_is_a_typo() {
        let found = problems("ThirdParty", "Github", "{}");
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].contains("stages[1].actions[0].actionTypeId.provider")
                && found[0].contains("did you mean \"GitHub\""),
            "{found:?}"
        );
    }

    fn approval_problems(action_extra: &str, config: &str) -> Vec<String> {
        let text = format!(
            r#"{{"pipeline": {{"name": "p", "roleArn": "arn:aws:iam::123456789012:role/r",
              "artifactStore": {{"type": "S3", "location": "bucket"}},
              "stages": [
                {{"name": "Source", "actions": [{{"name": "S", "actionTypeId": {{"category": "Source",
                  "owner": "AWS", "provider": "S3", "version": "1"}}, "configuration": {{"S3Bucket": "b",
                  "S3ObjectKey": "k"}}, "outputArtifacts": [{{"name": "Src"}}]}}]}},
                {{"name": "Gate", "actions": [{{"name": "Review", {action_extra} "actionTypeId": {{
                  "category": "Approval", "owner": "AWS", "provider": "Manual", "version": "1"}},
                  "configuration": {config}}}]}}]}}}}"#
        );
        let doc = Document::parse(&text, Syntax::Json).expect("a definition");
        crate::validate::validate(&doc.pipeline, &Limits::default())
            .iter()
            .map(|p| p.to_string())
            .collect()
    }

    #[test]
    fn approval_rules_are_checked_at_their_keys() {
        let cases: &[(&str, &str, &[&str])] = &[
            (
                "",
                r#"{"Approvers": "alice,bob,group:leads", "RequiredApprovals": "2", "Deadline": "2d",
                    "Reminders": "1d,1h", "RejectionFails": "false", "AllowSelfApproval": "false",
                    "CustomData": "ship?"}"#,
                &[],
            ),
            (
                "",
                r#"{"Approvers": "alice,bob", "RequiredApprovals": "3"}"#,
                &["stages[1].actions[0].configuration.RequiredApprovals: 3 approvals required, but \
                   Approvers names only 2 principals"],
            ),
            (
                r#""timeoutInMinutes": 60,"#,
                r#"{"Deadline": "2h", "Reminders": "3h"}"#,
                &[
                    "stages[1].actions[0].configuration.Deadline: timeoutInMinutes already sets",
                    "stages[1].actions[0].configuration.Reminders: reminder `3h`",
                ],
            ),
            (
                "",
                r#"{"RequiredApproval": "2"}"#,
                &["stages[1].actions[0].configuration.RequiredApproval: unknown configuration key for \
                   the Manual provider (did you mean \"RequiredApprovals\"?)"],
            ),
        ];
        for (extra, config, expected) in cases {
            let found = approval_problems(extra, config);
            assert_eq!(found.len(), expected.len(), "{config}: {found:?}");
            for (f, e) in found.iter().zip(expected.iter()) {
                let e: String = e.split_whitespace().collect::<Vec<_>>().join(" ");
                assert!(f.contains(&e), "{config}: {f:?} does not say {e:?}");
            }
        }
    }

    #[test]
    fn aws_providers_stay_checked() {
        let found = problems("AWS", "Runscope", "{}");
        assert!(
            found
                .iter()
                .any(|p| p.contains("unknown AWS provider \"Runscope\"")),
            "{found:?}"
        );
    }
}
