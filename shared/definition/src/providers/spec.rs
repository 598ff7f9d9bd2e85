//! The vocabulary of providers: categories, owners, and what a provider needs.

use std::fmt;
use std::str::FromStr;

/// An action category.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Category {
    /// Produces the pipeline's source artifacts.
    Source,
    /// Builds.
    Build,
    /// Tests.
    Test,
    /// Deploys.
    Deploy,
    /// Waits for a person.
    Approval,
    /// Calls out to a function or service.
    Invoke,
    /// Runs commands.
    Compute,
}

impl Category {
    /// Every category, in CodePipeline's order.
    pub const ALL: [Category; 7] = [
        Self::Source,
        Self::Build,
        Self::Test,
        Self::Deploy,
        Self::Approval,
        Self::Invoke,
        Self::Compute,
    ];

    /// The name as CodePipeline spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Source => "Source",
            Self::Build => "Build",
            Self::Test => "Test",
            Self::Deploy => "Deploy",
            Self::Approval => "Approval",
            Self::Invoke => "Invoke",
            Self::Compute => "Compute",
        }
    }

    /// How many input and output artifacts an action of this category may have when its provider does not say
    /// otherwise (CodePipeline's "valid input and output artifacts for each action type").
    pub fn artifact_limits(self) -> ((u8, u8), (u8, u8)) {
        match self {
            Self::Source => ((0, 0), (1, 1)),
            Self::Build | Self::Test => ((1, 5), (0, 5)),
            Self::Deploy => ((0, 10), (0, 1)),
            Self::Approval => ((0, 0), (0, 0)),
            Self::Invoke | Self::Compute => ((0, 5), (0, 5)),
        }
    }
}

impl FromStr for Category {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        Self::ALL.into_iter().find(|c| c.as_str() == s).ok_or(())
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who provides an action type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Owner {
    /// Built in to CodePipeline.
    Aws,
    /// A partner integration.
    ThirdParty,
    /// A custom action type, run by a job worker.
    Custom,
}

impl Owner {
    /// The name as CodePipeline spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Aws => "AWS",
            Self::ThirdParty => "ThirdParty",
            Self::Custom => "Custom",
        }
    }
}

impl FromStr for Owner {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        [Self::Aws, Self::ThirdParty, Self::Custom]
            .into_iter()
            .find(|o| o.as_str() == s)
            .ok_or(())
    }
}

/// What a built-in provider needs.
#[derive(Debug)]
pub struct ProviderSpec {
    /// The category it is used in.
    pub category: Category,
    /// AWS or ThirdParty.
    pub owner: Owner,
    /// Its name, e.g. `CodeBuild`.
    pub provider: &'static str,
    /// Its version, e.g. `1`.
    pub version: &'static str,
    /// Configuration keys that must be set.
    pub required: &'static [&'static str],
    /// Configuration keys that may be set.
    pub optional: &'static [&'static str],
    /// Allowed number of input artifacts, inclusive.
    pub inputs: (u8, u8),
    /// Allowed number of output artifacts, inclusive.
    pub outputs: (u8, u8),
}

impl ProviderSpec {
    /// Whether CodePipeline offers this provider only in V2 pipelines.
    pub fn needs_v2(&self) -> bool {
        V2_ONLY.contains(&(self.category, self.provider))
    }

    /// Whether the provider's source is a git repository (so git triggers can apply).
    pub fn is_git_source(&self) -> bool {
        self.category == Category::Source && GIT_SOURCES.contains(&self.provider)
    }

    /// How people name it in messages: `the CodeBuild Build action`.
    pub fn describe(&self) -> String {
        format!("the {} {} action", self.provider, self.category)
    }

    /// Whether `key` is a configuration key of this provider.
    pub fn knows(&self, key: &str) -> bool {
        self.required.contains(&key) || self.optional.contains(&key)
    }
}

/// Providers CodePipeline documents as available in V2 pipelines only.
const V2_ONLY: &[(Category, &str)] = &[
    (Category::Build, "ECRBuildAndPublish"),
    (Category::Deploy, "EC2"),
    (Category::Deploy, "EKS"),
    (Category::Deploy, "Lambda"),
    (Category::Invoke, "CodePipeline"),
    (Category::Compute, "Commands"),
];

/// Source providers backed by a git repository.
const GIT_SOURCES: &[&str] = &[
    "CodeStarSourceConnection",
    "CodeCommit",
    "GitHub",
    "LocalSource",
];
