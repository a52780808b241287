//! Delivery recording: the first hand-over of a DM to its recipient.
//!
//! Read paths (an inbox page, a long-poll answer, a stream event) only
//! [`Deliveries::enqueue`] the ids they hand over; a background task writes
//! them with one [`Store::mark_delivered`] call (one `UPDATE ... WHERE id IN
//! (...) AND delivered_at IS NULL`) every [`FLUSH_EVERY`], so a read never
//! waits for a write. The first delivery wins in the store.
//!
//! Memory is bounded: at most [`QUEUE_MAX`] ids wait, duplicates are
//! dropped, and ids flushed recently (up to [`RECENT_MAX`]) are not queued
//! again, so re-reading the same inbox costs no write. Past the cap an id
//! is not queued: that message keeps no `delivered_at` until a later read
//! hands it over again (or it is marked read, which implies delivery).
//! Pending ids are written on shutdown ([`Deliveries::flush`]).
//!
//! The sets hash ids with one multiplication (`IdHasher`) rather than
//! SipHash: an inbox page looks up each of its ids twice, under the lock,
//! and ids are the store's own sequence numbers, not a caller's choice.

use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use meshgate_store::Store;
use tokio::sync::Notify;

/// How long ids gather before they are written.
pub const FLUSH_EVERY: Duration = Duration::from_millis(5);
/// Most ids waiting to be written; more are not queued.
pub const QUEUE_MAX: usize = 65_536;
/// Most recently written ids remembered (to skip re-queueing them).
pub const RECENT_MAX: usize = 65_536;
/// Ids per store call.
const CHUNK: usize = 4096;

/// The queue of ids to mark delivered (see the module docs).
#[derive(Default)]
pub struct Deliveries {
    state: Mutex<Queue>,
    wake: Notify,
}

#[derive(Default)]
struct Queue {
    pending: IdSet,
    recent: IdSet,
    dropped: u64,
}

/// A set of message ids.
type IdSet = HashSet<i64, BuildHasherDefault<IdHasher>>;

/// Fibonacci hashing of one `i64` (the sets hold nothing else): the
/// multiplication spreads consecutive ids over the high bits the table uses.
#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_i64(&mut self, id: i64) {
        self.0 = (id as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

impl Deliveries {
    /// Queues `ids` (handed over to their recipient just now). Never waits
    /// for the store.
    pub fn enqueue(&self, ids: &[i64]) {
        if ids.is_empty() {
            return;
        }
        let mut q = self.state.lock().expect("delivery queue lock");
        let was_empty = q.pending.is_empty();
        for &id in ids {
            if q.recent.contains(&id) || q.pending.contains(&id) {
                continue;
            }
            if q.pending.len() >= QUEUE_MAX {
                q.dropped += 1;
                continue;
            }
            q.pending.insert(id);
        }
        if was_empty && !q.pending.is_empty() {
            self.wake.notify_one();
        }
    }

    /// Ids waiting now (for tests and metrics).
    pub fn pending(&self) -> usize {
        self.state.lock().expect("delivery queue lock").pending.len()
    }

    /// Ids not queued because the queue was full, since start.
    pub fn dropped(&self) -> u64 {
        self.state.lock().expect("delivery queue lock").dropped
    }

    /// Writes every pending id now.
    pub async fn flush(&self, store: &dyn Store) {
        let ids: Vec<i64> = {
            let mut q = self.state.lock().expect("delivery queue lock");
            let ids: Vec<i64> = q.pending.drain().collect();
            if q.recent.len() + ids.len() > RECENT_MAX {
                q.recent.clear();
            }
            q.recent.extend(ids.iter().copied());
            ids
        };
        for chunk in ids.chunks(CHUNK) {
            if let Err(e) = store.mark_delivered(chunk.to_vec()).await {
                // Not retried: the next read that hands these over queues
                // them again once they leave the recent set.
                tracing::warn!(error = %e, ids = chunk.len(), "could not record deliveries");
                let mut q = self.state.lock().expect("delivery queue lock");
                for id in chunk {
                    q.recent.remove(id);
                }
            }
        }
    }

    /// The background writer: waits for ids, lets them gather for
    /// [`FLUSH_EVERY`], writes them.
    pub(crate) fn start(self: &Arc<Self>, store: Arc<dyn Store>) -> tokio::task::JoinHandle<()> {
        let me = Arc::clone(self);
        tokio::spawn(async move {
            loop {
                me.wake.notified().await;
                tokio::time::sleep(FLUSH_EVERY).await;
                me.flush(store.as_ref()).await;
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_queue_stays_bounded_under_a_flood_of_ids_and_skips_recent_ones() {
        let d = Deliveries::default();
        let flood: Vec<i64> = (1..=(QUEUE_MAX as i64 + 10_000)).collect();
        d.enqueue(&flood);
        d.enqueue(&flood[..100]); // duplicates
        assert_eq!(d.pending(), QUEUE_MAX);
        assert_eq!(d.dropped(), 10_000, "past the cap ids are counted, not queued");

        let dir = tempfile::tempdir().unwrap();
        let store = meshgate_store_sqlite::SqliteStore::open(&dir.path().join("m.db"), Default::default()).unwrap();
        d.flush(&store).await;
        assert_eq!(d.pending(), 0);
        d.enqueue(&flood[..1000]);
        assert_eq!(d.pending(), 0, "ids written recently are not queued again");
        // The memory of recent ids is bounded too: past RECENT_MAX it starts over.
        d.enqueue(&flood[QUEUE_MAX..QUEUE_MAX + 10]);
        d.flush(&store).await;
        let q = d.state.lock().unwrap();
        assert!(q.recent.len() <= RECENT_MAX, "{}", q.recent.len());
    }
}
