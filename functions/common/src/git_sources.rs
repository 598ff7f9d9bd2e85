//! Git source actions in AWS, each run as a build of the stack's sources project ([`crate::builds`]):
//!
//! - `Source/AWS/CodeStarSourceConnection`: CodeBuild checks the repository out through the connection
//!   (`sourceAuthOverride` CODECONNECTIONS: Sluice never holds a token). The source type is GITHUB: the
//!   connection's provider (GitLab, Bitbucket) would take GetConnection, which this version does not call.
//! - `Source/AWS/CodeCommit`: a CODECOMMIT source at `https://git-codecommit.<region>.amazonaws.com/v1/repos/<name>`,
//!   read with the sources project's role.
//! - `Source/ThirdParty/GitHub` (version 1): a NO_SOURCE build whose buildspec fetches
//!   `https://github.com/<Owner>/<Repo>.git` with the OAuth token in an HTTP header. The token reaches the build as
//!   a SECRETS_MANAGER variable when the configuration holds `{{resolve:secretsmanager:...}}`, a PARAMETER_STORE
//!   variable for `{{resolve:ssm-secure:...}}` or `{{resolve:ssm:...}}` (CodeBuild masks both in logs), and as
//!   PLAINTEXT otherwise (then StartBuild's caller and anyone who may BatchGetBuilds the project can read it).
//!
//! The branch is fetched at its newest commit, or at the commit the execution was pinned to (a `COMMIT_ID`
//! revision override, as the trigger function pins CodeCommit pushes). `OutputArtifactFormat` CODE_ZIP (the
//! default) zips the checkout without `.git` from a clone of depth 1; CODEBUILD_CLONE_REF zips a full clone with
//! `.git`. The buildspec exports the variables CodePipeline publishes for the provider, and the build's
//! `CommitId` and `CommitMessage` become the action's revision.

use std::collections::BTreeMap;

use aws_sdk_codebuild::types::{EnvironmentVariable, EnvironmentVariableType};
use serde_json::{json, Value};
use sluice_runtime::jobs::{Job, SourceRevision};

use crate::builds::{BuildPlan, BuildSource};

/// The build variable the GitHub (version 1) token is given to the build as.
pub const TOKEN_VARIABLE: &str = "GITHUB_TOKEN";

/// The revision type a pinned commit comes as.
pub const COMMIT_ID: &str = "COMMIT_ID";

/// One of the git source actions, read from its configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GitSource {
    /// `AWS/CodeStarSourceConnection`.
    Connection {
        /// `ConnectionArn`.
        connection_arn: String,
        /// `FullRepositoryId`: `owner/name`.
        repository: String,
        /// `BranchName`.
        branch: String,
        /// `OutputArtifactFormat` is CODEBUILD_CLONE_REF.
        clone_ref: bool,
    },
    /// `AWS/CodeCommit`.
    CodeCommit {
        /// `RepositoryName`.
        repository: String,
        /// `BranchName`.
        branch: String,
        /// `OutputArtifactFormat` is CODEBUILD_CLONE_REF.
        clone_ref: bool,
    },
    /// `ThirdParty/GitHub` version 1.
    GitHub {
        /// `Owner`.
        owner: String,
        /// `Repo`.
        repo: String,
        /// `Branch`.
        branch: String,
        /// `OAuthToken`, as configured (a value or a `{{resolve:...}}` reference).
        token: String,
    },
}

/// Whether a job's provider is one of the git sources.
pub fn is_git_source(job: &Job) -> bool {
    let t = &job.action_type;
    t.category == "Source"
        && matches!(
            (t.owner.as_str(), t.provider.as_str()),
            ("AWS", "CodeStarSourceConnection" | "CodeCommit") | ("ThirdParty", "GitHub")
        )
}

fn required<'a>(job: &'a Job, key: &str) -> Result<&'a str, String> {
    job.configuration
        .get(key)
        .map(String::as_str)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| {
            format!(
                "configuration.{key} is required for a {} source",
                job.action_type.provider
            )
        })
}

fn clone_ref(job: &Job) -> Result<bool, String> {
    match job
        .configuration
        .get("OutputArtifactFormat")
        .map(String::as_str)
    {
        None | Some("" | "CODE_ZIP") => Ok(false),
        Some("CODEBUILD_CLONE_REF") => Ok(true),
        Some(other) => Err(format!(
            "configuration.OutputArtifactFormat: `{other}` is not CODE_ZIP or CODEBUILD_CLONE_REF"
        )),
    }
}

impl GitSource {
    /// Reads a git source job's configuration.
    pub fn of(job: &Job) -> Result<Self, String> {
        match job.action_type.provider.as_str() {
            "CodeStarSourceConnection" => {
                let repository = required(job, "FullRepositoryId")?;
                if repository.split('/').filter(|p| !p.is_empty()).count() < 2 {
                    return Err(format!(
                        "configuration.FullRepositoryId: `{repository}` is not `owner/repository`"
                    ));
                }
                Ok(Self::Connection {
                    connection_arn: required(job, "ConnectionArn")?.to_owned(),
                    repository: repository.to_owned(),
                    branch: required(job, "BranchName")?.to_owned(),
                    clone_ref: clone_ref(job)?,
                })
            }
            "CodeCommit" => Ok(Self::CodeCommit {
                repository: required(job, "RepositoryName")?.to_owned(),
                branch: required(job, "BranchName")?.to_owned(),
                clone_ref: clone_ref(job)?,
            }),
            "GitHub" => Ok(Self::GitHub {
                owner: required(job, "Owner")?.to_owned(),
                repo: required(job, "Repo")?.to_owned(),
                branch: required(job, "Branch")?.to_owned(),
                token: required(job, "OAuthToken")?.to_owned(),
            }),
            other => Err(format!("{other} is not a git source provider")),
        }
    }

    fn branch(&self) -> &str {
        match self {
            Self::Connection { branch, .. }
            | Self::CodeCommit { branch, .. }
            | Self::GitHub { branch, .. } => branch,
        }
    }

    fn clone_ref(&self) -> bool {
        match self {
            Self::Connection { clone_ref, .. } | Self::CodeCommit { clone_ref, .. } => *clone_ref,
            Self::GitHub { .. } => false,
        }
    }

    /// The variables CodePipeline publishes for this provider, in its order.
    pub fn variable_names(&self) -> &'static [&'static str] {
        match self {
            Self::Connection { .. } => &[
                "AuthorDate",
                "BranchName",
                "CommitId",
                "CommitMessage",
                "ConnectionArn",
                "FullRepositoryName",
                "ProviderType",
            ],
            Self::CodeCommit { .. } => &[
                "AuthorDate",
                "BranchName",
                "CommitId",
                "CommitMessage",
                "CommitterDate",
                "RepositoryName",
            ],
            Self::GitHub { .. } => &[
                "AuthorDate",
                "BranchName",
                "CommitId",
                "CommitMessage",
                "CommitterDate",
                "CommitUrl",
                "RepositoryName",
            ],
        }
    }

    /// A link to `commit` for people.
    pub fn commit_url(&self, commit: &str, region: &str) -> String {
        match self {
            Self::Connection { repository, .. } => {
                format!("https://github.com/{repository}/commit/{commit}")
            }
            Self::CodeCommit { repository, .. } => format!(
                "https://{region}.console.aws.amazon.com/codesuite/codecommit/repositories/{repository}/commit/{commit}?region={region}"
            ),
            Self::GitHub { owner, repo, .. } => {
                format!("https://github.com/{owner}/{repo}/commit/{commit}")
            }
        }
    }
}

/// The commit the job was pinned to, if any.
fn pinned_commit(job: &Job) -> Option<&str> {
    job.revision_override
        .as_ref()
        .filter(|o| o.revision_type == COMMIT_ID && !o.revision_value.is_empty())
        .map(|o| o.revision_value.as_str())
}

/// How the build is given a token: the CodeBuild variable type and value for a configured `OAuthToken`.
pub fn token_variable(configured: &str) -> (EnvironmentVariableType, String) {
    match resolve_reference(configured) {
        Some(Reference::SecretsManager(secret)) => (
            EnvironmentVariableType::SecretsManager,
            secret.codebuild_value(),
        ),
        Some(Reference::Parameter(name)) => (EnvironmentVariableType::ParameterStore, name),
        None => (EnvironmentVariableType::Plaintext, configured.to_owned()),
    }
}

/// A secret named by a `{{resolve:secretsmanager:...}}` reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretReference {
    /// The secret's name or ARN.
    pub secret_id: String,
    /// The JSON key of the secret string to take, if any.
    pub json_key: Option<String>,
    /// The version stage, if any.
    pub version_stage: Option<String>,
    /// The version id, if any.
    pub version_id: Option<String>,
}

impl SecretReference {
    /// CodeBuild's SECRETS_MANAGER value: `secret-id:json-key:version-stage:version-id`, trailing parts left out.
    pub fn codebuild_value(&self) -> String {
        let parts = [&self.json_key, &self.version_stage, &self.version_id];
        let last = parts.iter().rposition(|p| p.is_some());
        let mut value = self.secret_id.clone();
        if let Some(last) = last {
            for p in &parts[..=last] {
                value.push(':');
                value.push_str(p.as_deref().unwrap_or(""));
            }
        }
        value
    }
}

/// A CloudFormation dynamic reference in a configuration value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reference {
    /// `{{resolve:secretsmanager:secret-id:SecretString:json-key:version-stage:version-id}}`.
    SecretsManager(SecretReference),
    /// `{{resolve:ssm-secure:name}}` or `{{resolve:ssm:name}}` (a version after `:` is left out).
    Parameter(String),
}

/// Reads a `{{resolve:...}}` reference; None for any other value.
pub fn resolve_reference(value: &str) -> Option<Reference> {
    let inner = value
        .trim()
        .strip_prefix("{{resolve:")?
        .strip_suffix("}}")?;
    if let Some(rest) = inner.strip_prefix("secretsmanager:") {
        // The secret id may be an ARN, which holds colons: it ends where `:SecretString` starts.
        let (secret_id, tail) = match rest.find(":SecretString") {
            Some(at) => (
                &rest[..at],
                rest[at + ":SecretString".len()..].trim_start_matches(':'),
            ),
            None => (rest, ""),
        };
        if secret_id.is_empty() {
            return None;
        }
        let mut parts = tail
            .split(':')
            .map(|p| (!p.is_empty()).then(|| p.to_owned()));
        return Some(Reference::SecretsManager(SecretReference {
            secret_id: secret_id.to_owned(),
            json_key: parts.next().flatten(),
            version_stage: parts.next().flatten(),
            version_id: parts.next().flatten(),
        }));
    }
    let name = inner
        .strip_prefix("ssm-secure:")
        .or_else(|| inner.strip_prefix("ssm:"))?;
    // `name:version`: CodeBuild takes the newest version.
    let name = name.split(':').next().filter(|n| !n.is_empty())?;
    Some(Reference::Parameter(name.to_owned()))
}

/// The commands that set the commit's variables from the checkout in the build's folder.
fn commit_commands(with_committer: bool) -> Vec<String> {
    let mut commands = vec![
        r#"export CommitId="$(git rev-parse HEAD)""#.to_owned(),
        r#"export CommitMessage="$(git log -1 --format=%B)""#.to_owned(),
        r#"export AuthorDate="$(git log -1 --format=%aI)""#.to_owned(),
    ];
    if with_committer {
        commands.push(r#"export CommitterDate="$(git log -1 --format=%cI)""#.to_owned());
    }
    commands
}

/// The output artifact: the checkout, with `.git` only for CODEBUILD_CLONE_REF.
fn artifacts(with_git: bool) -> Value {
    if with_git {
        json!({"files": ["**/*"]})
    } else {
        json!({"files": ["**/*"], "exclude-paths": [".git/**/*"]})
    }
}

/// The buildspec of a git source's build (JSON, which CodeBuild reads as YAML). Configured values reach the shell
/// only as variables, never inside a command's text.
pub fn buildspec(source: &GitSource) -> String {
    let mut fixed = BTreeMap::from([("BranchName", source.branch().to_owned())]);
    let mut commands = Vec::new();
    match source {
        GitSource::Connection {
            connection_arn,
            repository,
            ..
        } => {
            fixed.insert("ConnectionArn", connection_arn.clone());
            fixed.insert("FullRepositoryName", repository.clone());
            fixed.insert("ProviderType", "GitHub".to_owned());
            commands.extend(commit_commands(false));
        }
        GitSource::CodeCommit { repository, .. } => {
            fixed.insert("RepositoryName", repository.clone());
            commands.extend(commit_commands(true));
        }
        GitSource::GitHub { owner, repo, .. } => {
            fixed.insert("RepositoryName", repo.clone());
            fixed.insert("SOURCE_REPOSITORY", format!("{owner}/{repo}"));
            // git sends the token only as a header: it is in no URL, command line or git config file.
            commands.extend([
                "git init -q .".to_owned(),
                format!(
                    r#"git -c "http.extraHeader=Authorization: Basic $(printf 'x-access-token:%s' "${TOKEN_VARIABLE}" | base64 | tr -d '\n')" fetch -q --depth 1 "https://github.com/$SOURCE_REPOSITORY.git" "$SOURCE_REF""#
                ),
                "git checkout -q FETCH_HEAD".to_owned(),
            ]);
            commands.extend(commit_commands(true));
            commands.push(
                r#"export CommitUrl="https://github.com/$SOURCE_REPOSITORY/commit/$CommitId""#
                    .to_owned(),
            );
        }
    }
    json!({
        "version": 0.2,
        "env": {
            "variables": fixed,
            "exported-variables": source.variable_names(),
        },
        "phases": {"build": {"commands": commands}},
        "artifacts": artifacts(source.clone_ref()),
    })
    .to_string()
}

/// The build that runs `job`'s git source in `project`, in `region`.
pub fn plan(job: &Job, project: &str, region: &str) -> Result<BuildPlan, String> {
    let source = GitSource::of(job)?;
    if job.outputs.len() != 1 {
        return Err(format!(
            "a {} source action has exactly one output artifact",
            job.action_type.provider
        ));
    }
    let pinned = pinned_commit(job);
    // A pinned commit may be deeper than one commit down the branch: fetch the whole history then.
    let depth = if source.clone_ref() || pinned.is_some() {
        0
    } else {
        1
    };
    let mut environment = Vec::new();
    let build_source = match &source {
        GitSource::Connection {
            connection_arn,
            repository,
            branch,
            ..
        } => BuildSource {
            source_type: "GITHUB".into(),
            location: Some(format!("https://github.com/{repository}.git")),
            connection: Some(connection_arn.clone()),
            version: Some(pinned.unwrap_or(branch).to_owned()),
            clone_depth: Some(depth),
        },
        GitSource::CodeCommit {
            repository, branch, ..
        } => BuildSource {
            source_type: "CODECOMMIT".into(),
            location: Some(format!(
                "https://git-codecommit.{region}.amazonaws.com/v1/repos/{repository}"
            )),
            connection: None,
            version: Some(pinned.map_or_else(|| format!("refs/heads/{branch}"), str::to_owned)),
            clone_depth: Some(depth),
        },
        GitSource::GitHub { branch, token, .. } => {
            let reference = pinned.map_or_else(|| format!("refs/heads/{branch}"), str::to_owned);
            let (kind, value) = token_variable(token);
            environment.push(variable(TOKEN_VARIABLE, &value, kind)?);
            environment.push(variable(
                "SOURCE_REF",
                &reference,
                EnvironmentVariableType::Plaintext,
            )?);
            BuildSource {
                source_type: "NO_SOURCE".into(),
                location: None,
                connection: None,
                version: None,
                clone_depth: None,
            }
        }
    };
    Ok(BuildPlan {
        project: project.to_owned(),
        buildspec: Some(buildspec(&source)),
        source: Some(build_source),
        environment,
    })
}

fn variable(
    name: &str,
    value: &str,
    kind: EnvironmentVariableType,
) -> Result<EnvironmentVariable, String> {
    EnvironmentVariable::builder()
        .name(name)
        .value(value)
        .r#type(kind)
        .build()
        .map_err(|e| format!("environment variable {name}: {e}"))
}

/// The revision a git source's build found: its exported `CommitId` (else the commit CodeBuild resolved the
/// source to, else the commit the execution was pinned to), `CommitMessage` and a link.
pub fn revision(
    job: &Job,
    variables: &BTreeMap<String, String>,
    resolved: Option<&str>,
    region: &str,
) -> Option<SourceRevision> {
    let source = GitSource::of(job).ok()?;
    let commit = variables
        .get("CommitId")
        .map(String::as_str)
        .filter(|c| !c.is_empty())
        .or(resolved)
        .or_else(|| pinned_commit(job))?
        .to_owned();
    let commit = &commit;
    let url = match variables.get("CommitUrl").filter(|u| !u.is_empty()) {
        Some(url) => url.clone(),
        None => source.commit_url(commit, region),
    };
    Some(SourceRevision {
        revision_id: commit.clone(),
        revision_summary: variables
            .get("CommitMessage")
            .map(|m| m.trim_end().to_owned()),
        revision_url: Some(url),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_definition::ActionTypeId;
    use sluice_runtime::jobs::JobOutput;
    use sluice_runtime::records::RevisionOverride;

    fn job(owner: &str, provider: &str, config: &[(&str, &str)]) -> Job {
        Job {
            id: "e1/Source/Fetch/1".into(),
            pipeline: "p".into(),
            execution_id: "e1".into(),
            stage: "Source".into(),
            action: "Fetch".into(),
            attempt: 1,
            action_type: ActionTypeId {
                category: "Source".into(),
                owner: owner.into(),
                provider: provider.into(),
                version: "1".into(),
            },
            configuration: config
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            commands: vec![],
            environment: BTreeMap::new(),
            inputs: vec![],
            outputs: vec![JobOutput {
                name: "Src".into(),
                files: vec![],
                bucket: "art".into(),
                key: "p/Src/k".into(),
                encryption_key: None,
            }],
            output_variables: vec![],
            timeout_seconds: 3600,
            base_dir: None,
            revision_override: None,
            role_arn: None,
            artifact_store: None,
            invocation: None,
        }
    }

    fn pin(j: &mut Job, commit: &str) {
        j.revision_override = Some(RevisionOverride {
            action_name: "Fetch".into(),
            revision_type: COMMIT_ID.into(),
            revision_value: commit.into(),
        });
    }

    const CONNECTION: &str =
        "arn:aws:codeconnections:eu-west-1:123456789012:connection/3b1e7c42-0f6d-4a8e-9c15-d2a7b8e4f901";

    #[test]
    fn a_connection_source_checks_out_through_the_connection() {
        let mut j = job(
            "AWS",
            "CodeStarSourceConnection",
            &[
                ("ConnectionArn", CONNECTION),
                ("FullRepositoryId", "tide-works/harbour"),
                ("BranchName", "release/2.x"),
            ],
        );
        let plan = plan(&j, "sources", "eu-west-1").expect("plan");
        let source = plan.source.clone().expect("source");
        assert_eq!(
            source,
            BuildSource {
                source_type: "GITHUB".into(),
                location: Some("https://github.com/tide-works/harbour.git".into()),
                connection: Some(CONNECTION.into()),
                version: Some("release/2.x".into()),
                clone_depth: Some(1),
            }
        );
        assert!(plan.environment.is_empty());
        let spec: Value = serde_json::from_str(&plan.buildspec.expect("spec")).expect("json");
        assert_eq!(
            spec["env"]["exported-variables"],
            json!([
                "AuthorDate",
                "BranchName",
                "CommitId",
                "CommitMessage",
                "ConnectionArn",
                "FullRepositoryName",
                "ProviderType"
            ])
        );
        assert_eq!(spec["env"]["variables"]["BranchName"], "release/2.x");
        assert_eq!(
            spec["env"]["variables"]["FullRepositoryName"],
            "tide-works/harbour"
        );
        assert_eq!(spec["artifacts"]["exclude-paths"], json!([".git/**/*"]));

        // A full clone keeps .git; a pinned commit is the version, fetched with its history.
        j.configuration
            .insert("OutputArtifactFormat".into(), "CODEBUILD_CLONE_REF".into());
        pin(&mut j, "9f1c2d3e4b5a69788796a5b4c3d2e1f0a9b8c7d6");
        let plan = super::plan(&j, "sources", "eu-west-1").expect("plan");
        let source = plan.source.expect("source");
        assert_eq!(
            source.version.as_deref(),
            Some("9f1c2d3e4b5a69788796a5b4c3d2e1f0a9b8c7d6")
        );
        assert_eq!(source.clone_depth, Some(0));
        let spec: Value = serde_json::from_str(&plan.buildspec.expect("spec")).expect("json");
        assert_eq!(spec["artifacts"], json!({"files": ["**/*"]}));

        j.configuration
            .insert("OutputArtifactFormat".into(), "TARBALL".into());
        assert!(super::plan(&j, "sources", "eu-west-1")
            .expect_err("format")
            .contains("OutputArtifactFormat"));
        j.configuration
            .insert("FullRepositoryId".into(), "harbour".into());
        assert!(GitSource::of(&j)
            .expect_err("repository")
            .contains("owner/repository"));
    }

    #[test]
    fn a_codecommit_source_reads_the_branch_ref_or_the_pinned_commit() {
        let mut j = job(
            "AWS",
            "CodeCommit",
            &[("RepositoryName", "ledger"), ("BranchName", "main")],
        );
        let source = plan(&j, "sources", "ap-southeast-2")
            .expect("plan")
            .source
            .expect("source");
        assert_eq!(source.source_type, "CODECOMMIT");
        assert_eq!(
            source.location.as_deref(),
            Some("https://git-codecommit.ap-southeast-2.amazonaws.com/v1/repos/ledger")
        );
        assert_eq!(source.version.as_deref(), Some("refs/heads/main"));
        assert_eq!(source.connection, None);
        pin(&mut j, "0a1b2c3d");
        let source = plan(&j, "sources", "ap-southeast-2")
            .expect("plan")
            .source
            .expect("source");
        assert_eq!(source.version.as_deref(), Some("0a1b2c3d"));
        j.configuration.remove("BranchName");
        assert!(plan(&j, "sources", "ap-southeast-2")
            .expect_err("branch")
            .contains("configuration.BranchName is required"));
    }

    #[test]
    fn a_github_token_reaches_the_build_as_a_reference_when_it_is_one() {
        let j = |token: &str| {
            job(
                "ThirdParty",
                "GitHub",
                &[
                    ("Owner", "tide-works"),
                    ("Repo", "harbour"),
                    ("Branch", "main"),
                    ("OAuthToken", token),
                ],
            )
        };
        let plan = plan(
            &j("{{resolve:secretsmanager:arn:aws:secretsmanager:us-east-1:123456789012:secret:gh-Ab12Cd:SecretString:token}}"),
            "sources",
            "us-east-1",
        )
        .expect("plan");
        assert_eq!(
            plan.source.as_ref().map(|s| s.source_type.as_str()),
            Some("NO_SOURCE")
        );
        let env: Vec<_> = plan
            .environment
            .iter()
            .map(|v| (v.name(), v.value(), v.r#type().cloned()))
            .collect();
        assert_eq!(
            env,
            vec![
                (
                    TOKEN_VARIABLE,
                    "arn:aws:secretsmanager:us-east-1:123456789012:secret:gh-Ab12Cd:token",
                    Some(EnvironmentVariableType::SecretsManager)
                ),
                (
                    "SOURCE_REF",
                    "refs/heads/main",
                    Some(EnvironmentVariableType::Plaintext)
                ),
            ]
        );
        let spec = plan.buildspec.expect("spec");
        // The token is read from the variable, never written into the buildspec.
        assert!(!spec.contains("secretsmanager"), "{spec}");
        assert!(spec.contains("$GITHUB_TOKEN"), "{spec}");
        assert!(spec.contains("exclude-paths"), "{spec}");

        assert_eq!(
            token_variable("{{resolve:ssm-secure:/ci/github:3}}"),
            (EnvironmentVariableType::ParameterStore, "/ci/github".into())
        );
        assert_eq!(
            token_variable("ghp_plain"),
            (EnvironmentVariableType::Plaintext, "ghp_plain".into())
        );
        assert_eq!(
            token_variable("{{resolve:secretsmanager:gh::AWSPREVIOUS}}").1,
            "gh::AWSPREVIOUS"
        );
        assert_eq!(token_variable("{{resolve:secretsmanager:gh}}").1, "gh");
    }

    #[test]
    fn the_start_build_request_carries_the_connection_source() {
        let j = job(
            "AWS",
            "CodeStarSourceConnection",
            &[
                ("ConnectionArn", CONNECTION),
                ("FullRepositoryId", "tide-works/harbour"),
                ("BranchName", "main"),
            ],
        );
        let plan = plan(&j, "sluice-sources", "eu-west-1").expect("plan");
        let client = aws_sdk_codebuild::Client::from_conf(
            aws_sdk_codebuild::Config::builder()
                .behavior_version(aws_sdk_codebuild::config::BehaviorVersion::latest())
                .region(aws_sdk_codebuild::config::Region::new("eu-west-1"))
                .build(),
        );
        let request = crate::builds::start_build_request(&client, &j, &plan).expect("request");
        let input = request.as_input();
        assert_eq!(input.get_project_name().as_deref(), Some("sluice-sources"));
        assert_eq!(
            input.get_source_type_override(),
            &Some(aws_sdk_codebuild::types::SourceType::Github)
        );
        assert_eq!(
            input.get_source_location_override().as_deref(),
            Some("https://github.com/tide-works/harbour.git")
        );
        let auth = input.get_source_auth_override().as_ref().expect("auth");
        assert_eq!(
            (auth.r#type(), auth.resource()),
            (
                &aws_sdk_codebuild::types::SourceAuthType::Codeconnections,
                Some(CONNECTION)
            )
        );
        assert_eq!(input.get_source_version().as_deref(), Some("main"));
        assert_eq!(input.get_git_clone_depth_override(), &Some(1));
        assert_eq!(input.get_secondary_sources_override(), &Some(vec![]));
        assert_eq!(input.get_buildspec_override(), &plan.buildspec);
        // The output zip goes where the runtime keeps the Src artifact.
        let artifacts = input.get_artifacts_override().as_ref().expect("artifacts");
        assert_eq!(
            (artifacts.location(), artifacts.path(), artifacts.name()),
            (Some("art"), Some("p/Src"), Some("k"))
        );
    }

    #[test]
    fn the_revision_is_the_exported_commit() {
        let j = job(
            "AWS",
            "CodeCommit",
            &[("RepositoryName", "ledger"), ("BranchName", "main")],
        );
        let variables = BTreeMap::from([
            ("CommitId".to_owned(), "0a1b2c3d".to_owned()),
            (
                "CommitMessage".to_owned(),
                "Settle the books\n\nBody\n".to_owned(),
            ),
        ]);
        assert_eq!(
            revision(&j, &variables, Some("ffff"), "eu-west-1"),
            Some(SourceRevision {
                revision_id: "0a1b2c3d".into(),
                revision_summary: Some("Settle the books\n\nBody".into()),
                revision_url: Some(
                    "https://eu-west-1.console.aws.amazon.com/codesuite/codecommit/repositories/ledger/commit/0a1b2c3d?region=eu-west-1"
                        .into()
                ),
            })
        );
        assert_eq!(revision(&j, &BTreeMap::new(), None, "eu-west-1"), None);
        // Without the exported variable: the commit CodeBuild resolved, else the pinned one.
        let found = |resolved: Option<&str>, j: &Job| {
            revision(j, &BTreeMap::new(), resolved, "eu-west-1").map(|r| r.revision_id)
        };
        assert_eq!(found(Some("ffff"), &j).as_deref(), Some("ffff"));
        let mut pinned = j.clone();
        pin(&mut pinned, "0a1b2c3d");
        assert_eq!(found(None, &pinned).as_deref(), Some("0a1b2c3d"));
    }
}
