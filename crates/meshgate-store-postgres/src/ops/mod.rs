//! The SQL of every operation, as plain async functions over a pooled
//! client (reads) or an open transaction (writes).
//!
//! Every statement is a fixed string (or built from a fixed set of clauses)
//! and goes through the per-connection prepared-statement cache. Timestamps
//! come from the database clock (`meshgate_now()`), so replicas with skewed
//! clocks still agree.

use deadpool_postgres::GenericClient;
use meshgate_proto::{Alias, Message, Peer, Thread};
use meshgate_store::{StoreError, StoreResult};
use serde_json::{Map, Value as Json};
use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

use crate::error::Db;

mod identity;
pub(crate) use identity::{purge_peer, set_peer_secret_guard};

/// The channel every message commit is announced on; the payload is the id.
pub(crate) const CHANNEL: &str = "meshgate_messages";

type Param = Box<dyn ToSql + Sync + Send>;

mod messages;
mod peers;
mod retention;
pub(crate) use retention::purge_expired;
mod receipts;
mod search;
pub(crate) use search::search;
mod threads;
mod transfer;
pub(crate) use messages::{
    insert_batch, list_messages_sql, lock_existing_peers, mark_read, message, prior_for_key, visit_messages,
};
pub(crate) use peers::{
    aliases, delete_alias, delete_peer, list_peers, peer, put_alias, register_peer, resolve_name, revoke_tokens,
    rotate_token, set_peer_enabled, token_owner, touch_peers,
};
pub(crate) use receipts::{mark_delivered, message_status, obligations, receipt_head, receipts};
pub(crate) use threads::{mint_thread, thread, threads};
pub(crate) use transfer::{export_messages, export_threads, export_tokens, import_batch, store_id};

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

/// Column 9 is `owed`: an unanswered question neither of whose parties'
/// names is retired (a deleted peer's questions end, as in `obligations`,
/// until a new peer adopts its history).
const MSG_COLS: &str = "id, from_node, to_node, kind, content, created_at, read_at, \
                        thread_id, related_task_id, (kind = 'question' AND answer_id IS NULL \
                        AND NOT EXISTS (SELECT 1 FROM retired_names WHERE name = to_node) \
                        AND NOT EXISTS (SELECT 1 FROM retired_names WHERE name = from_node)), sender_verified";

fn row_message(r: &Row) -> StoreResult<Message> {
    messages::row_ref(r).map(Message::from).or_else(|e| messages::row_lossy(r).ok_or(e))
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

/// The base tables of the current schema and its name
/// (`database.schema`); refuses a schema holding another application's
/// tables (the store boundary).
pub(crate) async fn our_schema<C: GenericClient>(c: &C) -> StoreResult<(Vec<String>, String)> {
    let tables: Vec<String> = query(
        c,
        "SELECT table_name::text FROM information_schema.tables \
         WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name",
        &[],
    )
    .await?
    .iter()
    .map(|r| r.get(0))
    .collect();
    let schema: String = get(&query_one(c, "SELECT current_database() || '.' || current_schema()", &[]).await?, 0)?;
    match meshgate_store::refuse_foreign(
        &meshgate_store::classify_tables(&tables),
        &format!("PostgreSQL schema {schema}"),
    ) {
        Some(refusal) => Err(refusal),
        None => Ok((tables, schema)),
    }
}

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
