//! The embedded adapters (`sluice-local`) against the conformance suites, plus what only a real file shows:
//! two processes writing one SQLite database at once, migrations on reopen, and the JSONL event log under
//! concurrent publishers and torn writes.

use std::collections::BTreeSet;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde_json::json;
use sluice_local::{read_events, FolderObjectStore, JsonlEventLog, SqliteStore};
use sluice_runtime::ports::{
    Condition, EventSink, Item, ItemStore, ObjectError, ObjectStore, Write,
};
use sluice_tests::conformance::{self, objects::Corrupter};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_store_passes_the_item_store_conformance_suite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteStore::open(dir.path().join("store.db")).expect("open");
    let passed = conformance::store::run_all(&store)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(passed, 15);
}

/// Flips bytes in the middle of a stored object's file, keeping its size and sidecar.
struct FlipBytes(FolderObjectStore);

#[async_trait]
impl Corrupter for FlipBytes {
    async fn corrupt(&self, bucket: &str, key: &str) -> Result<(), String> {
        let path = self.0.object_path(bucket, key).map_err(|e| e.to_string())?;
        let mut bytes = std::fs::read(&path).map_err(|e| e.to_string())?;
        let middle = bytes.len() / 2;
        for byte in bytes.iter_mut().skip(middle).take(16) {
            *byte ^= 0xff;
        }
        std::fs::write(&path, bytes).map_err(|e| e.to_string())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn folder_object_store_passes_the_object_store_conformance_suite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = FolderObjectStore::open(dir.path().join("objects")).expect("open");
    let scratch = dir.path().join("scratch");
    let passed =
        conformance::objects::run_all(&store, "artifacts", &scratch, &FlipBytes(store.clone()))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(passed, 8);
}

#[tokio::test]
async fn a_truncated_object_is_corrupt_for_head_and_get() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = FolderObjectStore::open(dir.path().join("objects")).expect("open");
    let source = dir.path().join("source");
    std::fs::write(&source, vec![7u8; 10_000]).expect("write");
    store
        .put_file("artifacts", "p/a/1", &source)
        .await
        .expect("put");
    let object = store.object_path("artifacts", "p/a/1").expect("path");
    std::fs::write(&object, [7u8; 10]).expect("truncate");
    let head = store.head("artifacts", "p/a/1").await;
    assert!(matches!(head, Err(ObjectError::Corrupt { .. })), "{head:?}");
    let dest = dir.path().join("dest");
    let get = store.get_file("artifacts", "p/a/1", &dest).await;
    assert!(matches!(get, Err(ObjectError::Corrupt { .. })), "{get:?}");
    assert!(!dest.exists());
}

#[tokio::test]
async fn a_key_and_a_longer_key_through_it_cannot_both_be_stored() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = FolderObjectStore::open(dir.path().join("objects")).expect("open");
    let source = dir.path().join("source");
    std::fs::write(&source, b"x").expect("write");
    store
        .put_file("artifacts", "a/b", &source)
        .await
        .expect("put a/b");
    let err = store
        .put_file("artifacts", "a", &source)
        .await
        .expect_err("a is a folder");
    let root = dir.path().display().to_string();
    let said = err.to_string();
    assert!(matches!(err, ObjectError::Conflict(_)), "{err:?}");
    assert!(
        said.contains("s3://artifacts/a: longer keys under `a/`"),
        "{said}"
    );
    assert!(!said.contains(&root), "no machine path: {said}");
    store
        .put_file("artifacts", "c", &source)
        .await
        .expect("put c");
    let err = store
        .put_file("artifacts", "c/d", &source)
        .await
        .expect_err("c is a file");
    let said = err.to_string();
    assert!(matches!(err, ObjectError::Conflict(_)), "{err:?}");
    assert!(
        said.contains("s3://artifacts/c/d: `c` is already an object"),
        "{said}"
    );
    assert!(!said.contains(&root), "no machine path: {said}");
    let missing = store.head("artifacts", "c/d").await;
    assert!(
        matches!(missing, Err(ObjectError::NotFound { .. })),
        "{missing:?}"
    );
}

// Two processes, one database: the parent starts two copies of this test binary, each running
// `child_process_for_the_two_process_test`, which does nothing unless these variables are set.
const CHILD_DB: &str = "SLUICE_TEST_CHILD_DB";
const CHILD_ID: &str = "SLUICE_TEST_CHILD_ID";
const CHILD_PEERS: &str = "SLUICE_TEST_CHILD_PEERS";
const CHILD_TEST: &str = "child_process_for_the_two_process_test";
const INCREMENTS_PER_CHILD: u64 = 150;

fn unix_micros() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_micros()
}

fn wait_for(path: &Path, deadline: Duration) {
    let start = Instant::now();
    while !path.exists() {
        assert!(
            start.elapsed() < deadline,
            "{} never appeared",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[tokio::test]
async fn child_process_for_the_two_process_test() {
    let (Some(db), Ok(id), Ok(peers)) = (
        std::env::var_os(CHILD_DB),
        std::env::var(CHILD_ID),
        std::env::var(CHILD_PEERS),
    ) else {
        return; // run as an ordinary test: nothing to do
    };
    let db = PathBuf::from(db);
    // Barrier: say we are ready, start when the parent says go, so both children open at once.
    std::fs::write(db.with_extension(format!("ready-{id}")), b"").expect("ready");
    wait_for(&db.with_extension("go"), Duration::from_secs(60));

    // Both open the fresh file at once: migrations race too.
    let store = SqliteStore::open(&db).expect("open");
    let counter = Item {
        pk: "COUNTER".into(),
        sk: "shared".into(),
        version: 1,
        data: json!({"n": 0}),
        expires_at: None,
    };
    match store
        .transact(vec![Write::Put(counter, Condition::Absent)])
        .await
    {
        Ok(()) | Err(sluice_runtime::ports::StoreError::ConditionFailed(_)) => {}
        Err(e) => panic!("creating the counter: {e}"),
    }
    // Second barrier: SQLite's busy handler is not fair, so without it the first child to open can finish
    // every increment while the other still waits to run its migrations.
    std::fs::write(db.with_extension(format!("opened-{id}")), b"").expect("opened");
    for peer in peers.split(',') {
        wait_for(
            &db.with_extension(format!("opened-{peer}")),
            Duration::from_secs(60),
        );
    }
    let mut lost = 0;
    let start = unix_micros();
    for _ in 0..INCREMENTS_PER_CHILD {
        lost += conformance::store::increment(&store, "COUNTER", "shared")
            .await
            .unwrap_or_else(|e| panic!("child {id}: {e}"));
    }
    let end = unix_micros();
    println!("CHILD-OK id={id} start={start} end={end} lost={lost}");
}

#[tokio::test]
async fn two_processes_incrementing_one_sqlite_file_lose_no_update() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("shared.db");
    let exe = std::env::current_exe().expect("test binary");
    let children: Vec<_> = ["a", "b"]
        .into_iter()
        .map(|id| {
            let child = Command::new(&exe)
                .args(["--exact", CHILD_TEST, "--nocapture", "--test-threads=1"])
                .env(CHILD_DB, &db)
                .env(CHILD_ID, id)
                .env(CHILD_PEERS, "a,b")
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("start a child");
            (id, child)
        })
        .collect();
    for (id, _) in &children {
        wait_for(
            &db.with_extension(format!("ready-{id}")),
            Duration::from_secs(60),
        );
    }
    std::fs::write(db.with_extension("go"), b"").expect("go");

    let outputs = tokio::task::spawn_blocking(move || {
        children
            .into_iter()
            .map(|(id, child)| (id, child.wait_with_output().expect("child runs")))
            .collect::<Vec<_>>()
    })
    .await
    .expect("join");
    let mut lost_total = 0u64;
    let mut windows = Vec::new();
    for (id, output) in &outputs {
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "child {id} failed: {}\n{stdout}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        // libtest prints the test's name on the same line, before the child's report.
        let report = stdout
            .lines()
            .find_map(|l| l.split_once(&format!("CHILD-OK id={id} ")).map(|(_, r)| r))
            .unwrap_or_else(|| {
                panic!("child {id} did not report (did it run the test?):\n{stdout}")
            });
        let field = |name: &str| -> u128 {
            report
                .split_whitespace()
                .find_map(|f| f.strip_prefix(name)?.strip_prefix('='))
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("child {id} reported no {name}: {report}"))
        };
        lost_total += u64::try_from(field("lost")).expect("lost count");
        windows.push((field("start"), field("end")));
    }
    let overlap = windows.iter().map(|w| w.1).min() > windows.iter().map(|w| w.0).max();
    assert!(
        overlap,
        "the children's increments did not overlap in time: {windows:?}"
    );

    let store = SqliteStore::open(&db).expect("open");
    let counter = store
        .get("COUNTER", "shared")
        .await
        .expect("get")
        .expect("counter");
    assert_eq!(counter.data, json!({"n": 2 * INCREMENTS_PER_CHILD}));
    assert_eq!(counter.version, 2 * INCREMENTS_PER_CHILD + 1);
    assert_eq!(
        store.schema_version().await.expect("version"),
        SqliteStore::SCHEMA_VERSION
    );
    println!(
        "two processes: {} increments, {lost_total} lost attempts retried",
        2 * INCREMENTS_PER_CHILD
    );
}

fn migration_rows(db: &Path) -> Vec<i64> {
    let conn = rusqlite::Connection::open(db).expect("open raw");
    let mut statement = conn
        .prepare("SELECT version FROM schema_migrations ORDER BY version")
        .expect("prepare");
    let rows = statement
        .query_map([], |row| row.get(0))
        .expect("query")
        .collect::<Result<Vec<i64>, _>>()
        .expect("rows");
    rows
}

#[tokio::test]
async fn reopening_a_store_keeps_its_schema_and_items() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("nested/dir/store.db");
    let first = SqliteStore::open(&db).expect("first open");
    let item = Item {
        pk: "P".into(),
        sk: "S".into(),
        version: 1,
        data: json!({"kept": true}),
        expires_at: None,
    };
    first
        .transact(vec![Write::Put(item.clone(), Condition::Absent)])
        .await
        .expect("put");
    drop(first);
    let second = SqliteStore::open(&db).expect("second open");
    assert_eq!(
        second.schema_version().await.expect("version"),
        SqliteStore::SCHEMA_VERSION
    );
    assert_eq!(second.get("P", "S").await.expect("get"), Some(item));
    let expected: Vec<i64> = (1..=i64::from(SqliteStore::SCHEMA_VERSION)).collect();
    assert_eq!(
        migration_rows(&db),
        expected,
        "each migration recorded once"
    );
}

/// Switching a fresh file to WAL answers `SQLITE_BUSY` without waiting when two connections do it at once (about
/// one race in three); `open` must absorb that.
#[test]
fn concurrent_opens_of_a_fresh_file_all_succeed_and_migrate_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let expected: Vec<i64> = (1..=i64::from(SqliteStore::SCHEMA_VERSION)).collect();
    for round in 0..10 {
        let db = dir.path().join(format!("store-{round}.db"));
        std::thread::scope(|scope| {
            let openers: Vec<_> = (0..8)
                .map(|_| scope.spawn(|| SqliteStore::open(&db).map(drop)))
                .collect();
            for opener in openers {
                opener.join().expect("thread").expect("open");
            }
        });
        assert_eq!(migration_rows(&db), expected);
    }
}

#[test]
fn a_database_from_a_newer_sluice_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("store.db");
    drop(SqliteStore::open(&db).expect("open"));
    let conn = rusqlite::Connection::open(&db).expect("open raw");
    conn.execute(
        "INSERT INTO schema_migrations (version, applied_at) VALUES (?1, 0)",
        [SqliteStore::SCHEMA_VERSION + 1],
    )
    .expect("pretend a newer migration ran");
    drop(conn);
    let err = SqliteStore::open(&db).expect_err("refused");
    assert!(err.to_string().contains("newer"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_publishers_write_whole_lines() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("logs/events.jsonl");
    let log = JsonlEventLog::open(&path).expect("open");
    // Lines larger than a pipe buffer and a page, so a split write would show.
    let padding = "x".repeat(10_000);
    let publishers: Vec<_> = (0..8)
        .map(|publisher| {
            let (log, padding) = (log.clone(), padding.clone());
            tokio::spawn(async move {
                for n in 0..50 {
                    let event = json!({"detail-type": "CodePipeline Action Execution State Change",
                                       "publisher": publisher, "n": n, "padding": padding});
                    log.publish(&event).await.expect("publish");
                }
            })
        })
        .collect();
    for publisher in publishers {
        publisher.await.expect("publisher");
    }
    let raw = std::fs::read_to_string(&path).expect("read raw");
    for (number, line) in raw.lines().enumerate() {
        serde_json::from_str::<serde_json::Value>(line)
            .unwrap_or_else(|e| panic!("line {} does not parse: {e}", number + 1));
    }
    let events = read_events(&path).expect("read");
    assert_eq!(events.len(), 400);
    let seen: BTreeSet<(u64, u64)> = events
        .iter()
        .map(|e| {
            (
                e["publisher"].as_u64().expect("publisher"),
                e["n"].as_u64().expect("n"),
            )
        })
        .collect();
    assert_eq!(seen.len(), 400, "every event exactly once");
}

#[tokio::test]
async fn a_torn_last_line_is_skipped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("events.jsonl");
    let log = JsonlEventLog::open(&path).expect("open");
    for n in 0..3 {
        log.publish(&json!({"n": n})).await.expect("publish");
    }
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .expect("open for the tear");
    file.write_all(br#"{"n": 3, "detail": {"sta"#)
        .expect("tear");
    let events = read_events(&path).expect("read");
    assert_eq!(
        events,
        vec![json!({"n": 0}), json!({"n": 1}), json!({"n": 2})]
    );
}
