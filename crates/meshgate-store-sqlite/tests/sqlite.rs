//! SQLite-specific guarantees: durability across reopen, migrations,
//! group commit, and index use of the hot queries.

use std::path::Path;
use std::sync::Arc;

use meshgate_proto::Kind;
use meshgate_store::{MessageQuery, NewMessage, Order, PeerRegistration, Store, StoreError, TokenHash};
use meshgate_store_sqlite::{list_messages_sql, SqliteOptions, SqliteStore, SCHEMA_VERSION};

fn open(path: &Path) -> SqliteStore {
    SqliteStore::open(path, SqliteOptions::default()).expect("open")
}

fn msg(from: &str, to: &str, content: &str) -> NewMessage {
    NewMessage {
        from_node: from.into(),
        to_node: to.into(),
        kind: Kind::Fyi,
        content: content.into(),
        thread_id: None,
        related_task_id: None,
        idempotency_key: None,
        in_reply_to: None,
        due_at: None,
        sender_verified: false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_survives_reopen_and_migrations_are_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mesh.db");
    let mut last_id = {
        let store = open(&path);
        assert_eq!(store.schema_version().await.unwrap(), SCHEMA_VERSION);
        store
            .register_peer(PeerRegistration {
                name: "alpha".into(),
                url: Some("http://a:1".into()),
                capabilities: None,
                mint: TokenHash::of("t-alpha"),
                adopt_history: false,
            })
            .await
            .unwrap();
        store.put_alias("al", "alpha").await.unwrap();
        let t = store.mint_thread("a\u{2194}b:x", None).await.unwrap();
        let mut m = msg("alpha", "beta", "persist me");
        m.thread_id = Some(t.thread_uuid);
        m.idempotency_key = Some("k".into());
        store.insert_message(m).await.unwrap();
        store.insert_message(msg("beta", "alpha", "and me")).await.unwrap().message.id
        // dropped here: the writer thread is joined
    };
    for _ in 0..2 {
        let store = open(&path);
        assert_eq!(store.schema_version().await.unwrap(), SCHEMA_VERSION);
        assert_eq!(*store.subscribe().borrow(), last_id, "wake-up value initialised at open");
        let peer = store.peer("alpha").await.unwrap().expect("peer persisted");
        assert_eq!(peer.url.as_deref(), Some("http://a:1"));
        assert_eq!(store.token_owner(&TokenHash::of("t-alpha")).await.unwrap().unwrap().peer, "alpha");
        assert_eq!(store.resolve_name("al").await.unwrap().unwrap().canonical, "alpha");
        let rows = store
            .list_messages(&MessageQuery { limit: 10, order: Order::OldestFirst, ..Default::default() })
            .await
            .unwrap();
        assert_eq!(rows.last().unwrap().id, last_id);
        assert_eq!(rows[0].content, "persist me");
        // The idempotency record survived too.
        let mut again = msg("alpha", "beta", "persist me");
        again.thread_id = rows[0].thread_id.clone();
        again.idempotency_key = Some("k".into());
        assert!(store.insert_message(again).await.unwrap().duplicate);
        // Ids continue after the reopened maximum.
        let next = store.insert_message(msg("beta", "alpha", "later")).await.unwrap();
        assert!(next.message.id > last_id);
        store.mark_read(&[next.message.id], None).await.unwrap();
        last_id = next.message.id;
    }
    let raw = rusqlite::Connection::open(&path).unwrap();
    let applied: i64 = raw.query_row("SELECT count(*) FROM schema_migrations", [], |r| r.get(0)).unwrap();
    assert_eq!(applied, SCHEMA_VERSION, "each migration recorded once");
    let mode: String = raw.query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
    assert_eq!(mode, "wal");
}

#[tokio::test]
async fn a_database_from_a_newer_build_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mesh.db");
    drop(open(&path));
    let raw = rusqlite::Connection::open(&path).unwrap();
    raw.execute("INSERT INTO schema_migrations (version, applied_at) VALUES (9999, 'x')", []).unwrap();
    drop(raw);
    match SqliteStore::open(&path, SqliteOptions::default()) {
        Err(StoreError::Backend(e)) => assert!(e.contains("newer"), "{e}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writes_share_commits_and_failures_stay_isolated() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(open(&dir.path().join("mesh.db")));
    let mut seed = msg("ga", "gb", "original");
    seed.idempotency_key = Some("dup".into());
    store.insert_message(seed).await.unwrap();

    const N: usize = 400;
    let before = store.stats();
    let mut handles = Vec::new();
    for i in 0..N {
        let store = Arc::clone(&store);
        handles.push(tokio::spawn(async move {
            let mut m = msg("ga", "gb", &format!("m{i}"));
            // Every tenth reuses the seed's key with another body: refused
            // alone, without failing the batch it shares.
            if i % 10 == 0 {
                m.idempotency_key = Some("dup".into());
            }
            store.insert_message(m).await
        }));
    }
    let (mut ok, mut conflicts) = (0, 0);
    for h in handles {
        match h.await.unwrap() {
            Ok(_) => ok += 1,
            Err(StoreError::Conflict(_)) => conflicts += 1,
            Err(e) => panic!("unexpected {e}"),
        }
    }
    let after = store.stats();
    assert_eq!(conflicts, N / 10);
    assert_eq!(ok, N - N / 10);
    assert_eq!(after.jobs - before.jobs, N as u64);
    assert_eq!(after.failed_batches, 0);
    let commits = after.commits - before.commits;
    assert!(commits < N as u64, "{commits} commits for {N} writes: no group commit");
    eprintln!("{N} concurrent writes in {commits} commits");
    let rows = store.list_messages(&MessageQuery { limit: 0, ..Default::default() }).await.unwrap();
    assert_eq!(rows.len(), 1 + ok);
}

/// The plan of `sql` as one string.
fn plan(conn: &rusqlite::Connection, sql: &str, n_params: usize) -> String {
    let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
    let params = vec![rusqlite::types::Value::Null; n_params];
    let rows = stmt.query_map(rusqlite::params_from_iter(params), |r| r.get::<_, String>(3)).unwrap();
    rows.map(Result::unwrap).collect::<Vec<_>>().join(" | ")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hot_queries_use_indexes_on_a_large_table() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mesh.db");
    drop(open(&path));
    {
        // 100k rows across 20 recipients, inserted directly for speed.
        let mut raw = rusqlite::Connection::open(&path).unwrap();
        let tx = raw.transaction().unwrap();
        {
            let mut ins = tx
                .prepare(
                    "INSERT INTO messages (from_node, to_node, kind, content, thread_id, created_at, read_at) \
                     VALUES (?1, ?2, 'fyi', 'x', ?3, ?4, ?5)",
                )
                .unwrap();
            for i in 0..100_000u32 {
                let thread = (i % 100 == 0).then(|| format!("t{}", i % 7));
                let read = (i % 3 == 0).then_some("2026-01-01T00:00:00.000000+00:00");
                ins.execute(rusqlite::params![
                    format!("p{}", i % 17),
                    format!("p{}", i % 20),
                    thread,
                    format!("2026-01-01T00:00:{:02}.{:06}+00:00", (i / 1_000_000) % 60, i % 1_000_000),
                    read
                ])
                .unwrap();
            }
        }
        tx.commit().unwrap();
    }
    let raw = rusqlite::Connection::open(&path).unwrap();
    let base = MessageQuery { limit: 50, ..Default::default() };
    let cases: Vec<(MessageQuery, &str)> = vec![
        (MessageQuery { to: Some("p3".into()), ..base.clone() }, "messages_to"),
        (MessageQuery { to: Some("p3".into()), unread_only: true, ..base.clone() }, "messages_to_unread"),
        (
            MessageQuery { to: Some("p3".into()), after_id: Some(5), order: Order::OldestFirst, ..base.clone() },
            "messages_to",
        ),
        (MessageQuery { from: Some("p3".into()), ..base.clone() }, "messages_from"),
        (MessageQuery { thread_id: Some("t1".into()), order: Order::OldestFirst, ..base.clone() }, "messages_thread"),
        (MessageQuery { involving: Some("p3".into()), ..base.clone() }, "messages_from"),
        (MessageQuery { to: Some("p3".into()), involving: Some("p3".into()), ..base.clone() }, "messages_to"),
        // An operator's read by name or alias: the alias resolves inside
        // the statement, once, and the walk is the same.
        (
            MessageQuery { to: Some("p3".into()), unread_only: true, resolve_aliases: true, ..base.clone() },
            "messages_to_unread",
        ),
        (MessageQuery { from: Some("p3".into()), resolve_aliases: true, ..base.clone() }, "messages_from"),
    ];
    for (q, index) in cases {
        let (sql, n) = list_messages_sql(&q);
        let p = plan(&raw, &sql, n);
        eprintln!("{index}: {p}");
        assert!(p.contains(index), "{q:?} should use {index}: {p}");
        assert!(!p.contains("SCAN messages"), "{q:?} scans the table: {p}");
        assert!(!p.contains("TEMP B-TREE FOR ORDER BY") || q.involving.is_some(), "{q:?} sorts: {p}");
    }
    // Running an inbox query again for another recipient reuses its plan:
    // nothing the planner looks at (such as LIMIT) is a parameter.
    let (sql, n) = list_messages_sql(&MessageQuery { to: Some("p3".into()), unread_only: true, ..base.clone() });
    assert_eq!(n, 1);
    let mut stmt = raw.prepare(&sql).unwrap();
    for to in ["p3", "p4", "p5"] {
        assert_eq!(stmt.query_map([to], |_| Ok(())).unwrap().count(), 50);
    }
    assert_eq!(stmt.get_status(rusqlite::StatementStatus::RePrepare), 0, "the inbox query is re-prepared per run");
    let resolving = MessageQuery { to: Some("p3".into()), unread_only: true, resolve_aliases: true, ..base.clone() };
    let (sql, n) = list_messages_sql(&resolving);
    assert_eq!(n, 2, "the name, bound twice");
    let mut stmt = raw.prepare(&sql).unwrap();
    for to in ["p3", "p4", "p5"] {
        assert_eq!(stmt.query_map([to, to], |_| Ok(())).unwrap().count(), 50);
    }
    assert_eq!(stmt.get_status(rusqlite::StatementStatus::RePrepare), 0, "the resolving query is re-prepared per run");
    // And the store answers them correctly on the big table.
    let store = open(&path);
    let rows =
        store.list_messages(&MessageQuery { to: Some("p3".into()), unread_only: true, ..base.clone() }).await.unwrap();
    assert_eq!(rows.len(), 50);
    assert!(rows.windows(2).all(|w| w[0].id > w[1].id));
    assert!(rows.iter().all(|m| m.to_node == "p3" && m.read_at.is_none()));
    let inv = store.list_messages(&MessageQuery { involving: Some("p3".into()), ..base.clone() }).await.unwrap();
    assert_eq!(inv.len(), 50);
    assert!(inv.windows(2).all(|w| w[0].id > w[1].id));
    assert!(inv.iter().all(|m| m.to_node == "p3" || m.from_node == "p3"));
    assert_eq!(*store.subscribe().borrow(), 100_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkpoints_run_off_the_commit_path_and_a_closed_store_leaves_an_empty_wal() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mesh.db");
    let wal = dir.path().join("mesh.db-wal");
    let store = Arc::new(open(&path));
    let content = "x".repeat(4000);
    let writes: Vec<_> = (0..400)
        .map(|i| {
            let store = Arc::clone(&store);
            let m = msg("a", "b", &format!("{i} {content}"));
            tokio::spawn(async move { store.insert_message(m).await.unwrap() })
        })
        .collect();
    for w in writes {
        w.await.unwrap();
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while store.stats().checkpoints == 0 {
        assert!(std::time::Instant::now() < deadline, "no checkpoint ran after 400 writes");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(std::fs::metadata(&wal).unwrap().len() > 0);
    drop(Arc::into_inner(store).expect("sole owner"));
    // The last checkpoint truncated the WAL: everything is in the main file.
    assert_eq!(std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0), 0);
    let raw = rusqlite::Connection::open(&path).unwrap();
    let n: i64 = raw.query_row("SELECT count(*) FROM messages", [], |r| r.get(0)).unwrap();
    assert_eq!(n, 400);
}

/// A version-2 database (before per-minter thread names) migrates in
/// place: its threads keep their UUIDs and land in the operator's shared
/// namespace, its messages keep their threads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_2_database_migrates_its_threads_into_the_operators_namespace() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mesh.db");
    {
        let raw = rusqlite::Connection::open(&path).unwrap();
        raw.execute_batch(concat!(
            "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL);",
            include_str!("../migrations/0001_init.sql"),
            include_str!("../migrations/0002_import_export.sql"),
            "INSERT INTO schema_migrations VALUES (1, 'x'), (2, 'x');
             INSERT INTO threads (thread_uuid, thread_name, peer_pair, topic, session_id, created_at, last_used_at)
               VALUES ('5b0c4a1e-1111-4222-8333-444455556666', 'lab:old', 'lab', 'old', 's1',
                       '2026-01-01T00:00:00.000000+00:00', NULL);
             INSERT INTO messages (from_node, to_node, kind, content, thread_id, created_at)
               VALUES ('lab', 'gpu', 'fyi', 'old', '5b0c4a1e-1111-4222-8333-444455556666',
                       '2026-01-01T00:00:01.000000+00:00');"
        ))
        .unwrap();
    }
    let store = open(&path);
    assert_eq!(store.schema_version().await.unwrap(), SCHEMA_VERSION);
    let uuid = "5b0c4a1e-1111-4222-8333-444455556666";
    let t = store.thread(uuid).await.unwrap().expect("kept");
    assert_eq!((t.thread_name.as_str(), t.session_id.as_deref(), t.minted_by), ("lab:old", Some("s1"), None));
    let again = store.mint_thread("lab:old", None).await.unwrap();
    assert_eq!((again.thread_uuid.as_str(), again.created), (uuid, Some(false)), "the operator's namespace");
    let other = store.mint_thread_as("lab:old", None, Some("lab")).await.unwrap();
    assert_ne!(other.thread_uuid, uuid, "a peer's own namespace is separate");
    let q = MessageQuery { thread_id: Some(uuid.into()), limit: 10, order: Order::OldestFirst, ..Default::default() };
    assert_eq!(store.list_messages(&q).await.unwrap().len(), 1);
}

fn search_for(q: &str, budget: std::time::Duration) -> meshgate_store::SearchQuery {
    meshgate_store::SearchQuery {
        limit: 10,
        budget,
        ..meshgate_store::SearchQuery::new(meshgate_store::parse_query(q).unwrap())
    }
}

/// A database at schema `version` (4 or 5) holding one DM, "an old walrus".
fn walrus_db(path: &Path, version: usize) {
    let migrations = [
        include_str!("../migrations/0001_init.sql"),
        include_str!("../migrations/0002_import_export.sql"),
        include_str!("../migrations/0003_identity.sql"),
        include_str!("../migrations/0004_receipts.sql"),
        include_str!("../migrations/0005_search.sql"),
    ];
    let raw = rusqlite::Connection::open(path).unwrap();
    raw.execute_batch("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL);")
        .unwrap();
    for (i, sql) in migrations[..version].iter().enumerate() {
        raw.execute_batch(sql).unwrap();
        raw.execute("INSERT INTO schema_migrations VALUES (?1, 'x')", [i + 1]).unwrap();
    }
    raw.execute_batch(
        "INSERT INTO messages (from_node, to_node, kind, content, created_at)
           VALUES ('lab', 'gpu', 'fyi', 'an old walrus', '2026-01-01T00:00:01.000000+00:00');",
    )
    .unwrap();
}

/// A version-4 database gets its search index in the migration: DMs
/// stored before it are found.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_search_migration_indexes_existing_messages() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mesh.db");
    walrus_db(&path, 4);
    let store = open(&path);
    let page = store.search(&search_for("walrus", meshgate_store::SEARCH_BUDGET_DEFAULT)).await.unwrap();
    assert_eq!(page.hits.len(), 1);
    assert_eq!(page.hits[0].message.content, "an old walrus");
}

/// A version-5 database (indexed by the insert trigger) keeps its index
/// through migration 6, and the writer indexes what comes after, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_batch_index_migration_keeps_the_index() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mesh.db");
    walrus_db(&path, 5);
    let store = open(&path);
    assert_eq!(store.schema_version().await.unwrap(), 6);
    let new = store.insert_message(msg("gpu", "lab", "a new walrus")).await.unwrap().message.id;
    assert_eq!(walruses(&store).await, [1, new]);
    drop(store);
    let store = open(&path);
    let again = store.insert_message(msg("gpu", "lab", "another walrus")).await.unwrap().message.id;
    assert_eq!(walruses(&store).await, [1, new, again], "after a reopen: the new DM once, the old ones not again");
}

async fn walruses(store: &SqliteStore) -> Vec<i64> {
    let page = store.search(&search_for("walrus", meshgate_store::SEARCH_BUDGET_DEFAULT)).await.unwrap();
    let mut ids: Vec<i64> = page.hits.iter().map(|h| h.message.id).collect();
    ids.sort_unstable();
    ids
}

/// A second store on the file (as `meshgate import` beside a running
/// gateway) indexes its own DMs; the gateway's next batch indexes only its
/// own, so every DM is found exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dms_written_by_another_process_are_indexed_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mesh.db");
    walrus_db(&path, 5);
    let gateway = open(&path);
    let first = gateway.insert_message(msg("gpu", "lab", "a new walrus")).await.unwrap().message.id;
    let importer = open(&path);
    let mut record = importer.export_messages(0, 1).await.unwrap().remove(0);
    record.message.content = "an imported walrus".into();
    record.origin = Some("test:elsewhere:1".into());
    let stats = importer.import_batch(vec![meshgate_store::ImportRecord::Message(record)]).await.unwrap();
    assert_eq!(stats.get(meshgate_store::RecordKind::Message).imported, 1);
    drop(importer);
    let last = gateway.insert_message(msg("gpu", "lab", "a last walrus")).await.unwrap().message.id;
    assert_eq!(walruses(&gateway).await, [1, first, last - 1, last]);
}

/// With no time budget the candidate scan is interrupted by the progress
/// handler: a flagged, partial page, and the pooled connection is left
/// without the handler (the next search completes).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_search_stops_at_its_budget() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(open(&dir.path().join("mesh.db")));
    let mut tasks = tokio::task::JoinSet::new();
    for t in 0..10 {
        let store = Arc::clone(&store);
        tasks.spawn(async move {
            for i in (t..3000).step_by(10) {
                store.insert_message(msg("lab", "gpu", &format!("broad term {i}"))).await.unwrap();
            }
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.unwrap();
    }
    let page = store.search(&search_for("broad", std::time::Duration::ZERO)).await.unwrap();
    assert!(page.truncated);
    assert!(page.hits.len() < 10 || page.hits.iter().all(|h| h.message.content.starts_with("broad")));
    for _ in 0..8 {
        let page = store.search(&search_for("\"term 2999\"", meshgate_store::SEARCH_BUDGET_DEFAULT)).await.unwrap();
        assert_eq!((page.hits.len(), page.truncated), (1, false), "the handler was cleared");
    }
}

fn head_ids(heads: &[meshgate_store::MessageHead]) -> Vec<i64> {
    heads.iter().map(|h| h.id).collect()
}

/// The hub's heads come from the writer's memory, but a DM another process
/// wrote into the file in between (`meshgate import` beside a running
/// gateway) is not left out: below the writer's last start they are read
/// from the file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn committed_heads_include_dms_written_by_another_process() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mesh.db");
    let gateway = open(&path);
    let first = gateway.insert_message(msg("gpu", "lab", "first")).await.unwrap().message.id;
    assert_eq!(head_ids(&gateway.committed_heads(0, 10).await.unwrap()), [first]);
    let other = {
        let importer = open(&path);
        importer.insert_message(msg("cpu", "den", "from elsewhere")).await.unwrap().message.id
    };
    let last = gateway.insert_message(msg("gpu", "lab", "last")).await.unwrap().message.id;
    let heads = gateway.committed_heads(first, 10).await.unwrap();
    assert_eq!(heads, gateway.message_heads(first, 10).await.unwrap());
    assert_eq!(head_ids(&heads), [other, last]);
    assert_eq!((heads[0].from_node.as_str(), heads[0].to_node.as_str()), ("cpu", "den"));
    assert_eq!(head_ids(&gateway.committed_heads(other, 10).await.unwrap()), [last]);
    assert!(gateway.committed_heads(last, 10).await.unwrap().is_empty());
}
