//! Prometheus metrics: what is counted, and `/metrics` (operator token, or
//! without auth on `--metrics-listen`'s own listener).
//!
//! One [`Metrics`] per [`AppState`] (no global recorder, so tests running
//! several gateways in one process never mix their counts). Requests are
//! labelled by route template (`/peers/{name}`, never the raw path) and
//! status, so label cardinality is bounded by the router. The store reports
//! its commits through [`meshgate_store::CommitObserver`], so the store
//! crates do not depend on this one.
//!
//! Per request the middleware costs two clock reads and, for a known
//! (method, route) pair, no hashing: its latency histogram and its `200`
//! counter are handles kept in a fixed table (`Hot`), the same metrics the
//! families hold. Other statuses go through the family (a hash lookup).

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::auth::Auth;
use crate::error::{ApiResult, ErrorCode};
use crate::routes::endpoint::Endpoints;
use crate::state::AppState;

/// Route templates of the router ([`crate::routes::all`]): the only values
/// of the `route` label (anything else is `unmatched`). Built once per
/// process; the list is fixed at compile time, so its leak is bounded.
pub fn route_labels() -> &'static [&'static str] {
    static LABELS: std::sync::OnceLock<Vec<&'static str>> = std::sync::OnceLock::new();
    LABELS
        .get_or_init(|| crate::routes::all().templates().into_iter().map(|t| &*Box::leak(t.into_boxed_str())).collect())
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: &'static str,
    route: &'static str,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: &'static str,
    route: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RuleLabels {
    rule: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: &'static str,
}

/// The guard-refusal label of a DM carrying one of this gateway's own live
/// tokens.
pub const LIVE_CREDENTIAL: &str = "live_credential";

/// The `kind` label of a request the store failed, by the error's code.
const STORE_ERROR_KINDS: [(&str, &str); 2] = [("store_unavailable", "unavailable"), ("internal", "backend")];

/// Methods with a label of their own (anything else is `other`).
const METHODS: &[(Method, &str)] = &[
    (Method::GET, "GET"),
    (Method::POST, "POST"),
    (Method::DELETE, "DELETE"),
    (Method::PATCH, "PATCH"),
    (Method::PUT, "PUT"),
    (Method::HEAD, "HEAD"),
];

/// The handles of one (method, route) pair, taken from the families on its
/// first request: its latency histogram and its counter of `200` answers.
struct Hot {
    ok: Counter,
    latency: Histogram,
}

/// The gateway's metrics and their registry.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram>,
    /// One slot per (method or `other`, route or `unmatched`): see [`Hot`].
    hot: Box<[OnceLock<Hot>]>,
    dms_sent: Counter,
    commit_jobs: Histogram,
    commit_seconds: Histogram,
    /// Open SSE streams.
    pub(crate) streams: Gauge,
    /// Waiting long-polls.
    pub(crate) polls: Gauge,
    /// Waiters woken by a commit (see [`crate::hub`]).
    pub(crate) wakeups: Counter,
    guard_refusals: Family<RuleLabels, Counter>,
    send_refusals: Family<ReasonLabels, Counter>,
    store_errors: Family<KindLabels, Counter>,
    store_up: Gauge,
    /// `GET /messages` pages answered from the page cache.
    pub(crate) page_cache_hits: Counter,
    /// Pages the page cache did not have (read from the store).
    pub(crate) page_cache_misses: Counter,
    /// Bytes the page cache holds.
    pub(crate) page_cache_bytes: Gauge,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Every metric, registered under `meshgate_`.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("meshgate");
        let requests = Family::<RequestLabels, Counter>::default();
        // 100 µs .. ~105 s.
        let latency = Family::<RouteLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.0001, 4.0, 11))
        });
        let dms_sent = Counter::default();
        let commit_jobs = Histogram::new(exponential_buckets(1.0, 2.0, 11));
        let commit_seconds = Histogram::new(exponential_buckets(0.0001, 2.0, 16));
        let (streams, polls, store_up) = (Gauge::default(), Gauge::default(), Gauge::default());
        let wakeups = Counter::default();
        let (page_cache_hits, page_cache_misses, page_cache_bytes) =
            (Counter::default(), Counter::default(), Gauge::default());
        // Every series these families can have exists from the start, at 0:
        // a rate or an alert over them has data before the first refusal.
        let guard_refusals = Family::<RuleLabels, Counter>::default();
        for rule in meshgate_guard::rules().iter().map(|r| r.label).chain([LIVE_CREDENTIAL]) {
            let _ = guard_refusals.get_or_create(&RuleLabels { rule });
        }
        let send_refusals = Family::<ReasonLabels, Counter>::default();
        for reason in crate::traffic::REFUSALS {
            let _ = send_refusals.get_or_create(&ReasonLabels { reason });
        }
        let store_errors = Family::<KindLabels, Counter>::default();
        for (_, kind) in STORE_ERROR_KINDS {
            let _ = store_errors.get_or_create(&KindLabels { kind });
        }
        registry.register("http_requests", "HTTP requests by method, route template and status", requests.clone());
        registry.register("http_request_duration_seconds", "Time to the response head", latency.clone());
        registry.register("dms_sent", "DMs stored (idempotent resends not counted)", dms_sent.clone());
        registry.register("store_commit_jobs", "Writes per committed store transaction", commit_jobs.clone());
        registry.register(
            "store_commit_seconds",
            "Time of a store COMMIT (SQLite: includes the WAL fsync)",
            commit_seconds.clone(),
        );
        registry.register("open_streams", "Open GET /messages/stream responses", streams.clone());
        registry.register("waiting_polls", "Long-polls waiting for a DM", polls.clone());
        registry.register("wakeups", "Waiters woken by a commit", wakeups.clone());
        registry.register("guard_refusals", "DMs refused by the credential guard, by rule", guard_refusals.clone());
        registry.register(
            "send_refusals",
            "DMs refused by traffic control (rate_limited, conversation_loop)",
            send_refusals.clone(),
        );
        registry.register("store_errors", "Requests failed by the store (unavailable, backend)", store_errors.clone());
        registry.register("store_up", "1 when the store answered the last scrape's probe", store_up.clone());
        registry.register(
            "page_cache_hits",
            "GET /messages pages answered from the page cache",
            page_cache_hits.clone(),
        );
        registry.register("page_cache_misses", "GET /messages pages the cache did not hold", page_cache_misses.clone());
        registry.register("page_cache_bytes", "Bytes of pages the page cache holds", page_cache_bytes.clone());
        let hot = (0..(METHODS.len() + 1) * (route_labels().len() + 1)).map(|_| OnceLock::new()).collect();
        Metrics {
            registry,
            requests,
            latency,
            hot,
            dms_sent,
            commit_jobs,
            commit_seconds,
            streams,
            polls,
            wakeups,
            guard_refusals,
            send_refusals,
            store_errors,
            store_up,
            page_cache_hits,
            page_cache_misses,
            page_cache_bytes,
        }
    }

    /// A DM was stored.
    pub fn dm_sent(&self) {
        self.dms_sent.inc();
    }

    /// The credential guard refused a DM; `rule` is the finding's label
    /// (a fixed set) or `live_credential`.
    pub fn guard_refused(&self, rule: &'static str) {
        self.guard_refusals.get_or_create(&RuleLabels { rule }).inc();
    }

    /// Traffic control refused a DM (`rate_limited`, `conversation_loop`).
    pub fn send_refused(&self, reason: &'static str) {
        self.send_refusals.get_or_create(&ReasonLabels { reason }).inc();
    }

    /// The exposition text (OpenMetrics), after probing the store.
    pub async fn render(&self, state: &AppState) -> String {
        self.store_up.set(i64::from(state.store().schema_version().await.is_ok()));
        state.sync_metrics(self);
        let mut out = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            tracing::error!(error = %e, "could not encode metrics");
        }
        out
    }

    fn observe(&self, method: usize, route: usize, status: u16, took: Duration, error: Option<&str>) {
        let labels = RouteLabels {
            method: METHODS.get(method).map_or("other", |m| m.1),
            route: route_labels().get(route).copied().unwrap_or("unmatched"),
        };
        let hot = self.hot[method * (route_labels().len() + 1) + route].get_or_init(|| Hot {
            ok: self
                .requests
                .get_or_create(&RequestLabels { method: labels.method, route: labels.route, status: 200 })
                .clone(),
            latency: self.latency.get_or_create(&labels).clone(),
        });
        if status == 200 {
            hot.ok.inc();
        } else {
            self.requests.get_or_create(&RequestLabels { method: labels.method, route: labels.route, status }).inc();
        }
        hot.latency.observe(took.as_secs_f64());
        if let Some((_, kind)) = error.and_then(|e| STORE_ERROR_KINDS.iter().find(|(code, _)| *code == e)) {
            self.store_errors.get_or_create(&KindLabels { kind }).inc();
        }
    }
}

impl meshgate_store::CommitObserver for Metrics {
    fn committed(&self, jobs: usize, commit: Duration) {
        self.commit_jobs.observe(jobs as f64);
        self.commit_seconds.observe(commit.as_secs_f64());
    }
}

/// The index of `m` in [`METHODS`], or its length (`other`).
fn method_index(m: &Method) -> usize {
    METHODS.iter().position(|(known, _)| known == m).unwrap_or(METHODS.len())
}

/// The index of a matched path in [`route_labels`], or its length (`unmatched`).
fn route_index(matched: Option<&MatchedPath>) -> usize {
    matched.and_then(|m| route_labels().iter().position(|r| *r == m.as_str())).unwrap_or(route_labels().len())
}

/// What the metrics keep of a request until its response head: when it
/// started, its method and its route (indexes of [`METHODS`], [`route_labels`]).
pub(crate) struct Observation {
    started: Instant,
    method: usize,
    route: usize,
}

impl Observation {
    /// Starts timing `req` (after routing: its matched template is known).
    pub(crate) fn start(req: &Request) -> Self {
        Observation {
            started: Instant::now(),
            method: method_index(req.method()),
            route: route_index(req.extensions().get::<MatchedPath>()),
        }
    }
}

impl Metrics {
    /// Counts the request of `o` by route template and status, and its
    /// time to the response head.
    pub(crate) fn finish(&self, o: Observation, resp: &Response) {
        let error = resp.extensions().get::<ErrorCode>().map(|c| c.0);
        self.observe(o.method, o.route, resp.status().as_u16(), o.started.elapsed(), error);
    }
}

/// Middleware of `/mcp` (outside the API's router, see [`crate::app`]):
/// what [`crate::around`] does for the API's routes.
pub(crate) async fn track(State(metrics): State<Arc<Metrics>>, req: Request, next: Next) -> Response {
    let observation = Observation::start(&req);
    let resp = next.run(req).await;
    metrics.finish(observation, &resp);
    resp
}

/// Routes of this resource (on the API listener).
pub fn routes() -> Endpoints {
    Endpoints::new().add(__path_scrape, scrape)
}

/// `GET /metrics` on the API listener: the operator token only.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "metrics",
    responses(
        (status = 200, description = "Prometheus text exposition"),
        crate::routes::endpoint::responses::OperatorOnly,
        (status = 404, description = "metrics are off", body = meshgate_proto::ErrorBody),
    )
)]
pub(crate) async fn scrape(State(state): State<AppState>, auth: Auth) -> ApiResult<Response> {
    auth.require_operator("reading metrics")?;
    match state.metrics() {
        Some(m) => Ok(exposition(m.render(&state).await)),
        None => Err(crate::ApiError::not_found("metrics_off", "metrics are off on this gateway (--metrics off)")),
    }
}

/// The HTTP answer carrying `text`.
pub(crate) fn exposition(text: String) -> Response {
    const TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
    ([(header::CONTENT_TYPE, HeaderValue::from_static(TYPE))], text).into_response()
}

/// The router of `--metrics-listen`: `GET /metrics` without auth (for a
/// scraper on a private address), nothing else.
pub fn scrape_only_app(state: AppState) -> axum::Router {
    async fn open_scrape(State(state): State<AppState>) -> Response {
        match state.metrics() {
            Some(m) => exposition(m.render(&state).await),
            None => crate::ApiError::not_found("metrics_off", "metrics are off on this gateway").into_response(),
        }
    }
    axum::Router::new()
        .route("/metrics", axum::routing::get(open_scrape))
        .fallback(|| async { crate::ApiError::not_found("no_route", "this listener serves GET /metrics only") })
        .with_state(state)
}
