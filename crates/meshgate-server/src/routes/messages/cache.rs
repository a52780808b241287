//! `GET /messages` pages kept for reuse while the store is unchanged.
//!
//! An agent polling its inbox asks the same question again and again, and
//! the answer changes only when something commits. A page is kept under the
//! store's [`change_mark`](meshgate_store::Store::change_mark) taken *before*
//! it was read, and answered again only while the mark is still that one: no
//! commit of any kind (a send, a mark-read, an alias, a deletion, retention,
//! another process's import) happened since, so reading again would give
//! the same bytes. A store that cannot give a mark (PostgreSQL) never has a
//! page reused.
//!
//! The key is the whole parsed query, as authorised ([`MessageQuery`]: with
//! the caller's scope, `involving`, and the names as resolved) and the reader
//! the page hands over to. What a page holds is a function of that query and
//! the store's contents, so a page is only ever reused for a request that was
//! authorised for exactly that query; authentication and every check of
//! [`super::list`] still run first on every request.
//!
//! Bounded: the pages together hold at most the configured bytes
//! (`--page-cache-bytes`, one page at most a sixteenth of it), and the
//! pages of one caller (a peer token's peer, or the operator) at most a
//! quarter of it, so one peer asking thousands of distinct questions
//! leaves room for the others' polls. All pages kept share one mark, the
//! newest seen: a newer mark drops every page at once (none could be
//! reused again, marks only grow), and while the cache (or a caller's
//! share) is full, new pages are not kept until the next change empties it.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use meshgate_store::MessageQuery;

use super::page::Page;
use crate::metrics::Metrics;

/// Bytes counted per kept page beside its body, ids and key strings (the
/// entry, the map's slot, the allocations' headers).
const ENTRY_OVERHEAD: usize = 256;

/// Longest key kept (its strings together): names are at most 64 bytes, a
/// thread id 36, a timestamp ~32; a longer key (an odd `thread_id` that
/// matches nothing) is read every time rather than held.
const KEY_MAX: usize = 512;

/// The bytes of a key's strings.
fn key_bytes(q: &MessageQuery, deliver_to: Option<&str>) -> usize {
    [q.to.as_deref(), q.from.as_deref(), q.involving.as_deref(), q.thread_id.as_deref(), q.since.as_deref(), deliver_to]
        .iter()
        .map(|s| s.map_or(0, str::len))
        .sum()
}

/// Pages of `GET /messages` kept under the store's change mark.
pub(crate) struct PageCache {
    max_bytes: usize,
    hasher: RandomState,
    inner: Mutex<Inner>,
    metrics: Option<Arc<Metrics>>,
}

#[derive(Default)]
struct Inner {
    /// The mark every kept page was read under.
    mark: u64,
    /// Pages by the hash of their key (the key itself is checked on use).
    pages: HashMap<u64, Kept>,
    bytes: usize,
    /// Bytes kept per caller (`MessageQuery::involving`; `None`: the operator).
    by_caller: HashMap<Option<String>, usize>,
}

struct Kept {
    query: MessageQuery,
    deliver_to: Option<String>,
    page: Page,
    bytes: usize,
}

impl PageCache {
    /// A cache of at most `max_bytes` (0: nothing is kept).
    pub(crate) fn new(max_bytes: usize, metrics: Option<Arc<Metrics>>) -> Self {
        PageCache { max_bytes, hasher: RandomState::new(), inner: Mutex::new(Inner::default()), metrics }
    }

    /// Whether pages are kept at all.
    pub(crate) fn enabled(&self) -> bool {
        self.max_bytes > 0
    }

    /// Bytes the kept pages count for now.
    pub(crate) fn bytes(&self) -> usize {
        self.lock().bytes
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The page kept for `q` and `deliver_to` under `mark`, if any.
    pub(crate) fn get(&self, mark: u64, q: &MessageQuery, deliver_to: Option<&str>) -> Option<Page> {
        let hash = self.hasher.hash_one((q, deliver_to));
        let found = {
            let mut inner = self.lock();
            inner.advance(mark);
            match inner.pages.get(&hash) {
                Some(kept) if inner.mark == mark && kept.query == *q && kept.deliver_to.as_deref() == deliver_to => {
                    Some(kept.page.clone())
                }
                _ => None,
            }
        };
        if let Some(m) = &self.metrics {
            match found {
                Some(_) => m.page_cache_hits.inc(),
                None => m.page_cache_misses.inc(),
            };
        }
        found
    }

    /// Keeps `page`, read after `mark` was taken, if it fits.
    pub(crate) fn put(&self, mark: u64, q: &MessageQuery, deliver_to: Option<&str>, page: &Page) {
        let key = key_bytes(q, deliver_to);
        let bytes = page.body.len() + page.delivered.len() * 8 + key + ENTRY_OVERHEAD;
        if key > KEY_MAX || bytes > self.max_bytes / 16 {
            return;
        }
        let hash = self.hasher.hash_one((q, deliver_to));
        let mut inner = self.lock();
        inner.advance(mark);
        let callers = inner.by_caller.get(&q.involving).copied().unwrap_or(0);
        if inner.mark != mark || inner.bytes + bytes > self.max_bytes || callers + bytes > self.max_bytes / 4 {
            return; // read under an older mark, or full until the next change
        }
        // A copy of exactly the body's length: the page's own buffer was
        // reserved for a full page and may be many times larger.
        let page = Page { n: page.n, body: Bytes::copy_from_slice(&page.body), delivered: Arc::clone(&page.delivered) };
        let kept = Kept { query: q.clone(), deliver_to: deliver_to.map(str::to_owned), page, bytes };
        if let Some(old) = inner.pages.insert(hash, kept) {
            inner.bytes -= old.bytes;
            *inner.by_caller.entry(old.query.involving).or_default() -= old.bytes;
        }
        inner.bytes += bytes;
        *inner.by_caller.entry(q.involving.clone()).or_default() += bytes;
    }
}

impl Inner {
    /// Moves to `mark` if it is newer, dropping the pages of the old one.
    fn advance(&mut self, mark: u64) {
        if mark > self.mark {
            self.mark = mark;
            self.pages.clear();
            self.bytes = 0;
            self.by_caller.clear();
        }
    }
}
