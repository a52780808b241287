//! Identity rules of the SQLite store: one namespace for peers and aliases,
//! retired names of deleted peers with history, purges, per-peer guard
//! policies.

use meshgate_proto::Peer;
use meshgate_store::{now_timestamp, Purged, StoreError, StoreResult};
use rusqlite::{params, Connection};

use super::peers::{peer_exists, require_peer, revoke_live};
use crate::error::Db;
use crate::writer::WriteCtx;

pub(super) fn alias_exists(c: &Connection, name: &str) -> StoreResult<bool> {
    c.prepare_cached("SELECT 1 FROM aliases WHERE alias = ?1").and_then(|mut s| s.exists([name])).db()
}

pub(super) fn retired(c: &Connection, name: &str) -> StoreResult<bool> {
    c.prepare_cached("SELECT 1 FROM retired_names WHERE name = ?1").and_then(|mut s| s.exists([name])).db()
}

/// Whether any DM or thread names `name` as sender, recipient or minter.
pub(super) fn has_history(c: &Connection, name: &str) -> StoreResult<bool> {
    c.prepare_cached(
        "SELECT EXISTS (SELECT 1 FROM messages WHERE from_node = ?1) \
         OR EXISTS (SELECT 1 FROM messages WHERE to_node = ?1) \
         OR EXISTS (SELECT 1 FROM threads WHERE minted_by = ?1)",
    )
    .and_then(|mut s| s.query_row([name], |r| r.get(0)))
    .db()
}

pub(crate) fn purge_peer(ctx: &mut WriteCtx, name: &str) -> StoreResult<Purged> {
    ctx.names_changed();
    let c = &ctx.conn;
    let peer = peer_exists(c, name)?;
    if peer {
        revoke_live(c, name, &now_timestamp())?;
    }
    let run = |sql: &str| -> StoreResult<u64> {
        c.prepare_cached(sql).and_then(|mut s| s.execute([name])).map(|n| n as u64).db()
    };
    let purged = Purged {
        peer,
        aliases: run("DELETE FROM aliases WHERE canonical = ?1")?,
        messages: run("DELETE FROM messages WHERE from_node = ?1 OR to_node = ?1")?,
        threads: run("DELETE FROM threads WHERE minted_by = ?1")?,
    };
    run("DELETE FROM peers WHERE name = ?1")?;
    let was_retired = run("DELETE FROM retired_names WHERE name = ?1")? > 0;
    if !peer && !was_retired && purged.messages == 0 && purged.threads == 0 {
        return Err(StoreError::NotFound(format!("peer {name:?}")));
    }
    Ok(purged)
}

pub(crate) fn set_peer_secret_guard(ctx: &mut WriteCtx, name: &str, policy: Option<&str>) -> StoreResult<Peer> {
    let c = &ctx.conn;
    let n = c
        .prepare_cached("UPDATE peers SET secret_guard = ?2 WHERE name = ?1")
        .and_then(|mut s| s.execute(params![name, policy]))
        .db()?;
    if n == 0 {
        return Err(StoreError::NotFound(format!("peer {name:?}")));
    }
    require_peer(c, name)
}
