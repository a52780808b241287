//! Full-text search: an FTS5 `MATCH` built from the parsed query (every
//! word quoted), narrowed inside the index to the caller's DMs (the
//! `parties` column), filtered like `GET /messages`, with a time budget
//! enforced by a progress handler. Candidates are ranked in Rust
//! ([`rank_bodies`]): FTS5's `bm25()` would first count every DM holding
//! each word, a full read of a common word's list on every search.

use std::fmt::Write;
use std::time::Instant;

use meshgate_proto::{MessageRef, PageBudget};
use meshgate_store::{
    head, rank_bodies, rank_window, Clause, Phrase, SearchExpr, SearchPage, SearchQuery, StoreResult, StoredHit,
    SEARCH_CANDIDATES_MAX, SEARCH_RANK_BODY_MAX,
};
use rusqlite::types::Value;
use rusqlite::{params_from_iter, Connection, ErrorCode};

use super::message;
use crate::error::Db;

/// VM instructions between two checks of the budget.
const BUDGET_CHECK_OPS: i32 = 4096;

/// `expr` as an FTS5 expression: each word a quoted string, phrases joined
/// with `+`, alternatives with `OR`, exclusions with `NOT`.
pub(crate) fn fts5_query(expr: &SearchExpr) -> String {
    let phrase = |p: &Phrase| {
        let words: Vec<String> = p.words.iter().map(|w| format!("\"{}\"", w.replace('"', "\"\""))).collect();
        let mut s = words.join(" + ");
        if p.prefix {
            s.push('*');
        }
        s
    };
    let group = |c: &Clause| {
        let alts: Vec<String> = c.any.iter().map(phrase).collect();
        format!("({})", alts.join(" OR "))
    };
    let positive: Vec<String> = expr.clauses.iter().filter(|c| !c.negated).map(group).collect();
    let mut q = format!("({})", positive.join(" AND "));
    for c in expr.clauses.iter().filter(|c| c.negated) {
        q.push_str(" NOT ");
        q.push_str(&group(c));
    }
    q
}

/// The `parties` token of a DM's sender (`f`) or recipient (`t`) `name`,
/// as the migration's triggers write it.
fn party(end: char, name: &str) -> String {
    let mut s = String::with_capacity(1 + 2 * name.len());
    s.push(end);
    for b in name.bytes() {
        let _ = write!(s, "{b:02X}");
    }
    s
}

/// The whole `MATCH` of `q`: the body expression, and the ends it names.
pub(crate) fn match_expr(q: &SearchQuery) -> String {
    let mut m = format!("body : ({})", fts5_query(&q.expr));
    if let Some(from) = &q.from {
        let _ = write!(m, " AND parties : {}", party('f', from));
    }
    if let Some(to) = &q.to {
        let _ = write!(m, " AND parties : {}", party('t', to));
    }
    if let Some(me) = &q.involving {
        let _ = write!(m, " AND parties : ({} OR {})", party('f', me), party('t', me));
    }
    m
}

/// The candidate scan of `q`: ids and the starts of the bodies (what
/// ranking reads, [`SEARCH_RANK_BODY_MAX`] characters) of the newest
/// matches.
pub(crate) fn search_sql(q: &SearchQuery) -> (String, Vec<Value>) {
    let mut sql = format!(
        "SELECT m.id, substr(m.content, 1, {SEARCH_RANK_BODY_MAX}) FROM messages_fts \
         JOIN messages m ON m.id = messages_fts.rowid WHERE messages_fts MATCH ?"
    );
    let mut params = vec![Value::Text(match_expr(q))];
    let mut clause = |sql_part: &str, v: Value| {
        sql.push_str(sql_part);
        params.push(v);
    };
    if let Some(to) = &q.to {
        clause(" AND m.to_node = ?", Value::Text(to.clone()));
    }
    if let Some(from) = &q.from {
        clause(" AND m.from_node = ?", Value::Text(from.clone()));
    }
    if let Some(thread) = &q.thread_id {
        clause(" AND m.thread_id = ?", Value::Text(thread.clone()));
    }
    if let Some(kind) = q.kind {
        clause(" AND m.kind = ?", Value::Text(kind.as_str().to_owned()));
    }
    if let Some(since) = &q.since {
        clause(" AND m.created_at > ?", Value::Text(since.clone()));
    }
    // The index narrowed to the caller's DMs already; this is the rule.
    if let Some(me) = &q.involving {
        sql.push_str(" AND (m.from_node = ? OR m.to_node = ?)");
        params.push(Value::Text(me.clone()));
        params.push(Value::Text(me.clone()));
    }
    sql.push_str(&format!(" ORDER BY messages_fts.rowid DESC LIMIT {}", SEARCH_CANDIDATES_MAX + 1));
    (sql, params)
}

/// Clears the connection's progress handler (it is pooled) when dropped.
struct Budget<'c>(&'c Connection);

impl Drop for Budget<'_> {
    fn drop(&mut self) {
        self.0.progress_handler(0, None::<fn() -> bool>);
    }
}

pub(crate) fn search(c: &Connection, q: &SearchQuery) -> StoreResult<SearchPage> {
    let (sql, params) = search_sql(q);
    let deadline = Instant::now() + q.budget;
    let budget = Budget(c);
    budget.0.progress_handler(BUDGET_CHECK_OPS, Some(move || Instant::now() >= deadline));
    let mut candidates: Vec<(i64, String)> = Vec::new();
    let mut truncated = false;
    {
        let mut s = c.prepare_cached(&sql).db()?;
        let mut rows = s.query(params_from_iter(params)).db()?;
        loop {
            match rows.next() {
                // Kept: no more than the window ranking will read once at
                // least this many candidates are in (~8 MiB x ln(n) held).
                Ok(Some(r)) => {
                    let body = super::messages::text(r, 1)?;
                    let keep = head(body, rank_window(candidates.len() + 1)).to_owned();
                    candidates.push((r.get(0).db()?, keep));
                }
                Ok(None) => break,
                Err(e) if e.sqlite_error_code() == Some(ErrorCode::OperationInterrupted) => {
                    truncated = true;
                    break;
                }
                Err(e) => return Err(e).db(),
            }
        }
    }
    drop(budget);
    if candidates.len() > SEARCH_CANDIDATES_MAX as usize {
        candidates.truncate(SEARCH_CANDIDATES_MAX as usize);
        truncated = true;
    }
    let bodies: Vec<&str> = candidates.iter().map(|(_, b)| b.as_str()).collect();
    let (ranks, ranked_bytes) = rank_bodies(&q.expr, &bodies);
    let mut ranked: Vec<(i64, f64)> = candidates.iter().map(|(id, _)| *id).zip(ranks).collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(b.0.cmp(&a.0)));
    ranked.truncate(q.limit as usize);
    let mut hits = Vec::with_capacity(ranked.len());
    let mut page = PageBudget::new(q.max_bytes);
    for (id, rank) in ranked {
        if let Some(message) = message(c, id)? {
            if !page.admit(&MessageRef::from(&message)) {
                truncated = true;
                break;
            }
            hits.push(StoredHit { message, rank });
        }
    }
    Ok(SearchPage { hits, truncated, ranked_bytes })
}
