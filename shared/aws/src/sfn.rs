//! The orchestrator on Step Functions: one Standard state machine per pipeline, one published version per
//! pipeline version, executions named by the runtime's run names.
//!
//! The mapping from a pipeline version to the state machine version that runs it is kept in Step Functions
//! itself, as an alias per pipeline version (`v<N>`) routing all of its executions to one version. Step
//! Functions publishes no new version when a definition did not change (and compiled machines carry control
//! only, so pipeline versions that differ in configuration compile alike), so version numbers of the two
//! cannot be assumed to agree; an alias names the version exactly, survives restarts and needs no store.
//! Running executions keep the version they started with, whatever is published later.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_sfn::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_sfn::types::{RoutingConfigurationListItem, StateMachineType};
use aws_sdk_sfn::Client;
use serde_json::Value;
use sha2::{Digest, Sha256};
use sluice_definition::compile::substitute;
use sluice_definition::contract::DISPATCH_FUNCTION;
use sluice_runtime::ports::{Orchestrator, OrchestratorError, RunState};
use tracing::info;

/// Step Functions' limit on state machine, alias and execution names.
pub const MAX_NAME: usize = 80;
/// Step Functions' limit on a task failure's error name.
const MAX_ERROR: usize = 256;
/// Step Functions' limit on a task failure's or a stop's cause.
const MAX_CAUSE: usize = 32_768;

/// Error codes meaning a task token cannot be completed any more.
const TOKEN_CLOSED: &[&str] = &["TaskDoesNotExist", "TaskTimedOut", "InvalidToken"];

/// How executions are started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StartTarget {
    /// Start the pipeline version's alias, so the execution runs exactly that version's machine. What
    /// deployments use.
    #[default]
    Version,
    /// Start the state machine itself after checking that its current definition is the pipeline version's
    /// (refused otherwise). For emulators that cannot start versions or aliases (moto 5.2 answers HTTP 500 for
    /// a version ARN and "does not exist" for an alias ARN). A publish between the check and the start can
    /// slip a newer definition in: never use it where pipelines are updated while executions start.
    CheckedLatest,
}

/// Settings of the Step Functions orchestrator.
#[derive(Debug, Clone)]
pub struct StepFunctionsConfig {
    /// The role state machines run as: it must be allowed to invoke the dispatch function.
    pub role_arn: String,
    /// The account the state machines live in (their ARNs are built from it and the client's region).
    pub account: String,
    /// Prepended to every state machine name, so IAM policies can scope to `stateMachine:<prefix>*`.
    pub name_prefix: String,
    /// How executions are started.
    pub start_target: StartTarget,
    /// The dispatch function every task invokes: fills the compiled machines' `${DispatchFunctionArn}`.
    pub dispatch_function_arn: String,
}

impl StepFunctionsConfig {
    /// Settings with the `sluice-` name prefix, starting versions.
    pub fn new(
        role_arn: impl Into<String>,
        account: impl Into<String>,
        dispatch_function_arn: impl Into<String>,
    ) -> Self {
        Self {
            role_arn: role_arn.into(),
            account: account.into(),
            name_prefix: "sluice-".into(),
            start_target: StartTarget::Version,
            dispatch_function_arn: dispatch_function_arn.into(),
        }
    }
}

/// [`Orchestrator`] over AWS Step Functions.
#[derive(Debug)]
pub struct StepFunctionsOrchestrator {
    client: Client,
    config: StepFunctionsConfig,
    region: String,
    /// Pipeline version -> state machine version ARN, as read from the aliases (which never change once made).
    versions: Mutex<HashMap<(String, u64), String>>,
}

/// The SDK settings for control-plane calls (Step Functions, SNS, EventBridge): small requests that must answer
/// quickly inside a Lambda invocation. Standard retries, three attempts in all; each attempt may take 10 s and the
/// whole call 25 s, so a stuck connection fails the task (which Step Functions retries) instead of the Lambda.
pub fn control_plane(sdk: &aws_config::SdkConfig) -> aws_config::SdkConfig {
    sdk.to_builder()
        .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(3))
        .timeout_config(
            aws_config::timeout::TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(3))
                .operation_attempt_timeout(Duration::from_secs(10))
                .operation_timeout(Duration::from_secs(25))
                .build(),
        )
        .build()
}

impl StepFunctionsOrchestrator {
    /// An orchestrator using `client` (see [`control_plane`] for its settings). Fails when the client has no
    /// region, or the settings cannot name state machines.
    pub fn new(client: Client, config: StepFunctionsConfig) -> Result<Self, OrchestratorError> {
        let region = client
            .config()
            .region()
            .map(ToString::to_string)
            .ok_or_else(|| {
                OrchestratorError::Other(
                    "Step Functions client has no region (set AWS_REGION)".into(),
                )
            })?;
        if config.account.len() != 12 || !config.account.bytes().all(|b| b.is_ascii_digit()) {
            return Err(OrchestratorError::Other(format!(
                "Step Functions settings: account {:?} is not a 12-digit AWS account id",
                config.account
            )));
        }
        if config.name_prefix.len() > 40
            || !config
                .name_prefix
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(OrchestratorError::Other(format!(
                "Step Functions settings: name prefix {:?} must be at most 40 letters, digits, - or _",
                config.name_prefix
            )));
        }
        Ok(Self {
            client,
            config,
            region,
            versions: Mutex::new(HashMap::new()),
        })
    }

    /// An orchestrator with a client from `sdk` and the [`control_plane`] settings.
    pub fn from_sdk(
        sdk: &aws_config::SdkConfig,
        config: StepFunctionsConfig,
    ) -> Result<Self, OrchestratorError> {
        Self::new(Client::new(&control_plane(sdk)), config)
    }

    /// The client, for callers that need Step Functions calls beyond the port (tests reading histories).
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The name of a pipeline's state machine.
    pub fn state_machine_name(&self, pipeline: &str) -> String {
        state_machine_name(&self.config.name_prefix, pipeline)
    }

    /// The ARN of a pipeline's state machine.
    pub fn state_machine_arn(&self, pipeline: &str) -> String {
        format!(
            "arn:{}:states:{}:{}:stateMachine:{}",
            partition(&self.region),
            self.region,
            self.config.account,
            self.state_machine_name(pipeline)
        )
    }

    /// The ARN of the alias that names a pipeline version's state machine version.
    pub fn alias_arn(&self, pipeline: &str, version: u64) -> String {
        format!(
            "{}:{}",
            self.state_machine_arn(pipeline),
            alias_name(version)
        )
    }

    /// The ARN of a pipeline's execution named `name`.
    pub fn execution_arn(&self, pipeline: &str, name: &str) -> String {
        format!(
            "arn:{}:states:{}:{}:execution:{}:{name}",
            partition(&self.region),
            self.region,
            self.config.account,
            self.state_machine_name(pipeline)
        )
    }

    /// The state machine version ARN that runs a pipeline version, when it was published.
    pub async fn version_arn(
        &self,
        pipeline: &str,
        version: u64,
    ) -> Result<Option<String>, OrchestratorError> {
        let key = (pipeline.to_owned(), version);
        if let Some(arn) = self.cached(&key) {
            return Ok(Some(arn));
        }
        let alias = self.alias_arn(pipeline, version);
        match self
            .client
            .describe_state_machine_alias()
            .state_machine_alias_arn(&alias)
            .send()
            .await
        {
            Ok(out) => {
                let arn = out
                    .routing_configuration()
                    .first()
                    .map(|r| r.state_machine_version_arn().to_owned())
                    .ok_or_else(|| {
                        OrchestratorError::Other(format!("alias {alias} routes to no version"))
                    })?;
                self.remember(key, &arn);
                Ok(Some(arn))
            }
            Err(e)
                if matches!(
                    code(&e),
                    Some("ResourceNotFound" | "StateMachineDoesNotExist")
                ) =>
            {
                Ok(None)
            }
            Err(e) => Err(other(&format!("describe alias {alias}"), &e)),
        }
    }

    /// Tells Step Functions a task is still being worked on (its heartbeat timeout starts again).
    pub async fn send_task_heartbeat(&self, token: &str) -> Result<(), OrchestratorError> {
        self.client
            .send_task_heartbeat()
            .task_token(token)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| token_error("send task heartbeat", &e))
    }

    /// The machine with the dispatch function's ARN filled in; a machine filled in already is kept.
    fn substituted(&self, machine: &Value) -> Value {
        let values = HashMap::from([(
            DISPATCH_FUNCTION.to_owned(),
            self.config.dispatch_function_arn.clone(),
        )]);
        // The only refusal is a placeholder the machine does not hold: it was filled in before.
        substitute(machine, &values).unwrap_or_else(|_| machine.clone())
    }

    fn cached(&self, key: &(String, u64)) -> Option<String> {
        self.versions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(key)
            .cloned()
    }

    fn remember(&self, key: (String, u64), arn: &str) {
        self.versions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(key, arn.to_owned());
    }

    /// Updates the pipeline's state machine to `definition`, or creates it, publishing a version; returns the
    /// version's ARN. Updating comes first: creating a state machine that exists is not an error everywhere
    /// (Step Functions answers an identical create idempotently, moto any create).
    async fn publish_definition(
        &self,
        pipeline: &str,
        version: u64,
        definition: &str,
    ) -> Result<String, OrchestratorError> {
        let name = self.state_machine_name(pipeline);
        let description = format!("sluice pipeline {pipeline} version {version}");
        let update = || {
            self.client
                .update_state_machine()
                .state_machine_arn(self.state_machine_arn(pipeline))
                .definition(definition)
                .role_arn(&self.config.role_arn)
                .publish(true)
                .version_description(&description)
                .send()
        };
        let published = match update().await {
            Ok(out) => out.state_machine_version_arn().map(str::to_owned),
            Err(e) if code(&e) == Some("StateMachineDoesNotExist") => {
                let created = self
                    .client
                    .create_state_machine()
                    .name(&name)
                    .definition(definition)
                    .role_arn(&self.config.role_arn)
                    .r#type(StateMachineType::Standard)
                    .publish(true)
                    .version_description(&description)
                    .send()
                    .await;
                match created {
                    Ok(out) => out.state_machine_version_arn().map(str::to_owned),
                    // Another publisher created it in between: update theirs.
                    Err(e) if code(&e) == Some("StateMachineAlreadyExists") => update()
                        .await
                        .map_err(|e| other(&format!("update state machine {name}"), &e))?
                        .state_machine_version_arn()
                        .map(str::to_owned),
                    Err(e) => return Err(other(&format!("create state machine {name}"), &e)),
                }
            }
            Err(e) => return Err(other(&format!("update state machine {name}"), &e)),
        };
        published.ok_or_else(|| {
            OrchestratorError::Other(format!(
                "Step Functions published no version of {name} for pipeline version {version}"
            ))
        })
    }

    /// Checks that the state machine's current definition is the pipeline version's ([`StartTarget::CheckedLatest`]).
    async fn check_latest(&self, pipeline: &str, version: u64) -> Result<(), OrchestratorError> {
        let version_arn = self.version_arn(pipeline, version).await?.ok_or_else(|| {
            OrchestratorError::Other(format!(
                "pipeline {pipeline} version {version} was never published to Step Functions"
            ))
        })?;
        let pinned = self.definition_of(&version_arn).await?;
        let current = self
            .definition_of(&self.state_machine_arn(pipeline))
            .await?;
        if pinned == current {
            Ok(())
        } else {
            Err(OrchestratorError::Other(format!(
                "state machine {} no longer holds pipeline {pipeline} version {version}'s definition, and \
                 executions start the latest definition (StartTarget::CheckedLatest)",
                self.state_machine_name(pipeline)
            )))
        }
    }

    async fn definition_of(&self, arn: &str) -> Result<Value, OrchestratorError> {
        let out = self
            .client
            .describe_state_machine()
            .state_machine_arn(arn)
            .send()
            .await
            .map_err(|e| other(&format!("describe state machine {arn}"), &e))?;
        serde_json::from_str(out.definition()).map_err(|e| {
            OrchestratorError::Other(format!(
                "state machine {arn} has a definition that is not JSON: {e}"
            ))
        })
    }
}

#[async_trait]
impl Orchestrator for StepFunctionsOrchestrator {
    async fn publish(
        &self,
        pipeline: &str,
        version: u64,
        machine: &Value,
    ) -> Result<(), OrchestratorError> {
        // Only publishing needs them: functions that start executions and complete tasks name neither.
        if self.config.role_arn.is_empty() || self.config.dispatch_function_arn.is_empty() {
            return Err(OrchestratorError::Other(
                "Step Functions settings: publishing state machines needs role_arn and dispatch_function_arn".into(),
            ));
        }
        if self.version_arn(pipeline, version).await?.is_some() {
            return Ok(());
        }
        let machine = self.substituted(machine);
        let definition = serde_json::to_string(&machine)
            .map_err(|e| OrchestratorError::Other(format!("state machine as JSON: {e}")))?;
        let version_arn = self
            .publish_definition(pipeline, version, &definition)
            .await?;
        let routing = RoutingConfigurationListItem::builder()
            .state_machine_version_arn(&version_arn)
            .weight(100)
            .build()
            .map_err(|e| OrchestratorError::Other(format!("alias routing: {e}")))?;
        let made = self
            .client
            .create_state_machine_alias()
            .name(alias_name(version))
            .description(format!("sluice pipeline {pipeline} version {version}"))
            .routing_configuration(routing)
            .send()
            .await;
        match made {
            Ok(_) => self.remember((pipeline.to_owned(), version), &version_arn),
            // Another publisher of the same version made the alias first: its version stands.
            Err(e) if code(&e) == Some("ConflictException") => {
                self.version_arn(pipeline, version).await?;
            }
            Err(e) => {
                return Err(other(
                    &format!("create alias {}", self.alias_arn(pipeline, version)),
                    &e,
                ))
            }
        }
        info!(pipeline, version, state_machine_version = %version_arn, "state machine version published");
        Ok(())
    }

    async fn start_execution(
        &self,
        pipeline: &str,
        version: u64,
        name: &str,
        input: Value,
    ) -> Result<(), OrchestratorError> {
        validate_execution_name(name).map_err(OrchestratorError::Other)?;
        let target = match self.config.start_target {
            StartTarget::Version => self.alias_arn(pipeline, version),
            StartTarget::CheckedLatest => {
                self.check_latest(pipeline, version).await?;
                self.state_machine_arn(pipeline)
            }
        };
        let text = serde_json::to_string(&input)
            .map_err(|e| OrchestratorError::Other(format!("execution input as JSON: {e}")))?;
        match self
            .client
            .start_execution()
            .state_machine_arn(&target)
            .name(name)
            .input(&text)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if code(&e) == Some("ExecutionAlreadyExists") => {
                // The same start again (a retried request) is done; another input under the name is not.
                let arn = self.execution_arn(pipeline, name);
                let existing = self
                    .client
                    .describe_execution()
                    .execution_arn(&arn)
                    .send()
                    .await
                    .map_err(|e| other(&format!("describe execution {arn}"), &e))?;
                let same = existing
                    .input()
                    .and_then(|i| serde_json::from_str::<Value>(i).ok())
                    .is_some_and(|i| i == input);
                if same {
                    Ok(())
                } else {
                    Err(OrchestratorError::ExecutionExists(name.to_owned()))
                }
            }
            Err(e) if code(&e) == Some("StateMachineDoesNotExist") => {
                Err(OrchestratorError::Other(format!(
                    "pipeline {pipeline} version {version} has no state machine to start ({target}): {}",
                    describe(&e)
                )))
            }
            Err(e) => Err(other(&format!("start execution {name} of {target}"), &e)),
        }
    }

    async fn send_task_success(&self, token: &str, output: Value) -> Result<(), OrchestratorError> {
        let text = serde_json::to_string(&output)
            .map_err(|e| OrchestratorError::Other(format!("task output as JSON: {e}")))?;
        self.client
            .send_task_success()
            .task_token(token)
            .output(text)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| token_error("send task success", &e))
    }

    async fn send_task_failure(
        &self,
        token: &str,
        error: &str,
        cause: &str,
    ) -> Result<(), OrchestratorError> {
        self.client
            .send_task_failure()
            .task_token(token)
            .error(truncate(error, MAX_ERROR))
            .cause(truncate(cause, MAX_CAUSE))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| token_error("send task failure", &e))
    }

    async fn stop_execution(
        &self,
        pipeline: &str,
        name: &str,
        cause: &str,
    ) -> Result<(), OrchestratorError> {
        let arn = self.execution_arn(pipeline, name);
        self.client
            .stop_execution()
            .execution_arn(&arn)
            .cause(truncate(cause, MAX_CAUSE))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| other(&format!("stop execution {arn}"), &e))
    }

    async fn run_state(&self, pipeline: &str, name: &str) -> Result<RunState, OrchestratorError> {
        use aws_sdk_sfn::operation::describe_execution::DescribeExecutionError;
        use aws_sdk_sfn::types::ExecutionStatus;
        let arn = self.execution_arn(pipeline, name);
        let out = match self
            .client
            .describe_execution()
            .execution_arn(&arn)
            .send()
            .await
        {
            Ok(out) => out,
            Err(e)
                if matches!(
                    e.as_service_error(),
                    Some(DescribeExecutionError::ExecutionDoesNotExist(_))
                ) =>
            {
                return Ok(RunState::Missing)
            }
            Err(e) => return Err(other(&format!("describe execution {arn}"), &e)),
        };
        let text = |v: Option<&str>| v.unwrap_or_default().to_owned();
        Ok(match out.status() {
            ExecutionStatus::Succeeded => RunState::Succeeded,
            ExecutionStatus::Aborted => RunState::Aborted,
            ExecutionStatus::Failed => RunState::Failed {
                error: text(out.error()),
                cause: text(out.cause()),
            },
            ExecutionStatus::TimedOut => RunState::Failed {
                error: "States.Timeout".into(),
                cause: text(out.cause()),
            },
            _ => RunState::Running,
        })
    }
}

/// The state machine name of a pipeline: the prefix and the pipeline name when that is short enough and uses
/// only letters, digits, `-` and `_` (what Step Functions needs for CloudWatch logging); otherwise the name
/// with other characters replaced by `_`, cut short, and a hash of the original, so names never collide.
pub fn state_machine_name(prefix: &str, pipeline: &str) -> String {
    let plain = pipeline
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if plain && !pipeline.is_empty() && prefix.len() + pipeline.len() <= MAX_NAME {
        return format!("{prefix}{pipeline}");
    }
    let hash = hex::encode(Sha256::digest(pipeline.as_bytes()));
    let hash = &hash[..12];
    let room = MAX_NAME.saturating_sub(prefix.len() + 1 + hash.len());
    let cleaned: String = pipeline
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(room)
        .collect();
    format!("{prefix}{cleaned}-{hash}")
}

/// The alias naming a pipeline version's state machine version (alias names need a non-digit).
pub fn alias_name(version: u64) -> String {
    format!("v{version}")
}

/// Checks an execution name against Step Functions' rules: 1 to 80 characters, none of white space, brackets,
/// wildcards, `"#%\^|~`$&,;:/`, or control characters.
pub fn validate_execution_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.chars().count() > MAX_NAME {
        return Err(format!(
            "execution name {name:?} must be 1 to {MAX_NAME} characters for Step Functions"
        ));
    }
    if let Some(bad) = name.chars().find(|&c| {
        c.is_whitespace()
            || c.is_control()
            || ('\u{7f}'..='\u{9f}').contains(&c)
            || "<>{}[]?*\"#%\\^|~`$&,;:/".contains(c)
    }) {
        return Err(format!(
            "execution name {name:?} has {bad:?}, which Step Functions does not allow in names"
        ));
    }
    Ok(())
}

/// The partition of a region's ARNs.
fn partition(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}

/// At most `max` bytes of `text`, cut at a character boundary.
fn truncate(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

fn code<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> Option<&str> {
    match e {
        SdkError::ServiceError(service) => service.err().code(),
        _ => None,
    }
}

fn other<E, R>(what: &str, e: &SdkError<E, R>) -> OrchestratorError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    OrchestratorError::Other(format!("{what}: {}", describe(e)))
}

/// A service error as its code and message; anything else (timeouts, connections) with its whole context.
fn describe<E, R>(e: &SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match e {
        SdkError::ServiceError(service) => format!(
            "{}: {}",
            service.err().code().unwrap_or("unknown error"),
            service.err().message().unwrap_or("")
        ),
        _ => DisplayErrorContext(e).to_string(),
    }
}

/// A token that is unknown, timed out or finished is [`OrchestratorError::TaskNotOpen`].
fn token_error<E, R>(what: &str, e: &SdkError<E, R>) -> OrchestratorError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match code(e) {
        Some(c) if TOKEN_CLOSED.contains(&c) => {
            OrchestratorError::TaskNotOpen(format!("{what}: {}", describe(e)))
        }
        _ => other(what, e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_name(pipeline: &str, expected: &str) {
        let name = state_machine_name("sluice-", pipeline);
        assert_eq!(name, expected, "{pipeline}");
        assert!(name.len() <= MAX_NAME, "{name} is too long");
        assert!(
            name.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
            "{name}"
        );
    }

    #[test]
    fn plain_pipeline_names_are_kept() {
        check_name("release", "sluice-release");
        check_name("my_app-2", "sluice-my_app-2");
    }

    #[test]
    fn other_characters_and_long_names_get_a_hash() {
        let dotted = state_machine_name("sluice-", "a.b");
        let underscored = state_machine_name("sluice-", "a_b");
        assert!(dotted.starts_with("sluice-a_b-"), "{dotted}");
        assert_ne!(dotted, underscored, "names must not collide");
        let long = "p".repeat(100);
        let name = state_machine_name("sluice-", &long);
        assert_eq!(name.len(), MAX_NAME);
        assert_ne!(name, state_machine_name("sluice-", &"p".repeat(99)));
        check_name(
            "team@example.com",
            &state_machine_name("sluice-", "team@example.com"),
        );
    }

    #[test]
    fn execution_names_follow_step_functions_rules() {
        for ok in ["3f1c2a9e-1111-2222-3333-444455556666", "id-1.retry-2", "a"] {
            assert!(validate_execution_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "has space", "a/b", "x:y", "tab\there", &"n".repeat(81)] {
            let e = validate_execution_name(bad).expect_err(bad);
            assert!(e.contains("execution name"), "{e}");
        }
    }

    #[test]
    fn truncation_keeps_characters_whole() {
        assert_eq!(truncate("héllo", 2), "h");
        assert_eq!(truncate("héllo", 3), "hé");
        assert_eq!(truncate("short", 100), "short");
    }

    #[test]
    fn partitions_follow_regions() {
        assert_eq!(partition("us-east-1"), "aws");
        assert_eq!(partition("cn-north-1"), "aws-cn");
        assert_eq!(partition("us-gov-west-1"), "aws-us-gov");
    }
}
