//! The WAL stays near its bound under sustained writes (issue #11.4).
//!
//! Many tasks insert as fast as the writer commits while readers read, a
//! sampler thread watches the `-wal` file's size. Without a bound (SQLite's
//! own behaviour with passive checkpoints) the same load grows the file
//! far past the bound, which shows the load is heavy enough for the
//! bounded run to mean something.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use meshgate_proto::Kind;
use meshgate_store::{MessageQuery, NewMessage, Store};
use meshgate_store_sqlite::{SqliteOptions, SqliteStats, SqliteStore};

/// The bound under test. The WAL may pass it by what a few batches write
/// while a restart waits for a reader or a passive checkpoint (each batch
/// here rewrites ~100 KiB of table and index pages), so the check is 3x.
const LIMIT: u64 = 1 << 20;
const WRITERS: usize = 32;
const PER_WRITER: usize = 300;

fn wal_of(db: &Path) -> PathBuf {
    let mut s = db.as_os_str().to_owned();
    s.push("-wal");
    PathBuf::from(s)
}

/// Runs the load on a fresh store; returns the largest WAL file seen, the
/// WAL's size after the load and the store's counters.
async fn load(wal_limit: Option<u64>) -> (u64, u64, SqliteStats) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("mesh.db");
    let store = Arc::new(SqliteStore::open(&db, SqliteOptions { wal_limit, ..SqliteOptions::default() }).unwrap());

    let stop = Arc::new(AtomicBool::new(false));
    let max = Arc::new(AtomicU64::new(0));
    let sampler = {
        let (stop, max, wal) = (Arc::clone(&stop), Arc::clone(&max), wal_of(&db));
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                if let Ok(m) = std::fs::metadata(&wal) {
                    max.fetch_max(m.len(), Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(1));
            }
        })
    };
    let reader = {
        let (store, stop) = (Arc::clone(&store), Arc::clone(&stop));
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let q = MessageQuery { to: Some("sink".into()), limit: 200, ..MessageQuery::default() };
                store.list_messages(&q).await.unwrap();
                tokio::task::yield_now().await;
            }
        })
    };
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let store = Arc::clone(&store);
        writers.push(tokio::spawn(async move {
            for i in 0..PER_WRITER {
                let content = format!("writer {w} message {i} {}", "x".repeat(200));
                let m = NewMessage {
                    from_node: format!("src-{w}"),
                    to_node: "sink".into(),
                    kind: Kind::Fyi,
                    content,
                    thread_id: None,
                    related_task_id: None,
                    idempotency_key: None,
                    in_reply_to: None,
                    due_at: None,
                    sender_verified: false,
                };
                store.insert_message(m).await.unwrap();
            }
        }));
    }
    for w in writers {
        w.await.unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    reader.await.unwrap();
    sampler.join().unwrap();
    let after = std::fs::metadata(wal_of(&db)).map(|m| m.len()).unwrap_or(0);
    (max.load(Ordering::Relaxed), after, store.stats())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sustained_writes_keep_the_wal_near_its_bound() {
    let (unbounded, _, stats) = load(None).await;
    assert_eq!(stats.wal_restarts, 0);
    assert!(
        unbounded > 8 * LIMIT,
        "without a bound the load should grow the WAL past {} bytes, saw {unbounded}: the load is too light",
        8 * LIMIT
    );

    let (bounded, after, stats) = load(Some(LIMIT)).await;
    eprintln!("WAL max: unbounded {unbounded} bytes, bounded {bounded} bytes; {stats:?}");
    assert!(stats.wal_restarts > 0, "{stats:?}");
    // Past the bound by a few batches at most: a restart that finds a reader
    // on the old log waits 50 ms, then is retried after the next batch, and
    // with every test of the crate running beside this one on two cores a
    // reader can be off the CPU that long (one CI run reached 3.08x).
    assert!(bounded <= 4 * LIMIT, "the WAL reached {bounded} bytes with a bound of {LIMIT} ({stats:?})");
    assert!(after <= 4 * LIMIT, "the WAL was {after} bytes after the load");
}
