//! How many searches run at once: at most `max` gateway-wide (0: no cap)
//! and, for one peer, its share: `per_peer`, and never the whole of `max`
//! while `max` is above one, so one peer's searches cannot keep every core
//! and store reader busy and lock the others out (with the default `max` of
//! one per CPU on a 2-core host, a peer gets one place, not both). The
//! operator (the console, scripts) has its own share of `per_peer` and is not
//! refused by the gateway-wide cap, so peers filling it never lock the
//! operator out; the operator can go past `max` by at most that share.
//! Beyond a cap the search is refused at once (429 `too_many_searches`,
//! `Retry-After: 1`), not queued: a queue would hold the caller's connection
//! and memory instead.

use std::sync::Mutex;

use crate::budget::PeerTally;
use crate::error::{ApiError, Class};

/// The counts of searches in flight.
#[derive(Debug)]
pub(crate) struct SearchGate {
    max: usize,
    /// What one peer may hold at once (0: no cap).
    share: usize,
    per_peer: usize,
    running: Mutex<Running>,
}

#[derive(Debug, Default)]
struct Running {
    peers: PeerTally,
    operator: usize,
}

/// One search in flight; leaving it (drop) frees its place.
pub(crate) struct SearchSlot<'g> {
    gate: &'g SearchGate,
    peer: Option<String>,
}

impl SearchGate {
    /// A gate of `max` searches at once, `per_peer` of them for one peer.
    pub(crate) fn new(max: usize, per_peer: usize) -> Self {
        let leave_one = if max > 1 { max - 1 } else { max };
        let share = match (per_peer, leave_one) {
            (0, l) => l,
            (p, 0) => p,
            (p, l) => p.min(l),
        };
        SearchGate { max, share, per_peer, running: Mutex::new(Running::default()) }
    }

    /// A place for a search by `peer` (`None`: the operator), or 429
    /// `too_many_searches`.
    pub(crate) fn enter(&self, peer: Option<&str>) -> Result<SearchSlot<'_>, ApiError> {
        let mut r = self.running.lock().unwrap_or_else(|e| e.into_inner());
        let full = match peer {
            None if self.per_peer != 0 && r.operator >= self.per_peer => {
                Some(format!("the operator already has {} searches running; wait for one to finish", self.per_peer))
            }
            None => None,
            Some(p) if self.share != 0 && r.peers.of(p) >= self.share => {
                Some(format!("this peer already has {} searches running; wait for one to finish", self.share))
            }
            Some(_) if self.max != 0 && r.peers.total + r.operator >= self.max => {
                Some(format!("the gateway already runs {} searches; try again shortly", self.max))
            }
            Some(_) => None,
        };
        if let Some(detail) = full {
            let mut e = ApiError::new(Class::RateLimited, "too_many_searches", detail);
            e.retry_after = Some(1);
            return Err(e);
        }
        match peer {
            Some(p) => r.peers.add(Some(p), 1),
            None => r.operator += 1,
        }
        Ok(SearchSlot { gate: self, peer: peer.map(str::to_owned) })
    }
}

impl Drop for SearchSlot<'_> {
    fn drop(&mut self) {
        let mut r = self.gate.running.lock().unwrap_or_else(|e| e.into_inner());
        match self.peer.as_deref() {
            Some(p) => r.peers.release(Some(p), 1),
            None => r.operator -= 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_per_peer_and_gateway_wide() {
        let gate = SearchGate::new(3, 2);
        let a1 = gate.enter(Some("a")).unwrap();
        let _a2 = gate.enter(Some("a")).unwrap();
        let e = gate.enter(Some("a")).err().unwrap();
        assert_eq!((e.code, e.retry_after), ("too_many_searches", Some(1)));
        let _b = gate.enter(Some("b")).unwrap();
        assert!(gate.enter(Some("c")).is_err(), "gateway-wide cap");
        drop(a1);
        let _c = gate.enter(Some("c")).unwrap();
        assert!(gate.enter(Some("a")).is_err());
        let open = SearchGate::new(0, 0);
        let held: Vec<_> = (0..100).map(|_| open.enter(Some("a")).unwrap()).collect();
        assert_eq!(held.len(), 100);
        drop(held);
        assert!(open.running.lock().unwrap().peers.per_peer.is_empty());
    }

    #[test]
    fn one_peer_never_holds_the_whole_gateway() {
        // Two CPUs: a peer gets one place and leaves the other to the rest.
        let gate = SearchGate::new(2, 2);
        let m1 = gate.enter(Some("mallory")).unwrap();
        assert!(gate.enter(Some("mallory")).is_err());
        let alice = gate.enter(Some("alice")).unwrap();
        assert!(gate.enter(Some("bob")).is_err(), "both places taken");
        drop((m1, alice));
        // One CPU: the share cannot go below one.
        let one = SearchGate::new(1, 2);
        let _m = one.enter(Some("mallory")).unwrap();
        assert!(one.enter(Some("alice")).is_err());
    }

    #[test]
    fn the_operator_has_its_own_share_and_is_never_locked_out_by_peers() {
        let gate = SearchGate::new(2, 2);
        let _a = gate.enter(Some("alice")).unwrap();
        let _m = gate.enter(Some("mallory")).unwrap();
        let o1 = gate.enter(None).unwrap();
        let _o2 = gate.enter(None).unwrap();
        let e = gate.enter(None).err().unwrap();
        assert!(e.detail.contains("operator"), "{}", e.detail);
        drop(o1);
        let _o3 = gate.enter(None).unwrap();
        // The operator's searches count against the peers' gateway-wide cap.
        drop((_a, _m));
        assert!(gate.enter(Some("alice")).is_err());
    }
}
