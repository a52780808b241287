//! `/threads`: named conversations and their messages.

use axum::extract::{RawQuery, State};
use axum::Json;
use meshgate_proto::{Thread, ThreadList, ThreadMessages, ThreadPageQuery, ThreadsQuery};
use meshgate_store::{MessageQuery, Order, ThreadQuery};

use crate::auth::Auth;
use crate::error::{ApiError, ApiResult};
use crate::input::{JsonObject, PathParams, Query};
use crate::routes::endpoint::responses::{Invalid, Unauthorized};
use crate::routes::endpoint::Endpoints;
use crate::state::AppState;
use meshgate_proto::{ErrorBody, NewThread};

/// Routes of this resource.
pub fn routes() -> Endpoints {
    Endpoints::new().add(__path_list, list).add(__path_mint, mint).add(__path_show, show)
}

/// `POST /threads {thread_name, session_id?}`: idempotent per name within
/// the caller's namespace (a peer token's own names; the operator's shared
/// ones). Never returns or changes another peer's thread. A peer's mints
/// share its `--send-rate` bucket with its DMs (429 `rate_limited`).
#[utoipa::path(
    post,
    path = "/threads",
    tag = "threads",
    request_body = NewThread,
    responses(
        (status = 200, body = Thread),
        (status = 422, description = "malformed body, or a UUID as thread_name", body = ErrorBody),
        (status = 429, description = "rate_limited: the peer mints (and sends) faster than its --send-rate, with Retry-After", body = ErrorBody),
        Unauthorized,
    )
)]
async fn mint(State(state): State<AppState>, auth: Auth, body: JsonObject) -> ApiResult<Json<Thread>> {
    let new = NewThread::read(&body.0)?;
    if let Some(peer) = auth.peer() {
        crate::traffic::admit_mint(&state, peer)?;
    }
    Ok(Json(state.store().mint_thread_as(&new.thread_name, new.session_id.as_deref(), auth.peer()).await?))
}

/// `GET /threads?peer=&topic=&session_id=&limit=`.
#[utoipa::path(
    get,
    path = "/threads",
    operation_id = "list_threads",
    tag = "threads",
    params(ThreadsQuery),
    responses((status = 200, body = ThreadList), Invalid, Unauthorized)
)]
async fn list(State(state): State<AppState>, auth: Auth, RawQuery(raw): RawQuery) -> ApiResult<Json<ThreadList>> {
    let q = Query::parse(raw.as_deref(), ThreadsQuery::PARAMS, "/threads")?;
    let peer = q.get("peer").filter(|s| !s.is_empty()).map(str::to_owned);
    let peer_aliases = match &peer {
        Some(name) => peer_names(&state, name).await?,
        None => Vec::new(),
    };
    let tq = ThreadQuery {
        peer,
        peer_aliases,
        topic: q.get("topic").filter(|s| !s.is_empty()).map(str::to_owned),
        session_id: q.get("session_id").filter(|s| !s.is_empty()).map(str::to_owned),
        member: auth.peer().map(str::to_owned),
        limit: q.int("limit", 1, 1000)?.unwrap_or(50) as u32,
    };
    Ok(Json(ThreadList { threads: state.store().threads(&tq).await? }))
}

/// The other names a `peer=` filter matches in thread names (`a↔b`),
/// which people write with aliases as often as with peer names: when the
/// name is a peer or an alias, that peer's name and all its aliases (as
/// a send resolves an alias).
async fn peer_names(state: &AppState, name: &str) -> ApiResult<Vec<String>> {
    let store = state.store();
    let Some(resolved) = store.resolve_name(name).await? else { return Ok(Vec::new()) };
    let aliases = store.aliases().await?;
    let mut names: Vec<String> =
        aliases.into_iter().filter(|a| a.canonical == resolved.canonical).map(|a| a.alias).collect();
    names.push(resolved.canonical);
    names.retain(|n| n != name);
    Ok(names)
}

/// `GET /threads/{uuid}?limit=&after_id=`: metadata and messages, oldest
/// first, a page at a time: at most `limit` (1..1000, default 100) and
/// `--page-max-bytes` of rows (at least one), after the `after_id` cursor;
/// `truncated` says more follow (read on from the last id). A peer token
/// sees a thread only if it minted it or sent or received a DM in it (404
/// otherwise), and then only the DMs it sent or received; of a thread it
/// did not mint, without the minter's `session_id`.
#[utoipa::path(
    get,
    path = "/threads/{uuid}",
    tag = "threads",
    params(("uuid" = String, Path), ThreadPageQuery),
    responses(
        (status = 200, body = ThreadMessages),
        (status = 404, description = "unknown_thread: no such thread, or not one the caller takes part in", body = ErrorBody),
        Invalid,
        Unauthorized,
    )
)]
async fn show(
    State(state): State<AppState>,
    auth: Auth,
    PathParams(uuid): PathParams<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<ThreadMessages>> {
    let q = Query::parse(raw.as_deref(), ThreadPageQuery::PARAMS, "/threads/{uuid}")?;
    let limit = q.int("limit", 1, 1000)?.unwrap_or(100) as usize;
    let after_id = q.int("after_id", 0, i64::MAX)?;
    let not_found = || ApiError::not_found("unknown_thread", format!("thread {uuid:?} does not exist"));
    let thread = state.store().thread(&uuid).await?.ok_or_else(not_found)?;
    // Per message: a peer token reads only the DMs it sent or received.
    let page = MessageQuery {
        thread_id: Some(thread.thread_uuid.clone()),
        involving: auth.peer().map(str::to_owned),
        limit: limit as u32 + 1,
        after_id,
        order: Order::OldestFirst,
        max_bytes: state.config().page_max_bytes,
        ..Default::default()
    };
    // One row past `limit` says more follow; so does the byte budget
    // refusing a row (`cut`), before `limit` or at it.
    let listed = state.store().list_messages_page(&page).await?;
    let mut messages = listed.messages;
    let truncated = listed.cut || messages.len() > limit;
    messages.truncate(limit);
    let mut thread = thread;
    if let Some(me) = auth.peer() {
        let minted = thread.minted_by.as_deref() == Some(me);
        let member = minted
            || !messages.is_empty()
            || (after_id.is_some() && !state.store().list_messages(&one_after(&page, None)).await?.is_empty());
        if !member {
            return Err(not_found());
        }
        if !minted {
            member_view(&state, &mut thread, me).await?;
        }
    }
    Ok(Json(ThreadMessages { thread, messages, truncated }))
}

/// At most one row of `page`'s selection after `after_id`: whether any is
/// there.
fn one_after(page: &MessageQuery, after_id: Option<i64>) -> MessageQuery {
    MessageQuery { after_id, limit: 1, max_bytes: 1, ..page.clone() }
}

/// A thread as a peer that did not mint it sees it (as in `GET /threads`):
/// the minter's `session_id` withheld, and `last_used_at` the time of the
/// peer's own newest DM in it, not of DMs between others.
async fn member_view(state: &AppState, thread: &mut Thread, me: &str) -> ApiResult<()> {
    let newest = MessageQuery {
        thread_id: Some(thread.thread_uuid.clone()),
        involving: Some(me.to_owned()),
        limit: 1,
        order: Order::NewestFirst,
        ..Default::default()
    };
    thread.session_id = None;
    thread.last_used_at = state.store().list_messages(&newest).await?.pop().map(|m| m.created_at);
    Ok(())
}
