//! WAL checkpoints on their own thread, off the commit path.
//!
//! SQLite's automatic checkpoint runs inside the `COMMIT` that crosses the
//! threshold: that commit (and every send waiting on the next batch) then
//! also waits for ~1,000 pages to be copied into the database file and for
//! its fsync, which is what made the tail of send latency. The writer
//! turns automatic checkpoints off and nudges this thread after each
//! commit; the thread runs `PRAGMA wal_checkpoint(PASSIVE)` on its own
//! connection, at most every [`MIN_INTERVAL`]. A passive checkpoint never
//! blocks the writer or the readers, and durability does not depend on
//! it: a commit is durable once it is in the fsynced WAL.
//!
//! # Bounded WAL
//!
//! Passive checkpoints copy pages but never let the log start over while
//! writes continue: SQLite rewinds the WAL only when every frame has been
//! copied and no commit came in between, which a busy writer never allows
//! (990,000 sends left a 2.1 GB WAL). So after each commit the writer looks
//! at the WAL file's size ([`WalBound`]); past the bound it answers its
//! batch, then runs `PRAGMA wal_checkpoint(RESTART)` itself. The passive
//! checkpoints already copied all but the last ~100 ms of pages, so the
//! restart copies those and syncs the database file; being the only
//! writer, it waits for no lock but short reads. The next commit writes
//! from the start of the log, and `journal_size_limit` (the same bound)
//! cuts the file back. The file therefore passes the bound by one batch,
//! or by a few when a restart finds a passive checkpoint running or a
//! reader on the old log for more than [`RESTART_WAIT`] (it is retried
//! after the next batch).

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, SyncSender};
use std::sync::Arc;
use std::time::Duration;

use rusqlite::Connection;

use crate::counters::Counters;

/// Least time between two checkpoints: batches the copying into fewer,
/// larger writes and fewer fsyncs of the database file.
const MIN_INTERVAL: Duration = Duration::from_millis(100);

/// The writer's side: tells the checkpointer there is new WAL content.
#[derive(Clone)]
pub(crate) struct Nudge(SyncSender<()>);

impl Nudge {
    /// Never blocks: a nudge already pending covers this commit too.
    pub(crate) fn nudge(&self) {
        let _ = self.0.try_send(());
    }
}

/// A nudge handle and the receiver [`run`] consumes.
pub(crate) fn channel() -> (Nudge, Receiver<()>) {
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    (Nudge(tx), rx)
}

/// The checkpointer's loop; returns when the writer is gone, after a last
/// checkpoint that also truncates the WAL file.
pub(crate) fn run(conn: Connection, nudges: Receiver<()>, counters: Arc<Counters>) {
    while nudges.recv().is_ok() {
        checkpoint(&conn, "PASSIVE", &counters);
        std::thread::sleep(MIN_INTERVAL);
    }
    checkpoint(&conn, "TRUNCATE", &counters);
}

/// How long a restart waits for readers still on the old log before it
/// gives up until the next batch (instead of the connection's 5 s busy
/// timeout, which would stall every send).
const RESTART_WAIT: Duration = Duration::from_millis(50);

/// The writer's bound on the WAL file.
pub(crate) struct WalBound {
    /// The `-wal` file.
    pub(crate) path: PathBuf,
    /// Bytes of log above which the writer restarts it.
    pub(crate) bytes: u64,
    /// The writer connection's usual busy timeout, restored after a restart.
    pub(crate) busy_timeout: Duration,
}

impl WalBound {
    /// Run by the writer between batches: restarts the log if the file
    /// passed the bound. A restart that readers or a running passive
    /// checkpoint kept from finishing is retried after the next batch.
    pub(crate) fn restart_if_over(&self, conn: &Connection, counters: &Counters) {
        // After a restart the file keeps `journal_size_limit` bytes and is
        // written from its start: it grows past the bound only when the log
        // does.
        let Ok(meta) = std::fs::metadata(&self.path) else {
            return;
        };
        if meta.len() <= self.bytes {
            return;
        }
        let _ = conn.busy_timeout(RESTART_WAIT);
        if checkpoint(conn, "RESTART", counters).is_some_and(|(busy, _, _)| busy == 0) {
            counters.wal_restarts.fetch_add(1, Ordering::Relaxed);
        }
        let _ = conn.busy_timeout(self.busy_timeout);
    }
}

/// Runs one checkpoint; returns SQLite's (busy, log frames, copied frames).
fn checkpoint(conn: &Connection, mode: &str, counters: &Counters) -> Option<(i64, i64, i64)> {
    let result: rusqlite::Result<(i64, i64, i64)> =
        conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)));
    match result {
        Ok((busy, log, done)) => {
            counters.checkpoints.fetch_add(1, Ordering::Relaxed);
            tracing::trace!(mode, busy, log, done, "wal checkpoint");
            Some((busy, log, done))
        }
        Err(e) => {
            tracing::warn!(error = %e, mode, "wal checkpoint failed");
            None
        }
    }
}
