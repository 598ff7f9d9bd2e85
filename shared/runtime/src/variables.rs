//! Resolving `#{namespace.variable}` references against an execution's values.

use std::collections::BTreeMap;

use sluice_definition::validate::references;

/// The values references resolve to: `namespace -> variable -> value`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope(pub BTreeMap<String, BTreeMap<String, String>>);

impl Scope {
    /// Adds a variable.
    pub fn set(&mut self, namespace: &str, name: &str, value: &str) {
        self.0
            .entry(namespace.to_owned())
            .or_default()
            .insert(name.to_owned(), value.to_owned());
    }

    /// Replaces every reference in `text`; a reference without a value is an error naming it.
    pub fn resolve(&self, text: &str) -> Result<String, String> {
        if !text.contains("#{") {
            return Ok(text.to_owned());
        }
        let mut out = text.to_owned();
        for reference in references(text) {
            let (ns, var) = reference?;
            let value = self
                .0
                .get(ns)
                .and_then(|vars| vars.get(var))
                .ok_or_else(|| {
                    format!("variable #{{{ns}.{var}}} has no value in this execution")
                })?;
            out = out.replace(&format!("#{{{ns}.{var}}}"), value);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_references_and_names_missing_ones() {
        let mut scope = Scope::default();
        scope.set("Src", "CommitId", "abc123");
        scope.set("variables", "env", "prod");
        assert_eq!(
            scope.resolve("deploy #{Src.CommitId} to #{variables.env}"),
            Ok("deploy abc123 to prod".to_owned())
        );
        assert_eq!(scope.resolve("plain"), Ok("plain".to_owned()));
        assert_eq!(
            scope.resolve("#{Build.Version}"),
            Err("variable #{Build.Version} has no value in this execution".to_owned())
        );
    }
}
