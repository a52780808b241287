//! `/health`: public liveness; discloses no paths or counts.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use meshgate_proto::Health;

use crate::state::AppState;

/// Routes of this resource.
pub fn routes() -> Router<AppState> {
    Router::new().route("/health", get(health))
}

/// `GET /health` (no auth): 200 when the store answers, 503 otherwise.
#[utoipa::path(get, path = "/health", tag = "health", security(), responses((status = 200, description = "store answers", body = Health), (status = 503, description = "store unavailable", body = Health)))]
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
    (if ok { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE }, Json(body))
}
