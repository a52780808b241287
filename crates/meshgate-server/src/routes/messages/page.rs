//! One page of `GET /messages`, encoded here from the rows the store hands
//! over ([`Store::visit_messages`]) while it still holds them, within the
//! page's byte budget; and which of its rows the read hands over to their
//! recipient (delivery recording, `crate::delivery`).

use std::sync::Arc;

use axum::body::Bytes;
use meshgate_proto::{MessageListWriter, MessageRef};
use meshgate_store::{MessageQuery, RowSink, Store, StoreError, StoreResult};

use crate::state::AppState;

/// An encoded page (cheap to clone: the page cache hands out copies).
#[derive(Debug, Clone)]
pub(crate) struct Page {
    /// Rows in the page.
    pub n: usize,
    /// The `MessageList` JSON body.
    pub body: Bytes,
    /// Ids of the rows addressed to the reader the page hands over to, in
    /// page order.
    pub delivered: Arc<[i64]>,
}

/// The page of `q` as [`read`] gives it, from the page cache when the store
/// has not changed since it was read (see `super::cache`).
pub(crate) async fn read_cached(state: &AppState, q: &MessageQuery, deliver_to: Option<&str>) -> StoreResult<Page> {
    let cache = state.page_cache();
    let mark = if cache.enabled() { state.store().change_mark() } else { None };
    let Some(mark) = mark else { return read(state.store(), q, deliver_to).await };
    if let Some(page) = cache.get(mark, q, deliver_to) {
        return Ok(page);
    }
    let page = read(state.store(), q, deliver_to).await?;
    cache.put(mark, q, deliver_to, &page);
    Ok(page)
}

/// Reads and encodes the page of `q` (cut at `q.max_bytes`, see
/// [`MessageListWriter::push_within`]), noting the rows addressed to
/// `deliver_to`: when that is the query's own `to` filter, every row (all
/// went to its peer, also when `to` is an alias the store resolved, see
/// [`MessageQuery::resolve_aliases`]).
pub(crate) async fn read(store: &dyn Store, q: &MessageQuery, deliver_to: Option<&str>) -> StoreResult<Page> {
    // Room for a typical page without regrowing: ~400 bytes of fields and
    // escaping per row beside the content.
    let expected_rows = if q.limit == 0 { 100 } else { q.limit.min(100) as usize };
    let mut sink = Sink {
        writer: MessageListWriter::with_capacity(expected_rows * 640),
        max_bytes: q.max_bytes,
        deliver_to,
        every_row: deliver_to.is_some() && deliver_to == q.to.as_deref(),
        delivered: Vec::new(),
    };
    store.visit_messages(q, &mut sink).await?;
    let n = sink.writer.len();
    // No row fails to encode (proto's tests hold every field shape to
    // serde_json); were one to, the read fails rather than end short.
    let body = sink.writer.finish().map_err(|e| StoreError::Backend(format!("encoding a message page: {e}")))?;
    Ok(Page { n, body: Bytes::from(body), delivered: sink.delivered.into() })
}

struct Sink<'a> {
    writer: MessageListWriter,
    max_bytes: usize,
    deliver_to: Option<&'a str>,
    /// `deliver_to` is the `to` filter: every row is its.
    every_row: bool,
    delivered: Vec<i64>,
}

impl RowSink for Sink<'_> {
    fn row(&mut self, m: MessageRef<'_>) -> bool {
        if !self.writer.push_within(&m, self.max_bytes) {
            return false;
        }
        if self.every_row || self.deliver_to == Some(m.to_node) {
            self.delivered.push(m.id);
        }
        true
    }
}
