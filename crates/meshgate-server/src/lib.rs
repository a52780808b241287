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

mod around;
pub mod auth;
mod autoreply;
pub mod bootstrap;
mod budget;
pub mod config;
mod conns;
pub mod console;
pub mod delivery;
pub mod error;
pub mod hub;
pub mod input;
pub mod limits;
mod listen;
pub mod mcp;
pub mod metrics;
pub mod request_id;
pub mod retention;
pub mod routes;
mod search_gate;
pub mod session;
mod stall;
pub mod state;
mod tls;
pub mod tokens;
pub mod traffic;

use std::future::Future;
use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::Router;
use meshgate_store::Store;
use tokio::net::TcpListener;

pub use config::{Config, OperatorToken, SecretGuard, MIN_OPERATOR_TOKEN};
pub use error::ApiError;
pub use state::AppState;
pub use tls::TlsSettings;

/// The router with every resource, over `state`, and `/mcp` and the `/ui`
/// console (unless turned off) on top of it.
pub fn app(state: AppState) -> Router {
    let api = api(state.clone());
    let mcp = mcp::router(state.clone(), api.clone());
    // `/mcp` is outside `api` (its tools call `api`), so it is counted here.
    let mcp = match state.metrics() {
        Some(m) => mcp.layer(axum::middleware::from_fn_with_state(Arc::clone(m), metrics::track)),
        None => mcp,
    };
    let ui = state.config().ui.enabled.then(|| console::router(state.clone(), api.clone()));
    let app = api.merge(mcp);
    match ui {
        Some(ui) => app.merge(ui),
        None => app,
    }
}

/// The HTTP API without `/mcp` (whose tools call it in-process).
fn api(state: AppState) -> Router {
    let router = routes::all()
        .router()
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(input::BODY_LIMIT))
        // Runs after routing (the matched template is known) and around every
        // route and fallback: request id and span, metrics.
        .layer(around::AroundLayer::new(state.metrics().cloned()));
    router.with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::not_found("no_route", "no such endpoint; GET /openapi.json lists them")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(error::Class::MethodNotAllowed, "method_not_allowed", "this endpoint does not accept that method")
}

/// Serves `store` with `config` on `listener` until `shutdown` resolves,
/// then flushes pending `last_seen` updates. Raises the process's soft
/// file descriptor limit to the hard one first ([`limits`]). With
/// [`Config::tls`] set, serves TLS only and reloads the pair on SIGHUP; a
/// certificate or key that cannot be loaded is an `InvalidInput` error
/// naming the file. Without TLS a SIGHUP is logged and ignored.
pub async fn serve(
    listener: TcpListener,
    store: Arc<dyn Store>,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let mut settings = listen::Settings::new(&config, limits::raise_fd_limit());
    let hangups = match &config.tls {
        Some(tls) => {
            settings.tls = Some(tls::Tls::start(tls)?);
            None
        }
        None => Some(tls::ignore_hangups()),
    };
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
    let retention = state.config().retain.is_on().then(|| {
        let (store, config) = (Arc::clone(state.store_arc()), state.config());
        tokio::spawn(retention::run(store, config.retain, config.retention_every))
    });
    let scraper = match state.config().metrics_listen {
        Some(addr) => {
            let metrics_listener = TcpListener::bind(addr).await?;
            let bound = metrics_listener.local_addr()?;
            tracing::info!(%bound, "metrics without auth at /metrics");
            eprintln!("meshgate: metrics on http://{bound}/metrics (no auth)");
            let app = metrics::scrape_only_app(state.clone());
            Some(tokio::spawn(async move {
                if let Err(e) = axum::serve(metrics_listener, app).await {
                    tracing::error!(error = %e, "metrics listener failed");
                }
            }))
        }
        None => None,
    };
    listen::serve_connections(listener, app(state.clone()), shutdown, settings).await;
    for task in [scraper, retention, hangups].into_iter().flatten() {
        task.abort();
    }
    flusher.abort();
    state.flush_last_seen().await;
    state.flush_deliveries().await;
    Ok(())
}
