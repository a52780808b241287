//! Export and import: whole-store records, merged idempotently.

use meshgate_proto::{Alias, Peer, Thread};
use meshgate_store::{
    now_timestamp, own_origin_id, skip, ImportOutcome, ImportRecord, ImportStats, MessageRecord, StoreError,
    StoreResult, TokenHash, TokenRecord,
};
use rusqlite::{params, Connection, OptionalExtension, Row};

use super::identity::alias_exists;
use super::messages::message;
use super::peers::{live_generation, peer_exists};
use super::receipts::{import_ladder, row_ladder, LADDER_COLS};
use super::threads::{register_thread, thread, thread_by_name};
use super::{conversion, row_message, row_thread, MSG_COLS, THREAD_COLS};
use crate::error::Db;
use crate::writer::WriteCtx;

pub(crate) fn store_id(c: &Connection) -> StoreResult<String> {
    c.prepare_cached("SELECT value FROM meta WHERE key = 'store_id'")
        .and_then(|mut s| s.query_row([], |r| r.get(0)))
        .db()
}

fn row_token(r: &Row<'_>) -> rusqlite::Result<TokenRecord> {
    let hash: Vec<u8> = r.get(1)?;
    let hash: [u8; 32] = hash.try_into().map_err(|_| {
        conversion(1, std::io::Error::new(std::io::ErrorKind::InvalidData, "token hash is not 32 bytes"))
    })?;
    Ok(TokenRecord {
        peer: r.get(0)?,
        hash: TokenHash(hash),
        generation: r.get(2)?,
        created_at: r.get(3)?,
        revoked_at: r.get(4)?,
    })
}

pub(crate) fn export_tokens(c: &Connection) -> StoreResult<Vec<TokenRecord>> {
    let mut s = c
        .prepare_cached(
            "SELECT peer, token_hash, generation, created_at, revoked_at FROM peer_tokens ORDER BY peer, generation",
        )
        .db()?;
    let rows = s.query_map([], row_token).db()?;
    rows.collect::<rusqlite::Result<Vec<_>>>().db()
}

pub(crate) fn export_threads(c: &Connection, after: Option<&str>, limit: u32) -> StoreResult<Vec<Thread>> {
    let limit = if limit == 0 { -1 } else { i64::from(limit) };
    let mut s = c
        .prepare_cached(&format!("{THREAD_COLS} WHERE thread_uuid > coalesce(?1, '') ORDER BY thread_uuid LIMIT ?2"))
        .db()?;
    let rows = s.query_map(params![after, limit], row_thread).db()?;
    rows.collect::<rusqlite::Result<Vec<_>>>().db()
}

pub(crate) fn export_messages(c: &Connection, after_id: i64, limit: u32) -> StoreResult<Vec<MessageRecord>> {
    let limit = if limit == 0 { -1 } else { i64::from(limit) };
    let mut s = c
        .prepare_cached(&format!(
            "SELECT {MSG_COLS}, idempotency_key, idempotency_digest, origin, {LADDER_COLS} FROM messages m \
             WHERE id > ?1 ORDER BY id LIMIT ?2"
        ))
        .db()?;
    let rows = s
        .query_map(params![after_id, limit], |r| {
            Ok(MessageRecord {
                message: row_message(r)?,
                idempotency_key: r.get(11)?,
                idempotency_digest: r.get(12)?,
                origin: r.get(13)?,
                ladder: row_ladder(r, 14)?,
            })
        })
        .db()?;
    rows.collect::<rusqlite::Result<Vec<_>>>().db()
}

// ---------------------------------------------------------------- import

pub(crate) fn import_batch(ctx: &mut WriteCtx, batch: Vec<ImportRecord>) -> StoreResult<ImportStats> {
    let own = store_id(&ctx.conn)?;
    let mut stats = ImportStats::default();
    for record in batch {
        let kind = record.kind();
        let outcome = match record {
            ImportRecord::Peer(p) => {
                ctx.names_changed();
                import_peer(&ctx.conn, &p)?
            }
            ImportRecord::Token(t) => import_token(&ctx.conn, &t)?,
            ImportRecord::Alias(a) => {
                ctx.names_changed();
                import_alias(&ctx.conn, &a)?
            }
            ImportRecord::Thread(t) => import_thread(&ctx.conn, &t)?,
            ImportRecord::Message(m) => {
                let outcome = import_message(&ctx.conn, &own, &m)?;
                if outcome == ImportOutcome::Imported {
                    ctx.inserted_messages = true;
                }
                outcome
            }
        };
        stats.record(kind, outcome);
    }
    Ok(stats)
}

fn import_peer(c: &Connection, p: &Peer) -> StoreResult<ImportOutcome> {
    if alias_exists(c, &p.name)? {
        return Ok(ImportOutcome::Skipped(skip::PEER_IS_ALIAS));
    }
    let caps = serde_json::to_string(&p.capabilities)
        .map_err(|e| StoreError::Backend(format!("encoding capabilities: {e}")))?;
    let registered_at = p.registered_at.clone().unwrap_or_else(now_timestamp);
    let inserted = c
        .prepare_cached(
            "INSERT INTO peers (name, url, capabilities, enabled, registered_at, last_seen, last_health) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (name) DO NOTHING",
        )
        .and_then(|mut s| {
            s.execute(params![p.name, p.url, caps, p.enabled as i64, registered_at, p.last_seen, p.last_health])
        })
        .db()?;
    if inserted == 1 {
        return Ok(ImportOutcome::Imported);
    }
    c.prepare_cached(
        "UPDATE peers SET registered_at = min(registered_at, ?2), \
         last_seen = CASE WHEN ?3 IS NOT NULL AND (last_seen IS NULL OR last_seen < ?3) THEN ?3 ELSE last_seen END, \
         last_health = CASE WHEN ?4 IS NOT NULL AND (last_health IS NULL OR last_health < ?4) THEN ?4 \
                       ELSE last_health END \
         WHERE name = ?1",
    )
    .and_then(|mut s| s.execute(params![p.name, registered_at, p.last_seen, p.last_health]))
    .db()?;
    Ok(ImportOutcome::Present)
}

fn import_token(c: &Connection, t: &TokenRecord) -> StoreResult<ImportOutcome> {
    let existing: Option<Option<String>> = c
        .prepare_cached("SELECT revoked_at FROM peer_tokens WHERE token_hash = ?1")
        .and_then(|mut s| s.query_row([&t.hash.0[..]], |r| r.get(0)).optional())
        .db()?;
    if let Some(revoked) = existing {
        if revoked.is_none() && t.revoked_at.is_some() {
            c.prepare_cached("UPDATE peer_tokens SET revoked_at = ?2 WHERE token_hash = ?1")
                .and_then(|mut s| s.execute(params![&t.hash.0[..], t.revoked_at]))
                .db()?;
        }
        return Ok(ImportOutcome::Present);
    }
    let taken = c
        .prepare_cached("SELECT 1 FROM peer_tokens WHERE peer = ?1 AND generation = ?2")
        .and_then(|mut s| s.exists(params![t.peer, t.generation]))
        .db()?;
    if taken {
        return Ok(ImportOutcome::Skipped(skip::GENERATION_TAKEN));
    }
    if t.revoked_at.is_none() && live_generation(c, &t.peer)?.is_some() {
        return Ok(ImportOutcome::Skipped(skip::PEER_HAS_LIVE_TOKEN));
    }
    c.prepare_cached(
        "INSERT INTO peer_tokens (peer, token_hash, generation, created_at, revoked_at) VALUES (?1, ?2, ?3, ?4, ?5)",
    )
    .and_then(|mut s| s.execute(params![t.peer, &t.hash.0[..], t.generation, t.created_at, t.revoked_at]))
    .db()?;
    Ok(ImportOutcome::Imported)
}

fn import_alias(c: &Connection, a: &Alias) -> StoreResult<ImportOutcome> {
    let existing: Option<String> = c
        .prepare_cached("SELECT canonical FROM aliases WHERE alias = ?1")
        .and_then(|mut s| s.query_row([&a.alias], |r| r.get(0)).optional())
        .db()?;
    match existing {
        Some(canonical) if canonical == a.canonical => return Ok(ImportOutcome::Present),
        Some(_) => return Ok(ImportOutcome::Skipped(skip::ALIAS_ELSEWHERE)),
        None => {}
    }
    if peer_exists(c, &a.alias)? {
        return Ok(ImportOutcome::Skipped(skip::ALIAS_IS_PEER));
    }
    if !peer_exists(c, &a.canonical)? {
        return Ok(ImportOutcome::Skipped(skip::ALIAS_UNKNOWN_PEER));
    }
    let created_at = a.created_at.clone().unwrap_or_else(now_timestamp);
    c.prepare_cached("INSERT INTO aliases (alias, canonical, created_at) VALUES (?1, ?2, ?3)")
        .and_then(|mut s| s.execute(params![a.alias, a.canonical, created_at]))
        .db()?;
    Ok(ImportOutcome::Imported)
}

fn import_thread(c: &Connection, t: &Thread) -> StoreResult<ImportOutcome> {
    if thread(c, &t.thread_uuid)?.is_some() {
        c.prepare_cached(
            "UPDATE threads SET session_id = coalesce(session_id, ?2), \
             last_used_at = CASE WHEN ?3 IS NOT NULL AND (last_used_at IS NULL OR last_used_at < ?3) THEN ?3 \
                            ELSE last_used_at END \
             WHERE thread_uuid = ?1",
        )
        .and_then(|mut s| s.execute(params![t.thread_uuid, t.session_id, t.last_used_at]))
        .db()?;
        return Ok(ImportOutcome::Present);
    }
    if thread_by_name(c, &t.thread_name, t.minted_by.as_deref())?.is_some() {
        return Ok(ImportOutcome::Skipped(skip::THREAD_NAME_TAKEN));
    }
    c.prepare_cached(
        "INSERT INTO threads (thread_uuid, thread_name, peer_pair, topic, session_id, created_at, last_used_at, \
         minted_by) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )
    .and_then(|mut s| {
        s.execute(params![
            t.thread_uuid,
            t.thread_name,
            t.peer_pair,
            t.topic,
            t.session_id,
            t.created_at,
            t.last_used_at,
            t.minted_by
        ])
    })
    .db()?;
    Ok(ImportOutcome::Imported)
}

/// Gives the stored message `id` the record's `read_at` if it is unread.
fn merge_read(c: &Connection, id: i64, read_at: Option<&str>) -> StoreResult<()> {
    if let Some(read_at) = read_at {
        c.prepare_cached("UPDATE messages SET read_at = ?2 WHERE id = ?1 AND read_at IS NULL")
            .and_then(|mut s| s.execute(params![id, read_at]))
            .db()?;
    }
    Ok(())
}

fn import_message(c: &Connection, own_store_id: &str, m: &MessageRecord) -> StoreResult<ImportOutcome> {
    let Some(origin) = &m.origin else {
        return Ok(ImportOutcome::Skipped(skip::NO_ORIGIN));
    };
    let msg = &m.message;
    let read_at = msg.read_at.as_deref();
    let by_origin: Option<i64> = c
        .prepare_cached("SELECT id FROM messages WHERE origin = ?1")
        .and_then(|mut s| s.query_row([origin], |r| r.get(0)).optional())
        .db()?;
    let own = own_origin_id(origin, own_store_id).filter(|&id| message(c, id).ok().flatten().is_some());
    if let Some(id) = by_origin.or(own) {
        merge_read(c, id, read_at)?;
        return Ok(ImportOutcome::Present);
    }
    let digest = match (&m.idempotency_key, &m.idempotency_digest) {
        (None, _) => None,
        (Some(_), Some(d)) => Some(d.clone()),
        (Some(_), None) => Some(m.computed_digest()),
    };
    if let (Some(key), Some(digest)) = (&m.idempotency_key, &digest) {
        let prior: Option<(i64, Option<String>)> = c
            .prepare_cached("SELECT id, idempotency_digest FROM messages WHERE from_node = ?1 AND idempotency_key = ?2")
            .and_then(|mut s| s.query_row(params![msg.from_node, key], |r| Ok((r.get(0)?, r.get(1)?))).optional())
            .db()?;
        if let Some((id, prior_digest)) = prior {
            if prior_digest.as_deref() != Some(digest.as_str()) {
                return Ok(ImportOutcome::Skipped(skip::KEY_TAKEN));
            }
            merge_read(c, id, read_at)?;
            return Ok(ImportOutcome::Present);
        }
    }
    if let Some(thread) = &msg.thread_id {
        register_thread(c, thread, &msg.from_node, &msg.to_node, &msg.created_at)?;
    }
    c.prepare_cached(
        "INSERT INTO messages (from_node, to_node, kind, content, thread_id, related_task_id, \
         idempotency_key, idempotency_digest, created_at, read_at, origin, sender_verified) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )
    .and_then(|mut s| {
        s.execute(params![
            msg.from_node,
            msg.to_node,
            msg.kind.as_str(),
            msg.content,
            msg.thread_id,
            msg.related_task_id,
            m.idempotency_key,
            digest,
            msg.created_at,
            msg.read_at,
            origin,
            msg.sender_verified
        ])
    })
    .db()?;
    import_ladder(c, c.last_insert_rowid(), own_store_id, msg, &m.ladder)?;
    Ok(ImportOutcome::Imported)
}
