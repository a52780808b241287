//! Messages: batched inserts, list (rows handed to a sink while reading), mark read.

use deadpool_postgres::{GenericClient, Transaction};
use futures_util::TryStreamExt;
use meshgate_proto::{Kind, MarkRead, Message, MessageRef};
use meshgate_store::{
    Inserted, MessageQuery, NewMessage, Order, RowSink, StoreError, StoreResult, FROM_NODE_RESOLVED_SQL,
    TO_NODE_RESOLVED_SQL,
};
use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

use super::receipts::link_answer;
use super::{execute, get, query, query_one, query_opt, row_message, Param, CHANNEL, MSG_COLS};
use crate::error::Db;

pub(crate) async fn message<C: GenericClient>(c: &C, id: i64) -> StoreResult<Option<Message>> {
    query_opt(c, &format!("SELECT {MSG_COLS} FROM messages WHERE id = $1"), &[&id])
        .await?
        .as_ref()
        .map(row_message)
        .transpose()
}

/// The message `from` stored under idempotency `key`: `Some(Ok)` for a
/// repeat with the same body (`digest`), `Some(Err(Conflict))` for a
/// different body.
pub(crate) async fn prior_for_key<C: GenericClient>(
    c: &C,
    from: &str,
    key: &str,
    digest: &str,
) -> StoreResult<Option<StoreResult<Inserted>>> {
    let row = query_opt(
        c,
        &format!("SELECT {MSG_COLS}, idempotency_digest FROM messages WHERE from_node = $1 AND idempotency_key = $2"),
        &[&from, &key],
    )
    .await?;
    let Some(row) = row else { return Ok(None) };
    let original = row_message(&row)?;
    let prior_digest: Option<String> = get(&row, 11)?;
    Ok(Some(if prior_digest.as_deref() == Some(digest) {
        Ok(Inserted { message: original, duplicate: true })
    } else {
        Err(StoreError::Conflict(format!(
            "idempotency key already used for message {} with a different body",
            original.id
        )))
    }))
}

/// Inserts several messages in `tx` with one id reservation and one
/// multi-row `INSERT`; per message, `None` when its idempotency key was
/// already taken (by an earlier message, another replica, or an earlier
/// message of the same batch): the caller reads that one after the commit.
/// Ids stay dense: when some rows conflict, the round is rolled back to a
/// savepoint and redone without them (each round drops at least one row).
pub(crate) async fn insert_batch(
    tx: &Transaction<'_>,
    msgs: &[(&NewMessage, &str)],
) -> StoreResult<Vec<Option<Message>>> {
    let mut pending: Vec<usize> = (0..msgs.len()).collect();
    loop {
        if pending.is_empty() {
            return Ok(vec![None; msgs.len()]);
        }
        execute(tx, "SAVEPOINT batch", &[]).await?;
        let n = pending.len() as i64;
        let seq = query_one(
            tx,
            "UPDATE message_seq SET last_id = last_id + $1, last_at = greatest(last_at, meshgate_now()) \
             RETURNING last_id, last_at",
            &[&n],
        )
        .await?;
        let last: i64 = get(&seq, 0)?;
        let now: String = get(&seq, 1)?;
        let ids: Vec<i64> = (last - n + 1..=last).collect();
        let rows: Vec<&NewMessage> = pending.iter().map(|&i| msgs[i].0).collect();
        let from: Vec<&str> = rows.iter().map(|m| m.from_node.as_str()).collect();
        let to: Vec<&str> = rows.iter().map(|m| m.to_node.as_str()).collect();
        let kind: Vec<&str> = rows.iter().map(|m| m.kind.as_str()).collect();
        let content: Vec<&[u8]> = rows.iter().map(|m| m.content.as_bytes()).collect();
        let thread: Vec<Option<&str>> = rows.iter().map(|m| m.thread_id.as_deref()).collect();
        let task: Vec<Option<&str>> = rows.iter().map(|m| m.related_task_id.as_deref()).collect();
        let key: Vec<Option<&str>> = rows.iter().map(|m| m.idempotency_key.as_deref()).collect();
        let digest: Vec<Option<&str>> =
            pending.iter().map(|&i| msgs[i].0.idempotency_key.as_ref().map(|_| msgs[i].1)).collect();
        let reply_to: Vec<Option<i64>> = rows.iter().map(|m| m.in_reply_to).collect();
        let due_at: Vec<Option<&str>> = rows.iter().map(|m| m.due_at.as_deref()).collect();
        let verified: Vec<bool> = rows.iter().map(|m| m.sender_verified).collect();
        let inserted = query(
            tx,
            "INSERT INTO messages (id, from_node, to_node, kind, content, thread_id, related_task_id, \
             idempotency_key, idempotency_digest, in_reply_to, due_at, sender_verified, created_at) \
             SELECT r.*, $10 FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::bytea[], \
             $6::text[], $7::text[], $8::text[], $9::text[], $11::bigint[], $12::text[], $13::bool[]) AS r \
             ON CONFLICT (from_node, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING \
             RETURNING id",
            &[&ids, &from, &to, &kind, &content, &thread, &task, &key, &digest, &now, &reply_to, &due_at, &verified],
        )
        .await?;
        if inserted.len() as i64 != n {
            let kept: std::collections::HashSet<i64> =
                inserted.iter().map(|r| get::<i64>(r, 0)).collect::<StoreResult<_>>()?;
            execute(tx, "ROLLBACK TO SAVEPOINT batch", &[]).await?;
            pending = pending.iter().zip(&ids).filter(|(_, id)| kept.contains(id)).map(|(&i, _)| i).collect();
            continue;
        }
        execute(tx, "RELEASE SAVEPOINT batch", &[]).await?;
        let mut out: Vec<Option<Message>> = vec![None; msgs.len()];
        for (&i, &id) in pending.iter().zip(&ids) {
            let msg = msgs[i].0;
            if let Some(thread) = &msg.thread_id {
                touch_thread(tx, thread, &msg.from_node, &msg.to_node, &now).await?;
            }
            link_answer(tx, id, msg).await?;
            out[i] = Some(Message {
                id,
                from_node: msg.from_node.clone(),
                to_node: msg.to_node.clone(),
                kind: msg.kind,
                content: msg.content.clone(),
                created_at: now.clone(),
                read_at: None,
                thread_id: msg.thread_id.clone(),
                related_task_id: msg.related_task_id.clone(),
                owed: msg.kind == Kind::Question,
                sender_verified: msg.sender_verified,
            });
        }
        execute(tx, "SELECT pg_notify($1, $2)", &[&CHANNEL, &last.to_string()]).await?;
        return Ok(out);
    }
}

/// Which of `names` are registered peers, their rows locked `FOR KEY SHARE`
/// until the transaction ends: a delete of one waits for the commit (and
/// `touch_peers` does not). Locked in name order, so batches cannot deadlock.
pub(crate) async fn lock_existing_peers(
    tx: &Transaction<'_>,
    names: &[&str],
) -> StoreResult<std::collections::HashSet<String>> {
    if names.is_empty() {
        return Ok(Default::default());
    }
    let rows = query(tx, "SELECT name FROM peers WHERE name = ANY($1) ORDER BY name FOR KEY SHARE", &[&names]).await?;
    rows.iter().map(|r| get::<String>(r, 0)).collect()
}

/// Bumps a thread's `last_used_at`, registering an unknown thread (its
/// name is the UUID until someone mints a readable one).
async fn touch_thread(tx: &Transaction<'_>, thread: &str, from: &str, to: &str, now: &str) -> StoreResult<()> {
    let bumped = execute(
        tx,
        "UPDATE threads SET last_used_at = $2 WHERE thread_uuid = $1 \
         AND (last_used_at IS NULL OR last_used_at < $2)",
        &[&thread, &now],
    )
    .await?;
    if bumped == 0 {
        // Unknown thread (or already bumped to `now`).
        register_thread(tx, thread, from, to, now).await?;
    }
    Ok(())
}

/// Registers a thread first seen on a message, in the sender's namespace,
/// named by its UUID; a known UUID is left alone.
pub(super) async fn register_thread(
    tx: &Transaction<'_>,
    uuid: &str,
    from: &str,
    to: &str,
    at: &str,
) -> StoreResult<()> {
    let pair = format!("{from}\u{2194}{to}");
    execute(
        tx,
        "INSERT INTO threads \
         (thread_uuid, thread_name, peer_pair, topic, session_id, created_at, last_used_at, minted_by) \
         VALUES ($1, $1, $2, '', NULL, $3, $3, $4) ON CONFLICT DO NOTHING",
        &[&uuid, &pair, &at, &from],
    )
    .await?;
    Ok(())
}

/// Builds the `SELECT` of [`MessageQuery`] from a fixed set of clauses;
/// values only ever travel as parameters.
pub(crate) fn list_messages_sql(q: &MessageQuery) -> (String, Vec<Param>) {
    let mut clauses: Vec<String> = Vec::new();
    let mut params: Vec<Param> = Vec::new();
    fn push(clauses: &mut Vec<String>, params: &mut Vec<Param>, clause: &str, p: Param) {
        params.push(p);
        clauses.push(clause.replace('?', &format!("${}", params.len())));
    }
    // A resolving clause's two `?` become the one parameter.
    let (to_sql, from_sql) = match q.resolve_aliases {
        true => (TO_NODE_RESOLVED_SQL, FROM_NODE_RESOLVED_SQL),
        false => ("to_node = ?", "from_node = ?"),
    };
    if let Some(to) = &q.to {
        push(&mut clauses, &mut params, to_sql, Box::new(to.clone()));
    }
    if let Some(from) = &q.from {
        push(&mut clauses, &mut params, from_sql, Box::new(from.clone()));
    }
    if let Some(thread) = &q.thread_id {
        push(&mut clauses, &mut params, "thread_id = ?", Box::new(thread.clone()));
    }
    if let Some(kind) = q.kind {
        push(&mut clauses, &mut params, "kind = ?", Box::new(kind.as_str().to_owned()));
    }
    if let Some(since) = &q.since {
        push(&mut clauses, &mut params, "created_at > ?", Box::new(since.clone()));
    }
    if let Some(after) = q.after_id {
        push(&mut clauses, &mut params, "id > ?", Box::new(after));
    }
    if q.unread_only {
        clauses.push("read_at IS NULL".into());
    }
    let order = match q.order {
        Order::NewestFirst => "DESC",
        Order::OldestFirst => "ASC",
    };
    // 0 means "no limit": LIMIT NULL is unbounded.
    let limit: Option<i64> = (q.limit != 0).then(|| i64::from(q.limit));

    match &q.involving {
        // With `to` or `from` given, their index already narrows the scan.
        Some(inv) if q.to.is_some() || q.from.is_some() => {
            push(&mut clauses, &mut params, "(from_node = ? OR to_node = ?)", Box::new(inv.clone()));
        }
        // Alone, `from = X OR to = X` would read every row of X and sort:
        // take the top `limit` of each index instead, then merge.
        Some(inv) => {
            let rest: String = clauses.iter().map(|c| format!(" AND {c}")).collect();
            params.push(Box::new(inv.clone()));
            let inv_n = params.len();
            params.push(Box::new(limit));
            let lim_n = params.len();
            let sql = format!(
                "SELECT {MSG_COLS} FROM messages WHERE id IN (\
                 (SELECT id FROM messages WHERE from_node = ${inv_n}{rest} ORDER BY id {order} LIMIT ${lim_n}) \
                 UNION ALL \
                 (SELECT id FROM messages WHERE to_node = ${inv_n}{rest} ORDER BY id {order} LIMIT ${lim_n})) \
                 ORDER BY id {order} LIMIT ${lim_n}"
            );
            return (sql, params);
        }
        None => {}
    }
    let filter = if clauses.is_empty() { String::new() } else { format!(" WHERE {}", clauses.join(" AND ")) };
    params.push(Box::new(limit));
    let n = params.len();
    (format!("SELECT {MSG_COLS} FROM messages{filter} ORDER BY id {order} LIMIT ${n}"), params)
}

/// The rows of `q`, each handed to `sink` borrowed from its row's buffer,
/// until `sink` refuses one. Rows are streamed, so a page cut short never
/// holds the rows after the cut; the connection discards those as they
/// arrive.
pub(crate) async fn visit_messages<C: GenericClient>(
    c: &C,
    q: &MessageQuery,
    sink: &mut dyn RowSink,
) -> StoreResult<()> {
    let (sql, params) = list_messages_sql(q);
    let st = c.prepare_cached(&sql).await.db()?;
    let rows = c.query_raw(&st, params.iter().map(|p| &**p as &(dyn ToSql + Sync))).await.db()?;
    let mut rows = std::pin::pin!(rows);
    while let Some(r) = rows.try_next().await.db()? {
        let more = match row_ref(&r) {
            Ok(m) => sink.row(m),
            Err(e) => sink.row(MessageRef::from(&row_lossy(&r).ok_or(e)?)),
        };
        if !more {
            break;
        }
    }
    Ok(())
}

/// [`row_ref`]'s fallback for a body that is not UTF-8 (`content` is
/// `bytea`: bytes another program wrote): the row with each invalid
/// sequence replaced by U+FFFD (`String::from_utf8_lossy`), so the page
/// still answers, as valid JSON. `None` when the row is wrong in another
/// way.
pub(super) fn row_lossy(r: &Row) -> Option<Message> {
    let content = String::from_utf8_lossy(r.try_get::<_, &[u8]>(4).ok()?);
    let kind: Kind = r.try_get::<_, &str>(3).ok()?.parse().ok()?;
    let m = Message::from(MessageRef {
        id: r.try_get(0).ok()?,
        from_node: r.try_get(1).ok()?,
        to_node: r.try_get(2).ok()?,
        kind,
        content: &content,
        created_at: r.try_get(5).ok()?,
        read_at: r.try_get(6).ok()?,
        thread_id: r.try_get(7).ok()?,
        related_task_id: r.try_get(8).ok()?,
        owed: r.try_get(9).ok()?,
        sender_verified: r.try_get(10).ok()?,
    });
    tracing::warn!(id = m.id, "a stored message is not valid UTF-8; read with U+FFFD in place of the bad bytes");
    Some(m)
}

/// A message row of [`MSG_COLS`], borrowed from the row's buffer.
pub(super) fn row_ref(r: &Row) -> StoreResult<MessageRef<'_>> {
    let kind: &str = get(r, 3)?;
    let kind: Kind = kind.parse().map_err(|e| StoreError::Backend(format!("decoding kind {kind:?}: {e}")))?;
    let content: &[u8] = get(r, 4)?;
    Ok(MessageRef {
        id: get(r, 0)?,
        from_node: get(r, 1)?,
        to_node: get(r, 2)?,
        kind,
        content: std::str::from_utf8(content)
            .map_err(|e| StoreError::Backend(format!("stored content is not UTF-8: {e}")))?,
        created_at: get(r, 5)?,
        read_at: get(r, 6)?,
        thread_id: get(r, 7)?,
        related_task_id: get(r, 8)?,
        owed: get(r, 9)?,
        sender_verified: get(r, 10)?,
    })
}

pub(crate) async fn mark_read(
    tx: &Transaction<'_>,
    ids: &[i64],
    recipient: Option<&str>,
) -> StoreResult<Vec<MarkRead>> {
    let mut unique = Vec::with_capacity(ids.len());
    let mut seen = std::collections::HashSet::with_capacity(ids.len());
    for &id in ids {
        if seen.insert(id) {
            unique.push(id);
        }
    }
    // Lock in id order so concurrent mark-reads cannot deadlock.
    let mut sorted = unique.clone();
    sorted.sort_unstable();
    let seq = super::receipts::next_receipt_seq(tx).await?;
    execute(
        tx,
        "UPDATE messages SET read_at = t.now, delivered_at = coalesce(messages.delivered_at, t.now), receipt_seq = $3 \
         FROM (SELECT meshgate_now() AS now) t \
         WHERE id IN (SELECT id FROM messages WHERE id = ANY($1) AND read_at IS NULL \
                      AND ($2::text IS NULL OR to_node = $2) ORDER BY id FOR UPDATE)",
        &[&sorted, &recipient, &seq],
    )
    .await?;
    let rows = query(
        tx,
        "SELECT id, read_at FROM messages WHERE id = ANY($1) AND read_at IS NOT NULL \
         AND ($2::text IS NULL OR to_node = $2)",
        &[&sorted, &recipient],
    )
    .await?;
    let mut read = std::collections::HashMap::with_capacity(rows.len());
    for r in &rows {
        read.insert(get::<i64>(r, 0)?, get::<String>(r, 1)?);
    }
    Ok(unique.into_iter().filter_map(|id| read.remove(&id).map(|read_at| MarkRead { id, read_at })).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_sql_numbers_parameters() {
        let q =
            MessageQuery { to: Some("a".into()), after_id: Some(3), unread_only: true, limit: 5, ..Default::default() };
        let (sql, params) = list_messages_sql(&q);
        assert_eq!(params.len(), 3);
        assert!(sql.contains("to_node = $1 AND id > $2 AND read_at IS NULL"), "{sql}");
        assert!(sql.ends_with("LIMIT $3"), "{sql}");
        let q = MessageQuery { involving: Some("a".into()), kind: Some(Kind::Fyi), limit: 5, ..Default::default() };
        let (sql, params) = list_messages_sql(&q);
        assert_eq!(params.len(), 3);
        assert!(sql.contains("from_node = $2 AND kind = $1"), "{sql}");
    }
}
