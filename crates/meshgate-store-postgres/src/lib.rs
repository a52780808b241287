//! PostgreSQL backend of the meshgate [`Store`](meshgate_store::Store), for several gateway
//! replicas sharing one database.
//!
//! # Connections
//!
//! A [`deadpool_postgres`] pool of `tokio-postgres` connections serves every
//! operation; a write is one transaction and its future resolves `Ok` only
//! after `COMMIT` returned. Every connection runs with a
//! `statement_timeout` and an `idle_in_transaction_session_timeout`, the
//! pool waits at most [`PgOptions::acquire_timeout`] for a free connection
//! and [`PgOptions::connect_timeout`] for a new one, and every operation as
//! a whole is bounded by [`PgOptions::operation_timeout`]. When the server
//! goes away, operations therefore fail fast with
//! [`StoreError::Unavailable`] (a refused or lost connection maps to it),
//! and the pool replaces dead connections by itself when it comes back:
//! nothing has to be reopened.
//!
//! # Message ids commit in order
//!
//! A plain sequence hands out ids at insert time, so with concurrent
//! writers id 11 can commit (and be read by an `after_id` cursor) before
//! id 10, which the cursor would then skip forever. Instead message inserts
//! take their ids from a one-row counter table, `message_seq`, with
//! `UPDATE message_seq SET last_id = last_id + n ... RETURNING last_id`
//! inside the inserting transaction. The row lock that `UPDATE` takes is
//! held until commit, so message inserts (from every replica) are
//! serialised: the next ids are handed out only after the previous insert
//! committed or rolled back. Hence ids become visible in id order, stay
//! dense (a rolled-back insert gives its ids back), and the same row's
//! `last_at` (`greatest(last_at, clock)`) makes `created_at` non-decreasing
//! with the id even if the database clock steps back. The price is one
//! insert transaction at a time; so that it is not one *message* at a
//! time, each store batches the inserts queued meanwhile into one
//! transaction (group commit, see the `batch` module). Other writes are
//! not affected.
//!
//! # Idempotency across replicas
//!
//! `(from_node, idempotency_key)` is a unique index. An insert first looks
//! the key up; if two replicas (or two messages of one batch) race past
//! that check with the same key, the second one's row is skipped by
//! `INSERT ... ON CONFLICT DO NOTHING` (which runs after the first
//! committed, see above), the batch is redone without it (giving back its
//! id), and it answers with the stored message (or `Conflict` for a
//! different body), exactly as for a sequential repeat.
//!
//! # Wake-ups
//!
//! A message insert runs `pg_notify('meshgate_messages', '<id>')` inside its
//! transaction, so the notification is delivered on commit, to every
//! replica. Each [`PgStore`] keeps one dedicated `LISTEN` connection in a
//! background task that raises its [`watch`] value (the highest committed
//! id); the replica that inserted also raises its own value right after
//! the commit. The task re-reads `max(id)` after every (re)connect, so a
//! notification lost while it was disconnected delays nothing beyond that,
//! and also every [`PgOptions::poll_interval`] as a safety net. It
//! reconnects with exponential backoff (100 ms to 5 s).
//!
//! # Schema
//!
//! Versioned migrations (`migrations/NNNN_*.sql`) are embedded in the
//! binary and applied by [`PgStore::connect`] in one transaction that first
//! takes a transaction-level advisory lock, so replicas starting together
//! migrate one after the other; applied versions are recorded in
//! `schema_migrations`. Timestamps are `TEXT` in the fixed format of
//! [`meshgate_store::now_timestamp`], generated from the database clock by
//! the SQL function `meshgate_now()`; compared and ordered text columns use
//! `COLLATE "C"`, so ordering is bytewise whatever the database locale.

mod batch;
mod error;
mod live;
mod ops;
mod snapshot;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use futures_util::StreamExt;
use meshgate_store::{CredentialEvent, Inserted, MessageQuery, NewMessage, Refusal, StoreError, StoreResult};
use tokio::sync::{broadcast, mpsc, watch};
use tokio::task::JoinHandle;
use tokio_postgres::{AsyncMessage, NoTls};

use crate::error::{map_pg, map_pool, Db};

/// The embedded migrations, in order. Never edit a released one.
const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../migrations/0001_init.sql")),
    (2, include_str!("../migrations/0002_import_export.sql")),
    (3, include_str!("../migrations/0003_content_bytes.sql")),
    (4, include_str!("../migrations/0004_identity.sql")),
    (5, include_str!("../migrations/0005_receipts.sql")),
    (6, include_str!("../migrations/0006_search.sql")),
    (7, include_str!("../migrations/0007_body_text_linear.sql")),
];

pub use snapshot::PgSnapshot;

/// The schema version this build migrates to.
pub const SCHEMA_VERSION: i64 = MIGRATIONS[MIGRATIONS.len() - 1].0;

/// Advisory lock key held (per transaction) while migrating: "meshgate".
const MIGRATION_LOCK: i64 = 0x6d65_7368_6761_7465;

/// Tuning of a [`PgStore`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PgOptions {
    /// Most pooled connections (at least 1); the `LISTEN` connection is
    /// extra.
    pub max_connections: usize,
    /// Longest wait for a new connection to be established.
    pub connect_timeout: Duration,
    /// Longest wait for a pooled connection to become free.
    pub acquire_timeout: Duration,
    /// Server-side `statement_timeout` of every connection (also bounds
    /// waits for the message id lock).
    pub statement_timeout: Duration,
    /// Upper bound of one whole store operation, whatever it waits on.
    pub operation_timeout: Duration,
    /// How often the wake-up task re-reads `max(id)` as a safety net for
    /// lost notifications.
    pub poll_interval: Duration,
}

impl Default for PgOptions {
    fn default() -> Self {
        PgOptions {
            max_connections: 16,
            connect_timeout: Duration::from_secs(2),
            acquire_timeout: Duration::from_secs(2),
            statement_timeout: Duration::from_secs(5),
            operation_timeout: Duration::from_secs(10),
            poll_interval: Duration::from_secs(1),
        }
    }
}

/// A meshgate store in a PostgreSQL database. See the crate docs for the
/// design. Cheap to share behind an `Arc`; dropping it stops its wake-up
/// task and closes its connections.
pub struct PgStore {
    pool: Pool,
    max_id: Arc<watch::Sender<i64>>,
    credentials: broadcast::Sender<CredentialEvent>,
    listener: JoinHandle<()>,
    inserts: mpsc::UnboundedSender<batch::Job>,
    op_timeout: Duration,
    /// Told of each insert batch's commit (set once, by the gateway).
    observer: batch::Observer,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let status = self.pool.status();
        f.debug_struct("PgStore")
            .field("pool_size", &status.size)
            .field("pool_available", &status.available)
            .field("max_id", &*self.max_id.borrow())
            .finish_non_exhaustive()
    }
}

/// Raises `tx` to `id` (never lowers it); wakes subscribers only on a rise.
fn publish(tx: &watch::Sender<i64>, id: i64) {
    tx.send_if_modified(|v| {
        if id > *v {
            *v = id;
            true
        } else {
            false
        }
    });
}

/// Parses `url` and adds the timeouts of `opts` (options given in the URL
/// win over ours).
fn pg_config(url: &str, opts: &PgOptions) -> StoreResult<tokio_postgres::Config> {
    let mut cfg: tokio_postgres::Config =
        url.parse().map_err(|e| StoreError::Backend(format!("invalid PostgreSQL URL: {e}")))?;
    // `client_min_messages=warning`: the server's NOTICEs (e.g. "word is too long to be
    // indexed" for a DM with a 2 KiB word) would otherwise reach tokio-postgres, which logs
    // each one at info: a peer could write a log line per send.
    let ours = format!(
        "-c statement_timeout={} -c idle_in_transaction_session_timeout={} -c client_min_messages=warning",
        opts.statement_timeout.as_millis().max(1),
        (opts.statement_timeout * 2).as_millis().max(1)
    );
    let options = match cfg.get_options() {
        Some(theirs) if !theirs.trim().is_empty() => format!("{ours} {theirs}"),
        _ => ours,
    };
    cfg.options(options);
    cfg.connect_timeout(opts.connect_timeout);
    cfg.keepalives(true);
    cfg.keepalives_idle(Duration::from_secs(30));
    if cfg.get_application_name().is_none() {
        cfg.application_name("meshgate");
    }
    Ok(cfg)
}

/// Applies the embedded migrations not yet recorded, in one transaction,
/// under an advisory lock.
async fn migrate(client: &mut deadpool_postgres::Client) -> StoreResult<i64> {
    let tx = client.transaction().await.db()?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK]).await.db()?;
    // The store boundary: never add meshgate's tables to another
    // application's schema.
    ops::our_schema(&tx).await?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (\
           version BIGINT PRIMARY KEY, applied_at TEXT NOT NULL)",
    )
    .await
    .db()?;
    let current: i64 =
        tx.query_one("SELECT coalesce(max(version), 0)::bigint FROM schema_migrations", &[]).await.db()?.get(0);
    if current > SCHEMA_VERSION {
        return Err(StoreError::Backend(format!(
            "database schema version {current} is newer than this build supports ({SCHEMA_VERSION})"
        )));
    }
    for &(version, sql) in MIGRATIONS {
        let applied = tx.query_opt("SELECT 1 FROM schema_migrations WHERE version = $1", &[&version]).await.db()?;
        if applied.is_some() {
            continue;
        }
        tx.batch_execute(sql).await.db()?;
        tx.execute("INSERT INTO schema_migrations (version, applied_at) VALUES ($1, meshgate_now())", &[&version])
            .await
            .db()?;
        tracing::info!(version, "applied postgres migration");
    }
    tx.commit().await.db()?;
    Ok(SCHEMA_VERSION)
}

impl PgStore {
    /// Connects to the database at `url` (`postgres://user@host:port/db`,
    /// or any form `tokio-postgres` accepts), migrates it and starts the
    /// wake-up task. Fails with `Unavailable` if the server cannot be
    /// reached. Must be called inside a tokio runtime.
    pub async fn connect(url: &str, opts: PgOptions) -> StoreResult<PgStore> {
        let cfg = pg_config(url, &opts)?;
        let manager =
            Manager::from_config(cfg.clone(), NoTls, ManagerConfig { recycling_method: RecyclingMethod::Fast });
        let pool = Pool::builder(manager)
            .max_size(opts.max_connections.max(1))
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(opts.acquire_timeout))
            .create_timeout(Some(opts.connect_timeout))
            .recycle_timeout(Some(opts.connect_timeout))
            .build()
            .map_err(|e| StoreError::Backend(format!("building the postgres pool: {e}")))?;
        let max_id = {
            let mut client = pool.get().await.map_err(map_pool)?;
            migrate(&mut client).await?;
            ops::max_id(&client).await?
        };
        let (tx, _) = watch::channel(max_id);
        let max_tx = Arc::new(tx);
        // The LISTEN connection is told apart in pg_stat_activity by its
        // application_name: `<name>-listen`.
        let mut listen_cfg = cfg;
        let app = listen_cfg.get_application_name().unwrap_or("meshgate").to_owned();
        listen_cfg.application_name(format!("{app}-listen"));
        let poll = opts.poll_interval.max(Duration::from_millis(10));
        let credentials = broadcast::channel(live::CREDENTIAL_BACKLOG).0;
        let listener = tokio::spawn(listen(listen_cfg, Arc::clone(&max_tx), credentials.clone(), poll));
        let (inserts, jobs) = mpsc::unbounded_channel();
        let observer = batch::Observer::default();
        tokio::spawn(batch::run(
            pool.clone(),
            jobs,
            Arc::clone(&max_tx),
            opts.operation_timeout,
            Arc::clone(&observer),
        ));
        Ok(PgStore {
            pool,
            max_id: max_tx,
            credentials,
            listener,
            inserts,
            op_timeout: opts.operation_timeout,
            observer,
        })
    }

    /// Bounds `fut` by the operation timeout.
    async fn guard<T>(&self, fut: impl Future<Output = StoreResult<T>>) -> StoreResult<T> {
        match tokio::time::timeout(self.op_timeout, fut).await {
            Ok(r) => r,
            Err(_) => Err(StoreError::Unavailable(format!("postgres operation timed out after {:?}", self.op_timeout))),
        }
    }

    async fn client(&self) -> StoreResult<deadpool_postgres::Client> {
        self.pool.get().await.map_err(map_pool)
    }
}

/// Runs `$body` (an expression using `$tx`, a fresh transaction) and
/// commits; any error rolls back.
macro_rules! in_tx {
    ($self:ident, |$tx:ident| $body:expr) => {
        $self
            .guard(async {
                let mut client = $self.client().await?;
                let $tx = client.transaction().await.map_err($crate::error::map_pg)?;
                let out = $body.await?;
                $tx.commit().await.map_err($crate::error::map_pg)?;
                Ok(out)
            })
            .await
    };
}

/// Runs `$body` (an expression using `$c`, a pooled client).
macro_rules! with_client {
    ($self:ident, |$c:ident| $body:expr) => {
        $self
            .guard(async {
                let $c = $self.client().await?;
                $body.await
            })
            .await
    };
}

// After the macros it uses.
mod store;

impl Drop for PgStore {
    fn drop(&mut self) {
        self.listener.abort();
        self.pool.close();
    }
}

/// The wake-up task: keeps one `LISTEN` connection, raises `max_id` and
/// forwards credential events.
async fn listen(
    cfg: tokio_postgres::Config,
    max_id: Arc<watch::Sender<i64>>,
    credentials: broadcast::Sender<CredentialEvent>,
    poll: Duration,
) {
    const MIN_BACKOFF: Duration = Duration::from_millis(100);
    const MAX_BACKOFF: Duration = Duration::from_secs(5);
    let mut backoff = MIN_BACKOFF;
    loop {
        let mut connected = false;
        let err = listen_once(&cfg, &max_id, &credentials, poll, &mut connected).await;
        if connected {
            backoff = MIN_BACKOFF;
        }
        tracing::warn!(error = %err, retry_in = ?backoff, "postgres LISTEN connection lost");
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// One `LISTEN` session; returns why it ended.
async fn listen_once(
    cfg: &tokio_postgres::Config,
    max_id: &watch::Sender<i64>,
    credentials: &broadcast::Sender<CredentialEvent>,
    poll: Duration,
    connected: &mut bool,
) -> StoreError {
    let (client, mut conn) = match cfg.connect(NoTls).await {
        Ok(pair) => pair,
        Err(e) => return map_pg(e),
    };
    // (is a credential notice, payload)
    let (note_tx, mut notes) = mpsc::unbounded_channel::<(bool, String)>();
    // Drives the connection and forwards notifications; ends (closing the
    // channel) when the connection does.
    let driver = tokio::spawn(async move {
        let mut stream = futures_util::stream::poll_fn(move |cx| conn.poll_message(cx));
        while let Some(m) = stream.next().await {
            match m {
                Ok(AsyncMessage::Notification(n)) => {
                    let credential = n.channel() == live::CREDENTIALS_CHANNEL;
                    if note_tx.send((credential, n.payload().to_owned())).is_err() {
                        break;
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::debug!(error = %e, "postgres LISTEN connection ended");
                    break;
                }
            }
        }
    });
    struct AbortOnDrop(JoinHandle<()>);
    impl Drop for AbortOnDrop {
        fn drop(&mut self) {
            self.0.abort();
        }
    }
    let _driver = AbortOnDrop(driver);

    if let Err(e) =
        client.batch_execute(&format!("LISTEN {}; LISTEN {}", ops::CHANNEL, live::CREDENTIALS_CHANNEL)).await
    {
        return map_pg(e);
    }
    *connected = true;
    // Notices sent while this connection was down are lost: every live
    // connection re-checks its token.
    let _ = credentials.send(CredentialEvent::Everyone);
    let mut tick = tokio::time::interval(poll);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The first tick fires at once: re-reads max(id) after LISTEN, so
    // nothing committed while we were away is missed.
    loop {
        tokio::select! {
            note = notes.recv() => match note {
                Some((true, peer)) => {
                    let _ = credentials.send(live::event_of(&peer));
                }
                Some((false, id)) => match id.parse::<i64>() {
                    Ok(id) => publish(max_id, id),
                    Err(_) => tracing::warn!("unparseable meshgate_messages payload"),
                },
                None => return StoreError::Unavailable("LISTEN connection closed".into()),
            },
            _ = tick.tick() => {
                match tokio::time::timeout(poll.max(Duration::from_secs(2)), client.query_one(ops::MAX_ID_SQL, &[])).await {
                    Ok(Ok(row)) => publish(max_id, row.get(0)),
                    Ok(Err(e)) => return map_pg(e),
                    Err(_) => return StoreError::Unavailable("max(id) check timed out".into()),
                }
            }
        }
    }
}

impl PgStore {
    /// [`Store::insert_message`](meshgate_store::Store::insert_message); with `peers_only`, the batch stores `msg`
    /// only if both ends are registered peers (see `batch`).
    async fn insert(&self, msg: NewMessage, peers_only: bool) -> StoreResult<Inserted> {
        if msg.from_node == msg.to_node {
            return Err(StoreError::Refused(Refusal::SelfMessage, "a peer cannot DM itself".into()));
        }
        // Read (and stored) only with an idempotency key; an unkeyed send
        // skips hashing its whole content.
        let digest = if msg.idempotency_key.is_some() { msg.digest() } else { String::new() };
        self.guard(async {
            let key = msg.idempotency_key.clone();
            let from = msg.from_node.clone();
            if let Some(key) = &key {
                let client = self.client().await?;
                if let Some(prior) = ops::prior_for_key(&client, &from, key, &digest).await? {
                    return prior;
                }
            }
            // Stored by the batch task (see `batch`), which also publishes
            // the new id.
            let (reply, stored) = tokio::sync::oneshot::channel();
            let job = batch::Job { msg, digest: digest.clone(), reply, peers_only };
            self.inserts.send(job).map_err(|_| StoreError::Unavailable("postgres insert task stopped".into()))?;
            let stored = stored.await.map_err(|_| StoreError::Unavailable("postgres insert task stopped".into()))??;
            match stored {
                Some(message) => Ok(Inserted { message, duplicate: false }),
                // The key was taken first: by another replica, or by an
                // earlier message of the same batch.
                None => {
                    let Some(key) = key.as_deref() else {
                        return Err(StoreError::Backend("a message without idempotency key was not stored".into()));
                    };
                    let client = self.client().await?;
                    ops::prior_for_key(&client, &from, key, &digest).await?.unwrap_or_else(|| {
                        Err(StoreError::Backend("idempotency key conflicted but its message is gone".into()))
                    })
                }
            }
        })
        .await
    }
}

/// The SQL [`Store::list_messages`](meshgate_store::Store::list_messages) runs for `q`, with its parameters'
/// count; exposed so tests can check query plans.
#[doc(hidden)]
pub fn list_messages_sql(q: &MessageQuery) -> (String, usize) {
    let (sql, params) = ops::list_messages_sql(q);
    (sql, params.len())
}
