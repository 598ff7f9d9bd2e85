//! The mark of a value a template leaves unknown until it is deployed (`validate` and `asl` put it in place of
//! such a value; the shape checks do not judge a value that carries it).

/// How a placeholder starts: `<unresolved: what it stands for>`.
pub const UNRESOLVED: &str = "<unresolved: ";
