//! Values that cross the [`Store`](crate::Store) trait.

use meshgate_proto::{Kind, Message, Peer};

use crate::Timestamp;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// SHA-256 of a bearer token: the only form in which tokens are stored.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenHash(pub [u8; 32]);

impl TokenHash {
    /// Hashes a raw token.
    pub fn of(token: &str) -> Self {
        Self::of_bytes(token.as_bytes())
    }

    /// Hashes raw bytes (e.g. a header that is not valid text).
    pub fn of_bytes(bytes: &[u8]) -> Self {
        TokenHash(Sha256::digest(bytes).into())
    }
}

impl std::fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenHash(..)")
    }
}

/// A registration or re-registration.
#[derive(Debug, Clone)]
pub struct PeerRegistration {
    /// Canonical name (validated by the caller).
    pub name: String,
    /// New URL; `None` keeps the stored one.
    pub url: Option<String>,
    /// New capabilities, replacing the stored ones; `None` keeps them.
    pub capabilities: Option<Map<String, Value>>,
    /// Hash of a freshly generated token, stored only if the peer has no
    /// live token.
    pub mint: TokenHash,
    /// Register a retired name (a deleted peer's, whose DMs are kept) and
    /// let the new peer inherit that history: an operator decision.
    pub adopt_history: bool,
}

/// What [`Store::purge_peer`](crate::Store::purge_peer) deleted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Purged {
    /// Whether a registered peer was deleted.
    pub peer: bool,
    /// DMs deleted (sent or received).
    pub messages: u64,
    /// Aliases deleted.
    pub aliases: u64,
    /// Threads deleted (those the peer minted).
    pub threads: u64,
}

/// Outcome of [`Store::register_peer`](crate::Store::register_peer).
#[derive(Debug, Clone)]
pub struct Registered {
    /// The stored peer after the upsert.
    pub peer: Peer,
    /// Whether `mint` became the peer's token.
    pub minted: bool,
    /// Generation of the live token.
    pub generation: i64,
}

/// Who a live token belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenOwner {
    /// Peer name.
    pub peer: String,
    /// Token generation.
    pub generation: i64,
    /// Whether the peer is enabled.
    pub enabled: bool,
}

/// A recipient after alias resolution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The registered peer name.
    pub canonical: String,
    /// Whether the name given was an alias.
    pub via_alias: bool,
    /// Whether the peer is enabled.
    pub enabled: bool,
}

/// A validated message to store. `created_at` and `id` are assigned by the
/// store at commit time, so id order and time order agree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMessage {
    /// Sender.
    pub from_node: String,
    /// Canonical recipient.
    pub to_node: String,
    /// Kind.
    pub kind: Kind,
    /// Body.
    pub content: String,
    /// Thread UUID; an unknown one is registered as a thread on first use.
    pub thread_id: Option<String>,
    /// Free-form task reference.
    pub related_task_id: Option<String>,
    /// Sender-scoped idempotency key.
    pub idempotency_key: Option<String>,
    /// The message this one replies to (checked by the caller: a party to
    /// it, the other party as recipient). An `answer` to an unanswered
    /// `question` becomes that question's `answer_id` in the same
    /// transaction.
    pub in_reply_to: Option<i64>,
    /// A question's deadline (normalised timestamp).
    pub due_at: Option<Timestamp>,
    /// The sender authenticated with its own per-peer token
    /// ([`meshgate_proto::Message::sender_verified`]).
    pub sender_verified: bool,
}

impl NewMessage {
    /// Digest of every field that affects routing or meaning: a repeated
    /// idempotency key must come with the same digest.
    pub fn digest(&self) -> String {
        let mut h = Sha256::new();
        for part in [
            self.from_node.as_str(),
            self.to_node.as_str(),
            self.kind.as_str(),
            self.thread_id.as_deref().unwrap_or("\u{0}none"),
            self.related_task_id.as_deref().unwrap_or("\u{0}none"),
            self.content.as_str(),
        ] {
            h.update((part.len() as u64).to_le_bytes());
            h.update(part.as_bytes());
        }
        // Added only when set, so digests of DMs without it (stored before
        // replies existed) still match. `due_at` is left out on purpose: a
        // retry with `due_in` computes a new instant and is the same DM.
        if let Some(parent) = self.in_reply_to {
            h.update(b"\0in_reply_to");
            h.update(parent.to_le_bytes());
        }
        h.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// Outcome of [`Store::insert_message`](crate::Store::insert_message).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inserted {
    /// The stored message (the original one for a repeat).
    pub message: meshgate_proto::Message,
    /// True when an idempotency key matched an earlier message.
    pub duplicate: bool,
}

/// Row order of [`MessageQuery`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Order {
    /// Highest id first (the reference's inbox order).
    #[default]
    NewestFirst,
    /// Lowest id first (cursors, threads).
    OldestFirst,
}

/// Filters of `GET /messages`; all given filters must match.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MessageQuery {
    /// Recipient.
    pub to: Option<String>,
    /// Sender.
    pub from: Option<String>,
    /// Sender or recipient (used to scope per-peer callers).
    pub involving: Option<String>,
    /// Thread UUID.
    pub thread_id: Option<String>,
    /// Kind.
    pub kind: Option<Kind>,
    /// Only rows with no `read_at`.
    pub unread_only: bool,
    /// Only rows created strictly after this normalised timestamp.
    pub since: Option<Timestamp>,
    /// Only rows with an id greater than this.
    pub after_id: Option<i64>,
    /// At most this many rows.
    pub limit: u32,
    /// Row order.
    pub order: Order,
    /// Byte budget of the page's encoded rows (see
    /// [`PageBudget`](meshgate_proto::PageBudget)); 0: unlimited. The page
    /// stops before the row that would cross it, keeping at least one row.
    /// Defaults to [`PAGE_BYTES_DEFAULT`](meshgate_proto::PAGE_BYTES_DEFAULT).
    pub max_bytes: usize,
    /// `to` and `from` may name an alias: the query itself matches the
    /// alias's peer, as [`Store::resolve_name`](crate::Store::resolve_name)
    /// resolves it (a peer's own name first, then an alias of a registered
    /// peer, else the name as given), in the same statement as the page,
    /// so the answer reflects the aliases of the moment with no extra
    /// lookup. `false`: the names are matched exactly.
    pub resolve_aliases: bool,
}

impl Default for MessageQuery {
    /// No filters, no row limit, newest first, the default byte budget.
    fn default() -> Self {
        MessageQuery {
            to: None,
            from: None,
            involving: None,
            thread_id: None,
            kind: None,
            unread_only: false,
            since: None,
            after_id: None,
            limit: 0,
            order: Order::default(),
            max_bytes: meshgate_proto::PAGE_BYTES_DEFAULT,
            resolve_aliases: false,
        }
    }
}

/// A page of owned rows ([`Store::list_messages_page`](crate::Store::list_messages_page)).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MessagePage {
    /// The rows, in page order.
    pub messages: Vec<Message>,
    /// The byte budget ([`MessageQuery::max_bytes`]) ended the page: a
    /// further row matched but did not fit (read on after the last id).
    /// A page ended by its `limit` or by running out of rows is not cut.
    pub cut: bool,
}

/// Filters of `GET /threads`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ThreadQuery {
    /// A name in the peer pair.
    pub peer: Option<String>,
    /// Substring of the topic.
    pub topic: Option<String>,
    /// Exact session id.
    pub session_id: Option<String>,
    /// Only threads this peer takes part in: minted by it, or with a DM
    /// it sent or received. Naming a peer in the thread's name (`a↔b`)
    /// gives it nothing. Rows are then as this peer sees them: of a thread
    /// it did not mint, `session_id` is withheld (the minter's) and
    /// `last_used_at` (and the order) is its own newest DM there, so DMs
    /// between others show nothing; `session_id` matches only threads it
    /// minted.
    pub member: Option<String>,
    /// At most this many rows.
    pub limit: u32,
    /// Other names `peer` stands for (its peer's name and aliases), also
    /// matched in the peer pair.
    pub peer_aliases: Vec<String>,
}

// ---------------------------------------------------------------- moving data

/// One token row as exported and imported: the hash only, never the raw
/// token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    /// Peer the token belongs to (the peer need not exist: revoked tokens
    /// of deleted peers are kept so their generations are never reused).
    pub peer: String,
    /// SHA-256 of the raw token.
    pub hash: TokenHash,
    /// Generation (unique per peer).
    pub generation: i64,
    /// When it was minted.
    pub created_at: Timestamp,
    /// When it was revoked; `None` for the live token.
    pub revoked_at: Option<Timestamp>,
}

/// One message with everything a store keeps about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageRecord {
    /// The message. On import its `id` is ignored (the target assigns a
    /// new one); `created_at` and `read_at` are kept.
    pub message: meshgate_proto::Message,
    /// Sender-scoped idempotency key.
    pub idempotency_key: Option<String>,
    /// meshgate's digest of the message ([`NewMessage::digest`]); on import
    /// `None` with a key means "recompute it from the fields".
    pub idempotency_digest: Option<String>,
    /// Where the message came from, `<source-kind>:<source-store-id>:<source-id>`
    /// (e.g. `swarph:3fa1...:17`, `meshgate:9c0e...:42`). Exported as stored
    /// (`None` for a message sent to this store); required on import, where
    /// it makes re-imports idempotent.
    pub origin: Option<String>,
    /// The receipt fields ([`Ladder`]); `answer_id` is derived again on
    /// import, from the replies in id order (first answer wins).
    pub ladder: Ladder,
}

/// What a store keeps about a message beyond its row in `GET /messages`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ladder {
    /// First hand-over to the recipient.
    pub delivered_at: Option<Timestamp>,
    /// For a question: when the answer is due.
    pub due_at: Option<Timestamp>,
    /// For a question: its first answer (an id of the same store).
    pub answer_id: Option<i64>,
    /// The message replied to (an id of the same store).
    pub in_reply_to: Option<i64>,
    /// On export, the origin of the message replied to (its own origin, or
    /// `meshgate:<store-id>:<id>`); on import, the reply is linked to the
    /// target's message with that origin, if present.
    pub in_reply_to_origin: Option<String>,
}

/// Whose open questions [`Store::obligations`](crate::Store::obligations) lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObligationQuery {
    /// The peer (`owed`: questions to it; `awaiting`: its questions);
    /// `None`: the whole mesh (both lists hold every open question).
    pub peer: Option<String>,
    /// At most this many rows per list, oldest first.
    pub limit: u32,
    /// Now, to compute `overdue`.
    pub now: Timestamp,
}

impl MessageRecord {
    /// meshgate's idempotency digest of this message's fields.
    pub fn computed_digest(&self) -> String {
        let m = &self.message;
        NewMessage {
            from_node: m.from_node.clone(),
            to_node: m.to_node.clone(),
            kind: m.kind,
            content: m.content.clone(),
            thread_id: m.thread_id.clone(),
            related_task_id: m.related_task_id.clone(),
            idempotency_key: self.idempotency_key.clone(),
            in_reply_to: None,
            due_at: None,
            sender_verified: false,
        }
        .digest()
    }
}

/// One record of an import batch. Within a batch, records are applied in
/// order; put peers before the tokens, aliases and messages that name them.
#[derive(Debug, Clone, PartialEq)]
pub enum ImportRecord {
    /// A peer, upserted by name.
    Peer(Peer),
    /// A per-peer token, upserted by hash.
    Token(TokenRecord),
    /// An alias, upserted by alias.
    Alias(meshgate_proto::Alias),
    /// A thread, upserted by UUID.
    Thread(meshgate_proto::Thread),
    /// A message, deduplicated by origin (and idempotency key).
    Message(MessageRecord),
}

impl ImportRecord {
    /// The record's kind.
    pub fn kind(&self) -> RecordKind {
        match self {
            ImportRecord::Peer(_) => RecordKind::Peer,
            ImportRecord::Token(_) => RecordKind::Token,
            ImportRecord::Alias(_) => RecordKind::Alias,
            ImportRecord::Thread(_) => RecordKind::Thread,
            ImportRecord::Message(_) => RecordKind::Message,
        }
    }
}

/// The kinds of data records, in dependency order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RecordKind {
    /// Peers.
    Peer,
    /// Per-peer tokens.
    Token,
    /// Aliases.
    Alias,
    /// Threads.
    Thread,
    /// Messages.
    Message,
}

impl RecordKind {
    /// Every kind, in dependency order.
    pub const ALL: [RecordKind; 5] =
        [RecordKind::Peer, RecordKind::Token, RecordKind::Alias, RecordKind::Thread, RecordKind::Message];

    /// The record `type` of the export format (`peer`, `token`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            RecordKind::Peer => "peer",
            RecordKind::Token => "token",
            RecordKind::Alias => "alias",
            RecordKind::Thread => "thread",
            RecordKind::Message => "message",
        }
    }
}

/// What happened to the records of one kind.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportCounts {
    /// Newly stored.
    pub imported: u64,
    /// Already in the target (same natural key or origin); left as it was
    /// except for the merges documented on [`Store::import_batch`](crate::Store::import_batch).
    pub present: u64,
    /// Not stored, by reason.
    pub skipped: std::collections::BTreeMap<String, u64>,
}

impl ImportCounts {
    /// Counts one skipped record.
    pub fn skip(&mut self, reason: impl Into<String>) {
        *self.skipped.entry(reason.into()).or_default() += 1;
    }

    /// Number of skipped records, whatever the reason.
    pub fn skipped_total(&self) -> u64 {
        self.skipped.values().sum()
    }

    /// Adds `other` to these counts.
    pub fn merge(&mut self, other: &ImportCounts) {
        self.imported += other.imported;
        self.present += other.present;
        for (reason, n) in &other.skipped {
            *self.skipped.entry(reason.clone()).or_default() += n;
        }
    }
}

/// Outcome of an import, per record kind.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportStats {
    /// Per kind; a kind never seen has default (zero) counts.
    pub counts: std::collections::BTreeMap<RecordKind, ImportCounts>,
}

impl ImportStats {
    /// The counts of `kind` (zero if none were seen).
    pub fn get(&self, kind: RecordKind) -> ImportCounts {
        self.counts.get(&kind).cloned().unwrap_or_default()
    }

    /// The mutable counts of `kind`.
    pub fn entry(&mut self, kind: RecordKind) -> &mut ImportCounts {
        self.counts.entry(kind).or_default()
    }

    /// Adds `other` to these stats.
    pub fn merge(&mut self, other: &ImportStats) {
        for (kind, c) in &other.counts {
            self.entry(*kind).merge(c);
        }
    }

    /// Records newly stored, all kinds together.
    pub fn imported_total(&self) -> u64 {
        self.counts.values().map(|c| c.imported).sum()
    }
}

/// Why an import skipped a record (the reasons both backends report).
pub mod skip {
    /// A live token was imported for a peer that already has another live one.
    pub const PEER_HAS_LIVE_TOKEN: &str = "the peer already has another live token in the target";
    /// The token's (peer, generation) is taken by a different token.
    pub const GENERATION_TAKEN: &str = "the peer's generation is used by another token in the target";
    /// The alias exists and points to another peer.
    pub const ALIAS_ELSEWHERE: &str = "the alias points to another peer in the target";
    /// The alias names a registered peer.
    pub const ALIAS_IS_PEER: &str = "the alias is a registered peer name in the target";
    /// The alias's peer does not exist.
    pub const ALIAS_UNKNOWN_PEER: &str = "the alias's peer is not registered in the target";
    /// Another thread already has this name.
    pub const THREAD_NAME_TAKEN: &str = "another thread in the target has this name";
    /// The message's idempotency key is used by a different message.
    pub const KEY_TAKEN: &str = "the sender's idempotency key is used by a different message in the target";
    /// A message without an origin.
    pub const NO_ORIGIN: &str = "the message has no origin";
    /// The peer's name is an alias in the target (one namespace for both).
    pub const PEER_IS_ALIAS: &str = "the peer's name is an alias in the target";
}

/// What [`Store::import_batch`](crate::Store::import_batch) did with one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportOutcome {
    /// Newly stored.
    Imported,
    /// Already there.
    Present,
    /// Not stored, for this reason (one of [`skip`]'s).
    Skipped(&'static str),
}

impl ImportStats {
    /// Counts one record of `kind`.
    pub fn record(&mut self, kind: RecordKind, outcome: ImportOutcome) {
        let c = self.entry(kind);
        match outcome {
            ImportOutcome::Imported => c.imported += 1,
            ImportOutcome::Present => c.present += 1,
            ImportOutcome::Skipped(reason) => c.skip(reason),
        }
    }
}

/// The message id `origin` names when it is `meshgate:<store_id>:<id>`.
pub fn own_origin_id(origin: &str, store_id: &str) -> Option<i64> {
    origin.strip_prefix("meshgate:")?.strip_prefix(store_id)?.strip_prefix(':')?.parse().ok()
}

/// Who sent and who receives one message: what the wake-up hub needs to
/// know of a commit, without its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageHead {
    /// Message id.
    pub id: i64,
    /// Sender.
    pub from_node: String,
    /// Recipient.
    pub to_node: String,
}

/// A change to who may act with which token, published by
/// [`Store::subscribe_credentials`](crate::Store::subscribe_credentials)
/// after the commit (on every replica of a shared backend).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialEvent {
    /// The tokens of this peer were rotated or revoked, or the peer was
    /// disabled, enabled or deleted: every live connection opened with one
    /// of its tokens must check that token again.
    Peer(String),
    /// Anything may have changed (an import, or notifications that may have
    /// been lost): every live connection checks its token again.
    Everyone,
}

impl CredentialEvent {
    /// The event an import batch causes, if any: a token record may revoke
    /// a live token, so everyone re-checks.
    pub fn of_import(batch: &[ImportRecord]) -> Option<CredentialEvent> {
        batch.iter().any(|r| matches!(r, ImportRecord::Token(_))).then_some(CredentialEvent::Everyone)
    }
}

/// Which DMs a retention pass deletes ([`Store::purge_expired`](crate::Store::purge_expired)).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Retention {
    /// Read DMs read before this instant (so also created before it);
    /// `None`: read DMs are kept.
    pub read_before: Option<Timestamp>,
    /// Unread DMs created before this instant; `None`: unread DMs are kept.
    pub unread_before: Option<Timestamp>,
}

impl Retention {
    /// The later of the two cutoffs: a thread unused since before it, and
    /// left without DMs, goes with its last DMs.
    pub fn horizon(&self) -> Option<&str> {
        match (&self.read_before, &self.unread_before) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.as_deref().or(b.as_deref()),
        }
    }

    /// Whether a DM created at `created_at`, read at `read_at`, goes.
    pub fn expired(&self, created_at: &str, read_at: Option<&str>) -> bool {
        match read_at {
            Some(read) => self.read_before.as_deref().is_some_and(|c| read < c),
            None => self.unread_before.as_deref().is_some_and(|c| created_at < c),
        }
    }
}

/// What one [`Store::purge_expired`](crate::Store::purge_expired) batch did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PurgePass {
    /// DMs deleted.
    pub messages: u64,
    /// Threads deleted: left without DMs by this batch and unused since
    /// before the horizon.
    pub threads: u64,
    /// Continue the pass after this id.
    pub next_after_id: i64,
    /// No DM after `next_after_id`: the pass is over.
    pub done: bool,
}
