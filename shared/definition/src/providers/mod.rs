//! Action providers: what each built-in provider needs (configuration keys, artifact counts).
//!
//! The facts are in [`catalog`]; this module looks them up. Custom actions (owner `Custom`) are defined by their
//! owners, so only the per-category artifact limits apply to them. Partner actions (owner `ThirdParty` with a
//! provider that is not one of the built-in ThirdParty ones, e.g. `Runscope`, `GhostInspector`, `BlazeMeter`)
//! are job-worker types too: their partner polls `PollForThirdPartyJobs` for them (see [`is_partner`]).

mod catalog;
mod spec;

pub use catalog::BUILT_IN;
pub use spec::{Category, Owner, ProviderSpec};

use crate::model::ActionTypeId;

/// The built-in provider for an action type, if there is one.
pub fn find(id: &ActionTypeId) -> Option<&'static ProviderSpec> {
    BUILT_IN.iter().find(|p| {
        p.category.as_str() == id.category
            && p.owner.as_str() == id.owner
            && p.provider == id.provider
            && p.version == id.version
    })
}

/// Built-in providers with this name and owner, whatever their category or version (for messages).
pub fn named(owner: &str, provider: &str) -> Vec<&'static ProviderSpec> {
    BUILT_IN
        .iter()
        .filter(|p| p.owner.as_str() == owner && p.provider == provider)
        .collect()
}

/// Whether an action type is a partner's: owner `ThirdParty` and a provider name that no built-in ThirdParty
/// provider has (whatever its category or version). Its jobs wait for the partner's worker, which polls
/// `PollForThirdPartyJobs`; its configuration is the partner's business, so only the category's artifact
/// limits apply.
pub fn is_partner(id: &ActionTypeId) -> bool {
    id.owner == Owner::ThirdParty.as_str() && named(&id.owner, &id.provider).is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalog_has_no_duplicate_entries() {
        for (i, a) in BUILT_IN.iter().enumerate() {
            for b in &BUILT_IN[i + 1..] {
                assert!(
                    !(a.category == b.category
                        && a.owner == b.owner
                        && a.provider == b.provider
                        && a.version == b.version),
                    "duplicate {}/{}",
                    a.category,
                    a.provider
                );
            }
            for key in a.required {
                assert!(
                    !a.optional.contains(key),
                    "{} lists {key} twice",
                    a.provider
                );
            }
            assert!(a.inputs.0 <= a.inputs.1 && a.outputs.0 <= a.outputs.1);
        }
    }

    #[test]
    fn partner_types_are_thirdparty_providers_that_are_not_built_in() {
        let id = |owner: &str, provider: &str| ActionTypeId {
            category: "Test".into(),
            owner: owner.into(),
            provider: provider.into(),
            version: "1".into(),
        };
        assert!(is_partner(&id("ThirdParty", "Runscope")));
        assert!(is_partner(&id("ThirdParty", "BlazeMeter")));
        assert!(!is_partner(&id("ThirdParty", "GitHub")));
        assert!(!is_partner(&id("ThirdParty", "LocalSource")));
        assert!(!is_partner(&id("AWS", "Runscope")));
        assert!(!is_partner(&id("Custom", "Runscope")));
    }

    #[test]
    fn finds_codebuild_as_build_and_test() {
        for category in ["Build", "Test"] {
            let id = ActionTypeId {
                category: category.into(),
                owner: "AWS".into(),
                provider: "CodeBuild".into(),
                version: "1".into(),
            };
            let spec = find(&id).expect("CodeBuild is built in");
            assert!(spec.required.contains(&"ProjectName"));
        }
    }
}
