//! The store's change mark ([`Store::change_mark`](meshgate_store::Store::change_mark)):
//! `PRAGMA data_version` of a connection of its own that never writes.
//!
//! SQLite gives that number per connection and changes it whenever
//! *another* connection committed since its last read: the writer thread,
//! `meshgate import` or `gc` in another process, an `sqlite3` shell. A
//! connection that only ever asks this question therefore sees every
//! commit to the file, whoever made it. Asking costs a read transaction
//! that touches no page but the header (no mapping: `mmap_size` stays 0),
//! a few microseconds under a mutex.
//!
//! # Commits that change no page of messages
//!
//! The gateway writes peers' `last_seen` every few seconds while any peer
//! uses its own token, and no `GET /messages` page shows it: were that
//! commit to move the mark, a peer polling every 5 s would never have a
//! page reused. So the writer runs a batch of only such jobs
//! ([`Job::page_neutral`](crate::writer::Job::page_neutral)) inside
//! [`ChangeMark::begin_neutral`]: with the readers of the mark held off,
//! it notes the version before, commits, notes it after, and if the
//! version moved by exactly one step while no other connection committed
//! (the writer's own `data_version`, which moves only for others' commits,
//! was the same from before its `BEGIN` until after the reading), that step
//! is counted as neutral and the mark given out skips it. Any doubt (a
//! failed reading, another process's commit in the window) leaves the step
//! counted as a change: a page read again, never a stale one.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, RwLock, RwLockWriteGuard};
use std::time::Duration;

use meshgate_store::StoreResult;
use rusqlite::{Connection, OpenFlags};

use crate::error::Db;

/// The connection that watches for commits.
pub(crate) struct ChangeMark {
    conn: Mutex<Connection>,
    /// Held (write) while the writer commits a page-neutral batch: the mark
    /// is not given out meanwhile.
    gate: RwLock<()>,
    /// Steps of `data_version` that were page-neutral commits of the writer.
    neutral: AtomicU64,
}

impl ChangeMark {
    /// Opens the watching connection on the (already migrated) file.
    pub(crate) fn open(path: &Path) -> StoreResult<ChangeMark> {
        // Read-write but `query_only`, as the readers: a read-only handle
        // on a WAL file takes other paths to the shared memory.
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags).db()?;
        conn.pragma_update(None, "query_only", "ON").db()?;
        // Never wait on a lock: a busy file means "no mark" for that read
        // (it is then read, not reused), not a blocked runtime thread.
        conn.busy_timeout(Duration::ZERO).db()?;
        Ok(ChangeMark { conn: Mutex::new(conn), gate: RwLock::new(()), neutral: AtomicU64::new(0) })
    }

    /// The current mark, or `None` when SQLite cannot say at once (or the
    /// writer is committing a page-neutral batch).
    pub(crate) fn now(&self) -> Option<u64> {
        let _gate = self.gate.try_read().ok()?;
        let version = self.version()?;
        Some(version - self.neutral.load(Ordering::Acquire))
    }

    fn version(&self) -> Option<u64> {
        let conn = self.conn.lock().ok()?;
        let mut stmt = conn.prepare_cached("PRAGMA data_version").ok()?;
        let version: i64 = stmt.query_row([], |r| r.get(0)).ok()?;
        u64::try_from(version).ok()
    }

    /// Holds the mark's readers off and notes the version, before the
    /// writer runs a page-neutral batch.
    pub(crate) fn begin_neutral(&self) -> Neutral<'_> {
        let gate = self.gate.write().unwrap_or_else(|p| p.into_inner());
        Neutral { mark: self, _gate: gate, before: self.version() }
    }
}

/// A page-neutral batch in progress (see the module docs).
pub(crate) struct Neutral<'a> {
    mark: &'a ChangeMark,
    _gate: RwLockWriteGuard<'a, ()>,
    before: Option<u64>,
}

impl Neutral<'_> {
    /// After the batch: notes the version, then asks `alone` whether no other
    /// connection committed from before the batch until now; if so, and the
    /// version moved by one step, that step is neutral.
    pub(crate) fn finish(self, alone: impl FnOnce() -> bool) {
        let after = self.mark.version();
        if let (Some(before), Some(after)) = (self.before, after) {
            if after == before + 1 && alone() {
                self.mark.neutral.fetch_add(1, Ordering::Release);
            }
        }
    }
}
