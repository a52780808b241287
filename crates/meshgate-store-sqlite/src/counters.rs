//! The counters behind [`crate::SqliteStats`]: written by the writer and
//! the checkpoint thread, read by [`crate::SqliteStore::stats`]. Their own
//! module so that both threads' modules use them without using each other.

use std::sync::atomic::AtomicU64;

/// Counters shared with [`crate::SqliteStore::stats`].
#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) commits: AtomicU64,
    pub(crate) jobs: AtomicU64,
    pub(crate) failed_batches: AtomicU64,
    pub(crate) checkpoints: AtomicU64,
    pub(crate) wal_restarts: AtomicU64,
    /// Told of each commit ([`meshgate_store::Store::observe_commits`]).
    pub(crate) observer: std::sync::OnceLock<std::sync::Arc<dyn meshgate_store::CommitObserver>>,
}
