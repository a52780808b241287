//! The SQL of every operation, as plain async functions over a pooled
//! client (reads) or an open transaction (writes).
//!
//! Every statement is a fixed string (or built from a fixed set of clauses)
//! and goes through the per-connection prepared-statement cache. Timestamps
//! come from the database clock (`meshgate_now()`), so replicas with skewed
//! clocks still agree.

use deadpool_postgres::{GenericClient, Transaction};
use futures_util::TryStreamExt;
use meshgate_proto::{Alias, Kind, MarkRead, Message, MessageRef, PageBudget, Peer, Thread};
use meshgate_store::{
    looks_like_uuid, own_origin_id, skip, ImportOutcome, ImportRecord, ImportStats, Inserted, MessageQuery,
    MessageRecord, NewMessage, Order, PeerRegistration, Refusal, Registered, Resolved, StoreError, StoreResult,
    ThreadQuery, Timestamp, TokenHash, TokenOwner, TokenRecord,
};
use serde_json::{Map, Value as Json};
use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

use crate::error::{is_unique_violation, map_pg, Db};

mod identity;
use identity::{lock_name, retired};
pub(crate) use identity::{purge_peer, set_peer_secret_guard};

/// The channel every message commit is announced on; the payload is the id.
pub(crate) const CHANNEL: &str = "meshgate_messages";

type Param = Box<dyn ToSql + Sync + Send>;

// ---------------------------------------------------------------- helpers

async fn query<C: GenericClient>(c: &C, sql: &str, p: &[&(dyn ToSql + Sync)]) -> StoreResult<Vec<Row>> {
    let st = c.prepare_cached(sql).await.db()?;
    c.query(&st, p).await.db()
}

async fn query_opt<C: GenericClient>(c: &C, sql: &str, p: &[&(dyn ToSql + Sync)]) -> StoreResult<Option<Row>> {
    let st = c.prepare_cached(sql).await.db()?;
    c.query_opt(&st, p).await.db()
}

async fn query_one<C: GenericClient>(c: &C, sql: &str, p: &[&(dyn ToSql + Sync)]) -> StoreResult<Row> {
    let st = c.prepare_cached(sql).await.db()?;
    c.query_one(&st, p).await.db()
}

async fn execute<C: GenericClient>(c: &C, sql: &str, p: &[&(dyn ToSql + Sync)]) -> StoreResult<u64> {
    let st = c.prepare_cached(sql).await.db()?;
    c.execute(&st, p).await.db()
}

fn get<'a, T: tokio_postgres::types::FromSql<'a>>(r: &'a Row, idx: usize) -> StoreResult<T> {
    r.try_get(idx).map_err(|e| StoreError::Backend(format!("decoding column {idx}: {e}")))
}

// ---------------------------------------------------------------- rows

const PEER_FIELDS: &str = "name, url, capabilities, enabled, registered_at, last_seen, last_health, secret_guard";
const PEER_COLS: &str =
    "SELECT name, url, capabilities, enabled, registered_at, last_seen, last_health, secret_guard FROM peers";

fn row_peer(r: &Row) -> StoreResult<Peer> {
    let caps: String = get(r, 2)?;
    let capabilities: Map<String, Json> =
        serde_json::from_str(&caps).map_err(|e| StoreError::Backend(format!("decoding capabilities: {e}")))?;
    Ok(Peer {
        name: get(r, 0)?,
        url: get(r, 1)?,
        capabilities,
        enabled: get(r, 3)?,
        registered_at: get(r, 4)?,
        last_seen: get(r, 5)?,
        last_health: get(r, 6)?,
        secret_guard: get(r, 7)?,
    })
}

const MSG_COLS: &str = "id, from_node, to_node, kind, content, created_at, read_at, \
                        thread_id, related_task_id";

fn row_message(r: &Row) -> StoreResult<Message> {
    let kind: String = get(r, 3)?;
    let kind: Kind = kind.parse().map_err(|e| StoreError::Backend(format!("decoding kind {kind:?}: {e}")))?;
    Ok(Message {
        id: get(r, 0)?,
        from_node: get(r, 1)?,
        to_node: get(r, 2)?,
        kind,
        content: content_text(get(r, 4)?)?,
        created_at: get(r, 5)?,
        read_at: get(r, 6)?,
        thread_id: get(r, 7)?,
        related_task_id: get(r, 8)?,
    })
}

/// Message bodies are stored as UTF-8 bytes (`bytea`): text cannot hold NUL.
fn content_text(bytes: Vec<u8>) -> StoreResult<String> {
    String::from_utf8(bytes).map_err(|e| StoreError::Backend(format!("stored content is not UTF-8: {e}")))
}

const THREAD_COLS: &str = "thread_uuid, thread_name, peer_pair, topic, session_id, created_at, last_used_at, minted_by";

fn row_thread(r: &Row) -> StoreResult<Thread> {
    Ok(Thread {
        thread_uuid: get(r, 0)?,
        thread_name: get(r, 1)?,
        peer_pair: get(r, 2)?,
        topic: get(r, 3)?,
        session_id: get(r, 4)?,
        created_at: get(r, 5)?,
        last_used_at: get(r, 6)?,
        created: None,
        minted_by: get(r, 7)?,
    })
}

fn row_alias(r: &Row) -> StoreResult<Alias> {
    Ok(Alias { alias: get(r, 0)?, canonical: get(r, 1)?, created_at: get(r, 2)? })
}

fn collect<T>(rows: Vec<Row>, f: fn(&Row) -> StoreResult<T>) -> StoreResult<Vec<T>> {
    rows.iter().map(f).collect()
}

// ---------------------------------------------------------------- schema

/// Version of the newest applied migration.
pub(crate) async fn schema_version<C: GenericClient>(c: &C) -> StoreResult<i64> {
    get(&query_one(c, "SELECT coalesce(max(version), 0)::bigint FROM schema_migrations", &[]).await?, 0)
}

/// The SQL of [`max_id`].
pub(crate) const MAX_ID_SQL: &str = "SELECT coalesce(max(id), 0)::bigint FROM messages";

/// Highest committed message id.
pub(crate) async fn max_id<C: GenericClient>(c: &C) -> StoreResult<i64> {
    get(&query_one(c, MAX_ID_SQL, &[]).await?, 0)
}

// ---------------------------------------------------------------- peers

pub(crate) async fn peer<C: GenericClient>(c: &C, name: &str) -> StoreResult<Option<Peer>> {
    query_opt(c, &format!("{PEER_COLS} WHERE name = $1"), &[&name]).await?.as_ref().map(row_peer).transpose()
}

/// Locks the peer's row until the transaction ends (serialising token
/// changes of one peer across replicas); false if there is no such peer.
async fn lock_peer(tx: &Transaction<'_>, name: &str) -> StoreResult<bool> {
    Ok(query_opt(tx, "SELECT 1 FROM peers WHERE name = $1 FOR UPDATE", &[&name]).await?.is_some())
}

async fn require_peer<C: GenericClient>(c: &C, name: &str) -> StoreResult<Peer> {
    peer(c, name).await?.ok_or_else(|| StoreError::NotFound(format!("peer {name:?}")))
}

pub(crate) async fn list_peers<C: GenericClient>(c: &C) -> StoreResult<Vec<Peer>> {
    collect(query(c, &format!("{PEER_COLS} ORDER BY name"), &[]).await?, row_peer)
}

async fn live_generation(tx: &Transaction<'_>, name: &str) -> StoreResult<Option<i64>> {
    query_opt(tx, "SELECT generation FROM peer_tokens WHERE peer = $1 AND revoked_at IS NULL", &[&name])
        .await?
        .map(|r| get(&r, 0))
        .transpose()
}

async fn revoke_live(tx: &Transaction<'_>, name: &str) -> StoreResult<u64> {
    execute(tx, "UPDATE peer_tokens SET revoked_at = meshgate_now() WHERE peer = $1 AND revoked_at IS NULL", &[&name])
        .await
}

/// Maps a unique violation of the token hash to `Conflict`.
fn token_conflict(e: tokio_postgres::Error) -> StoreError {
    if is_unique_violation(&e) {
        StoreError::Conflict("token hash already in use".into())
    } else {
        map_pg(e)
    }
}

/// Stores `hash` as the peer's next generation (one past every generation
/// it ever had, revoked ones included). The caller holds the peer's row lock.
async fn mint_checked(tx: &Transaction<'_>, name: &str, hash: &TokenHash) -> StoreResult<i64> {
    let st = tx
        .prepare_cached(
            "INSERT INTO peer_tokens (peer, token_hash, generation, created_at) \
             SELECT $1, $2, coalesce(max(generation), 0) + 1, meshgate_now() FROM peer_tokens WHERE peer = $1 \
             RETURNING generation",
        )
        .await
        .db()?;
    let hash: &[u8] = &hash.0[..];
    let row = tx.query_one(&st, &[&name, &hash]).await.map_err(token_conflict)?;
    get(&row, 0)
}

pub(crate) async fn register_peer(tx: &Transaction<'_>, reg: PeerRegistration) -> StoreResult<Registered> {
    lock_name(tx, &reg.name).await?;
    if query_opt(tx, "SELECT 1 FROM aliases WHERE alias = $1", &[&reg.name]).await?.is_some() {
        return Err(StoreError::Refused(Refusal::NameTaken, format!("{:?} is an alias", reg.name)));
    }
    if retired(tx, &reg.name).await? {
        if !reg.adopt_history {
            return Err(StoreError::Refused(Refusal::NameRetired, format!("{:?} is a deleted peer's name", reg.name)));
        }
        execute(tx, "DELETE FROM retired_names WHERE name = $1", &[&reg.name]).await?;
    }
    let caps = reg
        .capabilities
        .as_ref()
        .map(serde_json::to_string)
        .transpose()
        .map_err(|e| StoreError::Backend(format!("encoding capabilities: {e}")))?;
    // The upsert takes the peer's row lock: concurrent registrations of one
    // name (from any replica) run one after the other.
    execute(
        tx,
        "INSERT INTO peers AS p (name, url, capabilities, enabled, registered_at, last_seen) \
         VALUES ($1, $2, coalesce($3, '{}'), true, meshgate_now(), meshgate_now()) \
         ON CONFLICT (name) DO UPDATE SET url = coalesce($2, p.url), \
           capabilities = coalesce($3, p.capabilities), last_seen = meshgate_now()",
        &[&reg.name, &reg.url, &caps],
    )
    .await?;
    let (minted, generation) = match live_generation(tx, &reg.name).await? {
        Some(g) => (false, g),
        None => (true, mint_checked(tx, &reg.name, &reg.mint).await?),
    };
    Ok(Registered { peer: require_peer(tx, &reg.name).await?, minted, generation })
}

pub(crate) async fn delete_peer(tx: &Transaction<'_>, name: &str) -> StoreResult<()> {
    lock_name(tx, name).await?;
    if !lock_peer(tx, name).await? {
        return Err(StoreError::NotFound(format!("peer {name:?}")));
    }
    revoke_live(tx, name).await?;
    execute(tx, "DELETE FROM aliases WHERE canonical = $1", &[&name]).await?;
    execute(tx, "DELETE FROM peers WHERE name = $1", &[&name]).await?;
    let history: bool = get(
        &query_one(
            tx,
            "SELECT EXISTS (SELECT 1 FROM messages WHERE from_node = $1) \
             OR EXISTS (SELECT 1 FROM messages WHERE to_node = $1) \
             OR EXISTS (SELECT 1 FROM threads WHERE minted_by = $1)",
            &[&name],
        )
        .await?,
        0,
    )?;
    if history {
        execute(
            tx,
            "INSERT INTO retired_names (name, deleted_at) VALUES ($1, meshgate_now()) \
             ON CONFLICT (name) DO UPDATE SET deleted_at = EXCLUDED.deleted_at",
            &[&name],
        )
        .await?;
    }
    Ok(())
}

pub(crate) async fn set_peer_enabled(tx: &Transaction<'_>, name: &str, enabled: bool) -> StoreResult<Peer> {
    let row = query_opt(
        tx,
        &format!("UPDATE peers SET enabled = $2 WHERE name = $1 RETURNING {PEER_FIELDS}"),
        &[&name, &enabled],
    )
    .await?;
    match row {
        Some(r) => row_peer(&r),
        None => Err(StoreError::NotFound(format!("peer {name:?}"))),
    }
}

pub(crate) async fn touch_peers(tx: &Transaction<'_>, seen: &[(String, Timestamp)]) -> StoreResult<()> {
    // One statement for the whole batch; names in a stable order so two
    // replicas touching the same peers cannot deadlock.
    let mut seen: Vec<&(String, Timestamp)> = seen.iter().collect();
    seen.sort();
    let names: Vec<&str> = seen.iter().map(|(n, _)| n.as_str()).collect();
    let ats: Vec<&str> = seen.iter().map(|(_, t)| t.as_str()).collect();
    execute(
        tx,
        "UPDATE peers p SET last_seen = v.at \
         FROM (SELECT name, max(at COLLATE \"C\") AS at FROM unnest($1::text[], $2::text[]) AS u(name, at) GROUP BY name) v \
         WHERE p.name = v.name AND (p.last_seen IS NULL OR p.last_seen < v.at COLLATE \"C\")",
        &[&names, &ats],
    )
    .await?;
    Ok(())
}

// ---------------------------------------------------------------- tokens

pub(crate) async fn token_owner<C: GenericClient>(c: &C, hash: &TokenHash) -> StoreResult<Option<TokenOwner>> {
    let hash: &[u8] = &hash.0[..];
    let row = query_opt(
        c,
        "SELECT t.peer, t.generation, p.enabled FROM peer_tokens t \
         JOIN peers p ON p.name = t.peer \
         WHERE t.token_hash = $1 AND t.revoked_at IS NULL",
        &[&hash],
    )
    .await?;
    row.map(|r| Ok(TokenOwner { peer: get(&r, 0)?, generation: get(&r, 1)?, enabled: get(&r, 2)? })).transpose()
}

pub(crate) async fn rotate_token(tx: &Transaction<'_>, name: &str, hash: &TokenHash) -> StoreResult<i64> {
    if !lock_peer(tx, name).await? {
        return Err(StoreError::NotFound(format!("peer {name:?}")));
    }
    revoke_live(tx, name).await?;
    mint_checked(tx, name, hash).await
}

pub(crate) async fn revoke_tokens(tx: &Transaction<'_>, name: &str) -> StoreResult<()> {
    if !lock_peer(tx, name).await? {
        return Err(StoreError::NotFound(format!("peer {name:?}")));
    }
    revoke_live(tx, name).await?;
    Ok(())
}

// ---------------------------------------------------------------- aliases

pub(crate) async fn put_alias(tx: &Transaction<'_>, alias: &str, canonical: &str) -> StoreResult<Alias> {
    lock_name(tx, alias).await?;
    if query_opt(tx, "SELECT 1 FROM peers WHERE name = $1", &[&alias]).await?.is_some() {
        return Err(StoreError::Refused(Refusal::NameTaken, format!("{alias:?} is a registered peer name")));
    }
    if retired(tx, alias).await? {
        return Err(StoreError::Refused(Refusal::NameRetired, format!("{alias:?} is a deleted peer's name")));
    }
    // FOR SHARE: the canonical peer cannot be deleted until this commits.
    if query_opt(tx, "SELECT 1 FROM peers WHERE name = $1 FOR SHARE", &[&canonical]).await?.is_none() {
        return Err(StoreError::NotFound(format!("peer {canonical:?}")));
    }
    let row = query_one(
        tx,
        "INSERT INTO aliases (alias, canonical, created_at) VALUES ($1, $2, meshgate_now()) \
         ON CONFLICT (alias) DO UPDATE SET canonical = EXCLUDED.canonical \
         RETURNING alias, canonical, created_at",
        &[&alias, &canonical],
    )
    .await?;
    row_alias(&row)
}

pub(crate) async fn aliases<C: GenericClient>(c: &C) -> StoreResult<Vec<Alias>> {
    collect(query(c, "SELECT alias, canonical, created_at FROM aliases ORDER BY alias", &[]).await?, row_alias)
}

pub(crate) async fn delete_alias(tx: &Transaction<'_>, alias: &str) -> StoreResult<()> {
    if execute(tx, "DELETE FROM aliases WHERE alias = $1", &[&alias]).await? == 0 {
        return Err(StoreError::NotFound(format!("alias {alias:?}")));
    }
    Ok(())
}

pub(crate) async fn resolve_name<C: GenericClient>(c: &C, name: &str) -> StoreResult<Option<Resolved>> {
    if let Some(r) = query_opt(c, "SELECT name, enabled FROM peers WHERE name = $1", &[&name]).await? {
        return Ok(Some(Resolved { canonical: get(&r, 0)?, via_alias: false, enabled: get(&r, 1)? }));
    }
    let row = query_opt(
        c,
        "SELECT p.name, p.enabled FROM aliases a JOIN peers p ON p.name = a.canonical WHERE a.alias = $1",
        &[&name],
    )
    .await?;
    row.map(|r| Ok(Resolved { canonical: get(&r, 0)?, via_alias: true, enabled: get(&r, 1)? })).transpose()
}

// ---------------------------------------------------------------- messages

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
    let prior_digest: Option<String> = get(&row, 9)?;
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
        let inserted = query(
            tx,
            "INSERT INTO messages (id, from_node, to_node, kind, content, thread_id, related_task_id, \
             idempotency_key, idempotency_digest, created_at) \
             SELECT r.*, $10 FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::bytea[], \
             $6::text[], $7::text[], $8::text[], $9::text[]) AS r \
             ON CONFLICT (from_node, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING \
             RETURNING id",
            &[&ids, &from, &to, &kind, &content, &thread, &task, &key, &digest, &now],
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
async fn register_thread(tx: &Transaction<'_>, uuid: &str, from: &str, to: &str, at: &str) -> StoreResult<()> {
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
    if let Some(to) = &q.to {
        push(&mut clauses, &mut params, "to_node = ?", Box::new(to.clone()));
    }
    if let Some(from) = &q.from {
        push(&mut clauses, &mut params, "from_node = ?", Box::new(from.clone()));
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

/// The page of `q`, stopped by its byte budget (see [`PageBudget`]). Rows
/// are streamed, so a page cut short never holds the rows after the cut;
/// the connection discards those as they arrive.
pub(crate) async fn list_messages<C: GenericClient>(c: &C, q: &MessageQuery) -> StoreResult<Vec<Message>> {
    let (sql, params) = list_messages_sql(q);
    let st = c.prepare_cached(&sql).await.db()?;
    let rows = c.query_raw(&st, params.iter().map(|p| &**p as &(dyn ToSql + Sync))).await.db()?;
    let mut rows = std::pin::pin!(rows);
    let mut budget = PageBudget::new(q.max_bytes);
    let mut out = Vec::new();
    while let Some(r) = rows.try_next().await.db()? {
        let m = row_ref(&r)?;
        if !budget.admit(&m) {
            break;
        }
        out.push(Message::from(m));
    }
    Ok(out)
}

/// A message row of [`MSG_COLS`], borrowed from the row's buffer.
fn row_ref(r: &Row) -> StoreResult<MessageRef<'_>> {
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
    execute(
        tx,
        "UPDATE messages SET read_at = meshgate_now() \
         WHERE id IN (SELECT id FROM messages WHERE id = ANY($1) AND read_at IS NULL \
                      AND ($2::text IS NULL OR to_node = $2) ORDER BY id FOR UPDATE)",
        &[&sorted, &recipient],
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

// ---------------------------------------------------------------- threads

/// Splits `pair:topic` at the first `:` (both trimmed), as the reference
/// gateway does; no `:` means the whole name is the pair.
pub(crate) fn parse_thread_name(name: &str) -> (String, String) {
    match name.split_once(':') {
        Some((pair, topic)) => (pair.trim().to_owned(), topic.trim().to_owned()),
        None => (name.to_owned(), String::new()),
    }
}

pub(crate) async fn thread<C: GenericClient>(c: &C, uuid: &str) -> StoreResult<Option<Thread>> {
    query_opt(c, &format!("SELECT {THREAD_COLS} FROM threads WHERE thread_uuid = $1"), &[&uuid])
        .await?
        .as_ref()
        .map(row_thread)
        .transpose()
}

pub(crate) async fn mint_thread(
    tx: &Transaction<'_>,
    name: &str,
    session_id: Option<&str>,
    minter: Option<&str>,
) -> StoreResult<Thread> {
    if looks_like_uuid(name) {
        return Err(StoreError::Refused(Refusal::ThreadNameIsUuid, "a thread name cannot be a UUID".into()));
    }
    // Two rounds at most: a concurrent mint of the same name (from another
    // replica) makes the INSERT do nothing, and the UPDATE then finds it.
    for _ in 0..2 {
        let updated = query_opt(
            tx,
            &format!(
                "UPDATE threads SET last_used_at = meshgate_now(), session_id = coalesce($2, session_id) \
                 WHERE coalesce(minted_by, '') = coalesce($3, '') AND thread_name = $1 RETURNING {THREAD_COLS}"
            ),
            &[&name, &session_id, &minter],
        )
        .await?;
        if let Some(r) = updated {
            let mut t = row_thread(&r)?;
            t.created = Some(false);
            return Ok(t);
        }
        let (peer_pair, topic) = parse_thread_name(name);
        let uuid = uuid::Uuid::new_v4().to_string();
        let inserted = query_opt(
            tx,
            &format!(
                "INSERT INTO threads \
                 (thread_uuid, thread_name, peer_pair, topic, session_id, created_at, last_used_at, minted_by) \
                 SELECT $1, $2, $3, $4, $5, t, t, $6 FROM meshgate_now() AS t \
                 ON CONFLICT ((coalesce(minted_by, '')), thread_name) DO NOTHING RETURNING {THREAD_COLS}"
            ),
            &[&uuid, &name, &peer_pair, &topic, &session_id, &minter],
        )
        .await?;
        if let Some(r) = inserted {
            let mut t = row_thread(&r)?;
            t.created = Some(true);
            return Ok(t);
        }
    }
    Err(StoreError::Unavailable("thread mint raced repeatedly; retry".into()))
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

pub(crate) async fn threads<C: GenericClient>(c: &C, q: &ThreadQuery) -> StoreResult<Vec<Thread>> {
    let mut clauses: Vec<String> = Vec::new();
    let mut params: Vec<Param> = Vec::new();
    // ILIKE: SQLite's LIKE is case-insensitive (for ASCII) too.
    if let Some(peer) = &q.peer {
        params.push(Box::new(like_pattern(peer)));
        clauses.push(format!("peer_pair ILIKE ${} ESCAPE '\\'", params.len()));
    }
    if let Some(topic) = &q.topic {
        params.push(Box::new(like_pattern(topic)));
        clauses.push(format!("topic ILIKE ${} ESCAPE '\\'", params.len()));
    }
    if let Some(session) = &q.session_id {
        params.push(Box::new(session.clone()));
        clauses.push(format!("session_id = ${}", params.len()));
    }
    let mut cols = THREAD_COLS.to_owned();
    if let Some(member) = &q.member {
        params.push(Box::new(member.clone()));
        let m = params.len();
        clauses.push(format!(
            "(minted_by = ${m} \
             OR EXISTS (SELECT 1 FROM messages msg WHERE msg.thread_id = threads.thread_uuid AND msg.from_node = ${m}) \
             OR EXISTS (SELECT 1 FROM messages msg WHERE msg.thread_id = threads.thread_uuid AND msg.to_node = ${m}))"
        ));
        if q.session_id.is_some() {
            // A session id is its minter's: nobody else finds a thread by it.
            clauses.push(format!("minted_by = ${m}"));
        }
        // As the member sees a thread it did not mint: no session id (the
        // minter's), and its own newest DM there as `last_used_at`.
        cols = format!(
            "thread_uuid, thread_name, peer_pair, topic, \
             CASE WHEN minted_by = ${m} THEN session_id END AS session_id, created_at, \
             CASE WHEN minted_by = ${m} THEN threads.last_used_at ELSE (SELECT max(msg.created_at) FROM messages msg \
             WHERE msg.thread_id = threads.thread_uuid AND (msg.from_node = ${m} OR msg.to_node = ${m})) END \
             AS last_used_at, minted_by"
        );
    }
    let filter = if clauses.is_empty() { String::new() } else { format!(" WHERE {}", clauses.join(" AND ")) };
    params.push(Box::new((q.limit != 0).then(|| i64::from(q.limit))));
    let sql = format!(
        "SELECT {cols} FROM threads{filter} \
         ORDER BY last_used_at DESC NULLS LAST, created_at DESC, thread_uuid LIMIT ${}",
        params.len()
    );
    let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| &**p as &(dyn ToSql + Sync)).collect();
    collect(query(c, &sql, &refs).await?, row_thread)
}

// ---------------------------------------------------------------- export

pub(crate) async fn store_id<C: GenericClient>(c: &C) -> StoreResult<String> {
    get(&query_one(c, "SELECT value FROM meta WHERE key = 'store_id'", &[]).await?, 0)
}

fn row_token(r: &Row) -> StoreResult<TokenRecord> {
    let hash: Vec<u8> = get(r, 1)?;
    let hash: [u8; 32] = hash.try_into().map_err(|_| StoreError::Backend("token hash is not 32 bytes".into()))?;
    Ok(TokenRecord {
        peer: get(r, 0)?,
        hash: TokenHash(hash),
        generation: get(r, 2)?,
        created_at: get(r, 3)?,
        revoked_at: get(r, 4)?,
    })
}

pub(crate) async fn export_tokens<C: GenericClient>(c: &C) -> StoreResult<Vec<TokenRecord>> {
    collect(
        query(
            c,
            "SELECT peer, token_hash, generation, created_at, revoked_at FROM peer_tokens ORDER BY peer, generation",
            &[],
        )
        .await?,
        row_token,
    )
}

pub(crate) async fn export_threads<C: GenericClient>(
    c: &C,
    after: Option<&str>,
    limit: u32,
) -> StoreResult<Vec<Thread>> {
    let limit: Option<i64> = (limit != 0).then(|| i64::from(limit));
    collect(
        query(
            c,
            &format!(
                "SELECT {THREAD_COLS} FROM threads WHERE thread_uuid > coalesce($1::text, '') \
                 ORDER BY thread_uuid LIMIT $2"
            ),
            &[&after, &limit],
        )
        .await?,
        row_thread,
    )
}

pub(crate) async fn export_messages<C: GenericClient>(
    c: &C,
    after_id: i64,
    limit: u32,
) -> StoreResult<Vec<MessageRecord>> {
    let limit: Option<i64> = (limit != 0).then(|| i64::from(limit));
    let rows = query(
        c,
        &format!(
            "SELECT {MSG_COLS}, idempotency_key, idempotency_digest, origin FROM messages \
             WHERE id > $1 ORDER BY id LIMIT $2"
        ),
        &[&after_id, &limit],
    )
    .await?;
    rows.iter()
        .map(|r| {
            Ok(MessageRecord {
                message: row_message(r)?,
                idempotency_key: get(r, 9)?,
                idempotency_digest: get(r, 10)?,
                origin: get(r, 11)?,
            })
        })
        .collect()
}

// ---------------------------------------------------------------- import

/// Applies an import batch in `tx`; returns the counts and the highest new
/// message id (already announced with `pg_notify`), if any.
pub(crate) async fn import_batch(
    tx: &Transaction<'_>,
    batch: Vec<ImportRecord>,
) -> StoreResult<(ImportStats, Option<i64>)> {
    let own = store_id(tx).await?;
    let mut stats = ImportStats::default();
    let mut max_id = None;
    for record in batch {
        let kind = record.kind();
        let outcome = match record {
            ImportRecord::Peer(p) => import_peer(tx, &p).await?,
            ImportRecord::Token(t) => import_token(tx, &t).await?,
            ImportRecord::Alias(a) => import_alias(tx, &a).await?,
            ImportRecord::Thread(t) => import_thread(tx, &t).await?,
            ImportRecord::Message(m) => match import_message(tx, &own, &m).await? {
                Ok(id) => {
                    max_id = Some(id);
                    ImportOutcome::Imported
                }
                Err(outcome) => outcome,
            },
        };
        stats.record(kind, outcome);
    }
    if let Some(id) = max_id {
        execute(tx, "SELECT pg_notify($1, $2)", &[&CHANNEL, &id.to_string()]).await?;
    }
    Ok((stats, max_id))
}

async fn import_peer(tx: &Transaction<'_>, p: &Peer) -> StoreResult<ImportOutcome> {
    lock_name(tx, &p.name).await?;
    if query_opt(tx, "SELECT 1 FROM aliases WHERE alias = $1", &[&p.name]).await?.is_some() {
        return Ok(ImportOutcome::Skipped(skip::PEER_IS_ALIAS));
    }
    let caps = serde_json::to_string(&p.capabilities)
        .map_err(|e| StoreError::Backend(format!("encoding capabilities: {e}")))?;
    let inserted = execute(
        tx,
        "INSERT INTO peers (name, url, capabilities, enabled, registered_at, last_seen, last_health) \
         VALUES ($1, $2, $3, $4, coalesce($5, meshgate_now()), $6, $7) ON CONFLICT (name) DO NOTHING",
        &[&p.name, &p.url, &caps, &p.enabled, &p.registered_at, &p.last_seen, &p.last_health],
    )
    .await?;
    if inserted == 1 {
        return Ok(ImportOutcome::Imported);
    }
    execute(
        tx,
        "UPDATE peers SET registered_at = least(registered_at, coalesce($2::text COLLATE \"C\", registered_at)), \
         last_seen = CASE WHEN $3::text IS NOT NULL AND (last_seen IS NULL OR last_seen < $3::text COLLATE \"C\") \
                     THEN $3::text ELSE last_seen END, \
         last_health = CASE WHEN $4::text IS NOT NULL AND (last_health IS NULL OR last_health < $4::text COLLATE \"C\") \
                       THEN $4::text ELSE last_health END \
         WHERE name = $1",
        &[&p.name, &p.registered_at, &p.last_seen, &p.last_health],
    )
    .await?;
    Ok(ImportOutcome::Present)
}

async fn import_token(tx: &Transaction<'_>, t: &TokenRecord) -> StoreResult<ImportOutcome> {
    let hash: &[u8] = &t.hash.0[..];
    // The peer's row may not exist (tokens of deleted peers): serialise on
    // the token rows instead.
    if let Some(row) = query_opt(tx, "SELECT revoked_at FROM peer_tokens WHERE token_hash = $1", &[&hash]).await? {
        let revoked: Option<String> = get(&row, 0)?;
        if revoked.is_none() && t.revoked_at.is_some() {
            execute(
                tx,
                "UPDATE peer_tokens SET revoked_at = $2 WHERE token_hash = $1 AND revoked_at IS NULL",
                &[&hash, &t.revoked_at],
            )
            .await?;
        }
        return Ok(ImportOutcome::Present);
    }
    if query_opt(tx, "SELECT 1 FROM peer_tokens WHERE peer = $1 AND generation = $2", &[&t.peer, &t.generation])
        .await?
        .is_some()
    {
        return Ok(ImportOutcome::Skipped(skip::GENERATION_TAKEN));
    }
    if t.revoked_at.is_none() && live_generation(tx, &t.peer).await?.is_some() {
        return Ok(ImportOutcome::Skipped(skip::PEER_HAS_LIVE_TOKEN));
    }
    let st = tx
        .prepare_cached(
            "INSERT INTO peer_tokens (peer, token_hash, generation, created_at, revoked_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .await
        .db()?;
    tx.execute(&st, &[&t.peer, &hash, &t.generation, &t.created_at, &t.revoked_at]).await.map_err(token_conflict)?;
    Ok(ImportOutcome::Imported)
}

async fn import_alias(tx: &Transaction<'_>, a: &Alias) -> StoreResult<ImportOutcome> {
    if let Some(row) = query_opt(tx, "SELECT canonical FROM aliases WHERE alias = $1", &[&a.alias]).await? {
        let canonical: String = get(&row, 0)?;
        return Ok(if canonical == a.canonical {
            ImportOutcome::Present
        } else {
            ImportOutcome::Skipped(skip::ALIAS_ELSEWHERE)
        });
    }
    if query_opt(tx, "SELECT 1 FROM peers WHERE name = $1", &[&a.alias]).await?.is_some() {
        return Ok(ImportOutcome::Skipped(skip::ALIAS_IS_PEER));
    }
    if query_opt(tx, "SELECT 1 FROM peers WHERE name = $1 FOR SHARE", &[&a.canonical]).await?.is_none() {
        return Ok(ImportOutcome::Skipped(skip::ALIAS_UNKNOWN_PEER));
    }
    execute(
        tx,
        "INSERT INTO aliases (alias, canonical, created_at) VALUES ($1, $2, coalesce($3, meshgate_now()))",
        &[&a.alias, &a.canonical, &a.created_at],
    )
    .await?;
    Ok(ImportOutcome::Imported)
}

async fn import_thread(tx: &Transaction<'_>, t: &Thread) -> StoreResult<ImportOutcome> {
    let updated = execute(
        tx,
        "UPDATE threads SET session_id = coalesce(session_id, $2), \
         last_used_at = CASE WHEN $3::text IS NOT NULL \
                             AND (last_used_at IS NULL OR last_used_at < $3::text COLLATE \"C\") \
                        THEN $3::text ELSE last_used_at END \
         WHERE thread_uuid = $1",
        &[&t.thread_uuid, &t.session_id, &t.last_used_at],
    )
    .await?;
    if updated == 1 {
        return Ok(ImportOutcome::Present);
    }
    if query_opt(
        tx,
        "SELECT 1 FROM threads WHERE coalesce(minted_by, '') = coalesce($2, '') AND thread_name = $1",
        &[&t.thread_name, &t.minted_by],
    )
    .await?
    .is_some()
    {
        return Ok(ImportOutcome::Skipped(skip::THREAD_NAME_TAKEN));
    }
    execute(
        tx,
        "INSERT INTO threads (thread_uuid, thread_name, peer_pair, topic, session_id, created_at, last_used_at, \
         minted_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        &[
            &t.thread_uuid,
            &t.thread_name,
            &t.peer_pair,
            &t.topic,
            &t.session_id,
            &t.created_at,
            &t.last_used_at,
            &t.minted_by,
        ],
    )
    .await?;
    Ok(ImportOutcome::Imported)
}

/// Gives the stored message `id` the record's `read_at` if it is unread.
async fn merge_read(tx: &Transaction<'_>, id: i64, read_at: &Option<String>) -> StoreResult<()> {
    if read_at.is_some() {
        execute(tx, "UPDATE messages SET read_at = $2 WHERE id = $1 AND read_at IS NULL", &[&id, read_at]).await?;
    }
    Ok(())
}

/// `Ok(id)` for a newly stored message, `Err(outcome)` otherwise.
async fn import_message(
    tx: &Transaction<'_>,
    own_store_id: &str,
    m: &MessageRecord,
) -> StoreResult<Result<i64, ImportOutcome>> {
    let Some(origin) = &m.origin else {
        return Ok(Err(ImportOutcome::Skipped(skip::NO_ORIGIN)));
    };
    let msg = &m.message;
    let mut found: Option<i64> = match query_opt(tx, "SELECT id FROM messages WHERE origin = $1", &[origin]).await? {
        Some(r) => Some(get(&r, 0)?),
        None => None,
    };
    if found.is_none() {
        if let Some(id) = own_origin_id(origin, own_store_id) {
            if query_opt(tx, "SELECT 1 FROM messages WHERE id = $1", &[&id]).await?.is_some() {
                found = Some(id);
            }
        }
    }
    if let Some(id) = found {
        merge_read(tx, id, &msg.read_at).await?;
        return Ok(Err(ImportOutcome::Present));
    }
    let digest = match (&m.idempotency_key, &m.idempotency_digest) {
        (None, _) => None,
        (Some(_), Some(d)) => Some(d.clone()),
        (Some(_), None) => Some(m.computed_digest()),
    };
    if let (Some(key), Some(digest)) = (&m.idempotency_key, &digest) {
        let prior = query_opt(
            tx,
            "SELECT id, idempotency_digest FROM messages WHERE from_node = $1 AND idempotency_key = $2",
            &[&msg.from_node, key],
        )
        .await?;
        if let Some(r) = prior {
            let id: i64 = get(&r, 0)?;
            let prior_digest: Option<String> = get(&r, 1)?;
            if prior_digest.as_deref() != Some(digest.as_str()) {
                return Ok(Err(ImportOutcome::Skipped(skip::KEY_TAKEN)));
            }
            merge_read(tx, id, &msg.read_at).await?;
            return Ok(Err(ImportOutcome::Present));
        }
    }
    if let Some(thread) = &msg.thread_id {
        register_thread(tx, thread, &msg.from_node, &msg.to_node, &msg.created_at).await?;
    }
    // The counter row lock is held until commit (see the crate docs); the
    // clock floor `last_at` is left alone: imported messages keep their time.
    let seq = query_one(tx, "UPDATE message_seq SET last_id = last_id + 1 RETURNING last_id", &[]).await?;
    let id: i64 = get(&seq, 0)?;
    execute(
        tx,
        "INSERT INTO messages (id, from_node, to_node, kind, content, thread_id, related_task_id, \
         idempotency_key, idempotency_digest, created_at, read_at, origin) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        &[
            &id,
            &msg.from_node,
            &msg.to_node,
            &msg.kind.as_str(),
            &msg.content.as_bytes(),
            &msg.thread_id,
            &msg.related_task_id,
            &m.idempotency_key,
            &digest,
            &msg.created_at,
            &msg.read_at,
            origin,
        ],
    )
    .await?;
    Ok(Ok(id))
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
