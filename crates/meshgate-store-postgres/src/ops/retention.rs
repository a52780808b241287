//! Retention batches: expired DMs out, then the threads they left empty.

use deadpool_postgres::Transaction;
use meshgate_store::{PurgePass, Retention, StoreResult};

use super::{execute, query};

/// One batch of [`meshgate_store::Store::purge_expired`] in `tx`. Reads
/// only id, times and thread of at most `limit` rows.
pub(crate) async fn purge_expired(
    tx: &Transaction<'_>,
    policy: &Retention,
    after_id: i64,
    limit: u32,
) -> StoreResult<PurgePass> {
    let Some(horizon) = policy.horizon() else {
        return Ok(PurgePass { next_after_id: after_id, done: true, ..PurgePass::default() });
    };
    let mut pass = PurgePass { next_after_id: after_id, ..PurgePass::default() };
    let rows = query(
        tx,
        "SELECT id, created_at, read_at, thread_id FROM messages WHERE id > $1 ORDER BY id LIMIT $2",
        &[&after_id, &i64::from(limit)],
    )
    .await?;
    pass.done = rows.len() < limit as usize;
    let (mut ids, mut threads): (Vec<i64>, Vec<String>) = (Vec::new(), Vec::new());
    for r in &rows {
        let created_at: &str = r.get(1);
        pass.next_after_id = r.get(0);
        if policy.expired(created_at, r.get(2)) {
            ids.push(r.get(0));
            threads.extend(r.get::<_, Option<String>>(3));
        }
    }
    if !ids.is_empty() {
        pass.messages = execute(tx, "DELETE FROM messages WHERE id = ANY($1)", &[&ids]).await?;
    }
    threads.sort_unstable();
    threads.dedup();
    if !threads.is_empty() {
        pass.threads = execute(
            tx,
            "DELETE FROM threads t WHERE t.thread_uuid = ANY($1) AND coalesce(t.last_used_at, t.created_at) < $2 \
             AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.thread_id = t.thread_uuid)",
            &[&threads, &horizon],
        )
        .await?;
    }
    Ok(pass)
}
