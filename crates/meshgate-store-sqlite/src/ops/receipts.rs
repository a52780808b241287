//! Receipts, replies and obligations: the delivery ladder of a message,
//! the answer link of a question, and the open questions of a peer.

use meshgate_proto::{Kind, Message, MessageStatus, Obligation, Obligations, Receipt};
use meshgate_store::{now_timestamp, Ladder, NewMessage, ObligationQuery, StoreResult};
use rusqlite::{params, Connection, OptionalExtension, Row};

use super::{row_message, MSG_COLS};
use crate::error::Db;
use crate::writer::WriteCtx;

/// The ladder columns of `messages m`, for [`row_ladder`]: the last one is
/// the origin of the message replied to (for export).
pub(super) const LADDER_COLS: &str = "m.delivered_at, m.due_at, m.answer_id, m.in_reply_to, \
     (SELECT coalesce(p.origin, 'meshgate:' || (SELECT value FROM meta WHERE key = 'store_id') || ':' || p.id) \
     FROM messages p WHERE p.id = m.in_reply_to)";

pub(super) fn row_ladder(r: &Row<'_>, at: usize) -> rusqlite::Result<Ladder> {
    Ok(Ladder {
        delivered_at: r.get(at)?,
        due_at: r.get(at + 1)?,
        answer_id: r.get(at + 2)?,
        in_reply_to: r.get(at + 3)?,
        in_reply_to_origin: r.get(at + 4)?,
    })
}

/// The receipt sequence number one write's ladder changes take (the writer
/// is the only writer, so numbers commit in order). Read up front and
/// written back only when a change used it: a write that changes no
/// ladder (a DM read again, an id not in the inbox) writes no page, so it
/// commits nothing and keeps the store's change mark (pages kept by
/// `GET /messages` stay valid).
pub(super) struct ReceiptSeq {
    pub(super) value: i64,
    used: bool,
}

impl ReceiptSeq {
    pub(super) fn peek(c: &Connection) -> StoreResult<Self> {
        let value = c
            .prepare_cached("SELECT CAST(value AS INTEGER) + 1 FROM meta WHERE key = 'receipt_seq'")
            .and_then(|mut s| s.query_row([], |r| r.get(0)))
            .db()?;
        Ok(ReceiptSeq { value, used: false })
    }

    /// Notes how many rows a statement with this number changed.
    pub(super) fn changed(&mut self, rows: usize) {
        self.used |= rows > 0;
    }

    /// Takes the number if a change used it.
    pub(super) fn take(self, c: &Connection) -> StoreResult<()> {
        if self.used {
            c.prepare_cached("UPDATE meta SET value = ?1 WHERE key = 'receipt_seq'")
                .and_then(|mut s| s.execute([self.value]))
                .db()?;
        }
        Ok(())
    }
}

/// Sets `delivered_at` of those of `ids` that have none, in one statement.
pub(crate) fn mark_delivered(ctx: &mut WriteCtx, ids: &[i64]) -> StoreResult<()> {
    let list = serde_json::to_string(ids).map_err(|e| meshgate_store::StoreError::Backend(e.to_string()))?;
    let mut seq = ReceiptSeq::peek(&ctx.conn)?;
    let changed = ctx
        .conn
        .prepare_cached(
            "UPDATE messages SET delivered_at = ?1, receipt_seq = ?3 \
             WHERE id IN (SELECT value FROM json_each(?2)) AND delivered_at IS NULL",
        )
        .and_then(|mut s| s.execute(params![now_timestamp(), list, seq.value]))
        .db()?;
    seq.changed(changed);
    seq.take(&ctx.conn)
}

pub(crate) fn receipts(c: &Connection, sender: &str, after: (i64, i64), limit: u32) -> StoreResult<Vec<Receipt>> {
    let mut s = c
        .prepare_cached(
            "SELECT id, to_node, delivered_at, read_at, answer_id, receipt_seq FROM messages \
             WHERE from_node = ?1 AND receipt_seq IS NOT NULL AND (receipt_seq, id) > (?2, ?3) \
             ORDER BY receipt_seq, id LIMIT ?4",
        )
        .db()?;
    let rows = s
        .query_map(params![sender, after.0, after.1, i64::from(limit)], |r| {
            let (delivered_at, read_at, answer_id): (Option<String>, Option<String>, Option<i64>) =
                (r.get(2)?, r.get(3)?, r.get(4)?);
            Ok(Receipt {
                id: r.get(0)?,
                to_node: r.get(1)?,
                event: Receipt::event_for(delivered_at.is_some(), read_at.is_some(), answer_id.is_some()).to_owned(),
                delivered_at,
                read_at,
                answer_id,
                seq: r.get(5)?,
            })
        })
        .db()?;
    rows.collect::<rusqlite::Result<Vec<_>>>().db()
}

pub(crate) fn receipt_head(c: &Connection) -> StoreResult<i64> {
    c.prepare_cached("SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'receipt_seq'")
        .and_then(|mut s| s.query_row([], |r| r.get(0)))
        .db()
}

/// Makes message `id` the answer of the question it replies to, when it is
/// an `answer` and that question has none yet (the first answer wins).
pub(super) fn link_answer(c: &Connection, id: i64, msg: &NewMessage) -> StoreResult<()> {
    match (msg.in_reply_to, msg.kind) {
        (Some(parent), Kind::Answer) => set_answer(c, id, &msg.from_node, parent, &now_timestamp()),
        _ => Ok(()),
    }
}

/// Makes `id` (sent by `from`) the answer of question `parent` unless it
/// has one; only an answer from the question's recipient counts. An answer
/// implies delivery: a question answered before any recorded hand-over gets
/// `delivered_at` = `answered_at` (now, or an imported answer's time).
fn set_answer(c: &Connection, id: i64, from: &str, parent: i64, answered_at: &str) -> StoreResult<()> {
    let mut seq = ReceiptSeq::peek(c)?;
    let changed = c
        .prepare_cached(
            "UPDATE messages SET answer_id = ?1, receipt_seq = ?3, delivered_at = coalesce(delivered_at, ?5) \
             WHERE id = ?2 AND kind = 'question' AND answer_id IS NULL AND to_node = ?4",
        )
        .and_then(|mut s| s.execute(params![id, parent, seq.value, from, answered_at]))
        .db()?;
    seq.changed(changed);
    seq.take(c)
}

pub(crate) fn message_status(c: &Connection, id: i64) -> StoreResult<Option<MessageStatus>> {
    c.prepare_cached(&format!("SELECT {MSG_COLS}, {LADDER_COLS}, {PARTIES_REMOVED} FROM messages m WHERE id = ?1"))
        .and_then(|mut s| {
            s.query_row([id], |r| {
                let ladder = row_ladder(r, 11)?;
                let (recipient_removed, sender_removed): (bool, bool) = (r.get(16)?, r.get(17)?);
                let mut message = row_message(r)?;
                // A question with a deleted party is no longer open.
                message.owed &= !recipient_removed && !sender_removed;
                Ok(MessageStatus {
                    message,
                    delivered_at: ladder.delivered_at,
                    answer_id: ladder.answer_id,
                    in_reply_to: ladder.in_reply_to,
                    due_at: ladder.due_at,
                    recipient_removed,
                })
            })
            .optional()
        })
        .db()
}

/// Whether the recipient, then the sender, of message `m` was deleted:
/// its name is retired.
const PARTIES_REMOVED: &str = "EXISTS (SELECT 1 FROM retired_names r WHERE r.name = m.to_node), \
     EXISTS (SELECT 1 FROM retired_names r WHERE r.name = m.from_node)";

const OBLIGATION_COLS: &str = "SELECT id, from_node, to_node, created_at, due_at, delivered_at, read_at, \
     thread_id, substr(content, 1, 200), sender_verified FROM messages";

fn row_obligation(r: &Row<'_>, now: &str) -> rusqlite::Result<Obligation> {
    let due_at: Option<String> = r.get(4)?;
    Ok(Obligation {
        id: r.get(0)?,
        from_node: r.get(1)?,
        to_node: r.get(2)?,
        created_at: r.get(3)?,
        overdue: due_at.as_deref().is_some_and(|d| d < now),
        due_at,
        delivered_at: r.get(5)?,
        read_at: r.get(6)?,
        thread_id: r.get(7)?,
        preview: r.get(8)?,
        sender_verified: r.get(9)?,
    })
}

/// An open question past its deadline (`?3` is now), and its complement.
const OVERDUE: &str = "due_at IS NOT NULL AND due_at < ?3";
const NOT_OVERDUE: &str = "(due_at IS NULL OR due_at >= ?3)";

pub(crate) fn obligations(c: &Connection, q: &ObligationQuery) -> StoreResult<Obligations> {
    // Open: unanswered, and both parties still peers (a deleted peer's
    // retired name ends its questions, asked and owed, until a new peer
    // adopts its history).
    const OPEN: &str = "kind = 'question' AND answer_id IS NULL \
         AND NOT EXISTS (SELECT 1 FROM retired_names r WHERE r.name = messages.to_node OR r.name = messages.from_node)";
    let limit = i64::from(q.limit);
    // Overdue questions first, then the others, each part oldest first:
    // the page is cut after the overdue ones, so none hides behind older
    // questions without a deadline.
    let list = |filter: &str, peer: Option<&str>| -> StoreResult<Vec<Obligation>> {
        let mut out = Vec::new();
        for part in [OVERDUE, NOT_OVERDUE] {
            let left = limit - out.len() as i64;
            if left == 0 {
                break;
            }
            let sql = format!("{OBLIGATION_COLS} WHERE {filter}{OPEN} AND {part} ORDER BY id LIMIT ?2");
            let mut s = c.prepare_cached(&sql).db()?;
            let rows = s.query_map(params![peer, left, q.now], |r| row_obligation(r, &q.now)).db()?;
            out.extend(rows.collect::<rusqlite::Result<Vec<_>>>().db()?);
        }
        Ok(out)
    };
    Ok(match &q.peer {
        Some(p) => {
            Obligations { owed: list("to_node = ?1 AND ", Some(p))?, awaiting: list("from_node = ?1 AND ", Some(p))? }
        }
        None => {
            let all = list("(?1 IS NULL) AND ", None)?;
            Obligations { owed: all.clone(), awaiting: all }
        }
    })
}

/// Stores the ladder of a message just imported as `id`: its delivery and
/// deadline as exported, its reply link to the target's copy of the
/// message replied to (by origin, if that one is present), and, for an
/// answer, the answer link of that question (first answer wins).
pub(super) fn import_ladder(c: &Connection, id: i64, own_store_id: &str, msg: &Message, l: &Ladder) -> StoreResult<()> {
    let parent = match &l.in_reply_to_origin {
        None => None,
        Some(origin) => {
            let by_origin: Option<i64> = c
                .prepare_cached("SELECT id FROM messages WHERE origin = ?1")
                .and_then(|mut s| s.query_row([origin], |r| r.get(0)).optional())
                .db()?;
            match by_origin {
                Some(found) => Some(found),
                None => match meshgate_store::own_origin_id(origin, own_store_id) {
                    Some(own) => c
                        .prepare_cached("SELECT id FROM messages WHERE id = ?1")
                        .and_then(|mut s| s.query_row([own], |r| r.get(0)).optional())
                        .db()?,
                    None => None,
                },
            }
        }
    };
    c.prepare_cached("UPDATE messages SET delivered_at = ?2, due_at = ?3, in_reply_to = ?4 WHERE id = ?1")
        .and_then(|mut s| s.execute(params![id, l.delivered_at, l.due_at, parent]))
        .db()?;
    if let (Some(parent), Kind::Answer) = (parent, msg.kind) {
        set_answer(c, id, &msg.from_node, parent, &msg.created_at)?;
    }
    Ok(())
}
