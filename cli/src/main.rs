//! The `sluice` command.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use serde_json::json;
use sluice_core::{compile, DefinitionError, Document, Limits, Syntax};

/// Sluice: continuous delivery pipelines, CodePipeline-compatible, on your machine or in your AWS account.
#[derive(Parser)]
#[command(name = "sluice", version, about)]
struct Cli {
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
        /// Output format.
        #[arg(long, value_enum, default_value_t = Output::Text)]
        output: Output,
    },
    /// Prints the Amazon States Language state machine a definition compiles to.
    Asl {
        /// The definition file.
        file: PathBuf,
        /// Fills a `${KEY}` placeholder, e.g. DispatchFunctionArn=arn:aws:lambda:...
        #[arg(long = "substitute", value_name = "KEY=VALUE")]
        substitutions: Vec<String>,
    },
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Output {
    Text,
    Json,
}

/// A failure of the command itself (not of a definition): one line, exit code 2.
struct UsageError(String);

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Validate { files, output } => validate(&files, output),
        Command::Asl {
            file,
            substitutions,
        } => asl(&file, &substitutions),
    };
    match result {
        Ok(code) => code,
        Err(UsageError(message)) => {
            eprintln!("sluice: {message}");
            ExitCode::from(2)
        }
    }
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
    Ok(sluice_core::load(&text, syntax, &Limits::default()))
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

fn validate(files: &[PathBuf], output: Output) -> Result<ExitCode, UsageError> {
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
        let text = serde_json::to_string_pretty(&reports).unwrap_or_default();
        println!("{text}");
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn asl(path: &Path, substitutions: &[String]) -> Result<ExitCode, UsageError> {
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
