//! [`Client`]: one peer's connection to one gateway.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use meshgate_proto::{
    validate_peer_name, Alias, AliasList, ErrorBody, Health, Kind, MarkRead, MarkReadBulk, MarkReadBulkResponse,
    Message, MessageList, NewThread, Peer, PeerList, RegisterRequest, RegisterResponse, SendRequest, SendResponse,
    Thread, ThreadList, ThreadMessages, TokenRotated, LIST_LIMIT_DEFAULT, LIST_LIMIT_MAX,
};
use reqwest::{Method, StatusCode, Url};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::guard::{self, KnownSecret};
use crate::registry::{self, Recipient, Snapshot, KNOWN_ALIASES, REGISTRY_GRACE, REGISTRY_TTL};
use crate::{Error, Result};

/// Gateway used when neither the builder nor `MESH_GATEWAY_URL` names one.
pub const DEFAULT_GATEWAY_URL: &str = "http://127.0.0.1:8788";
/// Environment variable naming the gateway base URL.
pub const GATEWAY_URL_ENV: &str = "MESH_GATEWAY_URL";
/// Environment variable holding the shared (fallback) bearer token.
pub const GATEWAY_TOKEN_ENV: &str = "MESH_GATEWAY_TOKEN";
/// Per-request timeout when none is given.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Most times a send refused with 429 and `Retry-After` is sent again.
pub const SEND_RETRIES_MAX: u32 = 3;
/// Most time one send spends waiting out `Retry-After`s; a longer wait
/// (a tripped conversation loop) fails at once with [`Error::Throttled`].
pub const SEND_RETRY_WAIT_MAX: Duration = Duration::from_secs(30);

/// Extra rows asked for when the own inbox is read, to make up for rows the
/// client drops because this peer sent them.
const OWN_ROWS_SLACK: u32 = 8;

/// The optional parts of [`Client::send`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SendOptions {
    /// Thread UUID the message belongs to.
    pub thread_id: Option<String>,
    /// Free-form task reference.
    pub related_task_id: Option<String>,
    /// A retry with the same key returns the original message instead of
    /// storing a second one.
    pub idempotency_key: Option<String>,
    /// Skips the pattern scanner (client and gateway) for a known false
    /// positive. The client's own tokens are refused regardless.
    pub skip_secret_check: bool,
    /// The message this one replies to (see [`Client::reply`]).
    pub in_reply_to: Option<i64>,
    /// A question's deadline, RFC 3339 (excludes `due_in`).
    pub due_at: Option<String>,
    /// A question's deadline in seconds from now (excludes `due_at`).
    pub due_in: Option<u64>,
}

impl SendOptions {
    /// No options.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the thread UUID.
    pub fn thread(mut self, thread_id: impl Into<String>) -> Self {
        self.thread_id = Some(thread_id.into());
        self
    }

    /// Sets the task reference.
    pub fn task(mut self, related_task_id: impl Into<String>) -> Self {
        self.related_task_id = Some(related_task_id.into());
        self
    }

    /// Sets the idempotency key.
    pub fn idempotency_key(mut self, key: impl Into<String>) -> Self {
        self.idempotency_key = Some(key.into());
        self
    }

    /// Skips the pattern scanner (see the field).
    pub fn skip_secret_check(mut self, skip: bool) -> Self {
        self.skip_secret_check = skip;
        self
    }

    /// The `POST /messages` body of these options.
    pub(crate) fn request(self, from: &str, to: &str, kind: Kind, content: &str) -> SendRequest {
        SendRequest {
            from_node: Some(from.to_owned()),
            to_node: to.to_owned(),
            kind,
            content: content.to_owned(),
            thread_id: self.thread_id,
            related_task_id: self.related_task_id,
            idempotency_key: self.idempotency_key,
            skip_secret_check: self.skip_secret_check,
            in_reply_to: self.in_reply_to,
            due_at: self.due_at,
            due_in: self.due_in,
        }
    }

    /// Replies to message `id` (this peer must be a party to it).
    pub fn in_reply_to(mut self, id: i64) -> Self {
        self.in_reply_to = Some(id);
        self
    }

    /// A question's deadline as an RFC 3339 instant.
    pub fn due_at(mut self, at: impl Into<String>) -> Self {
        self.due_at = Some(at.into());
        self
    }

    /// A question's deadline in seconds from now.
    pub fn due_in(mut self, secs: u64) -> Self {
        self.due_in = Some(secs);
        self
    }
}

/// The bearer token in use and a description of where it came from.
#[derive(Clone)]
struct Credential {
    token: Option<String>,
    source: String,
}

/// Builds a [`Client`]; unset values fall back to the environment.
#[derive(Default)]
pub struct ClientBuilder {
    gateway: Option<String>,
    credential: Option<Credential>,
    node: Option<String>,
    timeout: Option<Duration>,
    ca_file: Option<std::path::PathBuf>,
}

impl std::fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("gateway", &self.gateway)
            .field("token_source", &self.credential.as_ref().map(|c| &c.source))
            .field("node", &self.node)
            .field("timeout", &self.timeout)
            .field("ca_file", &self.ca_file)
            .finish()
    }
}

impl ClientBuilder {
    /// Gateway base URL (default: `MESH_GATEWAY_URL`, then
    /// [`DEFAULT_GATEWAY_URL`]).
    pub fn gateway(mut self, url: impl Into<String>) -> Self {
        self.gateway = Some(url.into());
        self
    }

    /// Bearer token (default: `MESH_GATEWAY_TOKEN`). Auth errors describe it
    /// as "explicit token"; use [`ClientBuilder::token_from`] to say more.
    pub fn token(self, token: impl Into<String>) -> Self {
        self.token_from(token, "explicit token")
    }

    /// Bearer token plus where it came from, e.g. `per-peer token from
    /// /home/x/.config/meshgate/tokens/host-8788/lab-ovh`. The description
    /// appears in auth errors; the token never does.
    pub fn token_from(mut self, token: impl Into<String>, source: impl Into<String>) -> Self {
        self.credential = Some(Credential { token: Some(token.into()), source: source.into() });
        self
    }

    /// This peer's canonical name (required).
    pub fn node(mut self, name: impl Into<String>) -> Self {
        self.node = Some(name.into());
        self
    }

    /// Per-request timeout (default [`DEFAULT_TIMEOUT`]).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// A PEM bundle of CAs to trust besides the system roots (default:
    /// `MESHGATE_CA_FILE`, if set), for a gateway with a private CA.
    pub fn ca_file(mut self, path: impl Into<std::path::PathBuf>) -> Self {
        self.ca_file = Some(path.into());
        self
    }

    /// Validates the configuration and builds the HTTP pool.
    pub fn build(self) -> Result<Client> {
        let node = self.node.ok_or_else(|| Error::Config("no node name: call .node(NAME)".into()))?;
        validate_peer_name(&node)?;
        let raw =
            self.gateway.or_else(|| non_empty_env(GATEWAY_URL_ENV)).unwrap_or_else(|| DEFAULT_GATEWAY_URL.to_owned());
        let base = parse_gateway(&raw)?;
        let credential = self.credential.unwrap_or_else(|| match non_empty_env(GATEWAY_TOKEN_ENV) {
            Some(token) => Credential { token: Some(token), source: GATEWAY_TOKEN_ENV.to_owned() },
            None => Credential {
                token: None,
                source: format!("missing token (set {GATEWAY_TOKEN_ENV} or register this peer)"),
            },
        });
        let timeout = self.timeout.unwrap_or(DEFAULT_TIMEOUT);
        let ca_file = self.ca_file.or_else(|| non_empty_env(crate::tls::CA_FILE_ENV).map(Into::into));
        let roots = match &ca_file {
            Some(path) => crate::tls::extra_roots(path)?,
            None => Vec::new(),
        };
        let http = http_builder(&roots)
            .timeout(timeout)
            .build()
            .map_err(|e| Error::Config(format!("cannot build the HTTP client: {e}")))?;
        // Streams have no overall deadline; only connecting is bounded (idle
        // connections are detected by the keep-alive watchdog instead).
        let stream_http = http_builder(&roots)
            .connect_timeout(timeout)
            .build()
            .map_err(|e| Error::Config(format!("cannot build the HTTP client: {e}")))?;
        Ok(Client {
            http,
            stream_http,
            timeout,
            gateway_key: base.as_str().trim_end_matches('/').to_owned(),
            base,
            node,
            credential: RwLock::new(credential),
            bulk_read_missing: AtomicBool::new(false),
        })
    }
}

/// An HTTP client builder with the user agent and the extra trusted CAs
/// `roots` (besides the system's).
fn http_builder(roots: &[reqwest::Certificate]) -> reqwest::ClientBuilder {
    let mut builder = reqwest::Client::builder().user_agent(concat!("meshgate-client/", env!("CARGO_PKG_VERSION")));
    for root in roots {
        builder = builder.add_root_certificate(root.clone());
    }
    builder
}

fn non_empty_env(key: &str) -> Option<String> {
    std::env::var(key).ok().map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

fn parse_gateway(raw: &str) -> Result<Url> {
    let mut url =
        Url::parse(raw.trim()).map_err(|e| Error::Config(format!("gateway URL {raw:?} is not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(Error::Config(format!("gateway URL {raw:?} must be http(s)://HOST[:PORT]")));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(Error::Config(format!("gateway URL {raw:?} must not have a query or fragment")));
    }
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}

/// An async client acting as one peer against one gateway.
///
/// It owns a pooled HTTP connection set and the peer's credential, and runs
/// the recipient check and the credential guard on every [`Client::send`].
/// Build one per peer and share it (`&Client` or `Arc<Client>`); all methods
/// take `&self`.
pub struct Client {
    pub(crate) http: reqwest::Client,
    /// Like `http` but without a total timeout, for event streams.
    pub(crate) stream_http: reqwest::Client,
    /// The per-request timeout `http` was built with.
    pub(crate) timeout: Duration,
    base: Url,
    /// `base` without the trailing slash: the registry cache key and what
    /// errors name.
    gateway_key: String,
    pub(crate) node: String,
    credential: RwLock<Credential>,
    /// Set once `POST /messages/read` turned out not to exist.
    bulk_read_missing: AtomicBool,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("gateway", &self.gateway_key)
            .field("node", &self.node)
            .field("token_source", &self.token_source())
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Starts a builder.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// A client for `node` configured only from the environment
    /// (`MESH_GATEWAY_URL`, `MESH_GATEWAY_TOKEN`).
    pub fn from_env(node: impl Into<String>) -> Result<Client> {
        Client::builder().node(node).build()
    }

    /// This peer's name.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// The gateway base URL, without a trailing slash.
    pub fn gateway(&self) -> &str {
        &self.gateway_key
    }

    /// Where the current token came from (never the token).
    pub fn token_source(&self) -> String {
        self.credential_snapshot().source
    }

    /// Replaces the bearer token, e.g. after registration minted one.
    pub fn set_token(&self, token: impl Into<String>, source: impl Into<String>) {
        let mut guard = self.credential.write().unwrap_or_else(|e| e.into_inner());
        *guard = Credential { token: Some(token.into()), source: source.into() };
    }

    fn credential_snapshot(&self) -> Credential {
        self.credential.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    // ---- peers -------------------------------------------------------

    /// `GET /health` (sent without the token).
    pub async fn health(&self) -> Result<Health> {
        let url = self.url(&["health"]);
        let request = self.http.get(url);
        self.execute(request, "GET /health").await
    }

    /// `GET /peers`: every enabled peer. Also refreshes the registry cache.
    pub async fn list_peers(&self) -> Result<Vec<Peer>> {
        let list: PeerList = self.get(&["peers"], &[]).await?;
        let previous = registry::cached(&self.gateway_key).await;
        let (names, disabled) = peer_names(&list.peers);
        registry::store(
            &self.gateway_key,
            Snapshot {
                names,
                disabled,
                gateway_aliases: previous.and_then(|p| p.gateway_aliases.clone()),
                fetched_at: Instant::now(),
            },
        )
        .await;
        Ok(list.peers)
    }

    /// `GET /peers/{name}`; a 404 is [`Error::Gateway`] with
    /// [`Error::is_not_found`].
    pub async fn peer(&self, name: &str) -> Result<Peer> {
        validate_peer_name(name)?;
        self.get(&["peers", name], &[]).await
    }

    /// `POST /peers/register` for this peer. `None` keeps the stored value on
    /// meshgate; a given `capabilities` replaces the stored map wholesale
    /// (merge first if you mean to update one key). The answer carries the
    /// per-peer token exactly once, when it was minted.
    pub async fn register(
        &self,
        url: Option<&str>,
        capabilities: Option<Map<String, Value>>,
    ) -> Result<RegisterResponse> {
        let body = RegisterRequest {
            name: self.node.clone(),
            url: url.map(str::to_owned),
            capabilities,
            adopt_history: false,
        };
        let response = self.post(&["peers", "register"], &body).await;
        registry::forget(&self.gateway_key).await;
        response
    }

    /// `POST /peers/{node}/token`: replaces this peer's token; the old one
    /// stops working at once. The client switches to the new token; the
    /// caller must store [`TokenRotated::peer_token`] (it is shown once).
    pub async fn rotate_token(&self) -> Result<TokenRotated> {
        let node = self.node.clone();
        let rotated: TokenRotated =
            self.post(&["peers", &node, "token"], &Value::Object(Map::new())).await.map_err(|e| {
                unsupported_if_missing(e, "token rotation", || {
                    "the gateway has no POST /peers/{name}/token (the Python reference gateway \
                     lacks it); the current token stays valid"
                        .to_owned()
                })
            })?;
        self.set_token(rotated.peer_token.clone(), "rotated per-peer token");
        Ok(rotated)
    }

    /// The alias table recipients are resolved through: the gateway's
    /// (`GET /aliases`, when it has one) followed by the built-in
    /// [`KNOWN_ALIASES`] it does not override (those have no `created_at`).
    pub async fn aliases(&self) -> Result<Vec<Alias>> {
        let mut out = self.gateway_aliases().await?.unwrap_or_default();
        for (alias, canonical) in KNOWN_ALIASES {
            if !out.iter().any(|a| a.alias == *alias) {
                out.push(Alias { alias: (*alias).to_owned(), canonical: (*canonical).to_owned(), created_at: None });
            }
        }
        Ok(out)
    }

    /// `GET /aliases`; `Ok(None)` when the gateway lacks the endpoint.
    async fn gateway_aliases(&self) -> Result<Option<Vec<Alias>>> {
        match self.get::<AliasList>(&["aliases"], &[]).await {
            Ok(list) => Ok(Some(list.aliases)),
            Err(e) if is_missing_route(&e) => {
                tracing::debug!(gateway = %self.gateway_key, "gateway has no GET /aliases; using built-in aliases only");
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    // ---- recipient check ----------------------------------------------

    /// Runs the recipient pipeline of [`Client::send`] (format, alias,
    /// registry) and returns the canonical name.
    pub async fn check_recipient(&self, name: &str) -> Result<String> {
        Ok(self.resolve_recipient(name).await?.canonical)
    }

    /// Drops this gateway's cached registry so the next send re-reads it.
    pub async fn invalidate_registry(&self) {
        registry::forget(&self.gateway_key).await;
    }

    async fn resolve_recipient(&self, name: &str) -> Result<Recipient> {
        validate_peer_name(name)?;
        let cached = registry::cached(&self.gateway_key).await;
        if let Some(snapshot) = cached.as_ref().filter(|s| s.age() < REGISTRY_TTL) {
            if let Some(recipient) = snapshot.resolve(name) {
                return Ok(recipient);
            }
        }
        // A miss (or no fresh snapshot) re-reads once before rejecting: a
        // peer that registered a minute ago must be reachable now.
        match self.refresh_registry(cached.as_deref()).await {
            Ok(snapshot) => snapshot.resolve(name).ok_or_else(|| snapshot.not_found(name)),
            Err(e) if can_use_stale_registry(&e) => match cached.filter(|s| s.age() < REGISTRY_GRACE) {
                Some(stale) => {
                    tracing::warn!(
                        gateway = %self.gateway_key,
                        age_secs = stale.age().as_secs(),
                        error = %e,
                        "cannot read the peer registry; checking the recipient against a cached copy"
                    );
                    stale.resolve(name).ok_or_else(|| stale.not_found(name))
                }
                None => Err(e),
            },
            Err(e) => Err(e),
        }
    }

    async fn refresh_registry(&self, previous: Option<&Snapshot>) -> Result<Arc<Snapshot>> {
        let (peers, aliases) = tokio::join!(self.get::<PeerList>(&["peers"], &[]), self.gateway_aliases());
        let peers = peers?;
        let gateway_aliases = match aliases {
            Ok(Some(list)) => Some(list.into_iter().map(|a| (a.alias, a.canonical)).collect()),
            Ok(None) => None,
            Err(e @ Error::Auth { .. }) => return Err(e),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the gateway's aliases; keeping the previous table");
                previous.and_then(|p| p.gateway_aliases.clone())
            }
        };
        let (names, disabled) = peer_names(&peers.peers);
        Ok(registry::store(
            &self.gateway_key,
            Snapshot { names, disabled, gateway_aliases, fetched_at: Instant::now() },
        )
        .await)
    }

    // ---- messages -----------------------------------------------------

    /// `POST /messages`, after the credential guard and the recipient check.
    ///
    /// Order: the guard (local, so a secret is refused even when the gateway
    /// is down), then the recipient's format, alias and registration, then
    /// the POST. Any refusal happens before the POST is sent.
    pub async fn send(&self, to: &str, kind: Kind, content: &str, options: SendOptions) -> Result<SendResponse> {
        guard::check(content, &self.known_secrets(), options.skip_secret_check)?;
        let recipient = self.resolve_recipient(to).await?;
        let body = options.request(&self.node, &recipient.canonical, kind, content);
        let (status, bytes) = self.post_throttled(&body).await?;
        if status == StatusCode::NOT_FOUND || status == StatusCode::FORBIDDEN {
            let (code, _, suggestions) = parse_error_body(status, &bytes);
            if code == "unknown_recipient" || code == "recipient_disabled" {
                // The registry changed between our check and the POST.
                registry::forget(&self.gateway_key).await;
            }
            if code == "unknown_recipient" {
                return Err(Error::NotInRegistry { name: recipient.canonical, suggestions });
            }
            if code == "recipient_disabled" {
                return Err(Error::RecipientDisabled { name: recipient.canonical });
            }
        }
        let mut sent: SendResponse = self.decode(status, &bytes, "POST /messages")?;
        if sent.resolved_from.is_none() {
            sent.resolved_from = recipient.alias;
        }
        Ok(sent)
    }

    /// `GET /messages`, newest first: `to_node`'s inbox (this peer's by
    /// default), at most `limit` rows (default 100, at most 1000).
    ///
    /// Reading the own inbox drops rows this peer sent itself, as the Python
    /// client does, but still returns `limit` rows when that many exist: it
    /// over-asks and doubles the request until it has enough or the gateway
    /// has no more (the reference has no cursor for newest-first reads).
    pub async fn fetch(&self, to_node: Option<&str>, unread_only: bool, limit: Option<u32>) -> Result<Vec<Message>> {
        let target = to_node.unwrap_or(&self.node);
        validate_peer_name(target)?;
        let want = limit.unwrap_or(LIST_LIMIT_DEFAULT).clamp(1, LIST_LIMIT_MAX);
        let own_inbox = target == self.node;
        let mut ask = if own_inbox { want.saturating_add(OWN_ROWS_SLACK).min(LIST_LIMIT_MAX) } else { want };
        loop {
            let query = meshgate_proto::ListQuery {
                to: Some(target.to_owned()),
                limit: Some(ask),
                unread_only: unread_only.then_some(true),
                ..Default::default()
            };
            let list: MessageList = self.get(&["messages"], &query.pairs()).await?;
            let exhausted = list.messages.len() < ask as usize;
            let mut rows = list.messages;
            if own_inbox {
                rows.retain(|m| m.from_node != self.node);
            }
            if rows.len() >= want as usize || exhausted || ask == LIST_LIMIT_MAX {
                rows.truncate(want as usize);
                return Ok(rows);
            }
            ask = ask.saturating_mul(2).min(LIST_LIMIT_MAX);
        }
    }

    /// `POST /messages/{id}/read`. meshgate keeps the first `read_at`; the
    /// reference gateway answers 404 for a message already read.
    pub async fn mark_read(&self, id: i64) -> Result<MarkRead> {
        let id_segment = id.to_string();
        self.post(&["messages", &id_segment, "read"], &Value::Object(Map::new())).await
    }

    /// `POST /messages/read` in one request, or one request per id when the
    /// gateway lacks the bulk endpoint (ids answered 404 land in
    /// `not_found`).
    pub async fn mark_read_many(&self, ids: &[i64]) -> Result<MarkReadBulkResponse> {
        if ids.is_empty() {
            return Ok(MarkReadBulkResponse { marked: Vec::new(), not_found: Vec::new() });
        }
        if !self.bulk_read_missing.load(Ordering::Relaxed) {
            let body = MarkReadBulk { ids: ids.to_vec() };
            match self.post(&["messages", "read"], &body).await {
                Err(e) if is_missing_route(&e) => {
                    tracing::debug!(gateway = %self.gateway_key, "gateway has no POST /messages/read; marking one by one");
                    self.bulk_read_missing.store(true, Ordering::Relaxed);
                }
                other => return other,
            }
        }
        let mut out = MarkReadBulkResponse { marked: Vec::with_capacity(ids.len()), not_found: Vec::new() };
        for &id in ids {
            match self.mark_read(id).await {
                Ok(marked) => out.marked.push(marked),
                Err(e) if e.is_not_found() => out.not_found.push(id),
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    // ---- threads ------------------------------------------------------

    /// `POST /threads`: the UUID for `name`, minted on first use.
    pub async fn mint_thread(&self, name: &str, session_id: Option<&str>) -> Result<Thread> {
        let body = NewThread { thread_name: name.to_owned(), session_id: session_id.map(str::to_owned) };
        self.post(&["threads"], &body).await
    }

    /// `GET /threads`, most recently used first.
    pub async fn threads(&self) -> Result<Vec<Thread>> {
        Ok(self.get::<ThreadList>(&["threads"], &[]).await?.threads)
    }

    /// `GET /threads/{uuid}`: metadata and messages, oldest first.
    pub async fn thread(&self, thread_uuid: &str) -> Result<ThreadMessages> {
        self.get(&["threads", thread_uuid], &[]).await
    }

    // ---- plumbing -----------------------------------------------------

    pub(crate) fn known_secrets(&self) -> Vec<KnownSecret> {
        let credential = self.credential_snapshot();
        let mut out = Vec::with_capacity(2);
        if let Some(token) = credential.token {
            out.push(KnownSecret {
                label: format!("gateway token of this client ({})", credential.source),
                value: token,
            });
        }
        if let Some(shared) = non_empty_env(GATEWAY_TOKEN_ENV) {
            if !out.iter().any(|s| s.value == shared) {
                out.push(KnownSecret { label: format!("{GATEWAY_TOKEN_ENV} value"), value: shared });
            }
        }
        out
    }

    pub(crate) fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        url.path_segments_mut().expect("gateway URL is http(s), so it has a path").pop_if_empty().extend(segments);
        url
    }

    pub(crate) async fn get<T: DeserializeOwned>(&self, segments: &[&str], query: &[(&str, String)]) -> Result<T> {
        let request = self.authorized(Method::GET, segments).query(query);
        self.execute(request, &format!("GET /{}", segments.join("/"))).await
    }

    pub(crate) async fn post<T: DeserializeOwned, B: Serialize + ?Sized>(
        &self,
        segments: &[&str],
        body: &B,
    ) -> Result<T> {
        let request = self.authorized(Method::POST, segments).json(body);
        self.execute(request, &format!("POST /{}", segments.join("/"))).await
    }

    pub(crate) fn authorized(&self, method: Method, segments: &[&str]) -> reqwest::RequestBuilder {
        self.authorized_on(&self.http, method, segments)
    }

    /// Like [`Client::authorized`] on another pool (the stream one).
    pub(crate) fn authorized_on(
        &self,
        http: &reqwest::Client,
        method: Method,
        segments: &[&str],
    ) -> reqwest::RequestBuilder {
        let request = http.request(method, self.url(segments));
        match self.credential_snapshot().token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    pub(crate) async fn execute<T: DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
        endpoint: &str,
    ) -> Result<T> {
        let (status, bytes) = self.round_trip(request).await?;
        self.decode(status, &bytes, endpoint)
    }

    /// Sends `request` and reads the whole answer; only transport failures
    /// are errors here.
    pub(crate) async fn round_trip(&self, request: reqwest::RequestBuilder) -> Result<(StatusCode, Vec<u8>)> {
        let (status, _, bytes) = self.round_trip_timed(request).await?;
        Ok((status, bytes))
    }

    /// [`Client::round_trip`] that also returns the `Retry-After` header
    /// (integer seconds).
    async fn round_trip_timed(&self, request: reqwest::RequestBuilder) -> Result<(StatusCode, Option<u64>, Vec<u8>)> {
        let response = request.send().await.map_err(|e| self.unreachable(&e))?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|h| h.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        let bytes = response.bytes().await.map_err(|e| self.unreachable(&e))?;
        Ok((status, retry_after, bytes.to_vec()))
    }

    /// `POST /messages` with `body`, honouring a 429's `Retry-After`: the
    /// same body (so the same idempotency key) is sent again after the
    /// wait, at most [`SEND_RETRIES_MAX`] times and [`SEND_RETRY_WAIT_MAX`]
    /// of waiting in all; then [`Error::Throttled`]. A 429 means nothing
    /// was stored, so a retry never sends a DM twice.
    async fn post_throttled(&self, body: &SendRequest) -> Result<(StatusCode, Vec<u8>)> {
        let mut waited = Duration::ZERO;
        let mut attempts = 0;
        loop {
            attempts += 1;
            let request = self.authorized(Method::POST, &["messages"]).json(body);
            let (status, retry_after, bytes) = self.round_trip_timed(request).await?;
            if status != StatusCode::TOO_MANY_REQUESTS {
                return Ok((status, bytes));
            }
            let wait = retry_after.map(Duration::from_secs);
            match wait {
                Some(wait) if attempts <= SEND_RETRIES_MAX && waited + wait <= SEND_RETRY_WAIT_MAX => {
                    tracing::info!(wait_secs = wait.as_secs(), attempts, "gateway throttled the send; retrying");
                    tokio::time::sleep(wait).await;
                    waited += wait;
                }
                _ => {
                    let (code, detail, _) = parse_error_body(status, &bytes);
                    return Err(Error::Throttled { code, detail, retry_after, attempts });
                }
            }
        }
    }

    pub(crate) fn decode<T: DeserializeOwned>(&self, status: StatusCode, bytes: &[u8], endpoint: &str) -> Result<T> {
        if !status.is_success() {
            return Err(self.error_from(status, bytes));
        }
        serde_json::from_slice(bytes)
            .map_err(|e| Error::Decode { endpoint: endpoint.to_owned(), reason: e.to_string() })
    }

    pub(crate) fn unreachable(&self, error: &reqwest::Error) -> Error {
        let mut reason = error.to_string();
        let mut source = std::error::Error::source(error);
        while let Some(cause) = source {
            reason.push_str(": ");
            reason.push_str(&cause.to_string());
            source = cause.source();
        }
        Error::Unreachable { gateway: self.gateway_key.clone(), reason }
    }

    pub(crate) fn error_from(&self, status: StatusCode, body: &[u8]) -> Error {
        let (code, detail, _) = parse_error_body(status, body);
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            return Error::Auth {
                status: status.as_u16(),
                token_source: self.credential_snapshot().source,
                detail: if detail.is_empty() { code.clone() } else { detail },
                code,
            };
        }
        Error::Gateway { status: status.as_u16(), code, detail }
    }
}

/// Names of the enabled and of the disabled peers in a `GET /peers` answer.
fn peer_names(peers: &[Peer]) -> (std::collections::BTreeSet<String>, std::collections::BTreeSet<String>) {
    let (enabled, disabled): (Vec<&Peer>, Vec<&Peer>) = peers.iter().partition(|p| p.enabled);
    let names = |list: Vec<&Peer>| list.into_iter().map(|p| p.name.clone()).collect();
    (names(enabled), names(disabled))
}

/// Whether the registry check may fall back to a cached copy after `error`:
/// only when the gateway could not answer properly, never for a refused
/// credential.
fn can_use_stale_registry(error: &Error) -> bool {
    match error {
        Error::Unreachable { .. } | Error::Decode { .. } => true,
        Error::Gateway { status, .. } => *status >= 500,
        _ => false,
    }
}

/// True when the gateway has no such route (404 with the framework's bare
/// body, or 405), as opposed to a 404 about a resource.
pub(crate) fn is_missing_route(error: &Error) -> bool {
    match error {
        Error::Gateway { status: 405, .. } => true,
        Error::Gateway { status: 404, code, detail } => {
            (code.is_empty() || code == "not_found") && (detail.is_empty() || detail == "Not Found")
        }
        _ => false,
    }
}

fn unsupported_if_missing(error: Error, feature: &'static str, detail: impl FnOnce() -> String) -> Error {
    if is_missing_route(&error) {
        Error::Unsupported { feature, detail: detail() }
    } else {
        error
    }
}

/// `(code, detail, suggestions)` of an error answer from either gateway.
///
/// meshgate sends `{"error", "detail", "suggestions"}`; the reference sends
/// `{"detail": ...}` where a validation error's detail is a list of objects
/// whose `input` may echo the message body, so only their `loc` and `msg`
/// are kept. A missing code is derived from the status.
pub(crate) fn parse_error_body(status: StatusCode, body: &[u8]) -> (String, String, Vec<String>) {
    let value: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let detail = match value.get("detail") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| {
                let loc = item
                    .get("loc")
                    .and_then(Value::as_array)
                    .map(|parts| {
                        parts
                            .iter()
                            .map(|p| p.as_str().map_or_else(|| p.to_string(), str::to_owned))
                            .collect::<Vec<_>>()
                            .join(".")
                    })
                    .unwrap_or_default();
                let msg = item.get("msg").and_then(Value::as_str).unwrap_or("invalid");
                if loc.is_empty() {
                    msg.to_owned()
                } else {
                    format!("{loc}: {msg}")
                }
            })
            .collect::<Vec<_>>()
            .join("; "),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    };
    let parsed: Option<ErrorBody> = serde_json::from_value(value.clone()).ok();
    let mut code = parsed.as_ref().map(|b| b.error.clone()).unwrap_or_default();
    if code.is_empty() {
        code = match status.as_u16() {
            400 => "bad_request",
            401 => "unauthorized",
            403 => "forbidden",
            404 => "not_found",
            405 => "method_not_allowed",
            409 => "conflict",
            422 => "validation",
            s if s >= 500 => "server_error",
            _ => "http_error",
        }
        .to_owned();
    }
    let detail = if detail.is_empty() && value.is_null() && !body.is_empty() {
        // Not JSON (a proxy's HTML page, say): keep a short, single-line head.
        String::from_utf8_lossy(&body[..body.len().min(200)]).split_whitespace().collect::<Vec<_>>().join(" ")
    } else {
        detail
    };
    let suggestions = parsed.map(|b| b.suggestions).unwrap_or_default();
    (code, detail, suggestions)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gateway_urls_are_normalised() {
        assert_eq!(parse_gateway("http://h:1").unwrap().as_str(), "http://h:1/");
        assert_eq!(parse_gateway(" http://h:1/mesh ").unwrap().as_str(), "http://h:1/mesh/");
        assert!(parse_gateway("h:1").is_err());
        assert!(parse_gateway("ftp://h").is_err());
        assert!(parse_gateway("http://h/?x=1").is_err());
    }

    #[test]
    fn reference_validation_details_drop_inputs() {
        let body = br#"{"detail":[{"type":"string_too_long","loc":["body","content"],"msg":"String should have at most 200000 characters","input":"SECRET BODY"}]}"#;
        let (code, detail, _) = parse_error_body(StatusCode::UNPROCESSABLE_ENTITY, body);
        assert_eq!(code, "validation");
        assert_eq!(detail, "body.content: String should have at most 200000 characters");
    }

    #[test]
    fn meshgate_error_bodies_keep_code_and_suggestions() {
        let body = br#"{"error":"unknown_recipient","detail":"no peer droplt","suggestions":["droplet"]}"#;
        let (code, detail, suggestions) = parse_error_body(StatusCode::NOT_FOUND, body);
        assert_eq!((code.as_str(), detail.as_str()), ("unknown_recipient", "no peer droplt"));
        assert_eq!(suggestions, vec!["droplet"]);
    }

    #[test]
    fn missing_routes_are_told_apart_from_missing_things() {
        let (code, detail, _) = parse_error_body(StatusCode::NOT_FOUND, br#"{"detail":"Not Found"}"#);
        assert!(is_missing_route(&Error::Gateway { status: 404, code, detail }));
        let (code, detail, _) = parse_error_body(StatusCode::NOT_FOUND, b"");
        assert!(is_missing_route(&Error::Gateway { status: 404, code, detail }));
        let (code, detail, _) = parse_error_body(StatusCode::NOT_FOUND, br#"{"detail":"peer 'x' not registered"}"#);
        assert!(!is_missing_route(&Error::Gateway { status: 404, code, detail }));
    }

    #[test]
    fn builder_requires_a_canonical_node() {
        assert!(matches!(Client::builder().build(), Err(Error::Config(_))));
        assert!(matches!(Client::builder().node("Bad_Name").gateway("http://h:1").build(), Err(Error::InvalidName(_))));
        let client = Client::builder()
            .node("lab-ovh")
            .gateway("http://127.0.0.1:9/")
            .token_from("t0k3n-value-123", "per-peer token from /x/lab-ovh")
            .build()
            .unwrap();
        assert_eq!(client.gateway(), "http://127.0.0.1:9");
        assert_eq!(client.url(&["peers", "a b"]).as_str(), "http://127.0.0.1:9/peers/a%20b");
        let debug = format!("{client:?}");
        assert!(!debug.contains("t0k3n"), "{debug}");
    }
}
