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
//! Two peers, from nothing to a delivered DM (the same flow as
//! `examples/two_peers.rs`, which the test suite runs against a real
//! gateway):
//!
//! ```no_run
//! # async fn demo() -> meshgate_client::Result<()> {
//! use std::io::Write;
//! use std::os::unix::fs::OpenOptionsExt;
//!
//! use futures_util::StreamExt;
//! use meshgate_client::{Client, Error, FetchOptions, Kind, RegisterOptions, SendOptions, StreamStart};
//!
//! let gateway = "http://127.0.0.1:8788";
//! let operator_token = std::env::var("MESH_GATEWAY_TOKEN")
//!     .map_err(|_| Error::Config("set MESH_GATEWAY_TOKEN to the gateway's operator token".into()))?;
//! let dir = std::env::var("HOME").map(|h| format!("{h}/.meshgate-demo")).expect("HOME");
//! std::fs::create_dir_all(&dir).expect("token directory");
//!
//! // 1. Register each peer with the operator token. The first registration
//! //    answers with the peer's own token, exactly once: save it in a file
//! //    created 0600. Later runs get no token back and read that file, so
//! //    the DMs are always sent with the peer's own token (sender_verified).
//! let mut peers = Vec::new();
//! for name in ["alice", "bob"] {
//!     let client = Client::builder().gateway(gateway).node(name).token(&operator_token).build()?;
//!     let registered = client.register(RegisterOptions::new().capability("runtime", "claude")).await?;
//!     let file = format!("{dir}/{name}.token");
//!     let token = match registered.peer_token {
//!         Some(token) => {
//!             let mut options = std::fs::OpenOptions::new();
//!             let saved = options.write(true).create(true).truncate(true).mode(0o600).open(&file);
//!             saved.and_then(|mut f| f.write_all(token.as_bytes()))
//!                 .map_err(|e| Error::Config(format!("saving {file}: {e}")))?;
//!             token
//!         }
//!         None => std::fs::read_to_string(&file)
//!             .map_err(|e| Error::Config(format!("{name} exists but {file} is unreadable: {e}")))?,
//!     };
//!     client.set_token(token.trim(), format!("per-peer token from {file}"));
//!     peers.push(client);
//! }
//! let (alice, bob) = (&peers[0], &peers[1]);
//!
//! // 2. Bob follows his inbox from now on (pinned when `stream` returns).
//! let mut inbox = std::pin::pin!(bob.stream(StreamStart::Now).await?);
//!
//! // 3. Alice sends; the recipient is checked and the content scanned for
//! //    credentials before anything leaves the process.
//! alice.send("bob", Kind::Question, "can you review PR 42?", SendOptions::new()).await?;
//!
//! // 4. Bob gets it, answers it and marks it read.
//! if let Some(message) = inbox.next().await {
//!     let message = message?;
//!     bob.reply(message.id, "yes, looking now", Kind::Answer).await?;
//!     bob.mark_read(message.id).await?;
//! }
//!
//! // Or read a page of the inbox instead of streaming it.
//! let unread = bob.fetch(FetchOptions::unread().limit(20)).await?;
//! # let _ = unread;
//! # Ok(()) }
//! ```
//!
//! Names: a thread is identified by its `thread_id` (a UUID) everywhere in
//! this crate ([`SendOptions::thread_id`], [`Client::thread`],
//! [`Message::thread_id`]); only [`Thread::thread_uuid`] keeps the wire name
//! the Python client reads.

mod admin;
mod builder;
mod client;
mod error;
mod guard;
mod live;
mod loops;
mod messages;
mod options;
mod peers;
mod receipts;
mod registry;
mod search;
mod sse;
mod threads;
mod tls;

pub use builder::{ClientBuilder, DEFAULT_GATEWAY_URL, DEFAULT_TIMEOUT, GATEWAY_TOKEN_ENV, GATEWAY_URL_ENV};
pub use client::Client;
pub use error::{Error, Result};
pub use live::{StreamStart, WaitOptions, DEFAULT_WAIT, RECONNECT_MAX, RECONNECT_MIN, STREAM_IDLE_TIMEOUT, WAIT_MAX};
pub use meshgate_proto::{
    suggestions, Alias, Health, Kind, LoopList, LoopPair, LoopReset, MarkRead, MarkReadBulkResponse, Message,
    MessageStatus, NameError, Obligation, Obligations, Peer, Purged, RegisterResponse, SendResponse, Thread,
    ThreadMessages, TokenRotated, UnknownKind,
};
pub use meshgate_proto::{SearchHit, SearchResults, SnippetSegment};
pub use messages::{SendOptions, SEND_RETRIES_MAX, SEND_RETRY_WAIT_MAX};
pub use options::{Capabilities, FetchOptions, JsonValue, RegisterOptions};
pub use receipts::default_reply_kind;
pub use registry::{KNOWN_ALIASES, REGISTRY_GRACE, REGISTRY_TTL};
pub use search::SearchOptions;
pub use tls::{is_certificate_problem, CA_FILE_ENV};
