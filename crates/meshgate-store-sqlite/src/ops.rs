//! The SQL of every operation, as plain functions over a connection.
//!
//! Read functions take `&Connection` (a pooled read-only connection);
//! write functions take the writer's [`WriteCtx`] and run inside the job's
//! savepoint. Every statement is a fixed string (or built from a fixed set
//! of clauses) and goes through the prepared-statement cache.

use meshgate_proto::{
    Alias, Kind, MarkRead, Message, MessageListJson, MessageListWriter, MessageRef, PageBudget, Peer, Thread,
};
use meshgate_store::{
    looks_like_uuid, now_timestamp, own_origin_id, skip, ImportOutcome, ImportRecord, ImportStats, Inserted,
    MessageQuery, MessageRecord, NewMessage, Order, PeerRegistration, Refusal, Registered, Resolved, StoreError,
    StoreResult, ThreadQuery, Timestamp, TokenHash, TokenOwner, TokenRecord,
};
use rusqlite::types::{Type, Value};
use rusqlite::{params, params_from_iter, Connection, OptionalExtension, Row};
use serde_json::{Map, Value as Json};

use crate::error::{is_unique_violation, Db};
use crate::writer::WriteCtx;

mod identity;
use identity::{alias_exists, has_history, retired};
pub(crate) use identity::{purge_peer, set_peer_secret_guard};

// ---------------------------------------------------------------- rows

const PEER_COLS: &str =
    "SELECT name, url, capabilities, enabled, registered_at, last_seen, last_health, secret_guard FROM peers";

fn conversion(idx: usize, e: impl std::error::Error + Send + Sync + 'static) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(idx, Type::Text, Box::new(e))
}

fn row_peer(r: &Row<'_>) -> rusqlite::Result<Peer> {
    let caps: String = r.get(2)?;
    let capabilities: Map<String, Json> = serde_json::from_str(&caps).map_err(|e| conversion(2, e))?;
    Ok(Peer {
        name: r.get(0)?,
        url: r.get(1)?,
        capabilities,
        enabled: r.get::<_, i64>(3)? != 0,
        registered_at: r.get(4)?,
        last_seen: r.get(5)?,
        last_health: r.get(6)?,
        secret_guard: r.get(7)?,
    })
}

const MSG_COLS: &str = "id, from_node, to_node, kind, content, created_at, read_at, \
                        thread_id, related_task_id";

fn row_message(r: &Row<'_>) -> rusqlite::Result<Message> {
    let kind: String = r.get(3)?;
    let kind: Kind = kind.parse().map_err(|e| conversion(3, e))?;
    Ok(Message {
        id: r.get(0)?,
        from_node: r.get(1)?,
        to_node: r.get(2)?,
        kind,
        content: r.get(4)?,
        created_at: r.get(5)?,
        read_at: r.get(6)?,
        thread_id: r.get(7)?,
        related_task_id: r.get(8)?,
    })
}

const THREAD_COLS: &str = "SELECT thread_uuid, thread_name, peer_pair, topic, session_id, \
                           created_at, last_used_at, minted_by FROM threads";

/// [`THREAD_COLS`] as one peer (the four `?`) sees them: of a thread it did
/// not mint, no `session_id` (the minter's) and, as `last_used_at`, its own
/// newest DM there rather than anyone's (see [`ThreadQuery::member`]).
const MEMBER_THREAD_COLS: &str = "SELECT thread_uuid, thread_name, peer_pair, topic, \
     CASE WHEN minted_by = ?1 THEN session_id END AS session_id, created_at, \
     CASE WHEN minted_by = ?2 THEN threads.last_used_at ELSE (SELECT max(m.created_at) FROM messages m \
     WHERE m.thread_id = threads.thread_uuid AND (m.from_node = ?3 OR m.to_node = ?4)) END AS last_used_at, \
     minted_by FROM threads";

fn row_thread(r: &Row<'_>) -> rusqlite::Result<Thread> {
    Ok(Thread {
        thread_uuid: r.get(0)?,
        thread_name: r.get(1)?,
        peer_pair: r.get(2)?,
        topic: r.get(3)?,
        session_id: r.get(4)?,
        created_at: r.get(5)?,
        last_used_at: r.get(6)?,
        created: None,
        minted_by: r.get(7)?,
    })
}

fn row_alias(r: &Row<'_>) -> rusqlite::Result<Alias> {
    Ok(Alias { alias: r.get(0)?, canonical: r.get(1)?, created_at: r.get(2)? })
}

// ---------------------------------------------------------------- schema

/// Version of the newest applied migration.
pub(crate) fn schema_version(c: &Connection) -> StoreResult<i64> {
    c.prepare_cached("SELECT coalesce(max(version), 0) FROM schema_migrations")
        .and_then(|mut s| s.query_row([], |r| r.get(0)))
        .db()
}

// ---------------------------------------------------------------- peers

pub(crate) fn peer(c: &Connection, name: &str) -> StoreResult<Option<Peer>> {
    c.prepare_cached(&format!("{PEER_COLS} WHERE name = ?1"))
        .and_then(|mut s| s.query_row([name], row_peer).optional())
        .db()
}

fn peer_exists(c: &Connection, name: &str) -> StoreResult<bool> {
    c.prepare_cached("SELECT 1 FROM peers WHERE name = ?1").and_then(|mut s| s.exists([name])).db()
}

fn require_peer(c: &Connection, name: &str) -> StoreResult<Peer> {
    peer(c, name)?.ok_or_else(|| StoreError::NotFound(format!("peer {name:?}")))
}

pub(crate) fn list_peers(c: &Connection) -> StoreResult<Vec<Peer>> {
    let mut s = c.prepare_cached(&format!("{PEER_COLS} ORDER BY name")).db()?;
    let rows = s.query_map([], row_peer).db()?;
    rows.collect::<rusqlite::Result<Vec<_>>>().db()
}

fn live_generation(c: &Connection, name: &str) -> StoreResult<Option<i64>> {
    c.prepare_cached("SELECT generation FROM peer_tokens WHERE peer = ?1 AND revoked_at IS NULL")
        .and_then(|mut s| s.query_row([name], |r| r.get(0)).optional())
        .db()
}

fn revoke_live(c: &Connection, name: &str, now: &str) -> StoreResult<usize> {
    c.prepare_cached("UPDATE peer_tokens SET revoked_at = ?2 WHERE peer = ?1 AND revoked_at IS NULL")
        .and_then(|mut s| s.execute(params![name, now]))
        .db()
}

/// Stores `hash` as the peer's next generation (one past every generation
/// it ever had, revoked ones included).
fn mint(c: &Connection, name: &str, hash: &TokenHash, now: &str) -> StoreResult<i64> {
    let generation: i64 = c
        .prepare_cached("SELECT coalesce(max(generation), 0) + 1 FROM peer_tokens WHERE peer = ?1")
        .and_then(|mut s| s.query_row([name], |r| r.get(0)))
        .db()?;
    c.prepare_cached(
        "INSERT INTO peer_tokens (peer, token_hash, generation, created_at) \
         VALUES (?1, ?2, ?3, ?4)",
    )
    .and_then(|mut s| s.execute(params![name, &hash.0[..], generation, now]))
    .map_err(|e| {
        if is_unique_violation(&e) {
            StoreError::Conflict("token hash already in use".into())
        } else {
            crate::error::map_err(e)
        }
    })?;
    Ok(generation)
}

pub(crate) fn register_peer(ctx: &mut WriteCtx, reg: PeerRegistration) -> StoreResult<Registered> {
    let c = &ctx.conn;
    let now = now_timestamp();
    if alias_exists(c, &reg.name)? {
        return Err(StoreError::Refused(Refusal::NameTaken, format!("{:?} is an alias", reg.name)));
    }
    if retired(c, &reg.name)? {
        if !reg.adopt_history {
            return Err(StoreError::Refused(Refusal::NameRetired, format!("{:?} is a deleted peer's name", reg.name)));
        }
        c.prepare_cached("DELETE FROM retired_names WHERE name = ?1").and_then(|mut s| s.execute([&reg.name])).db()?;
    }
    let caps = reg
        .capabilities
        .as_ref()
        .map(serde_json::to_string)
        .transpose()
        .map_err(|e| StoreError::Backend(format!("encoding capabilities: {e}")))?;
    let updated = c
        .prepare_cached(
            "UPDATE peers SET url = coalesce(?2, url), \
             capabilities = coalesce(?3, capabilities), last_seen = ?4 WHERE name = ?1",
        )
        .and_then(|mut s| s.execute(params![reg.name, reg.url, caps, now]))
        .db()?;
    if updated == 0 {
        c.prepare_cached(
            "INSERT INTO peers (name, url, capabilities, enabled, registered_at, last_seen) \
             VALUES (?1, ?2, coalesce(?3, '{}'), 1, ?4, ?4)",
        )
        .and_then(|mut s| s.execute(params![reg.name, reg.url, caps, now]))
        .db()?;
    }
    let (minted, generation) = match live_generation(c, &reg.name)? {
        Some(g) => (false, g),
        None => (true, mint(c, &reg.name, &reg.mint, &now)?),
    };
    Ok(Registered { peer: require_peer(c, &reg.name)?, minted, generation })
}

pub(crate) fn delete_peer(ctx: &mut WriteCtx, name: &str) -> StoreResult<()> {
    let c = &ctx.conn;
    if !peer_exists(c, name)? {
        return Err(StoreError::NotFound(format!("peer {name:?}")));
    }
    let now = now_timestamp();
    revoke_live(c, name, &now)?;
    c.prepare_cached("DELETE FROM aliases WHERE canonical = ?1").and_then(|mut s| s.execute([name])).db()?;
    c.prepare_cached("DELETE FROM peers WHERE name = ?1").and_then(|mut s| s.execute([name])).db()?;
    if has_history(c, name)? {
        c.prepare_cached("INSERT OR REPLACE INTO retired_names (name, deleted_at) VALUES (?1, ?2)")
            .and_then(|mut s| s.execute(params![name, now]))
            .db()?;
    }
    Ok(())
}

pub(crate) fn set_peer_enabled(ctx: &mut WriteCtx, name: &str, enabled: bool) -> StoreResult<Peer> {
    let c = &ctx.conn;
    let n = c
        .prepare_cached("UPDATE peers SET enabled = ?2 WHERE name = ?1")
        .and_then(|mut s| s.execute(params![name, enabled as i64]))
        .db()?;
    if n == 0 {
        return Err(StoreError::NotFound(format!("peer {name:?}")));
    }
    require_peer(c, name)
}

pub(crate) fn touch_peers(ctx: &mut WriteCtx, seen: &[(String, Timestamp)]) -> StoreResult<()> {
    let mut s = ctx
        .conn
        .prepare_cached(
            "UPDATE peers SET last_seen = ?2 \
             WHERE name = ?1 AND (last_seen IS NULL OR last_seen < ?2)",
        )
        .db()?;
    for (name, at) in seen {
        s.execute(params![name, at]).db()?;
    }
    Ok(())
}

// ---------------------------------------------------------------- tokens

pub(crate) fn token_owner(c: &Connection, hash: &TokenHash) -> StoreResult<Option<TokenOwner>> {
    c.prepare_cached(
        "SELECT t.peer, t.generation, p.enabled FROM peer_tokens t \
         JOIN peers p ON p.name = t.peer \
         WHERE t.token_hash = ?1 AND t.revoked_at IS NULL",
    )
    .and_then(|mut s| {
        s.query_row([&hash.0[..]], |r| {
            Ok(TokenOwner { peer: r.get(0)?, generation: r.get(1)?, enabled: r.get::<_, i64>(2)? != 0 })
        })
        .optional()
    })
    .db()
}

pub(crate) fn rotate_token(ctx: &mut WriteCtx, name: &str, hash: &TokenHash) -> StoreResult<i64> {
    let c = &ctx.conn;
    if !peer_exists(c, name)? {
        return Err(StoreError::NotFound(format!("peer {name:?}")));
    }
    let now = now_timestamp();
    revoke_live(c, name, &now)?;
    mint(c, name, hash, &now)
}

pub(crate) fn revoke_tokens(ctx: &mut WriteCtx, name: &str) -> StoreResult<()> {
    let c = &ctx.conn;
    if !peer_exists(c, name)? {
        return Err(StoreError::NotFound(format!("peer {name:?}")));
    }
    revoke_live(c, name, &now_timestamp())?;
    Ok(())
}

// ---------------------------------------------------------------- aliases

pub(crate) fn put_alias(ctx: &mut WriteCtx, alias: &str, canonical: &str) -> StoreResult<Alias> {
    let c = &ctx.conn;
    if peer_exists(c, alias)? {
        return Err(StoreError::Refused(Refusal::NameTaken, format!("{alias:?} is a registered peer name")));
    }
    if retired(c, alias)? {
        return Err(StoreError::Refused(Refusal::NameRetired, format!("{alias:?} is a deleted peer's name")));
    }
    if !peer_exists(c, canonical)? {
        return Err(StoreError::NotFound(format!("peer {canonical:?}")));
    }
    c.prepare_cached(
        "INSERT INTO aliases (alias, canonical, created_at) VALUES (?1, ?2, ?3) \
         ON CONFLICT (alias) DO UPDATE SET canonical = excluded.canonical \
         RETURNING alias, canonical, created_at",
    )
    .and_then(|mut s| s.query_row(params![alias, canonical, now_timestamp()], row_alias))
    .db()
}

pub(crate) fn aliases(c: &Connection) -> StoreResult<Vec<Alias>> {
    let mut s = c.prepare_cached("SELECT alias, canonical, created_at FROM aliases ORDER BY alias").db()?;
    let rows = s.query_map([], row_alias).db()?;
    rows.collect::<rusqlite::Result<Vec<_>>>().db()
}

pub(crate) fn delete_alias(ctx: &mut WriteCtx, alias: &str) -> StoreResult<()> {
    let n =
        ctx.conn.prepare_cached("DELETE FROM aliases WHERE alias = ?1").and_then(|mut s| s.execute([alias])).db()?;
    if n == 0 {
        return Err(StoreError::NotFound(format!("alias {alias:?}")));
    }
    Ok(())
}

pub(crate) fn resolve_name(c: &Connection, name: &str) -> StoreResult<Option<Resolved>> {
    let direct = c
        .prepare_cached("SELECT name, enabled FROM peers WHERE name = ?1")
        .and_then(|mut s| {
            s.query_row([name], |r| {
                Ok(Resolved { canonical: r.get(0)?, via_alias: false, enabled: r.get::<_, i64>(1)? != 0 })
            })
            .optional()
        })
        .db()?;
    if direct.is_some() {
        return Ok(direct);
    }
    c.prepare_cached(
        "SELECT p.name, p.enabled FROM aliases a JOIN peers p ON p.name = a.canonical \
         WHERE a.alias = ?1",
    )
    .and_then(|mut s| {
        s.query_row([name], |r| {
            Ok(Resolved { canonical: r.get(0)?, via_alias: true, enabled: r.get::<_, i64>(1)? != 0 })
        })
        .optional()
    })
    .db()
}

// ---------------------------------------------------------------- messages

pub(crate) fn message(c: &Connection, id: i64) -> StoreResult<Option<Message>> {
    c.prepare_cached(&format!("SELECT {MSG_COLS} FROM messages WHERE id = ?1"))
        .and_then(|mut s| s.query_row([id], row_message).optional())
        .db()
}

/// Stores `msg`; with `peers_only`, only if both ends are registered peers
/// (see [`meshgate_store::Store::insert_message_between_peers`]).
pub(crate) fn insert_message(ctx: &mut WriteCtx, msg: NewMessage, peers_only: bool) -> StoreResult<Inserted> {
    if msg.from_node == msg.to_node {
        return Err(StoreError::Refused(Refusal::SelfMessage, "a peer cannot DM itself".into()));
    }
    let digest = msg.digest();
    if let Some(key) = &msg.idempotency_key {
        let prior: Option<(Message, Option<String>)> = ctx
            .conn
            .prepare_cached(&format!(
                "SELECT {MSG_COLS}, idempotency_digest FROM messages \
                 WHERE from_node = ?1 AND idempotency_key = ?2"
            ))
            .and_then(|mut s| s.query_row(params![msg.from_node, key], |r| Ok((row_message(r)?, r.get(9)?))).optional())
            .db()?;
        if let Some((original, prior_digest)) = prior {
            return if prior_digest.as_deref() == Some(digest.as_str()) {
                Ok(Inserted { message: original, duplicate: true })
            } else {
                Err(StoreError::Conflict(format!(
                    "idempotency key already used for message {} with a different body",
                    original.id
                )))
            };
        }
    }
    if peers_only {
        for name in [&msg.from_node, &msg.to_node] {
            if !peer_exists(&ctx.conn, name)? {
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
    let key_digest = msg.idempotency_key.as_ref().map(|_| digest);
    c.prepare_cached(
        "INSERT INTO messages (from_node, to_node, kind, content, thread_id, related_task_id, \
         idempotency_key, idempotency_digest, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
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
            now
        ])
    })
    .db()?;
    let id = c.last_insert_rowid();
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
        },
        duplicate: false,
    })
}

/// Builds the `SELECT` of [`MessageQuery`] from a fixed set of clauses;
/// values only ever travel as parameters.
pub(crate) fn list_messages_sql(q: &MessageQuery) -> (String, Vec<Value>) {
    let mut clauses: Vec<&'static str> = Vec::new();
    let mut params: Vec<Value> = Vec::new();
    if let Some(to) = &q.to {
        clauses.push("to_node = ?");
        params.push(Value::Text(to.clone()));
    }
    if let Some(from) = &q.from {
        clauses.push("from_node = ?");
        params.push(Value::Text(from.clone()));
    }
    if let Some(thread) = &q.thread_id {
        clauses.push("thread_id = ?");
        params.push(Value::Text(thread.clone()));
    }
    if let Some(kind) = q.kind {
        clauses.push("kind = ?");
        params.push(Value::Text(kind.as_str().to_owned()));
    }
    if q.unread_only {
        clauses.push("read_at IS NULL");
    }
    if let Some(since) = &q.since {
        clauses.push("created_at > ?");
        params.push(Value::Text(since.clone()));
    }
    if let Some(after) = q.after_id {
        clauses.push("id > ?");
        params.push(Value::Integer(after));
    }
    let order = match q.order {
        Order::NewestFirst => "DESC",
        Order::OldestFirst => "ASC",
    };
    // 0 means "no limit" (SQLite reads a negative LIMIT as unbounded). The
    // limit is an integer written into the SQL, not a parameter: SQLite's
    // planner looks at a bound LIMIT, so rebinding it re-prepares the
    // statement on every run (12% of a read's CPU). Each limit gets its
    // own cached statement.
    let limit = if q.limit == 0 { -1 } else { i64::from(q.limit) };

    match &q.involving {
        // With `to` or `from` given, their index already narrows the scan.
        Some(inv) if q.to.is_some() || q.from.is_some() => {
            clauses.push("(from_node = ? OR to_node = ?)");
            params.push(Value::Text(inv.clone()));
            params.push(Value::Text(inv.clone()));
        }
        // Alone, `from = X OR to = X` would read every row of X and sort:
        // take the top `limit` of each index instead, then merge.
        Some(inv) => {
            let rest: String = clauses.iter().map(|c| format!(" AND {c}")).collect();
            let sql = format!(
                "SELECT {MSG_COLS} FROM messages WHERE id IN (\
                 SELECT id FROM (SELECT id FROM messages WHERE from_node = ?{rest} \
                 ORDER BY id {order} LIMIT {limit}) \
                 UNION ALL \
                 SELECT id FROM (SELECT id FROM messages WHERE to_node = ?{rest} \
                 ORDER BY id {order} LIMIT {limit})) \
                 ORDER BY id {order} LIMIT {limit}"
            );
            let mut all = Vec::with_capacity(params.len() * 2 + 2);
            for _ in 0..2 {
                all.push(Value::Text(inv.clone()));
                all.extend(params.iter().cloned());
            }
            return (sql, all);
        }
        None => {}
    }
    let filter = if clauses.is_empty() { String::new() } else { format!(" WHERE {}", clauses.join(" AND ")) };
    (format!("SELECT {MSG_COLS} FROM messages{filter} ORDER BY id {order} LIMIT {limit}"), params)
}

/// The page of `q`, stopped by its byte budget (see [`PageBudget`]); each
/// row is measured while SQLite still holds it, before it is copied.
pub(crate) fn list_messages(c: &Connection, q: &MessageQuery) -> StoreResult<Vec<Message>> {
    let (sql, params) = list_messages_sql(q);
    let mut s = c.prepare_cached(&sql).db()?;
    let mut rows = s.query(params_from_iter(params)).db()?;
    let mut budget = PageBudget::new(q.max_bytes);
    let mut out = Vec::new();
    while let Some(r) = rows.next().db()? {
        let m = row_ref(r)?;
        if !budget.admit(&m) {
            break;
        }
        out.push(Message::from(m));
    }
    Ok(out)
}

/// [`list_messages`] encoded as JSON while the rows are read, borrowing
/// each field from SQLite's buffers instead of copying it into a `String`.
pub(crate) fn list_messages_json(c: &Connection, q: &MessageQuery) -> StoreResult<MessageListJson> {
    let (sql, params) = list_messages_sql(q);
    let mut s = c.prepare_cached(&sql).db()?;
    let mut rows = s.query(params_from_iter(params)).db()?;
    // Room for a typical page without regrowing: ~400 bytes of fields and
    // escaping per row beside the content.
    let expected_rows = if q.limit == 0 { 100 } else { q.limit.min(100) as usize };
    let mut out = MessageListWriter::with_capacity(expected_rows * 640);
    while let Some(r) = rows.next().db()? {
        if !out.push_within(&row_ref(r)?, q.max_bytes) {
            break;
        }
    }
    Ok(out.finish())
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
    })
}

fn text<'r>(r: &'r Row<'_>, idx: usize) -> StoreResult<&'r str> {
    r.get_ref(idx).and_then(|v| v.as_str().map_err(|e| conversion(idx, e))).db()
}

fn opt_text<'r>(r: &'r Row<'_>, idx: usize) -> StoreResult<Option<&'r str>> {
    r.get_ref(idx).and_then(|v| v.as_str_or_null().map_err(|e| conversion(idx, e))).db()
}

pub(crate) fn mark_read(ctx: &mut WriteCtx, ids: &[i64], recipient: Option<&str>) -> StoreResult<Vec<MarkRead>> {
    let c = &ctx.conn;
    let now = now_timestamp();
    let mut update = c
        .prepare_cached(
            "UPDATE messages SET read_at = ?2 WHERE id = ?1 AND read_at IS NULL \
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
        update.execute(params![id, now, recipient]).db()?;
        let read_at: Option<String> = select.query_row(params![id, recipient], |r| r.get(0)).optional().db()?;
        if let Some(read_at) = read_at {
            out.push(MarkRead { id, read_at });
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------- threads

/// Splits `pair:topic` at the first `:` (both trimmed), as the reference
/// gateway does; no `:` means the whole name is the pair.
pub(crate) fn parse_thread_name(name: &str) -> (String, String) {
    match name.split_once(':') {
        Some((pair, topic)) => (pair.trim().to_owned(), topic.trim().to_owned()),
        None => (name.to_owned(), String::new()),
    }
}

/// Registers a thread first seen on a message, in the sender's namespace,
/// named by its UUID; a known UUID is left alone.
fn register_thread(c: &Connection, uuid: &str, from: &str, to: &str, at: &str) -> StoreResult<()> {
    c.prepare_cached(
        "INSERT OR IGNORE INTO threads \
         (thread_uuid, thread_name, peer_pair, topic, session_id, created_at, last_used_at, minted_by) \
         VALUES (?1, ?1, ?2, '', NULL, ?3, ?3, ?4)",
    )
    .and_then(|mut s| s.execute(params![uuid, format!("{from}\u{2194}{to}"), at, from]))
    .db()?;
    Ok(())
}

fn thread_by_name(c: &Connection, name: &str, minter: Option<&str>) -> StoreResult<Option<Thread>> {
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

/// `%text%` with LIKE's wildcards escaped (`\` is the escape character).
fn like_pattern(text: &str) -> String {
    format!("%{}%", like_escape(text))
}

/// Escapes LIKE wildcards (`%`, `_`) and the escape character itself.
fn like_escape(text: &str) -> String {
    let mut p = String::with_capacity(text.len());
    for ch in text.chars() {
        if matches!(ch, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(ch);
    }
    p
}

pub(crate) fn threads(c: &Connection, q: &ThreadQuery) -> StoreResult<Vec<Thread>> {
    let mut clauses: Vec<&'static str> = Vec::new();
    let mut params: Vec<Value> = Vec::new();
    if let Some(peer) = &q.peer {
        clauses.push("peer_pair LIKE ? ESCAPE '\\'");
        params.push(Value::Text(like_pattern(peer)));
    }
    if let Some(topic) = &q.topic {
        clauses.push("topic LIKE ? ESCAPE '\\'");
        params.push(Value::Text(like_pattern(topic)));
    }
    if let Some(session) = &q.session_id {
        clauses.push("session_id = ?");
        params.push(Value::Text(session.clone()));
        if let Some(member) = &q.member {
            // A session id is its minter's: nobody else finds a thread by it.
            clauses.push("minted_by = ?");
            params.push(Value::Text(member.clone()));
        }
    }
    if let Some(member) = &q.member {
        clauses.push(
            "(minted_by = ? \
             OR EXISTS (SELECT 1 FROM messages m WHERE m.thread_id = threads.thread_uuid AND m.from_node = ?) \
             OR EXISTS (SELECT 1 FROM messages m WHERE m.thread_id = threads.thread_uuid AND m.to_node = ?))",
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

// ---------------------------------------------------------------- export

pub(crate) fn store_id(c: &Connection) -> StoreResult<String> {
    c.prepare_cached("SELECT value FROM meta WHERE key = 'store_id'")
        .and_then(|mut s| s.query_row([], |r| r.get(0)))
        .db()
}

fn row_token(r: &Row<'_>) -> rusqlite::Result<TokenRecord> {
    let hash: Vec<u8> = r.get(1)?;
    let hash: [u8; 32] = hash.try_into().map_err(|_| {
        conversion(1, std::io::Error::new(std::io::ErrorKind::InvalidData, "token hash is not 32 bytes"))
    })?;
    Ok(TokenRecord {
        peer: r.get(0)?,
        hash: TokenHash(hash),
        generation: r.get(2)?,
        created_at: r.get(3)?,
        revoked_at: r.get(4)?,
    })
}

pub(crate) fn export_tokens(c: &Connection) -> StoreResult<Vec<TokenRecord>> {
    let mut s = c
        .prepare_cached(
            "SELECT peer, token_hash, generation, created_at, revoked_at FROM peer_tokens ORDER BY peer, generation",
        )
        .db()?;
    let rows = s.query_map([], row_token).db()?;
    rows.collect::<rusqlite::Result<Vec<_>>>().db()
}

pub(crate) fn export_threads(c: &Connection, after: Option<&str>, limit: u32) -> StoreResult<Vec<Thread>> {
    let limit = if limit == 0 { -1 } else { i64::from(limit) };
    let mut s = c
        .prepare_cached(&format!("{THREAD_COLS} WHERE thread_uuid > coalesce(?1, '') ORDER BY thread_uuid LIMIT ?2"))
        .db()?;
    let rows = s.query_map(params![after, limit], row_thread).db()?;
    rows.collect::<rusqlite::Result<Vec<_>>>().db()
}

pub(crate) fn export_messages(c: &Connection, after_id: i64, limit: u32) -> StoreResult<Vec<MessageRecord>> {
    let limit = if limit == 0 { -1 } else { i64::from(limit) };
    let mut s = c
        .prepare_cached(&format!(
            "SELECT {MSG_COLS}, idempotency_key, idempotency_digest, origin FROM messages \
             WHERE id > ?1 ORDER BY id LIMIT ?2"
        ))
        .db()?;
    let rows = s
        .query_map(params![after_id, limit], |r| {
            Ok(MessageRecord {
                message: row_message(r)?,
                idempotency_key: r.get(9)?,
                idempotency_digest: r.get(10)?,
                origin: r.get(11)?,
            })
        })
        .db()?;
    rows.collect::<rusqlite::Result<Vec<_>>>().db()
}

// ---------------------------------------------------------------- import

pub(crate) fn import_batch(ctx: &mut WriteCtx, batch: Vec<ImportRecord>) -> StoreResult<ImportStats> {
    let own = store_id(&ctx.conn)?;
    let mut stats = ImportStats::default();
    for record in batch {
        let kind = record.kind();
        let outcome = match record {
            ImportRecord::Peer(p) => import_peer(&ctx.conn, &p)?,
            ImportRecord::Token(t) => import_token(&ctx.conn, &t)?,
            ImportRecord::Alias(a) => import_alias(&ctx.conn, &a)?,
            ImportRecord::Thread(t) => import_thread(&ctx.conn, &t)?,
            ImportRecord::Message(m) => {
                let outcome = import_message(&ctx.conn, &own, &m)?;
                if outcome == ImportOutcome::Imported {
                    ctx.inserted_messages = true;
                }
                outcome
            }
        };
        stats.record(kind, outcome);
    }
    Ok(stats)
}

fn import_peer(c: &Connection, p: &Peer) -> StoreResult<ImportOutcome> {
    if alias_exists(c, &p.name)? {
        return Ok(ImportOutcome::Skipped(skip::PEER_IS_ALIAS));
    }
    let caps = serde_json::to_string(&p.capabilities)
        .map_err(|e| StoreError::Backend(format!("encoding capabilities: {e}")))?;
    let registered_at = p.registered_at.clone().unwrap_or_else(now_timestamp);
    let inserted = c
        .prepare_cached(
            "INSERT INTO peers (name, url, capabilities, enabled, registered_at, last_seen, last_health) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (name) DO NOTHING",
        )
        .and_then(|mut s| {
            s.execute(params![p.name, p.url, caps, p.enabled as i64, registered_at, p.last_seen, p.last_health])
        })
        .db()?;
    if inserted == 1 {
        return Ok(ImportOutcome::Imported);
    }
    c.prepare_cached(
        "UPDATE peers SET registered_at = min(registered_at, ?2), \
         last_seen = CASE WHEN ?3 IS NOT NULL AND (last_seen IS NULL OR last_seen < ?3) THEN ?3 ELSE last_seen END, \
         last_health = CASE WHEN ?4 IS NOT NULL AND (last_health IS NULL OR last_health < ?4) THEN ?4 \
                       ELSE last_health END \
         WHERE name = ?1",
    )
    .and_then(|mut s| s.execute(params![p.name, registered_at, p.last_seen, p.last_health]))
    .db()?;
    Ok(ImportOutcome::Present)
}

fn import_token(c: &Connection, t: &TokenRecord) -> StoreResult<ImportOutcome> {
    let existing: Option<Option<String>> = c
        .prepare_cached("SELECT revoked_at FROM peer_tokens WHERE token_hash = ?1")
        .and_then(|mut s| s.query_row([&t.hash.0[..]], |r| r.get(0)).optional())
        .db()?;
    if let Some(revoked) = existing {
        if revoked.is_none() && t.revoked_at.is_some() {
            c.prepare_cached("UPDATE peer_tokens SET revoked_at = ?2 WHERE token_hash = ?1")
                .and_then(|mut s| s.execute(params![&t.hash.0[..], t.revoked_at]))
                .db()?;
        }
        return Ok(ImportOutcome::Present);
    }
    let taken = c
        .prepare_cached("SELECT 1 FROM peer_tokens WHERE peer = ?1 AND generation = ?2")
        .and_then(|mut s| s.exists(params![t.peer, t.generation]))
        .db()?;
    if taken {
        return Ok(ImportOutcome::Skipped(skip::GENERATION_TAKEN));
    }
    if t.revoked_at.is_none() && live_generation(c, &t.peer)?.is_some() {
        return Ok(ImportOutcome::Skipped(skip::PEER_HAS_LIVE_TOKEN));
    }
    c.prepare_cached(
        "INSERT INTO peer_tokens (peer, token_hash, generation, created_at, revoked_at) VALUES (?1, ?2, ?3, ?4, ?5)",
    )
    .and_then(|mut s| s.execute(params![t.peer, &t.hash.0[..], t.generation, t.created_at, t.revoked_at]))
    .db()?;
    Ok(ImportOutcome::Imported)
}

fn import_alias(c: &Connection, a: &Alias) -> StoreResult<ImportOutcome> {
    let existing: Option<String> = c
        .prepare_cached("SELECT canonical FROM aliases WHERE alias = ?1")
        .and_then(|mut s| s.query_row([&a.alias], |r| r.get(0)).optional())
        .db()?;
    match existing {
        Some(canonical) if canonical == a.canonical => return Ok(ImportOutcome::Present),
        Some(_) => return Ok(ImportOutcome::Skipped(skip::ALIAS_ELSEWHERE)),
        None => {}
    }
    if peer_exists(c, &a.alias)? {
        return Ok(ImportOutcome::Skipped(skip::ALIAS_IS_PEER));
    }
    if !peer_exists(c, &a.canonical)? {
        return Ok(ImportOutcome::Skipped(skip::ALIAS_UNKNOWN_PEER));
    }
    let created_at = a.created_at.clone().unwrap_or_else(now_timestamp);
    c.prepare_cached("INSERT INTO aliases (alias, canonical, created_at) VALUES (?1, ?2, ?3)")
        .and_then(|mut s| s.execute(params![a.alias, a.canonical, created_at]))
        .db()?;
    Ok(ImportOutcome::Imported)
}

fn import_thread(c: &Connection, t: &Thread) -> StoreResult<ImportOutcome> {
    if thread(c, &t.thread_uuid)?.is_some() {
        c.prepare_cached(
            "UPDATE threads SET session_id = coalesce(session_id, ?2), \
             last_used_at = CASE WHEN ?3 IS NOT NULL AND (last_used_at IS NULL OR last_used_at < ?3) THEN ?3 \
                            ELSE last_used_at END \
             WHERE thread_uuid = ?1",
        )
        .and_then(|mut s| s.execute(params![t.thread_uuid, t.session_id, t.last_used_at]))
        .db()?;
        return Ok(ImportOutcome::Present);
    }
    if thread_by_name(c, &t.thread_name, t.minted_by.as_deref())?.is_some() {
        return Ok(ImportOutcome::Skipped(skip::THREAD_NAME_TAKEN));
    }
    c.prepare_cached(
        "INSERT INTO threads (thread_uuid, thread_name, peer_pair, topic, session_id, created_at, last_used_at, \
         minted_by) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )
    .and_then(|mut s| {
        s.execute(params![
            t.thread_uuid,
            t.thread_name,
            t.peer_pair,
            t.topic,
            t.session_id,
            t.created_at,
            t.last_used_at,
            t.minted_by
        ])
    })
    .db()?;
    Ok(ImportOutcome::Imported)
}

/// Gives the stored message `id` the record's `read_at` if it is unread.
fn merge_read(c: &Connection, id: i64, read_at: Option<&str>) -> StoreResult<()> {
    if let Some(read_at) = read_at {
        c.prepare_cached("UPDATE messages SET read_at = ?2 WHERE id = ?1 AND read_at IS NULL")
            .and_then(|mut s| s.execute(params![id, read_at]))
            .db()?;
    }
    Ok(())
}

fn import_message(c: &Connection, own_store_id: &str, m: &MessageRecord) -> StoreResult<ImportOutcome> {
    let Some(origin) = &m.origin else {
        return Ok(ImportOutcome::Skipped(skip::NO_ORIGIN));
    };
    let msg = &m.message;
    let read_at = msg.read_at.as_deref();
    let by_origin: Option<i64> = c
        .prepare_cached("SELECT id FROM messages WHERE origin = ?1")
        .and_then(|mut s| s.query_row([origin], |r| r.get(0)).optional())
        .db()?;
    let own = own_origin_id(origin, own_store_id).filter(|&id| message(c, id).ok().flatten().is_some());
    if let Some(id) = by_origin.or(own) {
        merge_read(c, id, read_at)?;
        return Ok(ImportOutcome::Present);
    }
    let digest = match (&m.idempotency_key, &m.idempotency_digest) {
        (None, _) => None,
        (Some(_), Some(d)) => Some(d.clone()),
        (Some(_), None) => Some(m.computed_digest()),
    };
    if let (Some(key), Some(digest)) = (&m.idempotency_key, &digest) {
        let prior: Option<(i64, Option<String>)> = c
            .prepare_cached("SELECT id, idempotency_digest FROM messages WHERE from_node = ?1 AND idempotency_key = ?2")
            .and_then(|mut s| s.query_row(params![msg.from_node, key], |r| Ok((r.get(0)?, r.get(1)?))).optional())
            .db()?;
        if let Some((id, prior_digest)) = prior {
            if prior_digest.as_deref() != Some(digest.as_str()) {
                return Ok(ImportOutcome::Skipped(skip::KEY_TAKEN));
            }
            merge_read(c, id, read_at)?;
            return Ok(ImportOutcome::Present);
        }
    }
    if let Some(thread) = &msg.thread_id {
        register_thread(c, thread, &msg.from_node, &msg.to_node, &msg.created_at)?;
    }
    c.prepare_cached(
        "INSERT INTO messages (from_node, to_node, kind, content, thread_id, related_task_id, \
         idempotency_key, idempotency_digest, created_at, read_at, origin) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    )
    .and_then(|mut s| {
        s.execute(params![
            msg.from_node,
            msg.to_node,
            msg.kind.as_str(),
            msg.content,
            msg.thread_id,
            msg.related_task_id,
            m.idempotency_key,
            digest,
            msg.created_at,
            msg.read_at,
            origin
        ])
    })
    .db()?;
    Ok(ImportOutcome::Imported)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thread_names_split_at_the_first_colon() {
        assert_eq!(parse_thread_name("lab\u{2194}gpu: phase:7 "), ("lab\u{2194}gpu".into(), "phase:7".into()));
        assert_eq!(parse_thread_name("plain"), ("plain".into(), String::new()));
    }

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(like_pattern("a%_\\b"), "%a\\%\\_\\\\b%");
    }
}
