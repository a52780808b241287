//! What a member of a thread it did not mint sees of it, as
//! [`ThreadQuery::member`] promises.

use std::sync::Arc;

use super::{msg, send};
use crate::{Store, ThreadQuery};

/// Of a thread it did not mint, a member gets no `session_id`, its own
/// newest DM as `last_used_at` (and order), and does not find it by the
/// minter's session id; the minter and an unscoped query see the thread's
/// own values.
pub async fn member_view_hides_others_activity(store: Arc<dyn Store>) {
    let thread = store.mint_thread_as("merger", Some("s-alice"), Some("alice")).await.unwrap();
    let uuid = thread.thread_uuid.clone();
    let in_thread = |from: &str, to: &str| {
        let mut m = msg(from, to, "x");
        m.thread_id = Some(uuid.clone());
        m
    };
    send(&*store, in_thread("alice", "bob")).await;
    let joined = store.insert_message(in_thread("mallory", "bob")).await.unwrap().message.created_at;
    let own = store.mint_thread_as("mine", None, Some("mallory")).await.unwrap();
    let later = store.insert_message(in_thread("alice", "bob")).await.unwrap().message.created_at;
    store.mint_thread_as("merger", Some("s-alice-2"), Some("alice")).await.unwrap();

    let as_peer = |who: &str, session: Option<&str>| ThreadQuery {
        member: Some(who.into()),
        session_id: session.map(str::to_owned),
        limit: 50,
        ..Default::default()
    };
    let seen = store.threads(&as_peer("mallory", None)).await.unwrap();
    let order: Vec<&str> = seen.iter().map(|t| t.thread_uuid.as_str()).collect();
    assert_eq!(order, [own.thread_uuid.as_str(), uuid.as_str()], "ordered by her own activity");
    assert_eq!((seen[1].session_id.as_deref(), seen[1].last_used_at.as_deref()), (None, Some(joined.as_str())));
    assert!(store.threads(&as_peer("mallory", Some("s-alice-2"))).await.unwrap().is_empty());
    let bob = store.threads(&as_peer("bob", None)).await.unwrap();
    assert_eq!((bob[0].session_id.as_deref(), bob[0].last_used_at.as_deref()), (None, Some(later.as_str())));

    let alice = store.threads(&as_peer("alice", Some("s-alice-2"))).await.unwrap();
    assert_eq!(alice.len(), 1);
    assert_eq!(alice[0].session_id.as_deref(), Some("s-alice-2"));
    let all = ThreadQuery { session_id: Some("s-alice-2".into()), limit: 50, ..Default::default() };
    assert_eq!(store.threads(&all).await.unwrap()[0].thread_uuid, uuid);
}
