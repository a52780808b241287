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

use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, SyncSender};
use std::sync::Arc;
use std::time::Duration;

use rusqlite::Connection;

use crate::writer::Counters;

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

fn checkpoint(conn: &Connection, mode: &str, counters: &Counters) {
    let result: rusqlite::Result<(i64, i64, i64)> =
        conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)));
    match result {
        Ok((busy, log, done)) => {
            counters.checkpoints.fetch_add(1, Ordering::Relaxed);
            tracing::trace!(mode, busy, log, done, "wal checkpoint");
        }
        Err(e) => tracing::warn!(error = %e, mode, "wal checkpoint failed"),
    }
}
