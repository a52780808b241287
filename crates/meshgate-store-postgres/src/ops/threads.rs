//! Threads: minting, lookup and listing.

use deadpool_postgres::{GenericClient, Transaction};
use meshgate_proto::Thread;
use meshgate_store::{
    like_pattern, looks_like_uuid, pair_side_pattern, parse_thread_name, Refusal, StoreError, StoreResult, ThreadQuery,
    PAIR_SIDES_SQL,
};
use tokio_postgres::types::ToSql;

use super::{collect, query, query_opt, row_thread, Param, THREAD_COLS};

pub(crate) async fn thread<C: GenericClient>(c: &C, uuid: &str) -> StoreResult<Option<Thread>> {
    query_opt(c, &format!("SELECT {THREAD_COLS} FROM threads WHERE thread_uuid = $1"), &[&uuid])
        .await?
        .as_ref()
        .map(row_thread)
        .transpose()
}

pub(crate) async fn mint_thread(
    tx: &Transaction<'_>,
    name: &str,
    session_id: Option<&str>,
    minter: Option<&str>,
) -> StoreResult<Thread> {
    if looks_like_uuid(name) {
        return Err(StoreError::Refused(Refusal::ThreadNameIsUuid, "a thread name cannot be a UUID".into()));
    }
    // Two rounds at most: a concurrent mint of the same name (from another
    // replica) makes the INSERT do nothing, and the UPDATE then finds it.
    for _ in 0..2 {
        let updated = query_opt(
            tx,
            &format!(
                "UPDATE threads SET last_used_at = meshgate_now(), session_id = coalesce($2, session_id) \
                 WHERE coalesce(minted_by, '') = coalesce($3, '') AND thread_name = $1 RETURNING {THREAD_COLS}"
            ),
            &[&name, &session_id, &minter],
        )
        .await?;
        if let Some(r) = updated {
            let mut t = row_thread(&r)?;
            t.created = Some(false);
            return Ok(t);
        }
        let (peer_pair, topic) = parse_thread_name(name);
        let uuid = uuid::Uuid::new_v4().to_string();
        let inserted = query_opt(
            tx,
            &format!(
                "INSERT INTO threads \
                 (thread_uuid, thread_name, peer_pair, topic, session_id, created_at, last_used_at, minted_by) \
                 SELECT $1, $2, $3, $4, $5, t, t, $6 FROM meshgate_now() AS t \
                 ON CONFLICT ((coalesce(minted_by, '')), thread_name) DO NOTHING RETURNING {THREAD_COLS}"
            ),
            &[&uuid, &name, &peer_pair, &topic, &session_id, &minter],
        )
        .await?;
        if let Some(r) = inserted {
            let mut t = row_thread(&r)?;
            t.created = Some(true);
            return Ok(t);
        }
    }
    Err(StoreError::Unavailable("thread mint raced repeatedly; retry".into()))
}

pub(crate) async fn threads<C: GenericClient>(c: &C, q: &ThreadQuery) -> StoreResult<Vec<Thread>> {
    let mut clauses: Vec<String> = Vec::new();
    let mut params: Vec<Param> = Vec::new();
    // ILIKE: SQLite's LIKE is case-insensitive (for ASCII) too.
    let mut any_name = Vec::new();
    for name in q.peer.iter().chain(&q.peer_aliases) {
        // A whole side of the pair, not a substring (see the SQLite twin).
        params.push(Box::new(pair_side_pattern(name)));
        any_name.push(format!("{PAIR_SIDES_SQL} ILIKE ${} ESCAPE '\\'", params.len()));
    }
    if !any_name.is_empty() {
        clauses.push(format!("({})", any_name.join(" OR ")));
    }
    if let Some(topic) = &q.topic {
        params.push(Box::new(like_pattern(topic)));
        clauses.push(format!("topic ILIKE ${} ESCAPE '\\'", params.len()));
    }
    if let Some(session) = &q.session_id {
        params.push(Box::new(session.clone()));
        clauses.push(format!("session_id = ${}", params.len()));
    }
    let mut cols = THREAD_COLS.to_owned();
    if let Some(member) = &q.member {
        params.push(Box::new(member.clone()));
        let m = params.len();
        clauses.push(format!(
            "(minted_by = ${m} \
             OR EXISTS (SELECT 1 FROM messages msg WHERE msg.thread_id = threads.thread_uuid AND msg.from_node = ${m}) \
             OR EXISTS (SELECT 1 FROM messages msg WHERE msg.thread_id = threads.thread_uuid AND msg.to_node = ${m}))"
        ));
        if q.session_id.is_some() {
            // A session id is its minter's: nobody else finds a thread by it.
            clauses.push(format!("minted_by = ${m}"));
        }
        // As the member sees a thread it did not mint: no session id (the
        // minter's), and its own newest DM there as `last_used_at`.
        cols = format!(
            "thread_uuid, thread_name, peer_pair, topic, \
             CASE WHEN minted_by = ${m} THEN session_id END AS session_id, created_at, \
             CASE WHEN minted_by = ${m} THEN threads.last_used_at ELSE (SELECT max(msg.created_at) FROM messages msg \
             WHERE msg.thread_id = threads.thread_uuid AND (msg.from_node = ${m} OR msg.to_node = ${m})) END \
             AS last_used_at, minted_by"
        );
    }
    let filter = if clauses.is_empty() { String::new() } else { format!(" WHERE {}", clauses.join(" AND ")) };
    params.push(Box::new((q.limit != 0).then(|| i64::from(q.limit))));
    let sql = format!(
        "SELECT {cols} FROM threads{filter} \
         ORDER BY last_used_at DESC NULLS LAST, created_at DESC, thread_uuid LIMIT ${}",
        params.len()
    );
    let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| &**p as &(dyn ToSql + Sync)).collect();
    collect(query(c, &sql, &refs).await?, row_thread)
}
