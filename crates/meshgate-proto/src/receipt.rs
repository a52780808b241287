//! Receipts and obligations: what became of a DM (`GET /messages/{id}`)
//! and which questions are still open (`GET /obligations`).

use serde::{Deserialize, Serialize};

use crate::Message;

/// Longest `due_in` a question may carry: 366 days, in seconds.
pub const DUE_IN_MAX_SECS: u64 = 366 * 24 * 3600;

/// Rows per list of `GET /obligations` when no `limit` is given.
pub const OBLIGATIONS_LIMIT_DEFAULT: u32 = 100;

/// Largest `limit` of `GET /obligations` (per list).
pub const OBLIGATIONS_LIMIT_MAX: u32 = 1000;

/// `GET /messages/{id}`: a message with its delivery ladder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MessageStatus {
    /// The message itself, as `GET /messages` shows it.
    #[serde(flatten)]
    pub message: Message,
    /// First hand-over to the recipient (its inbox, a long-poll or a
    /// stream); `None` while never handed over.
    #[serde(default)]
    pub delivered_at: Option<String>,
    /// For a `question`: the id of its first `answer`.
    #[serde(default)]
    pub answer_id: Option<i64>,
    /// The message this one replies to.
    #[serde(default)]
    pub in_reply_to: Option<i64>,
    /// For a `question`: when its answer is due.
    #[serde(default)]
    pub due_at: Option<String>,
    /// The recipient was deleted (its name is retired, its history kept):
    /// nobody will read or answer this message, and a question to it is
    /// no longer open. Left out when false.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub recipient_removed: bool,
}

/// One open question in `GET /obligations`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Obligation {
    /// The question's id.
    pub id: i64,
    /// Who asked.
    pub from_node: String,
    /// Who owes the answer.
    pub to_node: String,
    /// When it was asked.
    pub created_at: String,
    /// When the answer is due, if a deadline was given.
    #[serde(default)]
    pub due_at: Option<String>,
    /// Whether `due_at` has passed.
    #[serde(default)]
    pub overdue: bool,
    /// When it was handed to the recipient, if it was.
    #[serde(default)]
    pub delivered_at: Option<String>,
    /// When the recipient marked it read, if it did.
    #[serde(default)]
    pub read_at: Option<String>,
    /// Thread UUID, if any.
    #[serde(default)]
    pub thread_id: Option<String>,
    /// The question's first 200 characters.
    #[serde(default)]
    pub preview: String,
    /// Whether the question was sent with its sender's own peer token (see
    /// [`crate::Message::sender_verified`]); absent (false) from older gateways.
    #[serde(default)]
    pub sender_verified: bool,
}

/// `GET /obligations`: unanswered questions, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Obligations {
    /// Questions to the peer that it has not answered.
    pub owed: Vec<Obligation>,
    /// The peer's questions that nobody has answered yet.
    pub awaiting: Vec<Obligation>,
}

/// One receipt event on a sender's stream (`GET /messages/stream?receipts=true`,
/// SSE event `delivered`, `read` or `answered`): the ladder of one of its
/// DMs after a change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Receipt {
    /// The DM's id.
    pub id: i64,
    /// Its recipient.
    pub to_node: String,
    /// The highest rung reached: `delivered`, `read` or `answered`.
    pub event: String,
    /// First hand-over to the recipient.
    #[serde(default)]
    pub delivered_at: Option<String>,
    /// When the recipient marked it read.
    #[serde(default)]
    pub read_at: Option<String>,
    /// For a question: its first answer.
    #[serde(default)]
    pub answer_id: Option<i64>,
    /// The change's position in the receipt order (with `id`, the cursor).
    pub seq: i64,
}

impl Receipt {
    /// The event name for a ladder: the highest rung reached.
    pub fn event_for(delivered: bool, read: bool, answered: bool) -> &'static str {
        match (answered, read, delivered) {
            (true, _, _) => "answered",
            (false, true, _) => "read",
            _ => "delivered",
        }
    }
}
