//! The store boundary: which existing files this store may open.
//!
//! meshgate never writes into a database that is not its own. Before the
//! file is chmod-ed, switched to WAL or migrated, [`inspect`] reads its
//! table list over a read-only connection: an empty or missing file, or one
//! with meshgate's `schema_migrations` and `messages` tables, may be
//! opened; a swarph mesh database or any other non-empty database is
//! refused with an error naming the file and what it holds.

use std::path::Path;

use meshgate_store::{classify_tables, DatabaseContents, StoreError, StoreResult};
use rusqlite::{Connection, OpenFlags};

/// What a file holds, as far as opening it as a meshgate store goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileContents {
    /// No such file: opening creates it.
    Missing,
    /// A zero-byte file, or a database with no tables.
    Empty,
    /// A meshgate database.
    Meshgate,
    /// A swarph mesh database (`claude_messages`, `claude_peers`): import
    /// it with `meshgate import --from-swarph`.
    Swarph,
    /// Some other application's database; its first table names.
    Foreign(Vec<String>),
}

/// Reads what `path` holds without changing it (read-only connection, no
/// journal or mode change). A file that is not SQLite at all is an error
/// naming the file.
pub fn inspect(path: &Path) -> StoreResult<FileContents> {
    match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(FileContents::Missing),
        Err(e) => return Err(StoreError::Backend(format!("reading {}: {e}", path.display()))),
        Ok(meta) if meta.len() == 0 => return Ok(FileContents::Empty),
        Ok(_) => {}
    }
    let named = |e: rusqlite::Error| StoreError::Backend(format!("{}: {e}", path.display()));
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).map_err(named)?;
    let mut statement = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
        .map_err(named)?;
    let tables = statement
        .query_map([], |r| r.get::<_, String>(0))
        .and_then(|rows| rows.collect::<rusqlite::Result<Vec<String>>>())
        .map_err(named)?;
    Ok(match classify_tables(&tables) {
        DatabaseContents::Empty => FileContents::Empty,
        DatabaseContents::Meshgate => FileContents::Meshgate,
        DatabaseContents::Swarph => FileContents::Swarph,
        DatabaseContents::Foreign(tables) => FileContents::Foreign(tables),
    })
}

/// Refuses a file meshgate must not open as its store; `Ok` for a missing,
/// empty or meshgate file.
pub(crate) fn check_openable(path: &Path) -> StoreResult<FileContents> {
    let contents = inspect(path)?;
    match &contents {
        FileContents::Swarph => Err(StoreError::Backend(format!(
            "{} is a swarph mesh database, not a meshgate one; import it with `meshgate import --from-swarph {}`",
            path.display(),
            path.display()
        ))),
        FileContents::Foreign(tables) => Err(StoreError::Backend(format!(
            "{} is not a meshgate database (it holds other tables: {}); refusing to add meshgate's tables to it",
            path.display(),
            tables.join(", ")
        ))),
        _ => Ok(contents),
    }
}
