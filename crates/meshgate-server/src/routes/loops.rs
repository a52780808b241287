//! `/loops`: the conversation-loop breaker's tripped pairs (operator).

use axum::extract::State;
use axum::Json;
use meshgate_proto::{ErrorBody, LoopList, LoopReset};

use crate::auth::Auth;
use crate::error::ApiResult;
use crate::input::PathParams;
use crate::routes::check_name;
use crate::routes::endpoint::responses::{OperatorOnly, Unauthorized};
use crate::routes::endpoint::Endpoints;
use crate::state::AppState;

/// Routes of this resource.
pub fn routes() -> Endpoints {
    Endpoints::new().add(__path_list, list).add(__path_reset, reset)
}

/// `GET /loops` (operator): pairs whose DMs the breaker refuses now, on
/// this replica.
#[utoipa::path(
    get,
    path = "/loops",
    tag = "loops",
    operation_id = "list_loops",
    responses((status = 200, body = LoopList), OperatorOnly, Unauthorized)
)]
async fn list(State(state): State<AppState>, auth: Auth) -> ApiResult<Json<LoopList>> {
    auth.require_operator("listing conversation loops")?;
    let limit = state.loops().map(|l| l.limit());
    Ok(Json(LoopList {
        count: limit.map(|l| l.count),
        window_secs: limit.map(|l| l.window.as_secs()),
        tripped: state.loops().map(|l| l.tripped()).unwrap_or_default(),
    }))
}

/// `DELETE /loops/{a}/{b}` (operator): forgets the pair's count, so DMs
/// between them flow again (aliases resolve; idempotent).
#[utoipa::path(
    delete,
    path = "/loops/{a}/{b}",
    tag = "loops",
    params(("a" = String, Path), ("b" = String, Path)),
    responses(
        (status = 200, body = LoopReset),
        OperatorOnly,
        (status = 422, description = "invalid name", body = ErrorBody),
        Unauthorized,
    )
)]
async fn reset(
    State(state): State<AppState>,
    auth: Auth,
    PathParams((a, b)): PathParams<(String, String)>,
) -> ApiResult<Json<LoopReset>> {
    auth.require_operator("resetting a conversation loop")?;
    check_name(&a)?;
    check_name(&b)?;
    let a = canonical(&state, a).await?;
    let b = canonical(&state, b).await?;
    let was_tripped = state.loops().is_some_and(|l| l.reset(&a, &b));
    tracing::info!(%a, %b, was_tripped, "conversation loop reset");
    Ok(Json(LoopReset { a, b, was_tripped }))
}

/// The canonical peer of `name` when it is an alias, else `name`.
async fn canonical(state: &AppState, name: String) -> ApiResult<String> {
    Ok(state.store().resolve_name(&name).await?.map_or(name, |r| r.canonical))
}
