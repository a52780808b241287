//! First-start chores: where the data lives and where the operator token
//! comes from, and keeping both private to the gateway's user.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::config::OperatorToken;
use crate::tokens::mint;

/// File name of the generated operator token, beside the database.
pub const OPERATOR_TOKEN_FILE: &str = "operator-token";

/// The default data directory: `$MESHGATE_DATA_DIR`, else
/// `$XDG_DATA_HOME/meshgate`, else `~/.local/share/meshgate`.
pub fn default_data_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("MESHGATE_DATA_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    if let Some(dir) = std::env::var_os("XDG_DATA_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir).join("meshgate");
    }
    match std::env::var_os("HOME").filter(|d| !d.is_empty()) {
        Some(home) => PathBuf::from(home).join(".local/share/meshgate"),
        None => PathBuf::from(".meshgate"),
    }
}

/// Where the operator token came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenSource {
    /// `MESH_GATEWAY_TOKEN` (or an explicit value).
    Environment,
    /// A token file written on an earlier start.
    File(PathBuf),
    /// A token generated now and written to this file (mode 0600).
    Generated(PathBuf),
}

/// The operator token: `explicit` if given, else the one stored in
/// `dir/operator-token`, else a new one written there with mode 0600.
pub fn operator_token(explicit: Option<&str>, dir: &Path) -> std::io::Result<(OperatorToken, TokenSource)> {
    if let Some(t) = explicit.map(str::trim).filter(|t| !t.is_empty()) {
        return Ok((OperatorToken::new(t), TokenSource::Environment));
    }
    let path = dir.join(OPERATOR_TOKEN_FILE);
    refuse_shared_token_dir(dir)?;
    refuse_shared_token_file(&path)?;
    match std::fs::read_to_string(&path) {
        Ok(t) if !t.trim().is_empty() => return Ok((OperatorToken::new(t.trim()), TokenSource::File(path))),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    create_private_dir(dir)?;
    let (token, _) = mint("mgo_");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&path)?;
    file.write_all(token.as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()?;
    Ok((OperatorToken::new(token), TokenSource::Generated(path)))
}

/// Refuses an existing token file that group or others may read or write,
/// as ssh refuses such a key: the token can do everything, and whoever
/// could read it already may have. The operator fixes the mode (or deletes
/// the file to get a new token); the gateway does not quietly tighten it.
#[cfg(unix)]
fn refuse_shared_token_file(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = match std::fs::metadata(path) {
        Ok(m) => m.permissions().mode() & 0o7777,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    if mode & 0o077 == 0 {
        return refuse_foreign_file(path, "the operator token file");
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::PermissionDenied,
        format!(
            "the operator token file {p} is accessible by other users (mode {mode:04o}); \
             run `chmod 600 {p}` (or delete it to have a new token generated)",
            p = path.display()
        ),
    ))
}

#[cfg(not(unix))]
fn refuse_shared_token_file(_path: &Path) -> std::io::Result<()> {
    Ok(())
}

/// Refuses to keep the operator token in a directory another user can
/// create files in (group or other write, sticky or not, e.g. `/tmp` for
/// `--db sqlite:/tmp/mesh.db`) or that another user owns: they could plant
/// a token file the gateway would then trust. A missing directory is
/// created 0700 later.
#[cfg(unix)]
fn refuse_shared_token_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    let meta = match std::fs::metadata(dir) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    let (mode, owner) = (meta.mode() & 0o7777, meta.uid());
    if mode & 0o022 == 0 && (owner == euid() || owner == 0) {
        return Ok(());
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::PermissionDenied,
        format!(
            "the operator token would be kept in {d} (mode {mode:04o}, owner uid {owner}), where other users \
             can put a token file of their own; set MESH_GATEWAY_TOKEN, or keep the database in a directory \
             only this user can write to (--data-dir)",
            d = dir.display()
        ),
    ))
}

#[cfg(not(unix))]
fn refuse_shared_token_dir(_dir: &Path) -> std::io::Result<()> {
    Ok(())
}

/// Refuses a SQLite database whose file, `-wal` or `-shm` belongs to
/// another user: in a shared directory someone else could have put them
/// there first (a planted WAL is replayed into the database on open, e.g.
/// with token hashes of their choosing). Missing files are fine.
pub fn refuse_foreign_database(db: &Path) -> std::io::Result<()> {
    for suffix in ["", "-wal", "-shm"] {
        let mut path = db.as_os_str().to_owned();
        path.push(suffix);
        refuse_foreign_file(Path::new(&path), "the database file")?;
    }
    Ok(())
}

/// Refuses an existing `path` that another user owns (root included: the
/// gateway trusts only its own files); `what` names it in the error.
#[cfg(unix)]
fn refuse_foreign_file(path: &Path, what: &str) -> std::io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    let owner = match std::fs::symlink_metadata(path) {
        Ok(m) => m.uid(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    if owner == euid() {
        return Ok(());
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::PermissionDenied,
        format!(
            "{what} {p} belongs to uid {owner}, not to this user (uid {me}); another user may have put it \
             there. Move it away (or chown it if it is yours)",
            p = path.display(),
            me = euid()
        ),
    ))
}

#[cfg(not(unix))]
fn refuse_foreign_file(_path: &Path, _what: &str) -> std::io::Result<()> {
    Ok(())
}

#[cfg(unix)]
fn euid() -> u32 {
    rustix::process::geteuid().as_raw()
}

/// Creates `dir` (and missing parents) with mode 0700; an existing
/// directory is left as it is.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Makes the data directory private: creates it with mode 0700, or takes
/// group and other permissions off an existing one (it is the gateway's
/// own directory; a directory named only by `--db sqlite:PATH` may be
/// shared, e.g. `/tmp`, and is not changed). Returns the old mode when it
/// changed one.
pub fn private_data_dir(dir: &Path) -> std::io::Result<Option<u32>> {
    create_private_dir(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir)?.permissions().mode() & 0o7777;
        if mode & 0o077 != 0 {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode & 0o7700))?;
            return Ok(Some(mode));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generates_once_then_reuses() {
        let dir = tempfile::tempdir().unwrap();
        let (a, src) = operator_token(None, dir.path()).unwrap();
        assert!(matches!(src, TokenSource::Generated(_)));
        let (b, src) = operator_token(None, dir.path()).unwrap();
        assert!(matches!(src, TokenSource::File(_)));
        assert_eq!(a.expose(), b.expose());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(OPERATOR_TOKEN_FILE)).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let (c, src) = operator_token(Some("explicit"), dir.path()).unwrap();
        assert_eq!((c.expose(), src), ("explicit", TokenSource::Environment));
    }

    #[cfg(unix)]
    #[test]
    fn refuses_a_token_file_others_can_read() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(OPERATOR_TOKEN_FILE);
        std::fs::write(&path, "mgo_shared\n").unwrap();
        for mode in [0o644, 0o640, 0o604, 0o620, 0o602] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            let err = operator_token(None, dir.path()).unwrap_err();
            assert_eq!(err.kind(), std::io::ErrorKind::PermissionDenied, "mode {mode:o}");
            let text = err.to_string();
            assert!(text.contains(&format!("chmod 600 {}", path.display())), "{text}");
            assert!(text.contains(&format!("{mode:04o}")), "{text}");
            assert!(!text.contains("mgo_shared"), "the error must not show the token: {text}");
        }
        // The file was left as it was, and an explicit token is still fine.
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "mgo_shared\n");
        assert!(operator_token(Some("explicit"), dir.path()).is_ok());
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let (t, src) = operator_token(None, dir.path()).unwrap();
        assert_eq!((t.expose(), src), ("mgo_shared", TokenSource::File(path)));
    }

    #[cfg(unix)]
    #[test]
    fn refuses_a_token_dir_others_can_write() {
        use std::os::unix::fs::PermissionsExt;
        let root = tempfile::tempdir().unwrap();
        let shared = root.path().join("shared");
        std::fs::create_dir(&shared).unwrap();
        for mode in [0o1777, 0o777, 0o775, 0o1733] {
            std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(mode)).unwrap();
            let err = operator_token(None, &shared).unwrap_err();
            assert_eq!(err.kind(), std::io::ErrorKind::PermissionDenied, "mode {mode:o}");
            assert!(err.to_string().contains("MESH_GATEWAY_TOKEN"), "{err}");
            assert!(!shared.join(OPERATOR_TOKEN_FILE).exists(), "nothing generated into a shared dir");
        }
        // A token planted there (mode 0600) is not read either.
        std::fs::write(shared.join(OPERATOR_TOKEN_FILE), "mgo_planted\n").unwrap();
        std::fs::set_permissions(shared.join(OPERATOR_TOKEN_FILE), std::fs::Permissions::from_mode(0o600)).unwrap();
        let err = operator_token(None, &shared).unwrap_err();
        assert!(!err.to_string().contains("mgo_planted"), "{err}");
        assert!(operator_token(Some("explicit"), &shared).is_ok(), "an explicit token needs no file");
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o700)).unwrap();
        assert_eq!(operator_token(None, &shared).unwrap().0.expose(), "mgo_planted");
    }

    /// Files of another user are refused. Needs root to make one (`chown`);
    /// as another user only the own-files half runs.
    #[cfg(unix)]
    #[test]
    fn refuses_files_of_another_user() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("mesh.db");
        std::fs::write(&db, b"").unwrap();
        std::fs::write(dir.path().join("mesh.db-wal"), b"").unwrap();
        refuse_foreign_database(&db).unwrap();
        if euid() != 0 {
            eprintln!("not root: cannot make a file of another user; skipped that half");
            return;
        }
        std::os::unix::fs::chown(dir.path().join("mesh.db-wal"), Some(65534), None).unwrap();
        let err = refuse_foreign_database(&db).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::PermissionDenied);
        assert!(err.to_string().contains("mesh.db-wal") && err.to_string().contains("65534"), "{err}");
        let token = dir.path().join(OPERATOR_TOKEN_FILE);
        std::fs::write(&token, "mgo_planted\n").unwrap();
        std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::os::unix::fs::chown(&token, Some(65534), None).unwrap();
        let err = operator_token(None, dir.path()).unwrap_err();
        assert!(err.to_string().contains("uid 65534") && !err.to_string().contains("mgo_planted"), "{err}");
    }

    #[cfg(unix)]
    #[test]
    fn data_dir_is_created_or_made_private() {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o7777;
        let root = tempfile::tempdir().unwrap();
        let fresh = root.path().join("a/b/meshgate");
        assert_eq!(private_data_dir(&fresh).unwrap(), None);
        assert_eq!(mode(&fresh), 0o700);
        let shared = root.path().join("shared");
        std::fs::create_dir(&shared).unwrap();
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(private_data_dir(&shared).unwrap(), Some(0o755));
        assert_eq!(mode(&shared), 0o700);
        assert_eq!(private_data_dir(&shared).unwrap(), None);
    }
}
