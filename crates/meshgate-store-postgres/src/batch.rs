//! Group commit for message inserts.
//!
//! Message inserts are serialised by the `message_seq` row lock (see the
//! crate docs), so one insert per transaction means one commit, and one
//! fsync, per message from all replicas together: ~1,000 a second whatever
//! the number of replicas. Each [`crate::PgStore`] therefore hands its
//! inserts to one task that takes everything queued (up to [`MAX_JOBS`]
//! messages or [`MAX_BYTES`] of content) and stores it in one transaction:
//! one id reservation, one multi-row `INSERT`, one notification, one
//! commit. Callers are answered after the commit. If the batch fails, every
//! message of it gets the error, as when a single insert fails.

use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::Pool;
use meshgate_proto::Message;
use meshgate_store::{NewMessage, StoreError, StoreResult};
use tokio::sync::{mpsc, oneshot, watch};

use crate::error::{map_pg, map_pool};
use crate::{ops, publish};

/// Most messages in one transaction.
pub(crate) const MAX_JOBS: usize = 256;
/// Most content bytes in one transaction (a batch always takes one job).
pub(crate) const MAX_BYTES: usize = 8 << 20;

/// One message waiting for its batch; `None` in the reply means its
/// idempotency key was taken first (the caller reads that message).
pub(crate) struct Job {
    pub(crate) msg: NewMessage,
    pub(crate) digest: String,
    pub(crate) reply: oneshot::Sender<StoreResult<Option<Message>>>,
}

/// Runs batches until every sender is gone.
pub(crate) async fn run(
    pool: Pool,
    mut jobs: mpsc::UnboundedReceiver<Job>,
    max_id: Arc<watch::Sender<i64>>,
    op_timeout: Duration,
) {
    while let Some(first) = jobs.recv().await {
        let mut bytes = first.msg.content.len();
        let mut batch = vec![first];
        while batch.len() < MAX_JOBS && bytes < MAX_BYTES {
            match jobs.try_recv() {
                Ok(job) => {
                    bytes += job.msg.content.len();
                    batch.push(job);
                }
                Err(_) => break,
            }
        }
        let result = match tokio::time::timeout(op_timeout, store(&pool, &batch)).await {
            Ok(result) => result,
            Err(_) => Err(StoreError::Unavailable(format!("postgres insert timed out after {op_timeout:?}"))),
        };
        match result {
            Ok(stored) => {
                if let Some(id) = stored.iter().flatten().map(|m| m.id).max() {
                    publish(&max_id, id);
                }
                for (job, message) in batch.into_iter().zip(stored) {
                    let _ = job.reply.send(Ok(message));
                }
            }
            Err(e) => {
                for job in batch {
                    let _ = job.reply.send(Err(e.clone()));
                }
            }
        }
    }
}

async fn store(pool: &Pool, batch: &[Job]) -> StoreResult<Vec<Option<Message>>> {
    let mut client = pool.get().await.map_err(map_pool)?;
    let tx = client.transaction().await.map_err(map_pg)?;
    let msgs: Vec<(&NewMessage, &str)> = batch.iter().map(|j| (&j.msg, j.digest.as_str())).collect();
    let stored = ops::insert_batch(&tx, &msgs).await?;
    tx.commit().await.map_err(map_pg)?;
    Ok(stored)
}
