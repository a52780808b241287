//! The byte budget of large buffers in flight: response bodies built but
//! not yet written (a `GET /messages` page can be 4 MiB) and request bodies
//! being received. A client that never reads its answers, or drips its
//! bodies, would otherwise make the gateway hold one such buffer per
//! request; the budget bounds them per peer and in total.
//!
//! A buffer is counted from when it is reserved until its [`Reservation`]
//! drops (the response body written or dropped, the request body read or
//! dropped). Beyond the peer's share: 429 `too_many_bytes`; beyond the
//! total: 503 `busy`. One buffer is always allowed when nothing is held, so
//! a budget smaller than a page never blocks a peer for good.
//!
//! Buffers of at most [`UNCOUNTED`] bytes (a send's body and answer, an
//! error, a peer record) are not counted: they are no larger than the
//! buffers every connection holds anyway, which the connection caps bound
//! (`crate::conns`), and counting them would put two shared locks on every
//! request for nothing the budget is there to stop.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::error::{ApiError, Class};

/// Buffers up to this size are not counted (see the module docs).
pub(crate) const UNCOUNTED: usize = 4096;

/// Byte budget of one listener.
pub(crate) struct Budget {
    per_peer: usize,
    total: usize,
    held: Mutex<PeerTally>,
}

/// Amounts held in all and per peer, whatever is counted (bytes here,
/// searches in `crate::search_gate`); a peer's entry goes when it reaches 0.
#[derive(Debug, Default)]
pub(crate) struct PeerTally {
    pub(crate) total: usize,
    pub(crate) per_peer: HashMap<String, usize>,
}

impl PeerTally {
    /// What `peer` holds.
    pub(crate) fn of(&self, peer: &str) -> usize {
        self.per_peer.get(peer).copied().unwrap_or(0)
    }

    /// Counts `n` more for `peer` (`None`: in the total only).
    pub(crate) fn add(&mut self, peer: Option<&str>, n: usize) {
        if let Some(p) = peer {
            *self.per_peer.entry(p.to_owned()).or_insert(0) += n;
        }
        self.total += n;
    }

    /// Gives back `n` that [`PeerTally::add`] counted for `peer`.
    pub(crate) fn release(&mut self, peer: Option<&str>, n: usize) {
        self.total -= n;
        if let Some(p) = peer {
            if let Some(held) = self.per_peer.get_mut(p) {
                *held -= n;
                if *held == 0 {
                    self.per_peer.remove(p);
                }
            }
        }
    }
}

/// Why a reservation was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Over {
    /// The peer's share is spent.
    Peer(usize),
    /// The total is spent.
    Total(usize),
}

impl Over {
    /// The answer to the refused request.
    pub(crate) fn error(self) -> ApiError {
        match self {
            Over::Peer(limit) => ApiError::new(
                Class::RateLimited,
                "too_many_bytes",
                format!(
                    "this peer's responses and request bodies in flight already hold {limit} bytes \
                     (answers not yet read); read them first"
                ),
            ),
            Over::Total(limit) => ApiError::new(
                Class::Unavailable,
                "busy",
                format!("the gateway holds {limit} bytes of responses and bodies in flight; retry shortly"),
            ),
        }
    }
}

/// Bytes held for one buffer; released on drop.
pub(crate) struct Reservation {
    budget: Arc<Budget>,
    peer: Option<String>,
    bytes: usize,
}

impl Budget {
    /// A budget of `per_peer` bytes per peer and `total` in all (0: no
    /// limit).
    pub(crate) fn new(per_peer: usize, total: usize) -> Arc<Self> {
        Arc::new(Budget { per_peer, total, held: Mutex::new(PeerTally::default()) })
    }

    /// Reserves `bytes` for `peer` (`None`: the operator, counted in the
    /// total only).
    pub(crate) fn reserve(self: &Arc<Self>, peer: Option<&str>, bytes: usize) -> Result<Reservation, Over> {
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        if self.total > 0 && held.total > 0 && held.total.saturating_add(bytes) > self.total {
            return Err(Over::Total(self.total));
        }
        if let Some(peer) = peer {
            let mine = held.of(peer);
            if self.per_peer > 0 && mine > 0 && mine.saturating_add(bytes) > self.per_peer {
                return Err(Over::Peer(self.per_peer));
            }
        }
        held.add(peer, bytes);
        Ok(Reservation { budget: Arc::clone(self), peer: peer.map(str::to_owned), bytes })
    }

    #[cfg(test)]
    fn held(&self) -> usize {
        self.held.lock().unwrap().total
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        let mut held = self.budget.held.lock().unwrap_or_else(|e| e.into_inner());
        held.release(self.peer.as_deref(), self.bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_peer_then_total_and_one_buffer_always_fits() {
        let budget = Budget::new(10, 25);
        let a1 = budget.reserve(Some("a"), 6).unwrap();
        assert_eq!(budget.reserve(Some("a"), 5).err(), Some(Over::Peer(10)));
        let _a2 = budget.reserve(Some("a"), 4).unwrap();
        let b = budget.reserve(Some("b"), 15).unwrap();
        assert_eq!(budget.reserve(Some("c"), 1).err(), Some(Over::Total(25)));
        assert_eq!(budget.reserve(None, 1).err(), Some(Over::Total(25)));
        drop(a1);
        let _op = budget.reserve(None, 6).unwrap();
        assert_eq!(budget.held(), 25);
        drop(b);
        // A peer holding nothing gets one buffer larger than its share.
        let _big = budget.reserve(Some("c"), 15).unwrap();
        assert_eq!(budget.held(), 25);
        assert!(Budget::new(0, 0).reserve(Some("a"), usize::MAX / 2).is_ok());
    }
}
