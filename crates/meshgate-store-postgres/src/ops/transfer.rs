//! Export and import: whole-store records, merged idempotently.

use deadpool_postgres::{GenericClient, Transaction};
use meshgate_proto::{Alias, Peer, Thread};
use meshgate_store::{
    own_origin_id, skip, ImportOutcome, ImportRecord, ImportStats, MessageRecord, StoreError, StoreResult, TokenHash,
    TokenRecord,
};
use tokio_postgres::Row;

use super::identity::lock_name;
use super::messages::register_thread;
use super::peers::{live_generation, token_conflict};
use super::receipts::{import_ladder, row_ladder, LADDER_COLS};
use super::{
    collect, execute, get, query, query_one, query_opt, row_message, row_thread, CHANNEL, MSG_COLS, THREAD_COLS,
};
use crate::error::Db;

pub(crate) async fn store_id<C: GenericClient>(c: &C) -> StoreResult<String> {
    get(&query_one(c, "SELECT value FROM meta WHERE key = 'store_id'", &[]).await?, 0)
}

fn row_token(r: &Row) -> StoreResult<TokenRecord> {
    let hash: Vec<u8> = get(r, 1)?;
    let hash: [u8; 32] = hash.try_into().map_err(|_| StoreError::Backend("token hash is not 32 bytes".into()))?;
    Ok(TokenRecord {
        peer: get(r, 0)?,
        hash: TokenHash(hash),
        generation: get(r, 2)?,
        created_at: get(r, 3)?,
        revoked_at: get(r, 4)?,
    })
}

pub(crate) async fn export_tokens<C: GenericClient>(c: &C) -> StoreResult<Vec<TokenRecord>> {
    collect(
        query(
            c,
            "SELECT peer, token_hash, generation, created_at, revoked_at FROM peer_tokens ORDER BY peer, generation",
            &[],
        )
        .await?,
        row_token,
    )
}

pub(crate) async fn export_threads<C: GenericClient>(
    c: &C,
    after: Option<&str>,
    limit: u32,
) -> StoreResult<Vec<Thread>> {
    let limit: Option<i64> = (limit != 0).then(|| i64::from(limit));
    collect(
        query(
            c,
            &format!(
                "SELECT {THREAD_COLS} FROM threads WHERE thread_uuid > coalesce($1::text, '') \
                 ORDER BY thread_uuid LIMIT $2"
            ),
            &[&after, &limit],
        )
        .await?,
        row_thread,
    )
}

pub(crate) async fn export_messages<C: GenericClient>(
    c: &C,
    after_id: i64,
    limit: u32,
) -> StoreResult<Vec<MessageRecord>> {
    let limit: Option<i64> = (limit != 0).then(|| i64::from(limit));
    let rows = query(
        c,
        &format!(
            "SELECT {MSG_COLS}, idempotency_key, idempotency_digest, origin, {LADDER_COLS} FROM messages m \
             WHERE id > $1 ORDER BY id LIMIT $2"
        ),
        &[&after_id, &limit],
    )
    .await?;
    rows.iter()
        .map(|r| {
            Ok(MessageRecord {
                message: row_message(r)?,
                idempotency_key: get(r, 11)?,
                idempotency_digest: get(r, 12)?,
                origin: get(r, 13)?,
                ladder: row_ladder(r, 14)?,
            })
        })
        .collect()
}

// ---------------------------------------------------------------- import

/// Applies an import batch in `tx`; returns the counts and the highest new
/// message id (already announced with `pg_notify`), if any.
pub(crate) async fn import_batch(
    tx: &Transaction<'_>,
    batch: Vec<ImportRecord>,
) -> StoreResult<(ImportStats, Option<i64>)> {
    let own = store_id(tx).await?;
    let mut stats = ImportStats::default();
    let mut max_id = None;
    for record in batch {
        let kind = record.kind();
        let outcome = match record {
            ImportRecord::Peer(p) => import_peer(tx, &p).await?,
            ImportRecord::Token(t) => import_token(tx, &t).await?,
            ImportRecord::Alias(a) => import_alias(tx, &a).await?,
            ImportRecord::Thread(t) => import_thread(tx, &t).await?,
            ImportRecord::Message(m) => match import_message(tx, &own, &m).await? {
                Ok(id) => {
                    max_id = Some(id);
                    ImportOutcome::Imported
                }
                Err(outcome) => outcome,
            },
        };
        stats.record(kind, outcome);
    }
    if let Some(id) = max_id {
        execute(tx, "SELECT pg_notify($1, $2)", &[&CHANNEL, &id.to_string()]).await?;
    }
    Ok((stats, max_id))
}

async fn import_peer(tx: &Transaction<'_>, p: &Peer) -> StoreResult<ImportOutcome> {
    lock_name(tx, &p.name).await?;
    if query_opt(tx, "SELECT 1 FROM aliases WHERE alias = $1", &[&p.name]).await?.is_some() {
        return Ok(ImportOutcome::Skipped(skip::PEER_IS_ALIAS));
    }
    let caps = serde_json::to_string(&p.capabilities)
        .map_err(|e| StoreError::Backend(format!("encoding capabilities: {e}")))?;
    let inserted = execute(
        tx,
        "INSERT INTO peers (name, url, capabilities, enabled, registered_at, last_seen, last_health) \
         VALUES ($1, $2, $3, $4, coalesce($5, meshgate_now()), $6, $7) ON CONFLICT (name) DO NOTHING",
        &[&p.name, &p.url, &caps, &p.enabled, &p.registered_at, &p.last_seen, &p.last_health],
    )
    .await?;
    if inserted == 1 {
        return Ok(ImportOutcome::Imported);
    }
    execute(
        tx,
        "UPDATE peers SET registered_at = least(registered_at, coalesce($2::text COLLATE \"C\", registered_at)), \
         last_seen = CASE WHEN $3::text IS NOT NULL AND (last_seen IS NULL OR last_seen < $3::text COLLATE \"C\") \
                     THEN $3::text ELSE last_seen END, \
         last_health = CASE WHEN $4::text IS NOT NULL AND (last_health IS NULL OR last_health < $4::text COLLATE \"C\") \
                       THEN $4::text ELSE last_health END \
         WHERE name = $1",
        &[&p.name, &p.registered_at, &p.last_seen, &p.last_health],
    )
    .await?;
    Ok(ImportOutcome::Present)
}

async fn import_token(tx: &Transaction<'_>, t: &TokenRecord) -> StoreResult<ImportOutcome> {
    let hash: &[u8] = &t.hash.0[..];
    // The peer's row may not exist (tokens of deleted peers): serialise on
    // the token rows instead.
    if let Some(row) = query_opt(tx, "SELECT revoked_at FROM peer_tokens WHERE token_hash = $1", &[&hash]).await? {
        let revoked: Option<String> = get(&row, 0)?;
        if revoked.is_none() && t.revoked_at.is_some() {
            execute(
                tx,
                "UPDATE peer_tokens SET revoked_at = $2 WHERE token_hash = $1 AND revoked_at IS NULL",
                &[&hash, &t.revoked_at],
            )
            .await?;
        }
        return Ok(ImportOutcome::Present);
    }
    if query_opt(tx, "SELECT 1 FROM peer_tokens WHERE peer = $1 AND generation = $2", &[&t.peer, &t.generation])
        .await?
        .is_some()
    {
        return Ok(ImportOutcome::Skipped(skip::GENERATION_TAKEN));
    }
    if t.revoked_at.is_none() && live_generation(tx, &t.peer).await?.is_some() {
        return Ok(ImportOutcome::Skipped(skip::PEER_HAS_LIVE_TOKEN));
    }
    let st = tx
        .prepare_cached(
            "INSERT INTO peer_tokens (peer, token_hash, generation, created_at, revoked_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .await
        .db()?;
    tx.execute(&st, &[&t.peer, &hash, &t.generation, &t.created_at, &t.revoked_at]).await.map_err(token_conflict)?;
    Ok(ImportOutcome::Imported)
}

async fn import_alias(tx: &Transaction<'_>, a: &Alias) -> StoreResult<ImportOutcome> {
    if let Some(row) = query_opt(tx, "SELECT canonical FROM aliases WHERE alias = $1", &[&a.alias]).await? {
        let canonical: String = get(&row, 0)?;
        return Ok(if canonical == a.canonical {
            ImportOutcome::Present
        } else {
            ImportOutcome::Skipped(skip::ALIAS_ELSEWHERE)
        });
    }
    if query_opt(tx, "SELECT 1 FROM peers WHERE name = $1", &[&a.alias]).await?.is_some() {
        return Ok(ImportOutcome::Skipped(skip::ALIAS_IS_PEER));
    }
    if query_opt(tx, "SELECT 1 FROM peers WHERE name = $1 FOR SHARE", &[&a.canonical]).await?.is_none() {
        return Ok(ImportOutcome::Skipped(skip::ALIAS_UNKNOWN_PEER));
    }
    execute(
        tx,
        "INSERT INTO aliases (alias, canonical, created_at) VALUES ($1, $2, coalesce($3, meshgate_now()))",
        &[&a.alias, &a.canonical, &a.created_at],
    )
    .await?;
    Ok(ImportOutcome::Imported)
}

async fn import_thread(tx: &Transaction<'_>, t: &Thread) -> StoreResult<ImportOutcome> {
    let updated = execute(
        tx,
        "UPDATE threads SET session_id = coalesce(session_id, $2), \
         last_used_at = CASE WHEN $3::text IS NOT NULL \
                             AND (last_used_at IS NULL OR last_used_at < $3::text COLLATE \"C\") \
                        THEN $3::text ELSE last_used_at END \
         WHERE thread_uuid = $1",
        &[&t.thread_uuid, &t.session_id, &t.last_used_at],
    )
    .await?;
    if updated == 1 {
        return Ok(ImportOutcome::Present);
    }
    if query_opt(
        tx,
        "SELECT 1 FROM threads WHERE coalesce(minted_by, '') = coalesce($2, '') AND thread_name = $1",
        &[&t.thread_name, &t.minted_by],
    )
    .await?
    .is_some()
    {
        return Ok(ImportOutcome::Skipped(skip::THREAD_NAME_TAKEN));
    }
    execute(
        tx,
        "INSERT INTO threads (thread_uuid, thread_name, peer_pair, topic, session_id, created_at, last_used_at, \
         minted_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        &[
            &t.thread_uuid,
            &t.thread_name,
            &t.peer_pair,
            &t.topic,
            &t.session_id,
            &t.created_at,
            &t.last_used_at,
            &t.minted_by,
        ],
    )
    .await?;
    Ok(ImportOutcome::Imported)
}

/// Gives the stored message `id` the record's `read_at` if it is unread.
async fn merge_read(tx: &Transaction<'_>, id: i64, read_at: &Option<String>) -> StoreResult<()> {
    if read_at.is_some() {
        execute(tx, "UPDATE messages SET read_at = $2 WHERE id = $1 AND read_at IS NULL", &[&id, read_at]).await?;
    }
    Ok(())
}

/// `Ok(id)` for a newly stored message, `Err(outcome)` otherwise.
async fn import_message(
    tx: &Transaction<'_>,
    own_store_id: &str,
    m: &MessageRecord,
) -> StoreResult<Result<i64, ImportOutcome>> {
    let Some(origin) = &m.origin else {
        return Ok(Err(ImportOutcome::Skipped(skip::NO_ORIGIN)));
    };
    let msg = &m.message;
    let mut found: Option<i64> = match query_opt(tx, "SELECT id FROM messages WHERE origin = $1", &[origin]).await? {
        Some(r) => Some(get(&r, 0)?),
        None => None,
    };
    if found.is_none() {
        if let Some(id) = own_origin_id(origin, own_store_id) {
            if query_opt(tx, "SELECT 1 FROM messages WHERE id = $1", &[&id]).await?.is_some() {
                found = Some(id);
            }
        }
    }
    if let Some(id) = found {
        merge_read(tx, id, &msg.read_at).await?;
        return Ok(Err(ImportOutcome::Present));
    }
    let digest = match (&m.idempotency_key, &m.idempotency_digest) {
        (None, _) => None,
        (Some(_), Some(d)) => Some(d.clone()),
        (Some(_), None) => Some(m.computed_digest()),
    };
    if let (Some(key), Some(digest)) = (&m.idempotency_key, &digest) {
        let prior = query_opt(
            tx,
            "SELECT id, idempotency_digest FROM messages WHERE from_node = $1 AND idempotency_key = $2",
            &[&msg.from_node, key],
        )
        .await?;
        if let Some(r) = prior {
            let id: i64 = get(&r, 0)?;
            let prior_digest: Option<String> = get(&r, 1)?;
            if prior_digest.as_deref() != Some(digest.as_str()) {
                return Ok(Err(ImportOutcome::Skipped(skip::KEY_TAKEN)));
            }
            merge_read(tx, id, &msg.read_at).await?;
            return Ok(Err(ImportOutcome::Present));
        }
    }
    if let Some(thread) = &msg.thread_id {
        register_thread(tx, thread, &msg.from_node, &msg.to_node, &msg.created_at).await?;
    }
    // The counter row lock is held until commit (see the crate docs); the
    // clock floor `last_at` is left alone: imported messages keep their time.
    let seq = query_one(tx, "UPDATE message_seq SET last_id = last_id + 1 RETURNING last_id", &[]).await?;
    let id: i64 = get(&seq, 0)?;
    execute(
        tx,
        "INSERT INTO messages (id, from_node, to_node, kind, content, thread_id, related_task_id, \
         idempotency_key, idempotency_digest, created_at, read_at, origin, sender_verified) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        &[
            &id,
            &msg.from_node,
            &msg.to_node,
            &msg.kind.as_str(),
            &msg.content.as_bytes(),
            &msg.thread_id,
            &msg.related_task_id,
            &m.idempotency_key,
            &digest,
            &msg.created_at,
            &msg.read_at,
            origin,
            &msg.sender_verified,
        ],
    )
    .await?;
    import_ladder(tx, id, own_store_id, msg, &m.ladder).await?;
    Ok(Ok(id))
}
