//! meshgate's MCP server: the tool set an agent host (Claude Code, Codex,
//! Gemini CLI, ...) uses to talk on the mesh, written once.
//!
//! The tools ([`MeshServer`]) are generic over [`Mesh`], the handful of mesh
//! operations they need. Two implementations exist: `meshgate mcp --as NAME`
//! (stdio) runs them over `meshgate-client`, so a send is validated and
//! scanned exactly as the CLI does; the gateway's `/mcp` (streamable HTTP)
//! runs them against its own router with the session's bearer token, so
//! every auth, validation, guard and privacy rule applies exactly as for a
//! plain HTTP client. Neither side can drift from the other: the tool
//! names, schemas, descriptions, framing and error shapes live here.
//!
//! Every DM shown to the model goes through [`meshgate_proto::framing`]:
//! who sent it, whether that identity is verified, and a frame marking the
//! body as data from another agent.
//!
//! Push: the resource `meshgate://inbox` (subscribe for
//! `notifications/resources/updated`) and, for a client that declares the
//! experimental `claude/channel` capability (or when [`Options::channel`] is
//! set), `notifications/claude/channel` with the framed DM.

mod push;
mod server;
pub mod stdio;
mod text;

use async_trait::async_trait;
use meshgate_proto::{Kind, Message, Obligations, Peer, SendResponse, ThreadMessages};
use serde::Serialize;

pub use rmcp;
pub use server::{MeshServer, Options, INBOX_URI, WAIT_MAX_SECS};
pub use text::RESULT_BUDGET;

/// A DM to send, as the `send_message` and `reply` tools built it.
#[derive(Debug, Clone)]
pub struct Draft {
    /// Recipient (a name or alias).
    pub to: String,
    /// Kind.
    pub kind: Kind,
    /// Body.
    pub content: String,
    /// Thread UUID.
    pub thread_id: Option<String>,
    /// Free-form task reference.
    pub related_task_id: Option<String>,
    /// The DM this answers (`reply`): the gateway sends it to that DM's
    /// other party, in its thread, and links a question to its answer.
    pub in_reply_to: Option<i64>,
}

/// A refusal, carried to the model as an MCP tool error (`isError: true`)
/// whose text is this as JSON. Never holds a token or a message body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ToolError {
    /// The gateway's stable code (`unknown_recipient`, `secret_detected`, ...).
    pub error: String,
    /// Human explanation.
    pub detail: String,
    /// Close names, for `unknown_recipient`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub suggestions: Vec<String>,
}

impl ToolError {
    /// An error with a code and a detail.
    pub fn new(error: impl Into<String>, detail: impl Into<String>) -> Self {
        ToolError { error: error.into(), detail: detail.into(), suggestions: Vec::new() }
    }
}

/// Result of a [`Mesh`] operation.
pub type MeshResult<T> = Result<T, ToolError>;

/// The mesh operations the tools need, acting as one peer.
///
/// `Call` is what identifies the caller of one request: nothing for stdio
/// (one peer per process), the bearer token for `/mcp`, taken from each
/// HTTP request so a revoked token stops working at once.
#[async_trait]
pub trait Mesh: Send + Sync + 'static {
    /// The per-request caller.
    type Call: Clone + Send + Sync + 'static;

    /// The caller of a request, from its extensions (rmcp puts the HTTP
    /// request's `http::request::Parts` there for streamable HTTP).
    fn call(&self, extensions: &rmcp::model::Extensions) -> MeshResult<Self::Call>;

    /// The peer this call acts as, confirmed by the gateway: an error when
    /// it does not answer or refuses the credentials.
    async fn whoami(&self, call: &Self::Call) -> MeshResult<String>;

    /// The registry.
    async fn peers(&self, call: &Self::Call) -> MeshResult<Vec<Peer>>;

    /// Sends a DM (validated and scanned).
    async fn send(&self, call: &Self::Call, draft: Draft) -> MeshResult<SendResponse>;

    /// The caller's inbox, newest first, at most `limit` rows.
    async fn inbox(&self, call: &Self::Call, unread_only: bool, limit: u32) -> MeshResult<Vec<Message>>;

    /// DMs to the caller with an id above `after_id` (oldest first, at most
    /// `limit`), waiting up to `wait_secs` (<= 60) for the first one.
    async fn received_after(
        &self,
        call: &Self::Call,
        after_id: i64,
        limit: u32,
        wait_secs: u64,
    ) -> MeshResult<Vec<Message>>;

    /// The id of the newest DM to the caller (0 when none).
    async fn latest_id(&self, call: &Self::Call) -> MeshResult<i64>;

    /// Marks DMs to the caller read; returns the ids marked.
    async fn mark_read(&self, call: &Self::Call, ids: &[i64]) -> MeshResult<Vec<i64>>;

    /// One page of a thread's DMs the caller may read, oldest first: at
    /// most `limit` (fewer where the gateway's page byte budget ends first)
    /// with an id above `after_id`; `truncated` says more may follow.
    async fn thread(
        &self,
        call: &Self::Call,
        thread_id: &str,
        after_id: Option<i64>,
        limit: u32,
    ) -> MeshResult<ThreadMessages>;

    /// The caller's open questions (`GET /obligations` for itself): owed
    /// and awaiting, overdue first.
    async fn obligations(&self, call: &Self::Call) -> MeshResult<Obligations>;
}
