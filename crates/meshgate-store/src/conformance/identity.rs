//! Identity checks of the conformance story: thread names per minter,
//! self-DMs, one namespace for peers and aliases, retired names, purges
//! and per-peer guard policies.

use std::sync::Arc;

use meshgate_proto::Thread;

use super::{foreign_peer, ids, msg, query, reg, send};
use crate::{ImportRecord, PeerRegistration, RecordKind, Refusal, Store, StoreError, ThreadQuery, TokenHash};

fn refused(r: Result<impl std::fmt::Debug, StoreError>, want: Refusal) {
    match r {
        Err(StoreError::Refused(got, _)) if got == want => {}
        other => panic!("expected a {want:?} refusal, got {other:?}"),
    }
}

/// Minting a name never hands out another minter's thread nor changes it:
/// each peer (and the operator) has its own namespace of thread names.
pub async fn thread_names_are_scoped_per_minter(store: Arc<dyn Store>) {
    let alice = store.mint_thread_as("design", Some("s-alice"), Some("alice")).await.unwrap();
    assert_eq!((alice.created, alice.minted_by.as_deref()), (Some(true), Some("alice")));
    let mallory = store.mint_thread_as("design", Some("s-mallory"), Some("mallory")).await.unwrap();
    assert_eq!(mallory.created, Some(true), "a new thread in mallory's namespace");
    assert_ne!(mallory.thread_uuid, alice.thread_uuid);
    let operator = store.mint_thread("design", None).await.unwrap();
    assert_eq!((operator.created, operator.minted_by.as_deref()), (Some(true), None));
    assert_ne!(operator.thread_uuid, alice.thread_uuid);
    let kept = store.thread(&alice.thread_uuid).await.unwrap().unwrap();
    assert_eq!(kept.session_id.as_deref(), Some("s-alice"), "nobody else changed alice's thread");
    let again = store.mint_thread_as("design", None, Some("alice")).await.unwrap();
    assert_eq!((again.created, again.thread_uuid.as_str()), (Some(false), alice.thread_uuid.as_str()));
    assert_eq!(store.mint_thread("design", None).await.unwrap().thread_uuid, operator.thread_uuid);

    // A DM in alice's thread makes bob a member, not mallory.
    let mut m = msg("alice", "bob", "private");
    m.thread_id = Some(alice.thread_uuid.clone());
    send(&*store, m).await;
    let of = |who: &str| ThreadQuery { member: Some(who.into()), limit: 50, ..Default::default() };
    let uuids = |ts: Vec<Thread>| ts.into_iter().map(|t| t.thread_uuid).collect::<Vec<_>>();
    assert_eq!(uuids(store.threads(&of("bob")).await.unwrap()), [alice.thread_uuid.as_str()]);
    assert_eq!(uuids(store.threads(&of("mallory")).await.unwrap()), [mallory.thread_uuid.as_str()]);
    // A thread first seen on a message belongs to its sender's namespace.
    let implicit = "6b0c4a1e-1111-4222-8333-444455556666";
    let mut m = msg("carol", "bob", "implicit");
    m.thread_id = Some(implicit.into());
    send(&*store, m).await;
    assert_eq!(store.thread(implicit).await.unwrap().unwrap().minted_by.as_deref(), Some("carol"));
}

/// A thread name that parses as a UUID could shadow a thread id: refused.
pub async fn thread_names_cannot_be_uuids(store: Arc<dyn Store>) {
    for name in [
        "5b0c4a1e-1111-4222-8333-444455556666",
        "5B0C4A1E111142228333444455556666",
        "{5b0c4a1e-1111-4222-8333-444455556666}",
        "urn:uuid:5b0c4a1e-1111-4222-8333-444455556666",
    ] {
        refused(store.mint_thread(name, None).await, Refusal::ThreadNameIsUuid);
        refused(store.mint_thread_as(name, None, Some("p")).await, Refusal::ThreadNameIsUuid);
    }
    assert!(store.threads(&ThreadQuery { limit: 10, ..Default::default() }).await.unwrap().is_empty());
    store.mint_thread("5b0c4a1e-1111-4222-8333-44445555666", None).await.expect("one digit short is a name");
}

/// The store itself refuses a message to its own sender.
pub async fn self_messages_are_refused(store: Arc<dyn Store>) {
    refused(store.insert_message(msg("solo", "solo", "to me")).await, Refusal::SelfMessage);
    let all = store.list_messages(&query(10)).await.unwrap();
    assert!(all.is_empty(), "nothing stored");
}

/// Peers and aliases share one namespace, whichever comes first.
pub async fn peers_and_aliases_share_one_namespace(store: Arc<dyn Store>) {
    store.register_peer(reg("bob", "1")).await.unwrap();
    store.put_alias("bobby", "bob").await.unwrap();
    refused(store.register_peer(reg("bobby", "1")).await, Refusal::NameTaken);
    assert!(store.peer("bobby").await.unwrap().is_none(), "nothing registered");
    assert_eq!(store.token_owner(&TokenHash::of("token-bobby-1")).await.unwrap(), None, "no token minted");
    refused(store.put_alias("bob", "bob").await, Refusal::NameTaken);
    store.register_peer(reg("carol", "1")).await.unwrap();
    refused(store.put_alias("carol", "bob").await, Refusal::NameTaken);
    assert!(!store.resolve_name("carol").await.unwrap().unwrap().via_alias);
    // An import does not sneak a peer into an alias's name either.
    let stats = store.import_batch(vec![ImportRecord::Peer(foreign_peer("bobby", None, true, 3))]).await.unwrap();
    assert_eq!(stats.get(RecordKind::Peer).skipped_total(), 1);
    assert!(store.peer("bobby").await.unwrap().is_none());
}

/// Deleting a peer with DMs or threads retires its name: re-registering
/// it needs `adopt_history` (then the new peer inherits the history);
/// its aliases are gone for good, and the name cannot become an alias.
pub async fn deleted_names_with_history_are_retired(store: Arc<dyn Store>) {
    store.register_peer(reg("alice", "1")).await.unwrap();
    store.register_peer(reg("bob", "1")).await.unwrap();
    store.put_alias("bobby", "bob").await.unwrap();
    let mut m = msg("alice", "bob", "for the old bob");
    m.idempotency_key = Some("k".into());
    send(&*store, m).await;
    store.delete_peer("bob").await.unwrap();
    assert_eq!(store.resolve_name("bobby").await.unwrap(), None);
    refused(store.register_peer(reg("bob", "2")).await, Refusal::NameRetired);
    assert!(store.peer("bob").await.unwrap().is_none());
    assert_eq!(store.token_owner(&TokenHash::of("token-bob-2")).await.unwrap(), None, "no token minted");
    refused(store.put_alias("bob", "alice").await, Refusal::NameRetired);
    store.put_alias("bobby", "alice").await.expect("the old alias name is free");

    let adopted = store.register_peer(PeerRegistration { adopt_history: true, ..reg("bob", "3") }).await.unwrap();
    assert!(adopted.minted);
    assert!(store.token_owner(&TokenHash::of("token-bob-3")).await.unwrap().is_some());
    assert_eq!(store.resolve_name("bobby").await.unwrap().unwrap().canonical, "alice", "aliases stay as they are");

    // A peer without history leaves no retired name behind.
    store.register_peer(reg("temp", "1")).await.unwrap();
    store.delete_peer("temp").await.unwrap();
    store.register_peer(reg("temp", "2")).await.expect("nothing to protect");
}

/// Purging a name deletes its DMs (both directions, with their idempotency
/// keys), the threads it minted, its aliases and its retirement.
pub async fn purge_removes_a_peers_history(store: Arc<dyn Store>) {
    for n in ["alice", "bob", "carol"] {
        store.register_peer(reg(n, "1")).await.unwrap();
    }
    store.put_alias("bobby", "bob").await.unwrap();
    let t = store.mint_thread_as("bob-plans", None, Some("bob")).await.unwrap();
    let mut keyed = msg("bob", "alice", "from bob");
    keyed.idempotency_key = Some("k".into());
    keyed.thread_id = Some(t.thread_uuid.clone());
    send(&*store, keyed.clone()).await;
    send(&*store, msg("alice", "bob", "to bob")).await;
    let kept = send(&*store, msg("alice", "carol", "not bob's")).await;
    store.delete_peer("bob").await.unwrap();

    let purged = store.purge_peer("bob").await.unwrap();
    assert_eq!(purged, crate::Purged { peer: false, messages: 2, aliases: 0, threads: 1 });
    assert_eq!(ids(&store.list_messages(&query(10)).await.unwrap()), [kept]);
    assert!(store.thread(&t.thread_uuid).await.unwrap().is_none());
    assert!(matches!(store.purge_peer("bob").await, Err(StoreError::NotFound(_))));

    let fresh = store.register_peer(reg("bob", "2")).await.expect("the name is free again");
    assert!(fresh.minted);
    let again = store.insert_message(keyed).await.unwrap();
    assert!(!again.duplicate, "the old idempotency key went with its message");

    // Purging a live peer deletes it too.
    store.put_alias("cc", "carol").await.unwrap();
    let p = store.purge_peer("carol").await.unwrap();
    assert_eq!((p.peer, p.messages, p.aliases), (true, 1, 1));
    assert!(store.peer("carol").await.unwrap().is_none());
    assert_eq!(store.token_owner(&TokenHash::of("token-carol-1")).await.unwrap(), None);
    assert!(matches!(store.purge_peer("nobody").await, Err(StoreError::NotFound(_))));
}

/// Per-peer credential-guard policies are stored, shown in the peer
/// record, cleared, and die with the peer.
pub async fn peer_secret_guard_policies(store: Arc<dyn Store>) {
    store.register_peer(reg("gpu", "1")).await.unwrap();
    store.register_peer(reg("lab", "1")).await.unwrap();
    let guard = |name: &'static str| {
        let store = Arc::clone(&store);
        async move { store.peer(name).await.unwrap().unwrap().secret_guard }
    };
    assert_eq!(guard("lab").await, None, "the gateway's policy by default");
    let p = store.set_peer_secret_guard("lab", Some("off")).await.unwrap();
    assert_eq!((p.name.as_str(), p.secret_guard.as_deref()), ("lab", Some("off")));
    store.set_peer_secret_guard("gpu", Some("warn")).await.unwrap();
    let listed: Vec<(String, Option<String>)> =
        store.list_peers().await.unwrap().into_iter().map(|p| (p.name, p.secret_guard)).collect();
    assert_eq!(listed, [("gpu".into(), Some("warn".into())), ("lab".into(), Some("off".into()))]);
    store.register_peer(reg("gpu", "2")).await.unwrap();
    assert_eq!(guard("gpu").await.as_deref(), Some("warn"), "re-registration keeps the operator's policy");
    assert_eq!(store.set_peer_secret_guard("gpu", None).await.unwrap().secret_guard, None);
    assert!(matches!(store.set_peer_secret_guard("nobody", Some("off")).await, Err(StoreError::NotFound(_))));
    store.delete_peer("lab").await.unwrap();
    store.register_peer(reg("lab", "2")).await.unwrap();
    assert_eq!(guard("lab").await, None, "a new peer starts with the gateway's policy");
}
