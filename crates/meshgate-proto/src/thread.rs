use serde::{Deserialize, Serialize};

use crate::Message;

/// A thread id in its normal form (lower-case, hyphenated), if `text` is a
/// UUID in any spelling the `uuid` crate reads (upper-case, braces, no
/// hyphens, a `urn:uuid:` prefix): the one reading of a `thread_id` for
/// the gateway and the MCP tools.
pub fn normal_thread_id(text: &str) -> Option<String> {
    uuid::Uuid::parse_str(text).ok().map(|u| u.hyphenated().to_string())
}

/// A named conversation; its UUID is what messages carry as `thread_id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Thread {
    /// The handle messages carry.
    pub thread_uuid: String,
    /// Human name; minting the same name again returns the same UUID.
    pub thread_name: String,
    /// The part of the name before the first `:` (`a↔b` by convention).
    #[serde(default)]
    pub peer_pair: String,
    /// The part after the first `:`.
    #[serde(default)]
    pub topic: String,
    /// Peer-local session id, if the minter gave one.
    #[serde(default)]
    pub session_id: Option<String>,
    /// When it was minted.
    pub created_at: String,
    /// Last mint or message.
    #[serde(default)]
    pub last_used_at: Option<String>,
    /// On `POST /threads`: whether this call minted it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<bool>,
    /// The peer whose token minted it; absent for the operator's shared
    /// namespace. Thread names are unique per minter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minted_by: Option<String>,
}

/// `POST /threads` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewThread {
    /// Human name, 1 to 128 characters.
    pub thread_name: String,
    /// Peer-local session id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
}

/// `GET /threads` envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ThreadList {
    /// Threads, most recently used first.
    pub threads: Vec<Thread>,
}

/// `GET /threads/{uuid}`: metadata and the messages, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ThreadMessages {
    /// Thread metadata.
    pub thread: Thread,
    /// Its messages, oldest first: one page (`limit`, the byte budget).
    pub messages: Vec<Message>,
    /// More messages follow the last one: read on with `after_id` = its id.
    #[serde(default)]
    pub truncated: bool,
}
