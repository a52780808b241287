//! `meshgate backup`: a consistent copy of a SQLite store, taken while the
//! gateway serves.
//!
//! The copy is SQLite's `VACUUM INTO`, run on a read-only connection: it
//! reads one snapshot (a read transaction in the WAL, so concurrent
//! commits neither block it nor leak half into it) and writes a compact
//! database. The target is created 0600 (it holds every DM) and never
//! overwritten without `--force`; the copy must pass `PRAGMA
//! integrity_check` before the command reports success, else it is removed.
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
VACUUM INTO: one snapshot, compacted). The copy is created mode 0600, an existing FILE is
refused unless --force, and the copy passes PRAGMA integrity_check before success is
reported. Serve the copy with `meshgate serve --db sqlite:FILE`.

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
    if args.file.exists() || args.file.is_symlink() {
        if !args.force {
            bail!("{} exists; pass --force to replace it", args.file.display());
        }
        std::fs::remove_file(&args.file).with_context(|| format!("removing {}", args.file.display()))?;
    }
    create_private(&args.file)?;
    if let Err(e) = copy_and_check(&source, &args.file) {
        let _ = std::fs::remove_file(&args.file);
        return Err(e);
    }
    let bytes = std::fs::metadata(&args.file).map(|m| m.len()).unwrap_or(0);
    println!("backed up {} to {} ({bytes} bytes, integrity ok)", source.display(), args.file.display());
    Ok(crate::exit::OK)
}

/// Creates `path` empty with mode 0600, failing if it exists.
fn create_private(path: &Path) -> Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path).with_context(|| format!("creating {}", path.display()))?;
    Ok(())
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
