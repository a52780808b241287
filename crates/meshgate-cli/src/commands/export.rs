//! `meshgate export`: write everything a meshgate store holds as JSON lines.
//!
//! Also home of what export and import share: the line format ([`Line`]),
//! the store options ([`StoreArgs`]) and the progress bar.
//!
//! # Format
//!
//! One JSON object per line, each with a `type`:
//!
//! - `meta` (first line): `format` (`meshgate-export`), `version` (1),
//!   `store_id`, `schema_version`, `exported_at`;
//! - `peer`: `name`, `url`, `capabilities`, `enabled`, `registered_at`,
//!   `last_seen`, `last_health`;
//! - `token`: `peer`, `token_sha256` (hex; never a raw token), `generation`,
//!   `created_at`, `revoked_at`;
//! - `alias`: `alias`, `canonical`, `created_at`;
//! - `thread`: `thread_uuid`, `thread_name`, `peer_pair`, `topic`,
//!   `session_id`, `created_at`, `last_used_at`, `minted_by` (absent: the
//!   operator's namespace);
//! - `message`: `id`, `from_node`, `to_node`, `kind`, `content`,
//!   `created_at`, `read_at`, `thread_id`, `related_task_id`,
//!   `idempotency_key`, `idempotency_digest`, `origin`, and when set
//!   `delivered_at`, `due_at`, `in_reply_to` (the id in the exporting store)
//!   and `in_reply_to_origin` (that message's origin: an import links the
//!   reply to its copy there; a question's `answer_id` is derived again
//!   from the replies, first answer wins).
//!
//! Records come in that order (peers, tokens, aliases, threads, messages by
//! id), so a file imports in one pass. A message's `origin` is where it
//! first came from: `meshgate:<store_id>:<id>` for one sent to the exporting
//! store, or the origin it was imported with.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use meshgate_proto::{Alias, Kind, Message, Peer, Thread};
use meshgate_store::{now_timestamp, parse_timestamp, ImportRecord, Ladder, MessageRecord, TokenHash, TokenRecord};
use meshgate_store_postgres::{PgOptions, PgSnapshot};
use meshgate_store_sqlite::{FileContents, SqliteStore};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::serve::{open_store, sqlite_path, store_url};
use crate::exit::advised;

mod source;
pub(crate) use source::Source;

/// `format` of the `meta` line.
pub(crate) const FORMAT: &str = "meshgate-export";
/// `version` of the `meta` line this build writes and reads.
pub(crate) const FORMAT_VERSION: i64 = 1;
/// Rows read from the store per query.
const PAGE: u32 = 1000;

/// Which store to work on; the same default as `meshgate serve`.
#[derive(Debug, Clone, clap::Args)]
pub struct StoreArgs {
    /// Store URL: `sqlite:PATH` or `postgres://...` (default: meshgate.db in the data directory, as for `serve`).
    #[arg(long, value_name = "URL", env = "MESHGATE_DB")]
    pub db: Option<String>,

    /// Data directory holding the default database.
    #[arg(long, value_name = "DIR", env = "MESHGATE_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
}

impl StoreArgs {
    /// The store URL these options name.
    pub(crate) fn url(&self) -> String {
        store_url(self.db.as_deref(), self.data_dir.as_deref())
    }
}

/// Options of `meshgate export`.
#[derive(Debug, Clone, clap::Args)]
#[command(after_long_help = "\
Writes every peer, token (SHA-256 hashes only, never raw tokens), alias, thread and
message of the store as JSON lines: one object per line with a `type` field (meta, peer,
token, alias, thread, message). Load the file into any meshgate store (SQLite or
PostgreSQL) with `meshgate import FILE`. The export is read while the store may be in use:
messages committed after it started may be left out.

The file given with -o is created (or narrowed to) mode 0600: it holds every DM.

Examples:
  meshgate export -o mesh.jsonl
  meshgate export --db postgres://meshgate@db/meshgate -o - | gzip > mesh.jsonl.gz")]
pub struct Args {
    #[command(flatten)]
    pub store: StoreArgs,

    /// Write to this file (`-` for stdout, the default).
    #[arg(short, long, value_name = "FILE", default_value = "-")]
    pub output: PathBuf,
}

/// One line of the export format.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum Line {
    /// The header.
    Meta(MetaLine),
    /// A peer.
    Peer(PeerLine),
    /// A token hash.
    Token(TokenLine),
    /// An alias.
    Alias(AliasLine),
    /// A thread.
    Thread(ThreadLine),
    /// A message.
    Message(MessageLine),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct MetaLine {
    pub format: String,
    pub version: i64,
    pub store_id: String,
    #[serde(default)]
    pub schema_version: Option<i64>,
    #[serde(default)]
    pub exported_at: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct PeerLine {
    pub name: String,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub capabilities: Map<String, Value>,
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default)]
    pub registered_at: Option<String>,
    #[serde(default)]
    pub last_seen: Option<String>,
    #[serde(default)]
    pub last_health: Option<String>,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct TokenLine {
    pub peer: String,
    pub token_sha256: String,
    pub generation: i64,
    pub created_at: String,
    #[serde(default)]
    pub revoked_at: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct AliasLine {
    pub alias: String,
    pub canonical: String,
    #[serde(default)]
    pub created_at: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct ThreadLine {
    pub thread_uuid: String,
    pub thread_name: String,
    pub peer_pair: String,
    #[serde(default)]
    pub topic: String,
    #[serde(default)]
    pub session_id: Option<String>,
    pub created_at: String,
    #[serde(default)]
    pub last_used_at: Option<String>,
    /// The minting peer (absent: the operator's shared namespace).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minted_by: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct MessageLine {
    pub id: i64,
    pub from_node: String,
    pub to_node: String,
    pub kind: String,
    pub content: String,
    pub created_at: String,
    #[serde(default)]
    pub read_at: Option<String>,
    #[serde(default)]
    pub thread_id: Option<String>,
    #[serde(default)]
    pub related_task_id: Option<String>,
    #[serde(default)]
    pub idempotency_key: Option<String>,
    #[serde(default)]
    pub idempotency_digest: Option<String>,
    #[serde(default)]
    pub origin: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivered_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_reply_to: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_reply_to_origin: Option<String>,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Parses 64 hex digits.
pub(crate) fn parse_sha256_hex(text: &str) -> Option<TokenHash> {
    let text = text.trim();
    if text.len() != 64 || !text.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(TokenHash(out))
}

impl Line {
    /// The line of a store record; messages without an origin get
    /// `meshgate:<store_id>:<id>`.
    pub(crate) fn from_record(record: ImportRecord, store_id: &str) -> Line {
        match record {
            ImportRecord::Peer(p) => Line::Peer(PeerLine {
                name: p.name,
                url: p.url,
                capabilities: p.capabilities,
                enabled: p.enabled,
                registered_at: p.registered_at,
                last_seen: p.last_seen,
                last_health: p.last_health,
            }),
            ImportRecord::Token(t) => Line::Token(TokenLine {
                peer: t.peer,
                token_sha256: hex(&t.hash.0),
                generation: t.generation,
                created_at: t.created_at,
                revoked_at: t.revoked_at,
            }),
            ImportRecord::Alias(a) => {
                Line::Alias(AliasLine { alias: a.alias, canonical: a.canonical, created_at: a.created_at })
            }
            ImportRecord::Thread(t) => Line::Thread(ThreadLine {
                thread_uuid: t.thread_uuid,
                thread_name: t.thread_name,
                peer_pair: t.peer_pair,
                topic: t.topic,
                session_id: t.session_id,
                created_at: t.created_at,
                last_used_at: t.last_used_at,
                minted_by: t.minted_by,
            }),
            ImportRecord::Message(m) => {
                let origin = m.origin.unwrap_or_else(|| format!("meshgate:{store_id}:{}", m.message.id));
                let msg = m.message;
                Line::Message(MessageLine {
                    id: msg.id,
                    from_node: msg.from_node,
                    to_node: msg.to_node,
                    kind: msg.kind.as_str().to_owned(),
                    content: msg.content,
                    created_at: msg.created_at,
                    read_at: msg.read_at,
                    thread_id: msg.thread_id,
                    related_task_id: msg.related_task_id,
                    idempotency_key: m.idempotency_key,
                    idempotency_digest: m.idempotency_digest,
                    origin: Some(origin),
                    delivered_at: m.ladder.delivered_at,
                    due_at: m.ladder.due_at,
                    in_reply_to: m.ladder.in_reply_to,
                    in_reply_to_origin: m.ladder.in_reply_to_origin,
                })
            }
        }
    }

    /// The store record of a data line (`None` for `meta`); `source_id` is
    /// the `meta` line's store id, for messages without an origin. Timestamps
    /// are normalised; a malformed field is an error.
    pub(crate) fn into_record(self, source_id: &str) -> Result<Option<ImportRecord>> {
        Ok(Some(match self {
            Line::Meta(_) => return Ok(None),
            Line::Peer(p) => ImportRecord::Peer(Peer {
                name: p.name,
                url: p.url,
                capabilities: p.capabilities,
                enabled: p.enabled,
                registered_at: opt_ts(p.registered_at)?,
                last_seen: opt_ts(p.last_seen)?,
                last_health: opt_ts(p.last_health)?,
                secret_guard: None,
            }),
            Line::Token(t) => ImportRecord::Token(TokenRecord {
                hash: parse_sha256_hex(&t.token_sha256)
                    .with_context(|| format!("token_sha256 of {:?} is not 64 hex digits", t.peer))?,
                peer: t.peer,
                generation: t.generation,
                created_at: ts(&t.created_at)?,
                revoked_at: opt_ts(t.revoked_at)?,
            }),
            Line::Alias(a) => {
                ImportRecord::Alias(Alias { alias: a.alias, canonical: a.canonical, created_at: opt_ts(a.created_at)? })
            }
            Line::Thread(t) => ImportRecord::Thread(Thread {
                thread_uuid: t.thread_uuid,
                thread_name: t.thread_name,
                peer_pair: t.peer_pair,
                topic: t.topic,
                session_id: t.session_id,
                created_at: ts(&t.created_at)?,
                last_used_at: opt_ts(t.last_used_at)?,
                created: None,
                minted_by: t.minted_by,
            }),
            Line::Message(m) => {
                let kind: Kind = m.kind.parse().map_err(|_| anyhow::anyhow!("unknown message kind {:?}", m.kind))?;
                let origin = m.origin.unwrap_or_else(|| format!("meshgate:{source_id}:{}", m.id));
                ImportRecord::Message(MessageRecord {
                    message: Message {
                        id: m.id,
                        from_node: m.from_node,
                        to_node: m.to_node,
                        kind,
                        content: m.content,
                        created_at: ts(&m.created_at)?,
                        read_at: opt_ts(m.read_at)?,
                        thread_id: m.thread_id,
                        related_task_id: m.related_task_id,
                        owed: false,
                        sender_verified: false,
                    },
                    idempotency_key: m.idempotency_key,
                    idempotency_digest: m.idempotency_digest,
                    origin: Some(origin),
                    ladder: Ladder {
                        delivered_at: opt_ts(m.delivered_at)?,
                        due_at: opt_ts(m.due_at)?,
                        answer_id: None,
                        in_reply_to: m.in_reply_to,
                        in_reply_to_origin: m
                            .in_reply_to_origin
                            .or_else(|| m.in_reply_to.map(|id| format!("meshgate:{source_id}:{id}"))),
                    },
                })
            }
        }))
    }
}

/// A normalised timestamp, or an error naming the text.
pub(crate) fn ts(text: &str) -> Result<String> {
    parse_timestamp(text).with_context(|| format!("{text:?} is not a timestamp"))
}

fn opt_ts(text: Option<String>) -> Result<Option<String>> {
    text.as_deref().map(ts).transpose()
}

/// A progress bar on stderr, drawn only when stderr is a terminal; `len`
/// 0 makes a spinner.
pub(crate) fn progress(len: u64, what: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = if len == 0 {
        ProgressBar::new_spinner()
            .with_style(ProgressStyle::with_template("{spinner} {msg} {pos} records [{elapsed}]").expect("template"))
    } else {
        ProgressBar::new(len).with_style(
            ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} ({percent}%) eta {eta}")
                .expect("template")
                .progress_chars("=> "),
        )
    };
    bar.set_draw_target(ProgressDrawTarget::stderr());
    bar.set_message(what.to_owned());
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

/// Runs `meshgate export`.
pub async fn run(args: Args) -> Result<u8> {
    let url = args.store.url();
    let source = match sqlite_path(&url) {
        Some(path) => {
            if !path.exists() {
                return Err(advised(format!("no store at {}: pass --db or --data-dir", path.display())));
            }
            if super::store_boundary::check_store_file(&path)? == FileContents::Empty {
                return Err(advised(format!("{} holds no meshgate data (no tables)", path.display())));
            }
            // Read-only: an export changes nothing in the file it reads.
            let store = tokio::task::spawn_blocking(move || SqliteStore::open_read_only(&path, 2))
                .await?
                .context("opening the SQLite store read-only")?;
            Source::Store(Arc::new(store))
        }
        // One read-only transaction: a consistent snapshot that cannot
        // write (nor migrate).
        None if url.starts_with("postgres://") || url.starts_with("postgresql://") => Source::Pg(Box::new(
            PgSnapshot::open(&url, PgOptions::default())
                .await
                .context("opening a read-only snapshot of the PostgreSQL store")?,
        )),
        None => Source::Store(open_store(&url).await?.0),
    };
    let mut out: Box<dyn Write + Send> = if args.output.as_os_str() == "-" {
        Box::new(std::io::BufWriter::new(std::io::stdout()))
    } else {
        let file = private_file(&args.output).with_context(|| format!("creating {}", args.output.display()))?;
        Box::new(std::io::BufWriter::new(file))
    };
    let counts = export(&source, &mut out).await?;
    out.flush().context("writing the export")?;
    drop(out);
    source.finish().await.context("ending the export's snapshot")?;
    let summary: Vec<String> = counts.iter().map(|(kind, n)| format!("{n} {kind}")).collect();
    eprintln!("meshgate: exported {} from {}", summary.join(", "), redact(&url));
    Ok(crate::exit::OK)
}

/// Creates (or truncates) `path` for writing, readable by this user only:
/// an export holds every DM and token hash. A new file is created 0600
/// whatever the umask; an existing one is narrowed to 0600 before anything
/// is written to it.
fn private_file(path: &std::path::Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        options.mode(0o600);
        let file = options.open(path)?;
        if file.metadata()?.file_type().is_file() {
            file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        }
        Ok(file)
    }
    #[cfg(not(unix))]
    options.open(path)
}

/// `url` without a password.
pub(crate) fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

fn write_line(out: &mut dyn Write, line: &Line) -> Result<()> {
    serde_json::to_writer(&mut *out, line).context("encoding a record")?;
    out.write_all(b"\n").context("writing the export")
}

/// Writes the whole store to `out`; returns the count per record type.
pub(crate) async fn export(store: &Source, out: &mut dyn Write) -> Result<Vec<(&'static str, u64)>> {
    let store_id = store.store_id().await.context("reading the store id")?;
    let newest = store.newest().await.context("reading the newest message id")?;
    write_line(
        out,
        &Line::Meta(MetaLine {
            format: FORMAT.into(),
            version: FORMAT_VERSION,
            store_id: store_id.clone(),
            schema_version: Some(store.schema_version().await?),
            exported_at: Some(now_timestamp()),
        }),
    )?;
    let bar = progress(newest.max(0) as u64, "exporting messages");
    let mut counts = vec![("peers", 0u64), ("tokens", 0), ("aliases", 0), ("threads", 0), ("messages", 0)];
    let mut emit = |out: &mut dyn Write, idx: usize, record: ImportRecord| -> Result<()> {
        counts[idx].1 += 1;
        write_line(out, &Line::from_record(record, &store_id))
    };
    for p in store.list_peers().await.context("reading peers")? {
        emit(out, 0, ImportRecord::Peer(p))?;
    }
    for t in store.export_tokens().await.context("reading tokens")? {
        emit(out, 1, ImportRecord::Token(t))?;
    }
    for a in store.aliases().await.context("reading aliases")? {
        emit(out, 2, ImportRecord::Alias(a))?;
    }
    let mut after: Option<String> = None;
    loop {
        let page = store.export_threads(after.as_deref(), PAGE).await.context("reading threads")?;
        let Some(last) = page.last() else { break };
        after = Some(last.thread_uuid.clone());
        for t in page {
            emit(out, 3, ImportRecord::Thread(t))?;
        }
    }
    let mut after_id = 0;
    loop {
        let page = store.export_messages(after_id, PAGE).await.context("reading messages")?;
        let Some(last) = page.last() else { break };
        after_id = last.message.id;
        for m in page {
            emit(out, 4, ImportRecord::Message(m))?;
        }
        bar.set_position(after_id.min(newest).max(0) as u64);
    }
    bar.finish_and_clear();
    Ok(counts)
}
