//! Threads: minting, lookup and listing.

use meshgate_proto::Thread;
use meshgate_store::{
    like_pattern, looks_like_uuid, now_timestamp, pair_side_pattern, parse_thread_name, Refusal, StoreError,
    StoreResult, ThreadQuery, PAIR_SIDES_SQL,
};
use rusqlite::types::Value;
use rusqlite::{params, params_from_iter, Connection, OptionalExtension};

use super::{row_thread, MEMBER_THREAD_COLS, THREAD_COLS};
use crate::error::Db;
use crate::writer::WriteCtx;

/// Registers a thread first seen on a message, in the sender's namespace,
/// named by its UUID; a known UUID is left alone.
pub(super) fn register_thread(c: &Connection, uuid: &str, from: &str, to: &str, at: &str) -> StoreResult<()> {
    c.prepare_cached(
        "INSERT OR IGNORE INTO threads \
         (thread_uuid, thread_name, peer_pair, topic, session_id, created_at, last_used_at, minted_by) \
         VALUES (?1, ?1, ?2, '', NULL, ?3, ?3, ?4)",
    )
    .and_then(|mut s| s.execute(params![uuid, format!("{from}\u{2194}{to}"), at, from]))
    .db()?;
    Ok(())
}

pub(super) fn thread_by_name(c: &Connection, name: &str, minter: Option<&str>) -> StoreResult<Option<Thread>> {
    // The same expression as the unique index `threads_name`, so the lookup uses it.
    c.prepare_cached(&format!("{THREAD_COLS} WHERE coalesce(minted_by, '') = coalesce(?2, '') AND thread_name = ?1"))
        .and_then(|mut s| s.query_row(params![name, minter], row_thread).optional())
        .db()
}

pub(crate) fn thread(c: &Connection, uuid: &str) -> StoreResult<Option<Thread>> {
    c.prepare_cached(&format!("{THREAD_COLS} WHERE thread_uuid = ?1"))
        .and_then(|mut s| s.query_row([uuid], row_thread).optional())
        .db()
}

pub(crate) fn mint_thread(
    ctx: &mut WriteCtx,
    name: &str,
    session_id: Option<&str>,
    minter: Option<&str>,
) -> StoreResult<Thread> {
    let c = &ctx.conn;
    let now = now_timestamp();
    if looks_like_uuid(name) {
        return Err(StoreError::Refused(Refusal::ThreadNameIsUuid, "a thread name cannot be a UUID".into()));
    }
    if let Some(existing) = thread_by_name(c, name, minter)? {
        c.prepare_cached(
            "UPDATE threads SET last_used_at = ?2, session_id = coalesce(?3, session_id) \
             WHERE thread_uuid = ?1",
        )
        .and_then(|mut s| s.execute(params![existing.thread_uuid, now, session_id]))
        .db()?;
        let mut t = thread(c, &existing.thread_uuid)?
            .ok_or_else(|| StoreError::Backend("thread vanished during re-mint".into()))?;
        t.created = Some(false);
        return Ok(t);
    }
    let (peer_pair, topic) = parse_thread_name(name);
    let uuid = uuid::Uuid::new_v4().to_string();
    c.prepare_cached(
        "INSERT INTO threads \
         (thread_uuid, thread_name, peer_pair, topic, session_id, created_at, last_used_at, minted_by) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, ?7)",
    )
    .and_then(|mut s| s.execute(params![uuid, name, peer_pair, topic, session_id, now, minter]))
    .db()?;
    Ok(Thread {
        thread_uuid: uuid,
        thread_name: name.to_owned(),
        peer_pair,
        topic,
        session_id: session_id.map(str::to_owned),
        created_at: now.clone(),
        last_used_at: Some(now),
        created: Some(true),
        minted_by: minter.map(str::to_owned),
    })
}

pub(crate) fn threads(c: &Connection, q: &ThreadQuery) -> StoreResult<Vec<Thread>> {
    let mut clauses: Vec<String> = Vec::new();
    let mut params: Vec<Value> = Vec::new();
    let names: Vec<&String> = q.peer.iter().chain(&q.peer_aliases).collect();
    if !names.is_empty() {
        // A whole side of the pair, not a substring: `ann` is not `ann-2`.
        let one = format!("{PAIR_SIDES_SQL} LIKE ? ESCAPE '\\'");
        clauses.push(format!("({})", vec![one; names.len()].join(" OR ")));
        params.extend(names.into_iter().map(|n| Value::Text(pair_side_pattern(n))));
    }
    if let Some(topic) = &q.topic {
        clauses.push("topic LIKE ? ESCAPE '\\'".into());
        params.push(Value::Text(like_pattern(topic)));
    }
    if let Some(session) = &q.session_id {
        clauses.push("session_id = ?".into());
        params.push(Value::Text(session.clone()));
        if let Some(member) = &q.member {
            // A session id is its minter's: nobody else finds a thread by it.
            clauses.push("minted_by = ?".into());
            params.push(Value::Text(member.clone()));
        }
    }
    if let Some(member) = &q.member {
        clauses.push(
            "(minted_by = ? \
             OR EXISTS (SELECT 1 FROM messages m WHERE m.thread_id = threads.thread_uuid AND m.from_node = ?) \
             OR EXISTS (SELECT 1 FROM messages m WHERE m.thread_id = threads.thread_uuid AND m.to_node = ?))"
                .into(),
        );
        for _ in 0..3 {
            params.push(Value::Text(member.clone()));
        }
    }
    let filter = if clauses.is_empty() { String::new() } else { format!(" WHERE {}", clauses.join(" AND ")) };
    params.push(Value::Integer(if q.limit == 0 { -1 } else { i64::from(q.limit) }));
    let cols = match &q.member {
        None => THREAD_COLS.to_owned(),
        Some(member) => {
            // The selected columns come first in the statement: their
            // parameters too.
            for _ in 0..4 {
                params.insert(0, Value::Text(member.clone()));
            }
            MEMBER_THREAD_COLS.to_owned()
        }
    };
    let sql = format!("{cols}{filter} ORDER BY last_used_at DESC, created_at DESC, thread_uuid LIMIT ?");
    let mut s = c.prepare_cached(&sql).db()?;
    let rows = s.query_map(params_from_iter(params), row_thread).db()?;
    rows.collect::<rusqlite::Result<Vec<_>>>().db()
}
