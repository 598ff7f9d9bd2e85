//! Typed configuration, read once at cold start. The variable names are template.yaml's, one for one (see
//! functions/README.md); region, credentials and endpoints come from the standard AWS settings instead.

/// A variable the function needs is missing or wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// Not set, or empty.
    #[error(
        "environment variable {0} is not set (template.yaml sets it; see functions/README.md)"
    )]
    Missing(&'static str),
    /// Set to something unusable.
    #[error("environment variable {name}: {problem}")]
    Invalid {
        /// The variable.
        name: &'static str,
        /// What is wrong with it.
        problem: String,
    },
}

/// Where variables are read from: the process environment, or a table in tests.
pub trait Vars {
    /// The variable's value, if set.
    fn get(&self, name: &str) -> Option<String>;
}

/// The process environment.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessEnv;

impl Vars for ProcessEnv {
    fn get(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

impl<F: Fn(&str) -> Option<String>> Vars for F {
    fn get(&self, name: &str) -> Option<String> {
        self(name)
    }
}

fn var(vars: &dyn Vars, name: &'static str) -> Result<String, ConfigError> {
    vars.get(name)
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
        .ok_or(ConfigError::Missing(name))
}

/// An ARN's account field (every function has an ARN in its settings: it names the account to build state
/// machine ARNs and event sources in, without a cold-start STS call).
pub fn account_of(name: &'static str, arn: &str) -> Result<String, ConfigError> {
    let account = arn.split(':').nth(4).unwrap_or_default();
    if arn.starts_with("arn:") && account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit())
    {
        Ok(account.to_owned())
    } else {
        Err(ConfigError::Invalid {
            name,
            problem: format!("{arn:?} is not an ARN with a 12-digit account"),
        })
    }
}

/// What every function gets (template `Globals`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Common {
    /// `SLUICE_TABLE`: the DynamoDB table.
    pub table: String,
    /// `SLUICE_EVENT_BUS`: where CodePipeline-shaped events go.
    pub event_bus: String,
    /// `SLUICE_STATE_MACHINE_PREFIX`: the prefix of every state machine Sluice creates.
    pub state_machine_prefix: String,
    /// `SLUICE_METRICS_NAMESPACE`: the custom metrics' CloudWatch namespace.
    pub metrics_namespace: String,
}

impl Common {
    fn read(vars: &dyn Vars) -> Result<Self, ConfigError> {
        Ok(Self {
            table: var(vars, "SLUICE_TABLE")?,
            event_bus: var(vars, "SLUICE_EVENT_BUS")?,
            state_machine_prefix: var(vars, "SLUICE_STATE_MACHINE_PREFIX")?,
            metrics_namespace: var(vars, "SLUICE_METRICS_NAMESPACE")?,
        })
    }
}

macro_rules! from_env {
    ($t:ty) => {
        impl $t {
            /// Reads the settings from the process environment.
            pub fn from_env() -> Result<Self, ConfigError> {
                Self::read(&ProcessEnv)
            }
        }
    };
}

/// The dispatch function's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DispatchConfig {
    /// Every function's settings.
    pub common: Common,
    /// `SLUICE_BUCKET`: the artifact bucket.
    pub bucket: String,
    /// `SLUICE_KMS_KEY_ARN`: the bucket's key (the bucket encrypts by default; kept for uploads that name it).
    pub kms_key_arn: String,
    /// `SLUICE_APPROVAL_TOPIC_ARN`: where approval requests are published.
    pub approval_topic_arn: String,
    /// `SLUICE_APPROVAL_URL`: the approval function's URL, ending with `/`.
    pub approval_url: String,
    /// `SLUICE_APPROVAL_KEY_SECRET_ARN`: the secret holding the approval-link key.
    pub approval_key_secret_arn: String,
    /// `SLUICE_PIPELINE_ROLE_PREFIX`: the prefix pipelines' `roleArn` must have (used once actions run as it).
    pub pipeline_role_prefix: String,
    /// `SLUICE_COMMANDS_PROJECT` (optional): the CodeBuild project Commands actions run in.
    pub commands_project: Option<String>,
    /// `SLUICE_SOURCES_PROJECT` (optional): the CodeBuild project git source actions run in.
    pub sources_project: Option<String>,
    /// `SLUICE_ARTIFACT_ROLE_ARN` (optional): the role Lambda actions' artifact credentials are minted from
    /// (scoped down to each job's objects).
    pub artifact_role_arn: Option<String>,
    /// The account, from the approval topic's ARN.
    pub account: String,
}

impl DispatchConfig {
    /// Reads the settings from `vars`.
    pub fn read(vars: &dyn Vars) -> Result<Self, ConfigError> {
        let approval_topic_arn = var(vars, "SLUICE_APPROVAL_TOPIC_ARN")?;
        let approval_url = var(vars, "SLUICE_APPROVAL_URL")?;
        if !approval_url.ends_with('/') || !approval_url.starts_with("http") {
            return Err(ConfigError::Invalid {
                name: "SLUICE_APPROVAL_URL",
                problem: format!("{approval_url:?} must be an http(s) URL ending with /"),
            });
        }
        Ok(Self {
            common: Common::read(vars)?,
            bucket: var(vars, "SLUICE_BUCKET")?,
            kms_key_arn: var(vars, "SLUICE_KMS_KEY_ARN")?,
            account: account_of("SLUICE_APPROVAL_TOPIC_ARN", &approval_topic_arn)?,
            approval_topic_arn,
            approval_url,
            approval_key_secret_arn: var(vars, "SLUICE_APPROVAL_KEY_SECRET_ARN")?,
            pipeline_role_prefix: var(vars, "SLUICE_PIPELINE_ROLE_PREFIX")?,
            commands_project: var(vars, "SLUICE_COMMANDS_PROJECT").ok(),
            sources_project: var(vars, "SLUICE_SOURCES_PROJECT").ok(),
            artifact_role_arn: var(vars, "SLUICE_ARTIFACT_ROLE_ARN").ok(),
        })
    }
}
from_env!(DispatchConfig);

/// The approval function's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalConfig {
    /// Every function's settings.
    pub common: Common,
    /// `SLUICE_APPROVAL_KEY_SECRET_ARN`: the secret holding the approval-link key.
    pub approval_key_secret_arn: String,
    /// The account, from the secret's ARN.
    pub account: String,
    /// The console's settings; None (no `SLUICE_API_KEYS_SECRET_ARN`): only approval pages are served.
    pub console: Option<ConsoleSettings>,
}

impl ApprovalConfig {
    /// Reads the settings from `vars`.
    pub fn read(vars: &dyn Vars) -> Result<Self, ConfigError> {
        let secret = var(vars, "SLUICE_APPROVAL_KEY_SECRET_ARN")?;
        let common = Common::read(vars)?;
        let console = match var(vars, "SLUICE_API_KEYS_SECRET_ARN") {
            Ok(api_keys_secret_arn) => Some(ConsoleSettings {
                api_keys_secret_arn,
                access: AccessSettings::read(vars, &common)?,
                session_lifetime_s: match var(vars, "SLUICE_CONSOLE_SESSION_SECONDS") {
                    Ok(v) => positive("SLUICE_CONSOLE_SESSION_SECONDS", &v)?,
                    Err(_) => sluice_web::console::session::DEFAULT_LIFETIME_S,
                },
            }),
            Err(_) => None,
        };
        Ok(Self {
            common,
            account: account_of("SLUICE_APPROVAL_KEY_SECRET_ARN", &secret)?,
            approval_key_secret_arn: secret,
            console,
        })
    }
}

/// The console's settings (the approval function serves it when `SLUICE_API_KEYS_SECRET_ARN` is set).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleSettings {
    /// `SLUICE_API_KEYS_SECRET_ARN`: the stack's admin key pair.
    pub api_keys_secret_arn: String,
    /// Where people and keys are.
    pub access: AccessSettings,
    /// `SLUICE_CONSOLE_SESSION_SECONDS` (optional, 12 hours by default): how long a session lasts.
    pub session_lifetime_s: i64,
}

/// Where the stack's people and keys are, and how long a reading of them is used (see [`crate::access`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessSettings {
    /// `SLUICE_ACCESS_KEY_SECRET_PREFIX` (optional, `sluice/<table>/access-keys/` by default): the name prefix
    /// of the key pairs' secrets.
    pub key_secret_prefix: String,
    /// `SLUICE_ACCESS_CACHE_SECONDS` (optional, 30 by default): how long a reading of people and keys is used.
    pub cache_seconds: u64,
}

impl AccessSettings {
    fn read(vars: &dyn Vars, common: &Common) -> Result<Self, ConfigError> {
        Ok(Self {
            key_secret_prefix: var(vars, "SLUICE_ACCESS_KEY_SECRET_PREFIX")
                .unwrap_or_else(|_| format!("sluice/{}/access-keys/", common.table)),
            cache_seconds: match var(vars, "SLUICE_ACCESS_CACHE_SECONDS") {
                Ok(v) => v.parse().map_err(|_| ConfigError::Invalid {
                    name: "SLUICE_ACCESS_CACHE_SECONDS",
                    problem: format!("`{v}` is not a number of seconds"),
                })?,
                Err(_) => crate::access::DEFAULT_CACHE_SECONDS,
            },
        })
    }
}

fn positive(name: &'static str, v: &str) -> Result<i64, ConfigError> {
    v.parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| ConfigError::Invalid {
            name,
            problem: format!("`{v}` is not a positive number of seconds"),
        })
}
from_env!(ApprovalConfig);

/// The recorder function's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecorderConfig {
    /// Every function's settings.
    pub common: Common,
    /// `SLUICE_NOTIFICATION_TOPIC_ARN`: pipeline results.
    pub notification_topic_arn: String,
    /// The account, from the topic's ARN.
    pub account: String,
}

impl RecorderConfig {
    /// Reads the settings from `vars`.
    pub fn read(vars: &dyn Vars) -> Result<Self, ConfigError> {
        let topic = var(vars, "SLUICE_NOTIFICATION_TOPIC_ARN")?;
        Ok(Self {
            common: Common::read(vars)?,
            account: account_of("SLUICE_NOTIFICATION_TOPIC_ARN", &topic)?,
            notification_topic_arn: topic,
        })
    }
}
from_env!(RecorderConfig);

/// The trigger function's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TriggerConfig {
    /// Every function's settings.
    pub common: Common,
    /// `SLUICE_WEBHOOK_SECRET_ARN`: the secret holding GitHub's webhook secret.
    pub webhook_secret_arn: String,
    /// `SLUICE_GITHUB_URL` (optional, default `https://github.com`): where GitHub (version 1) sources are polled;
    /// another address only for tests (a loopback git server).
    pub github_url: String,
    /// The account, from the secret's ARN.
    pub account: String,
    /// `SLUICE_GITHUB_API_URL`, `SLUICE_GITLAB_API_URL`, `SLUICE_BITBUCKET_API_URL` (optional, the hosts' own
    /// by default): where pull requests' changed files are asked for; other addresses only for tests.
    pub host_apis: HostApis,
    /// `SLUICE_HOST_TOKENS_SECRET` (optional): the secret with the hosts' API tokens, by host.
    pub host_tokens_secret: Option<String>,
}

impl TriggerConfig {
    /// Reads the settings from `vars`.
    pub fn read(vars: &dyn Vars) -> Result<Self, ConfigError> {
        let secret = var(vars, "SLUICE_WEBHOOK_SECRET_ARN")?;
        Ok(Self {
            common: Common::read(vars)?,
            account: account_of("SLUICE_WEBHOOK_SECRET_ARN", &secret)?,
            webhook_secret_arn: secret,
            github_url: var(vars, "SLUICE_GITHUB_URL").map_or_else(
                |_| "https://github.com".to_owned(),
                |u| u.trim_end_matches('/').to_owned(),
            ),
            host_apis: {
                let defaults = HostApis::default();
                let or = |name: &'static str, default: String| {
                    var(vars, name).map_or(default, |u| u.trim_end_matches('/').to_owned())
                };
                HostApis {
                    github: or("SLUICE_GITHUB_API_URL", defaults.github),
                    gitlab: or("SLUICE_GITLAB_API_URL", defaults.gitlab),
                    bitbucket: or("SLUICE_BITBUCKET_API_URL", defaults.bitbucket),
                }
            },
            host_tokens_secret: var(vars, "SLUICE_HOST_TOKENS_SECRET").ok(),
        })
    }
}
from_env!(TriggerConfig);

/// The api function's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiConfig {
    /// Every function's settings.
    pub common: Common,
    /// `SLUICE_BUCKET`: the artifact bucket.
    pub bucket: String,
    /// `SLUICE_KMS_KEY_ARN`: the bucket's key.
    pub kms_key_arn: String,
    /// `SLUICE_STATE_MACHINE_ROLE_ARN`: the role created state machines run as.
    pub state_machine_role_arn: String,
    /// `SLUICE_DISPATCH_FUNCTION_ARN`: filled into compiled state machines.
    pub dispatch_function_arn: String,
    /// `SLUICE_API_KEYS_SECRET_ARN`: the secret holding the access keys requests are signed with.
    pub api_keys_secret_arn: String,
    /// `SLUICE_WEBHOOK_URL` (optional): the trigger function's URL, which PutWebhook's URLs start with.
    pub webhook_url: Option<String>,
    /// The account, from the role's ARN.
    pub account: String,
    /// Where people and keys are.
    pub access: AccessSettings,
}

impl ApiConfig {
    /// Reads the settings from `vars`.
    pub fn read(vars: &dyn Vars) -> Result<Self, ConfigError> {
        let role = var(vars, "SLUICE_STATE_MACHINE_ROLE_ARN")?;
        let common = Common::read(vars)?;
        Ok(Self {
            access: AccessSettings::read(vars, &common)?,
            common,
            bucket: var(vars, "SLUICE_BUCKET")?,
            kms_key_arn: var(vars, "SLUICE_KMS_KEY_ARN")?,
            account: account_of("SLUICE_STATE_MACHINE_ROLE_ARN", &role)?,
            state_machine_role_arn: role,
            dispatch_function_arn: var(vars, "SLUICE_DISPATCH_FUNCTION_ARN")?,
            api_keys_secret_arn: var(vars, "SLUICE_API_KEYS_SECRET_ARN")?,
            webhook_url: var(vars, "SLUICE_WEBHOOK_URL").ok(),
        })
    }
}
from_env!(ApiConfig);

/// The cfn-resource function's settings (CloudFormation custom resources declaring pipelines).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CfnResourceConfig {
    /// Every function's settings.
    pub common: Common,
    /// `SLUICE_BUCKET`: the artifact bucket.
    pub bucket: String,
    /// `SLUICE_STATE_MACHINE_ROLE_ARN`: the role created state machines run as.
    pub state_machine_role_arn: String,
    /// `SLUICE_DISPATCH_FUNCTION_ARN`: filled into compiled state machines.
    pub dispatch_function_arn: String,
    /// `SLUICE_WEBHOOK_URL` (optional): the trigger function's URL, which webhooks' URLs start with.
    pub webhook_url: Option<String>,
    /// The account, from the role's ARN.
    pub account: String,
}

impl CfnResourceConfig {
    /// Reads the settings from `vars`.
    pub fn read(vars: &dyn Vars) -> Result<Self, ConfigError> {
        let role = var(vars, "SLUICE_STATE_MACHINE_ROLE_ARN")?;
        Ok(Self {
            common: Common::read(vars)?,
            bucket: var(vars, "SLUICE_BUCKET")?,
            account: account_of("SLUICE_STATE_MACHINE_ROLE_ARN", &role)?,
            state_machine_role_arn: role,
            dispatch_function_arn: var(vars, "SLUICE_DISPATCH_FUNCTION_ARN")?,
            webhook_url: var(vars, "SLUICE_WEBHOOK_URL").ok(),
        })
    }
}
from_env!(CfnResourceConfig);

/// Where each host's REST API is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostApis {
    /// `SLUICE_GITHUB_API_URL`.
    pub github: String,
    /// `SLUICE_GITLAB_API_URL`.
    pub gitlab: String,
    /// `SLUICE_BITBUCKET_API_URL`.
    pub bitbucket: String,
}

impl Default for HostApis {
    fn default() -> Self {
        Self {
            github: "https://api.github.com".into(),
            gitlab: "https://gitlab.com/api/v4".into(),
            bitbucket: "https://api.bitbucket.org/2.0".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            pairs
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    const COMMON: [(&str, &str); 4] = [
        ("SLUICE_TABLE", "t"),
        ("SLUICE_EVENT_BUS", "sluice"),
        ("SLUICE_STATE_MACHINE_PREFIX", "sluice-"),
        ("SLUICE_METRICS_NAMESPACE", "Sluice/s"),
    ];

    #[test]
    fn a_missing_variable_is_named() {
        let err = TriggerConfig::read(&vars(&COMMON)).expect_err("refused");
        assert_eq!(err, ConfigError::Missing("SLUICE_WEBHOOK_SECRET_ARN"));
        assert!(err
            .to_string()
            .contains("SLUICE_WEBHOOK_SECRET_ARN is not set"));
    }

    #[test]
    fn the_account_comes_from_an_arn() {
        const ALL: [(&str, &str); 5] = [
            COMMON[0],
            COMMON[1],
            COMMON[2],
            COMMON[3],
            (
                "SLUICE_WEBHOOK_SECRET_ARN",
                "arn:aws:secretsmanager:eu-west-1:123456789012:secret:hook-AbCdEf",
            ),
        ];
        let config = TriggerConfig::read(&vars(&ALL)).expect("read");
        assert_eq!(config.account, "123456789012");
        assert_eq!(config.common.state_machine_prefix, "sluice-");
        assert!(account_of("X", "not-an-arn").is_err());
    }

    #[test]
    fn the_approval_url_must_end_with_a_slash() {
        const ALL: [(&str, &str); 10] = [
            COMMON[0],
            COMMON[1],
            COMMON[2],
            COMMON[3],
            ("SLUICE_BUCKET", "b"),
            (
                "SLUICE_KMS_KEY_ARN",
                "arn:aws:kms:us-east-1:123456789012:key/k",
            ),
            (
                "SLUICE_APPROVAL_TOPIC_ARN",
                "arn:aws:sns:us-east-1:123456789012:a",
            ),
            (
                "SLUICE_APPROVAL_URL",
                "https://x.lambda-url.us-east-1.on.aws",
            ),
            (
                "SLUICE_APPROVAL_KEY_SECRET_ARN",
                "arn:aws:secretsmanager:us-east-1:123456789012:secret:k",
            ),
            ("SLUICE_PIPELINE_ROLE_PREFIX", "sluice-pipeline-"),
        ];
        let err = DispatchConfig::read(&vars(&ALL)).expect_err("refused");
        assert!(matches!(
            err,
            ConfigError::Invalid {
                name: "SLUICE_APPROVAL_URL",
                ..
            }
        ));
    }
}
