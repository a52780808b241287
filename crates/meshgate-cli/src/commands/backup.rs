//! `meshgate backup`: a consistent copy of a SQLite store, taken while the
//! gateway serves.
//!
//! The copy is SQLite's `VACUUM INTO`, run on a read-only connection: it
//! reads one snapshot (a read transaction in the WAL, so concurrent
//! commits neither block it nor leak half into it) and writes a compact
//! database. The copy is written to a fresh 0600 file (it holds every DM) in
//! FILE's directory, must pass `PRAGMA integrity_check`, and only then is
//! renamed over FILE: a failed run removes only its own temporary file, so
//! an older backup survives a failed `--force`. FILE is never overwritten
//! without `--force`, and never when it is the source database or one of its
//! `-wal`/`-shm`/`-journal` files (same inode, or same canonical path).
//! PostgreSQL stores are backed up with `pg_dump` (README, Deployment).

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use rusqlite::{Connection, OpenFlags};

use super::export::StoreArgs;
use super::serve::sqlite_path;
use crate::exit::advised;

/// Options of `meshgate backup`.
#[derive(Debug, Clone, clap::Args)]
#[command(after_long_help = "\
Writes a consistent copy of a SQLite store while the gateway may be serving it (SQLite's
VACUUM INTO: one snapshot, compacted). The copy is written mode 0600 to a temporary file
beside FILE, passes PRAGMA integrity_check, and only then replaces FILE (a failed run leaves
an older FILE as it was). An existing FILE is refused unless --force, and always when it is
the source database or its -wal/-shm/-journal file. Serve the copy with
`meshgate serve --db sqlite:FILE`.

PostgreSQL: use pg_dump, e.g. `pg_dump --format=custom --file meshgate.dump 'postgres://...'`.")]
pub struct Args {
    #[command(flatten)]
    pub store: StoreArgs,

    /// Where to write the copy.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,

    /// Replace FILE if it exists.
    #[arg(long)]
    pub force: bool,
}

/// Runs the backup; prints where the copy went and its size.
pub fn run(args: Args) -> Result<u8> {
    let url = args.store.url();
    let Some(source) = sqlite_path(&url) else {
        return Err(advised(format!(
            "meshgate backup copies SQLite stores; for PostgreSQL use pg_dump \
             (e.g. `pg_dump --format=custom --file meshgate.dump '{}'`)",
            redact_password(&url)
        )));
    };
    if !source.is_file() {
        bail!("no SQLite store at {}", source.display());
    }
    refuse_store_file(&source, &args.file)?;
    if (args.file.exists() || args.file.is_symlink()) && !args.force {
        bail!("{} exists; pass --force to replace it", args.file.display());
    }
    let temp = create_temp_beside(&args.file)?;
    let done = copy_and_check(&source, &temp).and_then(|()| {
        std::fs::rename(&temp, &args.file)
            .with_context(|| format!("renaming {} to {}", temp.display(), args.file.display()))
    });
    if let Err(e) = done {
        let _ = std::fs::remove_file(&temp);
        return Err(e);
    }
    sync_parent(&args.file);
    let bytes = std::fs::metadata(&args.file).map(|m| m.len()).unwrap_or(0);
    println!("backed up {} to {} ({bytes} bytes, integrity ok)", source.display(), args.file.display());
    Ok(crate::exit::OK)
}

/// The suffixes of the files SQLite keeps beside a database.
const SIDE_FILES: [&str; 3] = ["-wal", "-shm", "-journal"];

/// Refuses a `target` that is the `source` database or one of its side
/// files: writing there would destroy the store being copied.
fn refuse_store_file(source: &Path, target: &Path) -> Result<()> {
    let mut guarded = vec![source.to_path_buf()];
    for suffix in SIDE_FILES {
        let mut name = source.as_os_str().to_owned();
        name.push(suffix);
        guarded.push(PathBuf::from(name));
    }
    for store_file in &guarded {
        if same_file(store_file, target) {
            bail!(
                "{} is the store being backed up ({}); write the backup to another file",
                target.display(),
                store_file.display()
            );
        }
    }
    Ok(())
}

/// Whether `a` and `b` name the same file: the same device and inode when
/// both exist (either as named or as a symlink), else the same canonical
/// directory and file name.
fn same_file(a: &Path, b: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let ids = |p: &Path| {
            [std::fs::metadata(p), std::fs::symlink_metadata(p)]
                .into_iter()
                .flatten()
                .map(|m| (m.dev(), m.ino()))
                .collect::<Vec<_>>()
        };
        let (ia, ib) = (ids(a), ids(b));
        if ia.iter().any(|id| ib.contains(id)) {
            return true;
        }
    }
    match (canonical(a), canonical(b)) {
        (Some(ca), Some(cb)) => ca == cb,
        _ => false,
    }
}

/// `path` with its directory canonicalized (the file itself need not exist),
/// and the file itself resolved when it does exist.
fn canonical(path: &Path) -> Option<PathBuf> {
    if let Ok(full) = std::fs::canonicalize(path) {
        return Some(full);
    }
    let name = path.file_name()?;
    Some(std::fs::canonicalize(dir_of(path)).ok()?.join(name))
}

/// Creates a new empty 0600 file in `target`'s directory, for the copy
/// before it is renamed over `target` (same directory: the rename is atomic).
fn create_temp_beside(target: &Path) -> Result<PathBuf> {
    let dir = dir_of(target);
    let name = target.file_name().ok_or_else(|| anyhow!("{} names no file", target.display()))?;
    let mut attempt = 0;
    loop {
        let mut temp_name = std::ffi::OsString::from(".");
        temp_name.push(name);
        temp_name.push(format!(".{}.backup-tmp", &uuid::Uuid::new_v4().simple().to_string()[..12]));
        let temp = dir.join(temp_name);
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        match options.open(&temp) {
            Ok(_) => return Ok(temp),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && attempt < 7 => attempt += 1,
            Err(e) => return Err(e).with_context(|| format!("creating {}", temp.display())),
        }
    }
}

/// The directory `path` is in (`.` for a bare file name).
fn dir_of(path: &Path) -> &Path {
    path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."))
}

/// Flushes the copy and the directory entry of its rename, best effort.
fn sync_parent(file: &Path) {
    if let Ok(f) = std::fs::File::open(file) {
        let _ = f.sync_all();
    }
    if let Ok(d) = std::fs::File::open(dir_of(file)) {
        let _ = d.sync_all();
    }
}

/// `VACUUM INTO` from `source` to the empty file `target`, then checks the copy.
fn copy_and_check(source: &Path, target: &Path) -> Result<()> {
    let db = Connection::open_with_flags(source, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
        .with_context(|| format!("opening {}", source.display()))?;
    db.busy_timeout(std::time::Duration::from_secs(10))?;
    let target_str = target.to_str().ok_or_else(|| anyhow!("{} is not valid UTF-8", target.display()))?;
    db.execute("VACUUM INTO ?1", [target_str]).with_context(|| format!("copying into {}", target.display()))?;
    drop(db);
    let copy = Connection::open_with_flags(target, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
        .with_context(|| format!("opening the copy {}", target.display()))?;
    let verdict: String = copy.query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
    if verdict != "ok" {
        bail!("the copy {} failed its integrity check: {verdict}", target.display());
    }
    Ok(())
}

/// `url` with any password replaced by `***`, for messages.
fn redact_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_owned() };
    let Some((userinfo, host)) = rest.split_once('@') else { return url.to_owned() };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}
