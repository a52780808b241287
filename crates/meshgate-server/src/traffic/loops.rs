//! The conversation-loop breaker (`--loop-limit COUNT/SECONDS`).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use meshgate_proto::LoopPair;

use super::{retry_secs, LoopLimit, Shards, PAIRS_MAX};
use crate::error::{ApiError, Class};

/// A tracked pair: the instants of its DMs in each direction (from the
/// smaller name, from the other), oldest first, each at most COUNT long.
#[derive(Default)]
struct Pair {
    sent: [VecDeque<Instant>; 2],
}

impl Pair {
    /// DMs of each direction within `window` of `now`.
    fn live(&self, now: Instant, window: Duration) -> [usize; 2] {
        self.sent.each_ref().map(|d| d.iter().filter(|t| now.duration_since(**t) < window).count())
    }

    /// The newest instant of either direction.
    fn newest(&self) -> Option<Instant> {
        self.sent.iter().filter_map(|d| d.back().copied()).max()
    }
}

/// Which direction of the pair `(x, y)` a DM from `x` is (0: from the
/// smaller name).
fn direction(x: &str, y: &str) -> usize {
    usize::from(x > y)
}

/// Counts DMs per unordered pair of peers in a sliding window. A pair is an
/// exchange of `2 × min(a→b, b→a)` DMs: it trips when both directions have
/// at least half of COUNT (rounded up) in the window.
pub struct LoopBreaker {
    limit: LoopLimit,
    pairs: Shards<Pair>,
    /// Set when a pair reaches its count: only then does an operator DM
    /// scan the pairs to lift the recipient's.
    full: AtomicBool,
}

/// A DM counted by [`LoopBreaker::reserve`]; give it back with
/// [`LoopBreaker::release`] if the DM was not stored.
#[derive(Debug)]
pub struct Reserved {
    key: String,
    dir: usize,
    at: Instant,
}

impl LoopBreaker {
    /// A breaker for `limit`.
    pub fn new(limit: LoopLimit) -> Self {
        Self::with_capacity(limit, PAIRS_MAX)
    }

    pub(super) fn with_capacity(limit: LoopLimit, max: usize) -> Self {
        LoopBreaker { limit, pairs: Shards::new(max), full: AtomicBool::new(false) }
    }

    /// The limit in force.
    pub fn limit(&self) -> LoopLimit {
        self.limit
    }

    /// Counts a DM from `x` to `y`, or refuses it with 429
    /// `conversation_loop` when the pair already exchanged COUNT in the window.
    pub fn reserve(&self, x: &str, y: &str) -> Result<Option<Reserved>, ApiError> {
        let key = pair_key(x, y);
        let dir = direction(x, y);
        let now = Instant::now();
        let window = self.limit.window;
        let count = self.limit.count as usize;
        let stale = |p: &Pair| p.newest().is_none_or(|t| now.duration_since(t) >= window);
        self.pairs
            .with(&key, Pair::default, stale, |pair| {
                let Some(p) = pair else { return Ok(false) };
                for d in &mut p.sent {
                    while d.front().is_some_and(|t| now.duration_since(*t) >= window) {
                        d.pop_front();
                    }
                }
                if let Some(wait) = self.trip_wait(p, now) {
                    let exchanged = p.sent[0].len() + p.sent[1].len();
                    return Err(self.loop_error(x, y, exchanged, wait));
                }
                let d = &mut p.sent[dir];
                d.push_back(now);
                // Older instants of a busy direction cannot decide a trip.
                if d.len() > count {
                    d.pop_front();
                }
                if self.trip_wait(p, now).is_some() {
                    self.full.store(true, Ordering::Release);
                }
                Ok(true)
            })
            .map(|counted| counted.then_some(Reserved { key, dir, at: now }))
    }

    /// DMs each direction needs in the window for the pair to trip.
    fn need(&self) -> usize {
        (self.limit.count as usize).div_ceil(2)
    }

    /// `Some(time until it lifts)` when the pair is tripped at `now`: both
    /// directions hold [`LoopBreaker::need`] DMs in the window.
    fn trip_wait(&self, p: &Pair, now: Instant) -> Option<Duration> {
        let need = self.need();
        // A direction holding fewer instants than `need` cannot trip, live
        // or not: the common case, decided without a scan of the window.
        if p.sent.iter().any(|d| d.len() < need) {
            return None;
        }
        let live = p.live(now, self.limit.window);
        if live.iter().any(|n| *n < need) {
            return None;
        }
        // A direction falls below `need` when its need-th newest DM leaves.
        (0..2).map(|i| (p.sent[i][p.sent[i].len() - need] + self.limit.window).saturating_duration_since(now)).min()
    }

    /// Uncounts a DM that was not stored (refused later, or a duplicate).
    pub fn release(&self, r: Reserved) {
        let mut shard = self.pairs.shard(r.key.as_str());
        if let Some(p) = shard.get_mut(&r.key) {
            let d = &mut p.sent[r.dir];
            if let Some(i) = d.iter().rposition(|t| *t == r.at) {
                d.remove(i);
            }
        }
    }

    /// Forgets the pair's count (an operator DM into it, or a reset); true
    /// if it was refusing DMs.
    pub fn reset(&self, x: &str, y: &str) -> bool {
        let key = pair_key(x, y);
        let removed = self.pairs.shard(key.as_str()).remove(&key);
        let now = Instant::now();
        removed.is_some_and(|p| self.trip_wait(&p, now).is_some())
    }

    /// Lifts every full pair of `peer` but its pair with `sender` (an
    /// operator DM to `peer` from `sender`); returns how many. Scans the
    /// pairs only while some pair is full, so it costs nothing otherwise.
    pub fn lift_involving(&self, peer: &str, sender: &str) -> usize {
        if !self.full.swap(false, Ordering::AcqRel) {
            return 0;
        }
        let now = Instant::now();
        let (mut lifted, mut still_full) = (0, false);
        for shard in &self.pairs.shards {
            let mut shard = shard.lock().expect("traffic shard lock");
            shard.retain(|k, p| {
                if self.trip_wait(p, now).is_none() {
                    return true;
                }
                let (a, b) = split_key(k).expect("pair keys hold a separator");
                let other = if a == peer {
                    Some(b)
                } else if b == peer {
                    Some(a)
                } else {
                    None
                };
                if other.is_some_and(|o| o != sender) {
                    lifted += 1;
                    return false;
                }
                still_full = true;
                true
            });
        }
        if still_full {
            self.full.store(true, Ordering::Release);
        }
        lifted
    }

    /// The pairs refusing DMs now, by name.
    pub fn tripped(&self) -> Vec<LoopPair> {
        let now = Instant::now();
        let mut out = Vec::new();
        for shard in &self.pairs.shards {
            let shard = shard.lock().expect("traffic shard lock");
            for (k, p) in shard.iter() {
                if let Some(wait) = self.trip_wait(p, now) {
                    let (a, b) = split_key(k).expect("pair keys hold a separator");
                    let live = p.live(now, self.limit.window);
                    out.push(LoopPair {
                        a: a.to_owned(),
                        b: b.to_owned(),
                        count: (live[0] + live[1]) as u32,
                        retry_after: retry_secs(wait),
                    });
                }
            }
        }
        out.sort_by(|x, y| (&x.a, &x.b).cmp(&(&y.a, &y.b)));
        out
    }

    /// Pairs tracked now.
    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    /// True when no pair is tracked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn loop_error(&self, x: &str, y: &str, count: usize, wait: Duration) -> ApiError {
        let (a, b) = if x <= y { (x, y) } else { (y, x) };
        let retry = retry_secs(wait);
        let mut e = ApiError::new(
            Class::RateLimited,
            super::CONVERSATION_LOOP,
            format!(
                "{a:?} and {b:?} exchanged {count} DMs within {} s (the limit is {} per {} s, both ways: at \
                 least {} each way): this looks like a conversation loop, so DMs between them are refused. It lifts by itself in {retry} s, when the \
                 operator sends either of them a DM, or on reset: `meshgate loops reset {a} {b}` \
                 (DELETE /loops/{a}/{b} with the operator token)",
                self.limit.window.as_secs(),
                self.limit.count,
                self.limit.window.as_secs(),
                self.need()
            ),
        );
        e.retry_after = Some(retry);
        e
    }
}

/// The map key of an unordered pair: the smaller name, NUL, the other (NUL
/// is never part of a name).
fn pair_key(x: &str, y: &str) -> String {
    let (a, b) = if x <= y { (x, y) } else { (y, x) };
    format!("{a}\0{b}")
}

fn split_key(k: &str) -> Option<(&str, &str)> {
    k.split_once('\0')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_one_way_flood_is_no_loop_and_holds_at_most_count_per_direction() {
        let b = LoopBreaker::new(LoopLimit { count: 6, window: Duration::from_secs(60) });
        for _ in 0..1000 {
            b.reserve("mallory", "alice").expect("one way never trips");
        }
        {
            let key = pair_key("mallory", "alice");
            let shard = b.pairs.shard(key.as_str());
            let p = &shard[&key];
            assert_eq!((p.sent[0].len(), p.sent[1].len()), (0, 6), "bounded by COUNT");
        }
        // Replies count: the exchange is 2 x the quieter direction.
        b.reserve("alice", "mallory").expect("the victim answers");
        b.reserve("alice", "mallory").expect("2 x 2 < 6");
        b.reserve("alice", "mallory").expect("the third reply makes 2 x 3 = 6");
        let e = b.reserve("alice", "mallory").unwrap_err();
        assert!(e.detail.contains("at least 3 each way"), "{}", e.detail);
        b.reserve("mallory", "alice").unwrap_err();
        assert_eq!(b.tripped().len(), 1);
    }
}
