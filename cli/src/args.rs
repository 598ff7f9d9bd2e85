//! The command line: every command, its arguments and options.

use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// Sluice: continuous delivery pipelines, CodePipeline-compatible, on your machine or in your AWS account.
#[derive(Parser)]
#[command(name = "sluice", version, about)]
pub(crate) struct Cli {
    /// The state folder of the embedded default.
    #[arg(
        long,
        global = true,
        env = "SLUICE_STATE_DIR",
        default_value = ".sluice"
    )]
    pub(crate) state_dir: PathBuf,
    /// Output format.
    #[arg(long, global = true, value_enum, default_value_t = Output::Text)]
    pub(crate) output: Output,
    /// Act through a Sluice API (`sluice serve`, or a deployed stack) instead of the local state folder:
    /// status, history, list, create, update, delete, start, approve, reject, stop, retry, rollback, transition,
    /// agent, audit, principals, keys.
    #[arg(long, global = true, env = "SLUICE_ENDPOINT", value_name = "URL")]
    pub(crate) endpoint: Option<String>,
    /// The AWS profile whose credentials sign requests to --endpoint (else the standard AWS variables).
    #[arg(long, global = true)]
    pub(crate) profile: Option<String>,
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// How a CloudFormation or SAM template declaring pipelines is read.
#[derive(clap::Args, Debug, Clone, Default)]
pub(crate) struct TemplateArgs {
    /// The AWS::CodePipeline::Pipeline resource to read, when the template has several.
    #[arg(long, value_name = "LOGICAL_ID")]
    pub(crate) resource: Option<String>,
    /// A template parameter (Stage=prod), a pseudo parameter (AWS::Region=eu-west-1, AWS::StackName=web), or what
    /// only a deployment knows: a resource's Ref (ArtifactBucket=my-bucket), an attribute (PipelineRole.Arn=...),
    /// an export's name.
    #[arg(long = "parameter", value_name = "KEY=VALUE")]
    pub(crate) parameters: Vec<String>,
    /// Parameters from a file: CloudFormation's [{"ParameterKey": ..., "ParameterValue": ...}] JSON, a template
    /// configuration's {"Parameters": {...}}, or KEY=VALUE lines (aws cloudformation deploy's overrides).
    #[arg(long = "parameters-file", value_name = "FILE")]
    pub(crate) parameters_file: Option<PathBuf>,
}

#[derive(Subcommand)]
pub(crate) enum Command {
    /// Checks pipeline definitions (JSON or YAML) and reports every problem with its path.
    Validate {
        /// Definition files, or CloudFormation/SAM templates declaring pipelines.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        #[command(flatten)]
        template: TemplateArgs,
    },
    /// Rewrites a CloudFormation template's AWS::CodePipeline::Pipeline and CustomActionType resources into the
    /// Sluice stack's custom resources (Custom::SluicePipeline, Custom::SluiceCustomActionType) with a
    /// ServiceToken, changing nothing else; prints the template.
    PortTemplate {
        /// The template (YAML or JSON).
        file: PathBuf,
        /// The export holding the Sluice stack's service token (the stack's PipelineServiceToken output).
        #[arg(
            long,
            value_name = "EXPORT",
            default_value = "sluice-PipelineServiceToken"
        )]
        service_token_export: String,
        /// The cfn-resource function's ARN, written into the template instead of importing the export.
        #[arg(long, value_name = "ARN", conflicts_with = "service_token_export")]
        service_token: Option<String>,
    },
    /// Prints the Amazon States Language state machine a definition compiles to.
    Asl {
        /// The definition file (or template).
        file: PathBuf,
        #[command(flatten)]
        template: TemplateArgs,
        /// Fills a `${KEY}` placeholder, e.g. DispatchFunctionArn=arn:aws:lambda:...
        #[arg(long = "substitute", value_name = "KEY=VALUE")]
        substitutions: Vec<String>,
    },
    /// Runs a pipeline on this machine: stores the definition (a new version when it changed), starts an
    /// execution and follows it. Exit code 0 when it succeeds.
    Run {
        /// The definition file (or template).
        file: PathBuf,
        #[command(flatten)]
        template: TemplateArgs,
        /// A pipeline variable's value.
        #[arg(long = "var", value_name = "NAME=VALUE")]
        vars: Vec<String>,
        /// Start it and return; it runs on in the background.
        #[arg(long)]
        no_wait: bool,
        /// Approve manual approvals at once (recorded as approved by sluice).
        #[arg(long)]
        auto_approve: bool,
        /// Read this working copy's checked-out commit for a git source action (GitHub, CodeStarSourceConnection,
        /// CodeCommit) instead of fetching its repository. ACTION is the action's name or STAGE.ACTION.
        #[arg(long = "source", value_name = "ACTION=PATH")]
        sources: Vec<String>,
        /// Fetch every git source, even when the working copy here is the action's repository.
        #[arg(long)]
        no_bind: bool,
    },
    /// Continues every execution a stopped sluice left open, until they end.
    Resume {
        /// Approve manual approvals at once (recorded as approved by sluice).
        #[arg(long)]
        auto_approve: bool,
    },
    /// One execution: its status, stages and actions (GetPipelineExecution, ListActionExecutions).
    Show {
        /// The execution id.
        execution: String,
    },
    /// Runs open executions in the background (what `run --no-wait` starts).
    #[command(hide = true)]
    Drive,
    /// Pipelines and their latest execution, or one pipeline's stages and actions.
    Status {
        /// A pipeline.
        pipeline: Option<String>,
    },
    /// A pipeline's executions, newest first.
    History {
        /// The pipeline.
        pipeline: String,
        /// How many.
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
    /// Prints action logs of an execution.
    Logs {
        /// The execution id.
        execution: String,
        /// One action: STAGE.ACTION.
        action: Option<String>,
    },
    /// The execution's events, as published (CodePipeline-shaped EventBridge events).
    Events {
        /// Only this execution's.
        execution: Option<String>,
    },
    /// Approves a pending manual approval.
    Approve(Decision),
    /// Rejects a pending manual approval.
    Reject(Decision),
    /// Lists pipelines (ListPipelines).
    List,
    /// Creates a pipeline from a definition file (CreatePipeline).
    Create {
        /// The definition file (JSON or YAML, any of the forms `validate` reads, or a template).
        file: PathBuf,
        #[command(flatten)]
        template: TemplateArgs,
        /// A tag.
        #[arg(long = "tag", value_name = "KEY=VALUE")]
        tags: Vec<String>,
    },
    /// Stores a changed definition as the pipeline's next version (UpdatePipeline).
    Update {
        /// The definition file (or template).
        file: PathBuf,
        #[command(flatten)]
        template: TemplateArgs,
    },
    /// Deletes a pipeline (DeletePipeline).
    Delete {
        /// The pipeline.
        pipeline: String,
    },
    /// Starts an execution of a stored pipeline (StartPipelineExecution) and prints its id.
    Start {
        /// The pipeline.
        pipeline: String,
        /// A pipeline variable's value.
        #[arg(long = "var", value_name = "NAME=VALUE")]
        vars: Vec<String>,
        /// Makes the start idempotent: the same token starts one execution.
        #[arg(long)]
        client_token: Option<String>,
        /// Wait until the execution ends; exit code 0 when it succeeds.
        #[arg(long)]
        wait: bool,
    },
    /// Works as a job worker for a custom action type: polls its jobs, runs each job's commands in a workspace
    /// holding the input artifacts, uploads the output artifacts, and reports the result.
    Agent(AgentArgs),
    /// Stops an execution: running actions finish, nothing new starts (or, with --abandon, at once).
    Stop {
        /// The execution id.
        execution: String,
        /// The execution's pipeline (found by asking each pipeline when not given).
        #[arg(long)]
        pipeline: Option<String>,
        /// Abandon running actions.
        #[arg(long)]
        abandon: bool,
        /// Why.
        #[arg(long, default_value = "Stopped from the sluice command")]
        reason: String,
    },
    /// Runs a failed stage of an execution again, and follows the execution.
    Retry {
        /// The execution id.
        execution: String,
        /// The execution's pipeline (found by asking each pipeline when not given).
        #[arg(long)]
        pipeline: Option<String>,
        /// The failed stage.
        stage: String,
        /// Run every action again, not only the failed ones.
        #[arg(long)]
        all_actions: bool,
        /// Start it and return.
        #[arg(long)]
        no_wait: bool,
    },
    /// Rolls a stage back (RollbackStage): runs it again in a new execution with the artifacts and variables of
    /// an execution that succeeded through it, and follows that execution.
    Rollback {
        /// The pipeline.
        pipeline: String,
        /// The stage.
        stage: String,
        /// The execution to roll back to (default: the newest standard execution that succeeded through the
        /// stage).
        #[arg(long, value_name = "EXECUTION_ID")]
        target: Option<String>,
        /// Start it and return.
        #[arg(long)]
        no_wait: bool,
    },
    /// Serves CodePipeline's API (JSON 1.1, SigV4-authenticated) over HTTP while running executions, for the
    /// aws CLI and the SDKs (`--endpoint-url`). Stops on SIGINT or SIGTERM.
    Serve {
        /// The address to listen on.
        #[arg(long, default_value = "127.0.0.1:7088")]
        bind: std::net::SocketAddr,
        /// The keys file: `ACCESS_KEY_ID SECRET` lines (default `<state-dir>/keys`, created on first start).
        #[arg(long, value_name = "FILE")]
        keys: Option<PathBuf>,
        /// Allow listening on an address other than loopback.
        #[arg(long)]
        allow_remote: bool,
        /// The URL people reach this server at, for approval links (default `http://<bound address>`).
        #[arg(long, value_name = "URL", env = "SLUICE_PUBLIC_URL")]
        public_url: Option<String>,
    },
    /// The people who may use `sluice serve` (its API and console) and their role per pipeline pattern:
    /// viewer, operator (start, stop, retry, roll back, approve, transitions) or admin. Kept in
    /// principals.yaml beside the keys file; the server reads changes at once.
    Principals {
        #[command(subcommand)]
        action: PrincipalsAction,
        /// The keys file the principals file sits beside (default `<state-dir>/keys`).
        #[arg(long, value_name = "FILE", global = true)]
        keys: Option<PathBuf>,
    },
    /// Access key pairs of principals (`sluice principals`): create one (its secret printed once) or remove one.
    Keys {
        #[command(subcommand)]
        action: KeysAction,
        /// The keys file (default `<state-dir>/keys`).
        #[arg(long, value_name = "FILE", global = true)]
        keys: Option<PathBuf>,
    },
    /// Disables or enables the transition into a stage.
    Transition {
        /// disable or enable.
        #[arg(value_enum)]
        switch: Switch,
        /// The pipeline.
        pipeline: String,
        /// The stage.
        stage: String,
        /// Why (shown while disabled).
        #[arg(long, default_value = "Disabled from the sluice command")]
        reason: String,
    },
    /// The audit log of the state folder's store, newest first: every state-changing call (refused ones
    /// too), who made it (principal and key), what it named, when, from where, and how it ended. Entries are
    /// kept SLUICE_AUDIT_RETENTION_DAYS days (default 90).
    Audit {
        /// Only the calls that named this pipeline.
        #[arg(long)]
        pipeline: Option<String>,
        /// Only calls this recent: a whole number and s, m, h or d (e.g. 30m, 2h, 7d).
        #[arg(long, value_name = "DURATION")]
        since: Option<String>,
        /// How many entries (1 to 1000).
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// Go on from where a page ended (the token it printed).
        #[arg(long, value_name = "TOKEN")]
        next_token: Option<String>,
    },
}

#[derive(Subcommand)]
pub(crate) enum PrincipalsAction {
    /// Every principal with its roles and key ids.
    List,
    /// Adds a principal, or replaces its roles.
    Add {
        /// Its name (letters, digits, . _ @ -): who its changes are recorded as.
        name: String,
        /// A role on the pipelines a pattern matches, e.g. '*=viewer' or 'release-*=operator'; repeatable.
        #[arg(long = "role", value_name = "PATTERN=ROLE")]
        roles: Vec<String>,
        /// A group it belongs to (approval rules may name groups); repeatable; replaces its groups.
        #[arg(long = "group", value_name = "GROUP")]
        groups: Vec<String>,
    },
    /// Removes a principal and its key pairs.
    Remove {
        /// Its name.
        name: String,
    },
}

#[derive(Subcommand)]
pub(crate) enum KeysAction {
    /// A new key pair for a principal; prints the access key id and the secret (shown only now).
    Create {
        /// The principal.
        name: String,
    },
    /// Removes a key pair.
    Remove {
        /// The access key id.
        key_id: String,
    },
}

#[derive(clap::Args)]
pub(crate) struct Decision {
    /// The pipeline.
    pub(crate) pipeline: String,
    /// The stage.
    pub(crate) stage: String,
    /// The approval action.
    pub(crate) action: String,
    /// A note for the record.
    #[arg(long)]
    pub(crate) summary: Option<String>,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Output {
    Text,
    Json,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Switch {
    Disable,
    Enable,
}

/// `sluice agent`'s options.
#[derive(clap::Args)]
pub struct AgentArgs {
    /// The custom action type's provider.
    #[arg(long)]
    pub(crate) provider: String,
    /// Its category.
    #[arg(long, default_value = "Build")]
    pub(crate) category: String,
    /// Its version.
    #[arg(long, default_value = "1")]
    pub(crate) version: String,
    /// Take only jobs whose queryable configuration property has this value.
    #[arg(long = "query", value_name = "KEY=VALUE")]
    pub(crate) query: Vec<String>,
    /// Stop after this many jobs.
    #[arg(long)]
    pub(crate) max_jobs: Option<usize>,
    /// Stop after this many seconds without a job.
    #[arg(long)]
    pub(crate) idle_exit: Option<u64>,
    /// Seconds between polls when there is no job.
    #[arg(long, default_value_t = 1.0)]
    pub(crate) poll_interval: f64,
    /// Where job workspaces and logs go (default: a folder under the system's temporary folder).
    #[arg(long)]
    pub(crate) work_dir: Option<PathBuf>,
}
