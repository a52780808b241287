//! Connection accounting: who may hold a socket.
//!
//! - **A global cap** (`max_connections`) on served connections.
//! - **Unauthenticated connections** (accepted, no authenticated request
//!   yet: a bare TCP connection, a slow request head, `/health` callers)
//!   are capped per client address, and when the global cap is reached the
//!   oldest of them is shed to make room: sockets that cost an attacker
//!   nothing can never lock out peers with tokens.
//! - **A `/health` reserve.** When the cap is full of authenticated
//!   connections, a few more are accepted that may only ask `GET /health`
//!   (one request, short head timeout), so liveness checks keep answering.
//! - Beyond that, a new connection is refused at once.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use futures_util::task::AtomicWaker;

/// How often hitting a cap is logged.
const WARN_EVERY: Duration = Duration::from_secs(10);

/// The caps of one listener.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Caps {
    /// Served connections.
    pub(crate) max_connections: usize,
    /// Unauthenticated connections per address (0: no limit).
    pub(crate) per_address: usize,
    /// Apply `per_address` to loopback too.
    pub(crate) limit_loopback: bool,
    /// Health-only connections beyond `max_connections`.
    pub(crate) health_reserve: usize,
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
        let mut state = self.lock();
        let limited = self.caps.per_address > 0 && (self.caps.limit_loopback || !ip.is_loopback());
        if limited && state.per_address.get(&ip).copied().unwrap_or(0) >= self.caps.per_address {
            state.warn("an address reached its cap of unauthenticated connections; refusing more");
            return Err(Refused::PerAddress);
        }
        if state.open >= self.caps.max_connections {
            state.warn("connection cap reached: shedding unauthenticated connections, then serving /health only");
        }
        let health_only = if state.open < self.caps.max_connections {
            false
        } else if let Some((&oldest, _)) = state.unauthenticated.first_key_value() {
            shed = state.unauthenticated.get(&oldest).and_then(|(_, slot)| slot.upgrade());
            state.forget_unauthenticated(oldest);
            if let Some(victim) = &shed {
                victim.stop();
            }
            false
        } else if state.reserve_open < self.caps.health_reserve {
            true
        } else {
            return Err(Refused::Full);
        };
        state.next_id += 1;
        let id = state.next_id;
        let slot = Arc::new(Slot {
            tracker: Arc::clone(self),
            id,
            health_only,
            authenticated: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            waker: AtomicWaker::new(),
        });
        state.all.insert(id, Arc::downgrade(&slot));
        if health_only {
            state.reserve_open += 1;
        } else {
            state.open += 1;
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
        if self.health_only {
            state.reserve_open -= 1;
        } else {
            state.open -= 1;
            state.forget_unauthenticated(self.id);
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

/// Marks the connection a request arrived on as authenticated (called by
/// the [`crate::auth::Auth`] extractor on success).
pub(crate) fn mark_authenticated(extensions: &axum::http::Extensions) {
    if let Some(slot) = extensions.get::<Arc<Slot>>() {
        slot.authenticated();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps(max: usize, per_address: usize, reserve: usize) -> Caps {
        Caps { max_connections: max, per_address, limit_loopback: true, health_reserve: reserve }
    }

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1));
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 2));

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
    fn at_the_cap_the_oldest_unauthenticated_is_shed_then_the_reserve_then_refusal() {
        let tracker = Tracker::new(caps(2, 0, 1));
        let old = tracker.admit(A).unwrap();
        let authed = tracker.admit(B).unwrap();
        authed.authenticated();
        // Full: the unauthenticated one makes room.
        let newer = tracker.admit(A).unwrap();
        assert!(!newer.health_only());
        assert!(old.stop.load(Ordering::Acquire), "the oldest unauthenticated connection was not shed");
        assert!(!newer.stop.load(Ordering::Acquire) && !authed.stop.load(Ordering::Acquire));
        drop(old);
        newer.authenticated();
        // Full of authenticated connections: the reserve, then refusal.
        let reserve = tracker.admit(A).unwrap();
        assert!(reserve.health_only());
        assert_eq!(tracker.admit(A).err(), Some(Refused::Full));
        drop(reserve);
        assert!(tracker.admit(A).unwrap().health_only());
        assert_eq!(tracker.open(), 2);
    }
}
