//! The audit log: one entry per state-changing API call (who, what, when, from where, and how it ended), kept in
//! the store with the retention the operator set, read newest first in pages.
//!
//! # Keys
//!
//! Every entry is written twice, in one transaction (both or neither):
//!
//! - `AUDIT` / `<at ms, 15 digits>#<id>` — the whole log, one partition;
//! - `AUDIT#PIPELINE#<name>` / the same sort key — the calls that named a pipeline, for that pipeline's log
//!   (kept apart from `PIPELINE#<name>`, which DeletePipeline clears: the delete itself stays on record).
//!
//! The sort key orders entries by time, so newest first is one descending query and a page token is simply the
//! sort key of the last entry a page showed (`--since` stops the walk at the first older entry).
//!
//! Why one partition and not one per day: the log is written by people, CI and job workers, far below the
//! 1,000 writes a second DynamoDB gives one partition key value, and a partition per day would not spread the
//! writes anyway (they all land on today's). One partition keeps paging a single Query with no walk over empty
//! days. Should the rate ever come near the limit, the partition can be split into `AUDIT#<shard>` written at
//! random and read by merging the shards' descending queries: the sort key, and so the page token, stays the
//! same.
//!
//! # Retention
//!
//! Each entry expires `retention_days` after it was written (`expires_at`: DynamoDB's TTL attribute, which the
//! SQLite store honours as well; both treat an expired item as absent at once). The setting is
//! `SLUICE_AUDIT_RETENTION_DAYS` (default 90, [`AuditSettings::from_env`]); changing it affects entries
//! written from then on.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Result, RuntimeError};
use crate::ports::{Condition, Item, Order, Write};
use crate::Runtime;

/// The environment variable holding the retention in days.
pub const RETENTION_VAR: &str = "SLUICE_AUDIT_RETENTION_DAYS";
/// The retention when the variable is not set.
pub const DEFAULT_RETENTION_DAYS: u32 = 90;
/// The longest retention accepted (100 years).
pub const MAX_RETENTION_DAYS: u32 = 36_500;
/// The most entries one page answers.
pub const MAX_PAGE: usize = 1000;
/// The most entries one page reads while skipping entries its reader may not see; past it the page ends early
/// with a token to go on.
const MAX_SCANNED: usize = 2000;

/// The partition of the whole log.
pub const LOG_PARTITION: &str = "AUDIT";

/// A pipeline's log partition.
pub fn pipeline_partition(pipeline: &str) -> String {
    format!("AUDIT#PIPELINE#{pipeline}")
}

/// An entry's sort key (and the page token of a page that ended with it).
pub fn sort_key(at_ms: i64, id: &str) -> String {
    format!("{at_ms:015}#{id}")
}

/// How the audit log is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditSettings {
    /// Days an entry is kept.
    pub retention_days: u32,
}

impl Default for AuditSettings {
    fn default() -> Self {
        Self {
            retention_days: DEFAULT_RETENTION_DAYS,
        }
    }
}

impl AuditSettings {
    /// Reads [`RETENTION_VAR`]: a whole number of days from 1 to [`MAX_RETENTION_DAYS`]; unset or empty, the
    /// default. The error names the variable and the value.
    pub fn from_env() -> std::result::Result<Self, String> {
        Self::parse(std::env::var(RETENTION_VAR).ok().as_deref())
    }

    /// [`Self::from_env`] over a value.
    pub fn parse(value: Option<&str>) -> std::result::Result<Self, String> {
        let Some(text) = value.map(str::trim).filter(|t| !t.is_empty()) else {
            return Ok(Self::default());
        };
        match text.parse::<u32>() {
            Ok(days) if (1..=MAX_RETENTION_DAYS).contains(&days) => Ok(Self {
                retention_days: days,
            }),
            _ => Err(format!(
                "{RETENTION_VAR}={text:?}: expected a whole number of days from 1 to {MAX_RETENTION_DAYS} \
                 (how long audit log entries are kept; default {DEFAULT_RETENTION_DAYS})"
            )),
        }
    }

    /// When an entry written at `at_ms` expires, in Unix seconds.
    pub fn expires_at(&self, at_ms: i64) -> i64 {
        at_ms.div_euclid(1000) + i64::from(self.retention_days) * 86_400
    }
}

/// How a call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// It was answered with success.
    Ok,
    /// The caller may not make it (AccessDeniedException): nothing was done.
    Refused,
    /// It was made and failed (the entry's `error` says how).
    Failed,
}

impl Outcome {
    /// `ok`, `refused` or `failed`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Refused => "refused",
            Self::Failed => "failed",
        }
    }
}

/// One state-changing call, as the log keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEntry {
    /// Unique among entries (with `at_ms`, the sort key).
    pub id: String,
    /// When the call arrived, Unix milliseconds.
    pub at_ms: i64,
    /// Who: the principal's name.
    pub principal: String,
    /// The access key id it signed with, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    /// From where: the client's address, `console <address>`, `local`.
    pub source: String,
    /// The operation (`StartPipelineExecution`).
    pub operation: String,
    /// The pipeline it named.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pipeline: Option<String>,
    /// The stage it named.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<String>,
    /// The action it named.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// The execution it named, or started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution_id: Option<String>,
    /// Other ids it named (`jobId`, `webhookName`, `transitionType`, ...), by request member.
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub details: serde_json::Map<String, Value>,
    /// How it ended.
    pub outcome: Outcome,
    /// The error type when it did not succeed (`AccessDeniedException`, `PipelineNotFoundException`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The error's message, shortened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl AuditEntry {
    /// The sort key it is stored under (and the token of a page ending with it).
    pub fn sort_key(&self) -> String {
        sort_key(self.at_ms, &self.id)
    }

    /// What the call named, in a line: `web · Build.Deploy · execution 1f2e... · result=Approved`.
    pub fn target(&self) -> String {
        let mut parts = Vec::new();
        if let Some(p) = &self.pipeline {
            parts.push(p.clone());
        }
        match (&self.stage, &self.action) {
            (Some(s), Some(a)) => parts.push(format!("{s}.{a}")),
            (Some(s), None) => parts.push(s.clone()),
            (None, Some(a)) => parts.push(a.clone()),
            (None, None) => {}
        }
        if let Some(e) = &self.execution_id {
            parts.push(format!("execution {e}"));
        }
        for (k, v) in &self.details {
            match v {
                Value::String(s) => parts.push(format!("{k}={s}")),
                Value::Object(o) => {
                    let fields: Vec<String> = o
                        .values()
                        .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
                        .collect();
                    parts.push(format!("{k}={}", fields.join("/")));
                }
                other => parts.push(format!("{k}={other}")),
            }
        }
        parts.join(" · ")
    }

    /// How it ended, in a word and the error type: `ok`, `refused: AccessDeniedException`.
    pub fn outcome_text(&self) -> String {
        match &self.error {
            Some(e) => format!("{}: {e}", self.outcome.name()),
            None => self.outcome.name().to_owned(),
        }
    }

    /// Who, with the key when it is not the name: `vera (AKIA...)`.
    pub fn who(&self) -> String {
        match &self.key_id {
            Some(k) if *k != self.principal => format!("{} ({k})", self.principal),
            _ => self.principal.clone(),
        }
    }
}

/// What to read of the log.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    /// Only the calls that named this pipeline.
    pub pipeline: Option<String>,
    /// Only calls made at or after this time (Unix milliseconds).
    pub since_ms: Option<i64>,
    /// Go on after this page token (a previous page's `next`).
    pub after: Option<String>,
    /// At most this many entries (1 to [`MAX_PAGE`]).
    pub limit: usize,
}

/// One page of the log, newest first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AuditPage {
    /// The entries.
    pub entries: Vec<AuditEntry>,
    /// The token of the next (older) page, when there may be one.
    pub next: Option<String>,
}

/// Checks a page token: a previous page's `next`, a sort key of the log.
pub fn check_token(token: &str) -> Result<()> {
    let valid = token.split_once('#').is_some_and(|(ms, id)| {
        ms.len() == 15
            && ms.bytes().all(|b| b.is_ascii_digit())
            && !id.is_empty()
            && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    });
    if valid {
        Ok(())
    } else {
        Err(RuntimeError::Invalid(format!(
            "audit log page token {token:?} is not one a page answered (expected <15 digits>#<id>)"
        )))
    }
}

impl Runtime {
    /// Writes one entry (its `id` and `at_ms` as given), in the whole log and, when it names a pipeline, in
    /// that pipeline's log, expiring as `settings` say.
    pub async fn record_audit(&self, entry: &AuditEntry, settings: AuditSettings) -> Result<()> {
        let data = serde_json::to_value(entry)
            .map_err(|e| RuntimeError::Invalid(format!("audit entry: {e}")))?;
        let sk = entry.sort_key();
        let expires_at = Some(settings.expires_at(entry.at_ms));
        let mut partitions = vec![LOG_PARTITION.to_owned()];
        if let Some(p) = &entry.pipeline {
            partitions.push(pipeline_partition(p));
        }
        let writes = partitions
            .into_iter()
            .map(|pk| {
                Write::Put(
                    Item {
                        pk,
                        sk: sk.clone(),
                        version: 1,
                        data: data.clone(),
                        expires_at,
                    },
                    Condition::Absent,
                )
            })
            .collect();
        self.store.transact(writes).await?;
        Ok(())
    }

    /// A page of the log (or of one pipeline's), newest first, holding only the entries `visible` lets its
    /// reader see. Entries the reader may not see are skipped; a page that skipped many ends early, with a
    /// token to go on.
    pub async fn audit_page(
        &self,
        query: &AuditQuery,
        visible: &(dyn Fn(&AuditEntry) -> bool + Sync),
    ) -> Result<AuditPage> {
        if !(1..=MAX_PAGE).contains(&query.limit) {
            return Err(RuntimeError::Invalid(format!(
                "an audit log page holds 1 to {MAX_PAGE} entries, not {}",
                query.limit
            )));
        }
        if let Some(token) = &query.after {
            check_token(token)?;
        }
        let pk = query
            .pipeline
            .as_deref()
            .map_or_else(|| LOG_PARTITION.to_owned(), pipeline_partition);
        let batch = (query.limit + 1).clamp(25, 200);
        let mut after = query.after.clone();
        let mut page = AuditPage::default();
        let mut scanned = 0;
        loop {
            let items = self
                .store
                .query(&pk, "", Order::Descending, batch, after.as_deref())
                .await?;
            let full = items.len() == batch;
            let count = items.len();
            for (i, item) in items.into_iter().enumerate() {
                let sk = item.sk.clone();
                let entry: AuditEntry = serde_json::from_value(item.data)
                    .map_err(|e| RuntimeError::Corrupt(format!("{pk}/{sk}: {e}")))?;
                if query.since_ms.is_some_and(|since| entry.at_ms < since) {
                    return Ok(page);
                }
                scanned += 1;
                if visible(&entry) {
                    page.entries.push(entry);
                }
                let more = i + 1 < count || full;
                if page.entries.len() == query.limit || scanned >= MAX_SCANNED {
                    page.next = more.then_some(sk);
                    return Ok(page);
                }
                after = Some(sk);
            }
            if !full {
                return Ok(page);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retention_is_read_with_its_mistakes_named() {
        assert_eq!(
            AuditSettings::parse(None).expect("a value").retention_days,
            90
        );
        assert_eq!(
            AuditSettings::parse(Some(" "))
                .expect("a value")
                .retention_days,
            90
        );
        assert_eq!(
            AuditSettings::parse(Some("7"))
                .expect("a value")
                .retention_days,
            7
        );
        for bad in ["0", "-3", "ninety", "36501", "1.5"] {
            let e = AuditSettings::parse(Some(bad)).expect_err("an error");
            assert!(
                e.contains(RETENTION_VAR) && e.contains(bad) && e.contains("from 1 to"),
                "{e}"
            );
        }
    }

    #[test]
    fn entries_expire_their_retention_after_the_call() {
        let s = AuditSettings { retention_days: 2 };
        assert_eq!(s.expires_at(1_000_999), 1_000 + 2 * 86_400);
    }

    #[test]
    fn sort_keys_order_by_time_and_tokens_are_checked() {
        let (a, b) = (sort_key(999, "x"), sort_key(1_000, "a"));
        assert!(a < b, "{a} < {b}");
        assert!(check_token(&b).is_ok());
        for bad in [
            "",
            "123#a",
            "000000000001000",
            "00000000000100a#x",
            "000000000001000#a b",
        ] {
            let e = check_token(bad).expect_err("an error").to_string();
            assert!(e.contains("page token"), "{e}");
        }
    }

    #[test]
    fn entries_keep_only_what_they_hold() {
        let entry = AuditEntry {
            id: "1".into(),
            at_ms: 5,
            principal: "vera".into(),
            key_id: None,
            source: "127.0.0.1".into(),
            operation: "StartPipelineExecution".into(),
            pipeline: Some("web".into()),
            stage: None,
            action: None,
            execution_id: None,
            details: Default::default(),
            outcome: Outcome::Refused,
            error: Some("AccessDeniedException".into()),
            message: None,
        };
        let json = serde_json::to_value(&entry).expect("a value");
        assert_eq!(
            json,
            serde_json::json!({"id": "1", "atMs": 5, "principal": "vera", "source": "127.0.0.1",
                "operation": "StartPipelineExecution", "pipeline": "web", "outcome": "refused",
                "error": "AccessDeniedException"})
        );
        assert_eq!(
            serde_json::from_value::<AuditEntry>(json).expect("a value"),
            entry
        );
    }
}
