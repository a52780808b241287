//! Wire types of the mesh-gateway HTTP API, shared by `meshgate-server` and
//! `meshgate-client`.
//!
//! This crate owns the JSON shapes and nothing else: no I/O, no async runtime,
//! no HTTP or database crates, so an agent can embed the client cheaply. The
//! shapes are those the Python `swarph-mesh` client and `swarph mesh` CLI
//! already speak, with the reference gateway's defects fixed (see the
//! project README): `related_task_id` is a string, `enabled` a boolean.
//!
//! Deserialisation is lenient where the Python gateway differs (integers for
//! `related_task_id` and `enabled`, unknown extra fields), so the same types
//! read answers from either gateway.

mod body;
pub mod framing;
mod json;
mod json_ser;
mod kind;
mod list_query;
mod mark_read;
mod message;
mod name;
mod page;
mod peer;
mod queries;
mod receipt;
mod register;
mod search;
mod send;
mod suggest;
mod thread;
mod traffic;

pub use body::{shown, type_name, BodyError, BodyErrorKind, Fields, SHOWN_MAX};
pub use json_ser::EncodeError;
pub use kind::{Kind, UnknownKind};
pub use list_query::{ListQuery, StreamQuery};
pub use mark_read::MARK_READ_IDS_MAX;
pub use message::{
    MarkRead, MarkReadBulk, MarkReadBulkResponse, Message, MessageList, MessageListWriter, MessageRef, SendRequest,
    SendResponse,
};
pub use name::{validate_peer_name, NameError, PEER_NAME_MAX, PEER_NAME_PATTERN};
pub use page::{PageBudget, PAGE_BYTES_DEFAULT};
pub use peer::{
    Alias, AliasDeleted, AliasList, NewAlias, Peer, PeerChanged, PeerList, PeerRemoved, PeerUpdate, Purged,
    RegisterRequest, RegisterResponse, SecretGuard, TokenRotated,
};
pub use queries::{DeletePeerQuery, ObligationsQuery, SearchParams, ThreadPageQuery, ThreadsQuery};
pub use receipt::{
    MessageStatus, Obligation, Obligations, Receipt, DUE_IN_MAX_SECS, OBLIGATIONS_LIMIT_DEFAULT, OBLIGATIONS_LIMIT_MAX,
};
pub use register::{
    check_capabilities, check_url, CAPABILITIES_MAX_BYTES, CAPABILITIES_MAX_DEPTH, CAPABILITIES_MAX_KEYS, URL_MAX_CHARS,
};
pub use search::{
    SearchHit, SearchResults, SnippetSegment, SEARCH_LIMIT_DEFAULT, SEARCH_LIMIT_MAX, SEARCH_QUERY_MAX_BYTES,
    SEARCH_TERMS_MAX,
};
pub use send::{
    SendContext, DUE_AT_MAX_CHARS, IDEMPOTENCY_KEY_MAX_CHARS, SEND_NAME_MAX_CHARS, TASK_ID_MAX_CHARS,
    THREAD_ID_MAX_CHARS,
};
pub use suggest::{edit_distance, suggestions, SUGGESTIONS_MAX, SUGGEST_MAX_EDITS};
pub use thread::{normal_thread_id, NewThread, Thread, ThreadList, ThreadMessages, THREAD_NAME_MAX_CHARS};
pub use traffic::{LoopList, LoopPair, LoopReset};

use serde::{Deserialize, Serialize};

/// Largest message body, in characters (Unicode scalar values), as the
/// reference gateway counts it.
pub const CONTENT_MAX_CHARS: usize = 200_000;

/// Largest `limit` accepted by `GET /messages`.
pub const LIST_LIMIT_MAX: u32 = 1000;

/// Default `limit` of `GET /messages` when none is given.
pub const LIST_LIMIT_DEFAULT: u32 = 100;

/// Longest `wait=` a long-poll may ask for, in seconds.
pub const WAIT_MAX_SECS: u64 = 60;

/// Every error the gateway returns: a stable machine code and a human detail.
///
/// `detail` is the key the Python client prints, so it is always present.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    /// Stable machine-readable code, e.g. `unknown_kind`, `caller_binding`.
    #[serde(default)]
    pub error: String,
    /// Human-readable explanation; never echoes rejected content.
    #[serde(default, deserialize_with = "message::detail_any")]
    pub detail: String,
    /// Close names when a recipient is unknown (aliases first).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub suggestions: Vec<String>,
}

/// `GET /health`: liveness without disclosing paths or counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Health {
    /// `ok` when the store answers, `degraded` when it does not.
    pub status: String,
    /// Always `mesh-gateway`, the name Python tooling checks for.
    #[serde(default)]
    pub service: String,
    /// The gateway's version.
    #[serde(default)]
    pub version: String,
    /// Version of the newest applied storage migration.
    #[serde(default)]
    pub schema_version: Option<i64>,
    /// `ok` or `unavailable`: whether the store answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store: Option<String>,
}

/// `GET /ready` answer while the store answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Ready {
    /// Always `ready`.
    pub status: String,
}
