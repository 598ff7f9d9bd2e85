//! Fuzzing on the stable toolchain, for a bounded time: each reader of untrusted input is fed mutations of the
//! corpus in `fuzz/corpus/<target>/` (byte flips, inserted tokens of its language, cuts, repeats, splices of two
//! inputs) and must answer every one without panicking and within its documented bounds. The same corpus seeds
//! the coverage-guided targets in `fuzz/` (`scripts/fuzz.sh`, cargo-fuzz with libFuzzer).
//!
//! `SLUICE_FUZZ_SECONDS` sets each target's budget (default 4); `SLUICE_FUZZ_SEED` replays a run. An input that
//! fails is written to `target/fuzz-failures/<target>-<n>` and named in the failure.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sluice_definition::yaml::{self, Tags, YamlLimits};
use sluice_definition::{Limits, Syntax};
use sluice_tests::workspace;

/// A small deterministic generator.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

fn corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = workspace().join("fuzz/corpus").join(target);
    let mut seeds: Vec<Vec<u8>> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
        .filter_map(|e| std::fs::read(e.path()).ok())
        .collect();
    seeds.sort();
    assert!(!seeds.is_empty(), "{} has no seeds", dir.display());
    seeds
}

/// One mutation of `input`, with `tokens` of its language to insert.
fn mutate(rng: &mut Rng, input: &[u8], other: &[u8], tokens: &[&[u8]]) -> Vec<u8> {
    let mut out = input.to_vec();
    for _ in 0..=rng.below(4) {
        let at = rng.below(out.len() + 1);
        match rng.below(7) {
            0 if !out.is_empty() => {
                let i = rng.below(out.len());
                out[i] ^= 1 << rng.below(8);
            }
            1 => {
                let token = tokens[rng.below(tokens.len())];
                out.splice(at..at, token.iter().copied());
            }
            2 if !out.is_empty() => {
                let end = (at + rng.below(32)).min(out.len());
                out.drain(at.min(end)..end);
            }
            3 if !out.is_empty() => {
                // Repeat a slice a few times (nesting, long runs).
                let start = rng.below(out.len());
                let end = (start + 1 + rng.below(16)).min(out.len());
                let piece = out[start..end].to_vec();
                for _ in 0..=rng.below(8) {
                    out.splice(end..end, piece.iter().copied());
                }
            }
            4 if !other.is_empty() => {
                // Splice in part of another input.
                let start = rng.below(other.len());
                let end = (start + rng.below(64)).min(other.len());
                out.splice(at..at, other[start..end].iter().copied());
            }
            5 => out.insert(at, rng.below(256) as u8),
            _ => {
                let i = rng.below(out.len().max(1));
                out.truncate(i);
            }
        }
    }
    out
}

/// Runs `check` on mutations of the target's corpus for the budget; the first failing input is saved and
/// reported.
fn fuzz(target: &str, tokens: &[&[u8]], check: impl Fn(&[u8]) -> Result<(), String>) {
    let seconds: u64 = std::env::var("SLUICE_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(4);
    let seed: u64 = std::env::var("SLUICE_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(7, |d| d.as_nanos() as u64)
                | 1
        });
    let seeds = corpus(target);
    let mut rng = Rng(seed);
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut runs = 0u64;
    let mut pool = seeds.clone();
    while Instant::now() < deadline {
        let base = pool[rng.below(pool.len())].clone();
        let other = &seeds[rng.below(seeds.len())];
        let input = if runs < seeds.len() as u64 {
            seeds[runs as usize].clone()
        } else {
            mutate(&mut rng, &base, other, tokens)
        };
        let outcome = catch_unwind(AssertUnwindSafe(|| check(&input)));
        let failure = match outcome {
            Ok(Ok(())) => None,
            Ok(Err(why)) => Some(why),
            Err(panic) => Some(
                panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .map_or_else(|| "panicked".to_owned(), |m| format!("panicked: {m}")),
            ),
        };
        if let Some(why) = failure {
            let dir = workspace().join("target/fuzz-failures");
            let _ = std::fs::create_dir_all(&dir);
            let path = dir.join(format!("{target}-{runs}"));
            let _ = std::fs::write(&path, &input);
            panic!(
                "{target}: {why} (seed {seed}, input saved to {})",
                path.display()
            );
        }
        // Keep some mutants as bases, so mutations compound.
        if runs.is_multiple_of(16) && input.len() < 64 * 1024 {
            if pool.len() > 256 {
                let i = rng.below(pool.len());
                pool.swap_remove(i);
            }
            pool.push(input);
        }
        runs += 1;
    }
    println!("fuzz {target}: {runs} inputs in {seconds} s (seed {seed})");
}

const YAML_TOKENS: &[&[u8]] = &[
    b"&a ",
    b"*a",
    b"&b [",
    b"*b",
    b"[",
    b"]",
    b"{",
    b"}",
    b": ",
    b"- ",
    b"\n  ",
    b"\n",
    b"? ",
    b"!Ref ",
    b"!!str ",
    b"!!int ",
    b"'",
    b"\"",
    b"|\n",
    b">\n",
    b"---\n",
    b"...\n",
    b"#",
    b"\t",
    b"%YAML 1.2\n",
    b"<<: *a\n",
    b"\\u0000",
    b"\xff",
];

/// What a YAML value costs, as the reader counts it: scalar bytes plus one per node.
fn cost(v: &serde_json::Value) -> usize {
    match v {
        serde_json::Value::Array(items) => 1 + items.iter().map(cost).sum::<usize>(),
        serde_json::Value::Object(map) => {
            1 + map
                .iter()
                .map(|(k, v)| k.len() + 1 + cost(v))
                .sum::<usize>()
        }
        serde_json::Value::String(s) => s.len() + 1,
        other => other.to_string().len() + 1,
    }
}

/// Accepts every tag, as a template reader does, keeping the value.
struct AnyTag;

impl Tags for AnyTag {
    fn tagged(&self, tag: &str, value: serde_json::Value) -> Result<serde_json::Value, String> {
        Ok(serde_json::json!({ tag: value }))
    }
}

#[test]
fn fuzz_the_yaml_reader() {
    fuzz("yaml", YAML_TOKENS, |input| {
        let Ok(text) = std::str::from_utf8(input) else {
            return Ok(());
        };
        let limits = YamlLimits::default();
        if let Ok(v) = yaml::read(text, &limits, &AnyTag) {
            // What aliases add is bounded by a multiple of the text (plus keys and tags counted here).
            let bound = (text.len() * (limits.max_alias_expansion + 2)).max(yaml::ALIAS_FLOOR) * 2;
            if cost(&v) > bound {
                return Err(format!(
                    "{} bytes of YAML became {} of value",
                    text.len(),
                    cost(&v)
                ));
            }
        }
        Ok(())
    });
}

#[test]
fn fuzz_the_definition_reader() {
    let json_tokens: &[&[u8]] = &[
        b"{",
        b"}",
        b"[",
        b"]",
        b",",
        b":",
        b"\"",
        b"null",
        b"1e999",
        b"\"stages\"",
    ];
    let tokens: Vec<&[u8]> = YAML_TOKENS.iter().chain(json_tokens).copied().collect();
    fuzz("definition", &tokens, |input| {
        let Ok(text) = std::str::from_utf8(input) else {
            return Ok(());
        };
        for syntax in [Syntax::Yaml, Syntax::Json] {
            let _ = sluice_definition::load(text, syntax, &Limits::default());
        }
        Ok(())
    });
}

#[test]
fn fuzz_the_buildspec_reader() {
    fuzz("buildspec", YAML_TOKENS, |input| {
        if let Ok(text) = std::str::from_utf8(input) {
            let _ = sluice_agent::check_buildspec(text);
        }
        Ok(())
    });
}

#[test]
fn fuzz_sigv4_parsing() {
    use sluice_web::sigv4::{self, Keys, SignedRequest};
    let keys = Keys::parse("AKIDEXAMPLE secret\n").expect("keys");
    let tokens: &[&[u8]] = &[
        b"=",
        b",",
        b"/",
        b";",
        b" ",
        b"Credential=",
        b"SignedHeaders=",
        b"Signature=",
        b"aws4_request",
    ];
    fuzz("sigv4", tokens, |input| {
        let header = String::from_utf8_lossy(input).into_owned();
        let headers = vec![
            ("authorization".to_owned(), header),
            ("host".to_owned(), "127.0.0.1".to_owned()),
            ("x-amz-date".to_owned(), "20261126T080000Z".to_owned()),
            (
                "x-amz-target".to_owned(),
                "CodePipeline_20150709.ListPipelines".to_owned(),
            ),
        ];
        let req = SignedRequest {
            method: "POST",
            path: "/",
            query: "a=b&c",
            headers: &headers,
            body: b"{}",
        };
        let now = sigv4::parse_amz_date("20261126T080000Z").expect("date");
        if sigv4::verify(&req, &keys, now).is_ok() {
            return Err("a mutated signature was accepted".into());
        }
        let _ = sigv4::precheck(&req, &keys, now);
        let _ = sigv4::verify_declared(&req, &keys, now);
        Ok(())
    });
}

#[test]
fn fuzz_zip_extraction() {
    use sluice_agent::zip_files::extract::extract_zip;
    use sluice_agent::zip_files::Limits as ZipLimits;
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path().to_path_buf();
    let limits = ZipLimits {
        max_entries: 64,
        max_entry_bytes: 1 << 20,
        max_total_bytes: 4 << 20,
    };
    let tokens: &[&[u8]] = &[
        b"PK\x01\x02",
        b"PK\x03\x04",
        b"PK\x05\x06",
        b"../",
        b"/",
        b"\x00",
        b"\xff\xff",
    ];
    let counter = std::sync::atomic::AtomicU64::new(0);
    fuzz("zip", tokens, |input| {
        let n = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let zip = root.join(format!("in-{n}.zip"));
        let jail = root.join(format!("jail-{n}"));
        let target = jail.join("out");
        std::fs::create_dir_all(&jail).map_err(|e| e.to_string())?;
        std::fs::write(&zip, input).map_err(|e| e.to_string())?;
        let result = extract_zip(&zip, &target, &limits);
        let escaped = escaped_files(&root, &jail, &zip);
        let _ = std::fs::remove_dir_all(&jail);
        let _ = std::fs::remove_file(&zip);
        if !escaped.is_empty() {
            return Err(format!("files written outside the target: {escaped:?}"));
        }
        if result.is_err() && target.exists() {
            return Err("a refused archive left its target".into());
        }
        Ok(())
    });
}

/// Files in `root` other than the input and the jail: what an extraction wrote where it must not.
fn escaped_files(root: &Path, jail: &Path, zip: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(root)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p != jail && p != zip)
        .collect()
}
