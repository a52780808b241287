//! `/messages`: the delivery of DMs in one module. Sending
//! (`send.rs`), reading a page or long-polling ([`list`]), the SSE stream
//! ([`live`]), and marking read (here). Long-poll and stream (and through
//! the long-poll, MCP's `wait_for_message` and watchers) wait for DMs the
//! same way, with [`wait::Waiter`].

mod cache;
pub mod list;
pub mod live;
mod page;
mod send;
pub mod wait;

use axum::extract::State;
use axum::Json;
use meshgate_proto::{ErrorBody, MarkRead, MarkReadBulk, MarkReadBulkResponse};

use crate::auth::Auth;
use crate::error::{ApiError, ApiResult};
use crate::input::{JsonObject, PathParams};
use crate::routes::endpoint::responses::{Invalid, Unauthorized};
use crate::routes::endpoint::Endpoints;
use crate::routes::parse_id;
use crate::state::AppState;

pub(crate) use cache::PageCache;
pub use list::LIST_PARAMS;

/// Routes of this resource.
pub fn routes() -> Endpoints {
    Endpoints::new()
        .add(send::__path_send, send::send)
        .add(list::__path_list, list::list)
        .add(__path_mark_read_bulk, mark_read_bulk)
        .add(__path_mark_read, mark_read)
        .add(live::__path_stream, live::stream)
}

/// `POST /messages/{id}/read`: idempotent; keeps the first `read_at`.
#[utoipa::path(
    post,
    path = "/messages/{id}/read",
    tag = "messages",
    params(("id" = i64, Path, description = "message id")),
    responses(
        (status = 200, body = MarkRead),
        (status = 403, description = "not_in_inbox: a peer token, for a foreign or missing id (one answer)", body = ErrorBody),
        (status = 404, description = "the operator token: no such message", body = ErrorBody),
        Invalid,
        Unauthorized,
    )
)]
async fn mark_read(
    State(state): State<AppState>,
    auth: Auth,
    PathParams(id): PathParams<String>,
) -> ApiResult<Json<MarkRead>> {
    auth.require_peer_token_if_configured(&state)?;
    let id = parse_id(&id)?;
    // The store marks only a message addressed to a peer token's own peer,
    // so nothing is looked up first: a peer gets one answer for a message
    // not in its inbox, whether it exists or not (ids are sequential; a
    // difference, even in timing, would tell a stranger which ids are
    // taken). 403, not 404: the Python MeshClient tests pin MeshAuthError
    // (401/403) for a foreign id.
    let marked = state.store().mark_read(&[id], auth.peer()).await?;
    match (marked.into_iter().next(), auth.peer()) {
        (Some(m), _) => Ok(Json(m)),
        (None, Some(_)) => Err(not_in_inbox(id)),
        (None, None) => Err(ApiError::not_found("unknown_message", format!("message {id} does not exist"))),
    }
}

/// The answer to a peer token marking a message that is not in its inbox:
/// the same for a foreign id and a missing one.
fn not_in_inbox(id: i64) -> ApiError {
    ApiError::forbidden(
        "not_in_inbox",
        format!("message {id} is not in this peer's inbox (no such message, or not addressed to it)"),
    )
}

/// `POST /messages/read {"ids": [...]}`: the bulk form the Python CLI tries first.
#[utoipa::path(
    post,
    path = "/messages/read",
    tag = "messages",
    request_body = MarkReadBulk,
    responses((status = 200, body = MarkReadBulkResponse), Invalid, Unauthorized)
)]
async fn mark_read_bulk(
    State(state): State<AppState>,
    auth: Auth,
    body: JsonObject,
) -> ApiResult<Json<MarkReadBulkResponse>> {
    auth.require_peer_token_if_configured(&state)?;
    let MarkReadBulk { ids } = MarkReadBulk::read(&body.0)?;
    let marked = state.store().mark_read(&ids, auth.peer()).await?;
    let not_found = ids.iter().copied().filter(|id| !marked.iter().any(|m| m.id == *id)).collect();
    Ok(Json(MarkReadBulkResponse { marked, not_found }))
}
