//! Per-peer tokens on disk: `<config>/tokens/<gateway-host-port>/<NAME>`,
//! one file per (gateway, identity), mode 0600 inside a 0700 directory.
//!
//! `<config>` is `MESHGATE_CONFIG_DIR`, else `$XDG_CONFIG_HOME/meshgate`,
//! else `~/.config/meshgate`. Keying by gateway keeps a token minted by a test
//! gateway from being offered to production.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// Where this user's tokens live.
#[derive(Debug, Clone)]
pub struct TokenStore {
    root: PathBuf,
}

/// A token read from the store, with the file it came from.
pub struct StoredToken {
    /// The raw token (never printed).
    pub token: String,
    /// Its file, for messages.
    pub path: PathBuf,
}

impl TokenStore {
    /// The store under the configured directory.
    pub fn locate() -> Result<TokenStore> {
        Ok(TokenStore { root: config_dir()?.join("tokens") })
    }

    /// The file holding `node`'s token for `gateway`.
    pub fn path(&self, gateway: &str, node: &str) -> PathBuf {
        self.root.join(gateway_dir_name(gateway)).join(node)
    }

    /// `node`'s token for `gateway`, if one is stored.
    pub async fn load(&self, gateway: &str, node: &str) -> Result<Option<StoredToken>> {
        let mut path = self.path(gateway, node);
        let literal = self.root.join(literal_dir_name(gateway)).join(node);
        if !path.exists() && literal.exists() {
            path = literal;
        }
        let text = match tokio::fs::read_to_string(&path).await {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).with_context(|| format!("reading token file {}", path.display())),
        };
        warn_if_readable_by_others(&path).await;
        let token = text.trim().to_owned();
        if token.is_empty() {
            tracing::warn!(path = %path.display(), "token file is empty; ignoring it");
            return Ok(None);
        }
        Ok(Some(StoredToken { token, path }))
    }

    /// Stores `token` for (`gateway`, `node`) atomically with mode 0600 and
    /// returns the file.
    pub async fn save(&self, gateway: &str, node: &str, token: &str) -> Result<PathBuf> {
        let path = self.path(gateway, node);
        let dir = path.parent().expect("token path has a parent");
        let mut builder = tokio::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        builder.mode(0o700);
        builder.create(dir).await.with_context(|| format!("creating {}", dir.display()))?;
        let temp = dir.join(format!(".{node}.tmp-{}", std::process::id()));
        let mut options = tokio::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        options.mode(0o600);
        let mut file = options.open(&temp).await.with_context(|| format!("creating {}", temp.display()))?;
        use tokio::io::AsyncWriteExt;
        file.write_all(format!("{token}\n").as_bytes()).await?;
        file.sync_all().await?;
        drop(file);
        tokio::fs::rename(&temp, &path).await.with_context(|| format!("moving the token into {}", path.display()))?;
        Ok(path)
    }
}

/// How a client names a token it took from the store; [`stored_token_path`]
/// reads the file back out of an error's token source.
pub const STORED_SOURCE_PREFIX: &str = "per-peer token from ";

/// The token file named by a token source string, when the token came from
/// the store.
pub fn stored_token_path(token_source: &str) -> Option<&str> {
    token_source.strip_prefix(STORED_SOURCE_PREFIX)
}

impl TokenStore {
    /// Whether this CLI keeps tokens for `gateway` here: some token was saved
    /// for it before (its directory exists).
    pub fn keeps_tokens_for(&self, gateway: &str) -> bool {
        self.root.join(gateway_dir_name(gateway)).is_dir()
    }

    /// Deletes `node`'s token for `gateway`; the file if there was one.
    pub async fn forget(&self, gateway: &str, node: &str) -> Result<Option<PathBuf>> {
        let path = self.path(gateway, node);
        match tokio::fs::remove_file(&path).await {
            Ok(()) => Ok(Some(path)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("deleting {}", path.display())),
        }
    }
}

/// `MESHGATE_CONFIG_DIR`, else `$XDG_CONFIG_HOME/meshgate`, else
/// `~/.config/meshgate`.
pub fn config_dir() -> Result<PathBuf> {
    if let Some(dir) = env_path("MESHGATE_CONFIG_DIR") {
        Ok(dir)
    } else if let Some(xdg) = env_path("XDG_CONFIG_HOME") {
        Ok(xdg.join("meshgate"))
    } else if let Some(home) = env_path("HOME") {
        Ok(home.join(".config").join("meshgate"))
    } else {
        anyhow::bail!("cannot find a config directory: set MESHGATE_CONFIG_DIR or HOME")
    }
}

fn env_path(key: &str) -> Option<PathBuf> {
    std::env::var_os(key).filter(|v| !v.is_empty()).map(PathBuf::from)
}

/// `http://127.0.0.1:8788/x` -> `127.0.0.1-8788-x`: file-name safe and
/// distinct per gateway. Loopback spellings (`localhost`, `127.x.y.z`,
/// `[::1]`) are one gateway: all are keyed as `127.0.0.1`.
pub fn gateway_dir_name(gateway: &str) -> String {
    dir_name(gateway, true)
}

/// The key before loopback spellings were folded together (the host as
/// written), still read so tokens saved then keep working.
fn literal_dir_name(gateway: &str) -> String {
    dir_name(gateway, false)
}

fn dir_name(gateway: &str, fold_loopback: bool) -> String {
    let (host_port, path) = match split_gateway(gateway, fold_loopback) {
        Some(parts) => parts,
        None => (gateway.to_owned(), String::new()),
    };
    let raw = if path.is_empty() { host_port } else { format!("{host_port}-{path}") };
    raw.chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '.' { c } else { '-' })
        .collect::<String>()
        .trim_matches('-')
        .to_owned()
}

/// Splits `scheme://host[:port]/path` into (`host-port`, `path`), adding the
/// scheme's default port.
fn split_gateway(gateway: &str, fold_loopback: bool) -> Option<(String, String)> {
    let (scheme, rest) = gateway.split_once("://")?;
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let authority = authority.rsplit('@').next().unwrap_or(authority);
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) if !port.is_empty() && port.chars().all(|c| c.is_ascii_digit()) => (host, port),
        _ => (authority, if scheme == "https" { "443" } else { "80" }),
    };
    let host = if fold_loopback && is_loopback(host) { "127.0.0.1" } else { host };
    Some((format!("{host}-{port}"), path.trim_end_matches('/').to_owned()))
}

/// `localhost` (and `*.localhost`), `127.x.y.z` and `[::1]`.
fn is_loopback(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase();
    bare == "localhost"
        || bare.ends_with(".localhost")
        || bare.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

async fn warn_if_readable_by_others(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = tokio::fs::metadata(path).await {
            if meta.permissions().mode() & 0o077 != 0 {
                tracing::warn!(path = %path.display(), "token file is readable by other users; run chmod 600 on it");
            }
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gateway_dir_names() {
        assert_eq!(gateway_dir_name("http://127.0.0.1:8788"), "127.0.0.1-8788");
        assert_eq!(gateway_dir_name("https://mesh.example.org"), "mesh.example.org-443");
        assert_eq!(gateway_dir_name("http://h:1/mesh/"), "h-1-mesh");
        assert_eq!(gateway_dir_name("http://[::1]:9"), "127.0.0.1-9");
        // One machine, one key: every loopback spelling finds the same token.
        for url in ["http://localhost:8788", "http://LOCALHOST:8788/", "http://127.0.0.2:8788", "http://[::1]:8788"] {
            assert_eq!(gateway_dir_name(url), "127.0.0.1-8788", "{url}");
        }
        assert_eq!(gateway_dir_name("http://10.0.0.1:8788"), "10.0.0.1-8788");
        assert_eq!(literal_dir_name("http://localhost:8788"), "localhost-8788");
    }

    #[tokio::test]
    async fn a_token_saved_under_localhost_is_found_through_127_0_0_1_and_back() {
        let dir = tempfile::tempdir().unwrap();
        let store = TokenStore { root: dir.path().join("tokens") };
        store.save("http://localhost:8788", "ab", "tok-1").await.unwrap();
        assert_eq!(store.load("http://127.0.0.1:8788", "ab").await.unwrap().unwrap().token, "tok-1");
        // A file written under the literal host by an older CLI still loads.
        let old = dir.path().join("tokens").join("localhost-9").join("cd");
        std::fs::create_dir_all(old.parent().unwrap()).unwrap();
        std::fs::write(&old, "tok-2\n").unwrap();
        let loaded = store.load("http://localhost:9", "cd").await.unwrap().unwrap();
        assert_eq!((loaded.token.as_str(), loaded.path), ("tok-2", old));
    }

    #[tokio::test]
    async fn save_then_load_with_private_mode() {
        let dir = tempfile::tempdir().unwrap();
        let store = TokenStore { root: dir.path().join("tokens") };
        assert!(store.load("http://h:1", "ab").await.unwrap().is_none());
        let path = store.save("http://h:1", "ab", "s3cret-token").await.unwrap();
        let loaded = store.load("http://h:1", "ab").await.unwrap().unwrap();
        assert_eq!(loaded.token, "s3cret-token");
        assert_eq!(loaded.path, path);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(store.load("http://h:2", "ab").await.unwrap().is_none());
    }
}
