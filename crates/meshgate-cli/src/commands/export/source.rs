//! What `meshgate export` reads: a store (SQLite, opened read-only), or a
//! PostgreSQL snapshot ([`PgSnapshot`]: one `REPEATABLE READ READ ONLY`
//! transaction), so every export is one consistent instant that writes
//! nothing.

use std::sync::Arc;

use meshgate_proto::{Alias, Peer, Thread};
use meshgate_store::{MessageRecord, Store, StoreResult, TokenRecord};
use meshgate_store_postgres::PgSnapshot;

/// The store an export reads.
pub(crate) enum Source {
    /// A store that is its own snapshot (SQLite read-only, a test's store).
    Store(Arc<dyn Store>),
    /// PostgreSQL, read in one read-only transaction.
    Pg(Box<PgSnapshot>),
}

/// Calls the same method on either kind of source.
macro_rules! either {
    ($self:ident, |$s:ident| $e:expr) => {
        match $self {
            Source::Store($s) => $e,
            Source::Pg($s) => $e,
        }
    };
}

impl Source {
    pub(crate) async fn store_id(&self) -> StoreResult<String> {
        either!(self, |s| s.store_id().await)
    }

    pub(crate) async fn schema_version(&self) -> StoreResult<i64> {
        either!(self, |s| s.schema_version().await)
    }

    /// The highest message id (for the progress bar).
    pub(crate) async fn newest(&self) -> StoreResult<i64> {
        match self {
            Source::Store(s) => Ok(*s.subscribe().borrow()),
            Source::Pg(p) => p.max_id().await,
        }
    }

    pub(crate) async fn list_peers(&self) -> StoreResult<Vec<Peer>> {
        either!(self, |s| s.list_peers().await)
    }

    pub(crate) async fn export_tokens(&self) -> StoreResult<Vec<TokenRecord>> {
        either!(self, |s| s.export_tokens().await)
    }

    pub(crate) async fn aliases(&self) -> StoreResult<Vec<Alias>> {
        either!(self, |s| s.aliases().await)
    }

    pub(crate) async fn export_threads(&self, after: Option<&str>, limit: u32) -> StoreResult<Vec<Thread>> {
        either!(self, |s| s.export_threads(after, limit).await)
    }

    pub(crate) async fn export_messages(&self, after_id: i64, limit: u32) -> StoreResult<Vec<MessageRecord>> {
        either!(self, |s| s.export_messages(after_id, limit).await)
    }

    /// Ends a snapshot's transaction.
    pub(crate) async fn finish(self) -> StoreResult<()> {
        match self {
            Source::Store(_) => Ok(()),
            Source::Pg(p) => p.finish().await,
        }
    }
}
