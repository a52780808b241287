//! The storage contract of the meshgate gateway.
//!
//! This crate owns *what* the gateway stores and the guarantees each backend
//! must give, not *how*: the [`Store`] trait, the models that cross it, the
//! [`StoreError`] every backend maps its failures to, and (behind the
//! `conformance` feature) one behavioural story that every backend's tests
//! run, so SQLite and PostgreSQL cannot drift.
//!
//! Guarantees every backend gives:
//! - a write is durable when its future resolves `Ok` (the gateway answers
//!   200 only after that);
//! - message ids are unique and grow in commit order, so an `after_id`
//!   cursor never skips a committed message;
//! - [`Store::subscribe`] yields the highest committed message id; a wake-up
//!   is a hint to re-read from a cursor, never the data itself.
//! - identity rules hold whoever calls ([`Refusal`]): peers and aliases
//!   share one namespace, a deleted peer with history retires its name,
//!   a message never goes to its own sender, thread names are unique per
//!   minter and never UUIDs. Who may *read* what is the server's rule (one
//!   [`MessageQuery`] scoped with `involving`), not the store's.
//!
//! Construction (open a file, connect, migrate) is an inherent function of
//! each backend, not part of the trait.
//!
//! # Moving data between stores
//!
//! Every store has a random [`Store::store_id`], created by its migration.
//! [`Store::export_tokens`], [`Store::export_threads`] and
//! [`Store::export_messages`] (with [`Store::list_peers`] and
//! [`Store::aliases`]) read everything out; [`Store::import_batch`] writes
//! records into another store, idempotently: peers, tokens, aliases and
//! threads are upserted by natural key, messages are deduplicated by their
//! *origin* (`<source-kind>:<source-store-id>:<source-id>`, kept in a unique
//! column), so importing the same data twice stores nothing new.

mod boundary;
mod models;
mod search;
mod sql_text;
mod time_fmt;

#[cfg(feature = "conformance")]
pub mod conformance;

pub use boundary::{classify_tables, refuse_foreign, DatabaseContents};
pub use models::*;
pub use search::{
    head, parse_query, rank_bodies, rank_hits, rank_window, snippet, words, Clause, Phrase, QueryError, SearchExpr,
    SearchPage, SearchQuery, StoredHit, SEARCH_BUDGET_DEFAULT, SEARCH_CANDIDATES_MAX, SEARCH_RANK_BODY_MAX,
    SEARCH_RANK_BYTES, SNIPPET_CHARS, SNIPPET_SCAN_BYTES,
};
pub use sql_text::{
    like_escape, like_pattern, pair_side_pattern, parse_thread_name, FROM_NODE_RESOLVED_SQL, PAIR_SIDES_SQL,
    TO_NODE_RESOLVED_SQL,
};
pub use time_fmt::{now_timestamp, parse_timestamp, timestamp_ago, timestamp_in, Timestamp};

use async_trait::async_trait;

/// Told of each committed write transaction of a store (the gateway's
/// metrics); called on the store's writer, so it must be quick.
pub trait CommitObserver: Send + Sync + 'static {
    /// A transaction of `jobs` writes committed; its `COMMIT` took
    /// `commit` (SQLite: the WAL fsync).
    fn committed(&self, jobs: usize, commit: std::time::Duration);
}

/// Takes the rows of a message page from [`Store::visit_messages`], one at
/// a time, borrowed from the store's buffers: the gateway encodes each row
/// while the store still holds it, so a page is never copied into owned
/// [`Message`]s on the way to its answer.
pub trait RowSink: Send {
    /// Takes one row; `false` ends the page before it (the row is not
    /// taken and the store reads no further).
    fn row(&mut self, m: MessageRef<'_>) -> bool;
}

impl<F: FnMut(MessageRef<'_>) -> bool + Send> RowSink for F {
    fn row(&mut self, m: MessageRef<'_>) -> bool {
        self(m)
    }
}

use meshgate_proto::{
    Alias, MarkRead, Message, MessageRef, MessageStatus, Obligations, PageBudget, Peer, Receipt, Thread,
};

/// Why a store operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The named thing does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// The write contradicts stored state (e.g. an idempotency key reused
    /// with a different body).
    #[error("conflict: {0}")]
    Conflict(String),
    /// The backend cannot be reached right now; retrying later may work.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// Anything else the backend reported; logged, never shown to callers.
    #[error("store backend error: {0}")]
    Backend(String),
    /// A write the data model forbids whoever asks (see [`Refusal`]).
    #[error("refused ({0:?}): {1}")]
    Refused(Refusal, String),
}

/// Why the data model refuses a write, whatever the caller may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Peers and aliases share one namespace: the name is already a
    /// registered peer or an alias.
    NameTaken,
    /// The name belonged to a deleted peer whose DMs or threads are kept;
    /// it comes back only by adopting that history or after a purge.
    NameRetired,
    /// A message whose sender is its (canonical) recipient.
    SelfMessage,
    /// A thread name that parses as a UUID (it could shadow a thread id).
    ThreadNameIsUuid,
}

/// Shorthand for store results.
pub type StoreResult<T> = Result<T, StoreError>;

/// Everything the gateway persists. One implementation per backend crate.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Version of the newest applied migration; also a liveness probe.
    async fn schema_version(&self) -> StoreResult<i64>;

    /// Creates or updates a peer. Mints `mint` as the peer's token only when
    /// it has no live token (first registration, or after a revocation).
    /// Refuses a name that is an alias ([`Refusal::NameTaken`]) or retired
    /// ([`Refusal::NameRetired`], unless `adopt_history`).
    async fn register_peer(&self, reg: PeerRegistration) -> StoreResult<Registered>;
    /// All peers, ordered by name.
    async fn list_peers(&self) -> StoreResult<Vec<Peer>>;
    /// One peer.
    async fn peer(&self, name: &str) -> StoreResult<Option<Peer>>;
    /// Removes a peer, revokes its tokens and drops the aliases pointing to
    /// it. Its messages and threads stay; if it has any, its name is
    /// retired (see [`Store::register_peer`], [`Store::purge_peer`]).
    async fn delete_peer(&self, name: &str) -> StoreResult<()>;
    /// Enables or disables a peer.
    async fn set_peer_enabled(&self, name: &str, enabled: bool) -> StoreResult<Peer>;
    /// Records `last_seen` for several peers at once (coalesced by the caller).
    async fn touch_peers(&self, seen: Vec<(String, Timestamp)>) -> StoreResult<()>;

    /// The live token with this hash, if any.
    async fn token_owner(&self, token_hash: &TokenHash) -> StoreResult<Option<TokenOwner>>;
    /// Revokes the peer's live tokens and stores `new_hash` as the next
    /// generation; returns that generation.
    async fn rotate_token(&self, name: &str, new_hash: TokenHash) -> StoreResult<i64>;
    /// Revokes every live token of the peer.
    async fn revoke_tokens(&self, name: &str) -> StoreResult<()>;

    /// Creates or repoints an alias. `canonical` must be a registered peer
    /// and `alias` must not be one ([`Refusal::NameTaken`]) nor a retired
    /// name ([`Refusal::NameRetired`]).
    async fn put_alias(&self, alias: &str, canonical: &str) -> StoreResult<Alias>;
    /// All aliases, ordered by alias.
    async fn aliases(&self) -> StoreResult<Vec<Alias>>;
    /// Removes an alias.
    async fn delete_alias(&self, alias: &str) -> StoreResult<()>;
    /// Resolves a recipient: a peer name, or an alias of one.
    async fn resolve_name(&self, name: &str) -> StoreResult<Option<Resolved>>;

    /// Stores a message, or returns the original one for a repeated
    /// idempotency key with the same body (`Conflict` for a different body).
    /// A message to its own sender is [`Refusal::SelfMessage`].
    async fn insert_message(&self, msg: NewMessage) -> StoreResult<Inserted>;
    /// Messages matching `q`, as owned rows: [`Store::visit_messages`]
    /// stopped by the page's byte budget ([`MessageQuery::max_bytes`],
    /// see [`PageBudget`]).
    async fn list_messages(&self, q: &MessageQuery) -> StoreResult<Vec<Message>> {
        Ok(self.list_messages_page(q).await?.messages)
    }
    /// One message.
    async fn message(&self, id: i64) -> StoreResult<Option<Message>>;
    /// Marks messages read, keeping the first `read_at` of any already read.
    /// With `recipient`, only that peer's messages are marked. Returns the
    /// rows that are (now or already) read; missing ids are left out.
    async fn mark_read(&self, ids: &[i64], recipient: Option<&str>) -> StoreResult<Vec<MarkRead>>;

    /// Returns the thread named `name` in the operator's shared namespace,
    /// minting it on first use ([`Store::mint_thread_as`] with no minter).
    async fn mint_thread(&self, name: &str, session_id: Option<&str>) -> StoreResult<Thread>;
    /// Threads, most recently used first.
    async fn threads(&self, q: &ThreadQuery) -> StoreResult<Vec<Thread>>;
    /// One thread by UUID.
    async fn thread(&self, uuid: &str) -> StoreResult<Option<Thread>>;

    /// The store's random id (32 hex digits), created once by its migration.
    /// Message origins of data exported from this store use it.
    async fn store_id(&self) -> StoreResult<String>;

    /// Every token row, live and revoked, ordered by peer and generation.
    async fn export_tokens(&self) -> StoreResult<Vec<TokenRecord>>;
    /// Up to `limit` threads with a UUID greater than `after` (bytewise),
    /// ordered by UUID; page with the last UUID returned.
    async fn export_threads(&self, after: Option<&str>, limit: u32) -> StoreResult<Vec<Thread>>;
    /// Up to `limit` messages with an id greater than `after_id`, in id
    /// order, with their idempotency key, digest and origin.
    async fn export_messages(&self, after_id: i64, limit: u32) -> StoreResult<Vec<MessageRecord>>;

    /// Applies `batch` in order, in one transaction (all or nothing), and
    /// counts what happened per record kind. Per record:
    ///
    /// - **peer** (by name): a new one is stored with every field; a present
    ///   one keeps its url, capabilities and enabled flag, and takes the
    ///   earlier `registered_at` and the later `last_seen`/`last_health`;
    ///   skipped when its name is an alias.
    /// - **token** (by hash): a present hash is left alone, except that a
    ///   revocation in the record revokes it. A new one is skipped when its
    ///   (peer, generation) is taken, or when it is live and the peer already
    ///   has a live token; a target's live token is never revoked by an import.
    /// - **alias** (by alias): present if it points to the same peer; skipped
    ///   if it points elsewhere, names a peer, or its peer is not registered.
    /// - **thread** (by UUID): a present one takes the later `last_used_at`
    ///   (and the record's session id if it has none); a new one is skipped
    ///   when its name belongs to another thread.
    /// - **message** (by origin): present when a message with the same origin
    ///   exists (or the origin names this very store and the id exists), or
    ///   when the sender's idempotency key is taken by a message with the same
    ///   digest (skipped for a different digest). A present message takes the
    ///   record's `read_at` if it is unread. A new one gets the next id
    ///   (ids are assigned in batch order, after every message already
    ///   stored) and keeps `created_at`, `read_at`, thread, task id, key and
    ///   digest (computed when a key comes without one); an unknown thread
    ///   UUID is registered as a thread, as for [`Store::insert_message`].
    ///
    /// Subscribers are woken after the commit when messages were added.
    async fn import_batch(&self, batch: Vec<ImportRecord>) -> StoreResult<ImportStats>;

    /// Highest committed message id, updated after every commit that adds a
    /// message (from any replica, for shared backends). Subscribe before
    /// reading, then wait for a change: no commit is missed.
    fn subscribe(&self) -> tokio::sync::watch::Receiver<i64>;

    /// Returns the thread named `name` in `minter`'s namespace (`None`: the
    /// operator's), minting it on first use. Never returns a thread of
    /// another namespace; only this call (by the same minter) updates the
    /// thread's `session_id`. A UUID-shaped name is
    /// [`Refusal::ThreadNameIsUuid`].
    async fn mint_thread_as(&self, name: &str, session_id: Option<&str>, minter: Option<&str>) -> StoreResult<Thread>;

    /// Deletes `name` and its history: the peer (revoking its tokens), the
    /// aliases pointing to it, every DM it sent or received (with their
    /// idempotency keys), the threads it minted, and its retirement, so the
    /// name is free. `NotFound` when there was nothing to purge.
    async fn purge_peer(&self, name: &str) -> StoreResult<Purged>;

    /// Sets (`Some`) or clears (`None`) the peer's own credential-guard
    /// policy (`block`, `warn` or `off`; shown as [`Peer::secret_guard`]).
    /// It is not exported: a deployment's policy, not the peer's identity.
    async fn set_peer_secret_guard(&self, name: &str, policy: Option<&str>) -> StoreResult<Peer>;

    /// Up to `limit` message heads (id, sender, recipient) with an id
    /// greater than `after_id`, in id order; bodies are not read.
    async fn message_heads(&self, after_id: i64, limit: u32) -> StoreResult<Vec<MessageHead>>;

    /// Credential changes, published after each commit that rotates or
    /// revokes a peer's tokens, disables or enables it, deletes it, or
    /// imports token revocations (from any replica, for shared backends). A
    /// receiver that lags behind must treat it as
    /// [`CredentialEvent::Everyone`].
    fn subscribe_credentials(&self) -> tokio::sync::broadcast::Receiver<CredentialEvent>;

    /// [`Store::insert_message`] for the send route: in the same
    /// transaction, both ends must still be registered peers (`NotFound`
    /// `peer "x"` otherwise). A peer deleted between the route's check and
    /// the insert would otherwise get a DM after its name was (or was not)
    /// retired, and a new peer of that name would read it. An idempotent
    /// resend of a stored message is answered as by `insert_message`.
    async fn insert_message_between_peers(&self, msg: NewMessage) -> StoreResult<Inserted>;

    /// Reports every committed write transaction to `observer` from now on
    /// (batch size and commit time, for metrics); false if this backend
    /// does not report, or already reports to another observer.
    fn observe_commits(&self, observer: std::sync::Arc<dyn CommitObserver>) -> bool {
        let _ = observer;
        false
    }

    /// One retention batch: examines the next `limit` DMs with ids above
    /// `after_id`, in id order, deletes those `policy` says are expired
    /// (with their idempotency keys), then the threads this left without
    /// DMs that were last used before [`Retention::horizon`]. A caller runs
    /// batches from `after_id = 0` until `done`. Every DM is examined: ids
    /// follow creation time only for DMs sent here (imported ones keep
    /// their original times under new ids), so no batch may stop early.
    async fn purge_expired(&self, policy: &Retention, after_id: i64, limit: u32) -> StoreResult<PurgePass>;

    /// Records the first hand-over of `ids` to their recipient: sets
    /// `delivered_at` where it is unset, in one statement (the first
    /// delivery wins; unknown ids are ignored). Called by the gateway's
    /// delivery batcher, never on a read path.
    async fn mark_delivered(&self, ids: Vec<i64>) -> StoreResult<()>;
    /// One message with its receipt ladder (`delivered_at`, `read_at`,
    /// `answer_id`, `in_reply_to`, `due_at`).
    async fn message_status(&self, id: i64) -> StoreResult<Option<MessageStatus>>;
    /// Unanswered questions (no `answer_id`), oldest first, each list cut
    /// at `q.limit`.
    async fn obligations(&self, q: &ObligationQuery) -> StoreResult<Obligations>;
    /// Ladder changes of `sender`'s DMs after the cursor `(seq, id)`, in
    /// `(receipt_seq, id)` order, at most `limit`. Every change (delivery,
    /// read, answer) stamps the row with the next receipt sequence number,
    /// in commit order (across replicas for shared backends).
    async fn receipts(&self, sender: &str, after: (i64, i64), limit: u32) -> StoreResult<Vec<Receipt>>;
    /// The highest receipt sequence number committed (where a new stream
    /// starts).
    async fn receipt_head(&self) -> StoreResult<i64>;
    /// What [`Store::insert_message`] would answer for `msg` without storing
    /// anything, when its sender already used its idempotency key: the
    /// original as a duplicate (same digest), or `Conflict` (another body).
    /// `None` when `msg` has no key or the key is unused. Lets the gateway
    /// answer an exact resend before its traffic limits refuse it.
    async fn prior_message(&self, msg: &NewMessage) -> StoreResult<Option<Inserted>>;

    /// Full-text search: of the messages matching `q`'s filters and scope
    /// whose body matches `q.expr`, the newest [`SEARCH_CANDIDATES_MAX`]
    /// are ranked and the best `q.limit` returned (best first, ties newest
    /// first). Stops early, flagged [`SearchPage::truncated`], when more
    /// matched or when `q.budget` of store time ran out (the hits are then
    /// the best of what it saw, possibly none). A lookup only: it records
    /// no delivery.
    async fn search(&self, q: &SearchQuery) -> StoreResult<SearchPage>;

    /// The rows matching `q` (filters, order, `limit`), handed to `sink` in
    /// page order while the store holds them, until the page ends or `sink`
    /// refuses a row. The store applies no byte budget here
    /// ([`MessageQuery::max_bytes`] is the sink's business) and records
    /// nothing: this is how `GET /messages` reads a page and encodes it.
    async fn visit_messages(&self, q: &MessageQuery, sink: &mut dyn RowSink) -> StoreResult<()>;

    /// [`Store::list_messages`], saying whether the byte budget cut the
    /// page ([`MessagePage::cut`]): the refused row is the proof that more
    /// follow, so a caller needs no second query to learn it.
    async fn list_messages_page(&self, q: &MessageQuery) -> StoreResult<MessagePage> {
        let mut budget = PageBudget::new(q.max_bytes);
        let mut page = MessagePage::default();
        let mut keep = |m: MessageRef<'_>| {
            let fits = budget.admit(&m);
            if fits {
                page.messages.push(Message::from(m));
            }
            page.cut = !fits;
            fits
        };
        self.visit_messages(q, &mut keep).await?;
        Ok(page)
    }

    /// [`Store::message_heads`] for following commits (the wake-up hub):
    /// up to `limit` heads of messages with an id above `after_id`, in id
    /// order, never leaving out one at or below the newest id
    /// [`Store::subscribe`] published. A store may answer from memory what
    /// its own writer just committed, so a message deleted since may still
    /// be named (a wake-up is only a hint). By default: `message_heads`.
    async fn committed_heads(&self, after_id: i64, limit: u32) -> StoreResult<Vec<MessageHead>> {
        self.message_heads(after_id, limit).await
    }

    /// A mark of what the store holds: it changes whenever anything commits
    /// a change to the store's data (this process's writes and those of
    /// any other process on the same data), and may change without one.
    /// While it is unchanged, a read answers what it answered before, so a
    /// caller may keep a result under the mark it took *before* reading it
    /// and reuse it while the mark is the same (`GET /messages` pages do).
    /// `None`: this backend cannot tell cheaply and nothing may be reused
    /// (the default; PostgreSQL, whose replicas write behind each other's
    /// backs).
    fn change_mark(&self) -> Option<u64> {
        None
    }
}

/// Is `name` something `uuid` parsing would accept as a UUID (hyphenated,
/// simple, braced or `urn:uuid:` form)? Such names cannot be thread names.
pub fn looks_like_uuid(name: &str) -> bool {
    let s = name.strip_prefix("urn:uuid:").unwrap_or(name);
    let s = s.strip_prefix('{').and_then(|s| s.strip_suffix('}')).unwrap_or(s);
    let hex = |part: &str| part.bytes().all(|b| b.is_ascii_hexdigit());
    match s.len() {
        32 => hex(s),
        36 => {
            let groups: Vec<&str> = s.split('-').collect();
            groups.iter().map(|g| g.len()).eq([8, 4, 4, 4, 12]) && groups.iter().all(|g| hex(g))
        }
        _ => false,
    }
}
