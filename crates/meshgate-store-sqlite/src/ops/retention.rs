//! Retention batches: expired DMs out, then the threads they left empty.

use meshgate_store::{PurgePass, Retention, StoreResult};
use rusqlite::params;

use crate::error::Db;
use crate::writer::WriteCtx;

/// One batch of [`meshgate_store::Store::purge_expired`] in the writer's
/// transaction. Reads only id, times and thread of at most `limit` rows.
pub(crate) fn purge_expired(
    ctx: &mut WriteCtx,
    policy: &Retention,
    after_id: i64,
    limit: u32,
) -> StoreResult<PurgePass> {
    let c = &ctx.conn;
    let Some(horizon) = policy.horizon() else {
        return Ok(PurgePass { next_after_id: after_id, done: true, ..PurgePass::default() });
    };
    let horizon = horizon.to_owned();
    let mut pass = PurgePass { next_after_id: after_id, ..PurgePass::default() };
    let mut doomed: Vec<(i64, Option<String>)> = Vec::new();
    {
        let mut st = c
            .prepare_cached(
                "SELECT id, created_at, read_at, thread_id FROM messages WHERE id > ?1 ORDER BY id LIMIT ?2",
            )
            .db()?;
        let mut rows = st.query(params![after_id, limit]).db()?;
        let mut seen = 0u32;
        while let Some(r) = rows.next().db()? {
            seen += 1;
            let id: i64 = r.get(0).db()?;
            let created_at: String = r.get(1).db()?;
            pass.next_after_id = id;
            let read_at: Option<String> = r.get(2).db()?;
            if policy.expired(&created_at, read_at.as_deref()) {
                doomed.push((id, r.get(3).db()?));
            }
        }
        pass.done = seen < limit;
    }
    let mut delete = c.prepare_cached("DELETE FROM messages WHERE id = ?1").db()?;
    for (id, _) in &doomed {
        pass.messages += delete.execute([id]).db()? as u64;
    }
    let mut threads: Vec<&str> = doomed.iter().filter_map(|(_, t)| t.as_deref()).collect();
    threads.sort_unstable();
    threads.dedup();
    let mut empty = c
        .prepare_cached(
            "DELETE FROM threads WHERE thread_uuid = ?1 AND coalesce(last_used_at, created_at) < ?2 \
             AND NOT EXISTS (SELECT 1 FROM messages WHERE thread_id = ?1)",
        )
        .db()?;
    for t in threads {
        pass.threads += empty.execute(params![t, &horizon]).db()? as u64;
    }
    Ok(pass)
}
