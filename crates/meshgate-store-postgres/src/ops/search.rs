//! Full-text search: a `tsquery` built from the parsed query (every word
//! quoted), scoped and filtered like `GET /messages`, under a
//! `statement_timeout`.

use deadpool_postgres::Client;
use meshgate_proto::{MessageRef, PageBudget};
use meshgate_store::SEARCH_CANDIDATES_MAX;
use meshgate_store::{rank_hits, Clause, Phrase, SearchExpr, SearchPage, SearchQuery, StoreResult, StoredHit};
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;

use super::{get, row_message, Param, MSG_COLS};
use crate::error::Db;

/// `expr` in `to_tsquery` syntax: each word a quoted lexeme, phrases joined
/// with `<->`, alternatives with `|`, exclusions as `& !`.
pub(crate) fn tsquery(expr: &SearchExpr) -> String {
    let phrase = |p: &Phrase| {
        let words: Vec<String> =
            p.words.iter().map(|w| format!("'{}'", w.replace('\\', "\\\\").replace('\'', "''"))).collect();
        let mut s = words.join(" <-> ");
        if p.prefix {
            s.push_str(":*");
        }
        format!("({s})")
    };
    let group = |c: &Clause| format!("({})", c.any.iter().map(phrase).collect::<Vec<_>>().join(" | "));
    let mut parts: Vec<String> = expr.clauses.iter().filter(|c| !c.negated).map(group).collect();
    parts.extend(expr.clauses.iter().filter(|c| c.negated).map(|c| format!("!{}", group(c))));
    parts.join(" & ")
}

/// The search statement of `q`: the newest `SEARCH_CANDIDATES_MAX`
/// matches ranked, the best `limit` with the number of candidates seen.
pub(crate) fn search_sql(q: &SearchQuery) -> (String, Vec<Param>) {
    let mut params: Vec<Param> = vec![Box::new(tsquery(&q.expr))];
    let mut filter = String::new();
    let mut clause = |sql: &str, p: Param, params: &mut Vec<Param>| {
        params.push(p);
        filter.push_str(&sql.replace('?', &format!("${}", params.len())));
    };
    if let Some(to) = &q.to {
        clause(" AND to_node = ?", Box::new(to.clone()), &mut params);
    }
    if let Some(from) = &q.from {
        clause(" AND from_node = ?", Box::new(from.clone()), &mut params);
    }
    if let Some(thread) = &q.thread_id {
        clause(" AND thread_id = ?", Box::new(thread.clone()), &mut params);
    }
    if let Some(kind) = q.kind {
        clause(" AND kind = ?", Box::new(kind.as_str().to_owned()), &mut params);
    }
    if let Some(since) = &q.since {
        clause(" AND created_at > ?", Box::new(since.clone()), &mut params);
    }
    if let Some(me) = &q.involving {
        clause(" AND (from_node = ? OR to_node = ?)", Box::new(me.clone()), &mut params);
    }
    params.push(Box::new(i64::from(q.limit)));
    let limit = params.len();
    let max_bytes = if q.max_bytes == 0 { i64::MAX } else { i64::try_from(q.max_bytes).unwrap_or(i64::MAX) };
    params.push(Box::new(max_bytes));
    let max_bytes = params.len();
    // `sized` keeps the best hits while the bodies before each fit the
    // page's byte budget, so no more than about one page is fetched.
    let sql = format!(
        "WITH c AS (SELECT id, ts_rank_cd(body_tsv, tq) AS rank FROM messages, to_tsquery('simple', $1) AS tq \
           WHERE body_tsv @@ tq{filter} ORDER BY id DESC LIMIT {over}), \
         ranked AS (SELECT id, rank FROM c ORDER BY id DESC LIMIT {max}), \
         top AS (SELECT id, rank FROM ranked ORDER BY rank DESC, id DESC LIMIT ${limit}), \
         sized AS (SELECT top.id, top.rank, sum(octet_length(m.content)) OVER (ORDER BY top.rank DESC, top.id DESC) \
           - octet_length(m.content) AS bytes_before FROM top JOIN messages m USING (id)) \
         SELECT {MSG_COLS}, sized.rank::float8, (SELECT count(*) FROM c), (SELECT count(*) FROM top) \
           FROM sized JOIN messages USING (id) WHERE sized.bytes_before <= ${max_bytes} \
           ORDER BY sized.rank DESC, id DESC",
        over = SEARCH_CANDIDATES_MAX + 1,
        max = SEARCH_CANDIDATES_MAX,
    );
    (sql, params)
}

/// Runs `q` in a read-only transaction whose `statement_timeout` is the
/// search's budget; a timeout answers an empty, truncated page.
pub(crate) async fn search(client: &mut Client, q: &SearchQuery) -> StoreResult<SearchPage> {
    let tx = client.build_transaction().read_only(true).start().await.db()?;
    let ms = q.budget.as_millis().clamp(1, i32::MAX as u128);
    tx.batch_execute(&format!("SET LOCAL statement_timeout = {ms}")).await.db()?;
    let (sql, params) = search_sql(q);
    let st = tx.prepare_cached(&sql).await.db()?;
    let rows = match tx.query(&st, &params.iter().map(|p| &**p as &(dyn ToSql + Sync)).collect::<Vec<_>>()).await {
        Ok(rows) => rows,
        Err(e) if e.code() == Some(&SqlState::QUERY_CANCELED) => {
            return Ok(SearchPage { hits: Vec::new(), truncated: true, ranked_bytes: 0 })
        }
        Err(e) => return Err(e).db(),
    };
    let mut truncated = false;
    let mut hits = Vec::with_capacity(rows.len());
    let mut page = PageBudget::new(q.max_bytes);
    for r in &rows {
        let seen: i64 = get(r, 12)?;
        let top: i64 = get(r, 13)?;
        truncated |= seen > i64::from(SEARCH_CANDIDATES_MAX) || top > rows.len() as i64;
        hits.push(StoredHit { message: row_message(r)?, rank: get(r, 11)? });
    }
    rank_hits(&mut hits, q.limit);
    if let Some(cut) = hits.iter().position(|h| !page.admit(&MessageRef::from(&h.message))) {
        hits.truncate(cut);
        truncated = true;
    }
    Ok(SearchPage { hits, truncated, ranked_bytes: 0 })
}
