//! The client honours a 429's `Retry-After` on send: it waits and sends the
//! same body again (the same idempotency key), within a bounded number of
//! retries and total wait, then fails with `Error::Throttled`. Against the
//! real gateway in-process over SQLite.

use std::sync::Arc;
use std::time::{Duration, Instant};

use meshgate_client::{Client, Error, Kind, SendOptions};
use meshgate_server::traffic::{LoopLimit, SendRate};
use meshgate_server::{Config, OperatorToken};
use meshgate_store_sqlite::{SqliteOptions, SqliteStore};

const OPERATOR: &str = "operator-throttle-test-token-0123456789";

async fn gateway(tweak: impl FnOnce(&mut Config)) -> (String, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("m.db"), SqliteOptions::default()).unwrap();
    let mut config = Config::new(OperatorToken::new(OPERATOR));
    tweak(&mut config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(meshgate_server::serve(listener, Arc::new(store), config, std::future::pending()));
    (url, dir)
}

async fn client(url: &str, node: &str) -> Client {
    let c = Client::builder().node(node).gateway(url).token(OPERATOR).build().unwrap();
    c.register(meshgate_client::RegisterOptions::new()).await.unwrap();
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limited_send_is_retried_after_retry_after_with_the_same_idempotency_key() {
    let (url, _dir) = gateway(|c| {
        c.send_rate = Some(SendRate { per_second: 1.0, burst: 2 });
        c.loop_limit = None;
    })
    .await;
    let _bob = client(&url, "bob").await;
    let alice = client(&url, "alice").await;
    for i in 0..2 {
        alice.send("bob", Kind::Fyi, &format!("burst {i}"), SendOptions::new()).await.unwrap();
    }
    let started = Instant::now();
    let sent = alice.send("bob", Kind::Fyi, "third", SendOptions::new().idempotency_key("k-3")).await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(900), "waited {:?} before the retry", started.elapsed());
    // The key travelled with the retry: resending it returns the same DM.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let again = alice.send("bob", Kind::Fyi, "third", SendOptions::new().idempotency_key("k-3")).await.unwrap();
    assert_eq!(again.id, sent.id);
    let inbox = alice.fetch(meshgate_client::FetchOptions::all().to("bob").limit(100)).await.unwrap();
    assert_eq!(inbox.iter().filter(|m| m.content == "third").count(), 1, "stored once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wait_beyond_the_cap_fails_at_once_with_a_clear_error() {
    let (url, _dir) = gateway(|c| {
        c.send_rate = None;
        c.loop_limit = Some(LoopLimit { count: 2, window: Duration::from_secs(600) });
    })
    .await;
    let bob = client(&url, "bob").await;
    let alice = client(&url, "alice").await;
    alice.send("bob", Kind::Fyi, "ping", SendOptions::new()).await.unwrap();
    bob.send("alice", Kind::Fyi, "pong", SendOptions::new()).await.unwrap();
    let started = Instant::now();
    let err = alice.send("bob", Kind::Fyi, "ping", SendOptions::new()).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(5), "did not wait out 600 s");
    match &err {
        Error::Throttled { code, retry_after, attempts, detail } => {
            assert_eq!(code, "conversation_loop");
            assert_eq!(*attempts, 1);
            assert!(matches!(retry_after, Some(590..=600)), "{retry_after:?}");
            assert!(detail.contains("meshgate loops reset alice bob"), "{detail}");
        }
        other => panic!("expected Throttled, got {other:?}"),
    }
    let text = err.to_string();
    assert!(text.contains("429 conversation_loop") && text.contains("nothing was stored"), "{text}");
    // The operator resets the pair through the client.
    let op = Client::builder().node("operator").gateway(&url).token(OPERATOR).build().unwrap();
    let list = op.loops().await.unwrap();
    assert_eq!((list.tripped.len(), list.count), (1, Some(2)));
    assert!(op.reset_loop("bob", "alice").await.unwrap().was_tripped);
    alice.send("bob", Kind::Fyi, "ping", SendOptions::new()).await.unwrap();
}
