//! `meshgate watch [--json] [--exec CMD] [--mark-read] [--state FILE] [--from-start]`
//!
//! Follows the inbox live (Server-Sent Events, reconnecting and resuming by
//! id) and delivers each DM once: printed (a block per message, or one JSON
//! line with `--json`) or handed to `--exec CMD` (`sh -c CMD`, message JSON
//! on stdin, `MESH_MSG_*` in the environment).
//!
//! Delivery guarantees:
//!
//! - The last delivered id is written (atomically) to the state file after
//!   each successful delivery, and a restart resumes after it: nothing is
//!   lost or repeated across restarts.
//! - A message counts as delivered when CMD exits 0 (or once it is printed).
//!   If CMD fails, `watch` stops with exit code 1 *without* acknowledging the
//!   message (no state update, no mark-read), so the next `watch` starts with
//!   it again: nothing is skipped.
//! - If `watch` itself is killed while CMD runs, that one message is run
//!   again on restart: delivery is at-least-once for the message in flight,
//!   exactly-once otherwise. Make CMD idempotent (e.g. key on
//!   `MESH_MSG_ID`) if a repeat matters.
//! - `--mark-read` marks a message read only after it was delivered; a
//!   failure to mark it is logged and does not stop the watch.
//!
//! Without a state file, the watch starts with messages arriving from now on
//! (and records "now" at once, so a restart loses nothing); with
//! `--from-start` it first delivers every unread message, oldest first.
//! Ctrl-C (or SIGTERM) exits 0; a message being delivered at that moment is
//! finished first, or left unacknowledged if CMD was interrupted.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::pin::pin;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use futures_util::StreamExt;
use meshgate_client::{Client, Error as ClientError, Message, StreamStart, WaitOptions};
use tokio::io::AsyncWriteExt;
use tokio::sync::Notify;

use super::Global;
use crate::exit::{advised, OK, REFUSED};
use crate::output::message_block;
use crate::tokens::{config_dir, gateway_dir_name};

/// Arguments of `watch`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print each message as one JSON line (a `GET /messages` row).
    #[arg(long, conflicts_with = "exec")]
    pub json: bool,

    /// Run CMD with `sh -c` once per message: the message JSON on stdin and
    /// MESH_MSG_ID, MESH_MSG_FROM, MESH_MSG_TO, MESH_MSG_KIND, MESH_MSG_THREAD_ID,
    /// MESH_MSG_CREATED_AT in the environment. A non-zero exit stops the watch (exit 1) and leaves the message
    /// unacknowledged, so the next watch starts with it.
    #[arg(long, value_name = "CMD")]
    pub exec: Option<String>,

    /// Mark each message read once delivered (CMD exited 0, or it was printed).
    #[arg(long)]
    pub mark_read: bool,

    /// Where the last delivered id is kept (default: `<config dir>/watch/<host-port>/<NAME>.last-id`).
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,

    /// With no state file yet: deliver every unread message first (oldest first) instead of only new ones.
    #[arg(long)]
    pub from_start: bool,
}

/// Runs `watch`: exit 0 on Ctrl-C/SIGTERM, 1 when CMD fails, the usual codes
/// for gateway errors.
pub async fn run(args: Args, global: &Global) -> Result<u8> {
    let client = global.client().await?;
    let state = StateFile {
        path: match &args.state {
            Some(path) => path.clone(),
            None => default_state_path(&global.gateway, client.node())?,
        },
    };
    let _lock = state.lock()?;
    let interrupt = Interrupt::install();
    let watcher = Watcher { client: &client, args: &args, state: &state, interrupt: &interrupt };

    let start = match state.load().await? {
        Some(id) => {
            tracing::info!(after = id, state = %state.path.display(), "resuming the watch");
            id
        }
        None => {
            let now = client.latest_id(None).await.context("reading the inbox position")?;
            if args.from_start {
                if let Some(code) = watcher.backlog(now).await? {
                    return Ok(code);
                }
            }
            state.save(now).await?;
            now
        }
    };
    watcher.follow(start).await
}

/// `<config>/watch/<host-port>/<NAME>.last-id`.
fn default_state_path(gateway: &str, node: &str) -> Result<PathBuf> {
    Ok(config_dir()?.join("watch").join(gateway_dir_name(gateway)).join(format!("{node}.last-id")))
}

struct Watcher<'a> {
    client: &'a Client,
    args: &'a Args,
    state: &'a StateFile,
    interrupt: &'a Interrupt,
}

/// How one delivery ended when it did not succeed.
enum Undelivered {
    /// CMD failed: stop with this exit code.
    Stop(u8),
}

impl Watcher<'_> {
    /// Delivers the unread messages up to `now`, oldest first; `Some(code)`
    /// when the watch must stop.
    async fn backlog(&self, now: i64) -> Result<Option<u8>> {
        let mut cursor = 0;
        loop {
            let page = self
                .client
                .wait(WaitOptions::new().after(cursor).unread_only(true).timeout(Duration::ZERO).limit(1000))
                .await
                .context("reading the unread messages")?;
            let Some(last) = page.last().map(|m| m.id) else { return Ok(None) };
            for message in page.iter().filter(|m| m.id <= now) {
                if self.interrupt.fired() {
                    return Ok(Some(OK));
                }
                if let Err(Undelivered::Stop(code)) = self.deliver(message).await? {
                    return Ok(Some(code));
                }
            }
            if last >= now {
                return Ok(None);
            }
            cursor = last;
        }
    }

    /// Follows the inbox after `start` until interrupted or an error.
    async fn follow(&self, start: i64) -> Result<u8> {
        let mut inbox = pin!(self.client.stream(StreamStart::After(start)).await?);
        loop {
            let item = tokio::select! {
                biased;
                _ = self.interrupt.notified() => return Ok(OK),
                item = inbox.next() => item,
            };
            match item {
                Some(Ok(message)) => {
                    if let Err(Undelivered::Stop(code)) = self.deliver(&message).await? {
                        return Ok(code);
                    }
                    if self.interrupt.fired() {
                        return Ok(OK);
                    }
                }
                Some(Err(e)) => return Err(e).context("following the inbox"),
                None => bail!("the message stream ended unexpectedly"),
            }
        }
    }

    /// Delivers one message and acknowledges it (mark-read, state).
    async fn deliver(&self, message: &Message) -> Result<std::result::Result<(), Undelivered>> {
        if let Some(command) = &self.args.exec {
            let status = run_command(command, message).await?;
            if !status.success() {
                if self.interrupt.fired() {
                    eprintln!(
                        "meshgate: interrupted while running --exec for message #{}; it stays unacknowledged",
                        message.id
                    );
                    return Ok(Err(Undelivered::Stop(OK)));
                }
                eprintln!(
                    "meshgate: --exec failed for message #{} ({status}); stopping without acknowledging it, \
                     the next watch starts with it",
                    message.id
                );
                return Ok(Err(Undelivered::Stop(REFUSED)));
            }
        } else {
            let text = if self.args.json { serde_json::to_string(message)? } else { message_block(message) };
            let mut stdout = std::io::stdout().lock();
            writeln!(stdout, "{text}").and_then(|()| stdout.flush()).context("writing to stdout")?;
        }
        if self.args.mark_read {
            match self.client.mark_read(message.id).await {
                Ok(_) => {}
                Err(e @ ClientError::Auth { .. }) => return Err(e).context("marking the message read"),
                Err(e) => tracing::warn!(id = message.id, error = %e, "delivered, but could not mark it read"),
            }
        }
        self.state.save(message.id).await?;
        Ok(Ok(()))
    }
}

/// Runs `sh -c CMD` with the message on stdin and in `MESH_MSG_*`.
async fn run_command(command: &str, message: &Message) -> Result<std::process::ExitStatus> {
    let json = serde_json::to_string(message)?;
    let mut child = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(command)
        .env("MESH_MSG_ID", message.id.to_string())
        .env("MESH_MSG_FROM", &message.from_node)
        .env("MESH_MSG_TO", &message.to_node)
        .env("MESH_MSG_KIND", message.kind.to_string())
        .env("MESH_MSG_THREAD_ID", message.thread_id.as_deref().unwrap_or_default())
        .env("MESH_MSG_CREATED_AT", &message.created_at)
        .stdin(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting `sh -c {command}`"))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A command that does not read its stdin closes the pipe early: fine.
        let _ = stdin.write_all(json.as_bytes()).await;
        let _ = stdin.write_all(b"\n").await;
        drop(stdin);
    }
    child.wait().await.context("waiting for the --exec command")
}

/// The last delivered id, on disk.
struct StateFile {
    path: PathBuf,
}

impl StateFile {
    async fn load(&self) -> Result<Option<i64>> {
        match tokio::fs::read_to_string(&self.path).await {
            Ok(text) => text.trim().parse::<i64>().map(Some).map_err(|_| {
                anyhow::anyhow!(
                    "state file {} does not hold a message id; fix or delete it (deleting starts from now)",
                    self.path.display()
                )
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("reading {}", self.path.display())),
        }
    }

    /// Takes the state file for this process: two watchers advancing one
    /// cursor would each skip what the other delivered. The lock is on
    /// `<state>.lock` (the state file itself is replaced on every save) and
    /// goes away with the process, even on SIGKILL.
    fn lock(&self) -> Result<std::fs::File> {
        let dir = self.path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let mut name = self.path.as_os_str().to_owned();
        name.push(".lock");
        let path = PathBuf::from(name);
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))?;
        match file.try_lock() {
            Ok(()) => Ok(file),
            Err(std::fs::TryLockError::WouldBlock) => Err(advised(format!(
                "another `meshgate watch` is using the state file {}; give this one its own --state",
                self.path.display()
            ))),
            Err(std::fs::TryLockError::Error(e)) => Err(e).with_context(|| format!("locking {}", path.display())),
        }
    }

    /// Replaces the file atomically (write a temp file, fsync, rename).
    async fn save(&self, id: i64) -> Result<()> {
        let dir = self.path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        tokio::fs::create_dir_all(dir).await.with_context(|| format!("creating {}", dir.display()))?;
        let name = self.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let temp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
        let mut file = tokio::fs::File::create(&temp).await.with_context(|| format!("creating {}", temp.display()))?;
        file.write_all(format!("{id}\n").as_bytes()).await?;
        file.sync_all().await?;
        drop(file);
        tokio::fs::rename(&temp, &self.path).await.with_context(|| format!("writing {}", self.path.display()))?;
        Ok(())
    }
}

/// Ctrl-C / SIGTERM, observed between deliveries.
struct Interrupt {
    fired: Arc<AtomicBool>,
    notify: Arc<Notify>,
}

impl Interrupt {
    fn install() -> Interrupt {
        let fired = Arc::new(AtomicBool::new(false));
        let notify = Arc::new(Notify::new());
        let (flag, wake) = (Arc::clone(&fired), Arc::clone(&notify));
        tokio::spawn(async move {
            super::serve::shutdown_signal().await;
            flag.store(true, Ordering::SeqCst);
            wake.notify_one();
        });
        Interrupt { fired, notify }
    }

    fn fired(&self) -> bool {
        self.fired.load(Ordering::SeqCst)
    }

    async fn notified(&self) {
        if self.fired() {
            return;
        }
        self.notify.notified().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn state_file_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateFile { path: dir.path().join("a/b/lab-ovh.last-id") };
        assert_eq!(state.load().await.unwrap(), None);
        state.save(41).await.unwrap();
        state.save(42).await.unwrap();
        assert_eq!(state.load().await.unwrap(), Some(42));
        assert_eq!(std::fs::read_dir(dir.path().join("a/b")).unwrap().count(), 1, "no temp file left");
        std::fs::write(&state.path, "junk").unwrap();
        assert!(state.load().await.is_err());
    }

    #[test]
    fn default_state_path_is_per_gateway_and_name() {
        std::env::set_var("MESHGATE_CONFIG_DIR", "/cfg");
        let path = default_state_path("http://127.0.0.1:8788", "lab-ovh").unwrap();
        assert_eq!(path, PathBuf::from("/cfg/watch/127.0.0.1-8788/lab-ovh.last-id"));
    }
}
