//! The send route's insert re-checks both ends in its own transaction
//! ([`Store::insert_message_between_peers`]).

use std::sync::Arc;

use super::{msg, reg};
use tokio::task::JoinHandle;

use crate::{Inserted, MessageQuery, Refusal, Store, StoreError};

fn not_found(r: Result<impl std::fmt::Debug, StoreError>, name: &str) {
    match r {
        Err(StoreError::NotFound(what)) if what.contains(name) => {}
        other => panic!("expected NotFound naming {name:?}, got {other:?}"),
    }
}

/// Six concurrent inserts of `from` -> `to`.
fn race(store: &Arc<dyn Store>, from: &str, to: &str) -> Vec<JoinHandle<Result<Inserted, StoreError>>> {
    (0..6)
        .map(|i| {
            let (store, m) = (store.clone(), msg(from, to, &format!("{i}")));
            tokio::spawn(async move { store.insert_message_between_peers(m).await })
        })
        .collect()
}

/// How many of `sends` stored their DM; every other one must be refused
/// as `NotFound`.
async fn stored(sends: Vec<JoinHandle<Result<Inserted, StoreError>>>) -> usize {
    let mut stored = 0;
    for send in sends {
        match send.await.unwrap() {
            Ok(_) => stored += 1,
            Err(StoreError::NotFound(_)) => {}
            Err(e) => panic!("{e:?}"),
        }
    }
    stored
}

/// A DM to or from a peer that is gone is refused, and an insert racing a
/// delete either lands before it (the name is then retired, as it has
/// history) or is refused: a DM never waits under a free name for the next
/// peer to register it.
pub async fn sends_recheck_that_both_ends_are_peers(store: Arc<dyn Store>) {
    for name in ["sa", "sb"] {
        store.register_peer(reg(name, "1")).await.unwrap();
    }
    store.insert_message_between_peers(msg("sa", "sb", "ok")).await.unwrap();
    not_found(store.insert_message_between_peers(msg("sa", "nobody", "x")).await, "nobody");
    not_found(store.insert_message_between_peers(msg("nobody", "sa", "x")).await, "nobody");
    store.register_peer(reg("sc", "1")).await.unwrap();
    store.delete_peer("sc").await.unwrap();
    not_found(store.insert_message_between_peers(msg("sa", "sc", "after delete")).await, "sc");
    // No history, so the name is free, and the new sc inherits nothing.
    store.register_peer(reg("sc", "2")).await.unwrap();
    let to_sc = MessageQuery { to: Some("sc".into()), limit: 10, ..Default::default() };
    assert!(store.list_messages(&to_sc).await.unwrap().is_empty());

    for round in 0..8 {
        let name = format!("race{round}");
        store.register_peer(reg(&name, "1")).await.unwrap();
        let sends = race(&store, "sa", &name);
        tokio::task::yield_now().await;
        store.delete_peer(&name).await.unwrap();
        let stored = stored(sends).await;
        let q = MessageQuery { to: Some(name.clone()), limit: 10, ..Default::default() };
        assert_eq!(store.list_messages(&q).await.unwrap().len(), stored, "round {round}");
        match store.register_peer(reg(&name, "2")).await {
            Err(StoreError::Refused(Refusal::NameRetired, _)) => assert!(stored > 0, "round {round}"),
            Ok(_) => assert_eq!(stored, 0, "round {round}: the new {name} would read {stored} DMs"),
            Err(e) => panic!("{e:?}"),
        }
    }
}

/// The same re-check right after both ends were resolved (as the send
/// route does; a backend may keep resolutions): a delete or purge of either
/// end, alone or racing the inserts, still refuses the DM, and a resolution
/// after the change says so.
pub async fn sends_recheck_peers_resolved_just_before(store: Arc<dyn Store>) {
    for name in ["ra", "rb", "rc"] {
        store.register_peer(reg(name, "1")).await.unwrap();
        assert!(store.resolve_name(name).await.unwrap().is_some());
    }
    store.insert_message_between_peers(msg("ra", "rb", "ok")).await.unwrap();
    store.delete_peer("rb").await.unwrap();
    not_found(store.insert_message_between_peers(msg("ra", "rb", "after delete")).await, "rb");
    not_found(store.insert_message_between_peers(msg("rb", "ra", "after delete")).await, "rb");
    assert_eq!(store.resolve_name("rb").await.unwrap(), None);
    store.purge_peer("rc").await.unwrap();
    not_found(store.insert_message_between_peers(msg("ra", "rc", "after purge")).await, "rc");
    assert_eq!(store.resolve_name("rc").await.unwrap(), None);

    for round in 0..8 {
        let name = format!("rrace{round}");
        store.register_peer(reg(&name, "1")).await.unwrap();
        assert!(store.resolve_name(&name).await.unwrap().is_some());
        let sends = race(&store, &name, "ra");
        tokio::task::yield_now().await;
        store.delete_peer(&name).await.unwrap();
        not_found(store.insert_message_between_peers(msg(&name, "ra", "late")).await, &name);
        let stored = stored(sends).await;
        let q = MessageQuery { from: Some(name.clone()), limit: 10, ..Default::default() };
        assert_eq!(store.list_messages(&q).await.unwrap().len(), stored, "round {round}");
    }
}
