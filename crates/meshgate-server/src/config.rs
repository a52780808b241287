//! Gateway settings: one documented struct, secrets redacted in `Debug`.

use std::fmt;
use std::time::Duration;

/// The gateway's `--secret-guard` (and a peer's own policy): a wire value, so
/// proto defines it.
pub use meshgate_proto::SecretGuard;

/// The operator token: can do everything. Compared in constant time;
/// never printed.
#[derive(Clone)]
pub struct OperatorToken(String);

/// The shortest operator token (in bytes) that peers' bodies are checked
/// for verbatim (422 `secret_detected`): a shorter one could be guessed
/// through that check's yes/no, many candidates per request (and would
/// match ordinary words). `meshgate serve` warns about a shorter one.
pub const MIN_OPERATOR_TOKEN: usize = 24;

impl OperatorToken {
    /// Wraps a raw token.
    pub fn new(raw: impl Into<String>) -> Self {
        OperatorToken(raw.into())
    }

    /// The raw token (for the one place that writes it to its file).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for OperatorToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OperatorToken(<redacted>)")
    }
}

/// Behaviour switches of one gateway process.
#[derive(Debug, Clone)]
pub struct Config {
    /// The operator (shared) token, `MESH_GATEWAY_TOKEN`.
    pub operator_token: OperatorToken,
    /// Refuse the operator token for message traffic (send, inbox, mark read).
    pub require_peer_tokens: bool,
    /// Store DMs to names that are not registered peers (the reference's
    /// behaviour); off by default.
    pub allow_unknown_recipients: bool,
    /// Credential policy for message bodies.
    pub secret_guard: SecretGuard,
    /// How often coalesced `last_seen` updates are written.
    pub last_seen_flush: Duration,
    /// Failed authentications per address per minute before 429 (0: no limit).
    pub auth_failures_per_minute: u32,
    /// Apply that limit (and [`Config::max_unauthenticated_per_address`])
    /// to loopback clients too. Off by default: local
    /// agents and test suites share 127.0.0.1, and 256-bit tokens cannot be
    /// guessed from a shell on the same machine anyway.
    pub limit_loopback: bool,
    /// Interval of SSE keep-alive comments.
    pub keep_alive: Duration,
    /// Open `GET /messages/stream` responses per peer; a newer one beyond
    /// it ends the peer's oldest (0: no cap).
    pub max_streams_per_peer: usize,
    /// Waiting long-polls (`wait` > 0) per peer; a newer one beyond it
    /// makes the peer's oldest answer its empty page (0: no cap).
    pub max_polls_per_peer: usize,
    /// Byte budget of one `GET /messages` page (encoded rows; at least one
    /// row is always sent). 0: unlimited.
    pub page_max_bytes: usize,
    /// Bytes of `GET /messages` pages kept for reuse while the store is
    /// unchanged (one page at most a sixteenth); 0: none kept. Only a store
    /// with a change mark (SQLite) keeps any.
    pub page_cache_bytes: usize,

    /// Most connections served at once; `None`: derived from the file
    /// descriptor limit ([`crate::limits::derived_max_connections`]).
    pub max_connections: Option<usize>,
    /// Most connections per client address that have not yet completed an
    /// authenticated request (0: no limit). Loopback is exempt unless
    /// [`Config::limit_loopback`].
    pub max_unauthenticated_per_address: usize,
    /// Most not-yet-authenticated connections from all addresses together,
    /// loopback included (0: no limit). Beyond, the oldest one is closed if
    /// it has had a second to authenticate, else the new one is refused:
    /// each can hold a half-sent request head (up to ~80 KiB).
    pub max_unauthenticated: usize,
    /// Connections accepted beyond [`Config::max_connections`] that may
    /// only ask `GET /health` or carry the operator token (one request
    /// each, then closed).
    pub health_reserve: usize,
    /// Requests in flight per peer, from authentication until the response
    /// is fully written, before 429 `too_many_requests` (0: no cap); never
    /// more than half of the connection cap.
    pub max_requests_per_peer: usize,
    /// Bytes of response bodies not yet written and request bodies being
    /// received that one peer may hold, before 429 `too_many_bytes` (0: no
    /// limit).
    pub max_buffered_bytes_per_peer: usize,
    /// The same for all callers together, before 503 `busy` (0: no limit).
    pub max_buffered_bytes: usize,
    /// Time a request body may take to arrive in full (else 408).
    pub body_timeout: Duration,
    /// A connection whose writes make no progress for this long is dropped
    /// (a client that stopped reading).
    pub write_timeout: Duration,
    /// After a shutdown signal, how long open connections may take to
    /// finish before they are dropped.
    pub shutdown_timeout: Duration,
    /// Serve TLS with this certificate and key (reloaded when they change);
    /// `None`: plain HTTP.
    pub tls: Option<crate::tls::TlsSettings>,
    /// Per-sender token bucket of sends (`None`: off).
    pub send_rate: Option<crate::traffic::SendRate>,
    /// The conversation-loop breaker (`None`: off).
    pub loop_limit: Option<crate::traffic::LoopLimit>,
    /// Count requests, sends and commits for `/metrics` (off: no
    /// bookkeeping, `/metrics` is 404 `metrics_off`).
    pub metrics: bool,
    /// Also serve `GET /metrics` without auth on this address.
    pub metrics_listen: Option<std::net::SocketAddr>,
    /// What retention deletes (nothing by default).
    pub retain: crate::retention::RetainDays,
    /// Time between retention passes.
    pub retention_every: Duration,
    /// The `/ui` console: on or off, session bounds.
    pub ui: crate::console::UiConfig,
    /// Store time one `GET /messages/search` may use before it ranks what
    /// it found so far (flagged `truncated`), or answers 422
    /// `query_too_broad` when that is nothing.
    pub search_budget: Duration,
    /// Searches one peer (and, apart, the operator) may run at once (0:
    /// no cap); a peer never gets every place of `search_max` while it is
    /// above one. Beyond, 429 `too_many_searches`.
    pub search_per_peer: usize,
    /// Searches the gateway runs at once (default: the number of CPUs; 0:
    /// no cap).
    pub search_max: usize,
}

/// Default [`Config::page_cache_bytes`]: 16 MiB.
pub const PAGE_CACHE_BYTES_DEFAULT: usize = 16 << 20;

impl Config {
    /// Defaults for everything but the operator token.
    pub fn new(operator_token: OperatorToken) -> Self {
        Config {
            operator_token,
            require_peer_tokens: false,
            allow_unknown_recipients: false,
            secret_guard: SecretGuard::Block,
            last_seen_flush: Duration::from_secs(5),
            auth_failures_per_minute: 30,
            limit_loopback: false,
            keep_alive: Duration::from_secs(15),
            max_streams_per_peer: 16,
            max_polls_per_peer: 16,
            page_max_bytes: meshgate_proto::PAGE_BYTES_DEFAULT,
            page_cache_bytes: PAGE_CACHE_BYTES_DEFAULT,

            max_connections: None,
            max_unauthenticated_per_address: 64,
            max_unauthenticated: 1024,
            health_reserve: 16,
            max_requests_per_peer: 48,
            max_buffered_bytes_per_peer: 16 << 20,
            max_buffered_bytes: 256 << 20,
            body_timeout: Duration::from_secs(10),
            write_timeout: Duration::from_secs(30),
            shutdown_timeout: Duration::from_secs(10),
            tls: None,
            send_rate: Some(crate::traffic::SendRate::default()),
            loop_limit: Some(crate::traffic::LoopLimit::default()),
            metrics: true,
            metrics_listen: None,
            retain: crate::retention::RetainDays::default(),
            retention_every: crate::retention::EVERY,
            ui: crate::console::UiConfig::default(),
            search_budget: meshgate_store::SEARCH_BUDGET_DEFAULT,
            search_per_peer: 2,
            search_max: std::thread::available_parallelism().map_or(2, |n| n.get()),
        }
    }
}
