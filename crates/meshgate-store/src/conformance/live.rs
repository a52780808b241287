//! Conformance checks of what live delivery relies on: byte-bounded pages,
//! message heads, credential events.

use std::sync::Arc;
use std::time::Duration;

use meshgate_proto::{Message, MessageList, MessageListWriter, MessageRef};
use tokio::sync::broadcast;

use super::{foreign_token, ids, msg, query, reg, send};
use crate::{CredentialEvent, ImportRecord, MessageQuery, Order, Store, TokenHash};

/// The page of `q` as `GET /messages` encodes it from the rows
/// [`Store::visit_messages`] hands over (cut at `q.max_bytes`): its row
/// count and body.
pub(super) async fn visited(store: &dyn Store, q: &MessageQuery) -> (usize, Vec<u8>) {
    let mut w = MessageListWriter::with_capacity(0);
    let max = q.max_bytes;
    store.visit_messages(q, &mut |m: MessageRef<'_>| w.push_within(&m, max)).await.unwrap();
    (w.len(), w.finish().expect("every row encodes"))
}

/// Both list forms of `q`: the same rows, the JSON byte-identical to serde's.
async fn page(store: &dyn Store, q: &MessageQuery) -> Vec<Message> {
    let rows = store.list_messages(q).await.unwrap();
    let (n, body) = visited(store, q).await;
    let expected = serde_json::to_vec(&MessageList { n: rows.len(), messages: rows.clone() }).unwrap();
    assert_eq!(n, rows.len(), "{q:?}");
    assert!(body == expected, "the visited page differs from list_messages for {q:?}");
    rows
}

/// A page stops before the row that would take its encoded rows past
/// `max_bytes` (always at least one row), in both list forms, in both
/// orders and for scoped queries; `after_id` continues without a gap.
pub async fn pages_stop_at_the_byte_budget(store: Arc<dyn Store>) {
    // Control characters escape to six bytes: 200 of them encode to 1,200.
    let body = "\u{1}".repeat(200);
    let mut sent = Vec::new();
    for i in 0..6 {
        let (from, to) = if i % 2 == 0 { ("ba", "bb") } else { ("bb", "ba") };
        sent.push(send(&*store, msg(from, to, &body)).await);
    }
    let all = page(&*store, &MessageQuery { order: Order::OldestFirst, max_bytes: 0, ..query(100) }).await;
    assert_eq!(ids(&all), sent);
    let row = MessageRef::from(&all[0]).json_len();
    assert!(row > 1200, "a row holds its escaped body");
    // Room for exactly two rows and their comma; one byte less: one row.
    let two = 2 * row + 1;
    for order in [Order::OldestFirst, Order::NewestFirst] {
        let q = MessageQuery { order, max_bytes: two, ..query(100) };
        let expected: Vec<i64> = match order {
            Order::OldestFirst => sent[..2].to_vec(),
            Order::NewestFirst => sent[4..].iter().rev().copied().collect(),
        };
        assert_eq!(ids(&page(&*store, &q).await), expected, "{order:?}");
        assert_eq!(ids(&page(&*store, &MessageQuery { max_bytes: two - 1, ..q.clone() }).await), expected[..1]);
        assert_eq!(ids(&page(&*store, &MessageQuery { max_bytes: 1, ..q.clone() }).await), expected[..1]);
        let scoped = MessageQuery { involving: Some("ba".into()), ..q.clone() };
        assert_eq!(ids(&page(&*store, &scoped).await), expected, "involving, {order:?}");
        let to = MessageQuery { to: Some("bb".into()), ..q.clone() };
        assert_eq!(page(&*store, &to).await.len(), 2, "to, {order:?}");
    }
    // A cursor walks every row, two per page, without gap or repeat.
    let mut seen = Vec::new();
    let mut after = 0;
    loop {
        let q = MessageQuery { after_id: Some(after), order: Order::OldestFirst, max_bytes: two, ..query(100) };
        let rows = page(&*store, &q).await;
        let Some(last) = rows.last() else { break };
        assert!(rows.len() <= 2);
        after = last.id;
        seen.extend(ids(&rows));
    }
    assert_eq!(seen, sent);
    // The default budget is the gateway's: a count limit alone does not bound a page.
    assert_eq!(MessageQuery::default().max_bytes, meshgate_proto::PAGE_BYTES_DEFAULT);
}

/// `message_heads` gives id, sender and recipient after a cursor, in id
/// order, up to its limit.
pub async fn message_heads_follow_ids(store: Arc<dyn Store>) {
    assert!(store.message_heads(0, 10).await.unwrap().is_empty());
    let a = send(&*store, msg("ha", "hb", "one")).await;
    let b = send(&*store, msg("hb", "hc", &"x".repeat(10_000))).await;
    let c = send(&*store, msg("hc", "ha", "three")).await;
    let heads = store.message_heads(0, 10).await.unwrap();
    let got: Vec<(i64, &str, &str)> = heads.iter().map(|h| (h.id, h.from_node.as_str(), h.to_node.as_str())).collect();
    assert_eq!(got, [(a, "ha", "hb"), (b, "hb", "hc"), (c, "hc", "ha")]);
    assert_eq!(store.message_heads(a, 1).await.unwrap().iter().map(|h| h.id).collect::<Vec<_>>(), [b]);
    assert!(store.message_heads(c, 10).await.unwrap().is_empty());
}

/// How long a check waits for one credential event. Generous: on
/// PostgreSQL an event travels through the LISTEN connection of a loaded
/// machine; a healthy backend answers in milliseconds.
const EVENT_WAIT: Duration = Duration::from_secs(30);

/// The peer whose changes only prove that events flow (see [`events_flow`]).
const WARM_UP: &str = "cred-warm-up";

/// The next event other than `Everyone` (which a backend may publish at
/// any time, e.g. after reconnecting its listener) and other than the
/// warm-up peer's (a late one may still arrive).
async fn next_peer_event(rx: &mut broadcast::Receiver<CredentialEvent>) -> String {
    loop {
        let ev = tokio::time::timeout(EVENT_WAIT, rx.recv()).await.expect("an event within 30 s");
        match ev {
            Ok(CredentialEvent::Peer(p)) if p != WARM_UP => return p,
            Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => continue,
            Err(e) => panic!("credential channel closed: {e}"),
        }
    }
}

/// Waits until a change made now reaches `rx`: a backend that forwards
/// events from another connection (PostgreSQL's LISTEN) may not listen
/// yet right after it opened, and a notice sent before it does is lost
/// (the listener then only says `Everyone`). Rotates the warm-up peer's
/// token until one of its events arrives, for at most 60 s.
async fn events_flow(store: &dyn Store, rx: &mut broadcast::Receiver<CredentialEvent>) {
    store.register_peer(reg(WARM_UP, "1")).await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    for round in 0u32.. {
        store.rotate_token(WARM_UP, TokenHash::of(&format!("warm-{round}"))).await.unwrap();
        let until = (tokio::time::Instant::now() + Duration::from_secs(1)).min(deadline);
        while let Ok(ev) = tokio::time::timeout_at(until, rx.recv()).await {
            match ev {
                Ok(CredentialEvent::Peer(p)) if p == WARM_UP => return,
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(e) => panic!("credential channel closed: {e}"),
            }
        }
        assert!(tokio::time::Instant::now() < deadline, "no credential event within 60 s");
    }
}

/// Rotating, revoking, disabling and deleting publish an event for the
/// peer once committed (the old token is already dead when it arrives); a
/// failed change publishes nothing; importing tokens publishes `Everyone`.
pub async fn credential_changes_are_published(store: Arc<dyn Store>) {
    let mut rx = store.subscribe_credentials();
    events_flow(&*store, &mut rx).await;
    let first = store.register_peer(reg("cred-a", "1")).await.unwrap();
    assert!(first.minted);
    store.register_peer(reg("cred-b", "1")).await.unwrap();
    let old = TokenHash::of("token-cred-a-1");

    store.rotate_token("cred-a", TokenHash::of("cred-a-2")).await.unwrap();
    assert_eq!(next_peer_event(&mut rx).await, "cred-a");
    assert!(store.token_owner(&old).await.unwrap().is_none(), "published after the commit");

    store.revoke_tokens("cred-a").await.unwrap();
    assert_eq!(next_peer_event(&mut rx).await, "cred-a");
    assert!(store.token_owner(&TokenHash::of("cred-a-2")).await.unwrap().is_none());

    // A change that fails publishes nothing: the next event is cred-b's.
    assert!(store.rotate_token("no-such-peer", TokenHash::of("x")).await.is_err());
    store.set_peer_enabled("cred-b", false).await.unwrap();
    assert_eq!(next_peer_event(&mut rx).await, "cred-b");
    let b = store.token_owner(&TokenHash::of("token-cred-b-1")).await.unwrap().expect("token stays");
    assert!(!b.enabled, "published after the commit");

    store.delete_peer("cred-b").await.unwrap();
    assert_eq!(next_peer_event(&mut rx).await, "cred-b");
    assert!(store.token_owner(&TokenHash::of("token-cred-b-1")).await.unwrap().is_none());

    store.import_batch(vec![ImportRecord::Token(foreign_token("cred-c", 1, true))]).await.unwrap();
    // The next event other than a late warm-up one.
    let ev = loop {
        match tokio::time::timeout(EVENT_WAIT, rx.recv()).await.expect("an event within 30 s") {
            Ok(CredentialEvent::Peer(p)) if p == WARM_UP => continue,
            ev => break ev,
        }
    };
    assert!(
        matches!(ev, Ok(CredentialEvent::Everyone) | Err(broadcast::error::RecvError::Lagged(_))),
        "an import of tokens makes everyone re-check: {ev:?}"
    );
}

/// [`Store::visit_messages`] hands rows over in page order and stops at the
/// first row its sink refuses, on small and on unbounded pages (which a
/// backend may read elsewhere and hand over later).
pub async fn visits_stop_when_the_sink_refuses(store: Arc<dyn Store>) {
    let mut sent = Vec::new();
    for i in 0..6 {
        sent.push(send(&*store, msg("va", "vb", &format!("row {i}"))).await);
    }
    for limit in [0, 5, 100, 150] {
        let q = MessageQuery { order: Order::OldestFirst, max_bytes: 0, ..query(limit) };
        let mut all = Vec::new();
        store
            .visit_messages(&q, &mut |m: MessageRef<'_>| {
                all.push(m.id);
                true
            })
            .await
            .unwrap();
        let want = if limit == 5 { &sent[..5] } else { &sent[..] };
        assert_eq!(all, want, "limit {limit}");
        let mut seen = Vec::new();
        let mut take_two = |m: MessageRef<'_>| {
            seen.push(m.id);
            seen.len() < 3
        };
        store.visit_messages(&q, &mut take_two).await.unwrap();
        assert_eq!(seen, sent[..3], "limit {limit}: the third row is refused and nothing after it is offered");
    }
}

/// [`Store::list_messages_page`] says the byte budget cut a page exactly
/// when a further row matched and did not fit: not when the page ends at
/// its `limit` or at the last row, even a last row that fills the budget.
pub async fn list_pages_say_when_the_budget_cut_them(store: Arc<dyn Store>) {
    let body = "\u{1}".repeat(200);
    let mut sent = Vec::new();
    for _ in 0..4 {
        sent.push(send(&*store, msg("ca", "cb", &body)).await);
    }
    let all = store.list_messages(&MessageQuery { order: Order::OldestFirst, max_bytes: 0, ..query(100) }).await;
    let row = MessageRef::from(&all.unwrap()[0]).json_len();
    let two = 2 * row + 1;
    let cut = |after: i64, limit: u32, max_bytes: usize| {
        let store = Arc::clone(&store);
        async move {
            let q = MessageQuery { after_id: Some(after), order: Order::OldestFirst, max_bytes, ..query(limit) };
            let page = store.list_messages_page(&q).await.unwrap();
            assert_eq!(page.messages, store.list_messages(&q).await.unwrap(), "the same rows as list_messages");
            (ids(&page.messages), page.cut)
        }
    };
    assert_eq!(cut(0, 100, two).await, (sent[..2].to_vec(), true), "the third row did not fit");
    assert_eq!(cut(0, 100, two - 1).await, (sent[..1].to_vec(), true));
    assert_eq!(cut(0, 2, two).await, (sent[..2].to_vec(), false), "ended by its limit");
    assert_eq!(cut(0, 3, two).await, (sent[..2].to_vec(), true), "the budget cut before the limit");
    assert_eq!(cut(sent[1], 100, two).await, (sent[2..].to_vec(), false), "the last two rows fill the budget");
    assert_eq!(cut(0, 100, 0).await, (sent.clone(), false), "unlimited");
    assert_eq!(cut(sent[3], 100, 1).await, (vec![], false), "nothing after the last row");
    let scoped = MessageQuery { involving: Some("zz".into()), max_bytes: 1, ..query(100) };
    assert!(!store.list_messages_page(&scoped).await.unwrap().cut, "no row matched");
}

/// `committed_heads` (what the wake-up hub follows) names every committed
/// message after a cursor, in id order, up to its limit, as `message_heads`.
pub async fn committed_heads_follow_commits(store: Arc<dyn Store>) {
    let start = *store.subscribe().borrow();
    let a = send(&*store, msg("ka", "kb", "one")).await;
    let mut later = Vec::new();
    for i in 0..3 {
        later.push(send(&*store, msg("kb", "kc", &format!("batch {i}"))).await);
    }
    let heads = store.committed_heads(start, 10).await.unwrap();
    assert_eq!(heads, store.message_heads(start, 10).await.unwrap());
    let got: Vec<(i64, &str, &str)> = heads.iter().map(|h| (h.id, h.from_node.as_str(), h.to_node.as_str())).collect();
    assert_eq!(got[0], (a, "ka", "kb"));
    let head_ids = |heads: &[crate::MessageHead]| heads.iter().map(|h| h.id).collect::<Vec<_>>();
    assert_eq!(head_ids(&heads)[1..], later[..]);
    assert_eq!(head_ids(&store.committed_heads(a, 2).await.unwrap()), later[..2]);
    assert!(store.committed_heads(later[2], 10).await.unwrap().is_empty());
}

/// `change_mark` (what `GET /messages` keeps pages under) moves with every
/// kind of commit and with nothing else: a backend without one says `None`
/// every time.
pub async fn change_marks_move_with_every_commit(store: Arc<dyn Store>) {
    let Some(first) = store.change_mark() else {
        assert_eq!(store.change_mark(), None, "a backend without a mark never has one");
        return;
    };
    assert_eq!(store.change_mark(), Some(first), "nothing committed");
    let mut last = first;
    let moved = |what: &str, store: &dyn Store, last: &mut u64| {
        let now = store.change_mark().expect("a backend with a mark keeps it");
        assert!(now > *last, "{what} committed, yet the mark stayed at {last}");
        *last = now;
    };
    store.register_peer(reg("ma", "s1")).await.unwrap();
    moved("a registration", &*store, &mut last);
    store.register_peer(reg("mb", "s2")).await.unwrap();
    moved("a registration", &*store, &mut last);
    let id = send(&*store, msg("ma", "mb", "hello")).await;
    moved("a send", &*store, &mut last);
    let page = store.list_messages(&query(10)).await.unwrap();
    assert_eq!(page.len(), 1);
    assert_eq!(store.change_mark(), Some(last), "a read commits nothing");
    store.mark_delivered(vec![id]).await.unwrap();
    moved("a delivery", &*store, &mut last);
    store.mark_delivered(vec![id]).await.unwrap();
    assert_eq!(store.change_mark(), Some(last), "delivering a delivered DM changes nothing");
    store.mark_read(&[id], Some("mb")).await.unwrap();
    moved("a mark-read", &*store, &mut last);
    store.mark_read(&[id], Some("mb")).await.unwrap();
    store.mark_read(&[id + 1000], Some("mb")).await.unwrap();
    store.mark_read(&[id], Some("ma")).await.unwrap();
    assert_eq!(store.change_mark(), Some(last), "marks that change no row commit nothing");
    store.put_alias("mbee", "mb").await.unwrap();
    moved("an alias", &*store, &mut last);
    store.set_peer_enabled("ma", false).await.unwrap();
    moved("disabling a peer", &*store, &mut last);
    store.delete_peer("mb").await.unwrap();
    moved("a deletion", &*store, &mut last);
    assert_eq!(store.change_mark(), Some(last), "nothing committed since");
}
