//! SQLite backend of the meshgate [`Store`](meshgate_store::Store).
//!
//! # Durability
//!
//! The database runs in `journal_mode=WAL` with `synchronous=FULL`: every
//! `COMMIT` fsyncs the write-ahead log before it returns, and a write's
//! future resolves `Ok` only after its `COMMIT` returned. An acknowledged
//! write therefore survives `kill -9` and power loss (given a disk that
//! honours fsync). `synchronous=NORMAL` would be faster but may lose the
//! last commits on power loss, which the gateway's "200 means stored"
//! contract does not allow. `foreign_keys=ON` and a `busy_timeout` are set
//! on every connection.
//!
//! # Group commit
//!
//! One dedicated OS thread owns the only writing connection. Every write
//! is sent to it as a job; the thread takes the first queued job, drains up
//! to [`SqliteOptions::max_batch`] more, and runs them in a single
//! `BEGIN IMMEDIATE ... COMMIT`, each inside its own `SAVEPOINT` (a failing
//! job, e.g. an idempotency conflict, is rolled back alone; a plain send
//! needs none, see the `writer` module). Concurrent
//! writers thus share one fsync, and "database is locked" cannot happen
//! between the gateway's own writes. Replies are sent after the `COMMIT`;
//! if it fails, every job of the batch gets the error.
//!
//! # Checkpoints
//!
//! A third thread moves committed pages from the WAL into the database
//! file (`PRAGMA wal_checkpoint(PASSIVE)`), so no commit waits for that
//! copy and its fsync. Under sustained writes passive checkpoints never let
//! the log start over, so the writer restarts it between batches once the
//! WAL file passes [`SqliteOptions::wal_limit`]; see the `checkpoint`
//! module.
//!
//! # Files
//!
//! The database and its `-wal`/`-shm` files hold every message: they are
//! created with mode 0600, and existing ones lose group and other
//! permissions when the store opens.
//!
//! # Reads
//!
//! A small pool of `query_only` connections serves reads; WAL lets them
//! read while the writer commits. Point lookups (a peer, a token, a name,
//! one message) and message pages of up to 100 rows run on the calling
//! task's thread, blocking it for their tens of microseconds: less than
//! the two thread wake-ups of a hop to tokio's blocking pool. Every other
//! read (peer and alias lists, threads, exports, larger pages) runs on the
//! blocking pool (`spawn_blocking`).
//!
//! One more connection only watches for commits, whoever makes them (the
//! `mark` module): [`Store::change_mark`](meshgate_store::Store::change_mark).
//! Name resolutions (`resolve_name`, twice per send) are answered from an
//! in-process map the writer keeps exact; see the `names` module.
//!
//! # Schema
//!
//! Versioned migrations (`migrations/NNNN_*.sql`) are embedded in the
//! binary and applied in order, in one transaction, when the store opens;
//! applied versions are recorded in `schema_migrations`.

mod boundary;
mod checkpoint;
mod counters;
mod error;
mod files;
mod live;
mod mark;
mod names;
mod ops;
mod read_only;
mod recent;
mod store;
mod writer;

use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use meshgate_proto::{Message, MessageRef};
use meshgate_store::{
    now_timestamp, CredentialEvent, Inserted, MessageQuery, NewMessage, RowSink, StoreError, StoreResult, Timestamp,
};
use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior};
use tokio::sync::{broadcast, oneshot, watch, Semaphore};

pub use crate::boundary::{inspect, FileContents};
use crate::counters::Counters;
use crate::error::Db;
use crate::writer::{FnJob, Job, WriteCtx};

/// The embedded migrations, in order. Never edit a released one.
const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../migrations/0001_init.sql")),
    (2, include_str!("../migrations/0002_import_export.sql")),
    (3, include_str!("../migrations/0003_identity.sql")),
    (4, include_str!("../migrations/0004_receipts.sql")),
    (5, include_str!("../migrations/0005_search.sql")),
    (6, include_str!("../migrations/0006_fts_batch.sql")),
];

/// Most name resolutions a store keeps in memory (see the `names` module).
#[doc(hidden)]
pub const MAX_NAMES_KEPT: usize = names::MAX_ENTRIES;

/// The schema version this build migrates to.
pub const SCHEMA_VERSION: i64 = MIGRATIONS[MIGRATIONS.len() - 1].0;

/// How long a connection waits on a lock held by another process (e.g. an
/// operator's `sqlite3` shell) before reporting `Unavailable`.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Statements cached per connection (the message list has a few dozen
/// filter combinations).
const STATEMENT_CACHE: usize = 128;

/// Tuning of a [`SqliteStore`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SqliteOptions {
    /// Read-only connections in the pool (at least 1).
    pub readers: usize,
    /// Most write jobs committed in one transaction (at least 1).
    pub max_batch: usize,
    /// Bytes of WAL above which the log is restarted and its file cut back
    /// to this size (see the `checkpoint` module); `None` lets the WAL
    /// grow while writes continue (SQLite's own behaviour).
    pub wal_limit: Option<u64>,
}

/// Default [`SqliteOptions::wal_limit`]: 64 MiB.
pub const DEFAULT_WAL_LIMIT: u64 = 64 << 20;

impl Default for SqliteOptions {
    fn default() -> Self {
        SqliteOptions { readers: 4, max_batch: 512, wal_limit: Some(DEFAULT_WAL_LIMIT) }
    }
}

/// Counters of the writer thread, for tests and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SqliteStats {
    /// Transactions committed (each is one fsync of the WAL).
    pub commits: u64,
    /// Write jobs taken by the writer (committed, refused or failed).
    pub jobs: u64,
    /// Batches whose transaction could not be committed.
    pub failed_batches: u64,
    /// WAL checkpoints run (passive ones by the checkpoint thread, restarts
    /// by the writer).
    pub checkpoints: u64,
    /// Times the writer restarted a WAL that passed
    /// [`SqliteOptions::wal_limit`].
    pub wal_restarts: u64,
}

/// The pool of read-only connections.
struct Readers {
    conns: Mutex<Vec<Connection>>,
    permits: Arc<Semaphore>,
}

/// Puts a pooled connection back when the read is over, even on panic.
struct Lease<'a> {
    pool: &'a Readers,
    conn: Option<Connection>,
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            self.pool.conns.lock().unwrap_or_else(|p| p.into_inner()).push(conn);
        }
    }
}

/// A meshgate store in one SQLite file. See the crate docs for the design.
///
/// Dropping it stops the writer thread after the queued writes are done.
pub struct SqliteStore {
    readers: Arc<Readers>,
    jobs: Option<mpsc::Sender<Box<dyn Job>>>,
    writer: Option<JoinHandle<()>>,
    checkpointer: Option<JoinHandle<()>>,
    counters: Arc<Counters>,
    max_id: Arc<watch::Sender<i64>>,
    credentials: broadcast::Sender<CredentialEvent>,
    /// Heads of what the writer committed last (`None`: a read-only store).
    recent: Option<Arc<recent::Recent>>,
    /// The change mark (`None`: a read-only store).
    mark: Option<Arc<mark::ChangeMark>>,
    /// Name resolutions kept in memory (`None`: a read-only store, which
    /// has no writer to keep them exact).
    names: Option<Arc<names::Names>>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").field("stats", &self.stats()).finish_non_exhaustive()
    }
}

/// Message pages up to this many rows are read on the calling thread
/// (see [`SqliteStore::read_now`]); larger ones on the blocking pool.
const INLINE_LIST_LIMIT: u32 = 100;

/// Rows of a large page read ahead of its sink (each at most one message,
/// ~800 KB at worst).
const ROWS_IN_FLIGHT: usize = 8;

/// How much of the database file readers map into memory.
const MMAP_SIZE: i64 = 1 << 30;

fn configure(conn: &Connection, writer: bool) -> StoreResult<()> {
    conn.busy_timeout(BUSY_TIMEOUT).db()?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    if writer {
        let mode: String = conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0)).db()?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Backend(format!("sqlite refused WAL mode (journal_mode={mode})")));
        }
        // Plans that do not depend on bound values: otherwise SQLite marks a
        // statement with `LIMIT ?` (or a bound `LIKE` pattern) to be parsed
        // and planned again every time a value is bound, which defeats the
        // statement cache (the stat4 tables these plans would use are empty).
        conn.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true).db()?;
    }
    conn.pragma_update(None, "synchronous", "FULL").db()?;
    conn.pragma_update(None, "foreign_keys", "ON").db()?;
    if !writer {
        conn.pragma_update(None, "query_only", "ON").db()?;
        // Readers map the file: page reads skip a syscall and a copy each
        // (inbox reads went from ~0.3 to ~0.15 ms of CPU on 200k rows). The
        // mapped pages are the OS page cache, shown as file-backed RSS.
        conn.pragma_update(None, "mmap_size", MMAP_SIZE).db()?;
    }
    Ok(())
}

/// Applies the embedded migrations not yet recorded, in one transaction.
fn migrate(conn: &mut Connection) -> StoreResult<i64> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).db()?;
    tx.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (\
           version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)",
    )
    .db()?;
    let current: i64 =
        tx.query_row("SELECT coalesce(max(version), 0) FROM schema_migrations", [], |r| r.get(0)).db()?;
    if current > SCHEMA_VERSION {
        return Err(StoreError::Backend(format!(
            "database schema version {current} is newer than this build supports \
             ({SCHEMA_VERSION})"
        )));
    }
    for &(version, sql) in MIGRATIONS {
        let applied = tx
            .query_row("SELECT 1 FROM schema_migrations WHERE version = ?1", [version], |_| Ok(()))
            .optional()
            .db()?
            .is_some();
        if applied {
            continue;
        }
        tx.execute_batch(sql).db()?;
        tx.execute(
            "INSERT INTO schema_migrations (version, applied_at) VALUES (?1, ?2)",
            rusqlite::params![version, now_timestamp()],
        )
        .db()?;
        tracing::info!(version, "applied sqlite migration");
    }
    tx.commit().db()?;
    Ok(SCHEMA_VERSION)
}

/// The newest message id (0 when none) and its `created_at`.
fn newest_message(conn: &Connection) -> StoreResult<(i64, Option<Timestamp>)> {
    conn.query_row(
        "SELECT coalesce((SELECT max(id) FROM messages), 0), \
                (SELECT created_at FROM messages ORDER BY id DESC LIMIT 1)",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .db()
}

impl SqliteStore {
    /// Opens (creating the file if needed) and migrates the database at
    /// `path`, then starts the writer thread. The parent directory must
    /// exist. The file and its `-wal`/`-shm` companions are made
    /// owner-only (0600, see the `files` module). Blocks briefly: call it at
    /// startup.
    ///
    /// A file that holds another application's tables (or a swarph mesh
    /// database) is refused before anything in it changes (see [`inspect`]).
    pub fn open(path: &Path, opts: SqliteOptions) -> StoreResult<SqliteStore> {
        boundary::check_openable(path)?;
        files::make_private(path)?;
        let rw = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let mut conn = Connection::open_with_flags(path, rw).db()?;
        configure(&conn, true)?;
        migrate(&mut conn)?;
        let (max_id, last_ts) = newest_message(&conn)?;

        let n_readers = opts.readers.max(1);
        let mut conns = Vec::with_capacity(n_readers);
        for _ in 0..n_readers {
            let ro = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
            let c = Connection::open_with_flags(path, ro).db()?;
            configure(&c, false)?;
            conns.push(c);
        }
        let readers = Arc::new(Readers { conns: Mutex::new(conns), permits: Arc::new(Semaphore::new(n_readers)) });

        let counters = Arc::new(Counters::default());
        let (max_tx, _) = watch::channel(max_id);
        let max_tx = Arc::new(max_tx);
        let (jobs_tx, jobs_rx) = mpsc::channel::<Box<dyn Job>>();
        // Checkpoints run on their own thread (see `checkpoint`).
        conn.pragma_update(None, "wal_autocheckpoint", 0).db()?;
        let wal_bound = opts.wal_limit.map(|bytes| checkpoint::WalBound {
            bytes,
            path: files::companions(path)[1].clone(),
            busy_timeout: BUSY_TIMEOUT,
        });
        if let Some(bound) = &wal_bound {
            // After a restart the writer's next commit cuts the file back.
            conn.pragma_update(None, "journal_size_limit", i64::try_from(bound.bytes).unwrap_or(i64::MAX)).db()?;
        }
        let checkpoint_conn = Connection::open_with_flags(path, rw).db()?;
        configure(&checkpoint_conn, true)?;
        let (nudge, nudges) = checkpoint::channel();
        let checkpointer = std::thread::Builder::new()
            .name("meshgate-sqlite-checkpoint".into())
            .spawn({
                let counters = Arc::clone(&counters);
                move || checkpoint::run(checkpoint_conn, nudges, counters)
            })
            .map_err(|e| StoreError::Backend(format!("starting the checkpoint thread: {e}")))?;
        let recent = Arc::new(recent::Recent::new(max_id));
        let mark = Arc::new(mark::ChangeMark::open(path)?);
        let names = Arc::new(names::Names::default());
        let ctx = WriteCtx::new(conn, max_id, last_ts, nudge, wal_bound, Arc::clone(&recent), Arc::clone(&names))
            .with_mark(Arc::clone(&mark));
        let writer = {
            let counters = Arc::clone(&counters);
            let max_tx = Arc::clone(&max_tx);
            let max_batch = opts.max_batch.max(1);
            std::thread::Builder::new()
                .name("meshgate-sqlite-writer".into())
                .spawn(move || writer::run(ctx, jobs_rx, max_batch, counters, max_tx))
                .map_err(|e| StoreError::Backend(format!("starting the writer thread: {e}")))?
        };
        Ok(SqliteStore {
            readers,
            jobs: Some(jobs_tx),
            writer: Some(writer),
            checkpointer: Some(checkpointer),
            counters,
            max_id: max_tx,
            credentials: broadcast::channel(live::CREDENTIAL_BACKLOG).0,
            recent: Some(recent),
            mark: Some(mark),
            names: Some(names),
        })
    }

    /// Writer counters: commits, jobs, failed batches.
    pub fn stats(&self) -> SqliteStats {
        SqliteStats {
            commits: self.counters.commits.load(Ordering::Relaxed),
            jobs: self.counters.jobs.load(Ordering::Relaxed),
            failed_batches: self.counters.failed_batches.load(Ordering::Relaxed),
            checkpoints: self.counters.checkpoints.load(Ordering::Relaxed),
            wal_restarts: self.counters.wal_restarts.load(Ordering::Relaxed),
        }
    }

    /// How many name resolutions the store keeps in memory now (see the
    /// `names` module; 0 for a read-only store). For tests of its bound.
    #[doc(hidden)]
    pub fn names_kept(&self) -> usize {
        self.names.as_ref().map_or(0, |n| n.len())
    }

    /// Runs `f` on a pooled read-only connection, off the async runtime.
    async fn read<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
        let permit = Arc::clone(&self.readers.permits)
            .acquire_owned()
            .await
            .map_err(|_| StoreError::Unavailable("sqlite reader pool closed".into()))?;
        let readers = Arc::clone(&self.readers);
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let conn = readers.conns.lock().unwrap_or_else(|p| p.into_inner()).pop();
            let lease = Lease { pool: &readers, conn };
            match &lease.conn {
                Some(conn) => f(conn),
                None => Err(StoreError::Backend("sqlite reader pool empty".into())),
            }
        })
        .await
        .map_err(|e| StoreError::Backend(format!("sqlite read task failed: {e}")))?
    }

    /// Runs a small read (a point lookup, one bounded page of messages) on
    /// the calling task's thread. The hop to the blocking pool and back
    /// costs two thread wake-ups, more than such a read itself (~20% of an
    /// inbox read's CPU); with the file mapped and WAL readers never
    /// waiting on the writer, these reads take tens of microseconds, within
    /// what a task may run between two awaits. Anything unbounded goes
    /// through [`SqliteStore::read`].
    async fn read_now<T, F>(&self, f: F) -> StoreResult<T>
    where
        F: FnOnce(&Connection) -> StoreResult<T>,
    {
        let _permit = self
            .readers
            .permits
            .acquire()
            .await
            .map_err(|_| StoreError::Unavailable("sqlite reader pool closed".into()))?;
        let conn = self.readers.conns.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let lease = Lease { pool: &self.readers, conn };
        match &lease.conn {
            Some(conn) => f(conn),
            None => Err(StoreError::Backend("sqlite reader pool empty".into())),
        }
    }

    /// Hands the rows of `q` to `sink`: read on the calling thread for a
    /// page of up to [`INLINE_LIST_LIMIT`] rows, each borrowed from
    /// SQLite's buffers; a larger page is read on the blocking pool and its
    /// rows copied to the caller through a channel of [`ROWS_IN_FLIGHT`]
    /// (the reader stops when `sink` refuses a row).
    async fn read_page(&self, q: &MessageQuery, sink: &mut dyn RowSink) -> StoreResult<()> {
        if (1..=INLINE_LIST_LIMIT).contains(&q.limit) {
            return self.read_now(|c| ops::visit_messages(c, q, sink)).await;
        }
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Message>(ROWS_IN_FLIGHT);
        let q = q.clone();
        let read = self.read(move |c| {
            let mut send = |m: MessageRef<'_>| tx.blocking_send(Message::from(m)).is_ok();
            ops::visit_messages(c, &q, &mut send)
        });
        let take = async move {
            while let Some(m) = rx.recv().await {
                if !sink.row(MessageRef::from(&m)) {
                    break;
                }
            }
        };
        let (read, ()) = tokio::join!(read, take);
        read
    }

    /// Queues `f` for the writer thread and waits until its batch committed.
    async fn write<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut WriteCtx) -> StoreResult<T> + Send + 'static,
    {
        self.queue(f)?.await.map_err(|_| StoreError::Unavailable("sqlite writer stopped".into()))?
    }

    /// Queues `f` for the writer thread; the receiver gets its answer after
    /// the commit.
    fn queue<T, F>(&self, f: F) -> StoreResult<oneshot::Receiver<StoreResult<T>>>
    where
        T: Send + 'static,
        F: FnOnce(&mut WriteCtx) -> StoreResult<T> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        self.queue_job(Box::new(FnJob::new(Box::new(f), tx)))?;
        Ok(rx)
    }

    /// [`SqliteStore::write`] for a job that changes nothing a message page
    /// shows: a batch of only such jobs keeps the change mark (see `mark`).
    async fn write_page_neutral<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut WriteCtx) -> StoreResult<T> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        self.queue_job(Box::new(FnJob::new(Box::new(f), tx).page_neutral()))?;
        rx.await.map_err(|_| StoreError::Unavailable("sqlite writer stopped".into()))?
    }

    fn queue_job(&self, job: Box<dyn Job>) -> StoreResult<()> {
        let sender = self.jobs.as_ref().ok_or_else(|| StoreError::Unavailable("sqlite writer stopped".into()))?;
        sender.send(job).map_err(|_| StoreError::Unavailable("sqlite writer stopped".into()))
    }

    /// Stores `msg` (see `ops::insert_message`). A send without a thread
    /// or a reply writes one row with one statement and refuses only before
    /// it: it runs as a single-write job, without a savepoint of its own
    /// ([`FnJob::single_write`]).
    async fn insert(&self, msg: NewMessage, peers_only: bool) -> StoreResult<Inserted> {
        let single = msg.thread_id.is_none() && msg.in_reply_to.is_none();
        let (tx, rx) = oneshot::channel();
        let job = FnJob::new(Box::new(move |ctx: &mut WriteCtx| ops::insert_message(ctx, msg, peers_only)), tx);
        self.queue_job(Box::new(if single { job.single_write() } else { job }))?;
        rx.await.map_err(|_| StoreError::Unavailable("sqlite writer stopped".into()))?
    }

    /// [`SqliteStore::write`] for a change of credentials: once it
    /// committed, `event` goes to [`Store::subscribe_credentials`](meshgate_store::Store::subscribe_credentials).
    async fn write_credentials<T, F>(&self, event: Option<CredentialEvent>, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut WriteCtx) -> StoreResult<T> + Send + 'static,
    {
        live::publish_after_commit(self.queue(f)?, self.credentials.clone(), event)
            .await
            .unwrap_or_else(|| Err(StoreError::Unavailable("sqlite writer stopped".into())))
    }
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        // Closing the channel lets the writer finish the queued jobs and
        // exit; joining makes a reopen right after a drop see a closed file.
        self.jobs.take();
        if let Some(handle) = self.writer.take() {
            if handle.join().is_err() {
                tracing::error!("sqlite writer thread panicked");
            }
        }
        // The writer's exit ends the checkpointer, after a last checkpoint.
        if let Some(handle) = self.checkpointer.take() {
            if handle.join().is_err() {
                tracing::error!("sqlite checkpoint thread panicked");
            }
        }
    }
}

/// The SQL [`Store::list_messages`](meshgate_store::Store::list_messages) runs for `q`, with its parameters'
/// count; exposed so tests can check query plans.
#[doc(hidden)]
pub fn list_messages_sql(q: &MessageQuery) -> (String, usize) {
    let (sql, params) = ops::list_messages_sql(q);
    (sql, params.len())
}
