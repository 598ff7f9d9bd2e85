//! The item store's conformance suite: what SQLite and DynamoDB both guarantee.
//!
//! Conditions (absent, version) are the only concurrency control the handlers have, so most checks are about
//! them: every losing write is `ConditionFailed` and leaves no trace, and racing writers never lose an update.

use futures::future::join_all;
use serde_json::{json, Value};
use sluice_runtime::ports::{Condition, Item, ItemStore, Order, StoreError, Write};

use super::{ensure, namespace, Context, Outcome, Report};

/// An item at `version` with `data` and no expiry.
fn item(pk: &str, sk: &str, version: u64, data: Value) -> Item {
    Item {
        pk: pk.to_owned(),
        sk: sk.to_owned(),
        version,
        data,
        expires_at: None,
    }
}

async fn put(store: &dyn ItemStore, item: Item, condition: Condition) -> Result<(), StoreError> {
    store.transact(vec![Write::Put(item, condition)]).await
}

async fn delete(
    store: &dyn ItemStore,
    pk: &str,
    sk: &str,
    condition: Condition,
) -> Result<(), StoreError> {
    store
        .transact(vec![Write::Delete {
            pk: pk.to_owned(),
            sk: sk.to_owned(),
            condition,
        }])
        .await
}

/// `Ok` when `result` is a `ConditionFailed`, otherwise what it was instead.
fn expect_condition_failed(result: Result<(), StoreError>, what: &str) -> Outcome {
    match result {
        Err(StoreError::ConditionFailed(_)) => Ok(()),
        other => Err(format!("{what}: expected ConditionFailed, got {other:?}")),
    }
}

fn sort_keys(items: &[Item]) -> Vec<&str> {
    items.iter().map(|i| i.sk.as_str()).collect()
}

/// Unix seconds now.
fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Reading an item never written gives `None`.
pub async fn get_of_a_missing_item_is_none(store: &dyn ItemStore, ns: &str) -> Outcome {
    let got = store.get(ns, "nothing").await.context("get")?;
    ensure!(got.is_none(), "expected None, got {got:?}");
    Ok(())
}

/// What is put is what is read: keys, version, nested data and expiry.
pub async fn put_then_get_returns_the_item(store: &dyn ItemStore, ns: &str) -> Outcome {
    let mut written = item(
        ns,
        "EXEC#0001#",
        7,
        json!({"status": "InProgress", "stages": [{"name": "Build", "n": 1.5}], "note": "ünïcode ✓", "none": null}),
    );
    written.expires_at = Some(now() + 86_400);
    put(store, written.clone(), Condition::Absent)
        .await
        .context("put")?;
    let read = store.get(ns, "EXEC#0001#").await.context("get")?;
    ensure!(
        read.as_ref() == Some(&written),
        "wrote {written:?}, read {read:?}"
    );
    Ok(())
}

/// A second `Absent` put of the same key fails and the first item stays.
pub async fn absent_put_twice_fails_the_second_time(store: &dyn ItemStore, ns: &str) -> Outcome {
    put(
        store,
        item(ns, "lock", 1, json!({"owner": "first"})),
        Condition::Absent,
    )
    .await
    .context("first put")?;
    expect_condition_failed(
        put(
            store,
            item(ns, "lock", 1, json!({"owner": "second"})),
            Condition::Absent,
        )
        .await,
        "second Absent put",
    )?;
    let kept = store.get(ns, "lock").await.context("get")?;
    ensure!(
        kept.as_ref().map(|i| &i.data) == Some(&json!({"owner": "first"})),
        "the first item should stay, found {kept:?}"
    );
    Ok(())
}

/// A put naming the current version succeeds; one naming an older version, or a missing item's, fails.
pub async fn version_condition_accepts_current_and_refuses_stale(
    store: &dyn ItemStore,
    ns: &str,
) -> Outcome {
    put(
        store,
        item(ns, "rec", 1, json!({"n": 1})),
        Condition::Absent,
    )
    .await
    .context("create")?;
    put(
        store,
        item(ns, "rec", 2, json!({"n": 2})),
        Condition::Version(1),
    )
    .await
    .context("update at the current version")?;
    expect_condition_failed(
        put(
            store,
            item(ns, "rec", 2, json!({"n": 99})),
            Condition::Version(1),
        )
        .await,
        "update at a stale version",
    )?;
    expect_condition_failed(
        put(
            store,
            item(ns, "rec", 3, json!({"n": 99})),
            Condition::Version(3),
        )
        .await,
        "update at a future version",
    )?;
    expect_condition_failed(
        put(
            store,
            item(ns, "missing", 2, json!({})),
            Condition::Version(1),
        )
        .await,
        "update of a missing item",
    )?;
    let read = store.get(ns, "rec").await.context("get")?;
    ensure!(
        read.as_ref().map(|i| (i.version, &i.data)) == Some((2, &json!({"n": 2}))),
        "expected version 2 with n = 2, found {read:?}"
    );
    Ok(())
}

/// `Condition::None` writes whatever is there.
pub async fn unconditional_put_overwrites(store: &dyn ItemStore, ns: &str) -> Outcome {
    put(store, item(ns, "x", 5, json!({"v": "a"})), Condition::None)
        .await
        .context("first put")?;
    put(store, item(ns, "x", 1, json!({"v": "b"})), Condition::None)
        .await
        .context("second put")?;
    let read = store.get(ns, "x").await.context("get")?;
    ensure!(
        read.as_ref().map(|i| (i.version, &i.data)) == Some((1, &json!({"v": "b"}))),
        "expected the second put, found {read:?}"
    );
    Ok(())
}

/// Deletes honour their conditions; deleting a missing item unconditionally is not an error.
pub async fn delete_honours_conditions(store: &dyn ItemStore, ns: &str) -> Outcome {
    put(store, item(ns, "d", 3, json!({})), Condition::Absent)
        .await
        .context("create")?;
    expect_condition_failed(
        delete(store, ns, "d", Condition::Version(2)).await,
        "stale delete",
    )?;
    expect_condition_failed(
        delete(store, ns, "d", Condition::Absent).await,
        "Absent delete of an item",
    )?;
    ensure!(
        store.get(ns, "d").await.context("get")?.is_some(),
        "a failed delete removed the item"
    );
    delete(store, ns, "d", Condition::Version(3))
        .await
        .context("delete at the current version")?;
    ensure!(
        store.get(ns, "d").await.context("get")?.is_none(),
        "the item survived its delete"
    );
    expect_condition_failed(
        delete(store, ns, "d", Condition::Version(3)).await,
        "versioned delete of a missing item",
    )?;
    delete(store, ns, "d", Condition::None)
        .await
        .context("unconditional delete of a missing item")?;
    delete(store, ns, "d", Condition::Absent)
        .await
        .context("Absent delete of a missing item")?;
    Ok(())
}

/// Three writes whose last condition fails write nothing, and the error names the failing item.
pub async fn failed_transaction_writes_nothing(store: &dyn ItemStore, ns: &str) -> Outcome {
    put(
        store,
        item(ns, "existing", 1, json!({"n": 1})),
        Condition::Absent,
    )
    .await
    .context("setup")?;
    put(store, item(ns, "doomed", 4, json!({})), Condition::Absent)
        .await
        .context("setup")?;
    let result = store
        .transact(vec![
            Write::Put(item(ns, "new", 1, json!({})), Condition::Absent),
            Write::Put(
                item(ns, "existing", 2, json!({"n": 2})),
                Condition::Version(1),
            ),
            Write::Delete {
                pk: ns.to_owned(),
                sk: "doomed".to_owned(),
                condition: Condition::Version(3),
            },
        ])
        .await;
    match &result {
        Err(StoreError::ConditionFailed(message)) => ensure!(
            message.contains("doomed"),
            "the error should name the failing item: {message}"
        ),
        other => return Err(format!("expected ConditionFailed, got {other:?}")),
    }
    ensure!(
        store.get(ns, "new").await.context("get new")?.is_none(),
        "the first write of a failed transaction was kept"
    );
    let existing = store.get(ns, "existing").await.context("get existing")?;
    ensure!(
        existing.as_ref().map(|i| i.version) == Some(1),
        "the second write of a failed transaction was kept: {existing:?}"
    );
    ensure!(
        store
            .get(ns, "doomed")
            .await
            .context("get doomed")?
            .is_some(),
        "the failing delete was applied"
    );
    Ok(())
}

/// A transaction whose conditions hold applies every write, across partitions.
pub async fn successful_transaction_applies_every_write(
    store: &dyn ItemStore,
    ns: &str,
) -> Outcome {
    let other = format!("{ns}/other");
    put(store, item(ns, "old", 1, json!({})), Condition::Absent)
        .await
        .context("setup")?;
    store
        .transact(vec![
            Write::Put(item(ns, "a", 1, json!({"a": true})), Condition::Absent),
            Write::Put(item(&other, "b", 1, json!({"b": true})), Condition::None),
            Write::Delete {
                pk: ns.to_owned(),
                sk: "old".to_owned(),
                condition: Condition::Version(1),
            },
        ])
        .await
        .context("transact")?;
    ensure!(
        store.get(ns, "a").await.context("get a")?.is_some(),
        "a missing"
    );
    ensure!(
        store.get(&other, "b").await.context("get b")?.is_some(),
        "b missing"
    );
    ensure!(
        store.get(ns, "old").await.context("get old")?.is_none(),
        "old kept"
    );
    Ok(())
}

/// DynamoDB refuses a transaction touching one item twice; so must every store, and it writes nothing.
pub async fn transaction_touching_one_item_twice_is_refused(
    store: &dyn ItemStore,
    ns: &str,
) -> Outcome {
    let result = store
        .transact(vec![
            Write::Put(item(ns, "other", 1, json!({})), Condition::None),
            Write::Put(item(ns, "twice", 1, json!({})), Condition::None),
            Write::Put(item(ns, "twice", 2, json!({})), Condition::None),
        ])
        .await;
    ensure!(result.is_err(), "the transaction was accepted");
    ensure!(
        store.get(ns, "other").await.context("get")?.is_none(),
        "a refused transaction wrote an item"
    );
    Ok(())
}

async fn put_all(store: &dyn ItemStore, pk: &str, sort_keys: &[&str]) -> Outcome {
    for sk in sort_keys {
        put(store, item(pk, sk, 1, json!({"sk": sk})), Condition::None)
            .await
            .context(format!("put {sk}"))?;
    }
    Ok(())
}

/// A prefix query reads only its partition and prefix, in either order, up to the limit; `A#1` is a prefix of
/// `A#10`, so keys close their parts with the delimiter.
pub async fn query_reads_a_prefix_in_order(store: &dyn ItemStore, ns: &str) -> Outcome {
    let neighbour = format!("{ns}/neighbour");
    put_all(
        store,
        ns,
        &["A#1#b", "A#10#a", "A#1#a", "A#2#a", "A#", "B#1#a", "A"],
    )
    .await?;
    put_all(store, &neighbour, &["A#1#c"]).await?;
    let cases: &[(&str, Order, usize, &[&str])] = &[
        ("A#1#", Order::Ascending, 10, &["A#1#a", "A#1#b"]),
        ("A#1#", Order::Descending, 10, &["A#1#b", "A#1#a"]),
        ("A#1", Order::Ascending, 10, &["A#1#a", "A#1#b", "A#10#a"]),
        (
            "A#",
            Order::Ascending,
            10,
            &["A#", "A#1#a", "A#1#b", "A#10#a", "A#2#a"],
        ),
        ("A#", Order::Descending, 2, &["A#2#a", "A#10#a"]),
        ("A#", Order::Ascending, 1, &["A#"]),
        (
            "",
            Order::Ascending,
            100,
            &["A", "A#", "A#1#a", "A#1#b", "A#10#a", "A#2#a", "B#1#a"],
        ),
        ("A#3", Order::Ascending, 10, &[]),
        ("C", Order::Descending, 10, &[]),
    ];
    for (prefix, order, limit, expected) in cases {
        let items = store
            .query(ns, prefix, *order, *limit, None)
            .await
            .context(format!("query {prefix:?}"))?;
        ensure!(
            sort_keys(&items) == *expected,
            "query {prefix:?} {order:?} limit {limit}: expected {expected:?}, got {:?}",
            sort_keys(&items)
        );
        ensure!(
            items
                .iter()
                .all(|i| i.pk == ns && i.data == json!({"sk": i.sk})),
            "query {prefix:?} returned items of another partition or with wrong data"
        );
    }
    Ok(())
}

/// `%`, `_` and other characters that mean something to SQL `LIKE` or to regexes are plain characters in a
/// prefix; so are non-ASCII ones.
pub async fn query_prefix_is_literal(store: &dyn ItemStore, ns: &str) -> Outcome {
    put_all(
        store,
        ns,
        &[
            "p%x",
            "p_x",
            "pax",
            "p\\x",
            "p.x",
            "é1",
            "é",
            "f",
            "e\u{10FFFF}",
        ],
    )
    .await?;
    let cases: &[(&str, &[&str])] = &[
        ("p%", &["p%x"]),
        ("p_", &["p_x"]),
        ("p\\", &["p\\x"]),
        ("p.", &["p.x"]),
        ("é", &["é", "é1"]),
        ("e", &["e\u{10FFFF}"]),
    ];
    for (prefix, expected) in cases {
        let items = store
            .query(ns, prefix, Order::Ascending, 100, None)
            .await
            .context(format!("query {prefix:?}"))?;
        ensure!(
            sort_keys(&items) == *expected,
            "query {prefix:?}: expected {expected:?}, got {:?}",
            sort_keys(&items)
        );
    }
    Ok(())
}

/// Pages of a query, each starting after the last sort key of the one before, read every item exactly once,
/// in both orders; `after` need not be an existing key.
pub async fn query_pages_with_after(store: &dyn ItemStore, ns: &str) -> Outcome {
    let keys: Vec<String> = (0..7).map(|i| format!("E#{i:04}")).collect();
    let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    put_all(store, ns, &refs).await?;
    put_all(store, ns, &["F#0000", "D#9999"]).await?;
    for order in [Order::Ascending, Order::Descending] {
        let mut expected = refs.clone();
        if order == Order::Descending {
            expected.reverse();
        }
        let mut seen: Vec<String> = Vec::new();
        let mut pages = 0;
        loop {
            let after = seen.last().map(String::as_str);
            let page = store
                .query(ns, "E#", order, 3, after)
                .await
                .context(format!("page {pages} {order:?}"))?;
            pages += 1;
            ensure!(
                page.len() <= 3,
                "a page holds {} items, over the limit",
                page.len()
            );
            if page.is_empty() {
                break;
            }
            seen.extend(page.into_iter().map(|i| i.sk));
            ensure!(pages <= 10, "pagination does not end");
        }
        ensure!(
            seen == expected,
            "{order:?} pages read {seen:?}, expected {expected:?}"
        );
        ensure!(
            pages == 4,
            "{order:?}: 7 items in pages of 3 take 3 pages and an empty one, took {pages}"
        );
    }
    let between = store
        .query(ns, "E#", Order::Ascending, 2, Some("E#0002x"))
        .await
        .context("query after a key that does not exist")?;
    ensure!(
        sort_keys(&between) == ["E#0003", "E#0004"],
        "after \"E#0002x\": got {:?}",
        sort_keys(&between)
    );
    let before = store
        .query(ns, "E#", Order::Descending, 2, Some("E#0002x"))
        .await
        .context("descending query after a key that does not exist")?;
    ensure!(
        sort_keys(&before) == ["E#0002", "E#0001"],
        "descending after \"E#0002x\": got {:?}",
        sort_keys(&before)
    );
    Ok(())
}

/// An item past its `expires_at` is absent for get, query and conditions, at once; one expiring later is not.
pub async fn expired_items_are_absent(store: &dyn ItemStore, ns: &str) -> Outcome {
    let mut expired = item(ns, "T#old", 1, json!({"old": true}));
    expired.expires_at = Some(now() - 3_600);
    let mut live = item(ns, "T#live", 1, json!({}));
    live.expires_at = Some(now() + 3_600);
    put(store, expired.clone(), Condition::None)
        .await
        .context("put expired")?;
    put(store, live, Condition::None)
        .await
        .context("put live")?;
    let got = store.get(ns, "T#old").await.context("get expired")?;
    ensure!(got.is_none(), "get returned an expired item: {got:?}");
    let listed = store
        .query(ns, "T#", Order::Ascending, 10, None)
        .await
        .context("query")?;
    ensure!(
        sort_keys(&listed) == ["T#live"],
        "query returned {:?}, expected only the live item",
        sort_keys(&listed)
    );
    expect_condition_failed(
        put(
            store,
            item(ns, "T#old", 2, json!({})),
            Condition::Version(1),
        )
        .await,
        "Version put over an expired item",
    )?;
    put(
        store,
        item(ns, "T#old", 1, json!({"new": true})),
        Condition::Absent,
    )
    .await
    .context("Absent put over an expired item")?;
    let replaced = store.get(ns, "T#old").await.context("get replaced")?;
    ensure!(
        replaced.as_ref().map(|i| (&i.data, i.expires_at)) == Some((&json!({"new": true}), None)),
        "the new item should replace the expired one, found {replaced:?}"
    );
    Ok(())
}

/// Sixteen writers race to create one lock item: exactly one wins, every other gets `ConditionFailed`.
pub async fn racing_absent_puts_have_one_winner(store: &dyn ItemStore, ns: &str) -> Outcome {
    let attempts = (0..16).map(|owner| async move {
        let lock = item(ns, "LOCK#stage", 1, json!({"owner": owner}));
        (owner, put(store, lock, Condition::Absent).await)
    });
    let results = join_all(attempts).await;
    let winners: Vec<i32> = results
        .iter()
        .filter(|(_, r)| r.is_ok())
        .map(|(owner, _)| *owner)
        .collect();
    ensure!(winners.len() == 1, "expected one winner, got {winners:?}");
    for (owner, result) in &results {
        if let Err(e) = result {
            ensure!(
                matches!(e, StoreError::ConditionFailed(_)),
                "loser {owner} got {e:?}, expected ConditionFailed"
            );
        }
    }
    let lock = store.get(ns, "LOCK#stage").await.context("get")?;
    ensure!(
        lock.as_ref().map(|i| &i.data) == Some(&json!({"owner": winners[0]})),
        "the lock should hold the winner {}, holds {lock:?}",
        winners[0]
    );
    Ok(())
}

/// Adds one to the counter item at `pk`/`sk` (data `{"n": <count>}`) by read, modify, versioned write, retrying
/// when another writer got there first or the store is busy. Returns how many attempts lost.
pub async fn increment(store: &dyn ItemStore, pk: &str, sk: &str) -> Result<u64, String> {
    let mut lost = 0u64;
    loop {
        let current = store
            .get(pk, sk)
            .await
            .context("read the counter")?
            .ok_or("the counter is missing")?;
        let n = current.data["n"]
            .as_u64()
            .ok_or_else(|| format!("the counter holds {}", current.data))?;
        let next = Item {
            version: current.version + 1,
            data: json!({"n": n + 1}),
            ..current.clone()
        };
        match put(store, next, Condition::Version(current.version)).await {
            Ok(()) => return Ok(lost),
            Err(StoreError::ConditionFailed(_) | StoreError::Busy(_)) => {
                lost += 1;
                ensure!(lost < 100_000, "gave up after {lost} lost attempts");
                tokio::task::yield_now().await;
            }
            Err(e) => return Err(format!("write the counter: {e}")),
        }
    }
}

/// Eight writers each add 25 to one counter by versioned read-modify-write: no update is lost.
pub async fn racing_versioned_increments_lose_nothing(store: &dyn ItemStore, ns: &str) -> Outcome {
    put(
        store,
        item(ns, "counter", 1, json!({"n": 0})),
        Condition::Absent,
    )
    .await
    .context("create the counter")?;
    let workers = (0..8).map(|_| async move {
        let mut lost = 0;
        for _ in 0..25 {
            lost += increment(store, ns, "counter").await?;
        }
        Ok::<u64, String>(lost)
    });
    for result in join_all(workers).await {
        result?;
    }
    let counter = store
        .get(ns, "counter")
        .await
        .context("read the counter")?
        .ok_or("the counter is gone")?;
    ensure!(
        counter.data == json!({"n": 200}) && counter.version == 201,
        "expected n = 200 at version 201, found {counter:?}"
    );
    Ok(())
}

macro_rules! run {
    ($report:ident, $store:ident, $($check:ident),+ $(,)?) => {
        $(
            let ns = namespace("store", stringify!($check));
            $report.record(stringify!($check), $check($store, &ns).await);
        )+
    };
}

/// Runs every check except the races, for stores reached through an emulator that does not serialize
/// conditional writes between concurrent requests (moto evaluates a TransactWriteItems condition and applies
/// its writes without a lock, so two racing writers can both win there, whatever the adapter does). The
/// races still run against every store that can honour them (`run_all`).
pub async fn run_sequential(store: &dyn ItemStore) -> Result<usize, String> {
    let mut report = Report::new("item store (without races)");
    run!(
        report,
        store,
        get_of_a_missing_item_is_none,
        put_then_get_returns_the_item,
        absent_put_twice_fails_the_second_time,
        version_condition_accepts_current_and_refuses_stale,
        unconditional_put_overwrites,
        delete_honours_conditions,
        failed_transaction_writes_nothing,
        successful_transaction_applies_every_write,
        transaction_touching_one_item_twice_is_refused,
        query_reads_a_prefix_in_order,
        query_prefix_is_literal,
        query_pages_with_after,
        expired_items_are_absent,
    );
    report.finish()
}

/// Runs every check against `store`; `Ok` holds how many passed, `Err` lists every failure.
pub async fn run_all(store: &dyn ItemStore) -> Result<usize, String> {
    let sequential = run_sequential(store).await;
    let mut report = Report::new("item store races");
    run!(
        report,
        store,
        racing_absent_puts_have_one_winner,
        racing_versioned_increments_lose_nothing,
    );
    match (sequential, report.finish()) {
        (Ok(a), Ok(b)) => Ok(a + b),
        (Err(a), Err(b)) => Err(format!("{a}\n{b}")),
        (Err(e), Ok(_)) | (Ok(_), Err(e)) => Err(e),
    }
}
