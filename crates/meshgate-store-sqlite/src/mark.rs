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

use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use meshgate_store::StoreResult;
use rusqlite::{Connection, OpenFlags};

use crate::error::Db;

/// The connection that watches for commits.
pub(crate) struct ChangeMark {
    conn: Mutex<Connection>,
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
        Ok(ChangeMark { conn: Mutex::new(conn) })
    }

    /// The current mark, or `None` when SQLite cannot say at once.
    pub(crate) fn now(&self) -> Option<u64> {
        let conn = self.conn.lock().ok()?;
        let mut stmt = conn.prepare_cached("PRAGMA data_version").ok()?;
        let version: i64 = stmt.query_row([], |r| r.get(0)).ok()?;
        u64::try_from(version).ok()
    }
}
