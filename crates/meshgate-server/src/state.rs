//! Shared state of the app: the store, settings, and the in-memory helpers
//! (last-seen coalescing, auth-failure limiter, per-peer live slots).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use meshgate_store::{now_timestamp, Store, Timestamp, TokenHash};

use crate::config::Config;
use crate::delivery::Deliveries;
use crate::hub::Hub;
use crate::session::Slots;

/// Everything a handler needs; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn Store>,
    config: Config,
    operator_hash: TokenHash,
    seen: Mutex<HashMap<String, Timestamp>>,
    auth_failures: Mutex<HashMap<FailureKey, (Instant, u32)>>,
    hub: Arc<Hub>,
    hub_task: tokio::task::JoinHandle<()>,
    stopping: tokio::sync::watch::Sender<bool>,
    slots: Slots,
    send_limiter: Option<crate::traffic::SendLimiter>,
    loops: Option<crate::traffic::LoopBreaker>,
    metrics: Option<Arc<crate::metrics::Metrics>>,
    /// Wake-ups already added to the metrics' counter.
    wakeups_seen: Mutex<u64>,
    deliveries: Arc<Deliveries>,
    delivery_task: tokio::task::JoinHandle<()>,
    searches: crate::search_gate::SearchGate,
    pages: crate::routes::messages::PageCache,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.hub_task.abort();
        self.delivery_task.abort();
    }
}

impl AppState {
    /// State over `store` with `config`. Must be called inside a Tokio
    /// runtime: it starts the wake-up [`Hub`].
    pub fn new(store: Arc<dyn Store>, config: Config) -> Self {
        let operator_hash = TokenHash::of(config.operator_token.expose());
        let (hub, hub_task) = Hub::start(Arc::clone(&store));
        let metrics = config.metrics.then(|| Arc::new(crate::metrics::Metrics::new()));
        if let Some(m) = &metrics {
            if !store.observe_commits(Arc::clone(m) as Arc<dyn meshgate_store::CommitObserver>) {
                tracing::debug!("the store does not report commits (or reports them elsewhere)");
            }
        }
        let pages = crate::routes::messages::PageCache::new(config.page_cache_bytes, metrics.clone());
        let deliveries = Arc::new(Deliveries::default());
        let delivery_task = deliveries.start(Arc::clone(&store));
        AppState {
            inner: Arc::new(Inner {
                hub,
                hub_task,
                stopping: tokio::sync::watch::channel(false).0,
                store,
                operator_hash,
                seen: Mutex::new(HashMap::new()),
                auth_failures: Mutex::new(HashMap::new()),
                slots: Slots::default(),
                send_limiter: config.send_rate.map(crate::traffic::SendLimiter::new),
                loops: config.loop_limit.map(crate::traffic::LoopBreaker::new),
                metrics,
                wakeups_seen: Mutex::new(0),
                searches: crate::search_gate::SearchGate::new(config.search_max, config.search_per_peer),
                pages,
                config,
                deliveries,
                delivery_task,
            }),
        }
    }

    /// Searches in flight, capped per peer and gateway-wide.
    pub(crate) fn searches(&self) -> &crate::search_gate::SearchGate {
        &self.inner.searches
    }

    /// `GET /messages` pages kept while the store is unchanged.
    pub(crate) fn page_cache(&self) -> &crate::routes::messages::PageCache {
        &self.inner.pages
    }

    /// The store.
    pub fn store(&self) -> &dyn Store {
        self.inner.store.as_ref()
    }

    /// The store, shared (for background tasks).
    pub fn store_arc(&self) -> &Arc<dyn Store> {
        &self.inner.store
    }

    /// Delivery recording: ids handed over to their recipient, written in
    /// batches (see [`crate::delivery`]).
    pub fn deliveries(&self) -> &Deliveries {
        &self.inner.deliveries
    }

    /// Writes the deliveries still queued (on shutdown).
    pub async fn flush_deliveries(&self) {
        self.inner.deliveries.flush(self.store()).await;
    }

    /// Wake-ups for the waiters of one peer (or of every message).
    pub fn hub(&self) -> &Hub {
        &self.inner.hub
    }

    /// Tells long-polls and streams to finish: the server is shutting down
    /// and waits for open responses.
    pub fn begin_shutdown(&self) {
        self.inner.stopping.send_replace(true);
    }

    /// Resolves once [`AppState::begin_shutdown`] was called.
    pub async fn stopping(&self) {
        let mut rx = self.inner.stopping.subscribe();
        let _ = rx.wait_for(|stop| *stop).await;
    }

    /// The settings.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// Open streams and long-polls per peer (see [`crate::session`]).
    pub(crate) fn slots(&self) -> &Slots {
        &self.inner.slots
    }

    /// How many streams (or waiting long-polls) are open for `peer` now.
    pub fn open_live(&self, kind: crate::session::LiveKind, peer: &str) -> usize {
        self.inner.slots.count(kind, peer)
    }

    /// The per-sender send limiter (`None`: `--send-rate off`).
    pub fn send_limiter(&self) -> Option<&crate::traffic::SendLimiter> {
        self.inner.send_limiter.as_ref()
    }

    /// The conversation-loop breaker (`None`: `--loop-limit off`).
    pub fn loops(&self) -> Option<&crate::traffic::LoopBreaker> {
        self.inner.loops.as_ref()
    }

    /// The metrics (`None`: `--metrics off`).
    pub fn metrics(&self) -> Option<&Arc<crate::metrics::Metrics>> {
        self.inner.metrics.as_ref()
    }

    /// Brings the gauges and counters kept elsewhere (open streams and
    /// long-polls, the hub's wake-ups) into the metrics, before a scrape.
    pub(crate) fn sync_metrics(&self, m: &crate::metrics::Metrics) {
        use crate::session::LiveKind;
        m.streams.set(self.inner.slots.total(LiveKind::Stream) as i64);
        m.polls.set(self.inner.slots.total(LiveKind::Poll) as i64);
        m.page_cache_bytes.set(self.inner.pages.bytes() as i64);
        let mut seen = self.inner.wakeups_seen.lock().expect("wakeups lock");
        let now = self.inner.hub.wakeups();
        m.wakeups.inc_by(now.saturating_sub(*seen));
        *seen = now;
    }

    pub(crate) fn operator_hash(&self) -> &TokenHash {
        &self.inner.operator_hash
    }

    /// Notes that `peer` acted now; written in batches by
    /// [`AppState::flush_last_seen`]. Called only for requests made with
    /// the peer's own token (see `auth`): an operator reading or sending
    /// on a peer's behalf does not make it look alive.
    pub fn saw(&self, peer: &str) {
        let mut seen = self.inner.seen.lock().expect("last-seen lock");
        if let Some(ts) = seen.get_mut(peer) {
            *ts = now_timestamp();
        } else {
            seen.insert(peer.to_owned(), now_timestamp());
        }
    }

    /// Writes the pending `last_seen` values in one store call.
    pub async fn flush_last_seen(&self) {
        let batch: Vec<(String, Timestamp)> = {
            let mut seen = self.inner.seen.lock().expect("last-seen lock");
            seen.drain().collect()
        };
        if batch.is_empty() {
            return;
        }
        if let Err(e) = self.inner.store.touch_peers(batch).await {
            tracing::warn!(error = %e, "could not record last_seen");
        }
    }

    /// Counts one failed authentication of `credential` (a hash of the
    /// presented Authorization header) from `ip`; true once that pair has
    /// failed more than the limit this minute. Keyed by the pair, so
    /// neighbours behind one address never share a count, and only failures
    /// are counted: a valid token is never refused.
    pub(crate) fn auth_failed(&self, ip: IpAddr, credential: TokenHash) -> bool {
        let limit = self.inner.config.auth_failures_per_minute;
        let mut failures = self.inner.auth_failures.lock().expect("limiter lock");
        if failures.len() >= AUTH_FAILURE_KEYS_MAX {
            failures.retain(|_, (start, _)| start.elapsed() < Duration::from_secs(60));
        }
        let key = (ip, credential.0);
        if failures.len() >= AUTH_FAILURE_KEYS_MAX && !failures.contains_key(&key) {
            // Full of live keys: a flood of distinct bad credentials. Not
            // tracking one more costs nothing (it gets a plain 401).
            return false;
        }
        let entry = failures.entry(key).or_insert((Instant::now(), 0));
        if entry.0.elapsed() >= Duration::from_secs(60) {
            *entry = (Instant::now(), 0);
        }
        entry.1 = entry.1.saturating_add(1);
        entry.1 > limit
    }

    /// Turns `true` at [`AppState::begin_shutdown`]; unlike
    /// [`AppState::stopping`] it does not keep the state alive (for
    /// background tasks, which then end with the state).
    pub fn stop_signal(&self) -> tokio::sync::watch::Receiver<bool> {
        self.inner.stopping.subscribe()
    }

    /// Calls `end_dead(holder, state, peer)` on every credential event of
    /// the store (`peer`: whose token changed, `None` for everyone or after
    /// missed events), until the gateway stops or `holder` is dropped. The
    /// one loop of everything that holds sessions bound to a token (the
    /// console, `/mcp`).
    pub(crate) fn on_credential_events<T, F, Fut>(&self, holder: &Arc<T>, end_dead: F)
    where
        T: Send + Sync + 'static,
        F: Fn(Arc<T>, AppState, Option<String>) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = ()> + Send,
    {
        use meshgate_store::CredentialEvent;
        use tokio::sync::broadcast::error::RecvError;
        let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
        let mut events = self.store().subscribe_credentials();
        let mut stop = self.stop_signal();
        let (holder, state) = (Arc::downgrade(holder), self.clone());
        runtime.spawn(async move {
            loop {
                let event = tokio::select! {
                    event = events.recv() => event,
                    _ = stop.wait_for(|stopping| *stopping) => return,
                };
                let peer = match event {
                    Ok(CredentialEvent::Peer(p)) => Some(p),
                    Ok(CredentialEvent::Everyone) | Err(RecvError::Lagged(_)) => None,
                    Err(RecvError::Closed) => return,
                };
                let Some(holder) = holder.upgrade() else { return };
                end_dead(holder, state.clone(), peer).await;
            }
        });
    }
}

/// What the auth-failure limiter counts: an address and the hash of the
/// credential it presented.
type FailureKey = (IpAddr, [u8; 32]);

/// Most (address, credential) pairs the limiter tracks at once (about
/// 1 MiB), whatever a flood of distinct bad tokens sends.
pub const AUTH_FAILURE_KEYS_MAX: usize = 10_000;

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_auth_failure_limiter_stays_bounded_under_a_flood_of_distinct_credentials() {
        let dir = tempfile::tempdir().unwrap();
        let store = meshgate_store_sqlite::SqliteStore::open(&dir.path().join("m.db"), Default::default()).unwrap();
        let mut config = Config::new(crate::config::OperatorToken::new("op"));
        config.auth_failures_per_minute = 1;
        let state = AppState::new(Arc::new(store), config);
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        for i in 0..AUTH_FAILURE_KEYS_MAX + 500 {
            assert!(!state.auth_failed(ip, TokenHash::of(&format!("bad-{i}"))), "a first failure is never limited");
        }
        assert_eq!(state.inner.auth_failures.lock().unwrap().len(), AUTH_FAILURE_KEYS_MAX);
        let stale = TokenHash::of("bad-0");
        assert!(state.auth_failed(ip, stale), "a tracked credential that keeps failing is limited");
        let other: IpAddr = "192.0.2.8".parse().unwrap();
        assert!(!state.auth_failed(other, stale), "another address never shares the count");
    }
}
