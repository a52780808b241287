//! PostgreSQL and pool errors mapped to [`StoreError`].

use deadpool_postgres::PoolError;
use meshgate_store::{StoreError, StoreResult};
use tokio_postgres::error::SqlState;

/// Maps a driver error: a lost or refused connection, a server shutting
/// down, a timeout or contention is `Unavailable` (retrying later may
/// work); everything else is `Backend`.
pub(crate) fn map_pg(e: tokio_postgres::Error) -> StoreError {
    if let Some(code) = e.code() {
        let c = code.code();
        let transient = c.starts_with("08") // connection exception
            || c.starts_with("53") // insufficient resources (too many connections, disk full)
            || c.starts_with("57P") // admin/crash shutdown, cannot connect now
            || *code == SqlState::QUERY_CANCELED // statement_timeout
            || *code == SqlState::LOCK_NOT_AVAILABLE
            || *code == SqlState::T_R_SERIALIZATION_FAILURE
            || *code == SqlState::T_R_DEADLOCK_DETECTED
            || *code == SqlState::IDLE_IN_TRANSACTION_SESSION_TIMEOUT
            || *code == SqlState::READ_ONLY_SQL_TRANSACTION; // a standby after failover
        return if transient { StoreError::Unavailable(e.to_string()) } else { StoreError::Backend(e.to_string()) };
    }
    if e.is_closed() || has_io_source(&e) {
        return StoreError::Unavailable(e.to_string());
    }
    let text = e.to_string();
    if text.contains("connect") || text.contains("timeout") || text.contains("timed out") || text.contains("closed") {
        StoreError::Unavailable(text)
    } else {
        StoreError::Backend(text)
    }
}

fn has_io_source(e: &tokio_postgres::Error) -> bool {
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        if s.is::<std::io::Error>() {
            return true;
        }
        src = s.source();
    }
    false
}

/// Maps a pool error: timeouts and a closed pool are `Unavailable`.
pub(crate) fn map_pool(e: PoolError) -> StoreError {
    match e {
        PoolError::Backend(e) => map_pg(e),
        PoolError::Timeout(t) => StoreError::Unavailable(format!("postgres pool timeout ({t:?})")),
        PoolError::Closed => StoreError::Unavailable("postgres pool closed".into()),
        other => StoreError::Backend(other.to_string()),
    }
}

/// Whether `e` is a UNIQUE/PRIMARY KEY violation.
pub(crate) fn is_unique_violation(e: &tokio_postgres::Error) -> bool {
    e.code() == Some(&SqlState::UNIQUE_VIOLATION)
}

/// `.db()?` converts a driver result into a [`StoreResult`].
pub(crate) trait Db<T> {
    fn db(self) -> StoreResult<T>;
}

impl<T> Db<T> for Result<T, tokio_postgres::Error> {
    fn db(self) -> StoreResult<T> {
        self.map_err(map_pg)
    }
}
