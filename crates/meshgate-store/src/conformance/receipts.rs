//! Receipts, replies and obligations: the delivery ladder, the answer link
//! of a question, open questions, and their way through export/import.

use std::sync::Arc;

use meshgate_proto::Kind;

use super::{msg, query, send};
use crate::{now_timestamp, ImportRecord, MessageQuery, NewMessage, ObligationQuery, Store};

fn question(from: &str, to: &str, due_at: Option<&str>) -> NewMessage {
    NewMessage { kind: Kind::Question, due_at: due_at.map(str::to_owned), ..msg(from, to, "why?") }
}

fn reply(from: &str, to: &str, kind: Kind, parent: i64) -> NewMessage {
    NewMessage { kind, in_reply_to: Some(parent), ..msg(from, to, "because") }
}

/// `mark_delivered` sets `delivered_at` once (the first delivery wins),
/// ignores unknown and repeated ids; reading implies delivery.
pub async fn delivery_is_recorded_once(store: Arc<dyn Store>) {
    let a = send(&*store, msg("da", "db", "one")).await;
    let b = send(&*store, msg("da", "db", "two")).await;
    let fresh = store.message_status(a).await.unwrap().unwrap();
    assert_eq!(fresh.delivered_at, None);
    assert_eq!((fresh.answer_id, fresh.in_reply_to, fresh.due_at), (None, None, None));

    store.mark_delivered(vec![a, a, 999_999]).await.unwrap();
    let first = store.message_status(a).await.unwrap().unwrap().delivered_at.expect("delivered");
    assert!(super::is_timestamp(&first), "{first}");
    store.mark_delivered(vec![a]).await.unwrap();
    assert_eq!(store.message_status(a).await.unwrap().unwrap().delivered_at.as_deref(), Some(first.as_str()));
    store.mark_delivered(Vec::new()).await.unwrap();

    // Read without a recorded delivery: delivered at the same instant.
    store.mark_read(&[b], Some("db")).await.unwrap();
    let s = store.message_status(b).await.unwrap().unwrap();
    assert!(s.message.read_at.is_some());
    assert_eq!(s.delivered_at, s.message.read_at);
    // Read after delivery keeps the delivery time.
    store.mark_read(&[a], Some("db")).await.unwrap();
    assert_eq!(store.message_status(a).await.unwrap().unwrap().delivered_at.as_deref(), Some(first.as_str()));
    assert_eq!(store.message_status(999_999).await.unwrap(), None);
}

/// An `answer` replying to a `question` becomes its `answer_id` in the
/// insert's transaction (first answer wins); other replies only link back.
/// Rows of unanswered questions are `owed`.
pub async fn answers_link_to_questions(store: Arc<dyn Store>) {
    let q = store.insert_message(question("qa", "qb", None)).await.unwrap();
    assert!(q.message.owed, "an insert answers with the owed flag");
    let q = q.message.id;
    let note = send(&*store, msg("qa", "qb", "fyi")).await;
    let rows = store.list_messages(&MessageQuery { to: Some("qb".into()), ..query(10) }).await.unwrap();
    let owed: Vec<(i64, bool)> = rows.iter().map(|m| (m.id, m.owed)).collect();
    assert_eq!(owed, [(note, false), (q, true)]);
    let (_, json) = super::live::visited(&*store, &MessageQuery { to: Some("qb".into()), ..query(10) }).await;
    assert_eq!(json, meshgate_proto::MessageListWriter::encode(&rows).unwrap(), "the encoder agrees");

    let own = send(&*store, reply("qa", "qb", Kind::Answer, q)).await;
    assert_eq!(store.message_status(q).await.unwrap().unwrap().answer_id, None, "only the recipient answers");
    assert_eq!(store.message_status(own).await.unwrap().unwrap().in_reply_to, Some(q));
    let fyi = send(&*store, reply("qb", "qa", Kind::Fyi, q)).await;
    assert_eq!(store.message_status(q).await.unwrap().unwrap().answer_id, None, "a fyi answers nothing");
    assert_eq!(store.message_status(fyi).await.unwrap().unwrap().in_reply_to, Some(q));
    let first = send(&*store, reply("qb", "qa", Kind::Answer, q)).await;
    let second = send(&*store, reply("qb", "qa", Kind::Answer, q)).await;
    let s = store.message_status(q).await.unwrap().unwrap();
    assert_eq!(s.answer_id, Some(first), "the first answer wins");
    assert!(!s.message.owed);
    assert!(!store.message(q).await.unwrap().unwrap().owed);
    assert_eq!(store.message_status(second).await.unwrap().unwrap().in_reply_to, Some(q));
    // An answer to something that is not a question links back only.
    let back = send(&*store, reply("qa", "qb", Kind::Answer, note)).await;
    assert_eq!(store.message_status(note).await.unwrap().unwrap().answer_id, None);
    assert_eq!(store.message_status(back).await.unwrap().unwrap().in_reply_to, Some(note));
}

/// `obligations`: owed (to the peer) and awaiting (its own), unanswered
/// only, oldest first, `limit` per list, `overdue` against `now`; the
/// whole mesh without a peer.
pub async fn obligations_list_open_questions(store: Arc<dyn Store>) {
    let past = "2020-01-01T00:00:00.000000+00:00";
    let future = "2999-01-01T00:00:00.000000+00:00";
    let q1 = send(&*store, question("oa", "ob", Some(past))).await;
    let q2 = send(&*store, question("oa", "ob", Some(future))).await;
    let q3 = send(&*store, question("ob", "oa", None)).await;
    let done = send(&*store, question("oa", "ob", None)).await;
    send(&*store, reply("ob", "oa", Kind::Answer, done)).await;
    send(&*store, question("oc", "od", None)).await;
    send(&*store, msg("oa", "ob", "not a question")).await;

    let of = |peer: Option<&str>, limit| ObligationQuery { peer: peer.map(str::to_owned), limit, now: now_timestamp() };
    let ids = |v: &[meshgate_proto::Obligation]| v.iter().map(|o| o.id).collect::<Vec<_>>();
    let ob = store.obligations(&of(Some("ob"), 10)).await.unwrap();
    assert_eq!(ids(&ob.owed), [q1, q2]);
    assert_eq!(ids(&ob.awaiting), [q3]);
    assert_eq!(ob.owed.iter().map(|o| o.overdue).collect::<Vec<_>>(), [true, false]);
    assert_eq!(ob.owed[0].due_at.as_deref(), Some(past));
    assert_eq!((ob.owed[0].from_node.as_str(), ob.owed[0].to_node.as_str()), ("oa", "ob"));
    assert_eq!(ob.owed[0].preview, "why?");
    let limited = store.obligations(&of(Some("ob"), 1)).await.unwrap();
    assert_eq!((ids(&limited.owed), ids(&limited.awaiting)), (vec![q1], vec![q3]));
    let none = store.obligations(&of(Some("nobody"), 10)).await.unwrap();
    assert!(none.owed.is_empty() && none.awaiting.is_empty());
    let all = store.obligations(&of(None, 10)).await.unwrap();
    assert_eq!(ids(&all.owed).len(), 4);
    assert_eq!(ids(&all.owed), ids(&all.awaiting));
}

/// Export/import carries the ladder: delivery and deadline as they were,
/// the reply link to the target's copy, the answer link derived again.
pub async fn receipts_survive_export_import(source: Arc<dyn Store>, target: Arc<dyn Store>) {
    let due = "2030-01-01T00:00:00.000000+00:00";
    let q = send(&*source, question("ea", "eb", Some(due))).await;
    source.mark_delivered(vec![q]).await.unwrap();
    let a = send(&*source, reply("eb", "ea", Kind::Answer, q)).await;
    let delivered = source.message_status(q).await.unwrap().unwrap().delivered_at;
    let before = send(&*target, msg("zz", "yy", "already here")).await;

    let exported = super::export_all(&*source, 10).await;
    let records: Vec<&crate::MessageRecord> =
        exported.iter().filter_map(|r| if let ImportRecord::Message(m) = r { Some(m) } else { None }).collect();
    assert_eq!(records.len(), 2);
    assert_eq!(records[0].ladder.answer_id, Some(a));
    assert_eq!(records[1].ladder.in_reply_to, Some(q));
    let origin = format!("meshgate:{}:{q}", source.store_id().await.unwrap());
    assert_eq!(records[1].ladder.in_reply_to_origin.as_deref(), Some(origin.as_str()));
    // The exporter names messages sent to the source by their own origin.
    let source_id = source.store_id().await.unwrap();
    let with_origin: Vec<ImportRecord> = exported
        .into_iter()
        .map(|r| match r {
            ImportRecord::Message(mut m) => {
                let id = m.message.id;
                m.origin.get_or_insert_with(|| format!("meshgate:{source_id}:{id}"));
                ImportRecord::Message(m)
            }
            other => other,
        })
        .collect();
    target.import_batch(with_origin).await.unwrap();
    let (tq, ta) = (before + 1, before + 2);
    let s = target.message_status(tq).await.unwrap().unwrap();
    assert_eq!(s.message.content, "why?");
    assert_eq!((s.delivered_at, s.due_at.as_deref(), s.answer_id), (delivered, Some(due), Some(ta)));
    assert_eq!(target.message_status(ta).await.unwrap().unwrap().in_reply_to, Some(tq));
}

/// Every ladder change stamps the next receipt sequence number: a sender
/// follows its own DMs' changes with a `(seq, id)` cursor, in order, and
/// sees nobody else's.
pub async fn receipts_follow_ladder_changes(store: Arc<dyn Store>) {
    let start = store.receipt_head().await.unwrap();
    let q = send(&*store, question("ra", "rb", None)).await;
    let other = send(&*store, msg("rc", "rb", "not ra's")).await;
    let after =
        |store: Arc<dyn Store>, cursor: (i64, i64)| async move { store.receipts("ra", cursor, 10).await.unwrap() };
    assert!(after(Arc::clone(&store), (start, 0)).await.is_empty(), "a send is no receipt");

    store.mark_delivered(vec![q, other]).await.unwrap();
    let got = after(Arc::clone(&store), (start, 0)).await;
    assert_eq!(got.iter().map(|r| (r.id, r.event.as_str())).collect::<Vec<_>>(), [(q, "delivered")]);
    assert_eq!(got[0].to_node, "rb");
    let cursor = (got[0].seq, got[0].id);
    assert!(cursor.0 > start && store.receipt_head().await.unwrap() >= cursor.0);
    assert!(after(Arc::clone(&store), cursor).await.is_empty());

    store.mark_read(&[q], Some("rb")).await.unwrap();
    let got = after(Arc::clone(&store), cursor).await;
    assert_eq!(got.iter().map(|r| r.event.as_str()).collect::<Vec<_>>(), ["read"]);
    let cursor = (got[0].seq, got[0].id);

    let a = send(&*store, reply("rb", "ra", Kind::Answer, q)).await;
    let got = after(Arc::clone(&store), cursor).await;
    assert_eq!(got.len(), 1);
    assert_eq!((got[0].event.as_str(), got[0].answer_id), ("answered", Some(a)));
    assert!(got[0].seq > cursor.0, "in commit order");
    assert!(store.receipts("rc", (start, 0), 10).await.unwrap().iter().all(|r| r.id == other));
    assert!(store.receipts("rb", (start, 0), 10).await.unwrap().is_empty(), "the recipient's own DMs only");
}

/// A reused idempotency key with another `in_reply_to` is a different
/// message (a conflict), not a repeat: an answer to a second question must
/// not be swallowed as a duplicate of the answer to the first. The exact
/// repeat is still a duplicate; a deadline is not part of the key's digest
/// (a retry with `due_in` computes a new instant).
pub async fn idempotency_keys_cover_in_reply_to(store: Arc<dyn Store>) {
    let q1 = send(&*store, question("ia", "ib", None)).await;
    let q2 = send(&*store, question("ia", "ib", None)).await;
    let keyed = |parent| NewMessage { idempotency_key: Some("k".into()), ..reply("ib", "ia", Kind::Answer, parent) };
    let first = store.insert_message(keyed(q1)).await.unwrap();
    assert!(!first.duplicate);
    let again = store.insert_message(keyed(q1)).await.unwrap();
    assert!(again.duplicate && again.message.id == first.message.id);
    assert!(matches!(store.insert_message(keyed(q2)).await, Err(crate::StoreError::Conflict(_))));
    assert!(matches!(store.prior_message(&keyed(q2)).await, Err(crate::StoreError::Conflict(_))));
    assert_eq!(store.message_status(q2).await.unwrap().unwrap().answer_id, None);
    let due = |at: &str| NewMessage { idempotency_key: Some("d".into()), ..question("ia", "ib", Some(at)) };
    let asked = store.insert_message(due("2030-01-01T00:00:00.000000+00:00")).await.unwrap();
    let retry = store.insert_message(due("2030-01-01T00:00:05.000000+00:00")).await.unwrap();
    assert!(retry.duplicate && retry.message.id == asked.message.id);
}

/// `limit` cuts each list after the overdue questions: an overdue question
/// newer than `limit` questions without a deadline is still listed, first.
pub async fn obligations_list_overdue_first_within_the_limit(store: Arc<dyn Store>) {
    let past = "2020-01-01T00:00:00.000000+00:00";
    let future = "2999-01-01T00:00:00.000000+00:00";
    let old: Vec<i64> = [
        send(&*store, question("pa", "pb", None)).await,
        send(&*store, question("pa", "pb", Some(future))).await,
        send(&*store, question("pa", "pb", None)).await,
    ]
    .to_vec();
    let late1 = send(&*store, question("pa", "pb", Some(past))).await;
    let late2 = send(&*store, question("pa", "pb", Some(past))).await;
    let of = |limit| ObligationQuery { peer: Some("pb".into()), limit, now: now_timestamp() };
    let ids = |v: &[meshgate_proto::Obligation]| v.iter().map(|o| o.id).collect::<Vec<_>>();
    let page = store.obligations(&of(3)).await.unwrap();
    assert_eq!(ids(&page.owed), [late1, late2, old[0]]);
    assert_eq!(page.owed.iter().map(|o| o.overdue).collect::<Vec<_>>(), [true, true, false]);
    assert_eq!(ids(&store.obligations(&of(1)).await.unwrap().awaiting), Vec::<i64>::new());
    assert_eq!(ids(&store.obligations(&of(1)).await.unwrap().owed), [late1]);
    let all = store.obligations(&of(10)).await.unwrap();
    assert_eq!(ids(&all.owed), [late1, late2, old[0], old[1], old[2]]);
    let mesh = ObligationQuery { peer: None, limit: 2, now: now_timestamp() };
    let mesh = store.obligations(&mesh).await.unwrap();
    assert!(mesh.owed.iter().all(|o| o.overdue), "the whole mesh: overdue first too: {:?}", ids(&mesh.owed));
    let awaiting = store.obligations(&ObligationQuery { peer: Some("pa".into()), ..of(2) }).await.unwrap();
    assert_eq!(ids(&awaiting.awaiting), [late1, late2]);
}

/// An answer from the recipient proves the hand-over: a question answered
/// before any recorded delivery gets `delivered_at` (a recorded one is
/// kept); the asker's own `answer` changes nothing.
pub async fn an_answer_implies_delivery(store: Arc<dyn Store>) {
    let q = send(&*store, question("aa", "ab", None)).await;
    send(&*store, reply("aa", "ab", Kind::Answer, q)).await;
    assert_eq!(store.message_status(q).await.unwrap().unwrap().delivered_at, None, "not by the asker");
    send(&*store, reply("ab", "aa", Kind::Answer, q)).await;
    let s = store.message_status(q).await.unwrap().unwrap();
    let at = s.delivered_at.expect("an answer implies delivery");
    assert!(super::is_timestamp(&at), "{at}");
    assert_eq!(s.message.read_at, None, "but not reading");

    let q2 = send(&*store, question("aa", "ab", None)).await;
    store.mark_delivered(vec![q2]).await.unwrap();
    let first = store.message_status(q2).await.unwrap().unwrap().delivered_at;
    send(&*store, reply("ab", "aa", Kind::Answer, q2)).await;
    assert_eq!(store.message_status(q2).await.unwrap().unwrap().delivered_at, first, "the first delivery wins");
}

/// An obligation row carries its question's `sender_verified`, so a tool
/// framing it (MCP `todo`) labels provenance as the inbox does.
pub async fn obligations_carry_sender_verification(store: Arc<dyn Store>) {
    let mut vouched = question("ova", "ovb", None);
    vouched.sender_verified = true;
    let vouched = send(&*store, vouched).await;
    let plain = send(&*store, question("ova", "ovb", None)).await;
    let q = ObligationQuery { peer: Some("ovb".into()), limit: 10, now: now_timestamp() };
    let owed = store.obligations(&q).await.unwrap().owed;
    let flags: Vec<(i64, bool)> = owed.iter().map(|o| (o.id, o.sender_verified)).collect();
    assert_eq!(flags, [(vouched, true), (plain, false)]);
    let q = ObligationQuery { peer: Some("ova".into()), ..q };
    let awaiting = store.obligations(&q).await.unwrap().awaiting;
    assert_eq!(awaiting.iter().map(|o| o.sender_verified).collect::<Vec<_>>(), [true, false]);
}

/// Deleting a peer ends its open questions, asked and owed: they leave
/// `obligations` (its name is retired, nobody can answer or be answered)
/// and the ladder says `recipient_removed`; a new peer adopting the
/// history opens them again.
pub async fn obligations_end_when_a_party_is_deleted(store: Arc<dyn Store>) {
    for name in ["qa", "qb", "qc"] {
        store.register_peer(super::reg(name, "1")).await.unwrap();
    }
    let to_gone = send(&*store, question("qa", "qb", None)).await;
    let from_gone = send(&*store, question("qb", "qc", None)).await;
    let kept = send(&*store, question("qa", "qc", None)).await;
    let of = |peer: Option<&str>| ObligationQuery { peer: peer.map(str::to_owned), limit: 10, now: now_timestamp() };
    let ids = |v: &[meshgate_proto::Obligation]| v.iter().map(|o| o.id).collect::<Vec<_>>();
    assert_eq!(ids(&store.obligations(&of(Some("qa"))).await.unwrap().awaiting), [to_gone, kept]);
    assert!(!store.message_status(to_gone).await.unwrap().unwrap().recipient_removed);

    store.delete_peer("qb").await.unwrap();
    let qa = store.obligations(&of(Some("qa"))).await.unwrap();
    assert_eq!(ids(&qa.awaiting), [kept], "a question to a deleted peer is no longer awaited");
    let qc = store.obligations(&of(Some("qc"))).await.unwrap();
    assert_eq!(ids(&qc.owed), [kept], "nor owed to a deleted asker");
    assert_eq!(ids(&store.obligations(&of(None)).await.unwrap().owed), [kept]);
    assert_eq!(ids(&store.obligations(&of(Some("qb"))).await.unwrap().owed), Vec::<i64>::new());
    let status = store.message_status(to_gone).await.unwrap().unwrap();
    assert!(status.recipient_removed && !status.message.owed && status.answer_id.is_none());
    let asked_by_gone = store.message_status(from_gone).await.unwrap().unwrap();
    assert!(!asked_by_gone.recipient_removed, "its recipient is a peer");
    assert!(!asked_by_gone.message.owed, "but nobody can be answered");
    assert!(store.message_status(kept).await.unwrap().unwrap().message.owed);
    // The rows of a list say the same (`owed` in `GET /messages`, search, export).
    let owed = |store: Arc<dyn Store>| async move {
        let rows = store.list_messages(&MessageQuery { limit: 100, ..MessageQuery::default() }).await.unwrap();
        rows.iter().filter(|m| m.owed).map(|m| m.id).collect::<Vec<_>>()
    };
    assert_eq!(owed(store.clone()).await, [kept], "no list row is owed to or by a deleted peer");

    store.register_peer(crate::PeerRegistration { adopt_history: true, ..super::reg("qb", "2") }).await.unwrap();
    let mut reopened = owed(store.clone()).await;
    reopened.sort_unstable();
    assert_eq!(reopened, [to_gone, from_gone, kept], "adopting the history opens them again");
    assert_eq!(ids(&store.obligations(&of(Some("qa"))).await.unwrap().awaiting), [to_gone, kept]);
    assert_eq!(ids(&store.obligations(&of(Some("qb"))).await.unwrap().awaiting), [from_gone]);
    assert!(!store.message_status(to_gone).await.unwrap().unwrap().recipient_removed);
}
