//! `/mcp`: the MCP tools of `meshgate-mcp` over streamable HTTP, acting as
//! the peer whose per-peer token authenticates each request.
//!
//! What this module owns, and why:
//! - **Authentication.** Every request to `/mcp` goes through [`Auth`]: a bad
//!   token is our usual 401 JSON, and the operator token is refused (403
//!   `operator_token_refused`), since a session must act as one peer.
//! - **Sessions belong to a token.** rmcp hands out `Mcp-Session-Id`s; a
//!   session id presented with any token but the one that opened it (another
//!   peer's, or its own peer's rotated one) is 404 `unknown_session`, as if it
//!   did not exist. A session ends when its token dies (rotated or revoked,
//!   peer disabled or deleted: the store's credential events, as for
//!   streams). Each peer may hold [`SESSIONS_PER_PEER`] sessions; a new one
//!   beyond that ends the peer's oldest (as streams and long-polls do), so a
//!   thief's sessions cannot lock the owner out; a session idle for
//!   [`SESSION_IDLE`] is closed.
//! - **One set of rules.** The tools do not touch the store: each mesh
//!   operation is a request to the gateway's own router (tower `oneshot`)
//!   with the request's bearer token, so auth, validation, the credential
//!   guard, privacy scoping and the per-peer long-poll cap apply exactly as
//!   for a plain HTTP client.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use meshgate_mcp::rmcp::model::Extensions;
use meshgate_mcp::rmcp::transport::streamable_http_server::session::local::{LocalSessionManager, SessionConfig};
use meshgate_mcp::rmcp::transport::streamable_http_server::session::SessionManager;
use meshgate_mcp::rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use meshgate_mcp::{Draft, Mesh, MeshResult, MeshServer, Options, ToolError};
use meshgate_proto::{
    ErrorBody, ListQuery, MarkReadBulk, MarkReadBulkResponse, Message, MessageList, Obligations, ObligationsQuery,
    Peer, PeerList, SendRequest, SendResponse, ThreadMessages, ThreadPageQuery,
};
use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use tower::ServiceExt;

use meshgate_store::TokenHash;

use crate::auth::{Auth, Caller};
use crate::error::{ApiError, Class};
use crate::input::uri_with_query;
use crate::state::AppState;

/// MCP sessions one peer may hold at once on `/mcp`.
pub const SESSIONS_PER_PEER: usize = 4;

/// An MCP session with no traffic for this long is closed.
pub const SESSION_IDLE: Duration = Duration::from_secs(30 * 60);

const SESSION_HEADER: &str = "mcp-session-id";

/// The authenticated caller, put into the request for the tools.
#[derive(Clone)]
pub struct McpCaller {
    peer: String,
    token: String,
    remote: Option<ConnectInfo<SocketAddr>>,
}

/// The `/mcp` route over `api` (the gateway's router without `/mcp`).
pub fn router(state: AppState, api: Router) -> Router {
    let gate = Arc::new(Gate::new(api));
    // On shutdown, MCP event streams end like the gateway's own streams.
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        let cancel = gate.service.config.cancellation_token.clone();
        let mut stop = state.stop_signal();
        runtime.spawn(async move {
            if stop.wait_for(|stopping| *stopping).await.is_ok() {
                cancel.cancel();
            }
        });
    }
    gate.watch_credentials(&state);
    Router::new()
        .route(
            "/mcp",
            axum::routing::any(move |State(_): State<AppState>, auth: Auth, req: Request| {
                serve(gate.clone(), auth, req)
            }),
        )
        .with_state(state)
}

/// `/mcp` in the route list ([`crate::routes::all`]): documented and
/// counted there, served by [`router`] (it sits on top of the API router).
pub fn routes() -> crate::routes::endpoint::Endpoints {
    crate::routes::endpoint::Endpoints::new().served_elsewhere(__path_serve)
}

/// `/mcp`: the MCP streamable HTTP transport (GET opens a session's event
/// stream, DELETE ends a session; same auth and answers).
#[utoipa::path(
    post,
    path = "/mcp",
    tag = "mcp",
    operation_id = "mcp",
    request_body(
        content = serde_json::Value,
        description = "a JSON-RPC message of the Model Context Protocol",
        content_type = "application/json"
    ),
    responses(
        (
            status = 200,
            description = "JSON-RPC answer, as JSON or text/event-stream; the first answers carry the mcp-session-id \
                           header"
        ),
        (
            status = 400,
            description = "invalid_json: not a JSON-RPC message; duplicate_field: a key given twice in one object \
                           of it",
            body = ErrorBody
        ),
        (status = 403, description = "operator_token_refused: /mcp acts as one peer", body = ErrorBody),
        (
            status = 404,
            description = "unknown_session: a session id this gateway did not issue, or one that ended",
            body = ErrorBody
        ),
        (
            status = 406,
            description = "not_acceptable: the Accept header allows neither JSON nor an event stream",
            body = ErrorBody
        ),
        (status = 429, description = "too_many_sessions: the peer is opening too many sessions at once", body = ErrorBody),
        crate::routes::endpoint::responses::Unauthorized,
    )
)]
async fn serve(gate: Arc<Gate>, auth: Auth, req: Request) -> Response {
    gate.handle(auth, req).await
}

type Service = StreamableHttpService<MeshServer<RouterMesh>, LocalSessionManager>;

struct Gate {
    service: Service,
    manager: Arc<LocalSessionManager>,
    /// Session id -> the token that opened it.
    owners: Mutex<HashMap<String, Owner>>,
    /// Order of openings (the oldest session is ended at the cap).
    opened: AtomicU64,
    /// Sessions being opened, per peer (they count against the cap).
    opening: Mutex<HashMap<String, usize>>,
    /// Issued sessions whose client has not yet sent
    /// `notifications/initialized` (a subset of `owners`).
    handshaking: Mutex<HashSet<String>>,
}

impl Gate {
    fn new(api: Router) -> Gate {
        let mesh = Arc::new(RouterMesh { api });
        let manager = Arc::new(LocalSessionManager {
            sessions: Default::default(),
            session_config: SessionConfig { channel_capacity: 16, keep_alive: Some(SESSION_IDLE) },
        });
        let service = StreamableHttpService::new(
            move || Ok(MeshServer::new(mesh.clone(), Options::default())),
            manager.clone(),
            StreamableHttpServerConfig { sse_keep_alive: Some(Duration::from_secs(15)), ..Default::default() },
        );
        Gate {
            service,
            manager,
            owners: Mutex::default(),
            opened: AtomicU64::new(0),
            opening: Mutex::default(),
            handshaking: Mutex::default(),
        }
    }

    async fn handle(&self, auth: Auth, req: Request) -> Response {
        let Some(peer) = auth.peer().map(str::to_owned) else {
            return ApiError::forbidden(
                "operator_token_refused",
                "/mcp acts as one peer: authenticate with that peer's own token, not the operator token",
            )
            .into_response();
        };
        let session = req.headers().get(SESSION_HEADER).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let hash = TokenHash::of(auth.token());
        let _opening = match &session {
            Some(id) => {
                if !self.owner(id).is_some_and(|o| o.peer == peer && o.hash == hash) {
                    return ApiError::not_found(
                        "unknown_session",
                        "no such MCP session for this token; start a new one (initialize without Mcp-Session-Id)",
                    )
                    .into_response();
                }
                None
            }
            None if req.method() == Method::POST => match self.reserve(&peer).await {
                Ok(reservation) => Some(reservation),
                Err(e) => return e.into_response(),
            },
            None => None,
        };
        let method = req.method().clone();
        let (mut parts, body) = req.into_parts();
        let body = match axum::body::to_bytes(body, crate::input::BODY_LIMIT).await {
            Ok(bytes) => bytes,
            Err(_) => return crate::input::body_too_large().into_response(),
        };
        // As a JSON body of the API: a key given twice (in a tool's
        // arguments, say) is refused, not resolved to its last value.
        if let Some(key) = crate::input::repeated_key(&body) {
            return ApiError::bad_request(
                "duplicate_field",
                format!(
                    "field {} is given more than once in one object of the JSON-RPC message; give it once \
                     (which one was meant is not guessed)",
                    crate::error::shown(&key)
                ),
            )
            .into_response();
        }
        if let Some(id) = &session {
            self.note_initialized(id, &body);
        }
        let remote = parts.extensions.get::<ConnectInfo<SocketAddr>>().cloned();
        parts.extensions.insert(McpCaller { peer: peer.clone(), token: auth.token().to_owned(), remote });
        let response = self.service.handle(Request::from_parts(parts, Body::from(body))).await;
        let issued = response.headers().get(SESSION_HEADER).and_then(|v| v.to_str().ok()).map(str::to_owned);
        if let (None, Some(id), Caller::Peer { generation, .. }) = (&session, issued, &auth.caller) {
            let seq = self.opened.fetch_add(1, Ordering::Relaxed);
            self.handshaking.lock().unwrap_or_else(|e| e.into_inner()).insert(id.clone());
            let owner = Owner { peer: peer.clone(), hash, generation: *generation, seq };
            self.owners.lock().unwrap_or_else(|e| e.into_inner()).insert(id, owner);
        }
        if let (Some(id), true) = (&session, method == Method::DELETE && response.status().is_success()) {
            self.forget(id, &peer);
        }
        let mut response = response.map(Body::new);
        if method == Method::DELETE && response.status() == StatusCode::ACCEPTED {
            // rmcp answers 202; clients (the Python SDK) expect 200 or 204 for a closed session.
            *response.status_mut() = StatusCode::NO_CONTENT;
        }
        json_errors(response).await
    }

    /// A client that posts `notifications/initialized` on session `id` has
    /// finished the handshake (only bodies of sessions still handshaking
    /// are looked at).
    fn note_initialized(&self, id: &str, body: &[u8]) {
        let mut handshaking = self.handshaking.lock().unwrap_or_else(|e| e.into_inner());
        if handshaking.contains(id)
            && serde_json::from_slice::<Value>(body).is_ok_and(|v| v["method"] == "notifications/initialized")
        {
            handshaking.remove(id);
        }
    }

    /// Session `id` of `peer` is closed or expired. One that never finished
    /// the handshake is the client's doing, not a gateway fault: logged at
    /// info with the peer (rmcp's own ERROR line for it is filtered out by
    /// the CLI's default log filter).
    fn forget(&self, id: &str, peer: &str) {
        self.owners.lock().unwrap_or_else(|e| e.into_inner()).remove(id);
        if self.handshaking.lock().unwrap_or_else(|e| e.into_inner()).remove(id) {
            tracing::info!(peer, session = id, "mcp: session ended before the client finished the handshake");
        }
    }

    fn owner(&self, id: &str) -> Option<Owner> {
        self.owners.lock().unwrap_or_else(|e| e.into_inner()).get(id).cloned()
    }

    /// Ends the sessions whose token dies, on the store's credential events
    /// (until the gateway stops).
    fn watch_credentials(self: &Arc<Self>, state: &AppState) {
        state.on_credential_events(self, |gate: Arc<Self>, state, peer| async move {
            gate.end_dead_sessions(&state, peer.as_deref()).await
        });
    }

    /// Ends the sessions (of `peer`, or all) whose token is no longer live.
    async fn end_dead_sessions(&self, state: &AppState, peer: Option<&str>) {
        let held: Vec<(String, Owner)> = {
            let owners = self.owners.lock().unwrap_or_else(|e| e.into_inner());
            owners
                .iter()
                .filter(|(_, o)| peer.is_none_or(|p| o.peer == p))
                .map(|(i, o)| (i.clone(), o.clone()))
                .collect()
        };
        for (id, o) in held {
            match state.store().token_owner(&o.hash).await {
                Ok(Some(t)) if t.peer == o.peer && t.generation == o.generation && t.enabled => {}
                Ok(_) => {
                    tracing::debug!(peer = %o.peer, "MCP session ends: its token died");
                    self.end(&id).await;
                }
                Err(e) => tracing::warn!(error = %e, "could not re-check an MCP session's token"),
            }
        }
    }

    /// Closes session `id` and forgets it.
    async fn end(&self, id: &str) {
        self.owners.lock().unwrap_or_else(|e| e.into_inner()).remove(id);
        self.handshaking.lock().unwrap_or_else(|e| e.into_inner()).remove(id);
        let _ = self.manager.close_session(&id.into()).await;
    }

    /// Counts a session being opened for `peer` until the returned guard
    /// drops (also when the request is abandoned). At the cap, the peer's
    /// oldest session ends (sessions rmcp closed meanwhile are forgotten
    /// first); only openings in flight filling the cap are refused.
    async fn reserve<'a>(&'a self, peer: &str) -> Result<Reservation<'a>, ApiError> {
        let mine: Vec<String> = {
            let owners = self.owners.lock().unwrap_or_else(|e| e.into_inner());
            owners.iter().filter(|(_, o)| o.peer == peer).map(|(id, _)| id.clone()).collect()
        };
        let mut gone = Vec::new();
        for id in &mine {
            if !self.manager.has_session(&id.as_str().into()).await.unwrap_or(false) {
                gone.push(id.clone());
            }
        }
        for id in &gone {
            self.forget(id, peer);
        }
        let oldest = {
            let mut owners = self.owners.lock().unwrap_or_else(|e| e.into_inner());
            let open = owners.values().filter(|o| o.peer == peer).count();
            let mut opening = self.opening.lock().unwrap_or_else(|e| e.into_inner());
            let pending = opening.entry(peer.to_owned()).or_default();
            if *pending >= SESSIONS_PER_PEER {
                return Err(ApiError::new(
                    Class::RateLimited,
                    "too_many_sessions",
                    format!("this peer is already opening {SESSIONS_PER_PEER} MCP sessions; retry when they are open"),
                ));
            }
            *pending += 1;
            let oldest = (open + *pending > SESSIONS_PER_PEER)
                .then(|| owners.iter().filter(|(_, o)| o.peer == peer).min_by_key(|(_, o)| o.seq))
                .flatten()
                .map(|(id, _)| id.clone());
            if let Some(id) = &oldest {
                owners.remove(id);
            }
            oldest
        };
        let reservation = Reservation { gate: self, peer: peer.to_owned() };
        if let Some(id) = oldest {
            tracing::debug!(peer, "cap of MCP sessions reached: the oldest ends");
            self.end(&id).await;
        }
        Ok(reservation)
    }
}

/// rmcp's own refusals (plain text: 406 without the Accept header MCP
/// needs, 415 for a body that is not JSON (400 `invalid_json` when it is
/// declared JSON but is not a JSON-RPC message), 401 for a session it closed,
/// ...) as the gateway's JSON error, with rmcp's text as the detail.
async fn json_errors(response: Response) -> Response {
    let status = response.status();
    let json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if json || !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    // rmcp's error bodies are one short line; more is cut off.
    let text = match axum::body::to_bytes(response.into_body(), 64 * 1024).await {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(_) => String::new(),
    };
    let (class, code) = match status {
        StatusCode::NOT_ACCEPTABLE => (Class::NotAcceptable, "not_acceptable"),
        // rmcp answers a JSON body that is not a JSON-RPC message with 415 too:
        // that is the client's bad request, not a wrong content type.
        StatusCode::UNSUPPORTED_MEDIA_TYPE if text.starts_with("fail to deserialize request body") => {
            (Class::BadRequest, "invalid_json")
        }
        StatusCode::UNSUPPORTED_MEDIA_TYPE => (Class::UnsupportedMediaType, "unsupported_media_type"),
        StatusCode::METHOD_NOT_ALLOWED => (Class::MethodNotAllowed, "method_not_allowed"),
        // rmcp closed the session (expired): as for an id it never issued.
        StatusCode::UNAUTHORIZED | StatusCode::NOT_FOUND => (Class::NotFound, "unknown_session"),
        s if s.is_server_error() => (Class::Internal, "mcp_internal"),
        _ => (Class::BadRequest, "mcp_protocol_error"),
    };
    let detail = if text.trim().is_empty() { format!("MCP transport: {status}") } else { text };
    ApiError::new(class, code, detail).into_response()
}

/// Who opened a session: the peer, its token (hash and generation), and
/// the order of openings.
#[derive(Clone)]
struct Owner {
    peer: String,
    hash: TokenHash,
    generation: i64,
    seq: u64,
}

/// A session being opened, counted against its peer's cap while it lives.
struct Reservation<'a> {
    gate: &'a Gate,
    peer: String,
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        let mut map = self.gate.opening.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = map.get_mut(&self.peer) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                map.remove(&self.peer);
            }
        }
    }
}

/// The mesh operations as requests to the gateway's own router.
struct RouterMesh {
    api: Router,
}

impl RouterMesh {
    async fn request<T: DeserializeOwned>(
        &self,
        call: &McpCaller,
        method: Method,
        uri: &str,
        body: Option<Value>,
    ) -> MeshResult<T> {
        let mut builder = axum::http::Request::builder()
            .method(method)
            .uri(uri)
            .header(header::AUTHORIZATION, format!("Bearer {}", call.token));
        let body = match body {
            Some(v) => {
                builder = builder.header(header::CONTENT_TYPE, "application/json");
                Body::from(serde_json::to_vec(&v).map_err(|_| internal())?)
            }
            None => Body::empty(),
        };
        let mut req = builder.body(body).map_err(|_| internal())?;
        if let Some(remote) = &call.remote {
            req.extensions_mut().insert(*remote);
        }
        let response = self.api.clone().oneshot(req).await.unwrap_or_else(|never| match never {});
        let status = response.status();
        // A page is bounded by the gateway's page byte budget; allow one large row beyond it.
        let bytes: Bytes =
            axum::body::to_bytes(response.into_body(), 64 * 1024 * 1024).await.map_err(|_| internal())?;
        if status.is_success() {
            return serde_json::from_slice(&bytes).map_err(|_| internal());
        }
        Err(gateway_error(status, &bytes))
    }
}

fn internal() -> ToolError {
    ToolError::new("internal", "internal error; the gateway log has details")
}

/// The gateway's error body as a tool error (suggestions kept).
fn gateway_error(status: StatusCode, bytes: &[u8]) -> ToolError {
    let body: ErrorBody = serde_json::from_slice(bytes).unwrap_or_else(|_| ErrorBody {
        error: status.as_u16().to_string(),
        detail: status.to_string(),
        suggestions: Vec::new(),
    });
    ToolError { error: body.error, detail: body.detail, suggestions: body.suggestions }
}

/// `GET /messages` with `q`'s parameters.
fn messages_uri(q: &ListQuery) -> String {
    uri_with_query("/messages", &q.pairs())
}

/// A path segment, percent-encoded.
fn percent(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[async_trait]
impl Mesh for RouterMesh {
    type Call = McpCaller;

    fn call(&self, extensions: &Extensions) -> MeshResult<McpCaller> {
        extensions
            .get::<axum::http::request::Parts>()
            .and_then(|parts| parts.extensions.get::<McpCaller>())
            .cloned()
            .ok_or_else(|| ToolError::new("missing_token", "this MCP request carried no authenticated caller"))
    }

    async fn whoami(&self, call: &McpCaller) -> MeshResult<String> {
        // This HTTP request's token was just checked (`Auth`): the gateway confirmed it.
        Ok(call.peer.clone())
    }

    async fn peers(&self, call: &McpCaller) -> MeshResult<Vec<Peer>> {
        Ok(self.request::<PeerList>(call, Method::GET, "/peers", None).await?.peers)
    }

    async fn send(&self, call: &McpCaller, draft: Draft) -> MeshResult<SendResponse> {
        let body = SendRequest {
            thread_id: draft.thread_id,
            related_task_id: draft.related_task_id,
            in_reply_to: draft.in_reply_to,
            ..SendRequest::new(draft.to, draft.kind, draft.content)
        };
        self.request(call, Method::POST, "/messages", Some(json!(body))).await
    }

    async fn inbox(&self, call: &McpCaller, unread_only: bool, limit: u32) -> MeshResult<Vec<Message>> {
        let q = ListQuery {
            to: Some(call.peer.clone()),
            unread_only: Some(unread_only),
            limit: Some(limit),
            ..ListQuery::default()
        };
        Ok(self.request::<MessageList>(call, Method::GET, &messages_uri(&q), None).await?.messages)
    }

    async fn received_after(
        &self,
        call: &McpCaller,
        after_id: i64,
        limit: u32,
        wait_secs: u64,
    ) -> MeshResult<Vec<Message>> {
        let q = ListQuery {
            to: Some(call.peer.clone()),
            after_id: Some(after_id),
            limit: Some(limit),
            wait: Some(wait_secs),
            ..ListQuery::default()
        };
        Ok(self.request::<MessageList>(call, Method::GET, &messages_uri(&q), None).await?.messages)
    }

    async fn latest_id(&self, call: &McpCaller) -> MeshResult<i64> {
        // Only the id: `peek` hands nothing over (no `delivered_at` for a DM
        // the agent is not shown).
        let q = ListQuery { to: Some(call.peer.clone()), limit: Some(1), peek: Some(true), ..ListQuery::default() };
        let list: MessageList = self.request(call, Method::GET, &messages_uri(&q), None).await?;
        Ok(list.messages.iter().map(|m| m.id).max().unwrap_or(0))
    }

    async fn mark_read(&self, call: &McpCaller, ids: &[i64]) -> MeshResult<Vec<i64>> {
        let answer: MarkReadBulkResponse =
            self.request(call, Method::POST, "/messages/read", Some(json!(MarkReadBulk { ids: ids.to_vec() }))).await?;
        Ok(answer.marked.iter().map(|m| m.id).collect())
    }

    async fn thread(
        &self,
        call: &McpCaller,
        thread_id: &str,
        after_id: Option<i64>,
        limit: u32,
    ) -> MeshResult<ThreadMessages> {
        let page = ThreadPageQuery { limit: Some(limit), after_id };
        self.request(
            call,
            Method::GET,
            &uri_with_query(&format!("/threads/{}", percent(thread_id)), &page.pairs()),
            None,
        )
        .await
    }

    async fn obligations(&self, call: &McpCaller) -> MeshResult<Obligations> {
        let query = ObligationsQuery { peer: Some(call.peer.clone()), ..ObligationsQuery::default() };
        self.request(call, Method::GET, &uri_with_query("/obligations", &query.pairs()), None).await
    }
}
