//! Sluice's core: pipeline definitions and their validation, the compiler to Amazon States Language, and the
//! contract between the compiled state machine and the handlers it calls.
//!
//! Nothing here does IO: no AWS SDK, no SQLite, no HTTP. Adapters and binaries depend on this crate, never the
//! other way round.

pub mod compile;
pub mod contract;
pub mod definition;
pub mod problem;
pub mod providers;
pub mod runtime;
pub mod sigv4;
pub mod validate;

pub use definition::{DefinitionError, Document, Pipeline, Syntax};
pub use problem::{JsonPath, Problem, Problems};
pub use validate::Limits;

/// Reads a definition and checks every rule: the shape first, then the semantics.
///
/// On success the pipeline is valid and can be compiled.
pub fn load(text: &str, syntax: Syntax, limits: &Limits) -> Result<Document, DefinitionError> {
    let doc = Document::parse(text, syntax)?;
    let problems = validate::validate(&doc.pipeline, limits);
    if problems.is_empty() {
        Ok(doc)
    } else {
        Err(DefinitionError::Invalid(problems))
    }
}
