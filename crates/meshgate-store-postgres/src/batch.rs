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
    /// `msg.digest()` when it has an idempotency key (empty, and never
    /// read, without one).
    pub(crate) digest: String,
    pub(crate) reply: oneshot::Sender<StoreResult<Option<Message>>>,
    /// Store it only if both ends are registered peers when it commits.
    pub(crate) peers_only: bool,
}

/// Where the batches' commits are reported, once the gateway set it.
pub(crate) type Observer = Arc<std::sync::OnceLock<Arc<dyn meshgate_store::CommitObserver>>>;

/// Runs batches until every sender is gone.
pub(crate) async fn run(
    pool: Pool,
    mut jobs: mpsc::UnboundedReceiver<Job>,
    max_id: Arc<watch::Sender<i64>>,
    op_timeout: Duration,
    observer: Observer,
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
        let result = match tokio::time::timeout(op_timeout, store(&pool, &batch, &observer)).await {
            Ok(result) => result,
            Err(_) => Err(StoreError::Unavailable(format!("postgres insert timed out after {op_timeout:?}"))),
        };
        match result {
            Ok(stored) => {
                if let Some(id) = stored.iter().flatten().flatten().map(|m| m.id).max() {
                    publish(&max_id, id);
                }
                for (job, message) in batch.into_iter().zip(stored) {
                    let _ = job.reply.send(message);
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

/// Stores a batch in one transaction; a job whose ends must be peers and
/// are not gets its own `NotFound`, the others are stored.
async fn store(pool: &Pool, batch: &[Job], observer: &Observer) -> StoreResult<Vec<StoreResult<Option<Message>>>> {
    let mut client = pool.get().await.map_err(map_pool)?;
    let tx = client.transaction().await.map_err(map_pg)?;
    let ends: Vec<&str> = batch
        .iter()
        .filter(|j| j.peers_only)
        .flat_map(|j| [j.msg.from_node.as_str(), j.msg.to_node.as_str()])
        .collect();
    // Locked until the commit: a concurrent delete of one of them waits and
    // then sees these DMs (and retires the name), or went first and the
    // DM is refused.
    let peers = ops::lock_existing_peers(&tx, &ends).await?;
    let missing = |j: &Job| -> Option<String> {
        let mut ends = [&j.msg.from_node, &j.msg.to_node].into_iter();
        j.peers_only.then(|| ends.find(|n| !peers.contains(n.as_str())).cloned()).flatten()
    };
    let msgs: Vec<(&NewMessage, &str)> =
        batch.iter().filter(|j| missing(j).is_none()).map(|j| (&j.msg, j.digest.as_str())).collect();
    let mut stored = ops::insert_batch(&tx, &msgs).await?.into_iter();
    let started = std::time::Instant::now();
    tx.commit().await.map_err(map_pg)?;
    if let Some(observer) = observer.get() {
        observer.committed(batch.len(), started.elapsed());
    }
    Ok(batch
        .iter()
        .map(|j| match missing(j) {
            Some(name) => Err(StoreError::NotFound(format!("peer {name:?}"))),
            None => Ok(stored.next().flatten()),
        })
        .collect())
}
