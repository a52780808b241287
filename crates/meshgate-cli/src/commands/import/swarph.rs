//! Reading the Python swarph gateway's SQLite database (`mesh.db`).
//!
//! The file is opened read-only. Columns that older swarph versions lack
//! read as NULL. What maps to what:
//!
//! - `claude_peers` -> peers (name, url, capabilities, enabled,
//!   registered_at, last_seen, last_health); ratification and owner are
//!   swarph-only and dropped;
//! - `peer_tokens` -> tokens: `token_sha256` is the SHA-256 hex of the raw
//!   token, exactly meshgate's token hash, so peers keep working tokens.
//!   Generations whose latest `peer_token_revocations` action is `revoke`
//!   are skipped (meshgate has no warn-only mode: they would be dead anyway);
//! - `claude_threads` -> threads;
//! - `claude_messages` with `channel IS NULL` -> messages, in id order, with
//!   origin `swarph:<source id>:<id>:<row key>` (see [`origins`]: forks of one
//!   database keep both forks' DMs); channel posts are skipped. The
//!   idempotency key is kept (scoped to `from_node`, as meshgate scopes
//!   keys) and meshgate's digest is computed from the imported fields (the
//!   reference's digest is a different hash), so a retry with the same key
//!   finds the imported message.
//!
//! # Source id
//!
//! `<source id>` is derived from the database's content: the first 16 bytes
//! (hex) of SHA-256 over the lowest-id row of `claude_messages` (id, sender,
//! recipient, created_at, content). It stays the same when the file is
//! moved, copied or backed up, and when the gateway keeps adding messages,
//! so re-importing a newer copy of the same database adds only the new
//! messages. Limits: two databases whose first messages are identical to
//! the microsecond would share an id (practically impossible for different
//! gateways); if that first row is deleted from the swarph database, the id
//! changes and a re-import stores every message again; a database with no
//! messages has a fixed id (it has no message origins to collide).

use std::collections::HashMap;
use std::path::Path;

use anyhow::{Context, Result};
use meshgate_proto::{Kind, Message, Peer, Thread};
use meshgate_store::{parse_timestamp, ImportRecord, ImportStats, MessageRecord, RecordKind, Store, TokenRecord};
use rusqlite::types::Value;
use rusqlite::{Connection, OpenFlags, OptionalExtension};
use sha2::{Digest, Sha256};

mod origins;

use super::Batcher;
use crate::commands::export::{parse_sha256_hex, progress};
use crate::exit::advised;

/// Messages read per query.
const PAGE: i64 = 1000;

const CHANNEL_POST: &str = "channel post (meshgate has direct messages only)";
const REVOKED: &str = "revoked in the source";
const BAD_HASH: &str = "malformed token_sha256 in the source";
const BAD_TIME: &str = "unreadable timestamp in the source";

/// An open swarph database.
pub(crate) struct Source {
    conn: Connection,
    /// The derived source id (32 hex digits), see the module docs.
    pub id: String,
}

impl Source {
    /// Opens `path` read-only and derives its source id.
    pub(crate) fn open(path: &Path) -> Result<Source> {
        // A file that is missing, not SQLite, not swarph's or holds rows
        // swarph never writes is a usage error (exit 2), refused before
        // anything is written.
        if !path.is_file() {
            return Err(advised(format!("no swarph database at {}", path.display())));
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags)
            .with_context(|| format!("opening {} read-only", path.display()))?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        let source = Source { id: String::new(), conn };
        let swarph = source.has_table("claude_messages").and_then(|m| Ok(m && source.has_table("claude_peers")?));
        match swarph {
            Ok(true) => {}
            Ok(false) => {
                return Err(advised(format!(
                    "{} is not a swarph mesh database (no claude_messages / claude_peers table)",
                    path.display()
                )))
            }
            Err(e) => return Err(advised(format!("{} is not a readable SQLite database: {e:#}", path.display()))),
        }
        if let Some(id) = source.first_non_text_message()? {
            return Err(advised(format!(
                "{}: message {id} holds a from_node, to_node or content that is not text (e.g. a BLOB), which \
                 swarph never writes; nothing was imported. Convert it in a copy of the file (e.g. UPDATE \
                 claude_messages SET content = CAST(content AS TEXT)) and import the copy",
                path.display()
            )));
        }
        let id = source.derive_id()?;
        Ok(Source { id, ..source })
    }

    /// The first message whose text columns are not all text.
    fn first_non_text_message(&self) -> Result<Option<i64>> {
        Ok(self
            .conn
            .query_row(
                "SELECT id FROM claude_messages WHERE typeof(from_node) <> 'text' OR typeof(to_node) <> 'text' \
                 OR typeof(content) <> 'text' ORDER BY id LIMIT 1",
                [],
                |r| r.get(0),
            )
            .optional()?)
    }

    fn has_table(&self, table: &str) -> Result<bool> {
        Ok(self
            .conn
            .query_row("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1", [table], |_| Ok(()))
            .optional()?
            .is_some())
    }

    /// `column` if `table` has it, else `NULL` (older swarph schemas).
    fn col(&self, table: &str, column: &str) -> Result<String> {
        let mut s = self.conn.prepare(&format!("SELECT name FROM pragma_table_info('{table}')"))?;
        let names = s.query_map([], |r| r.get::<_, String>(0))?.collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(if names.iter().any(|n| n == column) { column.to_owned() } else { "NULL".to_owned() })
    }

    fn derive_id(&self) -> Result<String> {
        let first: Option<(i64, String, String, String, String)> = self
            .conn
            .query_row(
                "SELECT id, from_node, to_node, CAST(created_at AS TEXT), content FROM claude_messages \
                 ORDER BY id LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
            )
            .optional()?;
        let mut h = Sha256::new();
        h.update(b"swarph-mesh-db\0");
        match first {
            Some((id, from, to, at, content)) => {
                for part in [id.to_string(), from, to, at, content] {
                    h.update((part.len() as u64).to_le_bytes());
                    h.update(part.as_bytes());
                }
            }
            None => h.update(b"no messages"),
        }
        Ok(h.finalize()[..16].iter().map(|b| format!("{b:02x}")).collect())
    }

    fn count(&self, sql: &str) -> Result<u64> {
        Ok(self.conn.query_row(sql, [], |r| r.get::<_, i64>(0))?.max(0) as u64)
    }

    /// Imports everything into `store`, `batch_size` records per transaction.
    pub(crate) async fn import(&self, store: &dyn Store, batch_size: u32) -> Result<ImportStats> {
        let has_tokens = self.has_table("peer_tokens")?;
        let has_revocations = self.has_table("peer_token_revocations")?;
        let has_threads = self.has_table("claude_threads")?;
        let mut total =
            self.count("SELECT count(*) FROM claude_peers")? + self.count("SELECT count(*) FROM claude_messages")?;
        if has_tokens {
            total += self.count("SELECT count(*) FROM peer_tokens")?;
        }
        if has_threads {
            total += self.count("SELECT count(*) FROM claude_threads")?;
        }
        let mut batcher = Batcher::new(store, batch_size, progress(total, "importing"));

        for peer in self.peers()? {
            batcher.push(ImportRecord::Peer(peer)).await?;
        }
        if has_tokens {
            for token in self.tokens(has_revocations)? {
                match token {
                    Ok(t) => batcher.push(ImportRecord::Token(t)).await?,
                    Err(reason) => batcher.skip(RecordKind::Token, reason),
                }
            }
        }
        if has_threads {
            for thread in self.threads()? {
                match thread {
                    Ok(t) => batcher.push(ImportRecord::Thread(t)).await?,
                    Err(reason) => batcher.skip(RecordKind::Thread, reason),
                }
            }
        }
        let legacy = origins::legacy_keys(store, &self.id).await?;
        let mut after = 0;
        loop {
            let page = self.messages(after, &legacy)?;
            let Some((last, _)) = page.last() else { break };
            after = *last;
            for (_, message) in page {
                match message {
                    Ok(m) => batcher.push(ImportRecord::Message(m)).await?,
                    Err(reason) => batcher.skip(RecordKind::Message, &reason),
                }
            }
        }
        batcher.finish().await
    }

    fn peers(&self) -> Result<Vec<Peer>> {
        let t = "claude_peers";
        let sql = format!(
            "SELECT name, url, capabilities, {}, CAST(registered_at AS TEXT), CAST({} AS TEXT), \
             CAST({} AS TEXT) FROM claude_peers ORDER BY name",
            self.col(t, "enabled")?,
            self.col(t, "last_seen")?,
            self.col(t, "last_health")?
        );
        let mut s = self.conn.prepare(&sql)?;
        let rows = s.query_map([], |r| {
            let url: Option<String> = r.get(1)?;
            let caps: Option<String> = r.get(2)?;
            let enabled: Option<i64> = r.get(3)?;
            let registered_at: Option<String> = r.get(4)?;
            let last_seen: Option<String> = r.get(5)?;
            let last_health: Option<String> = r.get(6)?;
            Ok((r.get::<_, String>(0)?, url, caps, enabled, registered_at, last_seen, last_health))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (name, url, caps, enabled, registered_at, last_seen, last_health) = row?;
            let capabilities = match caps.as_deref().map(serde_json::from_str::<serde_json::Value>) {
                Some(Ok(serde_json::Value::Object(map))) => map,
                Some(_) => {
                    tracing::warn!(peer = %name, "capabilities are not a JSON object; imported as {{}}");
                    Default::default()
                }
                None => Default::default(),
            };
            out.push(Peer {
                name,
                url: url.filter(|u| !u.is_empty()),
                capabilities,
                enabled: enabled.unwrap_or(1) != 0,
                registered_at: registered_at.as_deref().and_then(parse_timestamp),
                last_seen: last_seen.as_deref().and_then(parse_timestamp),
                last_health: last_health.as_deref().and_then(parse_timestamp),
                secret_guard: None,
            });
        }
        Ok(out)
    }

    /// Tokens, newest generation of each peer first (if a peer has two live
    /// generations, the newest wins the single live slot meshgate allows).
    fn tokens(&self, has_revocations: bool) -> Result<Vec<Result<TokenRecord, &'static str>>> {
        let revoked = if has_revocations {
            "(SELECT action FROM peer_token_revocations r WHERE r.peer = t.peer \
              AND r.key_generation = t.key_generation ORDER BY r.id DESC LIMIT 1) = 'revoke'"
        } else {
            "0"
        };
        let sql = format!(
            "SELECT peer, token_sha256, key_generation, CAST(minted_at AS TEXT), {revoked} \
             FROM peer_tokens t ORDER BY peer, key_generation DESC"
        );
        let mut s = self.conn.prepare(&sql)?;
        let rows = s.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, Option<String>>(3)?,
                r.get::<_, Option<bool>>(4)?.unwrap_or(false),
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (peer, sha, generation, minted_at, revoked) = row?;
            if revoked {
                out.push(Err(REVOKED));
                continue;
            }
            let Some(hash) = parse_sha256_hex(&sha) else {
                out.push(Err(BAD_HASH));
                continue;
            };
            let Some(created_at) = minted_at.as_deref().and_then(parse_timestamp) else {
                out.push(Err(BAD_TIME));
                continue;
            };
            out.push(Ok(TokenRecord { peer, hash, generation: generation.max(1), created_at, revoked_at: None }));
        }
        Ok(out)
    }

    fn threads(&self) -> Result<Vec<Result<Thread, &'static str>>> {
        let sql = format!(
            "SELECT thread_uuid, thread_name, peer_pair, topic, {}, CAST(created_at AS TEXT), \
             CAST(last_used_at AS TEXT) FROM claude_threads ORDER BY created_at, thread_uuid",
            self.col("claude_threads", "session_id")?
        );
        let mut s = self.conn.prepare(&sql)?;
        let rows = s.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, Option<String>>(3)?,
                r.get::<_, Option<String>>(4)?,
                r.get::<_, Option<String>>(5)?,
                r.get::<_, Option<String>>(6)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (uuid, name, pair, topic, session_id, created_at, last_used_at) = row?;
            let Some(created_at) = created_at.as_deref().and_then(parse_timestamp) else {
                out.push(Err(BAD_TIME));
                continue;
            };
            out.push(Ok(Thread {
                thread_uuid: uuid,
                thread_name: name,
                peer_pair: pair,
                topic: topic.unwrap_or_default(),
                session_id,
                created_at,
                last_used_at: last_used_at.as_deref().and_then(parse_timestamp),
                created: None,
                minted_by: None,
            }));
        }
        Ok(out)
    }

    /// One page of messages after `after`, each with its source id; a
    /// message that cannot be imported carries the reason instead.
    #[allow(clippy::type_complexity)]
    fn messages(&self, after: i64, legacy: &HashMap<i64, String>) -> Result<Vec<(i64, Result<MessageRecord, String>)>> {
        let t = "claude_messages";
        let sql = format!(
            "SELECT id, {}, from_node, to_node, kind, content, {}, {}, CAST(created_at AS TEXT), \
             CAST(read_at AS TEXT), {} FROM claude_messages WHERE id > ?1 ORDER BY id LIMIT ?2",
            self.col(t, "thread_id")?,
            self.col(t, "idempotency_key")?,
            self.col(t, "related_task_id")?,
            self.col(t, "channel")?,
        );
        let mut s = self.conn.prepare(&sql)?;
        let rows = s.query_map([after, PAGE], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, Option<String>>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, String>(5)?,
                r.get::<_, Option<String>>(6)?,
                r.get::<_, Value>(7)?,
                r.get::<_, Option<String>>(8)?,
                r.get::<_, Option<String>>(9)?,
                r.get::<_, Option<String>>(10)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (id, thread_id, from, to, kind, content, key, task, created_at, read_at, channel) = row?;
            if channel.is_some() {
                out.push((id, Err(CHANNEL_POST.to_owned())));
                continue;
            }
            let Ok(kind) = kind.parse::<Kind>() else {
                out.push((id, Err(format!("unknown message kind {kind:?}"))));
                continue;
            };
            let Some(created_at) = created_at.as_deref().and_then(parse_timestamp) else {
                out.push((id, Err(BAD_TIME.to_owned())));
                continue;
            };
            let read_at = match read_at.as_deref().map(parse_timestamp) {
                None => None,
                Some(Some(t)) => Some(t),
                Some(None) => {
                    out.push((id, Err(BAD_TIME.to_owned())));
                    continue;
                }
            };
            let related_task_id = match task {
                Value::Null => None,
                Value::Integer(n) => Some(n.to_string()),
                Value::Real(f) => Some(f.to_string()),
                Value::Text(s) => Some(s),
                Value::Blob(b) => Some(String::from_utf8_lossy(&b).into_owned()),
            };
            let record = MessageRecord {
                message: Message {
                    id,
                    from_node: from,
                    to_node: to,
                    kind,
                    content,
                    created_at,
                    read_at,
                    thread_id: thread_id.filter(|t| !t.is_empty()),
                    related_task_id,
                    owed: false,
                    sender_verified: false,
                },
                idempotency_key: key,
                idempotency_digest: None,
                origin: None,
                ladder: Default::default(),
            };
            let origin = origins::origin(&self.id, &record.message, legacy);
            // meshgate's digest, recomputed from the imported fields.
            let digest = record.idempotency_key.as_ref().map(|_| record.computed_digest());
            out.push((id, Ok(MessageRecord { idempotency_digest: digest, origin: Some(origin), ..record })));
        }
        Ok(out)
    }
}
