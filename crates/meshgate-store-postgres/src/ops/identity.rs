//! Identity rules of the PostgreSQL store: one namespace for peers and
//! aliases (serialised per name across replicas), retired names of deleted
//! peers with history, purges, per-peer guard policies.

use deadpool_postgres::{GenericClient, Transaction};
use meshgate_proto::Peer;
use meshgate_store::{Purged, StoreError, StoreResult};

use super::peers::{lock_peer, revoke_live};
use super::{execute, query_opt, row_peer, PEER_FIELDS};

/// Serialises every change to the peer/alias namespace of `name` across
/// replicas until the transaction ends (a peer and an alias of the same
/// name cannot both be created by racing transactions).
pub(super) async fn lock_name(tx: &Transaction<'_>, name: &str) -> StoreResult<()> {
    execute(tx, "SELECT pg_advisory_xact_lock(hashtext('meshgate-name:' || $1))", &[&name]).await?;
    Ok(())
}

pub(super) async fn retired<C: GenericClient>(c: &C, name: &str) -> StoreResult<bool> {
    Ok(query_opt(c, "SELECT 1 FROM retired_names WHERE name = $1", &[&name]).await?.is_some())
}

pub(crate) async fn purge_peer(tx: &Transaction<'_>, name: &str) -> StoreResult<Purged> {
    lock_name(tx, name).await?;
    let peer = lock_peer(tx, name).await?;
    if peer {
        revoke_live(tx, name).await?;
    }
    let purged = Purged {
        peer,
        aliases: execute(tx, "DELETE FROM aliases WHERE canonical = $1", &[&name]).await?,
        messages: execute(tx, "DELETE FROM messages WHERE from_node = $1 OR to_node = $1", &[&name]).await?,
        threads: execute(tx, "DELETE FROM threads WHERE minted_by = $1", &[&name]).await?,
    };
    execute(tx, "DELETE FROM peers WHERE name = $1", &[&name]).await?;
    let was_retired = execute(tx, "DELETE FROM retired_names WHERE name = $1", &[&name]).await? > 0;
    if !peer && !was_retired && purged.messages == 0 && purged.threads == 0 {
        return Err(StoreError::NotFound(format!("peer {name:?}")));
    }
    Ok(purged)
}

pub(crate) async fn set_peer_secret_guard(tx: &Transaction<'_>, name: &str, policy: Option<&str>) -> StoreResult<Peer> {
    let row = query_opt(
        tx,
        &format!("UPDATE peers SET secret_guard = $2 WHERE name = $1 RETURNING {PEER_FIELDS}"),
        &[&name, &policy],
    )
    .await?;
    row.as_ref().map(row_peer).transpose()?.ok_or_else(|| StoreError::NotFound(format!("peer {name:?}")))
}
