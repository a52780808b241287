//! Two `PgStore`s on one database behave like two gateway replicas:
//! ids unique, dense and visible in order, idempotency keys shared,
//! wake-ups crossing from one to the other.

use crate::common;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use meshgate_store::conformance::msg;
use meshgate_store::{MessageQuery, Order, Store};
use meshgate_store_postgres::PgOptions;

/// Wake-ups must come from NOTIFY, not from the safety-net poll.
fn no_poll() -> PgOptions {
    PgOptions { poll_interval: Duration::from_secs(600), ..PgOptions::default() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ids_unique_dense_and_visible_in_order_across_replicas() {
    let Some(db) = common::TestDb::create().await else { return };
    let a: Arc<dyn Store> = Arc::new(common::store(&db, common::opts()).await);
    let b: Arc<dyn Store> = Arc::new(common::store(&db, common::opts()).await);

    // A cursor reader on B: with ids dense and committed in order, every
    // read after `cursor` must start exactly at cursor + 1.
    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let (b, done) = (Arc::clone(&b), Arc::clone(&done));
        tokio::spawn(async move {
            let mut cursor = 0;
            let mut reads = 0;
            loop {
                let finished = done.load(Ordering::SeqCst);
                let q = MessageQuery {
                    after_id: Some(cursor),
                    order: Order::OldestFirst,
                    limit: 1000,
                    ..Default::default()
                };
                for m in b.list_messages(&q).await.expect("cursor read") {
                    assert_eq!(m.id, cursor + 1, "cursor skipped an id: got {} after {cursor}", m.id);
                    cursor = m.id;
                }
                reads += 1;
                if finished {
                    return (cursor, reads);
                }
            }
        })
    };

    const TASKS: usize = 8;
    const EACH: usize = 40;
    let mut handles = Vec::new();
    for t in 0..TASKS {
        let store = if t % 2 == 0 { Arc::clone(&a) } else { Arc::clone(&b) };
        handles.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            for i in 0..EACH {
                ids.push(
                    store.insert_message(msg(&format!("w{t}"), "sink", &format!("{t}/{i}"))).await.unwrap().message.id,
                );
            }
            ids
        }));
    }
    let mut all = HashSet::new();
    for h in handles {
        for id in h.await.unwrap() {
            assert!(all.insert(id), "id {id} handed out twice");
        }
    }
    done.store(true, Ordering::SeqCst);
    let (cursor, reads) = reader.await.unwrap();
    let n = (TASKS * EACH) as i64;
    assert_eq!(all.len() as i64, n);
    assert_eq!(*all.iter().max().unwrap(), n, "dense ids");
    assert_eq!(cursor, n, "the cursor reader saw every message ({reads} reads)");

    let rows = a
        .list_messages(&MessageQuery { order: Order::OldestFirst, limit: 10_000, ..Default::default() })
        .await
        .unwrap();
    assert_eq!(rows.len() as i64, n);
    for w in rows.windows(2) {
        assert!(w[0].created_at <= w[1].created_at, "created_at decreased: {:?} then {:?}", w[0], w[1]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn idempotency_keys_hold_across_replicas() {
    let Some(db) = common::TestDb::create().await else { return };
    let a = common::store(&db, common::opts()).await;
    let b = common::store(&db, common::opts()).await;
    for i in 0..20 {
        let mut m = msg("racer", "sink", &format!("body {i}"));
        m.idempotency_key = Some(format!("key-{i}"));
        let (ra, rb) = tokio::join!(a.insert_message(m.clone()), b.insert_message(m.clone()));
        let (ra, rb) = (ra.unwrap(), rb.unwrap());
        assert_eq!(ra.message, rb.message, "both replicas answer with the one stored message");
        assert_eq!(u8::from(ra.duplicate) + u8::from(rb.duplicate), 1, "exactly one insert, one duplicate");
        // A different body under the key is a conflict on either replica.
        let mut other = m.clone();
        other.content.push('!');
        assert!(matches!(b.insert_message(other.clone()).await, Err(meshgate_store::StoreError::Conflict(_))));
        assert!(matches!(a.insert_message(other).await, Err(meshgate_store::StoreError::Conflict(_))));
    }
    let rows = a.list_messages(&MessageQuery { limit: 1000, ..Default::default() }).await.unwrap();
    assert_eq!(rows.len(), 20);
    // Ids stay dense: the losing inserts gave their ids back.
    assert_eq!(rows[0].id, 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn repeated_keys_inside_one_insert_batch_store_once_and_keep_ids_dense() {
    let Some(db) = common::TestDb::create().await else { return };
    let a = Arc::new(common::store(&db, common::opts()).await);
    // 60 concurrent sends: 20 keys sent twice with the same body, 20 plain
    // messages; they share insert batches.
    let sends: Vec<_> = (0..60)
        .map(|i| {
            let a = Arc::clone(&a);
            let mut m = msg("batcher", "sink", &format!("body {}", i % 40));
            if i % 40 < 20 {
                m.idempotency_key = Some(format!("key-{}", i % 40));
            }
            tokio::spawn(async move { (i % 40, a.insert_message(m).await.unwrap()) })
        })
        .collect();
    let mut by_key: std::collections::HashMap<usize, Vec<meshgate_store::Inserted>> = Default::default();
    for s in sends {
        let (k, inserted) = s.await.unwrap();
        by_key.entry(k).or_default().push(inserted);
    }
    for k in 0..20 {
        let pair = &by_key[&k];
        assert_eq!(pair.len(), 2);
        assert_eq!(pair[0].message, pair[1].message, "key-{k}: one stored message");
        assert_eq!(u8::from(pair[0].duplicate) + u8::from(pair[1].duplicate), 1, "key-{k}: one insert, one duplicate");
    }
    let rows = a.list_messages(&MessageQuery { limit: 1000, ..Default::default() }).await.unwrap();
    assert_eq!(rows.len(), 40);
    assert_eq!(rows[0].id, 40, "dense ids: conflicting rows gave theirs back");
}

async fn wait_for(rx: &mut tokio::sync::watch::Receiver<i64>, id: i64, within: Duration) -> Duration {
    let start = Instant::now();
    let woken = tokio::time::timeout(within, rx.wait_for(|v| *v >= id)).await.map(|r| r.is_ok());
    assert_eq!(woken, Ok(true), "not woken for id {id} within {within:?} (value {})", *rx.borrow());
    start.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_subscriber_on_b_sees_inserts_through_a() {
    let Some(db) = common::TestDb::create().await else { return };
    let a = common::store(&db, no_poll()).await;
    let b = common::store(&db, no_poll()).await;
    // Let B's LISTEN connection come up.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut rx = b.subscribe();
    for i in 0..5 {
        let id = a.insert_message(msg("x", "y", &format!("{i}"))).await.unwrap().message.id;
        let took = wait_for(&mut rx, id, Duration::from_secs(2)).await;
        assert!(took < Duration::from_secs(1), "wake-up took {took:?}");
    }
    // A store connecting later starts from the current max.
    let c = common::store(&db, no_poll()).await;
    assert_eq!(*c.subscribe().borrow(), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_listener_reconnects_after_its_connection_is_killed() {
    let Some(db) = common::TestDb::create().await else { return };
    let a = common::store(&db, no_poll()).await;
    let b = common::store(&db, no_poll()).await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    let (admin, conn) = tokio_postgres::connect(&db.url, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(conn);
    let killed = admin
        .execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = current_database() AND application_name = 'meshgate-listen'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(killed, 2, "one LISTEN connection per store");
    // While B's listener is down, A inserts: B must learn of it on
    // reconnect (the max(id) re-read), without the poll.
    let id = a.insert_message(msg("x", "y", "during reconnect")).await.unwrap().message.id;
    let mut rx = b.subscribe();
    wait_for(&mut rx, id, Duration::from_secs(3)).await;
    // And notifications flow again afterwards.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let id = a.insert_message(msg("x", "y", "after reconnect")).await.unwrap().message.id;
    let took = wait_for(&mut rx, id, Duration::from_secs(2)).await;
    assert!(took < Duration::from_secs(1), "wake-up took {took:?}");
}
