//! Full-text search over the DMs this client's token may read
//! (`GET /messages/search`).

use meshgate_proto::{Kind, SearchParams, SearchResults};

use crate::client::Client;
use crate::error::Result;

/// Filters and page size of [`Client::search`]; every field is optional.
///
/// ```no_run
/// # async fn demo(client: meshgate_client::Client) -> meshgate_client::Result<()> {
/// use meshgate_client::SearchOptions;
/// let found = client.search("deploy -staging", SearchOptions { from: Some("lab".into()), ..Default::default() }).await?;
/// for hit in found.hits {
///     println!("{} {}", hit.message.id, hit.snippet_text(("", "")));
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SearchOptions {
    /// Only DMs from this sender.
    pub from: Option<String>,
    /// Only DMs to this recipient.
    pub to: Option<String>,
    /// Only DMs of this kind.
    pub kind: Option<Kind>,
    /// Only DMs in this thread (UUID).
    pub thread_id: Option<String>,
    /// Only DMs created strictly after this RFC 3339 instant.
    pub since: Option<String>,
    /// Hits per page (1..=100; the gateway's default, 20, when `None`).
    pub limit: Option<u32>,
}

impl SearchOptions {
    fn query(&self, q: &str) -> Vec<(&'static str, String)> {
        let SearchOptions { from, to, kind, thread_id, since, limit } = self.clone();
        SearchParams { q: q.to_owned(), to, from, thread_id, kind, since, limit }.pairs()
    }
}

impl Client {
    /// `GET /messages/search`: DMs whose body matches `query` (words ANDed,
    /// `"a phrase"`, `prefix*`, `a OR b`, `-excluded`), best first, each
    /// with a snippet. A peer token finds only its own DMs; the operator
    /// token finds all. A search records no delivery. A query the gateway
    /// cannot search is [`crate::Error`] with the code `invalid_query`.
    pub async fn search(&self, query: &str, options: SearchOptions) -> Result<SearchResults> {
        self.get(&["messages", "search"], &options.query(query)).await
    }
}
