//! Messages: insert, list (rows handed to a sink while reading), mark read.

use meshgate_proto::{Kind, MarkRead, Message, MessageRef};
use meshgate_store::{
    now_timestamp, Inserted, MessageQuery, NewMessage, Order, Refusal, RowSink, StoreError, StoreResult,
    FROM_NODE_RESOLVED_SQL, TO_NODE_RESOLVED_SQL,
};
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{params, params_from_iter, Connection, OptionalExtension, Row};

use super::peers::peer_exists;
use super::receipts::link_answer;
use super::threads::register_thread;
use super::{conversion, row_message, MSG_COLS, PAGE_COLS, PAGE_COLS_UNREAD};
use crate::error::Db;
use crate::writer::WriteCtx;

pub(crate) fn message(c: &Connection, id: i64) -> StoreResult<Option<Message>> {
    c.prepare_cached(&format!("SELECT {MSG_COLS} FROM messages WHERE id = ?1"))
        .and_then(|mut s| s.query_row([id], row_message).optional())
        .db()
}

/// The sender's message under `msg`'s idempotency key (see
/// [`meshgate_store::Store::prior_message`]).
pub(crate) fn prior_message(c: &Connection, msg: &NewMessage) -> StoreResult<Option<Inserted>> {
    let Some(key) = &msg.idempotency_key else { return Ok(None) };
    let prior: Option<(Message, Option<String>)> = c
        .prepare_cached(&format!(
            "SELECT {MSG_COLS}, idempotency_digest FROM messages \
             WHERE from_node = ?1 AND idempotency_key = ?2"
        ))
        .and_then(|mut s| s.query_row(params![msg.from_node, key], |r| Ok((row_message(r)?, r.get(11)?))).optional())
        .db()?;
    let Some((original, prior_digest)) = prior else { return Ok(None) };
    if prior_digest.as_deref() == Some(msg.digest().as_str()) {
        Ok(Some(Inserted { message: original, duplicate: true }))
    } else {
        Err(StoreError::Conflict(format!(
            "idempotency key already used for message {} with a different body",
            original.id
        )))
    }
}

/// Stores `msg`; with `peers_only`, only if both ends are registered peers
/// (see [`meshgate_store::Store::insert_message_between_peers`]).
pub(crate) fn insert_message(ctx: &mut WriteCtx, msg: NewMessage, peers_only: bool) -> StoreResult<Inserted> {
    if msg.from_node == msg.to_node {
        return Err(StoreError::Refused(Refusal::SelfMessage, "a peer cannot DM itself".into()));
    }
    if let Some(prior) = prior_message(&ctx.conn, &msg)? {
        return Ok(prior);
    }
    // Only a keyed send stores (and so computes) its digest: hashing the
    // whole content was ~9% of an unkeyed send's instructions (callgrind).
    let key_digest = msg.idempotency_key.as_ref().map(|_| msg.digest());
    if peers_only {
        for name in [&msg.from_node, &msg.to_node] {
            if !(ctx.known_peer(name) || peer_exists(&ctx.conn, name)?) {
                return Err(StoreError::NotFound(format!("peer {name:?}")));
            }
        }
    }
    let now = ctx.next_message_ts();
    let c = &ctx.conn;
    if let Some(thread) = &msg.thread_id {
        let bumped = c
            .prepare_cached(
                "UPDATE threads SET last_used_at = ?2 WHERE thread_uuid = ?1 \
                 AND (last_used_at IS NULL OR last_used_at < ?2)",
            )
            .and_then(|mut s| s.execute(params![thread, now]))
            .db()?;
        if bumped == 0 {
            // Unknown thread (or already bumped to `now`): register it in
            // the sender's namespace, named by its UUID.
            register_thread(c, thread, &msg.from_node, &msg.to_node, &now)?;
        }
    }
    c.prepare_cached(
        "INSERT INTO messages (from_node, to_node, kind, content, thread_id, related_task_id, \
         idempotency_key, idempotency_digest, created_at, in_reply_to, due_at, sender_verified) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )
    .and_then(|mut s| {
        s.execute(params![
            msg.from_node,
            msg.to_node,
            msg.kind.as_str(),
            msg.content,
            msg.thread_id,
            msg.related_task_id,
            msg.idempotency_key,
            key_digest,
            now,
            msg.in_reply_to,
            msg.due_at,
            msg.sender_verified
        ])
    })
    .db()?;
    let id = c.last_insert_rowid();
    link_answer(c, id, &msg)?;
    ctx.inserted_messages = true;
    Ok(Inserted {
        message: Message {
            id,
            from_node: msg.from_node,
            to_node: msg.to_node,
            kind: msg.kind,
            content: msg.content,
            created_at: now,
            read_at: None,
            thread_id: msg.thread_id,
            related_task_id: msg.related_task_id,
            owed: msg.kind == Kind::Question,
            sender_verified: msg.sender_verified,
        },
        duplicate: false,
    })
}

/// Builds the `SELECT` of [`MessageQuery`] from a fixed set of clauses;
/// values only ever travel as parameters, borrowed from `q`. Runs on every
/// read: one `String`, no formatting.
pub(crate) fn list_messages_sql(q: &MessageQuery) -> (String, Vec<ToSqlOutput<'_>>) {
    let mut clauses: Vec<&'static str> = Vec::with_capacity(8);
    let mut params: Vec<ToSqlOutput<'_>> = Vec::with_capacity(8);
    fn text(s: &str) -> ToSqlOutput<'_> {
        ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes()))
    }
    let names = [(&q.to, "to_node = ?", TO_NODE_RESOLVED_SQL), (&q.from, "from_node = ?", FROM_NODE_RESOLVED_SQL)];
    for (name, exact, resolved) in names {
        let Some(name) = name else { continue };
        if q.resolve_aliases {
            // The name is bound to both of the expression's parameters.
            clauses.push(resolved);
            params.push(text(name));
        } else {
            clauses.push(exact);
        }
        params.push(text(name));
    }
    if let Some(thread) = &q.thread_id {
        clauses.push("thread_id = ?");
        params.push(text(thread));
    }
    if let Some(kind) = q.kind {
        clauses.push("kind = ?");
        params.push(text(kind.as_str()));
    }
    if q.unread_only {
        clauses.push("read_at IS NULL");
    }
    if let Some(since) = &q.since {
        clauses.push("created_at > ?");
        params.push(text(since));
    }
    if let Some(after) = q.after_id {
        clauses.push("id > ?");
        params.push(ToSqlOutput::Borrowed(ValueRef::Integer(after)));
    }
    let order = match q.order {
        Order::NewestFirst => " ORDER BY id DESC LIMIT ",
        Order::OldestFirst => " ORDER BY id ASC LIMIT ",
    };
    // 0 means "no limit" (SQLite reads a negative LIMIT as unbounded). The
    // limit is an integer written into the SQL, not a parameter: SQLite's
    // planner looks at a bound LIMIT, so rebinding it re-prepares the
    // statement on every run (12% of a read's CPU). Each limit gets its
    // own cached statement.
    let mut digits = itoa::Buffer::new();
    let limit = digits.format(if q.limit == 0 { -1 } else { i64::from(q.limit) });
    // With `unread_only`, `read_at` is NULL in every row: not read from it.
    let cols = if q.unread_only { PAGE_COLS_UNREAD } else { PAGE_COLS };

    match &q.involving {
        // With `to` or `from` given, their index already narrows the scan.
        Some(inv) if q.to.is_some() || q.from.is_some() => {
            clauses.push("(from_node = ? OR to_node = ?)");
            params.push(text(inv));
            params.push(text(inv));
        }
        // Alone, `from = X OR to = X` would read every row of X and sort:
        // take the top `limit` of each index instead, then merge.
        Some(inv) => {
            let mut sql = String::with_capacity(1024);
            sql.extend(["SELECT ", cols, " FROM messages WHERE id IN ("]);
            for (i, column) in ["from_node", "to_node"].into_iter().enumerate() {
                if i == 1 {
                    sql.push_str(" UNION ALL ");
                }
                sql.extend(["SELECT id FROM (SELECT id FROM messages WHERE ", column, " = ?"]);
                clauses.iter().for_each(|c| sql.extend([" AND ", c]));
                sql.extend([order, limit, ")"]);
            }
            sql.extend([")", order, limit]);
            let mut all = Vec::with_capacity(params.len() * 2 + 2);
            for _ in 0..2 {
                all.push(text(inv));
                all.extend(params.iter().cloned());
            }
            return (sql, all);
        }
        None => {}
    }
    let mut sql = String::with_capacity(256 + clauses.iter().map(|c| c.len() + 5).sum::<usize>());
    sql.extend(["SELECT ", cols, " FROM messages"]);
    for (i, c) in clauses.iter().enumerate() {
        sql.extend([if i == 0 { " WHERE " } else { " AND " }, c]);
    }
    sql.extend([order, limit]);
    (sql, params)
}

/// The rows of `q`, each handed to `sink` while SQLite still holds it
/// (borrowed from its buffers, not copied), until `sink` refuses one.
pub(crate) fn visit_messages(c: &Connection, q: &MessageQuery, sink: &mut dyn RowSink) -> StoreResult<()> {
    let (sql, params) = list_messages_sql(q);
    let mut s = c.prepare_cached(&sql).db()?;
    let mut rows = s.query(params_from_iter(params)).db()?;
    while let Some(r) = rows.next().db()? {
        let more = match row_ref(r) {
            Ok(mut m) => {
                if m.owed {
                    m.owed = !retired_party(c, m.from_node, m.to_node)?;
                }
                sink.row(m)
            }
            Err(e) => {
                let mut m = row_lossy(r).ok_or(e)?;
                if m.owed {
                    m.owed = !retired_party(c, &m.from_node, &m.to_node)?;
                }
                sink.row(MessageRef::from(&m))
            }
        };
        if !more {
            break;
        }
    }
    Ok(())
}

/// Whether either party's name is retired (a deleted peer's): then an open
/// question between them is no longer owed (see `MSG_COLS`).
fn retired_party(c: &Connection, from: &str, to: &str) -> StoreResult<bool> {
    c.prepare_cached(
        "SELECT EXISTS (SELECT 1 FROM retired_names WHERE name = ?1) \
         OR EXISTS (SELECT 1 FROM retired_names WHERE name = ?2)",
    )
    .and_then(|mut s| s.query_row(params![from, to], |r| r.get(0)))
    .db()
}

/// [`row_ref`]'s fallback for a row whose text is not UTF-8 (a file another
/// program wrote, or a damaged one): the row with each invalid sequence
/// replaced by U+FFFD (`String::from_utf8_lossy`), so the page still
/// answers, as valid JSON. `None` when the row is wrong in another way.
pub(super) fn row_lossy(r: &Row<'_>) -> Option<Message> {
    let text = |idx: usize| match r.get_ref(idx).ok()? {
        ValueRef::Null => Some(None),
        ValueRef::Text(b) | ValueRef::Blob(b) => Some(Some(String::from_utf8_lossy(b).into_owned())),
        ValueRef::Integer(_) | ValueRef::Real(_) => None,
    };
    let required = |idx: usize| text(idx).flatten();
    let kind: Kind = required(3)?.parse().ok()?;
    let m = Message {
        id: r.get(0).ok()?,
        from_node: required(1)?,
        to_node: required(2)?,
        kind,
        content: required(4)?,
        created_at: required(5)?,
        read_at: text(6)?,
        thread_id: text(7)?,
        related_task_id: text(8)?,
        owed: kind == Kind::Question && flag(r, 9).ok()?,
        sender_verified: flag(r, 10).ok()?,
    };
    tracing::warn!(id = m.id, "a stored message is not valid UTF-8; read with U+FFFD in place of the bad bytes");
    Some(m)
}

/// A message row of [`MSG_COLS`], borrowed from SQLite's buffers.
fn row_ref<'r>(r: &'r Row<'_>) -> StoreResult<MessageRef<'r>> {
    let kind: Kind = text(r, 3)?.parse().map_err(|e| conversion(3, e)).db()?;
    Ok(MessageRef {
        id: r.get(0).db()?,
        from_node: text(r, 1)?,
        to_node: text(r, 2)?,
        kind,
        content: text(r, 4)?,
        created_at: text(r, 5)?,
        read_at: opt_text(r, 6)?,
        thread_id: opt_text(r, 7)?,
        related_task_id: opt_text(r, 8)?,
        owed: kind == Kind::Question && flag(r, 9)?,
        sender_verified: flag(r, 10)?,
    })
}

/// A 0/1 column, read without `FromSql`'s type dispatch.
fn flag(r: &Row<'_>, idx: usize) -> StoreResult<bool> {
    r.get_ref(idx).and_then(|v| v.as_i64().map_err(|e| conversion(idx, e))).map(|v| v != 0).db()
}

pub(super) fn text<'r>(r: &'r Row<'_>, idx: usize) -> StoreResult<&'r str> {
    r.get_ref(idx).and_then(|v| v.as_str().map_err(|e| conversion(idx, e))).db()
}

fn opt_text<'r>(r: &'r Row<'_>, idx: usize) -> StoreResult<Option<&'r str>> {
    r.get_ref(idx).and_then(|v| v.as_str_or_null().map_err(|e| conversion(idx, e))).db()
}

pub(crate) fn mark_read(ctx: &mut WriteCtx, ids: &[i64], recipient: Option<&str>) -> StoreResult<Vec<MarkRead>> {
    let c = &ctx.conn;
    let now = now_timestamp();
    let mut seq = super::receipts::ReceiptSeq::peek(c)?;
    let mut update = c
        .prepare_cached(
            "UPDATE messages SET read_at = ?2, delivered_at = coalesce(delivered_at, ?2), receipt_seq = ?4 \
             WHERE id = ?1 AND read_at IS NULL \
             AND (?3 IS NULL OR to_node = ?3)",
        )
        .db()?;
    let mut select = c
        .prepare_cached(
            "SELECT read_at FROM messages WHERE id = ?1 AND read_at IS NOT NULL \
             AND (?2 IS NULL OR to_node = ?2)",
        )
        .db()?;
    let mut seen = std::collections::HashSet::with_capacity(ids.len());
    let mut out = Vec::with_capacity(ids.len());
    for &id in ids {
        if !seen.insert(id) {
            continue;
        }
        seq.changed(update.execute(params![id, now, recipient, seq.value]).db()?);
        let read_at: Option<String> = select.query_row(params![id, recipient], |r| r.get(0)).optional().db()?;
        if let Some(read_at) = read_at {
            out.push(MarkRead { id, read_at });
        }
    }
    drop((update, select));
    seq.take(c)?;
    Ok(out)
}
