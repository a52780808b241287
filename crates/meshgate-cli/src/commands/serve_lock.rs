//! One `meshgate serve` per SQLite database.
//!
//! Live wake-ups (streams, long-polls, hooks) travel inside one gateway
//! process, so a second gateway on the same file would store DMs the
//! first one's waiters never hear of. `serve` therefore holds an exclusive
//! advisory lock on `<db>.serve.lock` (mode 0600, holding its pid) for its
//! whole life; the kernel drops it when the process ends, however it ends.
//! Offline commands (`backup`, `export`, `import`, `gc`) do not take it:
//! they work while a gateway runs, as before.

use std::fs::File;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// The held lock; released when dropped or when the process exits.
#[derive(Debug)]
pub struct ServeLock {
    _file: Option<File>,
}

/// The lock file of the SQLite database at `db`.
pub fn lock_path(db: &Path) -> PathBuf {
    let mut name = db.file_name().unwrap_or_default().to_os_string();
    name.push(".serve.lock");
    db.with_file_name(name)
}

/// `db` with symlinks resolved, so that every path to one file takes one
/// lock (a symlink to a running gateway's database is refused like its own
/// path); for a file not yet created, its directory resolved. A hard link
/// is another path to the same file that this cannot see.
fn resolved(db: &Path) -> PathBuf {
    if let Ok(path) = std::fs::canonicalize(db) {
        return path;
    }
    let dir = db.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    match (std::fs::canonicalize(dir), db.file_name()) {
        (Ok(dir), Some(name)) => dir.join(name),
        _ => db.to_path_buf(),
    }
}

/// Takes the lock of `db` without waiting; a usage error (exit 2) naming
/// the holder's pid if another gateway has it.
#[cfg(unix)]
pub fn lock(db: &Path) -> Result<ServeLock> {
    use std::io::{Read, Seek, Write};
    use std::os::unix::fs::OpenOptionsExt;

    use rustix::fs::{flock, FlockOperation};

    let path = lock_path(&resolved(db));
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&path)
        .with_context(|| format!("opening the lock file {}", path.display()))?;
    match flock(&file, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => {}
        Err(e) if e == rustix::io::Errno::WOULDBLOCK => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let pid = holder.trim().parse::<u32>().map(|p| format!("pid {p}")).unwrap_or_else(|_| "pid unknown".into());
            return Err(crate::exit::advised(format!(
                "another meshgate serve ({pid}) is using {}: one gateway per SQLite database (live wake-ups \
                 stay inside one process); several gateways need PostgreSQL (--db postgres://...)",
                db.display()
            )));
        }
        Err(e) => return Err(std::io::Error::from(e)).with_context(|| format!("locking {}", path.display())),
    }
    file.set_len(0).and_then(|()| file.rewind()).and_then(|()| writeln!(file, "{}", std::process::id())).ok();
    Ok(ServeLock { _file: Some(file) })
}

/// No advisory locks here: every `serve` starts.
#[cfg(not(unix))]
pub fn lock(_db: &Path) -> Result<ServeLock> {
    Ok(ServeLock { _file: None })
}
