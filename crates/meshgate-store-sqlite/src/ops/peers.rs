//! Peers, their tokens and aliases, and name resolution.

use meshgate_proto::{Alias, Peer};
use meshgate_store::{
    now_timestamp, PeerRegistration, Refusal, Registered, Resolved, StoreError, StoreResult, Timestamp, TokenHash,
    TokenOwner,
};
use rusqlite::{params, Connection, OptionalExtension};

use super::identity::{alias_exists, has_history, retired};
use super::{row_alias, row_peer, PEER_COLS};
use crate::error::{is_unique_violation, Db};
use crate::writer::WriteCtx;

pub(crate) fn peer(c: &Connection, name: &str) -> StoreResult<Option<Peer>> {
    c.prepare_cached(&format!("{PEER_COLS} WHERE name = ?1"))
        .and_then(|mut s| s.query_row([name], row_peer).optional())
        .db()
}

pub(super) fn peer_exists(c: &Connection, name: &str) -> StoreResult<bool> {
    c.prepare_cached("SELECT 1 FROM peers WHERE name = ?1").and_then(|mut s| s.exists([name])).db()
}

pub(super) fn require_peer(c: &Connection, name: &str) -> StoreResult<Peer> {
    peer(c, name)?.ok_or_else(|| StoreError::NotFound(format!("peer {name:?}")))
}

pub(crate) fn list_peers(c: &Connection) -> StoreResult<Vec<Peer>> {
    let mut s = c.prepare_cached(&format!("{PEER_COLS} ORDER BY name")).db()?;
    let rows = s.query_map([], row_peer).db()?;
    rows.collect::<rusqlite::Result<Vec<_>>>().db()
}

pub(super) fn live_generation(c: &Connection, name: &str) -> StoreResult<Option<i64>> {
    c.prepare_cached("SELECT generation FROM peer_tokens WHERE peer = ?1 AND revoked_at IS NULL")
        .and_then(|mut s| s.query_row([name], |r| r.get(0)).optional())
        .db()
}

pub(super) fn revoke_live(c: &Connection, name: &str, now: &str) -> StoreResult<usize> {
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
    ctx.names_changed();
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
    ctx.names_changed();
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
    ctx.names_changed();
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
    ctx.names_changed();
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
    ctx.names_changed();
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
