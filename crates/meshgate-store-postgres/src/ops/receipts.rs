//! Receipts, replies and obligations: the delivery ladder of a message,
//! the answer link of a question, and the open questions of a peer.

use deadpool_postgres::{GenericClient, Transaction};
use meshgate_proto::{Kind, Message, MessageStatus, Obligation, Obligations, Receipt};
use meshgate_store::{Ladder, NewMessage, ObligationQuery, StoreResult};
use tokio_postgres::Row;

use super::{execute, get, query, query_one, query_opt, row_message, MSG_COLS};

/// The ladder columns of `messages m`, for [`row_ladder`]: the last one is
/// the origin of the message replied to (for export).
pub(super) const LADDER_COLS: &str = "m.delivered_at, m.due_at, m.answer_id, m.in_reply_to, \
     (SELECT coalesce(p.origin, 'meshgate:' || (SELECT value FROM meta WHERE key = 'store_id') || ':' || p.id) \
     FROM messages p WHERE p.id = m.in_reply_to)";

pub(super) fn row_ladder(r: &Row, at: usize) -> StoreResult<Ladder> {
    Ok(Ladder {
        delivered_at: get(r, at)?,
        due_at: get(r, at + 1)?,
        answer_id: get(r, at + 2)?,
        in_reply_to: get(r, at + 3)?,
        in_reply_to_origin: get(r, at + 4)?,
    })
}

/// The next receipt sequence number; the counter row stays locked until
/// the transaction ends, so numbers commit in order across replicas.
pub(super) async fn next_receipt_seq(tx: &Transaction<'_>) -> StoreResult<i64> {
    get(&query_one(tx, "UPDATE receipt_seq SET last = last + 1 RETURNING last", &[]).await?, 0)
}

/// Sets `delivered_at` of those of `ids` that have none, in one statement
/// (rows locked in id order, so replicas flushing at once cannot deadlock).
pub(crate) async fn mark_delivered(tx: &Transaction<'_>, ids: &[i64]) -> StoreResult<()> {
    let mut sorted = ids.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let seq = next_receipt_seq(tx).await?;
    execute(
        tx,
        "UPDATE messages SET delivered_at = meshgate_now(), receipt_seq = $2 \
         WHERE id IN (SELECT id FROM messages WHERE id = ANY($1) AND delivered_at IS NULL ORDER BY id FOR UPDATE)",
        &[&sorted, &seq],
    )
    .await?;
    Ok(())
}

pub(crate) async fn receipts<C: GenericClient>(
    c: &C,
    sender: &str,
    after: (i64, i64),
    limit: u32,
) -> StoreResult<Vec<Receipt>> {
    let rows = query(
        c,
        "SELECT id, to_node, delivered_at, read_at, answer_id, receipt_seq FROM messages \
         WHERE from_node = $1 AND receipt_seq IS NOT NULL AND (receipt_seq, id) > ($2, $3) \
         ORDER BY receipt_seq, id LIMIT $4",
        &[&sender, &after.0, &after.1, &i64::from(limit)],
    )
    .await?;
    rows.iter()
        .map(|r| {
            let (delivered_at, read_at, answer_id): (Option<String>, Option<String>, Option<i64>) =
                (get(r, 2)?, get(r, 3)?, get(r, 4)?);
            Ok(Receipt {
                id: get(r, 0)?,
                to_node: get(r, 1)?,
                event: Receipt::event_for(delivered_at.is_some(), read_at.is_some(), answer_id.is_some()).to_owned(),
                delivered_at,
                read_at,
                answer_id,
                seq: get(r, 5)?,
            })
        })
        .collect()
}

pub(crate) async fn receipt_head<C: GenericClient>(c: &C) -> StoreResult<i64> {
    get(&query_one(c, "SELECT last FROM receipt_seq", &[]).await?, 0)
}

/// Makes message `id` the answer of the question it replies to, when it is
/// an `answer` and that question has none yet (the first answer wins).
pub(super) async fn link_answer(tx: &Transaction<'_>, id: i64, msg: &NewMessage) -> StoreResult<()> {
    match (msg.in_reply_to, msg.kind) {
        (Some(parent), Kind::Answer) => set_answer(tx, id, &msg.from_node, parent, None).await,
        _ => Ok(()),
    }
}

/// Makes `id` (sent by `from`) the answer of question `parent` unless it
/// has one; only an answer from the question's recipient counts. An answer
/// implies delivery: `delivered_at`, when unset, becomes `answered_at` (an
/// imported answer's time) or now.
async fn set_answer(
    tx: &Transaction<'_>,
    id: i64,
    from: &str,
    parent: i64,
    answered_at: Option<&str>,
) -> StoreResult<()> {
    let seq = next_receipt_seq(tx).await?;
    execute(
        tx,
        "UPDATE messages SET answer_id = $1, receipt_seq = $3, delivered_at = coalesce(delivered_at, $5::text, meshgate_now()) \
         WHERE id = $2 AND kind = 'question' AND answer_id IS NULL AND to_node = $4",
        &[&id, &parent, &seq, &from, &answered_at],
    )
    .await?;
    Ok(())
}

pub(crate) async fn message_status<C: GenericClient>(c: &C, id: i64) -> StoreResult<Option<MessageStatus>> {
    let sql = format!("SELECT {MSG_COLS}, {LADDER_COLS}, {PARTIES_REMOVED} FROM messages m WHERE id = $1");
    let Some(r) = query_opt(c, &sql, &[&id]).await? else { return Ok(None) };
    let ladder = row_ladder(&r, 11)?;
    let (recipient_removed, sender_removed): (bool, bool) = (get(&r, 16)?, get(&r, 17)?);
    let mut message = row_message(&r)?;
    // A question with a deleted party is no longer open.
    message.owed &= !recipient_removed && !sender_removed;
    Ok(Some(MessageStatus {
        message,
        delivered_at: ladder.delivered_at,
        answer_id: ladder.answer_id,
        in_reply_to: ladder.in_reply_to,
        due_at: ladder.due_at,
        recipient_removed,
    }))
}

/// Whether the recipient, then the sender, of message `m` was deleted:
/// its name is retired.
const PARTIES_REMOVED: &str = "EXISTS (SELECT 1 FROM retired_names r WHERE r.name = m.to_node), \
     EXISTS (SELECT 1 FROM retired_names r WHERE r.name = m.from_node)";

const OBLIGATION_COLS: &str = "SELECT id, from_node, to_node, created_at, due_at, delivered_at, read_at, \
     thread_id, substring(content from 1 for 800), sender_verified FROM messages";

fn row_obligation(r: &Row, now: &str) -> StoreResult<Obligation> {
    let due_at: Option<String> = get(r, 4)?;
    // 200 characters are at most 800 bytes of UTF-8, so the cut never
    // falls inside one of them.
    let head: Vec<u8> = get(r, 8)?;
    let preview: String = String::from_utf8_lossy(&head).chars().take(200).collect();
    Ok(Obligation {
        id: get(r, 0)?,
        from_node: get(r, 1)?,
        to_node: get(r, 2)?,
        created_at: get(r, 3)?,
        overdue: due_at.as_deref().is_some_and(|d| d < now),
        due_at,
        delivered_at: get(r, 5)?,
        read_at: get(r, 6)?,
        thread_id: get(r, 7)?,
        preview,
        sender_verified: get(r, 9)?,
    })
}

/// An open question past its deadline (`$3` is now; byte order, as the
/// Rust side compares), and its complement.
const OVERDUE: &str = "due_at IS NOT NULL AND due_at < $3::text COLLATE \"C\"";
const NOT_OVERDUE: &str = "(due_at IS NULL OR due_at >= $3::text COLLATE \"C\")";

pub(crate) async fn obligations<C: GenericClient>(c: &C, q: &ObligationQuery) -> StoreResult<Obligations> {
    // Open: unanswered, and both parties still peers (a deleted peer's
    // retired name ends its questions, asked and owed, until a new peer
    // adopts its history).
    const OPEN: &str = "kind = 'question' AND answer_id IS NULL \
         AND NOT EXISTS (SELECT 1 FROM retired_names r WHERE r.name = messages.to_node OR r.name = messages.from_node)";
    let limit = i64::from(q.limit);
    // Overdue questions first, then the others, each part oldest first
    // (see the SQLite twin).
    let list = |filter: &'static str, peer: Option<String>| async move {
        let mut out = Vec::new();
        for part in [OVERDUE, NOT_OVERDUE] {
            let left = limit - out.len() as i64;
            if left == 0 {
                break;
            }
            let sql = format!("{OBLIGATION_COLS} WHERE {filter}{OPEN} AND {part} ORDER BY id LIMIT $2");
            let rows = query(c, &sql, &[&peer, &left, &q.now]).await?;
            out.extend(rows.iter().map(|r| row_obligation(r, &q.now)).collect::<StoreResult<Vec<_>>>()?);
        }
        Ok::<_, meshgate_store::StoreError>(out)
    };
    Ok(match &q.peer {
        Some(p) => Obligations {
            owed: list("to_node = $1 AND ", Some(p.clone())).await?,
            awaiting: list("from_node = $1 AND ", Some(p.clone())).await?,
        },
        None => {
            let all = list("($1::text IS NULL) AND ", None).await?;
            Obligations { owed: all.clone(), awaiting: all }
        }
    })
}

/// Stores the ladder of a message just imported as `id` (see the SQLite
/// backend's twin): delivery and deadline as exported, the reply link to
/// the target's copy of the message replied to (by origin), and for an
/// answer the answer link of that question (first answer wins).
pub(super) async fn import_ladder(
    tx: &Transaction<'_>,
    id: i64,
    own_store_id: &str,
    msg: &Message,
    l: &Ladder,
) -> StoreResult<()> {
    let mut parent: Option<i64> = None;
    if let Some(origin) = &l.in_reply_to_origin {
        parent = match query_opt(tx, "SELECT id FROM messages WHERE origin = $1", &[origin]).await? {
            Some(r) => Some(get(&r, 0)?),
            None => None,
        };
        if let (None, Some(own)) = (parent, meshgate_store::own_origin_id(origin, own_store_id)) {
            if query_opt(tx, "SELECT 1 FROM messages WHERE id = $1", &[&own]).await?.is_some() {
                parent = Some(own);
            }
        }
    }
    execute(
        tx,
        "UPDATE messages SET delivered_at = $2, due_at = $3, in_reply_to = $4 WHERE id = $1",
        &[&id, &l.delivered_at, &l.due_at, &parent],
    )
    .await?;
    if let (Some(parent), Kind::Answer) = (parent, msg.kind) {
        set_answer(tx, id, &msg.from_node, parent, Some(&msg.created_at)).await?;
    }
    Ok(())
}
