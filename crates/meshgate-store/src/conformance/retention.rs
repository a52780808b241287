//! Retention batches ([`Store::purge_expired`]): expired DMs go in id order,
//! unread ones only when asked, young ones stay, and threads the purge left
//! empty go too.

use std::sync::Arc;

use super::{msg, reg};
use crate::{now_timestamp, MessageQuery, PurgePass, Retention, Store};

async fn ids(store: &dyn Store) -> Vec<i64> {
    let q = MessageQuery { limit: 100, order: crate::Order::OldestFirst, ..MessageQuery::default() };
    store.list_messages(&q).await.unwrap().iter().map(|m| m.id).collect()
}

/// Read DMs read before the cutoff go, batch by batch; unread ones stay
/// unless `unread_before` says otherwise; DMs read after the cutoff stay;
/// an emptied, idle thread goes, with the idempotency keys of the deleted
/// DMs.
pub async fn retention_deletes_expired_dms_and_emptied_threads(store: Arc<dyn Store>) {
    for name in ["ra", "rb"] {
        store.register_peer(reg(name, "1")).await.unwrap();
    }
    let thread = store.mint_thread("retained", None).await.unwrap().thread_uuid;
    let in_thread = |content: &str| {
        let mut m = msg("ra", "rb", content);
        m.thread_id = Some(thread.clone());
        m
    };
    let m1 = store.insert_message(in_thread("m1")).await.unwrap().message.id;
    let m2 = store.insert_message(in_thread("m2")).await.unwrap().message.id;
    let mut keyed = msg("ra", "rb", "m3");
    keyed.idempotency_key = Some("k3".into());
    let m3 = store.insert_message(keyed.clone()).await.unwrap().message.id;
    store.mark_read(&[m1, m3], None).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let cut = now_timestamp();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let m4 = store.insert_message(msg("rb", "ra", "m4")).await.unwrap().message.id;
    store.mark_read(&[m4], None).await.unwrap();

    let policy = Retention { read_before: Some(cut.clone()), unread_before: None };
    let first = store.purge_expired(&policy, 0, 2).await.unwrap();
    assert_eq!(first, PurgePass { messages: 1, threads: 0, next_after_id: m2, done: false });
    let second = store.purge_expired(&policy, first.next_after_id, 2).await.unwrap();
    assert_eq!(second, PurgePass { messages: 1, threads: 0, next_after_id: m4, done: false });
    let third = store.purge_expired(&policy, second.next_after_id, 2).await.unwrap();
    assert_eq!(third, PurgePass { messages: 0, threads: 0, next_after_id: m4, done: true });
    assert_eq!(ids(&*store).await, vec![m2, m4], "the unread m2 and the young m4 stay");
    assert!(store.thread(&thread).await.unwrap().is_some(), "m2 still holds the thread");
    // The key of a deleted DM is free again: the same send stores anew.
    let again = store.insert_message(keyed).await.unwrap();
    assert!(!again.duplicate);
    store.mark_read(&[again.message.id], None).await.unwrap();

    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let now = now_timestamp();
    let all = Retention { read_before: Some(now.clone()), unread_before: Some(now) };
    let pass = store.purge_expired(&all, 0, 1000).await.unwrap();
    assert_eq!((pass.messages, pass.threads, pass.done), (3, 1, true), "m2 (unread), m4, m3 again; the thread");
    assert!(ids(&*store).await.is_empty());
    assert!(store.thread(&thread).await.unwrap().is_none(), "emptied and idle");
    let idle = store.purge_expired(&Retention::default(), 0, 1000).await.unwrap();
    assert_eq!((idle.messages, idle.done), (0, true), "no cutoff, nothing to do");
}
