//! Async client for the meshgate mesh gateway, one [`Client`] per peer.
//!
//! The client owns three duties the gateway cannot do for it, all run on
//! every [`Client::send`] before any byte of the message leaves the process:
//!
//! 1. **Credential guard**: the content must not contain the client's own
//!    token (always enforced) nor anything `meshgate_guard` flags (skippable
//!    for a known false positive with [`SendOptions::skip_secret_check`]).
//! 2. **Recipient validation**: canonical format, alias resolution (the
//!    built-in [`KNOWN_ALIASES`] plus the gateway's `GET /aliases` table) and
//!    a registry check against `GET /peers`, cached per gateway URL. A miss
//!    re-reads the registry once; an unreachable gateway falls back to a copy
//!    up to an hour old, with a warning.
//! 3. **Typed errors**: a refused credential is [`Error::Auth`] (naming where
//!    the token came from, never the token), a network failure is
//!    [`Error::Unreachable`]; the two are never folded together.
//!
//! It speaks to both meshgate and the Python reference gateway, degrading
//! where the reference lacks an endpoint (aliases, bulk read, rotation,
//! long-poll and streaming: [`Error::Unsupported`]).
//!
//! Live delivery: [`Client::wait`] long-polls the inbox for the next
//! messages; [`Client::stream`] follows it over Server-Sent Events,
//! reconnecting with backoff and resuming by id, so every message is
//! yielded exactly once and in order.
//!
//! ```no_run
//! # async fn demo() -> meshgate_client::Result<()> {
//! use meshgate_client::{Client, Kind, SendOptions};
//! let client = Client::builder().node("lab-ovh").build()?; // MESH_GATEWAY_* fallbacks
//! client.send("droplet", Kind::Fyi, "build is green", SendOptions::new()).await?;
//! for message in client.fetch(None, true, Some(20)).await? {
//!     client.mark_read(message.id).await?;
//! }
//! # Ok(()) }
//! ```

mod admin;
mod client;
mod error;
mod guard;
mod live;
mod loops;
mod receipts;
mod registry;
mod search;
mod sse;
mod tls;

pub use admin::Purged;
pub use client::{
    Client, ClientBuilder, SendOptions, DEFAULT_GATEWAY_URL, DEFAULT_TIMEOUT, GATEWAY_TOKEN_ENV, GATEWAY_URL_ENV,
    SEND_RETRIES_MAX, SEND_RETRY_WAIT_MAX,
};
pub use error::{Error, Result};
pub use live::{StreamStart, WaitOptions, DEFAULT_WAIT, RECONNECT_MAX, RECONNECT_MIN, STREAM_IDLE_TIMEOUT, WAIT_MAX};
pub use meshgate_proto::{
    suggestions, Alias, Health, Kind, LoopList, LoopPair, LoopReset, MarkRead, MarkReadBulkResponse, Message,
    MessageStatus, Obligation, Obligations, Peer, RegisterResponse, SendResponse, Thread, ThreadMessages, TokenRotated,
};
pub use meshgate_proto::{SearchHit, SearchResults, SnippetSegment};
pub use receipts::default_reply_kind;
pub use registry::{KNOWN_ALIASES, REGISTRY_GRACE, REGISTRY_TTL};
pub use search::SearchOptions;
pub use tls::{is_certificate_problem, CA_FILE_ENV};
