//! Git source actions in AWS, each run as a build of the stack's sources project ([`crate::builds`]):
//!
//! - `Source/AWS/CodeStarSourceConnection`: CodeBuild checks the repository out through the connection
//!   (`sourceAuthOverride` CODECONNECTIONS: Sluice never holds a token). The connection's provider, from
//!   CodeStar Connections' GetConnection (and GetHost for self-managed hosts, [`ConnectionHost`]), picks the
//!   source type and repository URL (GITHUB, GITLAB, BITBUCKET, GITHUB_ENTERPRISE, GITLAB_SELF_MANAGED) and
//!   the `ProviderType` variable.
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

/// What a connection connects to: its `ProviderType` as CodeStar Connections names it (`GitHub`, `GitLab`,
/// `Bitbucket`, `GitHubEnterpriseServer`, `GitLabSelfManaged`) and, for the self-managed ones, the host's
/// endpoint (GetHost's `ProviderEndpoint`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionHost {
    /// The provider type.
    pub provider_type: String,
    /// The self-managed host's URL.
    pub endpoint: Option<String>,
}

impl ConnectionHost {
    /// CodeBuild's source type and the host's web address for this provider; `Err` for a provider CodeBuild
    /// cannot check out through a connection.
    pub fn source(&self) -> Result<(&'static str, String), String> {
        let endpoint = || {
            self.endpoint
                .as_deref()
                .map(|e| e.trim_end_matches('/').to_owned())
                .filter(|e| !e.is_empty())
                .ok_or_else(|| {
                    format!(
                        "the {} connection's host has no endpoint (GetHost answered none)",
                        self.provider_type
                    )
                })
        };
        Ok(match self.provider_type.as_str() {
            "GitHub" => ("GITHUB", "https://github.com".to_owned()),
            "GitLab" => ("GITLAB", "https://gitlab.com".to_owned()),
            "Bitbucket" => ("BITBUCKET", "https://bitbucket.org".to_owned()),
            "GitHubEnterpriseServer" => ("GITHUB_ENTERPRISE", endpoint()?),
            "GitLabSelfManaged" => ("GITLAB_SELF_MANAGED", endpoint()?),
            other => {
                return Err(format!(
                    "connections to {other} cannot be checked out by CodeBuild (GitHub, GitHub Enterprise \
                     Server, GitLab, GitLab self-managed and Bitbucket can)"
                ))
            }
        })
    }
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
    /// A commit's page; a connection's by its `ProviderType` (none for self-managed hosts, whose address the
    /// build does not report).
    pub fn commit_url(
        &self,
        commit: &str,
        region: &str,
        provider_type: Option<&str>,
    ) -> Option<String> {
        Some(match self {
            Self::Connection { repository, .. } => match provider_type.unwrap_or("GitHub") {
                "GitHub" => format!("https://github.com/{repository}/commit/{commit}"),
                "GitLab" => format!("https://gitlab.com/{repository}/-/commit/{commit}"),
                "Bitbucket" => format!("https://bitbucket.org/{repository}/commits/{commit}"),
                _ => return None,
            },
            Self::CodeCommit { repository, .. } => format!(
                "https://{region}.console.aws.amazon.com/codesuite/codecommit/repositories/{repository}/commit/{commit}?region={region}"
            ),
            Self::GitHub { owner, repo, .. } => {
                format!("https://github.com/{owner}/{repo}/commit/{commit}")
            }
        })
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
pub fn buildspec(source: &GitSource, host: Option<&ConnectionHost>) -> String {
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
            let provider = host.map_or("GitHub", |h| h.provider_type.as_str());
            fixed.insert("ProviderType", provider.to_owned());
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

/// The build that runs `job`'s git source in `project`, in `region`; a connection source needs its
/// connection's `host`.
pub fn plan(
    job: &Job,
    project: &str,
    region: &str,
    host: Option<&ConnectionHost>,
) -> Result<BuildPlan, String> {
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
        } => {
            let host = host.ok_or_else(|| {
                format!("the provider of connection {connection_arn} is not known")
            })?;
            let (source_type, web) = host.source()?;
            BuildSource {
                source_type: source_type.into(),
                location: Some(format!("{web}/{repository}.git")),
                connection: Some(connection_arn.clone()),
                version: Some(pinned.unwrap_or(branch).to_owned()),
                clone_depth: Some(depth),
            }
        }
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
        buildspec: Some(buildspec(&source, host)),
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
        Some(url) => Some(url.clone()),
        None => source.commit_url(
            commit,
            region,
            variables.get("ProviderType").map(String::as_str),
        ),
    };
    Some(SourceRevision {
        revision_id: commit.clone(),
        revision_summary: variables
            .get("CommitMessage")
            .map(|m| m.trim_end().to_owned()),
        revision_url: url,
    })
}

#[cfg(test)]
mod tests;
