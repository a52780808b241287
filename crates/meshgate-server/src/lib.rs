//! The meshgate gateway as a library.
//!
//! [`app`] builds the axum router over an [`AppState`] (a `dyn Store` plus
//! [`Config`]); [`serve`] runs it on a listener the caller bound, so tests
//! bind `127.0.0.1:0` and the binary binds the configured address. The
//! storage backend is chosen by the caller (the `meshgate` binary picks it
//! from the `--db` URL scheme).
//!
//! Request flow: the [`auth::Auth`] extractor resolves the bearer token
//! (operator or one peer), each resource module in [`routes`] validates its
//! input by hand so every malformed request gets a JSON error with a stable
//! code, and [`error::ApiError::status`] is the one place where errors
//! become HTTP statuses.

pub mod auth;
pub mod bootstrap;
mod budget;
pub mod config;
mod conns;
pub mod delivery;
pub mod error;
pub mod hub;
pub mod input;
pub mod limits;
mod listen;
pub mod live;
pub mod peer_record;
pub mod routes;
pub mod session;
mod stall;
pub mod state;
pub mod tokens;

use std::future::Future;
use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::Router;
use meshgate_store::Store;
use tokio::net::TcpListener;

pub use config::{Config, OperatorToken, SecretGuard};
pub use error::ApiError;
pub use state::AppState;

/// The router with every resource, over `state`.
pub fn app(state: AppState) -> Router {
    Router::new()
        .merge(routes::health::routes())
        .merge(routes::peers::routes())
        .merge(routes::messages::routes())
        .merge(routes::receipts::routes())
        .merge(routes::threads::routes())
        .merge(routes::aliases::routes())
        .route("/openapi.json", axum::routing::get(routes::openapi::document))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(input::BODY_LIMIT))
        .layer(axum::middleware::from_fn(input::refuse_nul_in_uri))
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::not_found("no_route", "no such endpoint; GET /openapi.json lists them")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(error::Class::MethodNotAllowed, "method_not_allowed", "this endpoint does not accept that method")
}

/// Serves `store` with `config` on `listener` until `shutdown` resolves,
/// then flushes pending `last_seen` updates. Raises the process's soft
/// file descriptor limit to the hard one first ([`limits`]).
pub async fn serve(
    listener: TcpListener,
    store: Arc<dyn Store>,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let settings = listen::Settings::new(&config, limits::raise_fd_limit());
    let state = AppState::new(store, config);
    let flusher = {
        let state = state.clone();
        let every = state.config().last_seen_flush;
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                state.flush_last_seen().await;
            }
        })
    };
    let stopping = state.clone();
    let shutdown = async move {
        shutdown.await;
        // Open streams and long-polls end now, so the graceful shutdown
        // does not wait for them.
        stopping.begin_shutdown();
    };
    listen::serve_connections(listener, app(state.clone()), shutdown, settings).await;
    flusher.abort();
    state.flush_last_seen().await;
    state.flush_deliveries().await;
    Ok(())
}
