//! Definition files: reading and checking them (`sluice validate`), compiling them (`sluice asl`), and
//! their JSON for CreatePipeline and UpdatePipeline.

use crate::args::*;
use crate::usage::*;
use serde_json::json;
use sluice_definition::template::{self, TemplateOptions, TemplatePipeline};
use sluice_definition::{compile, DefinitionError, Document, Limits, Syntax};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// A definition as read: the pipeline, and what a template declared beside it.
pub(crate) struct Loaded {
    pub(crate) doc: Document,
    pub(crate) template: Option<TemplatePipeline>,
}

/// The template options of the command line: parameters from `--parameters-file`, then `--parameter`;
/// `AWS::StackName` defaults to the file's stem.
fn template_options(
    path: &Path,
    args: &TemplateArgs,
    placeholders: bool,
) -> Result<TemplateOptions, UsageError> {
    let mut values = BTreeMap::new();
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "sluice".into());
    values.insert("AWS::StackName".to_owned(), stem);
    if let Some(file) = &args.parameters_file {
        values.extend(parameters_file(file)?);
    }
    for p in &args.parameters {
        let (k, v) = p
            .split_once('=')
            .ok_or_else(|| UsageError(format!("--parameter takes KEY=VALUE, not {p:?}")))?;
        values.insert(k.to_owned(), v.to_owned());
    }
    Ok(TemplateOptions {
        resource: args.resource.clone(),
        values,
        placeholders,
    })
}

/// A parameters file in one of the forms CloudFormation users have.
fn parameters_file(file: &Path) -> Result<BTreeMap<String, String>, UsageError> {
    let text = read(file)?;
    let bad = |why: &str| UsageError(format!("{}: {why}", file.display()));
    let scalar = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    };
    let mut out = BTreeMap::new();
    match serde_json::from_str::<serde_json::Value>(&text) {
        Ok(serde_json::Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                let k = item.get("ParameterKey").and_then(|k| k.as_str());
                let v = item.get("ParameterValue").and_then(scalar);
                match (k, v) {
                    (Some(k), Some(v)) => {
                        out.insert(k.to_owned(), v);
                    }
                    _ => return Err(bad(&format!("[{i}] needs ParameterKey and ParameterValue"))),
                }
            }
        }
        Ok(serde_json::Value::Object(map)) => {
            // A template configuration ({"Parameters": {...}, "Tags": ...}) or a plain object of values.
            let params = match map.get("Parameters").and_then(|p| p.as_object()) {
                Some(p) => p.clone(),
                None => map,
            };
            for (k, v) in &params {
                let v = scalar(v).ok_or_else(|| bad(&format!("Parameters.{k} is not a string")))?;
                out.insert(k.clone(), v);
            }
        }
        Ok(_) => return Err(bad("expected a JSON list or object of parameters")),
        Err(_) => {
            for (n, line) in text.lines().enumerate() {
                let line = line.trim();
                if line.is_empty() || line.starts_with('#') {
                    continue;
                }
                for pair in line.split_whitespace() {
                    let (k, v) = pair.split_once('=').ok_or_else(|| {
                        bad(&format!("line {}: {pair:?} is not KEY=VALUE", n + 1))
                    })?;
                    out.insert(k.to_owned(), v.to_owned());
                }
            }
        }
    }
    Ok(out)
}

/// Reads and checks one definition file, or the pipeline of a CloudFormation/SAM template (values only a
/// deployment knows become placeholders when `placeholders`, else are refused).
pub(crate) fn load(
    path: &Path,
    args: &TemplateArgs,
    placeholders: bool,
) -> Result<Result<Loaded, DefinitionError>, UsageError> {
    let text = read(path)?;
    let syntax = Syntax::from_file_name(&path.to_string_lossy());
    if let Ok((value, lines)) = template::parse(&text, syntax) {
        if template::is_template(&value) {
            let options = template_options(path, args, placeholders)?;
            return Ok(
                template::read(&value, &lines, &options, &Limits::default()).map(|t| Loaded {
                    doc: t.document.clone(),
                    template: Some(t),
                }),
            );
        }
    }
    if args.resource.is_some() || !args.parameters.is_empty() || args.parameters_file.is_some() {
        return Err(UsageError(format!(
            "{}: --resource, --parameter and --parameters-file are for CloudFormation templates; this is a \
             pipeline definition",
            path.display()
        )));
    }
    Ok(
        sluice_definition::load(&text, syntax, &Limits::default()).map(|doc| Loaded {
            doc,
            template: None,
        }),
    )
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

pub(crate) fn validate(files: &[PathBuf], args: &TemplateArgs, output: Output) -> CmdResult {
    let mut failed = false;
    let mut reports = Vec::new();
    for path in files {
        match load(path, args, true)? {
            Ok(Loaded { doc, template }) => {
                let p = &doc.pipeline;
                let unresolved = template.as_ref().map_or(&[][..], |t| &t.unresolved[..]);
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
                    if let Some(t) = &template {
                        outln!("  from resource {} of the template", t.logical_id);
                    }
                    for u in unresolved {
                        outln!("  not judged (only a deployment knows it): {u}");
                    }
                }
                reports.push(json!({"file": path, "valid": true, "pipeline": p.name, "stages": p.stages.len(), "actions": actions, "resource": template.as_ref().map(|t| &t.logical_id), "unresolved": unresolved}));
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

pub(crate) fn asl(path: &Path, args: &TemplateArgs, substitutions: &[String]) -> CmdResult {
    let mut values = HashMap::new();
    for s in substitutions {
        let (k, v) = s
            .split_once('=')
            .ok_or_else(|| UsageError(format!("--substitute takes KEY=VALUE, not {s:?}")))?;
        values.insert(k.to_owned(), v.to_owned());
    }
    let doc = match load(path, args, true)? {
        Ok(loaded) => loaded.doc,
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

/// A definition file as the JSON `pipeline` member of CreatePipeline / UpdatePipeline, with what a template
/// declared beside it; None (after printing its problems) when it is not valid.
pub(crate) fn definition_json(
    path: &Path,
    args: &TemplateArgs,
) -> Result<Option<(serde_json::Value, Option<TemplatePipeline>)>, UsageError> {
    match load(path, args, false)? {
        Ok(Loaded { mut doc, template }) => {
            anchor_local_paths(&mut doc.pipeline, path);
            let json = serde_json::to_value(&doc.pipeline)
                .map_err(|e| UsageError(format!("cannot write {} as JSON: {e}", path.display())))?;
            Ok(Some((json, template)))
        }
        Err(err) => {
            for line in problem_lines(path, &err) {
                eprintln!("{line}");
            }
            Ok(None)
        }
    }
}

/// Makes the relative `Path` of LocalSource actions absolute, from the definition file's folder: a pipeline sent
/// to a server (or stored for later runs) reads the folder the file names, not one under the server's working
/// directory.
fn anchor_local_paths(pipeline: &mut sluice_definition::Pipeline, file: &Path) {
    let dir = std::path::absolute(file)
        .ok()
        .and_then(|f| f.parent().map(Path::to_path_buf));
    let Some(dir) = dir else { return };
    for stage in &mut pipeline.stages {
        for action in &mut stage.actions {
            if action.action_type_id.provider != "LocalSource" {
                continue;
            }
            let Some(p) = action
                .configuration
                .as_mut()
                .and_then(|c| c.get_mut("Path"))
            else {
                continue;
            };
            if Path::new(p.as_str()).is_relative() && !p.contains("#{") {
                let joined = dir.join(p.as_str());
                let anchored = joined.canonicalize().unwrap_or(joined);
                *p = anchored.to_string_lossy().into_owned();
            }
        }
    }
}

/// `sluice port-template`: the template with its CodePipeline resources as the Sluice stack's custom resources.
pub(crate) fn port_template(path: &Path, export: &str, arn: Option<&str>) -> CmdResult {
    let text = read(path)?;
    let syntax = Syntax::from_file_name(&path.to_string_lossy());
    let token = match arn {
        Some(a) => template::ServiceToken::Arn(a.to_owned()),
        None => template::ServiceToken::Import(export.to_owned()),
    };
    match template::port(&text, syntax, &token) {
        Ok((ported, ids)) => {
            out!("{ported}");
            eprintln!("sluice: ported {}", ids.join(", "));
            Ok(ExitCode::SUCCESS)
        }
        Err(err) => {
            for line in problem_lines(path, &err) {
                eprintln!("{line}");
            }
            Ok(ExitCode::FAILURE)
        }
    }
}
