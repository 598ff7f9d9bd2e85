//! The `sluice` command: validate and compile definitions, run pipelines on the embedded default, and act on
//! executions (approve, stop, retry, transitions).

/// `println!` that ends the process quietly when stdout is a closed pipe (`sluice events | head`), instead of
/// panicking.
macro_rules! outln {
    () => {
        $crate::usage::write_out(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::usage::write_out(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// `print!` likewise.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::usage::write_out(format_args!($($arg)*))
    };
}

mod agent;
mod approvals;
mod args;
mod artifacts;
mod audit;
mod bindings;
mod changed_files;
mod client;
mod console;
mod control;
mod definitions;
mod http;
mod inspect;
mod people;
mod people_remote;
mod polls;
mod progress;
mod router;
mod runs;
mod serve;
mod service;
mod usage;
mod webhooks;

use crate::args::*;
use crate::definitions::*;
use crate::inspect::*;
use crate::runs::*;
use crate::usage::*;
use clap::Parser;
use client::{Client, Remote};
use progress::Approvals;
use serde_json::json;
use sluice_host::Host;
use std::io::IsTerminal;
use std::process::ExitCode;

pub(crate) fn main() -> ExitCode {
    let cli = Cli::parse();
    if !matches!(
        cli.command,
        Command::Validate { .. } | Command::Asl { .. } | Command::PortTemplate { .. }
    ) {
        init_tracing();
    }
    let result = match cli.command {
        Command::Validate {
            ref files,
            ref template,
        } => validate(files, template, cli.output),
        Command::Asl {
            ref file,
            ref template,
            ref substitutions,
        } => asl(file, template, substitutions),
        Command::PortTemplate {
            ref file,
            ref service_token_export,
            ref service_token,
        } => port_template(file, service_token_export, service_token.as_deref()),
        Command::Principals { .. } | Command::Keys { .. } => people_command(&cli),
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

/// `sluice principals` and `sluice keys`: Sluice's access operations, over the files of the state folder, or
/// with --endpoint over a server's API (`people_remote.rs`).
fn people_command(cli: &Cli) -> CmdResult {
    let (keys, at_endpoint) = match &cli.command {
        Command::Principals { keys, .. } | Command::Keys { keys, .. } => (keys, &cli.endpoint),
        _ => unreachable!("only principals and keys reach here"),
    };
    let at = match at_endpoint {
        Some(endpoint) => {
            if keys.is_some() {
                return Err(UsageError(
                    "--keys names the local files; with --endpoint the server keeps its own people and keys: give one or the other"
                        .into(),
                ));
            }
            let remote = Remote::new(endpoint, cli.profile.as_deref())
                .map_err(|e| UsageError(format!("{e:#}")))?;
            people_remote::PeopleAt::Remote(Box::new(remote), endpoint.clone())
        }
        None => {
            people_remote::PeopleAt::Local(people::AccessFiles::new(&cli.state_dir, keys.clone()))
        }
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| UsageError(format!("cannot start: {e}")))?;
    let result = rt.block_on(async {
        match &cli.command {
            Command::Principals { action, .. } => match action {
                PrincipalsAction::List => people_remote::list(&at).await,
                PrincipalsAction::Add {
                    name,
                    roles,
                    groups,
                } => people_remote::add(&at, name, roles, groups).await,
                PrincipalsAction::Remove { name } => people_remote::remove(&at, name).await,
            },
            Command::Keys { action, .. } => match action {
                KeysAction::Create { name } => people_remote::create_key(&at, name).await,
                KeysAction::Remove { key_id } => people_remote::remove_key(&at, key_id).await,
            },
            _ => unreachable!("only principals and keys reach here"),
        }
    });
    result
        .map(|()| ExitCode::SUCCESS)
        .map_err(|e| UsageError(format!("{e:#}")))
}

/// Logs go to stderr, quiet unless SLUICE_LOG (an env-filter) asks.
pub(crate) fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("SLUICE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Routes a command: API verbs go through a [`Client`] (the state folder's runtime in-process, or
/// `--endpoint`); the rest work on the state folder itself.
pub(crate) async fn act(cli: Cli) -> CmdResult {
    if let (Some(endpoint), Some(args)) = (&cli.endpoint, audit::AuditArgs::of(&cli.command)) {
        let remote = Remote::new(endpoint, cli.profile.as_deref())?;
        return audit::show_remote(&remote, args, cli.output).await;
    }
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
            | Command::Rollback { .. }
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
        Command::Create {
            file,
            template,
            tags,
        } => match definition_json(&file, &template)? {
            Some((d, t)) => control::put(&client, d, t.as_ref(), &tags, true, output).await,
            None => Ok(ExitCode::FAILURE),
        },
        Command::Update { file, template } => match definition_json(&file, &template)? {
            Some((d, t)) => control::put(&client, d, t.as_ref(), &[], false, output).await,
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
                outln!("{id}");
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
                    outln!("{id}");
                    Ok(ExitCode::SUCCESS)
                }
                Some(host) => {
                    let rec = host.runtime.execution(&id).await?;
                    let definition = host.runtime.execution_pipeline(&rec).await?.definition;
                    follow_to_end(host, &definition, &id, default_approvals(), output).await
                }
                None if no_wait => {
                    outln!("{id}");
                    Ok(ExitCode::SUCCESS)
                }
                None => control::wait(&client, &pipeline, &id, output).await,
            }
        }
        Command::Rollback {
            pipeline,
            stage,
            target,
            no_wait,
        } => {
            let id = control::rollback(&client, &pipeline, &stage, target).await?;
            match &host {
                Some(_) if no_wait => {
                    spawn_driver(&cli.state_dir)?;
                    outln!("{id}");
                    Ok(ExitCode::SUCCESS)
                }
                Some(host) => {
                    let rec = host.runtime.execution(&id).await?;
                    let definition = host.runtime.execution_pipeline(&rec).await?.definition;
                    follow_to_end(host, &definition, &id, default_approvals(), output).await
                }
                None if no_wait => {
                    outln!("{id}");
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

/// The commands that work on the state folder.
pub(crate) async fn local(cli: Cli) -> CmdResult {
    let output = cli.output;
    let host = Host::open(&cli.state_dir)?;
    match cli.command {
        Command::Run {
            file,
            template,
            vars,
            no_wait,
            auto_approve,
            sources,
            no_bind,
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
                runs::RunRequest {
                    file: &file,
                    template_args: &template,
                    vars: &vars,
                    no_wait,
                    approvals,
                    sources: &sources,
                    bind: !no_bind,
                },
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
        ref command @ Command::Audit { .. } => match audit::AuditArgs::of(command) {
            Some(args) => audit::show(&host, args, output).await,
            None => unreachable!("an audit command has audit arguments"),
        },
        _ => Ok(ExitCode::SUCCESS),
    }
}
