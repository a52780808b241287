//! Peers, their tokens and aliases, and name resolution.

use deadpool_postgres::{GenericClient, Transaction};
use meshgate_proto::{Alias, Peer};
use meshgate_store::{
    PeerRegistration, Refusal, Registered, Resolved, StoreError, StoreResult, Timestamp, TokenHash, TokenOwner,
};

use super::identity::{lock_name, retired};
use super::{collect, execute, get, query, query_one, query_opt, row_alias, row_peer, PEER_COLS, PEER_FIELDS};
use crate::error::{is_unique_violation, map_pg, Db};

pub(crate) async fn peer<C: GenericClient>(c: &C, name: &str) -> StoreResult<Option<Peer>> {
    query_opt(c, &format!("{PEER_COLS} WHERE name = $1"), &[&name]).await?.as_ref().map(row_peer).transpose()
}

/// Locks the peer's row until the transaction ends (serialising token
/// changes of one peer across replicas); false if there is no such peer.
pub(super) async fn lock_peer(tx: &Transaction<'_>, name: &str) -> StoreResult<bool> {
    Ok(query_opt(tx, "SELECT 1 FROM peers WHERE name = $1 FOR UPDATE", &[&name]).await?.is_some())
}

async fn require_peer<C: GenericClient>(c: &C, name: &str) -> StoreResult<Peer> {
    peer(c, name).await?.ok_or_else(|| StoreError::NotFound(format!("peer {name:?}")))
}

pub(crate) async fn list_peers<C: GenericClient>(c: &C) -> StoreResult<Vec<Peer>> {
    collect(query(c, &format!("{PEER_COLS} ORDER BY name"), &[]).await?, row_peer)
}

pub(super) async fn live_generation(tx: &Transaction<'_>, name: &str) -> StoreResult<Option<i64>> {
    query_opt(tx, "SELECT generation FROM peer_tokens WHERE peer = $1 AND revoked_at IS NULL", &[&name])
        .await?
        .map(|r| get(&r, 0))
        .transpose()
}

pub(super) async fn revoke_live(tx: &Transaction<'_>, name: &str) -> StoreResult<u64> {
    execute(tx, "UPDATE peer_tokens SET revoked_at = meshgate_now() WHERE peer = $1 AND revoked_at IS NULL", &[&name])
        .await
}

/// Maps a unique violation of the token hash to `Conflict`.
pub(super) fn token_conflict(e: tokio_postgres::Error) -> StoreError {
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
