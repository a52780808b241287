//! The SQL of every operation, as plain functions over a connection.
//!
//! Read functions take `&Connection` (a pooled read-only connection);
//! write functions take the writer's [`WriteCtx`] and run inside the job's
//! savepoint. Every statement is a fixed string (or built from a fixed set
//! of clauses) and goes through the prepared-statement cache.

use meshgate_proto::{Alias, Kind, Message, Peer, Thread};
use meshgate_store::StoreResult;
use rusqlite::types::Type;
use rusqlite::{Connection, Row};
use serde_json::{Map, Value as Json};

use crate::error::Db;

mod identity;
pub(crate) use identity::{purge_peer, set_peer_secret_guard};

mod messages;
mod peers;
mod retention;
pub(crate) use retention::purge_expired;
mod receipts;
mod search;
pub(crate) use search::search;
mod threads;
mod transfer;
pub(crate) use messages::{insert_message, list_messages_sql, mark_read, message, prior_message, visit_messages};
pub(crate) use peers::{
    aliases, delete_alias, delete_peer, list_peers, peer, put_alias, register_peer, resolve_name, revoke_tokens,
    rotate_token, set_peer_enabled, token_owner, touch_peers,
};
pub(crate) use receipts::{mark_delivered, message_status, obligations, receipt_head, receipts};
pub(crate) use threads::{mint_thread, thread, threads};
pub(crate) use transfer::{export_messages, export_threads, export_tokens, import_batch, store_id};

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

/// Column 9 is "still open if a question": no answer yet and, for a
/// question, neither party's name retired (a deleted peer's questions end,
/// as in `obligations`, until a new peer adopts its history). A message is
/// `owed` when it is also a question, which the row's decoder checks on the
/// kind it parses anyway. The two retired-name lookups (primary-key probes)
/// run for open questions only: `CASE` is lazy, where an `OR` of the two
/// names made SQLite build an ephemeral `IN` table per row (+45%
/// instructions per 50-row read, measured).
const MSG_COLS: &str = "id, from_node, to_node, kind, content, created_at, read_at, thread_id, related_task_id, \
     CASE WHEN answer_id IS NOT NULL THEN 0 WHEN kind <> 'question' THEN 1 \
     ELSE NOT EXISTS (SELECT 1 FROM retired_names WHERE name = to_node) \
     AND NOT EXISTS (SELECT 1 FROM retired_names WHERE name = from_node) END, sender_verified";

/// The columns of a page (`messages::visit_messages`, the hot read): column
/// 9 is only "no answer yet"; the page asks whether an open question's
/// parties are retired row by row in Rust (`messages::retired_party`), since
/// even the lazy `CASE` of [`MSG_COLS`] cost ~300 instructions a row for
/// rows that are no questions.
const PAGE_COLS: &str = "id, from_node, to_node, kind, content, created_at, read_at, \
                         thread_id, related_task_id, answer_id IS NULL, sender_verified";

/// [`PAGE_COLS`] for a page of unread rows only: `read_at` is NULL in each,
/// so the statement does not read it from the row.
const PAGE_COLS_UNREAD: &str = "id, from_node, to_node, kind, content, created_at, NULL, \
                                thread_id, related_task_id, answer_id IS NULL, sender_verified";

/// A message row of [`MSG_COLS`] (text that is not UTF-8 read with U+FFFD,
/// see `messages::row_lossy`).
fn row_message(r: &Row<'_>) -> rusqlite::Result<Message> {
    row_message_strict(r).or_else(|e| messages::row_lossy(r).ok_or(e))
}

fn row_message_strict(r: &Row<'_>) -> rusqlite::Result<Message> {
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
        owed: kind == Kind::Question && r.get::<_, bool>(9)?,
        sender_verified: r.get(10)?,
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
