//! Checks of messages: sends, idempotency, listing, reads, wake-ups, concurrent writers.

use meshgate_proto::{Kind, MessageList};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use super::{ids, is_timestamp, msg, query, reg, send};
use crate::{MessageQuery, Order, Store, StoreError};

/// Sending stores every field; a resend with the same key and body returns
/// the original, a different body is a conflict, keys are per sender.
pub async fn send_and_idempotent_resend(store: Arc<dyn Store>) {
    let mut m = msg("lima", "mike", "hello");
    m.kind = Kind::Question;
    m.related_task_id = Some("task-7".into());
    m.idempotency_key = Some("k1".into());
    let first = store.insert_message(m.clone()).await.unwrap();
    assert!(!first.duplicate);
    let stored = first.message.clone();
    assert!(stored.id > 0);
    assert_eq!(stored.from_node, "lima");
    assert_eq!(stored.to_node, "mike");
    assert_eq!(stored.kind, Kind::Question);
    assert_eq!(stored.content, "hello");
    assert_eq!(stored.related_task_id.as_deref(), Some("task-7"));
    assert_eq!(stored.read_at, None);
    assert!(is_timestamp(&stored.created_at), "{}", stored.created_at);
    assert_eq!(store.message(stored.id).await.unwrap(), Some(stored.clone()));

    let again = store.insert_message(m.clone()).await.unwrap();
    assert!(again.duplicate);
    assert_eq!(again.message, stored);

    let mut changed = m.clone();
    changed.content = "hello!".into();
    assert!(matches!(store.insert_message(changed).await, Err(StoreError::Conflict(_))));
    let mut retargeted = m.clone();
    retargeted.to_node = "november".into();
    assert!(matches!(store.insert_message(retargeted).await, Err(StoreError::Conflict(_))));

    // The same key from another sender is a different message.
    let mut other = m.clone();
    other.from_node = "oscar".into();
    let other = store.insert_message(other).await.unwrap();
    assert!(!other.duplicate);
    assert_ne!(other.message.id, stored.id);

    // Without a key, identical sends are distinct messages.
    let a = send(&*store, msg("lima", "mike", "same")).await;
    let b = send(&*store, msg("lima", "mike", "same")).await;
    assert_ne!(a, b);
    assert_eq!(store.list_messages(&query(100)).await.unwrap().len(), 4);
    assert_eq!(store.message(999_999).await.unwrap(), None);
}

/// Every filter of [`MessageQuery`], alone and combined, with limits and
/// both orders.
pub async fn list_filters(store: Arc<dyn Store>) {
    let thread = "7f1c1f7e-0000-4000-8000-000000000001".to_owned();
    let a1 = send(&*store, msg("pa", "pb", "1")).await;
    let a2 = send(&*store, msg("pb", "pa", "2")).await;
    let mut q = msg("pa", "pc", "3");
    q.kind = Kind::Question;
    q.thread_id = Some(thread.clone());
    let a3 = send(&*store, q).await;
    let a4 = send(&*store, msg("pc", "pb", "4")).await;
    let mut t = msg("pb", "pa", "5");
    t.thread_id = Some(thread.clone());
    t.kind = Kind::Answer;
    let a5 = send(&*store, t).await;

    let run = |q: MessageQuery| {
        let store = Arc::clone(&store);
        async move {
            let rows = store.list_messages(&q).await.unwrap();
            let (n, body) = super::live::visited(&*store, &q).await;
            let expected = serde_json::to_vec(&MessageList { n: rows.len(), messages: rows.clone() }).unwrap();
            assert_eq!(n, rows.len(), "{q:?}");
            assert_eq!(String::from_utf8(body).unwrap(), String::from_utf8(expected).unwrap(), "{q:?}");
            ids(&rows)
        }
    };

    assert_eq!(run(query(100)).await, [a5, a4, a3, a2, a1], "newest first by default");
    assert_eq!(run(MessageQuery { order: Order::OldestFirst, ..query(100) }).await, [a1, a2, a3, a4, a5]);
    assert_eq!(run(query(2)).await, [a5, a4]);
    assert_eq!(run(MessageQuery { order: Order::OldestFirst, ..query(2) }).await, [a1, a2]);
    assert_eq!(run(MessageQuery { to: Some("pa".into()), ..query(100) }).await, [a5, a2]);
    assert_eq!(run(MessageQuery { from: Some("pa".into()), ..query(100) }).await, [a3, a1]);
    assert_eq!(run(MessageQuery { involving: Some("pc".into()), ..query(100) }).await, [a4, a3]);
    assert_eq!(run(MessageQuery { involving: Some("pa".into()), ..query(100) }).await, [a5, a3, a2, a1]);
    assert_eq!(run(MessageQuery { involving: Some("pa".into()), ..query(2) }).await, [a5, a3]);
    assert_eq!(
        run(MessageQuery { involving: Some("pa".into()), order: Order::OldestFirst, ..query(3) }).await,
        [a1, a2, a3]
    );
    assert_eq!(run(MessageQuery { involving: Some("pa".into()), to: Some("pb".into()), ..query(100) }).await, [a1]);
    assert_eq!(
        run(MessageQuery { involving: Some("pc".into()), to: Some("pa".into()), ..query(100) }).await,
        Vec::<i64>::new()
    );
    assert_eq!(
        run(MessageQuery { thread_id: Some(thread.clone()), order: Order::OldestFirst, ..query(100) }).await,
        [a3, a5]
    );
    assert_eq!(run(MessageQuery { kind: Some(Kind::Question), ..query(100) }).await, [a3]);
    assert_eq!(run(MessageQuery { kind: Some(Kind::Answer), to: Some("pa".into()), ..query(100) }).await, [a5]);
    assert_eq!(run(MessageQuery { after_id: Some(a2), order: Order::OldestFirst, ..query(100) }).await, [a3, a4, a5]);
    assert_eq!(run(MessageQuery { after_id: Some(a2), order: Order::OldestFirst, ..query(1) }).await, [a3]);
    assert_eq!(run(MessageQuery { after_id: Some(a2), involving: Some("pa".into()), ..query(100) }).await, [a5, a3]);

    // since: strictly after a stored created_at.
    let m2 = store.message(a2).await.unwrap().unwrap();
    let since = run(MessageQuery { since: Some(m2.created_at.clone()), ..query(100) }).await;
    assert!(!since.contains(&a1) && !since.contains(&a2), "{since:?}");
    assert!(since.contains(&a5));
    let all = run(MessageQuery { since: Some("2000-01-01T00:00:00.000000+00:00".into()), ..query(100) }).await;
    assert_eq!(all.len(), 5);
    let none = run(MessageQuery { since: Some("2999-01-01T00:00:00.000000+00:00".into()), ..query(100) }).await;
    assert!(none.is_empty());

    // unread_only.
    store.mark_read(&[a2], None).await.unwrap();
    assert_eq!(run(MessageQuery { to: Some("pa".into()), unread_only: true, ..query(100) }).await, [a5]);
    assert_eq!(run(MessageQuery { unread_only: true, ..query(100) }).await, [a5, a4, a3, a1]);
}

/// Ids grow strictly, and `created_at` never decreases with them.
pub async fn ids_strictly_increase(store: Arc<dyn Store>) {
    let mut prev_id = 0;
    let mut prev_at = String::new();
    for i in 0..20 {
        let m = store.insert_message(msg("qa", "qb", &format!("m{i}"))).await.unwrap().message;
        assert!(m.id > prev_id, "{} after {prev_id}", m.id);
        assert!(m.created_at >= prev_at, "{} after {prev_at}", m.created_at);
        prev_id = m.id;
        prev_at = m.created_at;
    }
}

/// Marking read keeps the first `read_at`, skips missing ids and honours the
/// recipient restriction.
pub async fn mark_read_is_idempotent_and_scoped(store: Arc<dyn Store>) {
    let a = send(&*store, msg("ra", "rb", "1")).await;
    let b = send(&*store, msg("ra", "rb", "2")).await;
    let c = send(&*store, msg("rb", "ra", "3")).await;

    let marked = store.mark_read(&[a, 999_999], Some("rb")).await.unwrap();
    assert_eq!(marked.len(), 1);
    assert_eq!(marked[0].id, a);
    let first = marked[0].read_at.clone();
    assert!(is_timestamp(&first), "{first}");
    assert_eq!(store.message(a).await.unwrap().unwrap().read_at.as_deref(), Some(first.as_str()));

    tokio::time::sleep(Duration::from_millis(5)).await;
    let again = store.mark_read(&[a, b], Some("rb")).await.unwrap();
    let again: Vec<(i64, String)> = again.into_iter().map(|m| (m.id, m.read_at)).collect();
    assert_eq!(again.len(), 2);
    assert_eq!(again[0], (a, first.clone()), "first read_at kept");
    assert_eq!(again[1].0, b);

    // Not the recipient: not marked, not returned.
    assert!(store.mark_read(&[c], Some("rb")).await.unwrap().is_empty());
    assert_eq!(store.message(c).await.unwrap().unwrap().read_at, None);
    // Without a recipient restriction (operator): marked.
    let op = store.mark_read(&[c], None).await.unwrap();
    assert_eq!(op.len(), 1);
    assert!(store.mark_read(&[], None).await.unwrap().is_empty());
}

/// Bodies come back byte for byte: NUL and other control characters,
/// every Unicode plane, and 200,000 characters.
pub async fn content_round_trips_exactly(store: Arc<dyn Store>) {
    let bodies = [
        "nul \u{0} inside".to_owned(),
        "\u{0}".to_owned(),
        "tab\tcr\rlf\nbell\u{7} é 😀 \u{10FFFF}".to_owned(),
        "😀".repeat(200_000),
    ];
    for body in bodies {
        let id = send(&*store, msg("ra", "rb", &body)).await;
        let got = store.message(id).await.unwrap().expect("stored");
        assert_eq!(got.content, body, "message {id}");
    }
}

/// `subscribe` sees the highest committed message id after each insert.
pub async fn wakeups_follow_commits(store: Arc<dyn Store>) {
    let mut rx = store.subscribe();
    assert_eq!(*rx.borrow_and_update(), 0, "a fresh store has no messages");
    let id = send(&*store, msg("ta", "tb", "wake")).await;
    tokio::time::timeout(Duration::from_secs(5), rx.changed()).await.expect("woken within 5 s").expect("sender alive");
    assert_eq!(*rx.borrow_and_update(), id);

    // A waiter parked before the commit is woken by it.
    let waiter = {
        let mut rx = store.subscribe();
        tokio::spawn(async move {
            rx.borrow_and_update();
            tokio::time::timeout(Duration::from_secs(5), rx.changed()).await.expect("woken").expect("sender alive");
            let v = *rx.borrow();
            v
        })
    };
    tokio::time::sleep(Duration::from_millis(20)).await;
    let id2 = send(&*store, msg("ta", "tb", "wake 2")).await;
    assert!(waiter.await.unwrap() >= id2);
    assert_eq!(*store.subscribe().borrow(), id2);

    // Writes that add no message do not have to wake anyone, but must not
    // lower the value.
    store.register_peer(reg("tango", "1")).await.unwrap();
    assert_eq!(*store.subscribe().borrow(), id2);
}

/// 32 tasks x 50 concurrent inserts: every id distinct, none lost, and the
/// published max id is the highest.
pub async fn concurrent_writers_lose_nothing(store: Arc<dyn Store>) {
    const TASKS: usize = 32;
    const EACH: usize = 50;
    let mut handles = Vec::with_capacity(TASKS);
    for t in 0..TASKS {
        let store = Arc::clone(&store);
        handles.push(tokio::spawn(async move {
            let mut ids = Vec::with_capacity(EACH);
            for i in 0..EACH {
                let mut m = msg(&format!("w{t}"), "sink", &format!("{t}/{i}"));
                // Every other message carries a key, to exercise that path too.
                if i % 2 == 0 {
                    m.idempotency_key = Some(format!("k{i}"));
                }
                ids.push(store.insert_message(m).await.expect("insert").message.id);
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
    assert_eq!(all.len(), TASKS * EACH);
    let stored = store.list_messages(&query(10_000)).await.unwrap();
    assert_eq!(stored.len(), TASKS * EACH, "none lost");
    let max = *all.iter().max().unwrap();
    assert_eq!(stored[0].id, max);
    assert_eq!(max, (TASKS * EACH) as i64, "ids are dense on a fresh store");
    assert_eq!(*store.subscribe().borrow(), max);
}

/// A migrated store reports a positive schema version.
pub async fn schema_version_is_positive(store: Arc<dyn Store>) {
    assert!(store.schema_version().await.unwrap() >= 1);
}

/// Whether the gateway vouched for the sender is stored with each DM and
/// comes back on every read: a row, a page of rows, a page encoded as
/// JSON (where the field is left out when false), an export.
pub async fn sender_verification_is_kept(store: Arc<dyn Store>) {
    let mut vouched = msg("sv-a", "sv-b", "sent with sv-a's own token");
    vouched.sender_verified = true;
    let vouched = send(&*store, vouched).await;
    let plain = send(&*store, msg("sv-a", "sv-b", "sent with the operator token")).await;
    for (id, verified) in [(vouched, true), (plain, false)] {
        let row = store.message(id).await.unwrap().expect("stored");
        assert_eq!(row.sender_verified, verified, "message({id})");
    }
    let page = store.list_messages(&query(10)).await.unwrap();
    let by_id = |id: i64| page.iter().find(|m| m.id == id).expect("listed").sender_verified;
    assert!(by_id(vouched));
    assert!(!by_id(plain));
    let (_, json) = super::live::visited(&*store, &query(10)).await;
    let body: serde_json::Value = serde_json::from_slice(&json).unwrap();
    for m in body["messages"].as_array().unwrap() {
        let expected = m["id"].as_i64() == Some(vouched);
        assert_eq!(m.get("sender_verified").is_some(), expected, "{m}");
    }
    let exported = super::export_all(&*store, 10).await;
    let flags: Vec<(i64, bool)> = exported
        .iter()
        .filter_map(|r| match r {
            crate::ImportRecord::Message(m) => Some((m.message.id, m.message.sender_verified)),
            _ => None,
        })
        .collect();
    assert!(flags.contains(&(vouched, true)) && flags.contains(&(plain, false)), "{flags:?}");
}

/// `prior_message` answers what a resend would get (the original, or a
/// conflict for another body) and stores nothing; `None` without a key or
/// for an unused one.
pub async fn prior_message_answers_without_storing(store: Arc<dyn Store>) {
    let mut m = msg("lima", "mike", "hello");
    assert!(store.prior_message(&m).await.unwrap().is_none(), "no key");
    m.idempotency_key = Some("k1".into());
    assert!(store.prior_message(&m).await.unwrap().is_none(), "unused key");
    let first = store.insert_message(m.clone()).await.unwrap();
    let prior = store.prior_message(&m).await.unwrap().expect("the stored original");
    assert!(prior.duplicate);
    assert_eq!(prior.message, first.message);
    let mut changed = m.clone();
    changed.content = "hello!".into();
    assert!(matches!(store.prior_message(&changed).await, Err(StoreError::Conflict(_))));
    let mut other = m.clone();
    other.from_node = "oscar".into();
    assert!(store.prior_message(&other).await.unwrap().is_none(), "keys are per sender");
    let all = store.list_messages(&query(10)).await.unwrap();
    assert_eq!(all.len(), 1, "nothing stored by the lookups");
}
