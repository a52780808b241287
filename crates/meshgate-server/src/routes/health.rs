//! `/health` (liveness) and `/ready` (readiness): public, served from the
//! connection reserve, disclosing no paths or counts.
//!
//! `/health` answers 200 while the process serves, whatever the store
//! says (its body reports the store), so a supervisor does not restart a
//! gateway for a database outage; `/ready` is 503 `store_unavailable` while
//! the store does not answer a cheap query, so a load balancer sends no
//! traffic to it meanwhile.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use meshgate_proto::{Health, Ready};

use crate::routes::endpoint::Endpoints;
use crate::state::AppState;

/// Routes of this resource.
pub fn routes() -> Endpoints {
    Endpoints::new().add(__path_health, health).add(__path_ready, ready)
}

/// `GET /health` (no auth): 200 while the gateway serves; `status` is
/// `degraded` and `store` `unavailable` when the store does not answer.
#[utoipa::path(
    get,
    path = "/health",
    tag = "health",
    security(),
    responses((status = 200, description = "the gateway serves; the body says whether the store answers", body = Health))
)]
async fn health(State(state): State<AppState>) -> (StatusCode, Json<Health>) {
    let schema = state.store().schema_version().await;
    let ok = schema.is_ok();
    let body = Health {
        status: if ok { "ok" } else { "degraded" }.to_owned(),
        service: "mesh-gateway".to_owned(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        schema_version: schema.ok(),
        store: Some(if ok { "ok" } else { "unavailable" }.to_owned()),
    };
    (StatusCode::OK, Json(body))
}

/// `GET /ready` (no auth): 200 `{"status": "ready"}` when the store answers
/// a cheap query, else 503 `store_unavailable`.
#[utoipa::path(
    get,
    path = "/ready",
    tag = "health",
    security(),
    responses(
        (status = 200, description = "the store answers", body = Ready),
        (status = 503, description = "store_unavailable", body = meshgate_proto::ErrorBody),
    )
)]
async fn ready(State(state): State<AppState>) -> Response {
    match state.store().schema_version().await {
        Ok(_) => Json(Ready { status: "ready".to_owned() }).into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "not ready: the store does not answer");
            crate::ApiError::new(
                crate::error::Class::Unavailable,
                "store_unavailable",
                "the message store does not answer; the gateway log says why",
            )
            .into_response()
        }
    }
}
