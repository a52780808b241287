//! The single writer thread and its group commit.
//!
//! Every write operation is a [`Job`] sent over a channel. The writer takes
//! the first job (blocking), drains up to `max_batch - 1` more that are
//! already queued, and runs them all in one `BEGIN IMMEDIATE ... COMMIT`,
//! each inside its own `SAVEPOINT` so a failing job is rolled back alone;
//! a single-write job (a plain send: one `INSERT`, refused only before it)
//! runs without one ([`FnJob::single_write`]).
//! Results are delivered only after the `COMMIT` returned: an `Ok` reply
//! means the row is on disk (`synchronous=FULL`).
//!
//! The writer also keeps the search index (`messages_fts`) of new DMs: after
//! the last savepoint of a batch, before `COMMIT`, it indexes the rows the
//! batch inserted in one statement ([`index_new_messages`]). FTS5 writes a
//! new index segment at every savepoint release, so indexing per DM (the
//! insert trigger of schema 5) made each DM its own segment. It then reads
//! the heads of those rows (id, sender, recipient) for the wake-up hub
//! ([`crate::recent`]), which no longer reads them from the file.
//!
//! It keeps the store's name resolutions in memory exact ([`crate::names`]):
//! it clears them after a batch with a job that may change a peer or alias,
//! and at the start of a batch when another connection committed since its
//! last one.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::Ordering;
use std::sync::mpsc::Receiver;
use std::sync::Arc;

use meshgate_store::{now_timestamp, MessageHead, StoreError, StoreResult, Timestamp};
use rusqlite::Connection;
use tokio::sync::{oneshot, watch};

use crate::checkpoint::{Nudge, WalBound};
use crate::counters::Counters;
use crate::error::Db;
use crate::mark::ChangeMark;
use crate::names::Names;
use crate::recent::{self, Recent};

/// State the writer keeps between jobs; jobs see it mutably.
pub(crate) struct WriteCtx {
    /// The only connection that writes.
    pub(crate) conn: Connection,
    /// Set by a job that inserted a message (every `INSERT INTO messages`
    /// must set it): before the commit the writer indexes the new rows for
    /// search, after it publishes the new highest id.
    pub(crate) inserted_messages: bool,
    /// The highest message id after the last batch that inserted one (what
    /// the writer publishes).
    newest_id: i64,
    /// `created_at` of the newest message, so timestamps never go backwards
    /// even if the wall clock does (id order == time order).
    last_message_ts: Timestamp,
    /// Tells the checkpoint thread the WAL grew.
    checkpoint: Nudge,
    /// Where the WAL is restarted; `None`: never.
    wal_bound: Option<WalBound>,
    /// How long the last `COMMIT` took (its fsync), for the observer.
    commit_time: std::time::Duration,
    /// The newest id when the last batch began and the heads of the
    /// messages it inserted (`None`: more than [`recent::CAPACITY`]).
    batch_heads: (i64, Option<Vec<MessageHead>>),
    /// Where committed heads go (see [`crate::recent`]).
    recent: Arc<Recent>,
    /// The store's kept name resolutions (see [`crate::names`]).
    names: Arc<Names>,
    /// Set by a job that may have changed a peer or an alias (see
    /// [`WriteCtx::names_changed`]).
    names_changed: bool,
    /// `PRAGMA data_version` when the last batch began (`None`: unknown).
    data_version: Option<i64>,
    /// The store's change mark, kept for page-neutral batches
    /// ([`WriteCtx::with_mark`]).
    mark: Option<Arc<ChangeMark>>,
}

impl WriteCtx {
    pub(crate) fn new(
        conn: Connection,
        newest_id: i64,
        last_message_ts: Option<Timestamp>,
        checkpoint: Nudge,
        wal_bound: Option<WalBound>,
        recent: Arc<Recent>,
        names: Arc<Names>,
    ) -> Self {
        let last_message_ts = last_message_ts.unwrap_or_default();
        // Read before any reader of the store could keep a name, so a
        // commit from elsewhere after this is seen by the first batch.
        let data_version = data_version(&conn).ok();
        WriteCtx {
            conn,
            inserted_messages: false,
            newest_id,
            last_message_ts,
            checkpoint,
            wal_bound,
            commit_time: std::time::Duration::ZERO,
            batch_heads: (newest_id, None),
            recent,
            names,
            names_changed: false,
            data_version,
            mark: None,
        }
    }

    /// Called by every job that writes `peers` or `aliases` in a way that
    /// may change what a name resolves to (or whether a peer is enabled):
    /// the kept resolutions are dropped after this batch's `COMMIT`, before
    /// any of its jobs is answered.
    pub(crate) fn names_changed(&mut self) {
        self.names_changed = true;
    }

    /// Whether `name` is known to be a peer without asking the file: kept
    /// as one in the store's map (see [`crate::names`]) and no job of this
    /// batch changed a name yet. `false` means "ask the file".
    pub(crate) fn known_peer(&self, name: &str) -> bool {
        !self.names_changed && self.names.is_peer(name)
    }

    /// The store's change mark, which a batch of page-neutral jobs keeps
    /// (see [`crate::mark`]).
    pub(crate) fn with_mark(mut self, mark: Arc<ChangeMark>) -> Self {
        self.mark = Some(mark);
        self
    }

    /// A `created_at` for a new message: now, or the previous message's if
    /// the clock stepped back.
    pub(crate) fn next_message_ts(&mut self) -> Timestamp {
        let now = now_timestamp();
        if now > self.last_message_ts {
            self.last_message_ts = now;
        }
        self.last_message_ts.clone()
    }
}

/// One queued write.
pub(crate) trait Job: Send {
    /// Runs inside the job's savepoint (if it has one); returns whether its
    /// writes are kept.
    fn run(&mut self, ctx: &mut WriteCtx) -> bool;
    /// Sends the reply. `batch_err` is set when the batch did not commit.
    fn finish(self: Box<Self>, batch_err: Option<StoreError>);
    /// Whether the job runs at most one writing statement, and refuses
    /// only before it or by its failure (which SQLite undoes itself): such
    /// a job needs no savepoint of its own (see [`FnJob::single_write`]).
    fn single_write(&self) -> bool;
    /// Whether the job changes nothing a `GET /messages` page shows (peers'
    /// `last_seen`): a batch of only such jobs keeps the store's change mark
    /// (see [`crate::mark`]).
    fn page_neutral(&self) -> bool;
}

type JobFn<T> = Box<dyn FnOnce(&mut WriteCtx) -> StoreResult<T> + Send>;

/// A closure plus the oneshot its result goes to.
pub(crate) struct FnJob<T> {
    f: Option<JobFn<T>>,
    result: Option<StoreResult<T>>,
    reply: oneshot::Sender<StoreResult<T>>,
    single_write: bool,
    page_neutral: bool,
}

impl<T: Send + 'static> FnJob<T> {
    pub(crate) fn new(f: JobFn<T>, reply: oneshot::Sender<StoreResult<T>>) -> Self {
        FnJob { f: Some(f), result: None, reply, single_write: false, page_neutral: false }
    }

    /// Marks the job as one that changes nothing a message page shows
    /// ([`Job::page_neutral`]).
    pub(crate) fn page_neutral(mut self) -> Self {
        self.page_neutral = true;
        self
    }

    /// Marks the job as one that writes with at most one statement and
    /// refuses only before it (a plain send: one `INSERT`). It then runs
    /// without the `SAVEPOINT`/`RELEASE` pair, which with the page copies
    /// an open savepoint makes SQLite keep cost ~7,300 instructions per
    /// send. The writer checks the promise: a refused single-write job that
    /// changed rows fails its whole batch instead of committing them.
    pub(crate) fn single_write(mut self) -> Self {
        self.single_write = true;
        self
    }
}

impl<T: Send + 'static> Job for FnJob<T> {
    fn run(&mut self, ctx: &mut WriteCtx) -> bool {
        let Some(f) = self.f.take() else {
            return false;
        };
        let r = f(ctx);
        let ok = r.is_ok();
        self.result = Some(r);
        ok
    }

    fn finish(self: Box<Self>, batch_err: Option<StoreError>) {
        let out = match (batch_err, self.result) {
            // The job's own failure is the most precise answer.
            (_, Some(Err(own))) => Err(own),
            (None, Some(Ok(v))) => Ok(v),
            (Some(e), _) => Err(e),
            (None, None) => Err(StoreError::Backend("write job was not run".into())),
        };
        // The caller may have gone away (request cancelled): nothing to do.
        let _ = self.reply.send(out);
    }

    fn single_write(&self) -> bool {
        self.single_write
    }

    fn page_neutral(&self) -> bool {
        self.page_neutral
    }
}

/// The writer thread's main loop; returns when every sender is gone.
pub(crate) fn run(
    mut ctx: WriteCtx,
    rx: Receiver<Box<dyn Job>>,
    max_batch: usize,
    counters: Arc<Counters>,
    max_id: Arc<watch::Sender<i64>>,
) {
    let max_batch = max_batch.max(1);
    while let Ok(first) = rx.recv() {
        let mut batch = Vec::with_capacity(16);
        batch.push(first);
        while batch.len() < max_batch {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        run_batch(&mut ctx, batch, &counters, &max_id);
    }
    tracing::debug!("sqlite writer stopping: store dropped");
}

fn run_batch(ctx: &mut WriteCtx, mut batch: Vec<Box<dyn Job>>, counters: &Counters, max_id: &watch::Sender<i64>) {
    counters.jobs.fetch_add(batch.len() as u64, Ordering::Relaxed);
    ctx.inserted_messages = false;
    let neutral_batch = ctx.mark.is_some() && batch.iter().all(|job| job.page_neutral());
    let mark = if neutral_batch { ctx.mark.clone() } else { None };
    let neutral = mark.as_deref().map(ChangeMark::begin_neutral);
    let before = ctx.data_version;
    let batch_err = execute(ctx, &mut batch).err();
    if let Some(neutral) = neutral {
        // No other connection committed from before this batch's `BEGIN`
        // (the version it found is the previous batch's) until now.
        let alone = || {
            batch_err.is_none()
                && before.is_some()
                && ctx.data_version == before
                && data_version(&ctx.conn).ok() == before
        };
        neutral.finish(alone);
    }
    match &batch_err {
        None => {
            counters.commits.fetch_add(1, Ordering::Relaxed);
            if let Some(observer) = counters.observer.get() {
                observer.committed(batch.len(), ctx.commit_time);
            }
            ctx.checkpoint.nudge();
            if ctx.inserted_messages {
                // The heads first: the hub reads them once it sees the new id.
                let (before, heads) = std::mem::take(&mut ctx.batch_heads);
                ctx.recent.committed(before, heads, ctx.newest_id);
                publish_max_id(ctx.newest_id, max_id);
            }
        }
        Some(e) => {
            counters.failed_batches.fetch_add(1, Ordering::Relaxed);
            tracing::error!(error = %e, jobs = batch.len(), "sqlite write batch failed");
            if !ctx.conn.is_autocommit() {
                if let Err(e) = ctx.conn.execute_batch("ROLLBACK") {
                    tracing::error!(error = %e, "sqlite rollback failed");
                }
            }
        }
    }
    ctx.inserted_messages = false;
    if std::mem::take(&mut ctx.names_changed) {
        // Before the answers: whoever hears of the change resolves anew.
        ctx.names.clear();
    }
    for job in batch {
        job.finish(batch_err.clone());
    }
    // After the answers: the restart's wait falls on the next batch only.
    if let (None, Some(bound)) = (&batch_err, &ctx.wal_bound) {
        bound.restart_if_over(&ctx.conn, counters);
    }
}

/// Runs the batch in one transaction; `Err` means nothing was committed.
fn execute(ctx: &mut WriteCtx, batch: &mut [Box<dyn Job>]) -> StoreResult<()> {
    run_cached(&ctx.conn, "BEGIN IMMEDIATE")?;
    // Under the write lock: moves only when another connection (another
    // process) committed since this connection's last transaction.
    let version = data_version(&ctx.conn)?;
    if ctx.data_version != Some(version) {
        ctx.names.clear();
        ctx.data_version = Some(version);
    }
    // Read inside the write lock: every committed DM up to here is indexed
    // (also those another process, e.g. `meshgate import`, wrote), and ids
    // are `AUTOINCREMENT` (never reused), so the batch's rows are above it.
    let indexed = newest_message_id(&ctx.conn)?;
    for job in batch.iter_mut() {
        let savepoint = !job.single_write();
        if savepoint {
            run_cached(&ctx.conn, "SAVEPOINT job")?;
        }
        let changes = ctx.conn.total_changes();
        // A panicking job (a bug) is refused alone instead of killing the
        // writer thread and with it every later write.
        let keep = std::panic::catch_unwind(AssertUnwindSafe(|| job.run(ctx))).unwrap_or_else(|_| {
            tracing::error!("sqlite write job panicked; rolled back");
            false
        });
        if ctx.conn.is_autocommit() {
            // SQLite rolled the whole transaction back (e.g. disk full):
            // the jobs before this one are lost too.
            return Err(StoreError::Unavailable("sqlite aborted the write transaction".into()));
        }
        match (savepoint, keep) {
            (true, true) => run_cached(&ctx.conn, "RELEASE job")?,
            (true, false) => ctx.conn.execute_batch("ROLLBACK TO job; RELEASE job").db()?,
            (false, true) => {}
            // SQLite undid the failed statement itself; a refused job that
            // changed rows anyway (a bug) cannot be undone alone.
            (false, false) if ctx.conn.total_changes() == changes => {}
            (false, false) => {
                tracing::error!("sqlite single-write job failed after writing; batch rolled back");
                return Err(StoreError::Backend("a refused write job left changes behind".into()));
            }
        }
    }
    let newest = match ctx.inserted_messages {
        true => {
            index_new_messages(&ctx.conn, indexed)?;
            let heads = crate::live::message_heads(&ctx.conn, indexed, recent::CAPACITY as u32 + 1)?;
            let newest = match heads.last() {
                Some(last) if heads.len() <= recent::CAPACITY => last.id,
                // Too many to keep (a large import): ask the file.
                Some(_) => newest_message_id(&ctx.conn)?,
                // Every row the batch inserted is gone again.
                None => indexed,
            };
            ctx.batch_heads = (indexed, (heads.len() <= recent::CAPACITY).then_some(heads));
            newest
        }
        false => indexed,
    };
    let started = std::time::Instant::now();
    run_cached(&ctx.conn, "COMMIT")?;
    ctx.commit_time = started.elapsed();
    ctx.newest_id = newest;
    Ok(())
}

/// Runs one statement from the connection's cache: `execute_batch` would
/// parse it again each time (the batch's `BEGIN`, `COMMIT` and two
/// savepoint statements per job were ~10,000 instructions per send).
fn run_cached(conn: &Connection, sql: &str) -> StoreResult<()> {
    conn.prepare_cached(sql).and_then(|mut s| s.execute([])).db().map(drop)
}

/// `PRAGMA data_version`: changes between two reads on one connection
/// only if another connection committed in between.
fn data_version(conn: &Connection) -> StoreResult<i64> {
    conn.prepare_cached("PRAGMA data_version").and_then(|mut s| s.query_row([], |r| r.get(0))).db()
}

fn newest_message_id(conn: &Connection) -> StoreResult<i64> {
    conn.prepare_cached("SELECT coalesce(max(id), 0) FROM messages")
        .and_then(|mut s| s.query_row([], |r| r.get(0)))
        .db()
}

/// Indexes for search every message above id `after` (those the batch
/// inserted and kept: a rolled-back job's rows are gone), exactly as the
/// insert trigger of `0005_search.sql` did. Runs outside every savepoint, so FTS5 writes one segment per batch.
fn index_new_messages(conn: &Connection, after: i64) -> StoreResult<()> {
    conn.prepare_cached(
        "INSERT INTO messages_fts (rowid, body, parties) \
         SELECT id, content, 'f' || hex(from_node) || ' t' || hex(to_node) FROM messages WHERE id > ?1",
    )
    .and_then(|mut s| s.execute([after]))
    .db()?;
    Ok(())
}

fn publish_max_id(id: i64, max_id: &watch::Sender<i64>) {
    max_id.send_if_modified(|cur| {
        if id > *cur {
            *cur = id;
            true
        } else {
            false
        }
    });
}

#[cfg(test)]
mod tests;
