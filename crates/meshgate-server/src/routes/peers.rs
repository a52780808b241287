//! `/peers`: registration, listing, tokens, lifecycle.

use axum::extract::{RawQuery, State};
use axum::Json;
use meshgate_proto::{
    DeletePeerQuery, Peer, PeerChanged, PeerList, PeerRemoved, PeerUpdate, Purged, RegisterResponse, TokenRotated,
};
use meshgate_store::PeerRegistration;

use crate::auth::Auth;
use crate::error::{ApiError, ApiResult};
use crate::input::{JsonObject, PathParams, Query};
use crate::routes::endpoint::responses::{Invalid, OperatorOnly, Unauthorized, UnknownPeer};
use crate::routes::endpoint::Endpoints;
use crate::state::AppState;
use crate::tokens::{mint, PEER_TOKEN_PREFIX};
use meshgate_proto::{ErrorBody, RegisterRequest};

/// Routes of this resource.
pub fn routes() -> Endpoints {
    Endpoints::new()
        .add(__path_list, list)
        .add(__path_register, register)
        .add(__path_one, one)
        .add(__path_deregister, deregister)
        .add(__path_update, update)
        .add(__path_rotate, rotate)
        .add(__path_revoke, revoke)
}

/// `POST /peers/register`: upsert; mints the per-peer token once.
#[utoipa::path(
    post,
    path = "/peers/register",
    tag = "peers",
    request_body = RegisterRequest,
    responses(
        (status = 200, body = RegisterResponse),
        (status = 422, description = "invalid name or fields", body = ErrorBody),
        (status = 403, description = "a peer token registering another peer", body = ErrorBody),
        Unauthorized,
    )
)]
async fn register(State(state): State<AppState>, auth: Auth, body: JsonObject) -> ApiResult<Json<RegisterResponse>> {
    let RegisterRequest { name, url, capabilities, adopt_history } = RegisterRequest::read(&body.0, auth.peer())?;
    // Every peer reads these fields (GET /peers): no live credential in them.
    let caps_text = capabilities.as_ref().map(|c| serde_json::Value::Object(c.clone()).to_string());
    let fields = [("url", url.as_deref()), ("capabilities", caps_text.as_deref())];
    super::credentials::refuse_in_fields(&state, auth.token(), &fields).await?;
    if adopt_history {
        auth.require_operator("adopting a deleted peer's history")?;
    }
    let (token, hash) = mint(PEER_TOKEN_PREFIX);
    let reg =
        state.store().register_peer(PeerRegistration { name, url, capabilities, mint: hash, adopt_history }).await?;
    tracing::info!(peer = %reg.peer.name, minted = reg.minted, generation = reg.generation, adopt_history, "peer registered");
    Ok(Json(RegisterResponse {
        peer: for_caller(&auth, reg.peer),
        status: "registered".to_owned(),
        peer_token: reg.minted.then_some(token),
        token_status: if reg.minted { "minted" } else { "existing" }.to_owned(),
        token_generation: Some(reg.generation),
    }))
}

/// `GET /peers`: every peer, ordered by name.
#[utoipa::path(
    get,
    path = "/peers",
    tag = "peers",
    operation_id = "list_peers",
    responses((status = 200, body = PeerList), Unauthorized)
)]
async fn list(State(state): State<AppState>, auth: Auth) -> ApiResult<Json<PeerList>> {
    let peers = state.store().list_peers().await?.into_iter().map(|p| for_caller(&auth, p)).collect();
    Ok(Json(PeerList { peers }))
}

/// A peer record as `auth` may see it: the guard policy is the operator's.
fn for_caller(auth: &Auth, mut peer: Peer) -> Peer {
    if auth.peer().is_some() {
        peer.secret_guard = None;
    }
    peer
}

/// `GET /peers/{name}`.
#[utoipa::path(
    get,
    path = "/peers/{name}",
    tag = "peers",
    params(("name" = String, Path, description = "peer name")),
    responses((status = 200, body = Peer), UnknownPeer, Unauthorized)
)]
async fn one(State(state): State<AppState>, auth: Auth, PathParams(name): PathParams<String>) -> ApiResult<Json<Peer>> {
    state
        .store()
        .peer(&name)
        .await?
        .map(|p| Json(for_caller(&auth, p)))
        .ok_or_else(|| ApiError::not_found("unknown_peer", format!("peer {name:?} is not registered")))
}

/// `DELETE /peers/{name}[?purge=true]`: deregisters, revokes the peer's
/// tokens and drops its aliases; its DMs stay and retire the name. With
/// `purge=true` (operator), also deletes its DMs and threads and frees the
/// name (works on a retired name too).
#[utoipa::path(
    delete,
    path = "/peers/{name}",
    tag = "peers",
    params(("name" = String, Path, description = "peer name"), DeletePeerQuery),
    responses(
        (status = 200, description = "deregistered (or purged); its tokens are revoked", body = PeerRemoved),
        (status = 403, description = "caller_binding: another peer's token; operator_only: purge", body = ErrorBody),
        UnknownPeer,
        Unauthorized,
    )
)]
async fn deregister(
    State(state): State<AppState>,
    auth: Auth,
    PathParams(name): PathParams<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<PeerRemoved>> {
    let q = Query::parse(raw.as_deref(), DeletePeerQuery::PARAMS, "/peers/{name}")?;
    if !auth.may_act_as(&name) {
        return Err(ApiError::forbidden("caller_binding", "a peer token can only deregister its own peer"));
    }
    if q.bool("purge")? {
        auth.require_operator("purging a peer's history")?;
        let p = state.store().purge_peer(&name).await.map_err(|e| not_registered(e, &name))?;
        tracing::info!(peer = %name, messages = p.messages, threads = p.threads, aliases = p.aliases, "peer purged");
        let (peer, messages, threads, aliases) = (p.peer, p.messages, p.threads, p.aliases);
        let purged = Purged { status: "purged".to_owned(), name, peer, messages, threads, aliases };
        return Ok(Json(PeerRemoved::Purged(purged)));
    }
    state.store().delete_peer(&name).await.map_err(|e| not_registered(e, &name))?;
    tracing::info!(peer = %name, "peer deregistered");
    Ok(Json(PeerRemoved::Deregistered(PeerChanged { status: "deregistered".to_owned(), name })))
}

/// `PATCH /peers/{name} {"enabled"?: bool, "secret_guard"?: "block"|"warn"|"off"|null}`
/// (operator): disabled peers can neither send nor be sent to; a peer's own
/// guard policy replaces the gateway's for the DMs it sends (null: back to
/// the gateway's).
#[utoipa::path(
    patch,
    path = "/peers/{name}",
    tag = "peers",
    params(("name" = String, Path, description = "peer name")),
    request_body = PeerUpdate,
    responses((status = 200, body = Peer), OperatorOnly, UnknownPeer, Invalid, Unauthorized)
)]
async fn update(
    State(state): State<AppState>,
    auth: Auth,
    PathParams(name): PathParams<String>,
    body: JsonObject,
) -> ApiResult<Json<Peer>> {
    auth.require_operator("changing a peer's settings")?;
    let PeerUpdate { enabled, secret_guard: guard } = PeerUpdate::read(&body.0)?;
    let mut peer = None;
    if let Some(enabled) = enabled {
        peer = Some(state.store().set_peer_enabled(&name, enabled).await.map_err(|e| not_registered(e, &name))?);
        tracing::info!(peer = %name, enabled, "peer enabled flag changed");
    }
    if let Some(policy) = guard {
        let p = state.store().set_peer_secret_guard(&name, policy.as_deref()).await;
        peer = Some(p.map_err(|e| not_registered(e, &name))?);
        tracing::warn!(peer = %name, policy = policy.as_deref().unwrap_or("gateway default"), "peer secret-guard policy changed");
    }
    // `PeerUpdate::read` refuses a body that changes neither.
    peer.map(Json).ok_or_else(|| ApiError::invalid("missing_field", "give \"enabled\" and/or \"secret_guard\""))
}

/// `POST /peers/{name}/token`: a new token; the previous one dies at once.
#[utoipa::path(
    post,
    path = "/peers/{name}/token",
    tag = "peers",
    params(("name" = String, Path, description = "peer name")),
    responses(
        (status = 200, body = TokenRotated),
        (status = 403, description = "caller_binding: another peer's token", body = ErrorBody),
        UnknownPeer,
        Unauthorized,
    )
)]
async fn rotate(
    State(state): State<AppState>,
    auth: Auth,
    PathParams(name): PathParams<String>,
) -> ApiResult<Json<TokenRotated>> {
    if !auth.may_act_as(&name) {
        return Err(ApiError::forbidden("caller_binding", "a peer token can only rotate its own token"));
    }
    let (token, hash) = mint(PEER_TOKEN_PREFIX);
    let generation = state.store().rotate_token(&name, hash).await.map_err(|e| not_registered(e, &name))?;
    tracing::info!(peer = %name, generation, "peer token rotated");
    Ok(Json(TokenRotated { name, peer_token: token, token_generation: generation }))
}

/// `POST /peers/{name}/revoke` (operator): kills the peer's tokens; the
/// next registration mints a new one.
#[utoipa::path(
    post,
    path = "/peers/{name}/revoke",
    tag = "peers",
    params(("name" = String, Path, description = "peer name")),
    responses((status = 200, description = "tokens revoked", body = PeerChanged), OperatorOnly, UnknownPeer, Unauthorized)
)]
async fn revoke(
    State(state): State<AppState>,
    auth: Auth,
    PathParams(name): PathParams<String>,
) -> ApiResult<Json<PeerChanged>> {
    auth.require_operator("revoking a peer token")?;
    state.store().revoke_tokens(&name).await.map_err(|e| not_registered(e, &name))?;
    tracing::info!(peer = %name, "peer tokens revoked");
    Ok(Json(PeerChanged { status: "revoked".to_owned(), name }))
}

fn not_registered(e: meshgate_store::StoreError, name: &str) -> ApiError {
    match e {
        meshgate_store::StoreError::NotFound(_) => {
            ApiError::not_found("unknown_peer", format!("peer {name:?} is not registered"))
        }
        other => other.into(),
    }
}
