//! Values that cross the [`Store`](crate::Store) trait.

use meshgate_proto::{Kind, Peer};

use crate::Timestamp;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// SHA-256 of a bearer token: the only form in which tokens are stored.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenHash(pub [u8; 32]);

impl TokenHash {
    /// Hashes a raw token.
    pub fn of(token: &str) -> Self {
        TokenHash(Sha256::digest(token.as_bytes()).into())
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Order {
    /// Highest id first (the reference's inbox order).
    #[default]
    NewestFirst,
    /// Lowest id first (cursors, threads).
    OldestFirst,
}

/// Filters of `GET /messages`; all given filters must match.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
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
}

/// Filters of `GET /threads`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ThreadQuery {
    /// Substring of the peer pair.
    pub peer: Option<String>,
    /// Substring of the topic.
    pub topic: Option<String>,
    /// Exact session id.
    pub session_id: Option<String>,
    /// Only threads this peer takes part in: named in the peer pair
    /// (`a↔b`), or sender or recipient of one of its messages.
    pub member: Option<String>,
    /// At most this many rows.
    pub limit: u32,
}
