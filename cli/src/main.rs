//! The `sluice` command: validate and compile definitions, run pipelines on the embedded default, and act on
//! executions (approve, stop, retry, transitions).

mod agent;
mod approvals;
mod client;
mod control;
mod host;
mod progress;
mod serve;

mod webhooks;

use std::collections::{BTreeMap, HashMap};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use serde_json::json;
use sluice_definition::{compile, DefinitionError, Document, Limits, Pipeline, Syntax};
use sluice_runtime::records::ExecutionStatus;
use sluice_runtime::{RuntimeError, StartRequest};

use client::{Client, Remote};
use host::Host;
use progress::Approvals;

/// Sluice: continuous delivery pipelines, CodePipeline-compatible, on your machine or in your AWS account.
#[derive(Parser)]
#[command(name = "sluice", version, about)]
struct Cli {
    /// The state folder of the embedded default.
    #[arg(
        long,
        global = true,
        env = "SLUICE_STATE_DIR",
        default_value = ".sluice"
    )]
    state_dir: PathBuf,
    /// Output format.
    #[arg(long, global = true, value_enum, default_value_t = Output::Text)]
    output: Output,
    /// Act through a Sluice API (`sluice serve`, or a deployed stack) instead of the local state folder:
    /// status, history, list, create, update, delete, start, approve, reject, stop, retry, transition, agent.
    #[arg(long, global = true, env = "SLUICE_ENDPOINT", value_name = "URL")]
    endpoint: Option<String>,
    /// The AWS profile whose credentials sign requests to --endpoint (else the standard AWS variables).
    #[arg(long, global = true)]
    profile: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Checks pipeline definitions (JSON or YAML) and reports every problem with its path.
    Validate {
        /// Definition files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Prints the Amazon States Language state machine a definition compiles to.
    Asl {
        /// The definition file.
        file: PathBuf,
        /// Fills a `${KEY}` placeholder, e.g. DispatchFunctionArn=arn:aws:lambda:...
        #[arg(long = "substitute", value_name = "KEY=VALUE")]
        substitutions: Vec<String>,
    },
    /// Runs a pipeline on this machine: stores the definition (a new version when it changed), starts an
    /// execution and follows it. Exit code 0 when it succeeds.
    Run {
        /// The definition file.
        file: PathBuf,
        /// A pipeline variable's value.
        #[arg(long = "var", value_name = "NAME=VALUE")]
        vars: Vec<String>,
        /// Start it and return; it runs on in the background.
        #[arg(long)]
        no_wait: bool,
        /// Approve manual approvals at once (recorded as approved by sluice).
        #[arg(long)]
        auto_approve: bool,
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
        /// The definition file (JSON or YAML, any of the forms `validate` reads).
        file: PathBuf,
        /// A tag.
        #[arg(long = "tag", value_name = "KEY=VALUE")]
        tags: Vec<String>,
    },
    /// Stores a changed definition as the pipeline's next version (UpdatePipeline).
    Update {
        /// The definition file.
        file: PathBuf,
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
    Agent(agent::AgentArgs),
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
}

#[derive(clap::Args)]
struct Decision {
    /// The pipeline.
    pipeline: String,
    /// The stage.
    stage: String,
    /// The approval action.
    action: String,
    /// A note for the record.
    #[arg(long)]
    summary: Option<String>,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Output {
    Text,
    Json,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Switch {
    Disable,
    Enable,
}

/// A failure of the command itself (not of a definition or a pipeline): one line, exit code 2.
struct UsageError(String);

impl From<anyhow::Error> for UsageError {
    fn from(e: anyhow::Error) -> Self {
        Self(format!("{e:#}"))
    }
}

impl From<RuntimeError> for UsageError {
    fn from(e: RuntimeError) -> Self {
        Self(e.to_string())
    }
}

impl From<std::io::Error> for UsageError {
    fn from(e: std::io::Error) -> Self {
        Self(e.to_string())
    }
}

type CmdResult = Result<ExitCode, UsageError>;

fn main() -> ExitCode {
    let cli = Cli::parse();
    if !matches!(cli.command, Command::Validate { .. } | Command::Asl { .. }) {
        init_tracing();
    }
    let result = match cli.command {
        Command::Validate { ref files } => validate(files, cli.output),
        Command::Asl {
            ref file,
            ref substitutions,
        } => asl(file, substitutions),
        _ => match tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
        {
            Ok(rt) => rt.block_on(act(cli)),
            Err(e) => Err(UsageError(format!("cannot start: {e}"))),
        },
    };
    match result {
        Ok(code) => code,
        Err(UsageError(message)) => {
            eprintln!("sluice: {message}");
            ExitCode::from(2)
        }
    }
}

/// Logs go to stderr, quiet unless SLUICE_LOG (an env-filter) asks.
fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("SLUICE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

fn read(path: &Path) -> Result<String, UsageError> {
    std::fs::read_to_string(path)
        .map_err(|e| UsageError(format!("cannot read {}: {}", path.display(), io_reason(&e))))
}

fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".to_owned(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_owned(),
        std::io::ErrorKind::InvalidData => "not UTF-8 text".to_owned(),
        _ => e.to_string(),
    }
}

/// Reads and checks one definition file.
fn load(path: &Path) -> Result<Result<Document, DefinitionError>, UsageError> {
    let text = read(path)?;
    let syntax = Syntax::from_file_name(&path.to_string_lossy());
    Ok(sluice_definition::load(&text, syntax, &Limits::default()))
}

/// Problem lines for a definition that did not load: `FILE: PATH: MESSAGE`, or `FILE:LINE:COLUMN: MESSAGE`.
fn problem_lines(path: &Path, err: &DefinitionError) -> Vec<String> {
    let file = path.display();
    match err {
        DefinitionError::Syntax {
            line,
            column,
            message,
        } => vec![format!("{file}:{line}:{column}: {message}")],
        DefinitionError::Invalid(problems) => {
            problems.iter().map(|p| format!("{file}: {p}")).collect()
        }
    }
}

fn validate(files: &[PathBuf], output: Output) -> CmdResult {
    let mut failed = false;
    let mut reports = Vec::new();
    for path in files {
        match load(path)? {
            Ok(doc) => {
                let p = &doc.pipeline;
                let actions: usize = p.stages.iter().map(|s| s.actions.len()).sum();
                if output == Output::Text {
                    println!(
                        "{}: ok: pipeline {} ({:?}, {}), {} stages, {} actions",
                        path.display(),
                        p.name,
                        p.kind(),
                        p.mode(),
                        p.stages.len(),
                        actions
                    );
                }
                reports.push(json!({"file": path, "valid": true, "pipeline": p.name, "stages": p.stages.len(), "actions": actions}));
            }
            Err(err) => {
                failed = true;
                if output == Output::Text {
                    for line in problem_lines(path, &err) {
                        println!("{line}");
                    }
                }
                let problems: Vec<_> = match &err {
                    DefinitionError::Syntax {
                        line,
                        column,
                        message,
                    } => vec![json!({"line": line, "column": column, "message": message})],
                    DefinitionError::Invalid(problems) => problems
                        .iter()
                        .map(|p| json!({"path": p.path.as_str(), "message": p.message}))
                        .collect(),
                };
                reports.push(json!({"file": path, "valid": false, "problems": problems}));
            }
        }
    }
    if output == Output::Json {
        print_json(&json!(reports));
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn print_json(value: &serde_json::Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_default()
    );
}

fn asl(path: &Path, substitutions: &[String]) -> CmdResult {
    let mut values = HashMap::new();
    for s in substitutions {
        let (k, v) = s
            .split_once('=')
            .ok_or_else(|| UsageError(format!("--substitute takes KEY=VALUE, not {s:?}")))?;
        values.insert(k.to_owned(), v.to_owned());
    }
    let doc = match load(path)? {
        Ok(doc) => doc,
        Err(err) => {
            for line in problem_lines(path, &err) {
                eprintln!("{line}");
            }
            return Ok(ExitCode::FAILURE);
        }
    };
    let machine = compile::compile(&doc.pipeline);
    let machine = compile::substitute(&machine, &values).map_err(|e| UsageError(e.to_string()))?;
    let text = serde_json::to_string_pretty(&machine)
        .map_err(|e| UsageError(format!("cannot print the state machine: {e}")))?;
    println!("{text}");
    Ok(ExitCode::SUCCESS)
}

/// Routes a command: API verbs go through a [`Client`] (the state folder's runtime in-process, or
/// `--endpoint`); the rest work on the state folder itself.
async fn act(cli: Cli) -> CmdResult {
    let through_api = matches!(
        cli.command,
        Command::Status { .. }
            | Command::History { .. }
            | Command::List
            | Command::Create { .. }
            | Command::Update { .. }
            | Command::Delete { .. }
            | Command::Start { .. }
            | Command::Approve(_)
            | Command::Reject(_)
            | Command::Stop { .. }
            | Command::Retry { .. }
            | Command::Transition { .. }
            | Command::Agent(_)
    );
    if !through_api {
        if cli.endpoint.is_some() {
            return Err(UsageError(
                "this command works on a local state folder only; drop --endpoint (or SLUICE_ENDPOINT)"
                    .into(),
            ));
        }
        return local(cli).await;
    }
    let host = match cli.endpoint {
        Some(_) => None,
        None => Some(Host::open(&cli.state_dir)?),
    };
    let client = match (&cli.endpoint, &host) {
        (Some(e), _) => Client::Remote(Box::new(Remote::new(e, cli.profile.as_deref())?)),
        (None, Some(h)) => Client::Local(std::sync::Arc::clone(&h.runtime)),
        (None, None) => unreachable!("a host is opened when there is no endpoint"),
    };
    let output = cli.output;
    match cli.command {
        Command::Status { pipeline } => control::status(&client, pipeline.as_deref(), output).await,
        Command::History { pipeline, limit } => {
            control::history(&client, &pipeline, limit, output).await
        }
        Command::List => control::list(&client, output).await,
        Command::Create { file, tags } => match definition_json(&file)? {
            Some(d) => control::put(&client, d, &tags, true, output).await,
            None => Ok(ExitCode::FAILURE),
        },
        Command::Update { file } => match definition_json(&file)? {
            Some(d) => control::put(&client, d, &[], false, output).await,
            None => Ok(ExitCode::FAILURE),
        },
        Command::Delete { pipeline } => control::delete(&client, &pipeline, output).await,
        Command::Start {
            pipeline,
            vars,
            client_token,
            wait,
        } => {
            let id = control::start(&client, &pipeline, &vars, client_token.as_deref()).await?;
            if host.is_some() {
                spawn_driver(&cli.state_dir)?;
            }
            if wait {
                return control::wait(&client, &pipeline, &id, output).await;
            }
            if output == Output::Json {
                print_json(&json!({"pipelineExecutionId": id}));
            } else {
                println!("{id}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Approve(d) => {
            control::decide(
                &client,
                &d.pipeline,
                &d.stage,
                &d.action,
                d.summary,
                true,
                output,
            )
            .await
        }
        Command::Reject(d) => {
            control::decide(
                &client,
                &d.pipeline,
                &d.stage,
                &d.action,
                d.summary,
                false,
                output,
            )
            .await
        }
        Command::Stop {
            execution,
            pipeline,
            abandon,
            reason,
        } => {
            let pipeline = control::pipeline_of(&client, pipeline, &execution).await?;
            control::stop(&client, &pipeline, &execution, abandon, &reason, output).await
        }
        Command::Retry {
            execution,
            pipeline,
            stage,
            all_actions,
            no_wait,
        } => {
            let pipeline = control::pipeline_of(&client, pipeline, &execution).await?;
            let id = control::retry(&client, &pipeline, &execution, &stage, all_actions).await?;
            match &host {
                Some(_) if no_wait => {
                    spawn_driver(&cli.state_dir)?;
                    println!("{id}");
                    Ok(ExitCode::SUCCESS)
                }
                Some(host) => {
                    let rec = host.runtime.execution(&id).await?;
                    let definition = host
                        .runtime
                        .pipeline(&rec.pipeline, Some(rec.version))
                        .await?
                        .definition;
                    follow_to_end(host, &definition, &id, default_approvals(), output).await
                }
                None if no_wait => {
                    println!("{id}");
                    Ok(ExitCode::SUCCESS)
                }
                None => control::wait(&client, &pipeline, &id, output).await,
            }
        }
        Command::Transition {
            switch,
            pipeline,
            stage,
            reason,
        } => {
            control::transition(
                &client,
                &pipeline,
                &stage,
                switch == Switch::Enable,
                &reason,
                output,
            )
            .await
        }
        Command::Agent(args) => agent::run(&client, host.as_ref(), args).await,
        _ => unreachable!("only API verbs reach here"),
    }
}

/// A definition file as the JSON `pipeline` member of CreatePipeline / UpdatePipeline; None (after printing
/// its problems) when it is not valid.
fn definition_json(path: &Path) -> Result<Option<serde_json::Value>, UsageError> {
    match load(path)? {
        Ok(doc) => Ok(Some(serde_json::to_value(&doc.pipeline).map_err(|e| {
            UsageError(format!("cannot write {} as JSON: {e}", path.display()))
        })?)),
        Err(err) => {
            for line in problem_lines(path, &err) {
                eprintln!("{line}");
            }
            Ok(None)
        }
    }
}

/// The commands that work on the state folder.
async fn local(cli: Cli) -> CmdResult {
    let output = cli.output;
    let host = Host::open(&cli.state_dir)?;
    match cli.command {
        Command::Run {
            file,
            vars,
            no_wait,
            auto_approve,
        } => {
            let approvals = if auto_approve {
                Approvals::Auto
            } else if std::io::stdin().is_terminal() {
                Approvals::Ask
            } else {
                Approvals::Show
            };
            run(
                &host,
                &cli.state_dir,
                &file,
                &vars,
                no_wait,
                approvals,
                output,
            )
            .await
        }
        Command::Resume { auto_approve } => {
            let approvals = if auto_approve {
                Approvals::Auto
            } else {
                default_approvals()
            };
            resume(&host, approvals, output).await
        }
        Command::Show { execution } => show(&host, &execution, output).await,
        Command::Drive => drive(&host).await,
        Command::Serve {
            bind,
            keys,
            allow_remote,
            public_url,
        } => {
            serve::serve(
                &host,
                serve::ServeOptions {
                    bind,
                    keys,
                    allow_remote,
                    public_url,
                },
            )
            .await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Logs { execution, action } => logs(&host, &execution, action.as_deref()).await,
        Command::Events { execution } => events(&host, execution.as_deref()),
        _ => Ok(ExitCode::SUCCESS),
    }
}

/// Every action's provider must run locally; say which do not before anything runs.
fn local_support(path: &Path, pipeline: &Pipeline) -> Vec<String> {
    pipeline
        .actions()
        .filter(|(_, _, _, a)| {
            !(a.action_type_id.category == "Approval" && a.action_type_id.provider == "Manual")
        })
        .filter_map(|(si, ai, _, a)| {
            sluice_agent::supports(&a.action_type_id).err().map(|why| {
                format!(
                    "{}: stages[{si}].actions[{ai}].actionTypeId: {why}",
                    path.display()
                )
            })
        })
        .collect()
}

async fn run(
    host: &Host,
    state_dir: &Path,
    file: &Path,
    vars: &[String],
    no_wait: bool,
    approvals: Approvals,
    output: Output,
) -> CmdResult {
    let doc = match load(file)? {
        Ok(doc) => doc,
        Err(err) => {
            for line in problem_lines(file, &err) {
                eprintln!("{line}");
            }
            return Ok(ExitCode::FAILURE);
        }
    };
    let unsupported = local_support(file, &doc.pipeline);
    if !unsupported.is_empty() {
        for line in unsupported {
            eprintln!("{line}");
        }
        return Ok(ExitCode::FAILURE);
    }
    let mut variables = BTreeMap::new();
    for v in vars {
        let (k, val) = v
            .split_once('=')
            .ok_or_else(|| UsageError(format!("--var takes NAME=VALUE, not {v:?}")))?;
        variables.insert(k.to_owned(), val.to_owned());
    }
    let base_dir = file
        .canonicalize()
        .ok()
        .and_then(|p| p.parent().map(|d| d.to_string_lossy().into_owned()));
    let record = host.runtime.put_pipeline(doc.pipeline, base_dir).await?;
    let name = record.definition.name.clone();
    let execution = host
        .runtime
        .start_execution(
            &name,
            StartRequest {
                variables,
                ..Default::default()
            },
        )
        .await?;
    if no_wait {
        spawn_driver(state_dir)?;
        if output == Output::Json {
            print_json(&json!({"pipelineExecutionId": execution.execution_id}));
        } else {
            println!("{}", execution.execution_id);
        }
        return Ok(ExitCode::SUCCESS);
    }
    if output == Output::Text {
        println!(
            "pipeline {name} version {} execution {}",
            record.definition.version.unwrap_or(1),
            execution.execution_id
        );
    }
    follow_to_end(
        host,
        &record.definition,
        &execution.execution_id,
        approvals,
        output,
    )
    .await
}

/// Drives the engine while following one execution; Ctrl-C leaves it recorded and resumable.
async fn follow_to_end(
    host: &Host,
    pipeline: &Pipeline,
    execution_id: &str,
    approvals: Approvals,
    output: Output,
) -> CmdResult {
    let (stop, engine) = host.drive().await?;
    let result = tokio::select! {
        r = progress::follow(host, pipeline, execution_id, approvals) => Some(r),
        _ = tokio::signal::ctrl_c() => None,
    };
    stop.notify_one();
    let _ = tokio::time::timeout(Duration::from_secs(5), engine).await;
    let Some(result) = result else {
        eprintln!("interrupted: execution {execution_id} is recorded and will continue with `sluice resume`");
        return Ok(ExitCode::from(130));
    };
    let record = result?;
    if output == Output::Json {
        print_json(&json!(record));
    } else {
        let mut line = format!("execution {} {:?}", record.execution_id, record.status);
        if let Some(s) = &record.status_summary {
            line.push_str(&format!(": {s}"));
        }
        println!("{line}");
    }
    Ok(if record.status == ExecutionStatus::Succeeded {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn default_approvals() -> Approvals {
    if std::io::stdin().is_terminal() {
        Approvals::Ask
    } else {
        Approvals::Show
    }
}

/// Starts `sluice drive` detached, so executions go on after this command returns.
fn spawn_driver(state_dir: &Path) -> Result<(), UsageError> {
    let exe = std::env::current_exe()?;
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(state_dir.join("driver.log"))?;
    let mut cmd = std::process::Command::new(exe);
    cmd.arg("--state-dir")
        .arg(state_dir)
        .arg("drive")
        .stdin(std::process::Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        cmd.process_group(0);
    }
    cmd.spawn()?;
    Ok(())
}

/// Runs open executions until none is left.
async fn drive(host: &Host) -> CmdResult {
    let (stop, engine) = host.drive().await?;
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        if host.runtime.open_executions().await?.is_empty() {
            break;
        }
    }
    stop.notify_one();
    let _ = engine.await;
    Ok(ExitCode::SUCCESS)
}

async fn resume(host: &Host, approvals: Approvals, output: Output) -> CmdResult {
    let open = host.runtime.open_executions().await?;
    if open.is_empty() {
        println!("nothing to resume");
        return Ok(ExitCode::SUCCESS);
    }
    let mut code = ExitCode::SUCCESS;
    for id in open {
        let rec = host.runtime.execution(&id).await?;
        let pipeline = host
            .runtime
            .pipeline(&rec.pipeline, Some(rec.version))
            .await?
            .definition;
        if output == Output::Text {
            println!("resuming {} execution {id}", rec.pipeline);
        }
        let c = follow_to_end(host, &pipeline, &id, approvals, output).await?;
        if c != ExitCode::SUCCESS {
            code = c;
        }
    }
    Ok(code)
}

async fn show(host: &Host, execution: &str, output: Output) -> CmdResult {
    let record = host.runtime.execution(execution).await?;
    let stages = host.runtime.stages(execution).await?;
    let actions = host.runtime.actions(execution).await?;
    if output == Output::Json {
        print_json(&json!({"execution": record, "stages": stages, "actions": actions}));
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "execution {} of {} version {}: {:?}{}",
        record.execution_id,
        record.pipeline,
        record.version,
        record.status,
        record
            .status_summary
            .as_deref()
            .map(|s| format!(" ({s})"))
            .unwrap_or_default()
    );
    for r in &record.source_revisions {
        println!("  source {}: {}", r.action_name, r.revision.revision_id);
    }
    for v in &record.variables {
        println!("  variable {} = {}", v.name, v.resolved_value);
    }
    for s in &stages {
        println!("  stage {} attempt {}: {:?}", s.stage, s.attempt, s.status);
        for a in actions
            .iter()
            .filter(|a| a.stage == s.stage && a.attempt == s.attempt)
        {
            let mut line = format!(
                "    {} {:?} ({:.1}s)",
                a.action,
                a.status,
                (a.updated_ms - a.started_ms) as f64 / 1000.0
            );
            if a.run > 1 {
                line.push_str(&format!(", run {}", a.run));
            }
            if let Some(e) = &a.error {
                line.push_str(&format!(": {e}"));
            }
            println!("{line}");
            for o in &a.output_artifacts {
                println!(
                    "      artifact {} s3://{}/{} ({} bytes)",
                    o.name, o.object.bucket, o.object.key, o.object.size
                );
            }
            for (k, v) in &a.output_variables {
                println!("      variable {k} = {v}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn logs(host: &Host, execution: &str, action: Option<&str>) -> CmdResult {
    let actions = host.runtime.actions(execution).await?;
    if actions.is_empty() {
        host.runtime.execution(execution).await?;
    }
    let wanted: Vec<_> = match action {
        Some(a) => {
            let (stage, name) = a
                .split_once('.')
                .ok_or_else(|| UsageError(format!("name an action as STAGE.ACTION, not {a:?}")))?;
            let found: Vec<_> = actions
                .iter()
                .filter(|r| r.stage == stage && r.action == name)
                .collect();
            if found.is_empty() {
                return Err(UsageError(format!(
                    "execution {execution} has no action {a}"
                )));
            }
            found
        }
        None => actions.iter().collect(),
    };
    for a in wanted {
        let path = host.log_path(execution, &a.stage, &a.action, a.attempt);
        println!("==> {}.{} (attempt {}) <==", a.stage, a.action, a.attempt);
        match std::fs::read_to_string(&path) {
            Ok(text) => print!("{text}"),
            Err(_) => println!("(no log)"),
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn events(host: &Host, execution: Option<&str>) -> CmdResult {
    let events = sluice_local::read_events(host.events_path())?;
    for e in events {
        if let Some(id) = execution {
            if e["detail"]["execution-id"] != id {
                continue;
            }
        }
        println!("{e}");
    }
    Ok(ExitCode::SUCCESS)
}
