//! Definition files: reading and checking them (`sluice validate`), compiling them (`sluice asl`), and
//! their JSON for CreatePipeline and UpdatePipeline.

use crate::args::*;
use crate::usage::*;
use serde_json::json;
use sluice_definition::{compile, DefinitionError, Document, Limits, Syntax};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Reads and checks one definition file.
pub(crate) fn load(path: &Path) -> Result<Result<Document, DefinitionError>, UsageError> {
    let text = read(path)?;
    let syntax = Syntax::from_file_name(&path.to_string_lossy());
    Ok(sluice_definition::load(&text, syntax, &Limits::default()))
}

/// Problem lines for a definition that did not load: `FILE: PATH: MESSAGE`, or `FILE:LINE:COLUMN: MESSAGE`.
pub(crate) fn problem_lines(path: &Path, err: &DefinitionError) -> Vec<String> {
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

pub(crate) fn validate(files: &[PathBuf], output: Output) -> CmdResult {
    let mut failed = false;
    let mut reports = Vec::new();
    for path in files {
        match load(path)? {
            Ok(doc) => {
                let p = &doc.pipeline;
                let actions: usize = p.stages.iter().map(|s| s.actions.len()).sum();
                if output == Output::Text {
                    outln!(
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
                        outln!("{line}");
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

pub(crate) fn asl(path: &Path, substitutions: &[String]) -> CmdResult {
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
    outln!("{text}");
    Ok(ExitCode::SUCCESS)
}

/// A definition file as the JSON `pipeline` member of CreatePipeline / UpdatePipeline; None (after printing
/// its problems) when it is not valid.
pub(crate) fn definition_json(path: &Path) -> Result<Option<serde_json::Value>, UsageError> {
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
