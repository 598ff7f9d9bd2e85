//! Problems found in a definition, each tied to the JSON path of the value at fault.

use std::fmt;

/// A path into a pipeline definition, printed the way users read JSON: `stages[2].actions[0].name`.
///
/// Paths are relative to the pipeline object, so they read the same whichever form the definition came in
/// (bare pipeline, `get-pipeline` output, `--cli-input-json`).
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct JsonPath(String);

impl JsonPath {
    /// The path of the pipeline object itself.
    pub fn root() -> Self {
        Self::default()
    }

    /// The path of a field of the object at this path.
    pub fn field(&self, name: &str) -> Self {
        if self.0.is_empty() {
            Self(name.to_owned())
        } else {
            Self(format!("{}.{name}", self.0))
        }
    }

    /// The path of an element of the list at this path.
    pub fn index(&self, i: usize) -> Self {
        Self(format!("{}[{i}]", self.0))
    }

    /// True for the pipeline object itself.
    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    /// The path as text; the root prints as `pipeline`.
    pub fn as_str(&self) -> &str {
        if self.0.is_empty() {
            "pipeline"
        } else {
            &self.0
        }
    }
}

impl fmt::Display for JsonPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One thing wrong with a definition: where, and a sentence a user understands.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Problem {
    /// Where the offending value is.
    pub path: JsonPath,
    /// What is wrong with it.
    pub message: String,
}

impl Problem {
    /// A problem at `path`.
    pub fn new(path: JsonPath, message: impl Into<String>) -> Self {
        Self {
            path,
            message: message.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Every problem of a definition, in the order they were found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Problems(pub Vec<Problem>);

impl Problems {
    /// Records a problem at `path`.
    pub fn push(&mut self, path: JsonPath, message: impl Into<String>) {
        self.0.push(Problem::new(path, message));
    }

    /// True when nothing was found.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// How many problems were found.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The problems, in the order found.
    pub fn iter(&self) -> std::slice::Iter<'_, Problem> {
        self.0.iter()
    }
}

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Problems {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_print_like_json_accessors() {
        let p = JsonPath::root()
            .field("stages")
            .index(2)
            .field("actions")
            .index(0);
        assert_eq!(p.to_string(), "stages[2].actions[0]");
        assert_eq!(JsonPath::root().to_string(), "pipeline");
    }
}
