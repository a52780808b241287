//! The `GET /messages` page cache (SQLite): a page is answered again only
//! while nothing committed since it was read, whoever committed (this
//! gateway, or another process on the same file); it is never answered to a
//! caller the query was not authorised for; and it stays within
//! `--page-cache-bytes` whatever a peer asks.

use std::sync::Arc;

use crate::common::{Gateway, OPERATOR};
use meshgate_store::{NewMessage, Store};
use meshgate_store_sqlite::{SqliteOptions, SqliteStore};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// A `meshgate_*` counter or gauge from `/metrics`.
async fn metric(gw: &Gateway, name: &str) -> u64 {
    let text = gw.http.get(format!("{}/metrics", gw.url)).bearer_auth(OPERATOR).send().await.unwrap();
    let text = text.text().await.unwrap();
    let line = text
        .lines()
        .find(|l| l.split(' ').next() == Some(name))
        .unwrap_or_else(|| panic!("no {name} in /metrics:\n{text}"));
    line.rsplit(' ').next().unwrap().parse().unwrap()
}

async fn hits(gw: &Gateway) -> u64 {
    metric(gw, "meshgate_page_cache_hits_total").await
}

async fn page(gw: &Gateway, token: &str, path: &str) -> (StatusCode, Value) {
    gw.call(Method::GET, path, Some(token), None).await
}

fn ids(v: &Value) -> Vec<i64> {
    v["messages"]
        .as_array()
        .unwrap_or_else(|| panic!("not a page: {v}"))
        .iter()
        .map(|m| m["id"].as_i64().unwrap())
        .collect()
}

async fn sent(gw: &Gateway, from: &str, to: &str, content: &str) -> i64 {
    let (s, v) = gw.send(from, to, content).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v["id"].as_i64().unwrap()
}

/// Whether reading `path` twice in a row gets the second answer from the
/// cache (retried: a commit between the two, e.g. of `last_seen`, empties it).
async fn answered_from_cache(gw: &Gateway, token: &str, path: &str) -> bool {
    for _ in 0..50 {
        let before = hits(gw).await;
        let first = page(gw, token, path).await;
        let second = page(gw, token, path).await;
        assert_eq!(first, second, "{path}");
        if hits(gw).await > before {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    false
}

/// A gateway over a file this test can also open as "another process".
async fn gateway_on_file() -> (Gateway, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("meshgate.db");
    let store = SqliteStore::open(&path, SqliteOptions::default()).unwrap();
    (Gateway::start_on(Arc::new(store), Box::new(dir), |_| {}).await, path)
}

#[tokio::test]
async fn a_kept_page_is_answered_again_only_until_something_commits() {
    let (gw, path) = gateway_on_file().await;
    let bob = gw.register("bob").await;
    gw.register("alice").await;
    gw.register("carol").await;
    let first = sent(&gw, "alice", "bob", "one").await;
    let inbox = "/messages?unread_only=true&limit=50";

    // The first read hands the DM over (a commit); from then on, the same
    // question is answered from the cache.
    assert_eq!(ids(&page(&gw, &bob, inbox).await.1), [first]);
    assert!(
        answered_from_cache(&gw, &bob, inbox).await,
        "an unchanged inbox read twice was never answered from the cache"
    );

    // A send through the gateway.
    let second = sent(&gw, "carol", "bob", "two").await;
    assert_eq!(ids(&page(&gw, &bob, inbox).await.1), [second, first], "a new DM");
    // Marking read.
    let (s, v) = gw.call(Method::POST, &format!("/messages/{first}/read"), Some(&bob), None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(ids(&page(&gw, &bob, inbox).await.1), [second], "read DMs leave the unread page");
    // An alias repointed: the operator's page by alias follows it.
    let by_alias = "/messages?to=bb&peek=true";
    gw.post("/aliases", json!({"alias": "bb", "canonical": "bob"})).await;
    assert_eq!(ids(&gw.get(by_alias).await.1), [second, first]);
    gw.post("/aliases", json!({"alias": "bb", "canonical": "carol"})).await;
    assert_eq!(ids(&gw.get(by_alias).await.1), Vec::<i64>::new(), "repointed");

    // Another process writes the same file (as `meshgate import` into a
    // running gateway's file does): the next read sees its DM.
    let other = SqliteStore::open(&path, SqliteOptions::default()).unwrap();
    let before = ids(&page(&gw, &bob, inbox).await.1);
    let msg = NewMessage {
        from_node: "carol".into(),
        to_node: "bob".into(),
        kind: meshgate_proto::Kind::Fyi,
        content: "from elsewhere".into(),
        thread_id: None,
        related_task_id: None,
        idempotency_key: None,
        in_reply_to: None,
        due_at: None,
        sender_verified: false,
    };
    let third = other.insert_message(msg).await.unwrap().message.id;
    let after = ids(&page(&gw, &bob, inbox).await.1);
    assert_eq!(after[0], third, "another process's DM; before: {before:?}");
    // ...and its marking read of a page the gateway keeps.
    assert!(answered_from_cache(&gw, &bob, inbox).await, "the unchanged page was kept");
    other.mark_read(&[third], Some("bob")).await.unwrap();
    drop(other);
    assert_eq!(ids(&page(&gw, &bob, inbox).await.1), [second], "read elsewhere");
    gw.stop().await;
}

#[tokio::test]
async fn a_third_peer_never_gets_another_peers_kept_page() {
    let gw = Gateway::start().await;
    let alice = gw.register("alice").await;
    let mallory = gw.register("mallory").await;
    gw.register("bob").await;
    let secret = sent(&gw, "bob", "alice", "for alice only").await;
    let own = sent(&gw, "bob", "mallory", "for mallory").await;
    // Alice's own-inbox page is kept (read twice, nothing between).
    let query = "/messages?unread_only=true&limit=50&peek=true";
    assert_eq!(ids(&page(&gw, &alice, query).await.1), [secret]);
    assert!(answered_from_cache(&gw, &alice, query).await, "alice's page was kept");
    // Mallory asks the very same URL with her own token: her own page.
    assert_eq!(ids(&page(&gw, &mallory, query).await.1), [own]);
    // Naming alice is refused, as without a cache, however it is spelt.
    for path in [
        "/messages?to=alice&unread_only=true&limit=50&peek=true",
        "/messages?from=alice&unread_only=true&limit=50&peek=true",
        "/messages?to_node=alice&unread_only=true&limit=50&peek=true",
    ] {
        let (s, v) = page(&gw, &mallory, path).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{path}: {v}");
        assert!(!v.to_string().contains("for alice only"), "{v}");
    }
    // A token that is revoked stops reading at once, kept page or not.
    let (s, v) = gw.post("/peers/alice/revoke", json!({})).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, v) = page(&gw, &alice, query).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{v}");
    gw.stop().await;
}

#[tokio::test]
async fn the_page_cache_stays_within_its_bytes_whatever_a_peer_asks() {
    const BOUND: usize = 256 << 10;
    let gw = Gateway::start_with(|c| c.page_cache_bytes = BOUND).await;
    let mallory = gw.register("mallory").await;
    let alice = gw.register("alice").await;
    gw.register("bob").await;
    for i in 0..40 {
        sent(&gw, "bob", "mallory", &format!("{i} {}", "x".repeat(200))).await;
    }
    sent(&gw, "bob", "alice", "hi alice").await;
    // 1,000 distinct questions, each page up to ~12 KB, with no commit
    // between them (peek: nothing is handed over).
    let mut most = 0;
    for limit in 1..=1000 {
        let (s, v) = page(&gw, &mallory, &format!("/messages?peek=true&limit={limit}")).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        let held = metric(&gw, "meshgate_page_cache_bytes").await as usize;
        assert!(
            held <= BOUND / 4,
            "mallory's pages hold {held} bytes after {limit} questions (her share {})",
            BOUND / 4
        );
        most = most.max(held);
        if limit % 100 == 0 {
            // Alice's poll still finds room.
            assert!(
                answered_from_cache(&gw, &alice, "/messages?peek=true&unread_only=true").await,
                "alice's poll was never kept after mallory's {limit} questions"
            );
        }
    }
    // Pages were kept at all (a commit, e.g. of last_seen, empties it).
    assert!(most > BOUND / 8, "at most {most} bytes were ever kept");
    gw.stop().await;
}

#[tokio::test]
async fn a_peer_polling_with_its_own_token_keeps_its_page_across_last_seen_writes() {
    let gw = Gateway::start_with(|c| c.last_seen_flush = std::time::Duration::from_millis(50)).await;
    let bob = gw.register("bob").await;
    gw.register("alice").await;
    let id = sent(&gw, "alice", "bob", "hi").await;
    let inbox = "/messages?unread_only=true";
    // The first reads hand the DM over (a commit); then every poll of bob's
    // makes a last_seen write 50 ms later, which shows on no page.
    assert!(answered_from_cache(&gw, &bob, inbox).await);
    let before = hits(&gw).await;
    for _ in 0..5 {
        tokio::time::sleep(std::time::Duration::from_millis(150)).await;
        assert_eq!(ids(&page(&gw, &bob, inbox).await.1), [id]);
    }
    let kept = hits(&gw).await - before;
    assert!(kept >= 4, "only {kept} of 5 polls 150 ms apart were answered from the cache");
    // A change still shows at once.
    let second = sent(&gw, "alice", "bob", "again").await;
    assert_eq!(ids(&page(&gw, &bob, inbox).await.1), [second, id]);
    gw.stop().await;
}

#[tokio::test]
async fn pages_under_odd_long_keys_are_not_kept() {
    let gw = Gateway::start().await;
    let mallory = gw.register("mallory").await;
    // A thread id matches nothing but is part of the key: ~600 bytes of it
    // would be held beside an empty page.
    let path = format!("/messages?peek=true&thread_id={}", "z".repeat(600));
    for _ in 0..3 {
        let (s, v) = page(&gw, &mallory, &path).await;
        assert_eq!((s, ids(&v).len()), (StatusCode::OK, 0), "{v}");
    }
    assert_eq!(metric(&gw, "meshgate_page_cache_bytes").await, 0);
    assert!(answered_from_cache(&gw, &mallory, "/messages?peek=true&thread_id=zz").await, "a short one is");
    gw.stop().await;
}

#[tokio::test]
async fn no_page_is_kept_when_the_cache_is_off() {
    let gw = Gateway::start_with(|c| c.page_cache_bytes = 0).await;
    let bob = gw.register("bob").await;
    gw.register("alice").await;
    sent(&gw, "alice", "bob", "hi").await;
    for _ in 0..5 {
        assert_eq!(ids(&page(&gw, &bob, "/messages?peek=true").await.1).len(), 1);
    }
    assert_eq!(hits(&gw).await, 0);
    assert_eq!(metric(&gw, "meshgate_page_cache_bytes").await, 0);
    gw.stop().await;
}
