//! Fan-out of commit wake-ups to the waiters they concern.
//!
//! The store signals every commit on one `watch` channel. With thousands of
//! idle watchers, waking all of them for every message would turn one
//! commit into thousands of reads. The hub follows the store's commits
//! instead, reads the heads (id, sender, recipient; never the bodies) of
//! each new batch of messages once, and wakes only the
//! waiters keyed by a sender or recipient of those messages. A waiter still
//! re-reads from its own cursor: a wake-up is a hint, never the data.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use meshgate_store::Store;
use tokio::sync::watch;

const PAGE: u32 = 1000;

/// Per-peer wake-up channels fed by one task that follows the store.
pub struct Hub {
    store: Arc<dyn Store>,
    keys: Mutex<HashMap<String, watch::Sender<i64>>>,
    woken: std::sync::atomic::AtomicU64,
}

impl Hub {
    /// Starts following `store` from its current position; must be called
    /// inside a Tokio runtime. The task ends when the returned handle is
    /// aborted or the store's channel closes.
    pub fn start(store: Arc<dyn Store>) -> (Arc<Hub>, tokio::task::JoinHandle<()>) {
        let hub = Arc::new(Hub { store, keys: Mutex::new(HashMap::new()), woken: Default::default() });
        // Take the position now, before any waiter can subscribe, so that
        // every later commit is seen by the task.
        let mut wake = hub.store.subscribe();
        let last = *wake.borrow_and_update();
        let task = tokio::spawn(Arc::clone(&hub).follow(wake, last));
        (hub, task)
    }

    /// A receiver that changes when a message from or to `peer` commits
    /// (any message, for `None`). Subscribe before reading, then wait.
    pub fn subscribe(&self, peer: Option<&str>) -> watch::Receiver<i64> {
        match peer {
            None => self.store.subscribe(),
            Some(peer) => {
                let mut keys = self.keys.lock().expect("hub lock");
                match keys.get(peer) {
                    Some(tx) => tx.subscribe(),
                    None => {
                        let (tx, rx) = watch::channel(0);
                        keys.insert(peer.to_owned(), tx);
                        rx
                    }
                }
            }
        }
    }

    /// Wake-ups sent so far (a waiter's channel told of a commit).
    pub fn wakeups(&self) -> u64 {
        self.woken.load(std::sync::atomic::Ordering::Relaxed)
    }

    async fn follow(self: Arc<Self>, mut wake: watch::Receiver<i64>, mut last: i64) {
        let mut sweep = tokio::time::interval(Duration::from_secs(10));
        loop {
            tokio::select! {
                changed = wake.changed() => {
                    if changed.is_err() {
                        return;
                    }
                }
                _ = sweep.tick() => {
                    self.keys.lock().expect("hub lock").retain(|_, tx| tx.receiver_count() > 0);
                    continue;
                }
            }
            let max = *wake.borrow_and_update();
            while last < max {
                match self.store.committed_heads(last, PAGE).await {
                    Ok(rows) if rows.is_empty() => break,
                    Ok(rows) => {
                        let keys = self.keys.lock().expect("hub lock");
                        let mut woken = 0;
                        for m in &rows {
                            for peer in [&m.to_node, &m.from_node] {
                                if let Some(tx) = keys.get(peer.as_str()) {
                                    tx.send_replace(m.id);
                                    woken += 1;
                                }
                            }
                        }
                        self.woken.fetch_add(woken, std::sync::atomic::Ordering::Relaxed);
                        last = rows.last().map_or(max, |m| m.id);
                    }
                    Err(e) => {
                        // Could not tell who is concerned: wake everyone
                        // (a spurious wake-up costs a read, loses nothing).
                        tracing::warn!(error = %e, "hub read failed; waking every waiter");
                        for tx in self.keys.lock().expect("hub lock").values() {
                            tx.send_replace(max);
                        }
                        last = max;
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                }
            }
        }
    }
}
