//! A pipeline's definition as JSON and YAML (any version), and the difference between two versions.

use std::fmt::Write as _;

use serde_json::json;

use super::context::{Ctx, Failure};
use super::html::{enc, esc, Page};
use super::request::field;

/// `GET /pipelines/{name}/definition[?version=N][&from=A&to=B]`.
pub(super) async fn show(ctx: &Ctx<'_>, name: &str) -> Result<Page, Failure> {
    let params = ctx.params();
    let number = |key: &str| field(&params, key).and_then(|v| v.parse::<u64>().ok());
    let newest = ctx.call("GetPipeline", json!({"name": name})).await?;
    let latest = newest["pipeline"]["version"].as_u64().unwrap_or(1);
    let version = number("version").unwrap_or(latest);
    let got = if version == latest {
        newest.clone()
    } else {
        ctx.call("GetPipeline", json!({"name": name, "version": version}))
            .await?
    };
    let declaration = &got["pipeline"];
    let json_text = serde_json::to_string_pretty(declaration).unwrap_or_default();
    let yaml_text = serde_yaml::to_string(declaration).unwrap_or_default();
    let mut page = Page::new(format!("Definition of {name}"));
    page.refresh = false;
    page.crumbs.push(("Pipelines".into(), "/".into()));
    page.crumbs
        .push((name.to_owned(), format!("/pipelines/{}", enc(name))));
    let options = |selected: u64| -> String {
        (1..=latest)
            .rev()
            .map(|v| {
                format!(
                    "<option value=\"{v}\"{}>{v}</option>",
                    if v == selected { " selected" } else { "" }
                )
            })
            .collect()
    };
    let mut out = format!(
        "<h1>Definition of {}</h1>\n<form method=\"get\" class=\"inline panel\">\
         <label for=\"version\">Version</label><select id=\"version\" name=\"version\">{}</select>\
         <button type=\"submit\" class=\"secondary\">Show</button></form>\n",
        esc(name),
        options(version)
    );
    if latest > 1 {
        let from = number("from").unwrap_or(latest - 1);
        let to = number("to").unwrap_or(latest);
        let _ = writeln!(
            out,
            "<form method=\"get\" class=\"inline panel\"><label for=\"from\">Compare version</label>\
             <select id=\"from\" name=\"from\">{}</select><label for=\"to\">with</label>\
             <select id=\"to\" name=\"to\">{}</select><button type=\"submit\" class=\"secondary\">Compare</button></form>",
            options(from),
            options(to)
        );
        if field(&params, "from").is_some() {
            let a = ctx
                .call("GetPipeline", json!({"name": name, "version": from}))
                .await?;
            let b = ctx
                .call("GetPipeline", json!({"name": name, "version": to}))
                .await?;
            let a = serde_json::to_string_pretty(&a["pipeline"]).unwrap_or_default();
            let b = serde_json::to_string_pretty(&b["pipeline"]).unwrap_or_default();
            let _ = write!(
                out,
                "<h2>Version {from} → {to}</h2>\n<pre class=\"diff\" id=\"diff\" tabindex=\"0\">{}</pre>\n",
                diff_html(&a, &b)
            );
        }
    }
    let _ = write!(
        out,
        "<h2>JSON (version {version})</h2>\n<pre id=\"definition-json\" tabindex=\"0\">{}</pre>\n\
         <h2>YAML</h2>\n<pre id=\"definition-yaml\" tabindex=\"0\">{}</pre>\n",
        esc(&json_text),
        esc(&yaml_text)
    );
    page.raw(&out);
    Ok(page)
}

/// One line of a difference.
#[derive(Debug, PartialEq, Eq)]
enum Line<'a> {
    Same(&'a str),
    Added(&'a str),
    Removed(&'a str),
}

/// The lines of `a` and `b` as a longest-common-subsequence difference (texts too long for it: all of `a`
/// removed, all of `b` added).
fn diff<'a>(a: &'a str, b: &'a str) -> Vec<Line<'a>> {
    let (a, b): (Vec<&str>, Vec<&str>) = (a.lines().collect(), b.lines().collect());
    let (n, m) = (a.len(), b.len());
    if n.saturating_mul(m) > 4_000_000 {
        return a
            .iter()
            .map(|l| Line::Removed(l))
            .chain(b.iter().map(|l| Line::Added(l)))
            .collect();
    }
    // lcs[i][j]: the common subsequence's length of a[i..] and b[j..].
    let mut lcs = vec![vec![0u32; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < n && j < m {
        if a[i] == b[j] {
            out.push(Line::Same(a[i]));
            i += 1;
            j += 1;
        } else if lcs[i + 1][j] >= lcs[i][j + 1] {
            out.push(Line::Removed(a[i]));
            i += 1;
        } else {
            out.push(Line::Added(b[j]));
            j += 1;
        }
    }
    out.extend(a[i..].iter().map(|l| Line::Removed(l)));
    out.extend(b[j..].iter().map(|l| Line::Added(l)));
    out
}

fn diff_html(a: &str, b: &str) -> String {
    let lines = diff(a, b);
    if lines.iter().all(|l| matches!(l, Line::Same(_))) {
        return "The two versions are the same.".to_owned();
    }
    let mut out = String::new();
    for l in lines {
        match l {
            Line::Same(t) => {
                let _ = writeln!(out, "  {}", esc(t));
            }
            Line::Added(t) => {
                let _ = write!(out, "<ins class=\"add\">+ {}</ins>", esc(t));
            }
            Line::Removed(t) => {
                let _ = write!(out, "<del class=\"del\">- {}</del>", esc(t));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tells_added_removed_and_kept_lines_apart() {
        let d = diff("a\nb\nc", "a\nc\nd");
        assert_eq!(
            d,
            vec![
                Line::Same("a"),
                Line::Removed("b"),
                Line::Same("c"),
                Line::Added("d")
            ]
        );
    }
}
