//! [`SqliteStore::open_read_only`]: a store for commands that only read
//! (`meshgate export`). Every connection is opened `SQLITE_OPEN_READ_ONLY`
//! and nothing is created, migrated, chmod-ed or switched to WAL, so the
//! file is byte-for-byte the same afterwards; writes fail.

use std::path::Path;
use std::sync::{Arc, Mutex};

use meshgate_store::{StoreError, StoreResult};
use rusqlite::{Connection, OpenFlags};
use tokio::sync::{broadcast, watch, Semaphore};

use crate::boundary::{check_openable, FileContents};
use crate::counters::Counters;
use crate::error::Db;
use crate::{live, newest_message, Readers, SqliteStore, BUSY_TIMEOUT, SCHEMA_VERSION, STATEMENT_CACHE};

impl SqliteStore {
    /// Opens the meshgate database at `path` for reading only, with
    /// `readers` pooled connections. A missing, empty or foreign file is
    /// refused (naming it), as is a schema other than this build's (an
    /// older one needs one `meshgate serve` to migrate it first).
    pub fn open_read_only(path: &Path, readers: usize) -> StoreResult<SqliteStore> {
        match check_openable(path)? {
            FileContents::Meshgate => {}
            FileContents::Missing => return Err(StoreError::Backend(format!("{}: no such file", path.display()))),
            _ => return Err(StoreError::Backend(format!("{} holds no meshgate data (no tables)", path.display()))),
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let open = || -> StoreResult<Connection> {
            let conn = Connection::open_with_flags(path, flags).db()?;
            conn.busy_timeout(BUSY_TIMEOUT).db()?;
            conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
            Ok(conn)
        };
        let conn = open()?;
        let version: i64 =
            conn.query_row("SELECT coalesce(max(version), 0) FROM schema_migrations", [], |r| r.get(0)).db()?;
        if version != SCHEMA_VERSION {
            return Err(StoreError::Backend(format!(
                "{} has schema version {version}, this build reads {SCHEMA_VERSION}: {}",
                path.display(),
                if version < SCHEMA_VERSION {
                    "run `meshgate serve` on it once to migrate it, then export"
                } else {
                    "export it with the newer meshgate that wrote it"
                }
            )));
        }
        let (max_id, _) = newest_message(&conn)?;
        let n = readers.max(1);
        let mut conns = vec![conn];
        while conns.len() < n {
            conns.push(open()?);
        }
        Ok(SqliteStore {
            readers: Arc::new(Readers { conns: Mutex::new(conns), permits: Arc::new(Semaphore::new(n)) }),
            jobs: None,
            writer: None,
            checkpointer: None,
            counters: Arc::new(Counters::default()),
            max_id: Arc::new(watch::channel(max_id).0),
            credentials: broadcast::channel(live::CREDENTIAL_BACKLOG).0,
            recent: None,
            mark: None,
            names: None,
        })
    }
}
