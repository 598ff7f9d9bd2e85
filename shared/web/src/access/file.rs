//! The principals file: YAML next to the keys file, one entry per principal with its access key ids and its
//! role per pipeline pattern. The secrets stay in the keys file.
//!
//! ```yaml
//! alice:
//!   keys: [SLKALICE4J2Q7X]
//!   roles:
//!     "*": viewer
//!     release-*: operator
//!   groups: [release-managers]
//! ```

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{check_pattern, Grant, Principal, Role};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    #[serde(default)]
    keys: Vec<String>,
    #[serde(default)]
    roles: BTreeMap<String, String>,
    #[serde(default)]
    groups: Vec<String>,
}

/// Whether a principal's name is usable: 1-64 of `A-Za-z0-9._@-`.
pub fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 64 {
        return Err(format!(
            "principal name `{name}` must be 1 to 64 characters"
        ));
    }
    match name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '@' | '-')))
    {
        Some(c) => Err(format!(
            "principal name `{name}` has `{c}`: use letters, digits and . _ @ -"
        )),
        None => Ok(()),
    }
}

/// Reads a principals file's text; errors name the line (YAML problems) or the principal and pattern.
pub fn parse(text: &str) -> Result<Vec<Principal>, String> {
    if text.trim().is_empty() {
        return Ok(Vec::new());
    }
    let entries: Option<BTreeMap<String, Entry>> =
        serde_yaml::from_str(text).map_err(|e| match e.location() {
            Some(l) => format!("line {} column {}: {e}", l.line(), l.column()),
            None => e.to_string(),
        })?;
    let mut principals = Vec::new();
    for (name, entry) in entries.unwrap_or_default() {
        check_name(&name)?;
        let mut grants = Vec::new();
        for (pattern, role) in entry.roles {
            check_pattern(&pattern).map_err(|e| format!("{name}.roles: {e}"))?;
            let role = Role::parse(&role).map_err(|e| format!("{name}.roles.{pattern}: {e}"))?;
            grants.push(Grant { pattern, role });
        }
        for key in &entry.keys {
            if key.is_empty() || key.chars().any(char::is_whitespace) {
                return Err(format!("{name}.keys: `{key}` is not an access key id"));
            }
        }
        for group in &entry.groups {
            check_name(group).map_err(|e| {
                format!(
                    "{name}.groups: {}",
                    e.replace("principal name", "group name")
                )
            })?;
        }
        principals.push(Principal {
            name,
            keys: entry.keys,
            grants,
            groups: entry.groups,
        });
    }
    Ok(principals)
}

/// Writes principals as a principals file's text (sorted by name; comments are not kept).
pub fn render(principals: &[Principal]) -> String {
    let mut sorted: Vec<&Principal> = principals.iter().collect();
    sorted.sort_by(|a, b| a.name.cmp(&b.name));
    let mut out = String::from(
        "# Sluice principals: each one's access key ids (secrets are in the keys file beside this one) and role\n\
         # (viewer, operator, admin) per pipeline pattern. Keys no principal names are admins.\n\
         # Written by `sluice principals` and `sluice keys`.\n",
    );
    for p in sorted {
        out.push_str(&format!("{}:\n", p.name));
        let keys: Vec<String> = p.keys.iter().map(|k| quote(k)).collect();
        out.push_str(&format!("  keys: [{}]\n", keys.join(", ")));
        if !p.groups.is_empty() {
            let groups: Vec<String> = p.groups.iter().map(|g| quote(g)).collect();
            out.push_str(&format!("  groups: [{}]\n", groups.join(", ")));
        }
        if p.grants.is_empty() {
            out.push_str("  roles: {}\n");
        } else {
            out.push_str("  roles:\n");
            for g in &p.grants {
                out.push_str(&format!("    {}: {}\n", quote(&g.pattern), g.role));
            }
        }
    }
    out
}

fn quote(s: &str) -> String {
    format!("\"{s}\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_it_writes() {
        let principals = vec![
            Principal {
                name: "bob".into(),
                keys: vec![],
                grants: vec![],
                groups: vec![],
            },
            Principal {
                name: "alice".into(),
                keys: vec!["AK1".into(), "AK2".into()],
                grants: vec![
                    Grant::parse("*=viewer").expect("test value"),
                    Grant::parse("release-*=operator").expect("test value"),
                ],
                groups: vec!["release-managers".into()],
            },
        ];
        let text = render(&principals);
        let back = parse(&text).expect("test value");
        assert_eq!(back[0], principals[1]);
        assert_eq!(back[1], principals[0]);
    }

    #[test]
    fn problems_are_located() {
        let e = parse("alice:\n  keys: [AK1]\n  roles:\n    \"*\": owner\n").expect_err("an error");
        assert!(e.starts_with("alice.roles.*: unknown role `owner`"), "{e}");
        let e = parse("alice:\n  key: [AK1]\n").expect_err("an error");
        assert!(e.starts_with("line 2 "), "{e}");
        assert!(e.contains("unknown field `key`"), "{e}");
        let e = parse("al ice:\n  keys: []\n").expect_err("an error");
        assert!(e.contains("principal name `al ice`"), "{e}");
        let e = parse("alice:\n  roles:\n    a/b: admin\n").expect_err("an error");
        assert!(e.starts_with("alice.roles: pipeline pattern `a/b`"), "{e}");
        assert!(parse("# nobody yet\n").expect("test value").is_empty());
    }
}
