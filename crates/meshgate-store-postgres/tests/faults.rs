//! PostgreSQL going away and coming back: operations fail fast with
//! `Unavailable`, then succeed again on the same `PgStore`, and no
//! acknowledged insert is lost.
//!
//! Runs its own cluster (through `scripts/pg.sh` with a private
//! `PGDATA_ROOT`), so stopping it disturbs no other test. Gated like the
//! other PostgreSQL tests on `MESHGATE_TEST_PG_URL` / `MESHGATE_SKIP_PG`.

use crate::common;

use common::processes::{pg, Cluster};

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use meshgate_proto::Kind;
use meshgate_store::{MessageQuery, NewMessage, Order, Store, StoreError};
use meshgate_store_postgres::{PgOptions, PgStore};

fn msg(i: usize) -> NewMessage {
    NewMessage {
        from_node: "writer".into(),
        to_node: "sink".into(),
        kind: Kind::Fyi,
        content: format!("m{i}"),
        thread_id: None,
        related_task_id: None,
        idempotency_key: None,
        in_reply_to: None,
        due_at: None,
        sender_verified: false,
    }
}

#[derive(Default)]
struct Log {
    ok: Vec<(i64, String)>,
    /// (how long the failing call took, the error)
    failed: Vec<(Duration, StoreError)>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn server_outage_fails_fast_and_recovers() {
    if common::base_url().is_none() {
        return;
    }
    let dir = tempfile::Builder::new().prefix("meshgate-pg-fault").tempdir().unwrap();
    let root = dir.path().join("cluster");
    let cluster = Cluster { root: root.clone(), _dir: dir };
    let url = pg(&cluster.root, "start");

    let opts = PgOptions {
        max_connections: 4,
        connect_timeout: Duration::from_secs(1),
        acquire_timeout: Duration::from_secs(1),
        ..PgOptions::default()
    };
    let store: Arc<PgStore> = Arc::new(PgStore::connect(&url, opts).await.expect("connect"));

    // Two writers insert (and a reader lists) until told to stop.
    let stop = Arc::new(AtomicBool::new(false));
    let log = Arc::new(Mutex::new(Log::default()));
    let counter = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..2 {
        let (store, stop, log, counter) =
            (Arc::clone(&store), Arc::clone(&stop), Arc::clone(&log), Arc::clone(&counter));
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::SeqCst) {
                let m = msg(counter.fetch_add(1, Ordering::SeqCst));
                let started = Instant::now();
                match store.insert_message(m.clone()).await {
                    Ok(ins) => log.lock().unwrap().ok.push((ins.message.id, m.content)),
                    Err(e) => {
                        log.lock().unwrap().failed.push((started.elapsed(), e));
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            }
        }));
    }
    {
        let (store, stop, log) = (Arc::clone(&store), Arc::clone(&stop), Arc::clone(&log));
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::SeqCst) {
                let started = Instant::now();
                let q = MessageQuery { limit: 5, ..Default::default() };
                if let Err(e) = store.list_messages(&q).await {
                    log.lock().unwrap().failed.push((started.elapsed(), e));
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }));
    }

    tokio::time::sleep(Duration::from_millis(800)).await;
    let before_outage = log.lock().unwrap().ok.len();
    assert!(before_outage > 0, "inserts work before the outage");

    // Outage: stop the server (fast shutdown, the cluster is kept).
    let root = cluster.root.clone();
    tokio::task::spawn_blocking(move || pg(&root, "halt")).await.unwrap();
    let down_at = Instant::now();
    tokio::time::sleep(Duration::from_secs(3)).await;
    {
        let l = log.lock().unwrap();
        assert!(!l.failed.is_empty(), "operations fail while the server is down");
        for (took, e) in &l.failed {
            assert!(matches!(e, StoreError::Unavailable(_)), "outage errors are Unavailable, got {e:?}");
            assert!(*took < Duration::from_secs(3), "a failing call took {took:?}: {e:?}");
        }
        eprintln!("{} failures during the outage; slowest {:?}", l.failed.len(), l.failed.iter().map(|f| f.0).max());
    }
    // Direct calls while down: fast Unavailable, no panic.
    for _ in 0..3 {
        let started = Instant::now();
        let r = store.schema_version().await;
        assert!(matches!(r, Err(StoreError::Unavailable(_))), "{r:?}");
        assert!(started.elapsed() < Duration::from_secs(3), "took {:?}", started.elapsed());
    }
    let ok_during = log.lock().unwrap().ok.len();

    // Recovery: same port, same store object.
    let root = cluster.root.clone();
    let url2 = tokio::task::spawn_blocking(move || pg(&root, "start")).await.unwrap();
    assert_eq!(url, url2, "restarted on the same port");
    eprintln!("server was down for {:?}", down_at.elapsed());
    let deadline = Instant::now() + Duration::from_secs(20);
    while log.lock().unwrap().ok.len() <= ok_during + 10 {
        assert!(Instant::now() < deadline, "inserts did not resume within 20 s of the restart");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(store.schema_version().await.unwrap() >= 1);
    stop.store(true, Ordering::SeqCst);
    for t in tasks {
        t.await.unwrap();
    }

    // Every acknowledged insert is there, with its content.
    let rows =
        store.list_messages(&MessageQuery { order: Order::OldestFirst, limit: 0, ..Default::default() }).await.unwrap();
    let stored: std::collections::HashMap<i64, String> = rows.into_iter().map(|m| (m.id, m.content)).collect();
    {
        let l = log.lock().unwrap();
        for (id, content) in &l.ok {
            assert_eq!(stored.get(id), Some(content), "acknowledged insert {id} lost");
        }
        eprintln!("{} acknowledged inserts, {} stored, {} failed calls", l.ok.len(), stored.len(), l.failed.len());
    }

    // Wake-ups work again: a second store sees the first one's inserts.
    let other = PgStore::connect(&url, opts).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut rx = other.subscribe();
    let id = store.insert_message(msg(usize::MAX)).await.unwrap().message.id;
    let woken = tokio::time::timeout(Duration::from_secs(2), rx.wait_for(|v| *v >= id)).await.map(|r| r.is_ok());
    assert_eq!(woken, Ok(true));
    // The first store's listener reconnected too: it sees the other's insert.
    let mut rx = store.subscribe();
    let id = other.insert_message(msg(usize::MAX - 1)).await.unwrap().message.id;
    let woken = tokio::time::timeout(Duration::from_secs(3), rx.wait_for(|v| *v >= id)).await.map(|r| r.is_ok());
    assert_eq!(woken, Ok(true));
    drop(cluster);
}
