//! First-start chores: where the data lives and where the operator token
//! comes from.

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
    match std::fs::read_to_string(&path) {
        Ok(t) if !t.trim().is_empty() => return Ok((OperatorToken::new(t.trim()), TokenSource::File(path))),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    std::fs::create_dir_all(dir)?;
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
}
