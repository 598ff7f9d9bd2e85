//! The workspace's shape, as ARCHITECTURE.md promises it: no source file too big to read, no two files that
//! import each other (directly or round a longer loop), and the crate graph the document draws is the one
//! `cargo metadata` reports.
//!
//! Imports are read from the source text with comments and literals removed: `use` trees and paths in code
//! that start with `crate::`, `super::`, `self::` or the name of a child module, each resolved to the deepest
//! module it names. Declaring a module (`mod x;`) is not an import.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The largest source file outside tests, in lines.
const MAX_LINES: usize = 800;

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

/// The workspace's packages: name, manifest folder, source roots, and the workspace packages each depends on
/// (normal dependencies).
struct Package {
    name: String,
    roots: Vec<PathBuf>,
    deps: BTreeSet<String>,
}

fn packages() -> Vec<Package> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = std::process::Command::new(cargo)
        .args([
            "metadata",
            "--no-deps",
            "--format-version",
            "1",
            "--offline",
        ])
        .current_dir(workspace_root())
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).expect("metadata JSON");
    let members: BTreeSet<String> = meta["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .map(|p| p["name"].as_str().expect("name").to_owned())
        .collect();
    meta["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .map(|p| Package {
            name: p["name"].as_str().expect("name").to_owned(),
            roots: p["targets"]
                .as_array()
                .expect("targets")
                .iter()
                .filter(|t| {
                    t["kind"]
                        .as_array()
                        .expect("kind")
                        .iter()
                        .any(|k| k == "lib" || k == "bin")
                })
                .map(|t| PathBuf::from(t["src_path"].as_str().expect("src_path")))
                .collect(),
            deps: p["dependencies"]
                .as_array()
                .expect("dependencies")
                .iter()
                .filter(|d| {
                    d["kind"].is_null() && members.contains(d["name"].as_str().unwrap_or(""))
                })
                .map(|d| d["name"].as_str().expect("name").to_owned())
                .collect(),
        })
        .collect()
}

/// Source text with comments, string and character literals blanked out (newlines kept).
fn code_only(text: &str) -> String {
    let b: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let blank = |c: char| if c == '\n' { '\n' } else { ' ' };
    while i < b.len() {
        let c = b[i];
        let next = b.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < b.len() && b[i] != '\n' {
                out.push(' ');
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < b.len() {
                if b[i] == '/' && b.get(i + 1) == Some(&'*') {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if b[i] == '*' && b.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    out.push(blank(b[i]));
                    i += 1;
                }
            }
        } else if c == 'r' && (next == Some('"') || next == Some('#')) && !ident_char(prev(&b, i)) {
            // A raw string: r"..." or r#"..."#.
            let mut j = i + 1;
            let mut hashes = 0;
            while b.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if b.get(j) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            j += 1;
            loop {
                if j >= b.len() {
                    break;
                }
                if b[j] == '"' && (0..hashes).all(|h| b.get(j + 1 + h) == Some(&'#')) {
                    j += 1 + hashes;
                    break;
                }
                j += 1;
            }
            for k in &b[i..j.min(b.len())] {
                out.push(blank(*k));
            }
            i = j;
        } else if c == '"' {
            out.push(' ');
            i += 1;
            while i < b.len() && b[i] != '"' {
                if b[i] == '\\' {
                    out.push(' ');
                    i += 1;
                }
                if i < b.len() {
                    out.push(blank(b[i]));
                    i += 1;
                }
            }
            out.push(' ');
            i += 1;
        } else if c == '\'' {
            // A character literal ('x', '\n', '\u{..}'), else a lifetime.
            let close = if next == Some('\\') {
                (i + 2..b.len().min(i + 12)).find(|&k| b[k] == '\'')
            } else if b.get(i + 2) == Some(&'\'') {
                Some(i + 2)
            } else {
                None
            };
            match close {
                Some(k) => {
                    for _ in i..=k {
                        out.push(' ');
                    }
                    i = k + 1;
                }
                None => {
                    out.push(c);
                    i += 1;
                }
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

fn prev(b: &[char], i: usize) -> char {
    if i == 0 {
        ' '
    } else {
        b[i - 1]
    }
}

fn ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// One crate's modules: module path to the file that holds it (inline modules map to their file).
struct Crate {
    modules: BTreeMap<Vec<String>, PathBuf>,
    /// Each file's module path.
    files: BTreeMap<PathBuf, Vec<String>>,
}

/// The module files of a crate, from its root, following `mod x;` declarations.
fn crate_modules(root: &Path) -> Crate {
    let mut krate = Crate {
        modules: BTreeMap::new(),
        files: BTreeMap::new(),
    };
    let mut todo = vec![(root.to_path_buf(), Vec::<String>::new())];
    while let Some((file, module)) = todo.pop() {
        let text =
            std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let code = code_only(&text);
        krate.modules.insert(module.clone(), file.clone());
        krate.files.insert(file.clone(), module.clone());
        // The folder a child module's file is in: beside lib.rs/main.rs/mod.rs, else in a folder named for
        // this module.
        let stem = file.file_stem().and_then(|s| s.to_str()).unwrap_or("");
        let dir = if matches!(stem, "lib" | "main" | "mod") {
            file.parent().expect("parent").to_path_buf()
        } else {
            file.with_extension("")
        };
        for (name, inline, inner) in mod_declarations(&code) {
            let mut child = module.clone();
            child.extend(inner);
            child.push(name.clone());
            if inline {
                krate.modules.insert(child, file.clone());
                continue;
            }
            let mut base = dir.clone();
            for i in &child[module.len()..child.len() - 1] {
                base.push(i);
            }
            let flat = base.join(format!("{name}.rs"));
            let nested = base.join(&name).join("mod.rs");
            let path = if flat.exists() { flat } else { nested };
            assert!(
                path.exists(),
                "module {} of {} has no file",
                name,
                file.display()
            );
            todo.push((path, child));
        }
    }
    krate
}

/// `mod` items of a file: (name, inline, the inline modules it is nested in).
fn mod_declarations(code: &str) -> Vec<(String, bool, Vec<String>)> {
    let mut out = Vec::new();
    let mut stack: Vec<(String, usize)> = Vec::new();
    let mut depth = 0usize;
    let tokens = tokenize(code);
    for (i, t) in tokens.iter().enumerate() {
        match t.as_str() {
            "{" => depth += 1,
            "}" => {
                depth = depth.saturating_sub(1);
                if stack.last().is_some_and(|(_, d)| *d == depth) {
                    stack.pop();
                }
            }
            "mod" => {
                let (Some(name), Some(after)) = (tokens.get(i + 1), tokens.get(i + 2)) else {
                    continue;
                };
                let nesting: Vec<String> = stack.iter().map(|(n, _)| n.clone()).collect();
                if after == ";" {
                    out.push((name.clone(), false, nesting));
                } else if after == "{" {
                    out.push((name.clone(), true, nesting));
                    stack.push((name.clone(), depth));
                }
            }
            _ => {}
        }
    }
    out
}

/// Identifiers and punctuation (`::` as one token).
fn tokenize(code: &str) -> Vec<String> {
    let chars: Vec<char> = code.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if ident_char(c) {
            let start = i;
            while i < chars.len() && ident_char(chars[i]) {
                i += 1;
            }
            out.push(chars[start..i].iter().collect());
        } else if c == ':' && chars.get(i + 1) == Some(&':') {
            out.push("::".into());
            i += 2;
        } else if c.is_whitespace() {
            i += 1;
        } else {
            out.push(c.to_string());
            i += 1;
        }
    }
    out
}

/// The module paths a file refers to (expanded use trees and paths in code), each relative to the crate root.
fn references(krate: &Crate, file: &Path) -> BTreeSet<Vec<String>> {
    let text = std::fs::read_to_string(file).expect("source");
    let tokens = tokenize(&code_only(&text));
    let file_module = krate.files[file].clone();
    let mut refs = BTreeSet::new();
    // The module each token is in (inline modules nest).
    let mut stack: Vec<(String, usize)> = Vec::new();
    let mut depth = 0usize;
    let mut i = 0;
    while i < tokens.len() {
        let t = tokens[i].as_str();
        let mut here = file_module.clone();
        here.extend(stack.iter().map(|(n, _)| n.clone()));
        match t {
            "{" => depth += 1,
            "}" => {
                depth = depth.saturating_sub(1);
                if stack.last().is_some_and(|(_, d)| *d == depth) {
                    stack.pop();
                }
            }
            "mod" if tokens.get(i + 2).map(String::as_str) == Some("{") => {
                stack.push((tokens[i + 1].clone(), depth));
                i += 1;
            }
            _ => {}
        }
        let starts_path = tokens.get(i + 1).map(String::as_str) == Some("::")
            && (i == 0 || tokens[i - 1] != "::")
            && ident_char(t.chars().next().unwrap_or(' '));
        if starts_path {
            let base = match t {
                "crate" => Some(Vec::new()),
                "super" => Some(here[..here.len().saturating_sub(1)].to_vec()),
                "self" => Some(here.clone()),
                name => {
                    let mut child = here.clone();
                    child.push(name.to_owned());
                    krate.modules.contains_key(&child).then_some(here.clone())
                }
            };
            if let Some(base) = base {
                let start = if matches!(t, "crate" | "super" | "self") {
                    i + 2
                } else {
                    i
                };
                let mut paths = Vec::new();
                let end = use_tree(&tokens, start, base, &mut paths);
                refs.extend(paths);
                i = end.max(i + 1);
                continue;
            }
        }
        i += 1;
    }
    refs
}

/// Reads a path or use tree from `tokens[i..]` under `prefix`, pushing every full path; returns the index
/// after it.
fn use_tree(
    tokens: &[String],
    mut i: usize,
    mut prefix: Vec<String>,
    out: &mut Vec<Vec<String>>,
) -> usize {
    loop {
        match tokens.get(i).map(String::as_str) {
            Some("super") => {
                prefix.pop();
                i += 1;
            }
            Some("{") => {
                i += 1;
                loop {
                    match tokens.get(i).map(String::as_str) {
                        None => return i,
                        Some("}") => return i + 1,
                        Some(",") => i += 1,
                        Some("self") => {
                            out.push(prefix.clone());
                            i += 1;
                        }
                        _ => {
                            let next = use_tree(tokens, i, prefix.clone(), out);
                            if next == i {
                                i += 1;
                            } else {
                                i = next;
                            }
                        }
                    }
                }
            }
            Some(t) if ident_char(t.chars().next().unwrap_or(' ')) => {
                prefix.push(t.to_owned());
                i += 1;
            }
            _ => {
                out.push(prefix);
                return i;
            }
        }
        if tokens.get(i).map(String::as_str) == Some("::") {
            i += 1;
        } else {
            out.push(prefix);
            return i;
        }
    }
}

/// The file a module path resolves to: the deepest module it names.
fn resolve<'k>(krate: &'k Crate, path: &[String]) -> Option<&'k PathBuf> {
    (0..=path.len())
        .rev()
        .find_map(|n| krate.modules.get(&path[..n]))
}

fn is_test_path(path: &Path) -> bool {
    path.components()
        .any(|c| matches!(c.as_os_str().to_str(), Some("tests" | "test")))
}

#[test]
fn no_source_file_outside_tests_is_over_800_lines() {
    let root = workspace_root();
    let mut big = Vec::new();
    for p in packages() {
        for r in &p.roots {
            for file in crate_modules(r).files.keys() {
                let rel = file.strip_prefix(&root).unwrap_or(file);
                if is_test_path(rel) {
                    continue;
                }
                let lines = std::fs::read_to_string(file)
                    .expect("source")
                    .lines()
                    .count();
                if lines > MAX_LINES {
                    big.push(format!("{} ({lines} lines)", rel.display()));
                }
            }
        }
    }
    assert!(big.is_empty(), "files over {MAX_LINES} lines: {big:#?}");
}

#[test]
fn no_two_files_of_a_crate_import_each_other() {
    let root = workspace_root();
    let mut cycles = Vec::new();
    for p in packages() {
        for r in &p.roots {
            let krate = crate_modules(r);
            let mut edges: BTreeMap<&PathBuf, BTreeSet<&PathBuf>> = BTreeMap::new();
            for file in krate.files.keys() {
                let targets = edges.entry(file).or_default();
                for path in references(&krate, file) {
                    if let Some(to) = resolve(&krate, &path) {
                        if to != file {
                            targets.insert(to);
                        }
                    }
                }
            }
            for cycle in strongly_connected(&edges) {
                let names: Vec<String> = cycle
                    .iter()
                    .map(|f| f.strip_prefix(&root).unwrap_or(f).display().to_string())
                    .collect();
                cycles.push(names);
            }
        }
    }
    assert!(
        cycles.is_empty(),
        "files that import each other: {cycles:#?}"
    );
}

/// Components of more than one file (Tarjan's algorithm).
fn strongly_connected<'a>(
    edges: &BTreeMap<&'a PathBuf, BTreeSet<&'a PathBuf>>,
) -> Vec<Vec<&'a PathBuf>> {
    struct State<'a> {
        index: BTreeMap<&'a PathBuf, usize>,
        low: BTreeMap<&'a PathBuf, usize>,
        on_stack: BTreeSet<&'a PathBuf>,
        stack: Vec<&'a PathBuf>,
        next: usize,
        out: Vec<Vec<&'a PathBuf>>,
    }
    fn visit<'a>(
        v: &'a PathBuf,
        edges: &BTreeMap<&'a PathBuf, BTreeSet<&'a PathBuf>>,
        s: &mut State<'a>,
    ) {
        s.index.insert(v, s.next);
        s.low.insert(v, s.next);
        s.next += 1;
        s.stack.push(v);
        s.on_stack.insert(v);
        for w in edges.get(v).into_iter().flatten() {
            if !s.index.contains_key(w) {
                visit(w, edges, s);
                let lw = s.low[w];
                let lv = s.low.get_mut(v).expect("visited");
                *lv = (*lv).min(lw);
            } else if s.on_stack.contains(w) {
                let iw = s.index[w];
                let lv = s.low.get_mut(v).expect("visited");
                *lv = (*lv).min(iw);
            }
        }
        if s.low[v] == s.index[v] {
            let mut component = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                component.push(w);
                if w == v {
                    break;
                }
            }
            if component.len() > 1 {
                s.out.push(component);
            }
        }
    }
    let mut s = State {
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        on_stack: BTreeSet::new(),
        stack: Vec::new(),
        next: 0,
        out: Vec::new(),
    };
    for v in edges.keys() {
        if !s.index.contains_key(v) {
            visit(v, edges, &mut s);
        }
    }
    s.out
}

/// The crate graph ARCHITECTURE.md draws: the fenced block after the line `## Crate graph`, one line per
/// crate: `name -> dep, dep` (or `name -> nothing`).
fn documented_graph() -> BTreeMap<String, BTreeSet<String>> {
    let doc =
        std::fs::read_to_string(workspace_root().join("ARCHITECTURE.md")).expect("ARCHITECTURE.md");
    let section = doc
        .split("## Crate graph")
        .nth(1)
        .expect("ARCHITECTURE.md has a '## Crate graph' section");
    let block = section
        .split("```")
        .nth(1)
        .expect("the crate graph section has a fenced block");
    block
        .lines()
        .filter_map(|l| l.split_once("->"))
        .map(|(name, deps)| {
            let deps = deps
                .split(',')
                .map(str::trim)
                .filter(|d| !d.is_empty() && *d != "nothing")
                .map(str::to_owned)
                .collect();
            (name.trim().to_owned(), deps)
        })
        .collect()
}

#[test]
fn the_documented_crate_graph_is_cargos() {
    let actual: BTreeMap<String, BTreeSet<String>> =
        packages().into_iter().map(|p| (p.name, p.deps)).collect();
    let documented = documented_graph();
    assert_eq!(
        documented, actual,
        "ARCHITECTURE.md's crate graph (left) differs from cargo metadata (right)"
    );
}

#[test]
fn the_reader_finds_imports_in_use_trees_and_code() {
    let dir = tempfile_dir();
    let src = dir.join("src");
    std::fs::create_dir_all(src.join("a")).expect("dirs");
    std::fs::write(
        src.join("lib.rs"),
        "mod a;\nmod b;\n// crate::b::x in a comment\n",
    )
    .expect("lib");
    std::fs::write(
        src.join("a/mod.rs"),
        "mod c;\nuse crate::{b::{self, Y}, a::c::Z};\nconst S: &str = \"crate::lib\";\n",
    )
    .expect("a");
    std::fs::write(
        src.join("a/c.rs"),
        "fn f() { super::super::b::g(); }\n#[cfg(test)]\nmod tests { use super::*; }\n",
    )
    .expect("c");
    std::fs::write(src.join("b.rs"), "pub fn g() {}\n").expect("b");
    let krate = crate_modules(&src.join("lib.rs"));
    let files = |f: &str| -> BTreeSet<String> {
        references(&krate, &src.join(f))
            .iter()
            .filter_map(|p| resolve(&krate, p))
            .map(|p| p.strip_prefix(&src).expect("in src").display().to_string())
            .collect()
    };
    assert_eq!(files("lib.rs"), BTreeSet::new());
    assert_eq!(
        files("a/mod.rs"),
        ["b.rs", "a/c.rs"].map(String::from).into()
    );
    assert_eq!(files("a/c.rs"), ["b.rs", "a/c.rs"].map(String::from).into());
    std::fs::remove_dir_all(&dir).ok();
}

fn tempfile_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sluice-layout-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}
