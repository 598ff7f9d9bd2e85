//! The SQLite item store: DynamoDB's single table, mirrored in one SQLite file.
//!
//! # Table
//!
//! ```sql
//! CREATE TABLE items (
//!     pk         TEXT    NOT NULL,  -- partition key, as `sluice_runtime::records::keys` builds it
//!     sk         TEXT    NOT NULL,  -- sort key; compared bytewise (BINARY collation = UTF-8 byte order,
//!                                   -- which is DynamoDB's order for string keys)
//!     version    INTEGER NOT NULL,  -- the item's version; conditional writes name the version they read
//!     data       TEXT    NOT NULL,  -- the item's attributes, JSON
//!     expires_at INTEGER,           -- unix seconds; NULL = never (DynamoDB's TTL attribute)
//!     PRIMARY KEY (pk, sk)
//! ) WITHOUT ROWID;
//! ```
//!
//! plus `schema_migrations(version, applied_at)`, one row per migration applied.
//!
//! # Semantics (the conformance suite in `tests/src/conformance/store.rs` pins them)
//!
//! - An item is alive while `now < expires_at`. Expired items are absent for `get`, `query` and conditions
//!   (an `Absent` put over an expired item succeeds), at once rather than "within 48 hours" as DynamoDB's TTL
//!   deletion: the DynamoDB adapter filters on read the same way. Expired rows are purged opportunistically
//!   by write transactions.
//! - `query` reads `sk` with a plain string prefix: `A#1` matches `A#10`, so keys end their parts with a
//!   delimiter (`A#1#`) when a neighbour could share the prefix. The prefix is bounded by a range
//!   (`prefix <= sk < successor(prefix)`), never by `LIKE`, so `%` and `_` are ordinary characters.
//! - `transact` is all or nothing, in one `BEGIN IMMEDIATE` transaction. As in DynamoDB's
//!   `TransactWriteItems`, one transaction touches an item at most once and holds at most 100 writes; an
//!   empty transaction is a no-op.
//!
//! # Concurrency and durability
//!
//! The journal is WAL, so readers never block the writer; writes take the write lock up front
//! (`BEGIN IMMEDIATE`), so two writers queue on the busy timeout instead of deadlocking on a lock upgrade.
//! Several processes may use one file at once. `synchronous=FULL`: a write acknowledged to the caller
//! survives a power cut, as an acknowledged DynamoDB write does. With `NORMAL`, WAL keeps the file
//! consistent but may lose the last commits, and a lost commit here is an approval or a stage result that
//! the state machine has already acted on. The cost is one fsync per commit, and transactions that arrive
//! together share one: whoever holds the connection commits every transaction queued meanwhile in one SQLite
//! transaction, a savepoint each (group commit), and answers each only after that commit.
//!
//! [`SqliteStore::ordered`] gives a handle whose commits are not synced on their own (`synchronous=NORMAL`
//! for that commit): they are visible at once, survive the process being killed, and become durable with the
//! next synced commit of any handle or process on the file. WAL frames are appended in commit order and
//! recovery keeps a prefix of them, so after a power cut what survives is always a prefix of the commits (a
//! synced commit carries every earlier one with it). The embedded engine writes its
//! bookkeeping (history, inbox, leases) through such a handle: everything it records is re-derived from the
//! runtime's own (synced) records by re-delivering the open tasks, which answer again from those records.

use crate::store_checks::{check_condition, validate_transaction};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, ErrorCode, OptionalExtension, TransactionBehavior};
use sluice_runtime::ports::{Item, ItemStore, Order, StoreError, Write};

/// How long a statement waits for another connection's lock before the store answers
/// [`StoreError::Busy`].
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

pub use crate::store_checks::MAX_TRANSACTION_WRITES;

/// The migrations, in order; migration `n` (1-based) is `MIGRATIONS[n - 1]`. Only ever append.
const MIGRATIONS: &[&str] = &[
    // 1: the single table, and an index for purging expired items.
    "CREATE TABLE items (
         pk         TEXT    NOT NULL,
         sk         TEXT    NOT NULL,
         version    INTEGER NOT NULL,
         data       TEXT    NOT NULL,
         expires_at INTEGER,
         PRIMARY KEY (pk, sk)
     ) WITHOUT ROWID;
     CREATE INDEX items_expires_at ON items (expires_at) WHERE expires_at IS NOT NULL;",
];

/// How many expired rows one write transaction purges at most, so a purge never makes a write slow.
const PURGE_BATCH: i64 = 100;

/// An [`ItemStore`] in a SQLite file.
///
/// Cheap to clone; clones share its two connections: one that commits, on Tokio's blocking pool, and one that
/// reads, on the caller's thread. WAL lets the reader go on while a commit waits for its fsync.
#[derive(Clone)]
pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
    /// The connection `get` and `query` read with, so reads never queue behind a commit's fsync.
    reader: Arc<Mutex<Connection>>,
    /// Transactions queued for the next group commit (see `commit_pending`).
    pending: Arc<Pending>,
    path: PathBuf,
    /// Whether this handle's commits are synced before they are acknowledged (see [`SqliteStore::ordered`]).
    synced: bool,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// The schema version this build creates and understands.
    pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

    /// Opens (creating it and its folder when missing) the store at `path` and brings its schema up to date.
    ///
    /// Blocking: call it at start-up, or inside `spawn_blocking`. Safe when several processes open the same
    /// file at once: migrations run inside a write transaction, so exactly one process applies each, and a
    /// busy file is retried for up to [`BUSY_TIMEOUT`].
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref().to_path_buf();
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| {
                StoreError::Other(format!("cannot create folder {}: {e}", parent.display()))
            })?;
        }
        // Switching a fresh file to WAL answers SQLITE_BUSY at once, without consulting the busy handler,
        // when another process is switching it at the same moment; so opening retries until the busy
        // timeout itself.
        let deadline = Instant::now() + BUSY_TIMEOUT;
        let mut pause = Duration::from_millis(2);
        loop {
            match Self::open_once(&path) {
                Err(StoreError::Busy(_)) if Instant::now() < deadline => {
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(50));
                }
                result => return result,
            }
        }
    }

    fn open_once(path: &Path) -> Result<Self, StoreError> {
        let mut conn = Connection::open(path).map_err(|e| sql_error(path, e))?;
        configure(&conn, path)?;
        migrate(&mut conn).map_err(|e| match e {
            MigrateError::Sql(e) => sql_error(path, e),
            MigrateError::TooNew(found) => StoreError::Other(format!(
                "{} has schema version {found}, newer than this build's {}: upgrade Sluice",
                path.display(),
                Self::SCHEMA_VERSION
            )),
        })?;
        // The reader opens once the schema exists; WAL is recorded in the file, so it reads in WAL mode.
        let reader = Connection::open(path).map_err(|e| sql_error(path, e))?;
        reader
            .busy_timeout(BUSY_TIMEOUT)
            .map_err(|e| sql_error(path, e))?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
            reader: Arc::new(Mutex::new(reader)),
            pending: Arc::default(),
            path: path.to_path_buf(),
            synced: true,
        })
    }

    /// A handle on the same connection whose commits are ordered but not synced on their own: each is
    /// acknowledged once written to the WAL (it survives the process being killed at once), and becomes
    /// power-cut durable with the next synced commit on the file, which carries every earlier commit with it.
    /// A transaction group-committed together with a synced one is synced with it.
    ///
    /// For writes whose loss in a power cut is made up by replaying from synced records (the embedded
    /// engine's history, inbox and leases); not for anything acknowledged to a person or another system.
    pub fn ordered(&self) -> Self {
        Self {
            synced: false,
            ..self.clone()
        }
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The schema version recorded in the file (the highest migration applied).
    pub async fn schema_version(&self) -> Result<u32, StoreError> {
        self.with_conn(|conn| schema_version(conn)).await
    }

    /// Runs `work` (a read: a few indexed rows, microseconds) with the connection on the caller's thread: a hop
    /// to the blocking pool and back would cost more than the read. It may wait for a commit in progress, which
    /// holds the connection for one fsync.
    async fn with_conn<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let mut guard = self
            .conn
            .lock()
            .map_err(|_| StoreError::Other("the connection's lock is poisoned".into()))?;
        work(&mut guard).map_err(|e| sql_error(&self.path, e))
    }

    /// Runs a read with the reading connection on the caller's thread (a few indexed rows, microseconds: a
    /// hop to the blocking pool and back would cost more). Each statement reads the newest commit, so a read
    /// after a transaction returned sees it.
    async fn with_reader<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let mut guard = self
            .reader
            .lock()
            .map_err(|_| StoreError::Other("the reading connection's lock is poisoned".into()))?;
        work(&mut guard).map_err(|e| sql_error(&self.path, e))
    }
}

fn configure(conn: &Connection, path: &Path) -> Result<(), StoreError> {
    let sql = |e| sql_error(path, e);
    conn.busy_timeout(BUSY_TIMEOUT).map_err(sql)?;
    // WAL is recorded in the file: after the first open this is a no-op.
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
        .map_err(sql)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Other(format!(
            "{}: the database refused WAL journaling (journal_mode is {mode})",
            path.display()
        )));
    }
    conn.pragma_update(None, "synchronous", "FULL")
        .map_err(sql)?;
    Ok(())
}

enum MigrateError {
    Sql(rusqlite::Error),
    TooNew(u32),
}

impl From<rusqlite::Error> for MigrateError {
    fn from(e: rusqlite::Error) -> Self {
        Self::Sql(e)
    }
}

/// Applies the missing migrations in one write transaction: a second process opening at the same moment waits
/// for it, then finds nothing to do.
fn migrate(conn: &mut Connection) -> Result<(), MigrateError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    tx.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             version    INTEGER PRIMARY KEY,
             applied_at INTEGER NOT NULL
         );",
    )?;
    let current = schema_version(&tx)?;
    if current > SqliteStore::SCHEMA_VERSION {
        return Err(MigrateError::TooNew(current));
    }
    for (number, sql) in (1u32..).zip(MIGRATIONS).skip(current as usize) {
        tx.execute_batch(sql)?;
        tx.execute(
            "INSERT INTO schema_migrations (version, applied_at) VALUES (?1, ?2)",
            (number, now()),
        )?;
    }
    tx.commit()?;
    Ok(())
}

fn schema_version(conn: &Connection) -> rusqlite::Result<u32> {
    conn.query_row(
        "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
        [],
        |row| row.get(0),
    )
}

/// Unix seconds now.
fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

fn sql_error(path: &Path, e: rusqlite::Error) -> StoreError {
    let busy = matches!(
        e.sqlite_error_code(),
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
    );
    let message = format!("{}: {e}", path.display());
    if busy {
        StoreError::Busy(message)
    } else {
        StoreError::Other(message)
    }
}

/// A failure inside a transaction: SQLite's, or a write the store refuses.
enum TxError {
    Sql(rusqlite::Error),
    Store(StoreError),
}

impl From<rusqlite::Error> for TxError {
    fn from(e: rusqlite::Error) -> Self {
        Self::Sql(e)
    }
}

const COLUMNS: &str = "pk, sk, version, data, expires_at";

fn read_item(row: &rusqlite::Row<'_>) -> rusqlite::Result<Item> {
    let version: i64 = row.get(2)?;
    let data: String = row.get(3)?;
    Ok(Item {
        pk: row.get(0)?,
        sk: row.get(1)?,
        version: u64::try_from(version).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(
                2,
                rusqlite::types::Type::Integer,
                Box::new(e),
            )
        })?,
        data: serde_json::from_str(&data).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(3, rusqlite::types::Type::Text, Box::new(e))
        })?,
        expires_at: row.get(4)?,
    })
}

/// The smallest string greater than every string starting with `prefix`, or `None` when there is none (an
/// empty prefix, or one made only of `char::MAX`). Code-point order is UTF-8 byte order, SQLite's order.
fn prefix_end(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let next = match last {
            '\u{D7FF}' => Some('\u{E000}'),
            c => char::from_u32(u32::from(c) + 1),
        };
        if let Some(next) = next {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

/// A transaction waiting for a commit: its writes, where its answer goes, and whether it must be synced.
type Queued = (
    Vec<Write>,
    tokio::sync::oneshot::Sender<Result<(), StoreError>>,
    bool,
);

/// Transactions waiting for a commit.
type Pending = Mutex<Vec<Queued>>;

/// Group commit: whoever holds the connection commits every transaction queued so far in one SQLite
/// transaction (one WAL fsync), each inside a savepoint of its own, so each is still all or nothing and one
/// refused does not touch the others; they apply in queue order, as if committed one after another. Every
/// answer is sent only after the commit, so an acknowledged write is as durable as before.
fn commit_pending(conn: &Mutex<Connection>, pending: &Pending, path: &Path) {
    let Ok(mut guard) = conn.lock() else {
        fail_all(pending, "the connection's lock is poisoned");
        return;
    };
    let batch = match pending.lock() {
        Ok(mut queue) => std::mem::take(&mut *queue),
        Err(_) => return,
    };
    if batch.is_empty() {
        // Another caller's task committed this one's transaction with its own.
        return;
    }
    let map = |e: TxError| match e {
        TxError::Sql(e) => sql_error(path, e),
        TxError::Store(e) => e,
    };
    let mut results: Vec<Result<(), StoreError>> = Vec::with_capacity(batch.len());
    let synced = batch.iter().any(|(_, _, synced)| *synced);
    let outcome = (|| -> Result<(), TxError> {
        // The commit syncs when any transaction of the batch must be (see `SqliteStore::ordered`).
        guard.pragma_update(None, "synchronous", if synced { "FULL" } else { "NORMAL" })?;
        // Dropping the transaction on an error rolls it back.
        let tx = guard.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let now = now();
        for (writes, _, _) in &batch {
            if batch.len() == 1 {
                results.push(apply(&tx, writes, now).map_err(map));
                continue;
            }
            tx.execute_batch("SAVEPOINT one")?;
            match apply(&tx, writes, now) {
                Ok(()) => {
                    tx.execute_batch("RELEASE one")?;
                    results.push(Ok(()));
                }
                Err(e) => {
                    tx.execute_batch("ROLLBACK TO one; RELEASE one")?;
                    results.push(Err(map(e)));
                }
            }
        }
        if results.iter().any(Result::is_ok) {
            tx.commit()?;
        }
        Ok(())
    })();
    match outcome {
        Ok(()) => {
            for ((_, reply, _), result) in batch.into_iter().zip(results) {
                let _ = reply.send(result);
            }
        }
        Err(e) => {
            let e = map(e);
            for (_, reply, _) in batch {
                let _ = reply.send(Err(match &e {
                    StoreError::ConditionFailed(m) => StoreError::ConditionFailed(m.clone()),
                    StoreError::Busy(m) => StoreError::Busy(m.clone()),
                    StoreError::Other(m) => StoreError::Other(m.clone()),
                }));
            }
        }
    }
}

fn fail_all(pending: &Pending, why: &str) {
    if let Ok(mut queue) = pending.lock() {
        for (_, reply, _) in queue.drain(..) {
            let _ = reply.send(Err(StoreError::Other(why.to_owned())));
        }
    }
}

/// The current version of a live item, inside a transaction.
fn live_version(tx: &Connection, pk: &str, sk: &str, now: i64) -> rusqlite::Result<Option<u64>> {
    let version: Option<i64> = tx
        .prepare_cached(
            "SELECT version FROM items
             WHERE pk = ?1 AND sk = ?2 AND (expires_at IS NULL OR expires_at > ?3)",
        )?
        .query_row((pk, sk, now), |row| row.get(0))
        .optional()?;
    // A negative version cannot be written through this store; read it as "no version" would hide
    // corruption, so map it to the largest version, which no condition names.
    Ok(version.map(|v| u64::try_from(v).unwrap_or(u64::MAX)))
}

fn apply(tx: &Connection, writes: &[Write], now: i64) -> Result<(), TxError> {
    for (index, write) in writes.iter().enumerate() {
        let (pk, sk, condition) = match write {
            Write::Put(item, condition) => (item.pk.as_str(), item.sk.as_str(), *condition),
            Write::Delete { pk, sk, condition } => (pk.as_str(), sk.as_str(), *condition),
        };
        let current = live_version(tx, pk, sk, now)?;
        if let Err(why) = check_condition(condition, current) {
            let kind = if matches!(write, Write::Put(..)) {
                "put"
            } else {
                "delete"
            };
            return Err(TxError::Store(StoreError::ConditionFailed(format!(
                "write {index} ({kind}) of pk={pk:?} sk={sk:?}: {why}"
            ))));
        }
        match write {
            Write::Put(item, _) => {
                let version = i64::try_from(item.version).map_err(|_| {
                    TxError::Store(StoreError::Other(format!(
                        "pk={pk:?} sk={sk:?}: version {} is too large to store",
                        item.version
                    )))
                })?;
                let data = serde_json::to_string(&item.data).map_err(|e| {
                    TxError::Store(StoreError::Other(format!("pk={pk:?} sk={sk:?}: {e}")))
                })?;
                tx.prepare_cached(
                    "INSERT INTO items (pk, sk, version, data, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT (pk, sk) DO UPDATE SET
                         version = excluded.version,
                         data = excluded.data,
                         expires_at = excluded.expires_at",
                )?
                .execute((pk, sk, version, data, item.expires_at))?;
            }
            Write::Delete { .. } => {
                tx.prepare_cached("DELETE FROM items WHERE pk = ?1 AND sk = ?2")?
                    .execute((pk, sk))?;
            }
        }
    }
    // Opportunistic TTL purge, bounded, inside the transaction that already holds the write lock.
    tx.prepare_cached(
        "DELETE FROM items WHERE (pk, sk) IN (
             SELECT pk, sk FROM items WHERE expires_at IS NOT NULL AND expires_at <= ?1 LIMIT ?2
         )",
    )?
    .execute((now, PURGE_BATCH))?;
    Ok(())
}

#[async_trait]
impl ItemStore for SqliteStore {
    async fn get(&self, pk: &str, sk: &str) -> Result<Option<Item>, StoreError> {
        let (pk, sk) = (pk.to_owned(), sk.to_owned());
        self.with_reader(move |conn| {
            conn.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM items
                 WHERE pk = ?1 AND sk = ?2 AND (expires_at IS NULL OR expires_at > ?3)"
            ))?
            .query_row((pk, sk, now()), read_item)
            .optional()
        })
        .await
    }

    async fn query(
        &self,
        pk: &str,
        prefix: &str,
        order: Order,
        limit: usize,
        after: Option<&str>,
    ) -> Result<Vec<Item>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        // Each bound is its own `sk` comparison so SQLite turns them into a range on the primary key.
        let mut sql = format!("SELECT {COLUMNS} FROM items WHERE pk = ?1");
        let mut params = vec![SqlValue::Text(pk.to_owned())];
        let mut bind = |sql: &mut String, clause: &str, value: SqlValue| {
            params.push(value);
            sql.push_str(&clause.replace('?', &format!("?{}", params.len())));
        };
        if !prefix.is_empty() {
            bind(&mut sql, " AND sk >= ?", SqlValue::Text(prefix.to_owned()));
            if let Some(end) = prefix_end(prefix) {
                bind(&mut sql, " AND sk < ?", SqlValue::Text(end));
            }
        }
        if let Some(after) = after {
            let clause = match order {
                Order::Ascending => " AND sk > ?",
                Order::Descending => " AND sk < ?",
            };
            bind(&mut sql, clause, SqlValue::Text(after.to_owned()));
        }
        bind(
            &mut sql,
            " AND (expires_at IS NULL OR expires_at > ?)",
            SqlValue::Integer(now()),
        );
        sql.push_str(match order {
            Order::Ascending => " ORDER BY sk ASC",
            Order::Descending => " ORDER BY sk DESC",
        });
        bind(
            &mut sql,
            " LIMIT ?",
            SqlValue::Integer(i64::try_from(limit).unwrap_or(i64::MAX)),
        );
        self.with_reader(move |conn| {
            let mut statement = conn.prepare_cached(&sql)?;
            let rows = statement.query_map(rusqlite::params_from_iter(params), read_item)?;
            rows.collect()
        })
        .await
    }

    async fn transact(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        if writes.is_empty() {
            return Ok(());
        }
        validate_transaction(&writes)?;
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.pending
            .lock()
            .map_err(|_| StoreError::Other("the commit queue's lock is poisoned".into()))?
            .push((writes, reply, self.synced));
        let conn = Arc::clone(&self.conn);
        let pending = Arc::clone(&self.pending);
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || commit_pending(&conn, &pending, &path))
            .await
            .map_err(|e| StoreError::Other(format!("store task failed: {e}")))?;
        answer
            .await
            .map_err(|_| StoreError::Other("the store dropped a transaction".into()))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use sluice_runtime::ports::Condition;

    fn check_prefix_end(prefix: &str, expected: Option<&str>) {
        assert_eq!(prefix_end(prefix).as_deref(), expected, "prefix {prefix:?}");
    }

    #[test]
    fn prefix_end_is_the_next_string_after_every_extension() {
        check_prefix_end("", None);
        check_prefix_end("A#1", Some("A#2"));
        check_prefix_end("A#", Some("A$"));
        check_prefix_end("a\u{D7FF}", Some("a\u{E000}"));
        check_prefix_end("a\u{10FFFF}", Some("b"));
        check_prefix_end("\u{10FFFF}\u{10FFFF}", None);
        check_prefix_end("é", Some("ê"));
    }

    fn check_condition_case(condition: Condition, current: Option<u64>, holds: bool) {
        assert_eq!(
            check_condition(condition, current).is_ok(),
            holds,
            "{condition:?} against {current:?}"
        );
    }

    #[test]
    fn conditions_hold_exactly_when_dynamodb_would_accept_the_write() {
        check_condition_case(Condition::None, None, true);
        check_condition_case(Condition::None, Some(3), true);
        check_condition_case(Condition::Absent, None, true);
        check_condition_case(Condition::Absent, Some(1), false);
        check_condition_case(Condition::Version(2), Some(2), true);
        check_condition_case(Condition::Version(2), Some(3), false);
        check_condition_case(Condition::Version(2), None, false);
    }

    fn item(pk: &str, sk: &str, expires_at: Option<i64>) -> Item {
        Item {
            pk: pk.into(),
            sk: sk.into(),
            version: 1,
            data: json!({}),
            expires_at,
        }
    }

    #[tokio::test]
    async fn expired_rows_are_purged_by_the_next_write() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SqliteStore::open(dir.path().join("s.db")).expect("open");
        let past = now() - 10;
        store
            .transact(vec![
                Write::Put(item("p", "old", Some(past)), Condition::None),
                Write::Put(item("p", "live", None), Condition::None),
            ])
            .await
            .expect("put");
        store
            .transact(vec![Write::Put(item("p", "other", None), Condition::None)])
            .await
            .expect("put");
        let rows: i64 = store
            .with_conn(|c| c.query_row("SELECT COUNT(*) FROM items", [], |r| r.get(0)))
            .await
            .expect("count");
        assert_eq!(rows, 2, "the expired row is gone, the two live ones stay");
    }

    #[tokio::test]
    async fn a_transaction_writing_one_item_twice_is_refused_like_dynamodb() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SqliteStore::open(dir.path().join("s.db")).expect("open");
        let err = store
            .transact(vec![
                Write::Put(item("p", "a", None), Condition::None),
                Write::Delete {
                    pk: "p".into(),
                    sk: "a".into(),
                    condition: Condition::None,
                },
            ])
            .await
            .expect_err("refused");
        assert!(matches!(err, StoreError::Other(_)), "{err:?}");
        assert_eq!(store.get("p", "a").await.expect("get"), None);
    }

    #[tokio::test]
    async fn ordered_commits_skip_the_sync_and_synced_ones_make_it_again() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SqliteStore::open(dir.path().join("s.db")).expect("open");
        let ordered = store.ordered();
        let synchronous = |s: &SqliteStore| {
            let s = s.clone();
            async move {
                s.with_conn(|c| c.query_row("PRAGMA synchronous", [], |r| r.get::<_, i64>(0)))
                    .await
                    .expect("pragma")
            }
        };
        ordered
            .transact(vec![Write::Put(item("p", "a", None), Condition::Absent)])
            .await
            .expect("ordered put");
        assert_eq!(
            synchronous(&store).await,
            1,
            "NORMAL: the ordered commit was not synced"
        );
        assert!(
            store.get("p", "a").await.expect("get").is_some(),
            "the synced handle reads the ordered commit at once"
        );
        store
            .transact(vec![Write::Put(item("p", "b", None), Condition::Absent)])
            .await
            .expect("synced put");
        assert_eq!(
            synchronous(&store).await,
            2,
            "FULL: the synced commit was synced"
        );
        drop((store, ordered));
        let reopened = SqliteStore::open(dir.path().join("s.db")).expect("reopen");
        for sk in ["a", "b"] {
            assert!(
                reopened.get("p", sk).await.expect("get").is_some(),
                "{sk} kept"
            );
        }
    }

    #[tokio::test]
    async fn reads_do_not_wait_for_the_committing_connection() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SqliteStore::open(dir.path().join("s.db")).expect("open");
        store
            .transact(vec![Write::Put(item("p", "a", None), Condition::Absent)])
            .await
            .expect("put");
        // Hold the committing connection, as a commit waiting for its fsync does.
        let (held_tx, held_rx) = std::sync::mpsc::channel();
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        let conn = Arc::clone(&store.conn);
        let holder = std::thread::spawn(move || {
            let _guard = conn.lock().expect("lock");
            held_tx.send(()).expect("tell");
            let _ = release_rx.recv();
        });
        held_rx.recv().expect("held");
        let read = tokio::time::timeout(Duration::from_secs(2), async {
            (
                store.get("p", "a").await,
                store.query("p", "", Order::Ascending, 10, None).await,
            )
        })
        .await
        .expect("the reads answer while the committing connection is busy");
        release_tx.send(()).expect("release");
        holder.join().expect("holder");
        assert!(read.0.expect("get").is_some());
        assert_eq!(read.1.expect("query").len(), 1);
    }

    #[tokio::test]
    async fn a_write_lock_held_elsewhere_past_the_timeout_is_busy() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("s.db");
        let store = SqliteStore::open(&path).expect("open");
        store
            .with_conn(|c| c.busy_timeout(Duration::from_millis(50)))
            .await
            .expect("shorter timeout");
        let other = Connection::open(&path).expect("second connection");
        other
            .execute_batch("BEGIN IMMEDIATE")
            .expect("hold the write lock");
        let err = store
            .transact(vec![Write::Put(item("p", "a", None), Condition::None)])
            .await
            .expect_err("busy");
        assert!(matches!(err, StoreError::Busy(_)), "{err:?}");
        other.execute_batch("ROLLBACK").expect("release");
    }
}
