//! `/aliases`: operator-managed nicknames, resolved on send.

use axum::extract::State;
use axum::Json;
use meshgate_proto::{Alias, AliasDeleted, AliasList};
use meshgate_store::StoreError;

use crate::auth::Auth;
use crate::error::{ApiError, ApiResult};
use crate::input::{JsonObject, PathParams};
use crate::routes::endpoint::responses::{Invalid, OperatorOnly, Unauthorized};
use crate::routes::endpoint::Endpoints;
use crate::state::AppState;
use meshgate_proto::{ErrorBody, NewAlias};

/// Routes of this resource.
pub fn routes() -> Endpoints {
    Endpoints::new().add(__path_list, list).add(__path_put, put).add(__path_remove, remove)
}

/// `GET /aliases`.
#[utoipa::path(
    get,
    path = "/aliases",
    tag = "aliases",
    operation_id = "list_aliases",
    responses((status = 200, body = AliasList), Unauthorized)
)]
async fn list(State(state): State<AppState>, _auth: Auth) -> ApiResult<Json<AliasList>> {
    Ok(Json(AliasList { aliases: state.store().aliases().await? }))
}

/// `POST /aliases {alias, canonical}` (operator).
#[utoipa::path(
    post,
    path = "/aliases",
    tag = "aliases",
    request_body = NewAlias,
    responses(
        (status = 200, body = Alias),
        OperatorOnly,
        (status = 404, description = "unknown_peer: canonical is no registered peer", body = ErrorBody),
        (status = 409, description = "name_taken: a peer has that name", body = ErrorBody),
        Invalid,
        Unauthorized,
    )
)]
async fn put(State(state): State<AppState>, auth: Auth, body: JsonObject) -> ApiResult<Json<Alias>> {
    auth.require_operator("managing aliases")?;
    let NewAlias { alias, canonical } = NewAlias::read(&body.0)?;
    let stored = state.store().put_alias(&alias, &canonical).await.map_err(|e| match e {
        StoreError::NotFound(_) => {
            ApiError::not_found("unknown_peer", format!("canonical {canonical:?} is not a registered peer"))
        }
        other => other.into(),
    })?;
    tracing::info!(alias = %stored.alias, canonical = %stored.canonical, "alias set");
    Ok(Json(stored))
}

/// `DELETE /aliases/{alias}` (operator).
#[utoipa::path(
    delete,
    path = "/aliases/{alias}",
    tag = "aliases",
    params(("alias" = String, Path)),
    responses(
        (status = 200, description = "deleted", body = AliasDeleted),
        OperatorOnly,
        (status = 404, description = "unknown_alias: no such alias", body = ErrorBody),
        Unauthorized,
    )
)]
async fn remove(
    State(state): State<AppState>,
    auth: Auth,
    PathParams(alias): PathParams<String>,
) -> ApiResult<Json<AliasDeleted>> {
    auth.require_operator("managing aliases")?;
    state.store().delete_alias(&alias).await.map_err(|e| match e {
        StoreError::NotFound(_) => ApiError::not_found("unknown_alias", format!("alias {alias:?} does not exist")),
        other => other.into(),
    })?;
    tracing::info!(alias = %alias, "alias removed");
    Ok(Json(AliasDeleted { status: "deleted".to_owned(), alias }))
}
