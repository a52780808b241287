//! Owner-only database files.
//!
//! The database, its WAL and its shared-memory index hold every DM, so
//! only the gateway's user may read them (mode 0600). SQLite creates the
//! `-wal` and `-shm` files with the database file's permission bits, so a
//! database created 0600 keeps its companions private; files left readable
//! by an earlier version (or a copy) lose their group and other bits when
//! the store opens.

use std::path::{Path, PathBuf};

use meshgate_store::{StoreError, StoreResult};

/// The database file and the companions SQLite keeps beside it.
pub(crate) fn companions(db: &Path) -> [PathBuf; 3] {
    let with = |suffix: &str| {
        let mut s = db.as_os_str().to_owned();
        s.push(suffix);
        PathBuf::from(s)
    };
    [db.to_path_buf(), with("-wal"), with("-shm")]
}

/// Creates `db` with mode 0600 if it does not exist, and takes group and
/// other permissions off it and its `-wal`/`-shm` files if they do.
#[cfg(unix)]
pub(crate) fn make_private(db: &Path) -> StoreResult<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};

    let err = |what: &str, p: &Path, e: std::io::Error| StoreError::Backend(format!("{what} {}: {e}", p.display()));
    match std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(db) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(err("creating", db, e)),
    }
    for path in companions(db) {
        let mode = match std::fs::metadata(&path) {
            Ok(m) => m.permissions().mode(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(err("reading the mode of", &path, e)),
        };
        if mode & 0o077 != 0 {
            let private = std::fs::Permissions::from_mode(mode & 0o7700);
            std::fs::set_permissions(&path, private).map_err(|e| err("making private", &path, e))?;
            tracing::info!(path = %path.display(), old_mode = format!("{:o}", mode & 0o7777), "made a database file owner-only");
        }
    }
    Ok(())
}

/// Elsewhere the platform's defaults apply.
#[cfg(not(unix))]
pub(crate) fn make_private(_db: &Path) -> StoreResult<()> {
    Ok(())
}
