//! [`PgSnapshot`]: the whole store as of one instant, for `meshgate
//! export`. One connection holds one `REPEATABLE READ READ ONLY`
//! transaction for all the reads, so the export is a consistent snapshot
//! (no message without its thread or peer, none half-way through an
//! import) and cannot write: not even a migration, which the gateway's
//! own connect would apply.

use deadpool_postgres::{GenericClient, Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use meshgate_proto::{Alias, Peer, Thread};
use meshgate_store::{MessageRecord, StoreError, StoreResult, TokenRecord};
use tokio_postgres::NoTls;

use crate::error::{map_pool, Db};
use crate::{ops, pg_config, PgOptions, SCHEMA_VERSION};

/// A read-only snapshot of a PostgreSQL store (see the module docs).
/// Dropping it ends the transaction with its connection.
pub struct PgSnapshot {
    client: deadpool_postgres::Client,
    _pool: Pool,
}

impl std::fmt::Debug for PgSnapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgSnapshot").finish_non_exhaustive()
    }
}

impl PgSnapshot {
    /// Opens the snapshot of the store at `url`. Refuses a schema that is
    /// not meshgate's, and one of another version than this build's
    /// (migrating is a write: `meshgate serve` does it).
    pub async fn open(url: &str, opts: PgOptions) -> StoreResult<PgSnapshot> {
        let cfg = pg_config(url, &opts)?;
        let manager = Manager::from_config(cfg, NoTls, ManagerConfig { recycling_method: RecyclingMethod::Fast });
        let pool = Pool::builder(manager)
            .max_size(1)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(opts.acquire_timeout))
            .create_timeout(Some(opts.connect_timeout))
            .build()
            .map_err(|e| StoreError::Backend(format!("building the postgres connection: {e}")))?;
        let client = pool.get().await.map_err(map_pool)?;
        // The export's pace is its reader's: no idle-in-transaction limit.
        client
            .batch_execute(
                "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET LOCAL idle_in_transaction_session_timeout = 0",
            )
            .await
            .db()?;
        let (tables, schema) = ops::our_schema(&client).await?;
        if tables.is_empty() {
            return Err(StoreError::Backend(format!("PostgreSQL schema {schema} holds no meshgate data (no tables)")));
        }
        let snapshot = PgSnapshot { client, _pool: pool };
        let version = snapshot.schema_version().await?;
        if version != SCHEMA_VERSION {
            return Err(StoreError::Backend(format!(
                "PostgreSQL schema {schema} is at version {version}, this build exports version {SCHEMA_VERSION}: \
                 run this build's `meshgate serve` on it once to migrate (an export never writes)"
            )));
        }
        Ok(snapshot)
    }

    /// See [`meshgate_store::Store::store_id`].
    pub async fn store_id(&self) -> StoreResult<String> {
        ops::store_id(&self.client).await
    }

    /// See [`meshgate_store::Store::schema_version`].
    pub async fn schema_version(&self) -> StoreResult<i64> {
        ops::schema_version(&self.client).await
    }

    /// The highest message id in the snapshot.
    pub async fn max_id(&self) -> StoreResult<i64> {
        ops::max_id(&self.client).await
    }

    /// See [`meshgate_store::Store::list_peers`].
    pub async fn list_peers(&self) -> StoreResult<Vec<Peer>> {
        ops::list_peers(&self.client).await
    }

    /// See [`meshgate_store::Store::export_tokens`].
    pub async fn export_tokens(&self) -> StoreResult<Vec<TokenRecord>> {
        ops::export_tokens(&self.client).await
    }

    /// See [`meshgate_store::Store::aliases`].
    pub async fn aliases(&self) -> StoreResult<Vec<Alias>> {
        ops::aliases(&self.client).await
    }

    /// See [`meshgate_store::Store::export_threads`].
    pub async fn export_threads(&self, after: Option<&str>, limit: u32) -> StoreResult<Vec<Thread>> {
        ops::export_threads(&self.client, after, limit).await
    }

    /// See [`meshgate_store::Store::export_messages`].
    pub async fn export_messages(&self, after_id: i64, limit: u32) -> StoreResult<Vec<MessageRecord>> {
        ops::export_messages(&self.client, after_id, limit).await
    }

    /// Whether the snapshot's transaction is read-only (it always is; for
    /// tests and diagnostics).
    pub async fn is_read_only(&self) -> StoreResult<bool> {
        let row = self.client.query_one("SHOW transaction_read_only", &[]).await.db()?;
        Ok(row.get::<_, String>(0) == "on")
    }

    /// Ends the transaction.
    pub async fn finish(self) -> StoreResult<()> {
        self.client.batch_execute("COMMIT").await.db()
    }
}
