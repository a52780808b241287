//! How many searches run at once: at most `per_peer` for one peer and
//! `max` gateway-wide (0: no cap), so one peer's searches cannot keep every
//! core and store reader busy while others wait. Beyond a cap the search is
//! refused at once (429 `too_many_searches`, `Retry-After: 1`), not queued:
//! a queue would hold the caller's connection and memory instead.

use std::sync::Mutex;

use crate::budget::PeerTally;
use crate::error::{ApiError, Class};

/// The counts of searches in flight.
#[derive(Debug)]
pub(crate) struct SearchGate {
    max: usize,
    per_peer: usize,
    running: Mutex<PeerTally>,
}

/// One search in flight; leaving it (drop) frees its place.
pub(crate) struct SearchSlot<'g> {
    gate: &'g SearchGate,
    peer: Option<String>,
}

impl SearchGate {
    /// A gate of `max` searches at once, `per_peer` of them for one peer.
    pub(crate) fn new(max: usize, per_peer: usize) -> Self {
        SearchGate { max, per_peer, running: Mutex::new(PeerTally::default()) }
    }

    /// A place for a search by `peer` (`None`: the operator, counted only
    /// gateway-wide), or 429 `too_many_searches`.
    pub(crate) fn enter(&self, peer: Option<&str>) -> Result<SearchSlot<'_>, ApiError> {
        let mut r = self.running.lock().unwrap_or_else(|e| e.into_inner());
        let mine = peer.map_or(0, |p| r.of(p));
        let full = if peer.is_some() && self.per_peer != 0 && mine >= self.per_peer {
            Some(format!("this peer already has {} searches running; wait for one to finish", self.per_peer))
        } else if self.max != 0 && r.total >= self.max {
            Some(format!("the gateway already runs {} searches; try again shortly", self.max))
        } else {
            None
        };
        if let Some(detail) = full {
            let mut e = ApiError::new(Class::RateLimited, "too_many_searches", detail);
            e.retry_after = Some(1);
            return Err(e);
        }
        r.add(peer, 1);
        Ok(SearchSlot { gate: self, peer: peer.map(str::to_owned) })
    }
}

impl Drop for SearchSlot<'_> {
    fn drop(&mut self) {
        let mut r = self.gate.running.lock().unwrap_or_else(|e| e.into_inner());
        r.release(self.peer.as_deref(), 1);
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
        assert!(gate.enter(None).is_err(), "the operator counts gateway-wide");
        drop(a1);
        let _c = gate.enter(Some("c")).unwrap();
        assert!(gate.enter(Some("a")).is_err());
        let open = SearchGate::new(0, 0);
        let held: Vec<_> = (0..100).map(|_| open.enter(Some("a")).unwrap()).collect();
        assert_eq!(held.len(), 100);
        drop(held);
        assert!(open.running.lock().unwrap().per_peer.is_empty());
    }
}
