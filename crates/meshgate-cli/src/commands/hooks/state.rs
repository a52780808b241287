//! What the hooks remember per (gateway, peer, host session): the ids of
//! the DMs already shown to that session, and which wake hook is the
//! current one.
//!
//! Files live in `<config>/hooks/<host-port>/<NAME>/` (directory 0700,
//! files 0600), named by a hash of the host's `session_id` (which is the
//! host's string, not ours to put in a path):
//! - `<hash>.shown`: the shown ids, one per line, newest
//!   [`SHOWN_MAX`] kept; read and rewritten under an exclusive lock on
//!   `<hash>.lock`, so a context hook and a wake hook never show one DM twice;
//! - `<hash>.wake`: the token (`pid:nanos`) of the current wake hook. A new
//!   wake hook writes its own; a prompt (context hook on `UserPromptSubmit`)
//!   removes it. A wake hook that finds another token, or none, exits.
//!
//! Files of sessions untouched for [`EXPIRE_DAYS`] days are deleted by the
//! next hook run of that peer, so the directory stays small. Only names this
//! module writes are ever deleted, and `NAME` must be a valid peer name
//! before any directory is made: `--as ../../x` must not pick the directory.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};

use crate::tokens::{config_dir, gateway_dir_name};

/// Most shown ids kept per session (the oldest are forgotten first).
pub const SHOWN_MAX: usize = 10_000;

/// Session files older than this are deleted.
pub const EXPIRE_DAYS: u64 = 30;

/// One host session's hook state.
pub struct SessionState {
    dir: PathBuf,
    key: String,
}

impl SessionState {
    /// The state of `session_id` for `node` on `gateway`; creates the
    /// private directory and prunes expired sessions.
    pub fn open(gateway: &str, node: &str, session_id: &str) -> Result<SessionState> {
        Self::open_in(&config_dir()?, gateway, node, session_id)
    }

    /// [`SessionState::open`] under the config directory `config`. Refuses
    /// an invalid peer name (or a gateway naming no directory) before
    /// touching the filesystem.
    fn open_in(config: &Path, gateway: &str, node: &str, session_id: &str) -> Result<SessionState> {
        meshgate_proto::validate_peer_name(node).with_context(|| format!("invalid peer name {node:?}"))?;
        let gateway_dir = gateway_dir_name(gateway);
        if gateway_dir.chars().all(|c| c == '.') {
            anyhow::bail!("gateway URL {gateway:?} names no hook state directory");
        }
        let dir = config.join("hooks").join(gateway_dir).join(node);
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(&dir).with_context(|| format!("creating {}", dir.display()))?;
        prune(&dir);
        let digest = Sha256::digest(session_id.as_bytes());
        let key = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
        Ok(SessionState { dir, key })
    }

    fn file(&self, ext: &str) -> PathBuf {
        self.dir.join(format!("{}.{ext}", self.key))
    }

    /// Runs `f` on the shown set under the session's lock and saves the
    /// set if `f` changed it.
    pub fn with_shown<T>(&self, f: impl FnOnce(&mut BTreeSet<i64>) -> T) -> Result<T> {
        let lock_path = self.file("lock");
        let lock = private_file(&lock_path, false)?;
        lock.lock().with_context(|| format!("locking {}", lock_path.display()))?;
        let path = self.file("shown");
        let mut shown: BTreeSet<i64> = match std::fs::read_to_string(&path) {
            Ok(text) => text.lines().filter_map(|l| l.trim().parse().ok()).collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeSet::new(),
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        let before = shown.clone();
        let out = f(&mut shown);
        while shown.len() > SHOWN_MAX {
            shown.pop_first();
        }
        if shown != before {
            let text: String = shown.iter().map(|id| format!("{id}\n")).collect();
            write_private(&path, &text)?;
        }
        Ok(out)
    }

    /// Makes the caller the session's current wake hook; returns its token.
    pub fn claim_wake(&self) -> Result<String> {
        let nanos = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default().as_nanos();
        let token = format!("{}:{nanos}", std::process::id());
        write_private(&self.file("wake"), &token)?;
        Ok(token)
    }

    /// Whether `token` is still the current wake hook.
    pub fn is_current_wake(&self, token: &str) -> bool {
        std::fs::read_to_string(self.file("wake")).is_ok_and(|t| t.trim() == token)
    }

    /// Ends whichever wake hook is waiting for this session.
    pub fn cancel_wake(&self) {
        let _ = std::fs::remove_file(self.file("wake"));
    }
}

/// Opens (creating 0600) a file.
fn private_file(path: &Path, truncate: bool) -> Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.create(true).write(true).truncate(truncate);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path).with_context(|| format!("opening {}", path.display()))
}

/// Replaces `path` atomically and durably with `text` (0600): a temp
/// file, fsynced, renamed over `path`, then the directory fsynced. A crash
/// leaves the old file or the new one, never an empty or torn one (after
/// which every DM would be shown again, or a waiting wake hook end).
fn write_private(path: &Path, text: &str) -> Result<()> {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let temp = path.with_file_name(format!(".{name}.tmp-{}", std::process::id()));
    let written = (|| -> Result<()> {
        let mut file = private_file(&temp, true)?;
        file.write_all(text.as_bytes())?;
        file.sync_all().with_context(|| format!("flushing {}", temp.display()))
    })();
    if let Err(e) =
        written.and_then(|()| std::fs::rename(&temp, path).with_context(|| format!("writing {}", path.display())))
    {
        let _ = std::fs::remove_file(&temp);
        return Err(e);
    }
    // The rename itself is durable once the directory is.
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("flushing the directory {}", dir.display()))
}

/// The extensions of the session files this module writes.
const EXTENSIONS: [&str; 3] = ["shown", "wake", "lock"];

/// Whether `name` is one this module writes: `<32 hex>.<ext>`, or the
/// temporary `.<32 hex>.<ext>.tmp-<pid>` a crashed write left behind.
fn is_ours(name: &str) -> bool {
    let (name, tmp) = match name.strip_prefix('.').and_then(|n| n.split_once(".tmp-")) {
        Some((n, pid)) if !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()) => (n, true),
        Some(_) => return false,
        None => (name, false),
    };
    if tmp && name.starts_with('.') {
        return false;
    }
    name.split_once('.').is_some_and(|(key, ext)| {
        key.len() == 32 && key.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) && EXTENSIONS.contains(&ext)
    })
}

/// Deletes this module's files in `dir` not modified for [`EXPIRE_DAYS`]
/// days (others are left alone); an old lock file (whose time never moves)
/// only once its session's other files are gone.
fn prune(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let max_age = Duration::from_secs(EXPIRE_DAYS * 86_400);
    let mut locks = Vec::new();
    for entry in entries.flatten() {
        if !entry.file_name().to_str().is_some_and(is_ours) {
            continue;
        }
        let path = entry.path();
        let modified = entry.metadata().and_then(|m| m.modified()).ok();
        if modified.and_then(|t| t.elapsed().ok()).is_none_or(|age| age <= max_age) {
            continue;
        }
        if path.extension().is_some_and(|e| e == "lock") {
            locks.push(path);
        } else {
            let _ = std::fs::remove_file(path);
        }
    }
    for lock in locks {
        if !lock.with_extension("shown").exists() && !lock.with_extension("wake").exists() {
            let _ = std::fs::remove_file(lock);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shown_ids_are_kept_private_and_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let state = SessionState { dir: dir.path().to_path_buf(), key: "k".into() };
        state.with_shown(|shown| shown.extend(1..=(SHOWN_MAX as i64 + 5))).unwrap();
        let kept = state.with_shown(|shown| shown.clone()).unwrap();
        assert_eq!(kept.len(), SHOWN_MAX);
        assert_eq!(kept.first(), Some(&6), "the oldest ids go first");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("k.shown")).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let token = state.claim_wake().unwrap();
        assert!(state.is_current_wake(&token));
        let newer = state.claim_wake().unwrap();
        assert!(!state.is_current_wake(&token) && state.is_current_wake(&newer));
        state.cancel_wake();
        assert!(!state.is_current_wake(&newer));
    }

    /// Sets `path`'s modification time `days` back.
    fn age(path: &Path, days: u64) {
        let file = std::fs::OpenOptions::new().write(true).create(true).truncate(false).open(path).unwrap();
        file.set_modified(SystemTime::now() - Duration::from_secs(days * 86_400)).unwrap();
    }

    #[test]
    fn an_invalid_name_touches_nothing_and_prune_deletes_only_its_own_files() {
        let root = tempfile::tempdir().unwrap();
        let config = root.path().join("a/b/c/config");
        let victim = root.path().join("victim");
        std::fs::create_dir_all(&victim).unwrap();
        let old = victim.join("0123456789abcdef0123456789abcdef.shown");
        age(&old, EXPIRE_DAYS + 1);
        for bad in ["../../../../victim", "../victim", "Alice", "a/b", "..", ""] {
            let err = SessionState::open_in(&config, "http://h:1", bad, "s").err().expect(bad);
            assert!(format!("{err:#}").contains("invalid peer name"), "{bad}: {err:#}");
        }
        assert!(!config.exists(), "nothing created");
        assert!(old.exists(), "nothing pruned");
        SessionState::open_in(&config, "..", "alice", "s").err().expect("a gateway of dots");
        assert!(!config.exists());

        let state = SessionState::open_in(&config, "http://h:1", "alice", "s").unwrap();
        let key = state.key.clone();
        let theirs = ["notes.txt", "0123456789abcdef0123456789abcdef.txt", "x.shown", ".x.shown.tmp-1"];
        for name in theirs {
            age(&state.dir.join(name), EXPIRE_DAYS + 1);
        }
        let ours =
            [format!("{key}.shown"), format!("{key}.wake"), format!("{key}.lock"), format!(".{key}.shown.tmp-42")];
        for name in &ours {
            age(&state.dir.join(name), EXPIRE_DAYS + 1);
        }
        let fresh = state.dir.join("ffffffffffffffffffffffffffffffff.shown");
        std::fs::write(&fresh, "1\n").unwrap();
        prune(&state.dir);
        for name in theirs {
            assert!(state.dir.join(name).exists(), "{name} is not ours: kept");
        }
        for name in &ours {
            assert!(!state.dir.join(name).exists(), "{name} expired: deleted");
        }
        assert!(fresh.exists(), "a live session stays");
    }
}
