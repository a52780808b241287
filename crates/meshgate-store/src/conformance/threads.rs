//! Checks of threads: minting, listing, membership.

use std::sync::Arc;
use std::time::Duration;

use super::{ids, is_timestamp, msg, query, send};
use crate::{MessageQuery, Order, Store, ThreadQuery};

/// Minting is idempotent by name; listing filters and orders by use.
pub async fn threads_mint_and_list(store: Arc<dyn Store>) {
    let t = store.mint_thread("lab\u{2194}gpu:phase-7", Some("s1")).await.unwrap();
    assert_eq!(t.created, Some(true));
    assert_eq!(t.peer_pair, "lab\u{2194}gpu");
    assert_eq!(t.topic, "phase-7");
    assert_eq!(t.session_id.as_deref(), Some("s1"));
    assert_eq!(t.thread_uuid.len(), 36, "a UUID: {}", t.thread_uuid);
    assert!(is_timestamp(&t.created_at));

    tokio::time::sleep(Duration::from_millis(5)).await;
    let again = store.mint_thread("lab\u{2194}gpu:phase-7", None).await.unwrap();
    assert_eq!(again.created, Some(false));
    assert_eq!(again.thread_uuid, t.thread_uuid);
    assert_eq!(again.session_id.as_deref(), Some("s1"), "kept when not given");
    assert_eq!(again.created_at, t.created_at);
    assert!(again.last_used_at >= t.last_used_at);
    let moved = store.mint_thread("lab\u{2194}gpu:phase-7", Some("s2")).await.unwrap();
    assert_eq!(moved.session_id.as_deref(), Some("s2"));

    let plain = store.mint_thread("no-colon", None).await.unwrap();
    assert_eq!((plain.peer_pair.as_str(), plain.topic.as_str()), ("no-colon", ""));
    tokio::time::sleep(Duration::from_millis(5)).await;
    let other = store.mint_thread("ops\u{2194}lab:deploy", Some("s3")).await.unwrap();

    let got = store.thread(&t.thread_uuid).await.unwrap().unwrap();
    assert_eq!(got.thread_name, "lab\u{2194}gpu:phase-7");
    assert_eq!(store.thread("00000000-0000-4000-8000-000000000000").await.unwrap(), None);

    let list = |q: ThreadQuery| {
        let store = Arc::clone(&store);
        async move { store.threads(&q).await.unwrap().into_iter().map(|t| t.thread_uuid).collect::<Vec<_>>() }
    };
    let all = list(ThreadQuery { limit: 50, ..Default::default() }).await;
    assert_eq!(all.len(), 3);
    assert_eq!(all[0], other.thread_uuid, "most recently used first");
    assert_eq!(list(ThreadQuery { limit: 1, ..Default::default() }).await, vec![other.thread_uuid.clone()]);
    let lab = list(ThreadQuery { peer: Some("lab".into()), limit: 50, ..Default::default() }).await;
    assert_eq!(lab, [other.thread_uuid.clone(), t.thread_uuid.clone()]);
    assert_eq!(
        list(ThreadQuery { topic: Some("phase".into()), limit: 50, ..Default::default() }).await,
        vec![t.thread_uuid.clone()]
    );
    assert_eq!(
        list(ThreadQuery { session_id: Some("s3".into()), limit: 50, ..Default::default() }).await,
        vec![other.thread_uuid.clone()]
    );
    assert!(list(ThreadQuery { session_id: Some("s".into()), limit: 50, ..Default::default() }).await.is_empty());
}

/// `member` finds exactly the threads a peer takes part in: minted by it,
/// or with a DM it sent or received. Being named in a thread's name gives
/// nothing, and neither does a name that merely contains the member's.
pub async fn threads_by_membership(store: Arc<dyn Store>) {
    let named = store.mint_thread_as("ann\u{2194}bob:plans", None, Some("ann")).await.unwrap();
    let longer = store.mint_thread_as("ann-2\u{2194}cat:other", None, Some("ann-2")).await.unwrap();
    let foreign = store.mint_thread("tooling:release", None).await.unwrap();
    let mut m = msg("cat", "ann", "in a foreign-named thread");
    m.thread_id = Some(foreign.thread_uuid.clone());
    send(&*store, m).await;
    let member = |name: &str| {
        let store = Arc::clone(&store);
        let q = ThreadQuery { member: Some(name.into()), limit: 50, ..Default::default() };
        async move {
            let mut ids: Vec<String> = store.threads(&q).await.unwrap().into_iter().map(|t| t.thread_uuid).collect();
            ids.sort();
            ids
        }
    };
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    assert_eq!(member("ann").await, sorted(vec![named.thread_uuid.clone(), foreign.thread_uuid.clone()]));
    assert!(member("bob").await.is_empty(), "named in the pair, no DM: not a member");
    assert_eq!(member("cat").await, vec![foreign.thread_uuid.clone()]);
    assert_eq!(member("ann-2").await, vec![longer.thread_uuid.clone()]);
    assert!(member("an").await.is_empty(), "substrings are not members");
}

/// A message carrying an unknown thread UUID registers that thread, and
/// messages bump a known thread's `last_used_at`.
pub async fn unknown_thread_id_registers_a_thread(store: Arc<dyn Store>) {
    let uuid = "5b0c4a1e-1111-4222-8333-444455556666";
    let mut m = msg("sa", "sb", "first in thread");
    m.thread_id = Some(uuid.into());
    let id = send(&*store, m.clone()).await;
    let t = store.thread(uuid).await.unwrap().expect("implicit thread");
    assert_eq!(t.thread_name, uuid);
    assert_eq!(t.peer_pair, "sa\u{2194}sb");
    assert_eq!(t.topic, "");
    let used = t.last_used_at.clone().expect("last_used_at");

    tokio::time::sleep(Duration::from_millis(5)).await;
    m.content = "second".into();
    let id2 = send(&*store, m).await;
    let t2 = store.thread(uuid).await.unwrap().unwrap();
    assert!(t2.last_used_at.unwrap() > used, "a message bumps last_used_at");
    assert_eq!(t2.created_at, t.created_at);
    let rows = store
        .list_messages(&MessageQuery { thread_id: Some(uuid.into()), order: Order::OldestFirst, ..query(10) })
        .await
        .unwrap();
    assert_eq!(ids(&rows), [id, id2]);

    // A minted thread's uuid used in a message: still one thread.
    let minted = store.mint_thread("sa\u{2194}sb:topic", None).await.unwrap();
    let mut m = msg("sa", "sb", "in minted");
    m.thread_id = Some(minted.thread_uuid.clone());
    send(&*store, m).await;
    let listed = store.threads(&ThreadQuery { limit: 50, ..Default::default() }).await.unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0].thread_name, "sa\u{2194}sb:topic");
}

/// `peer_aliases` are further names of the filtered peer: a thread whose
/// pair names any of them is found.
pub async fn threads_peer_filter_takes_every_name_of_the_peer(store: Arc<dyn Store>) {
    let by_alias = store.mint_thread("lab\u{2194}gpu:one", None).await.unwrap();
    let by_name = store.mint_thread("ops\u{2194}lab-ovh:two", None).await.unwrap();
    let neither = store.mint_thread("ops\u{2194}gpu:three", None).await.unwrap();
    let found = |peer: &str, aliases: &[&str]| {
        let q = ThreadQuery {
            peer: Some(peer.into()),
            peer_aliases: aliases.iter().map(|a| a.to_string()).collect(),
            limit: 50,
            ..Default::default()
        };
        let store = Arc::clone(&store);
        async move {
            let mut ids: Vec<String> = store.threads(&q).await.unwrap().into_iter().map(|t| t.thread_uuid).collect();
            ids.sort();
            ids
        }
    };
    let mut both = vec![by_alias.thread_uuid.clone(), by_name.thread_uuid.clone()];
    both.sort();
    assert_eq!(found("lab-ovh", &["lab"]).await, both);
    assert_eq!(found("lab", &["lab-ovh"]).await, both);
    assert_eq!(found("gpu", &[]).await.len(), 2);
    assert!(!found("lab", &["lab-ovh"]).await.contains(&neither.thread_uuid));
}

/// `peer` matches a whole side of the pair, whatever separator (`↔`,
/// `<->`, `--`) and spacing the name uses, in any case; never a part of
/// a longer name, and LIKE wildcards in it match nothing but themselves.
pub async fn threads_peer_filter_is_an_exact_name(store: Arc<dyn Store>) {
    let mut uuid = Vec::new();
    for name in [
        "ann\u{2194}bob:a",
        "ann-2\u{2194}cat:b",
        "bob <-> ann:c",
        "cat--ann:d",
        "Ann\u{2194}Dan:e",
        "joanna\u{2194}x:f",
    ] {
        uuid.push(store.mint_thread(name, None).await.unwrap().thread_uuid);
    }
    let found = |peer: &str| {
        let q = ThreadQuery { peer: Some(peer.into()), limit: 50, ..Default::default() };
        let store = Arc::clone(&store);
        async move {
            let mut ids: Vec<String> = store.threads(&q).await.unwrap().into_iter().map(|t| t.thread_uuid).collect();
            ids.sort();
            ids
        }
    };
    let mut ann = vec![uuid[0].clone(), uuid[2].clone(), uuid[3].clone(), uuid[4].clone()];
    ann.sort();
    assert_eq!(found("ann").await, ann);
    assert_eq!(found("ann-2").await, vec![uuid[1].clone()]);
    for nothing in ["an", "nn", "ann-", "a_n", "a%", "%", "_"] {
        assert!(found(nothing).await.is_empty(), "{nothing:?} is no whole name");
    }
}
