//! `sluice audit`: the audit log of the local state folder's store, newest first: who made each state-changing
//! call, what it named, when, from where, and how it ended (see `sluice_runtime::audit`); with `--endpoint`,
//! the log that endpoint answers (Sluice's ListAuditEvents operation), as far as the signing key may read it.

use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use hyper::Method;
use serde_json::{json, Value};
use sluice_host::Host;
use sluice_runtime::audit::{
    check_token, AuditEntry, AuditPage, AuditQuery, AuditSettings, MAX_PAGE,
};
use sluice_runtime::events::rfc3339;
use sluice_web::codepipeline::LIST_AUDIT_EVENTS;

use crate::client::Remote;

use crate::args::{Command, Output};
use crate::usage::{print_json, CmdResult, UsageError};

/// What `sluice audit` was asked for.
pub(crate) struct AuditArgs<'a> {
    pub(crate) pipeline: Option<&'a str>,
    pub(crate) since: Option<&'a str>,
    pub(crate) limit: usize,
    pub(crate) next_token: Option<&'a str>,
}

/// Prints one page of the log of the state folder's store.
pub(crate) async fn show(host: &Host, args: AuditArgs<'_>, output: Output) -> CmdResult {
    // The retention the server writes with is read from the same variable: a mistake in it is named here too.
    AuditSettings::from_env().map_err(UsageError)?;
    let query = args.query(host.runtime.env.now_ms())?;
    // The state folder's holder reads everything.
    let page = host.runtime.audit_page(&query, &|_| true).await?;
    print(page, output)
}

/// Prints one page of the log a Sluice endpoint answers (ListAuditEvents): what the signing key's principal
/// may read.
pub(crate) async fn show_remote(remote: &Remote, args: AuditArgs<'_>, output: Output) -> CmdResult {
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let query = args.query(now_ms)?;
    let mut input = json!({"maxResults": query.limit});
    if let Some(p) = &query.pipeline {
        input["pipelineName"] = json!(p);
    }
    if let Some(ms) = query.since_ms {
        input["sinceTime"] = json!(ms as f64 / 1000.0);
    }
    if let Some(t) = &query.after {
        input["nextToken"] = json!(t);
    }
    let headers = vec![
        ("content-type".into(), "application/x-amz-json-1.1".into()),
        ("x-amz-target".into(), LIST_AUDIT_EVENTS.into()),
    ];
    let (status, bytes) = remote
        .send(Method::POST, "/", headers, input.to_string().into_bytes())
        .await
        .map_err(|e| UsageError(e.to_string()))?;
    let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    if status != 200 {
        return Err(UsageError(format!(
            "{}: {}",
            body["__type"].as_str().unwrap_or("the endpoint refused"),
            body["message"].as_str().map_or_else(
                || String::from_utf8_lossy(&bytes).into_owned(),
                str::to_owned
            )
        )));
    }
    let entries: Vec<AuditEntry> = serde_json::from_value(body["auditEvents"].clone())
        .map_err(|e| UsageError(format!("the endpoint's auditEvents cannot be read: {e}")))?;
    let next = body["nextToken"].as_str().map(str::to_owned);
    print(AuditPage { entries, next }, output)
}

impl<'a> AuditArgs<'a> {
    /// The arguments of `sluice audit`; None for another command.
    pub(crate) fn of(command: &'a Command) -> Option<Self> {
        match command {
            Command::Audit {
                pipeline,
                since,
                limit,
                next_token,
            } => Some(Self {
                pipeline: pipeline.as_deref(),
                since: since.as_deref(),
                limit: *limit,
                next_token: next_token.as_deref(),
            }),
            _ => None,
        }
    }

    /// The query, with `--since` counted back from `now_ms`; mistakes named by option.
    fn query(&self, now_ms: i64) -> Result<AuditQuery, UsageError> {
        if !(1..=MAX_PAGE).contains(&self.limit) {
            return Err(UsageError(format!(
                "--limit {}: expected 1 to {MAX_PAGE} entries",
                self.limit
            )));
        }
        let since_ms = self
            .since
            .map(|s| duration_ms(s).map(|d| now_ms - d))
            .transpose()
            .map_err(|e| UsageError(format!("--since {e}")))?;
        if let Some(token) = self.next_token {
            check_token(token).map_err(|e| UsageError(format!("--next-token: {e}")))?;
        }
        Ok(AuditQuery {
            pipeline: self.pipeline.map(str::to_owned),
            since_ms,
            after: self.next_token.map(str::to_owned),
            limit: self.limit,
        })
    }
}

fn print(page: AuditPage, output: Output) -> CmdResult {
    if output == Output::Json {
        print_json(&json!({"entries": page.entries, "nextToken": page.next}));
        return Ok(ExitCode::SUCCESS);
    }
    if page.entries.is_empty() {
        outln!("No audit log entries.");
        return Ok(ExitCode::SUCCESS);
    }
    let rows: Vec<[String; 6]> = page
        .entries
        .iter()
        .map(|e| {
            [
                rfc3339(e.at_ms),
                e.who(),
                e.source.clone(),
                e.operation.clone(),
                e.outcome_text(),
                e.target(),
            ]
        })
        .collect();
    let header = ["TIME", "WHO", "FROM", "OPERATION", "OUTCOME", "TARGET"].map(str::to_owned);
    let mut widths = [0usize; 6];
    for row in std::iter::once(&header).chain(&rows) {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    for row in std::iter::once(&header).chain(&rows) {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<w$}  ", w = widths[i]));
            }
        }
        outln!("{}", line.trim_end());
    }
    if let Some(next) = page.next {
        outln!("More: sluice audit --next-token {next}");
    }
    Ok(ExitCode::SUCCESS)
}

/// A duration such as `90s`, `15m`, `2h` or `7d`, in milliseconds; the error says what was expected.
fn duration_ms(text: &str) -> Result<i64, String> {
    let t = text.trim();
    let (number, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len()));
    let scale = match unit {
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => 0,
    };
    match number.parse::<i64>() {
        Ok(n) if scale > 0 && n > 0 => n
            .checked_mul(scale)
            .ok_or_else(|| format!("{text:?}: too long")),
        _ => Err(format!(
            "{text:?}: expected a whole number and a unit, s, m, h or d (e.g. 90s, 15m, 2h, 7d)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::duration_ms;

    #[test]
    fn durations_read_with_their_units() {
        for (text, ms) in [
            ("90s", 90_000),
            ("15m", 900_000),
            ("2h", 7_200_000),
            ("7d", 604_800_000),
        ] {
            assert_eq!(duration_ms(text), Ok(ms), "{text}");
        }
        for bad in ["", "7", "d", "0d", "1.5h", "3w", "-2h"] {
            let e = duration_ms(bad).expect_err("an error");
            assert!(e.contains("expected a whole number"), "{bad}: {e}");
        }
    }
}
