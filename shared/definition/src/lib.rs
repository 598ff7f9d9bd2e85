//! Pipeline definitions, pure: reading them in every form CodePipeline users have them ([`document`]), the
//! service model's shapes ([`schema`]) and types ([`model`]), the semantic rules ([`validate`]), the built-in
//! providers' facts ([`providers`]), the compiler to Amazon States Language ([`compile`]) and the contract
//! between the compiled state machine and the handlers it calls ([`contract`]).
//!
//! No async, no IO, no AWS SDK: every binary uses this crate, `sluice validate` and `sluice asl` need nothing
//! else.

pub mod compile;
pub mod contract;
pub mod document;
pub mod model;
pub mod placeholder;
pub mod problem;
pub mod providers;
pub mod schema;
pub mod template;
pub mod validate;
pub mod yaml;

pub use document::{parse_value, DefinitionError, Document, Form, Syntax, Tag};
pub use model::*;
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
