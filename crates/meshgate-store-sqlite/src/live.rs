//! What live delivery needs from the SQLite store beyond pages: message
//! heads for the wake-up hub (no bodies read), and credential events,
//! published in process once the writer committed the change.

use meshgate_store::{CredentialEvent, MessageHead, StoreResult};
use rusqlite::Connection;
use tokio::sync::{broadcast, oneshot};

use crate::error::Db;

/// Events a lagging receiver may miss before it must re-check everyone.
pub(crate) const CREDENTIAL_BACKLOG: usize = 256;

/// Ids, senders and recipients after `after_id`, in id order.
pub(crate) fn message_heads(c: &Connection, after_id: i64, limit: u32) -> StoreResult<Vec<MessageHead>> {
    let mut s =
        c.prepare_cached("SELECT id, from_node, to_node FROM messages WHERE id > ?1 ORDER BY id LIMIT ?2").db()?;
    let rows = s
        .query_map(rusqlite::params![after_id, i64::from(limit)], |r| {
            Ok(MessageHead { id: r.get(0)?, from_node: r.get(1)?, to_node: r.get(2)? })
        })
        .db()?;
    rows.collect::<rusqlite::Result<Vec<_>>>().db()
}

/// Awaits a writer answer and, when the write committed, publishes `event`.
/// Runs on its own task, so the event goes out even if the caller stops
/// waiting (a dropped request) after the job was queued.
pub(crate) async fn publish_after_commit<T: Send + 'static>(
    answer: oneshot::Receiver<StoreResult<T>>,
    events: broadcast::Sender<CredentialEvent>,
    event: Option<CredentialEvent>,
) -> Option<StoreResult<T>> {
    let task = tokio::spawn(async move {
        let result = answer.await.ok()?;
        if let (Ok(_), Some(event)) = (&result, event) {
            // No receiver is fine: nobody has a stream open.
            let _ = events.send(event);
        }
        Some(result)
    });
    task.await.ok().flatten()
}
