//! What live delivery needs from the PostgreSQL store beyond pages: message
//! heads for the wake-up hub (no bodies read), and credential events that
//! reach every replica through `LISTEN/NOTIFY`, like message commits.
//!
//! A credential change runs `pg_notify('meshgate_credentials', <peer>)` in
//! its own transaction, so the notice goes out exactly when it commits; an
//! empty payload means "everyone" (an import that may revoke tokens). After
//! the `LISTEN` connection (re)connects, notices sent meanwhile may be lost,
//! so the listener publishes [`CredentialEvent::Everyone`].

use std::future::Future;

use deadpool_postgres::{GenericClient, Transaction};
use meshgate_store::{CredentialEvent, MessageHead, StoreResult};
use tokio_postgres::types::ToSql;

use crate::error::Db;

/// The channel credential changes are announced on; the payload is the
/// peer's name, or empty for everyone.
pub(crate) const CREDENTIALS_CHANNEL: &str = "meshgate_credentials";

/// Events a lagging receiver may miss before it must re-check everyone.
pub(crate) const CREDENTIAL_BACKLOG: usize = 256;

/// Runs `op` (a write in `tx`), then announces `event` in the same
/// transaction: the notice is delivered when, and only if, it commits.
pub(crate) async fn noting<T>(
    tx: &Transaction<'_>,
    event: Option<CredentialEvent>,
    op: impl Future<Output = StoreResult<T>>,
) -> StoreResult<T> {
    let out = op.await?;
    if let Some(event) = event {
        let payload = match &event {
            CredentialEvent::Peer(name) => name.as_str(),
            CredentialEvent::Everyone => "",
        };
        let st = tx.prepare_cached("SELECT pg_notify($1, $2)").await.db()?;
        tx.execute(&st, &[&CREDENTIALS_CHANNEL, &payload]).await.db()?;
    }
    Ok(out)
}

/// The event a notice on [`CREDENTIALS_CHANNEL`] carries.
pub(crate) fn event_of(payload: &str) -> CredentialEvent {
    if payload.is_empty() {
        CredentialEvent::Everyone
    } else {
        CredentialEvent::Peer(payload.to_owned())
    }
}

/// Ids, senders and recipients after `after_id`, in id order.
pub(crate) async fn message_heads<C: GenericClient>(c: &C, after_id: i64, limit: u32) -> StoreResult<Vec<MessageHead>> {
    let st = c
        .prepare_cached("SELECT id, from_node, to_node FROM messages WHERE id > $1 ORDER BY id LIMIT $2")
        .await
        .db()?;
    let limit = i64::from(limit);
    let params: [&(dyn ToSql + Sync); 2] = [&after_id, &limit];
    let rows = c.query(&st, &params).await.db()?;
    rows.iter()
        .map(|r| Ok(MessageHead { id: r.try_get(0).db()?, from_node: r.try_get(1).db()?, to_node: r.try_get(2).db()? }))
        .collect()
}
