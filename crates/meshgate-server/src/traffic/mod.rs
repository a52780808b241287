//! Traffic control of sends: the per-sender token bucket
//! (`--send-rate`/`--send-burst`) and the conversation-loop breaker
//! (`--loop-limit COUNT/SECONDS`).
//!
//! Both live in this process's memory (per replica with PostgreSQL): a send
//! costs one short lock of one of [`SHARDS`] shards, no store round trip.
//! Both maps are bounded: idle entries are evicted when a shard fills, and a
//! shard full of live entries lets a new key through untracked rather than
//! grow (only registered, authenticated senders reach them).

use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hash};
use std::sync::Mutex;
use std::time::Duration;

use meshgate_store::{NewMessage, StoreError};

use crate::auth::{Auth, Caller};
use crate::error::ApiError;
use crate::state::AppState;

mod loops;
mod rate;

pub use loops::{LoopBreaker, Reserved};
pub use rate::{rate_limited, SendLimiter};

/// The error code of a send over its sender's rate.
pub const RATE_LIMITED: &str = "rate_limited";
/// The error code of a send refused by the loop breaker.
pub const CONVERSATION_LOOP: &str = "conversation_loop";
/// Every code traffic control refuses a send with.
pub const REFUSALS: [&str; 2] = [RATE_LIMITED, CONVERSATION_LOOP];

/// Lock shards of each map: concurrent senders rarely meet on one lock.
pub const SHARDS: usize = 16;

/// Most token buckets held at once (about 100 bytes each).
pub const BUCKETS_MAX: usize = 65_536;

/// Most peer pairs the loop breaker tracks at once (each holds up to COUNT
/// instants of 16 bytes per direction: 60 by default, about 2 KiB a pair).
pub const PAIRS_MAX: usize = 16_384;

/// `--send-rate` / `--send-burst`: DMs per second sustained per sender, and
/// how many may go at once after a quiet spell.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SendRate {
    /// Sustained DMs per second (> 0).
    pub per_second: f64,
    /// Bucket size (>= 1).
    pub burst: u32,
}

impl Default for SendRate {
    /// 20 DMs/s, burst 200: far above any agent that thinks between DMs.
    fn default() -> Self {
        SendRate { per_second: 20.0, burst: 200 }
    }
}

/// `--loop-limit COUNT/SECONDS`: at most COUNT DMs exchanged between two
/// peers within any SECONDS, counted as twice the quieter direction (a
/// one-way flood is no exchange: the send rate limits it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoopLimit {
    /// DMs allowed within the window (>= 1).
    pub count: u32,
    /// The sliding window.
    pub window: Duration,
}

impl Default for LoopLimit {
    /// 60 DMs in 10 minutes: one exchange every 10 s, sustained.
    fn default() -> Self {
        LoopLimit { count: 60, window: Duration::from_secs(600) }
    }
}

/// Parses `COUNT/SECONDS`, or `off` as `None`.
pub fn parse_loop_limit(s: &str) -> Result<Option<LoopLimit>, String> {
    if s.eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    let err = || format!("invalid loop limit {s:?}: expected COUNT/SECONDS (e.g. 60/600) or off");
    let (count, secs) = s.split_once('/').ok_or_else(err)?;
    let count: u32 = count.trim().parse().map_err(|_| err())?;
    let secs: u64 = secs.trim().parse().map_err(|_| err())?;
    if count == 0 || secs == 0 || secs > 7 * 24 * 3600 || count > 100_000 {
        return Err(format!("{}: COUNT 1..100000, SECONDS 1..604800", err()));
    }
    Ok(Some(LoopLimit { count, window: Duration::from_secs(secs) }))
}

/// Parses a `--send-rate` value: DMs per second (> 0, fractions allowed),
/// or `off` as `None`.
pub fn parse_send_rate(s: &str) -> Result<Option<f64>, String> {
    if s.eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    match s.trim().parse::<f64>() {
        Ok(r) if r.is_finite() && r > 0.0 && r <= 1e6 => Ok(Some(r)),
        _ => Err(format!("invalid send rate {s:?}: expected DMs per second (e.g. 20 or 0.5) or off")),
    }
}

/// A string-keyed map split over [`SHARDS`] locks, at most `max` entries.
struct Shards<V> {
    hasher: RandomState,
    shards: Vec<Mutex<HashMap<String, V>>>,
    per_shard: usize,
}

impl<V> Shards<V> {
    fn new(max: usize) -> Self {
        Shards {
            hasher: RandomState::new(),
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            per_shard: max.div_ceil(SHARDS).max(1),
        }
    }

    fn shard<Q: Hash + ?Sized>(&self, key: &Q) -> std::sync::MutexGuard<'_, HashMap<String, V>> {
        let i = (self.hasher.hash_one(key) as usize) % SHARDS;
        self.shards[i].lock().expect("traffic shard lock")
    }

    /// Runs `f` on `key`'s entry, made by `make` if absent. When the shard is
    /// full, entries `idle` says may go are dropped first; if it is still
    /// full, `f` gets `None` (the key is not tracked).
    fn with<R>(
        &self,
        key: &str,
        make: impl FnOnce() -> V,
        idle: impl Fn(&V) -> bool,
        f: impl FnOnce(Option<&mut V>) -> R,
    ) -> R {
        let mut shard = self.shard(key);
        if shard.contains_key(key) {
            // No allocation for a known key (the common case).
            return f(shard.get_mut(key));
        }
        if shard.len() >= self.per_shard {
            shard.retain(|_, v| !idle(v));
            if shard.len() >= self.per_shard {
                tracing::warn!(
                    entries = shard.len(),
                    "traffic map shard full of live entries: a new key goes untracked"
                );
                return f(None);
            }
        }
        f(Some(shard.entry(key.to_owned()).or_insert_with(make)))
    }

    fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().expect("traffic shard lock").len()).sum()
    }
}

/// Whole seconds to wait, rounded up, at least 1.
fn retry_secs(wait: Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0).max(u64::from(wait.is_zero()))
}

/// What [`admit`] decided for a send.
pub(crate) enum Admission {
    /// Go ahead and store; the reservation goes to [`settle`] once the store answered.
    Store(Option<Reserved>),
    /// An exact resend of a DM the sender already stored (or its key reused
    /// with another body): the store's answer, given without storing,
    /// counting or refusing it.
    Prior(meshgate_store::StoreResult<meshgate_store::Inserted>),
}

/// Admits `msg` (both ends checked peers) or refuses it: the loop breaker
/// first (its count can be given back), then the sender's bucket. When
/// either refuses, a DM whose idempotency key the sender already used is
/// answered from the store instead (a 429 means nothing was stored, and a
/// retry of a stored DM must not get one); looked up only then, so sends
/// within the limits cost no extra read.
pub(crate) async fn admit(state: &AppState, msg: &NewMessage) -> Result<Admission, ApiError> {
    let refusal = match count(state, &msg.from_node, &msg.to_node) {
        Ok(reserved) => return Ok(Admission::Store(reserved)),
        Err(e) => e,
    };
    match state.store().prior_message(msg).await {
        Ok(None) => {}
        Ok(Some(prior)) => return Ok(Admission::Prior(Ok(prior))),
        Err(e @ StoreError::Conflict(_)) => return Ok(Admission::Prior(Err(e))),
        Err(e) => return Err(e.into()),
    }
    if let Some(m) = state.metrics() {
        m.send_refused(refusal.code);
    }
    Err(refusal)
}

/// Counts a DM from `from` to `to` against the pair and the sender's bucket.
fn count(state: &AppState, from: &str, to: &str) -> Result<Option<Reserved>, ApiError> {
    let reserved = match state.loops() {
        Some(loops) => loops.reserve(from, to)?,
        None => None,
    };
    if let (Some(limiter), Some(rate)) = (state.send_limiter(), state.config().send_rate) {
        if let Err(wait) = limiter.take(from) {
            if let (Some(loops), Some(r)) = (state.loops(), reserved) {
                loops.release(r);
            }
            return Err(rate_limited(from, rate, wait));
        }
    }
    Ok(reserved)
}

/// Counts a peer's `POST /threads` against its send bucket: a minted thread
/// is a stored row like a DM, so a peer mints no faster than it may send
/// (an idempotent re-mint counts too; the operator is not limited).
pub(crate) fn admit_mint(state: &AppState, peer: &str) -> Result<(), ApiError> {
    if let (Some(limiter), Some(rate)) = (state.send_limiter(), state.config().send_rate) {
        limiter.take(peer).map_err(|wait| rate::mint_rate_limited(peer, rate, wait))?;
    }
    Ok(())
}

/// After the store answered a send admitted by [`admit`]: a DM that was not
/// stored (refused, or a duplicate of an idempotent retry) is uncounted, and
/// a duplicate gives its sender's token back; a DM the operator token stored
/// lifts the recipient's tripped pairs (with anyone but the sender).
pub(crate) fn settle(
    state: &AppState,
    auth: &Auth,
    reserved: Option<Reserved>,
    outcome: &meshgate_store::StoreResult<meshgate_store::Inserted>,
    from: &str,
    to: &str,
) {
    let stored = outcome.as_ref().is_ok_and(|i| !i.duplicate);
    if outcome.as_ref().is_ok_and(|i| i.duplicate) {
        if let Some(limiter) = state.send_limiter() {
            limiter.refund(from);
        }
    }
    let Some(loops) = state.loops() else { return };
    if let (Some(r), false) = (reserved, stored) {
        loops.release(r);
    }
    if stored && auth.caller == Caller::Operator {
        let lifted = loops.lift_involving(to, from);
        if lifted > 0 {
            tracing::info!(to, from, lifted, "operator DM lifted conversation loops");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_allows_its_burst_then_refuses_with_the_wait_for_one_token() {
        let l = SendLimiter::new(SendRate { per_second: 2.0, burst: 3 });
        for _ in 0..3 {
            l.take("alice").unwrap();
        }
        let wait = l.take("alice").unwrap_err();
        assert!(wait > Duration::from_millis(400) && wait <= Duration::from_millis(500), "{wait:?}");
        l.take("bob").expect("another sender has its own bucket");
        assert_eq!(retry_secs(wait), 1);
        assert_eq!(retry_secs(Duration::from_millis(1500)), 2);
        assert_eq!(retry_secs(Duration::ZERO), 1);
    }

    #[test]
    fn the_bucket_map_stays_bounded_under_a_flood_of_senders() {
        let l = SendLimiter::with_capacity(SendRate { per_second: 1e-6, burst: 1 }, 64);
        for i in 0..10_000 {
            let _ = l.take(&format!("peer-{i}"));
        }
        assert!(l.len() <= 64 + SHARDS, "{} buckets", l.len());
        // Full, idle buckets are evicted to make room.
        let l = SendLimiter::with_capacity(SendRate { per_second: 1e6, burst: 1 }, 64);
        for i in 0..10_000 {
            l.take(&format!("peer-{i}")).unwrap();
        }
        assert!(l.len() <= 64 + SHARDS);
    }

    #[test]
    fn the_breaker_counts_both_directions_and_refuses_beyond_count() {
        let b = LoopBreaker::new(LoopLimit { count: 4, window: Duration::from_secs(60) });
        for i in 0..4 {
            let (x, y) = if i % 2 == 0 { ("alice", "bob") } else { ("bob", "alice") };
            b.reserve(x, y).unwrap().unwrap();
        }
        let e = b.reserve("bob", "alice").unwrap_err();
        assert_eq!(e.code, "conversation_loop");
        assert!(e.detail.contains("\"alice\" and \"bob\" exchanged 4 DMs within 60 s"), "{}", e.detail);
        assert!(e.detail.contains("meshgate loops reset alice bob"), "{}", e.detail);
        b.reserve("alice", "carol").expect("another pair is unaffected");
        assert_eq!(b.tripped().len(), 1);
        assert!(b.reset("bob", "alice"));
        b.reserve("alice", "bob").expect("a reset lifts it");
    }

    #[test]
    fn a_released_reservation_does_not_count() {
        let b = LoopBreaker::new(LoopLimit { count: 2, window: Duration::from_secs(60) });
        b.reserve("a", "b").unwrap().unwrap();
        let r = b.reserve("b", "a").unwrap().unwrap();
        b.release(r);
        b.reserve("b", "a").expect("released");
        b.reserve("a", "b").unwrap_err();
        assert_eq!(b.lift_involving("b", "a"), 0, "a DM within the pair lifts nothing");
        b.reserve("a", "c").unwrap();
        assert_eq!(b.lift_involving("b", "op"), 1);
        b.reserve("a", "b").expect("lifted");
    }

    #[test]
    fn the_pair_map_stays_bounded_under_a_flood_of_pairs() {
        let b = LoopBreaker::with_capacity(LoopLimit { count: 2, window: Duration::from_secs(600) }, 64);
        for i in 0..10_000 {
            let _ = b.reserve("alice", &format!("peer-{i}"));
        }
        assert!(b.len() <= 64 + SHARDS, "{} pairs", b.len());
    }

    #[test]
    fn limits_parse_with_off() {
        assert_eq!(parse_loop_limit("off").unwrap(), None);
        assert_eq!(parse_loop_limit("60/600").unwrap(), Some(LoopLimit::default()));
        for bad in ["", "60", "0/10", "10/0", "a/b", "-1/5"] {
            assert!(parse_loop_limit(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_send_rate("off").unwrap(), None);
        assert_eq!(parse_send_rate("0.5").unwrap(), Some(0.5));
        for bad in ["0", "-1", "NaN", "inf", "x"] {
            assert!(parse_send_rate(bad).is_err(), "{bad}");
        }
    }
}
