//! Connection accounting: who may hold a socket.
//!
//! - **A global cap** (`max_connections`) on served connections.
//! - **Unauthenticated connections** (accepted, no authenticated request
//!   yet: a bare TCP connection, a slow request head, `/health` callers)
//!   are capped per client address, and all together (loopback included,
//!   which the per-address cap exempts): beyond [`Caps::unauthenticated`],
//!   the oldest is closed for the newcomer. Each may hold a half-sent
//!   request head (up to hyper's ~80 KiB buffer); a client that sends its
//!   request at once authenticates within milliseconds, so only a flood of
//!   that many new connections in that time can close it.
//! - **Idle connections are shed.** When the global cap is reached, the
//!   connection idle the longest (not inside a request: between keep-alive
//!   requests, or never sent one) is closed to make room, authenticated or
//!   not: holding an idle socket never locks anyone out.
//! - **Requests in flight per peer** are capped ([`Caps::per_peer`]), from
//!   authentication until the response body is written or dropped, so one
//!   token can neither fill the cap with busy connections nor pile up
//!   response pages in memory (429 `too_many_requests`).
//! - **Connections per peer** are capped at twice that
//!   ([`Caps::per_peer_connections`]): a connection counts for the first
//!   peer a request on it authenticated as, and beyond the cap that peer's
//!   own connection idle the longest is closed. Each connection can hold a
//!   request head being received (up to hyper's buffer), so without this one
//!   token could keep thousands of half-sent heads in memory.
//! - **A reserve** for the operator and liveness checks: when the cap is
//!   full of connections inside requests, a few more are accepted that may
//!   only ask `GET /health` or carry the operator token (one request, short
//!   head timeout), so health checks answer and the operator can revoke.
//! - Beyond that, a new connection is refused at once.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use futures_util::task::AtomicWaker;

use crate::error::{ApiError, Class};

/// How often hitting a cap is logged.
const WARN_EVERY: Duration = Duration::from_secs(10);

/// The caps of one listener.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Caps {
    /// Served connections.
    pub(crate) max_connections: usize,
    /// Unauthenticated connections per address (0: no limit).
    pub(crate) per_address: usize,
    /// Unauthenticated connections from all addresses together (0: no limit).
    pub(crate) unauthenticated: usize,
    /// Apply `per_address` to loopback too.
    pub(crate) limit_loopback: bool,
    /// Health-only connections beyond `max_connections`.
    pub(crate) health_reserve: usize,
    /// Requests in flight per peer (0: no limit); see [`Caps::per_peer_limit`].
    pub(crate) per_peer: usize,
}

impl Caps {
    /// The requests in flight one peer may have: `per_peer`, but never more
    /// than half of `max_connections` (at least 1), so a single token
    /// cannot occupy the whole cap. `None`: no limit.
    pub(crate) fn per_peer_limit(&self) -> Option<usize> {
        (self.per_peer > 0).then(|| self.per_peer.min((self.max_connections / 2).max(1)))
    }

    /// The connections one peer may keep open: twice
    /// [`Caps::per_peer_limit`] (room for every request in flight plus as
    /// many idle keep-alive connections). `None`: no limit.
    pub(crate) fn per_peer_connections(&self) -> Option<usize> {
        self.per_peer_limit().map(|n| n.saturating_mul(2))
    }
}

/// Counts and lists the open connections of one listener.
pub(crate) struct Tracker {
    caps: Caps,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    next_id: u64,
    /// Served connections (shed ones count until their task drops them).
    open: usize,
    /// Health-only connections.
    reserve_open: usize,
    /// Every admitted connection, to stop them all at the shutdown deadline.
    all: HashMap<u64, Weak<Slot>>,
    /// Unauthenticated connections, oldest first.
    unauthenticated: BTreeMap<u64, (IpAddr, Weak<Slot>)>,
    /// Unauthenticated connections per address (IPv6: per /64).
    per_address: HashMap<IpAddr, usize>,
    /// Connections not inside a request, longest idle first (keyed by
    /// when they became idle; the key is in [`Slot::idle_key`]).
    idle: BTreeMap<u64, Weak<Slot>>,
    /// Requests in flight per peer.
    per_peer: HashMap<String, usize>,
    /// Open connections per peer they count for, by slot id.
    peer_conns: HashMap<String, HashMap<u64, Weak<Slot>>>,
    /// When a cap was last reported in the log.
    last_warning: Option<Instant>,
}

impl State {
    /// Logs that a cap was hit, at most every [`WARN_EVERY`].
    fn warn(&mut self, what: &str) {
        let now = Instant::now();
        if self.last_warning.is_none_or(|at| now.duration_since(at) >= WARN_EVERY) {
            self.last_warning = Some(now);
            tracing::warn!(open = self.open, reserve = self.reserve_open, "{what}");
        }
    }

    fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    fn forget_unauthenticated(&mut self, id: u64) {
        if let Some((ip, _)) = self.unauthenticated.remove(&id) {
            if let Some(n) = self.per_address.get_mut(&ip) {
                *n -= 1;
                if *n == 0 {
                    self.per_address.remove(&ip);
                }
            }
        }
    }
}

/// Why a connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// Its address holds too many unauthenticated connections.
    PerAddress,
    /// The cap and the `/health` reserve are full.
    Full,
}

/// One admitted connection. Shared by its task and every request on it
/// (as a request extension); the last drop frees its place.
pub(crate) struct Slot {
    tracker: Arc<Tracker>,
    id: u64,
    /// Admitted into the `/health` reserve.
    health_only: bool,
    authenticated: AtomicBool,
    /// The peer this connection counts for (the first one a request on it
    /// authenticated as).
    peer: std::sync::OnceLock<String>,
    /// Requests on this connection not yet finished (changed under the
    /// tracker's lock).
    busy: AtomicUsize,
    /// Its key in [`State::idle`] while idle, else 0 (changed under the
    /// tracker's lock).
    idle_key: AtomicU64,
    /// Set to make the connection's task drop it (shed, or the shutdown
    /// deadline); `waker` wakes that task.
    stop: AtomicBool,
    waker: AtomicWaker,
}

impl Tracker {
    /// A tracker enforcing `caps`.
    pub(crate) fn new(caps: Caps) -> Arc<Self> {
        Arc::new(Tracker { caps, state: Mutex::new(State::default()) })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Open connections, the reserve included.
    pub(crate) fn open(&self) -> usize {
        let state = self.lock();
        state.open + state.reserve_open
    }

    /// Stops every open connection (the shutdown deadline).
    pub(crate) fn stop_all(&self) {
        let slots: Vec<Arc<Slot>> = self.lock().all.values().filter_map(Weak::upgrade).collect();
        for slot in slots {
            slot.stop();
        }
    }

    /// Admits a connection from `ip`, shedding the oldest unauthenticated
    /// one if the cap is reached, or says why not.
    pub(crate) fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<Arc<Slot>, Refused> {
        let ip = address_key(ip);
        // Declared before the guard, so dropped after it: the last reference
        // to a shed slot runs its `Drop`, which takes the lock.
        let shed: Option<Arc<Slot>>;
        let oldest_unauthenticated: Option<Arc<Slot>>;
        let mut state = self.lock();
        let limited = self.caps.per_address > 0 && (self.caps.limit_loopback || !ip.is_loopback());
        if limited && state.per_address.get(&ip).copied().unwrap_or(0) >= self.caps.per_address {
            state.warn("an address reached its cap of unauthenticated connections; refusing more");
            return Err(Refused::PerAddress);
        }
        if self.caps.unauthenticated > 0 && state.unauthenticated.len() >= self.caps.unauthenticated {
            oldest_unauthenticated = state.unauthenticated.first_key_value().and_then(|(_, (_, slot))| slot.upgrade());
            // None: it is being dropped, its place about to be free.
            if let Some(victim) = &oldest_unauthenticated {
                let key = victim.idle_key.swap(0, Ordering::Relaxed);
                if key != 0 {
                    state.idle.remove(&key);
                }
                state.forget_unauthenticated(victim.id);
                victim.stop();
                state.warn("unauthenticated connections reached their cap; closing the oldest");
            }
        }
        if state.open >= self.caps.max_connections {
            state.warn("connection cap reached: shedding unauthenticated connections, then serving /health only");
        }
        let health_only = if state.open < self.caps.max_connections {
            false
        } else if let Some((_, oldest)) = state.idle.pop_first() {
            shed = oldest.upgrade();
            if let Some(victim) = &shed {
                victim.idle_key.store(0, Ordering::Relaxed);
                state.forget_unauthenticated(victim.id);
                victim.stop();
            }
            false
        } else if state.reserve_open < self.caps.health_reserve {
            true
        } else {
            return Err(Refused::Full);
        };
        let id = state.next_id();
        let slot = Arc::new(Slot {
            tracker: Arc::clone(self),
            id,
            health_only,
            authenticated: AtomicBool::new(false),
            peer: std::sync::OnceLock::new(),
            busy: AtomicUsize::new(0),
            idle_key: AtomicU64::new(if health_only { 0 } else { id }),
            stop: AtomicBool::new(false),
            waker: AtomicWaker::new(),
        });
        state.all.insert(id, Arc::downgrade(&slot));
        if health_only {
            state.reserve_open += 1;
        } else {
            state.open += 1;
            state.idle.insert(id, Arc::downgrade(&slot));
            state.unauthenticated.insert(id, (ip, Arc::downgrade(&slot)));
            *state.per_address.entry(ip).or_insert(0) += 1;
        }
        Ok(slot)
    }
}

impl Slot {
    /// Whether this connection may only ask `GET /health`.
    pub(crate) fn health_only(&self) -> bool {
        self.health_only
    }

    /// Records that a request on this connection authenticated: it no
    /// longer counts as unauthenticated nor can be shed.
    pub(crate) fn authenticated(&self) {
        if !self.authenticated.swap(true, Ordering::AcqRel) {
            self.tracker.lock().forget_unauthenticated(self.id);
        }
    }

    /// Counts this connection for `peer` (once). Beyond the peer's cap of
    /// connections, its own connection idle the longest is closed; if none
    /// is idle, all are inside requests, which the request cap bounds.
    pub(crate) fn count_for_peer(self: &Arc<Self>, peer: &str) {
        if self.health_only || self.peer.get().is_some() || self.peer.set(peer.to_owned()).is_err() {
            return;
        }
        // Declared before the guard, so dropped after it: the last
        // reference to a slot runs its `Drop`, which takes the lock.
        let mut theirs: Vec<Arc<Slot>> = Vec::new();
        let mut state = self.tracker.lock();
        let conns = state.peer_conns.entry(peer.to_owned()).or_default();
        conns.insert(self.id, Arc::downgrade(self));
        if self.tracker.caps.per_peer_connections().is_none_or(|cap| conns.len() <= cap) {
            return;
        }
        theirs.extend(conns.values().filter_map(Weak::upgrade));
        let victim = theirs
            .iter()
            .filter(|s| s.id != self.id && s.idle_key.load(Ordering::Relaxed) != 0)
            .min_by_key(|s| s.idle_key.load(Ordering::Relaxed));
        if let Some(victim) = victim {
            // Uncounted at once, so the next authentication does not pick
            // a second victim before this one's task has dropped it.
            if let Some(conns) = state.peer_conns.get_mut(peer) {
                conns.remove(&victim.id);
            }
            let key = victim.idle_key.swap(0, Ordering::Relaxed);
            state.idle.remove(&key);
            victim.stop();
            state.warn("a peer reached its cap of connections; closing its longest-idle one");
        }
    }

    /// Marks the start of a request on this connection: it is no longer
    /// idle (cannot be shed) until the returned guard is dropped, which
    /// should happen when the response body is written or dropped.
    pub(crate) fn begin_request(self: &Arc<Self>) -> Arc<InFlight> {
        let mut state = self.tracker.lock();
        self.busy.fetch_add(1, Ordering::Relaxed);
        let key = self.idle_key.swap(0, Ordering::Relaxed);
        if key != 0 {
            state.idle.remove(&key);
        }
        Arc::new(InFlight { slot: Arc::clone(self), peer: Mutex::new(None) })
    }

    /// Makes the connection's task drop it.
    fn stop(&self) {
        self.stop.store(true, Ordering::Release);
        self.waker.wake();
    }

    /// Runs `connection` until it ends (`Some`) or this slot is stopped:
    /// shed to make room, or at the shutdown deadline (`None`). Costs an
    /// atomic load per poll, no lock.
    pub(crate) async fn serve<F: std::future::Future>(&self, connection: F) -> Option<F::Output> {
        let mut connection = std::pin::pin!(connection);
        std::future::poll_fn(|cx| {
            self.waker.register(cx.waker());
            if self.stop.load(Ordering::Acquire) {
                return std::task::Poll::Ready(None);
            }
            connection.as_mut().poll(cx).map(Some)
        })
        .await
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut state = self.tracker.lock();
        state.all.remove(&self.id);
        let key = self.idle_key.load(Ordering::Relaxed);
        if key != 0 {
            state.idle.remove(&key);
        }
        if self.health_only {
            state.reserve_open -= 1;
        } else {
            state.open -= 1;
            state.forget_unauthenticated(self.id);
        }
        if let Some(peer) = self.peer.get() {
            if let Some(conns) = state.peer_conns.get_mut(peer) {
                conns.remove(&self.id);
                if conns.is_empty() {
                    state.peer_conns.remove(peer);
                }
            }
        }
    }
}

/// The address a connection counts against: IPv4 as is, IPv6 by its /64
/// (one host commonly holds a whole /64).
fn address_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => IpAddr::V6((u128::from(v6) & !u128::from(u64::MAX)).into()),
        v4 => v4,
    }
}

/// One request in flight on a connection (a request extension, moved
/// into the response body): while it lives the connection is busy and,
/// once authenticated, the request counts against its peer.
pub(crate) struct InFlight {
    slot: Arc<Slot>,
    /// The peer it counts against, once authenticated as one.
    peer: Mutex<Option<String>>,
}

impl InFlight {
    /// The connection it runs on.
    pub(crate) fn slot(&self) -> &Arc<Slot> {
        &self.slot
    }

    /// The peer it counts against, once authenticated as one.
    pub(crate) fn peer(&self) -> Option<String> {
        self.peer.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Counts this request against `peer`; refuses it if that peer already
    /// has its cap of requests in flight. Counted once per request.
    fn count_for(&self, peer: &str) -> Result<(), usize> {
        let mut counted = self.peer.lock().unwrap_or_else(|e| e.into_inner());
        if counted.is_some() {
            return Ok(());
        }
        let tracker = &self.slot.tracker;
        let mut state = tracker.lock();
        let n = state.per_peer.get(peer).copied().unwrap_or(0);
        if let Some(limit) = tracker.caps.per_peer_limit() {
            if n >= limit {
                state.warn("a peer reached its cap of requests in flight; refusing more");
                return Err(limit);
            }
        }
        state.per_peer.insert(peer.to_owned(), n + 1);
        *counted = Some(peer.to_owned());
        Ok(())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let peer = self.peer.get_mut().unwrap_or_else(|e| e.into_inner()).take();
        let mut state = self.slot.tracker.lock();
        if let Some(peer) = peer {
            if let Some(n) = state.per_peer.get_mut(&peer) {
                *n -= 1;
                if *n == 0 {
                    state.per_peer.remove(&peer);
                }
            }
        }
        if self.slot.busy.fetch_sub(1, Ordering::Relaxed) == 1 && !self.slot.health_only {
            let key = state.next_id();
            self.slot.idle_key.store(key, Ordering::Relaxed);
            state.idle.insert(key, Arc::downgrade(&self.slot));
        }
    }
}

/// Records that a request authenticated (called by the
/// [`crate::auth::Auth`] extractor on success): its connection no longer
/// counts as unauthenticated, and a peer's request counts against its cap
/// of requests in flight (429 `too_many_requests` beyond it).
pub(crate) fn mark_authenticated(extensions: &axum::http::Extensions, peer: Option<&str>) -> Result<(), ApiError> {
    let Some(request) = extensions.get::<Arc<InFlight>>() else {
        return Ok(());
    };
    request.slot.authenticated();
    let Some(peer) = peer else { return Ok(()) };
    request.slot.count_for_peer(peer);
    request.count_for(peer).map_err(|limit| {
        ApiError::new(
            Class::RateLimited,
            "too_many_requests",
            format!(
                "this peer already has {limit} requests in flight (responses not yet fully read); \
                 wait for them to finish"
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps(max: usize, per_address: usize, reserve: usize) -> Caps {
        Caps {
            max_connections: max,
            per_address,
            unauthenticated: 0,
            limit_loopback: true,
            health_reserve: reserve,
            per_peer: 0,
        }
    }

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1));
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 2));

    #[test]
    fn unauthenticated_connections_are_capped_together_loopback_included() {
        let mut limits = caps(100, 0, 0);
        limits.unauthenticated = 2;
        limits.limit_loopback = false;
        let tracker = Tracker::new(limits);
        let local = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);
        let first = tracker.admit(local).unwrap();
        let second = tracker.admit(A).unwrap();
        // An authenticated connection leaves the count.
        second.authenticated();
        let third = tracker.admit(local).unwrap();
        assert!(!first.stop.load(Ordering::Acquire));
        // At the cap, the oldest unauthenticated one is closed for the newcomer.
        let fourth = tracker.admit(local).unwrap();
        assert!(first.stop.load(Ordering::Acquire), "the oldest unauthenticated one is closed");
        assert!(![&second, &third, &fourth].iter().any(|s| s.stop.load(Ordering::Acquire)));
        let _fifth = tracker.admit(B).unwrap();
        assert!(third.stop.load(Ordering::Acquire) && !fourth.stop.load(Ordering::Acquire));
        drop((first, third));
        assert_eq!(tracker.lock().unauthenticated.len(), 2);
        assert_eq!(tracker.open(), 3);
    }

    #[test]
    fn per_address_cap_counts_only_unauthenticated_connections() {
        let tracker = Tracker::new(caps(100, 2, 0));
        let a1 = tracker.admit(A).unwrap();
        let a2 = tracker.admit(A).unwrap();
        assert_eq!(tracker.admit(A).err(), Some(Refused::PerAddress));
        let _b = tracker.admit(B).unwrap();
        a1.authenticated();
        let _a3 = tracker.admit(A).unwrap();
        assert_eq!(tracker.admit(A).err(), Some(Refused::PerAddress));
        drop(a2);
        let _a4 = tracker.admit(A).unwrap();
        assert_eq!(tracker.open(), 4);
    }

    #[test]
    fn ipv6_addresses_count_per_64() {
        let tracker = Tracker::new(caps(100, 1, 0));
        let _first = tracker.admit("2001:db8:1:2::1".parse().unwrap()).unwrap();
        assert_eq!(tracker.admit("2001:db8:1:2:ffff::9".parse().unwrap()).err(), Some(Refused::PerAddress));
        let _other = tracker.admit("2001:db8:1:3::1".parse().unwrap()).unwrap();
        let _mapped = tracker.admit("::ffff:10.0.0.1".parse().unwrap()).unwrap();
        assert_eq!(tracker.admit(A).err(), Some(Refused::PerAddress));
    }

    #[test]
    fn at_the_cap_the_longest_idle_is_shed_whatever_its_state_then_the_reserve_then_refusal() {
        let tracker = Tracker::new(caps(2, 0, 1));
        let authed = tracker.admit(B).unwrap();
        authed.authenticated();
        let bare = tracker.admit(A).unwrap();
        // Full: the authenticated but idle one has been idle longest.
        let newer = tracker.admit(A).unwrap();
        assert!(!newer.health_only());
        assert!(authed.stop.load(Ordering::Acquire), "the longest-idle connection was not shed");
        assert!(!newer.stop.load(Ordering::Acquire) && !bare.stop.load(Ordering::Acquire));
        drop(authed);
        // A request makes a connection busy; when it ends it is the newest idle one.
        let request = bare.begin_request();
        let next = tracker.admit(A).unwrap();
        assert!(newer.stop.load(Ordering::Acquire) && !bare.stop.load(Ordering::Acquire));
        drop(newer);
        drop(request);
        let after = tracker.admit(A).unwrap();
        assert!(next.stop.load(Ordering::Acquire) && !bare.stop.load(Ordering::Acquire));
        drop(next);
        // Full of connections inside requests: the reserve, then refusal.
        let _busy = [bare.begin_request(), after.begin_request()];
        let reserve = tracker.admit(A).unwrap();
        assert!(reserve.health_only());
        assert_eq!(tracker.admit(A).err(), Some(Refused::Full));
        drop(reserve);
        assert!(tracker.admit(A).unwrap().health_only());
        assert_eq!(tracker.open(), 2);
    }

    #[test]
    fn a_peer_keeps_at_most_twice_its_request_cap_of_connections_its_longest_idle_closed_beyond() {
        let mut limits = caps(100, 0, 0);
        limits.per_peer = 2;
        assert_eq!(limits.per_peer_connections(), Some(4));
        let tracker = Tracker::new(limits);
        let alice = tracker.admit(A).unwrap();
        alice.count_for_peer("alice");
        let mallory: Vec<_> = (0..4).map(|_| tracker.admit(B).unwrap()).collect();
        // The second-oldest is inside a request: not idle, not closed.
        let busy = mallory[1].begin_request();
        for s in &mallory {
            s.count_for_peer("mallory");
            s.count_for_peer("alice"); // counted for its first peer only
        }
        assert!(mallory.iter().chain([&alice]).all(|s| !s.stop.load(Ordering::Acquire)));
        let fifth = tracker.admit(B).unwrap();
        let request = fifth.begin_request();
        fifth.count_for_peer("mallory");
        let stopped: Vec<bool> = mallory.iter().map(|s| s.stop.load(Ordering::Acquire)).collect();
        assert_eq!(stopped, [true, false, false, false], "the longest-idle of mallory's is closed");
        assert!(!alice.stop.load(Ordering::Acquire) && !fifth.stop.load(Ordering::Acquire));
        drop((request, busy));
        drop(mallory);
        assert_eq!(tracker.lock().peer_conns.get("mallory").map(HashMap::len), Some(1));
        drop(fifth);
        assert!(!tracker.lock().peer_conns.contains_key("mallory"));
        assert_eq!(tracker.lock().peer_conns["alice"].len(), 1);
    }

    #[test]
    fn a_peer_may_have_only_so_many_requests_in_flight_and_at_most_half_the_cap() {
        let mut limits = caps(10, 0, 0);
        limits.per_peer = 3;
        assert_eq!(limits.per_peer_limit(), Some(3));
        assert_eq!(Caps { max_connections: 4, ..limits }.per_peer_limit(), Some(2));
        assert_eq!(Caps { max_connections: 1, ..limits }.per_peer_limit(), Some(1));
        assert_eq!(Caps { per_peer: 0, ..limits }.per_peer_limit(), None);
        let tracker = Tracker::new(limits);
        let slot = tracker.admit(A).unwrap();
        let held: Vec<_> = (0..3).map(|_| slot.begin_request()).collect();
        for r in &held {
            r.count_for("mallory").unwrap();
            r.count_for("mallory").unwrap(); // counted once per request
        }
        let fourth = slot.begin_request();
        assert_eq!(fourth.count_for("mallory"), Err(3));
        fourth.count_for("alice").unwrap();
        drop(held);
        let again = slot.begin_request();
        again.count_for("mallory").unwrap();
        assert_eq!(tracker.lock().per_peer.get("mallory"), Some(&1));
    }
}
