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
use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, Hash};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use meshgate_proto::LoopPair;
use meshgate_store::{NewMessage, StoreError};

use crate::auth::{Auth, Caller};
use crate::error::{ApiError, Class};
use crate::state::AppState;

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

/// One sender's bucket: tokens as of `at`.
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// The per-sender token buckets.
pub struct SendLimiter {
    rate: SendRate,
    buckets: Shards<Bucket>,
}

impl SendLimiter {
    /// Buckets refilling at `rate`.
    pub fn new(rate: SendRate) -> Self {
        Self::with_capacity(rate, BUCKETS_MAX)
    }

    fn with_capacity(rate: SendRate, max: usize) -> Self {
        SendLimiter { rate, buckets: Shards::new(max) }
    }

    /// Takes one token of `sender`'s bucket; `Err(wait)` when it is empty
    /// (`wait`: until one token is back).
    pub fn take(&self, sender: &str) -> Result<(), Duration> {
        let SendRate { per_second, burst } = self.rate;
        let burst = f64::from(burst.max(1));
        let now = Instant::now();
        let full = |b: &Bucket| b.tokens + now.duration_since(b.at).as_secs_f64() * per_second >= burst;
        self.buckets.with(
            sender,
            || Bucket { tokens: burst, at: now },
            full,
            |bucket| {
                let Some(b) = bucket else { return Ok(()) };
                b.tokens = (b.tokens + now.duration_since(b.at).as_secs_f64() * per_second).min(burst);
                b.at = now;
                if b.tokens >= 1.0 {
                    b.tokens -= 1.0;
                    Ok(())
                } else {
                    Err(Duration::from_secs_f64((1.0 - b.tokens) / per_second))
                }
            },
        )
    }

    /// Gives back a token [`SendLimiter::take`] took for a DM that turned
    /// out to be a resend of a stored one (never beyond the burst).
    pub fn refund(&self, sender: &str) {
        let burst = f64::from(self.rate.burst.max(1));
        if let Some(b) = self.buckets.shard(sender).get_mut(sender) {
            b.tokens = (b.tokens + 1.0).min(burst);
        }
    }

    /// Buckets held now.
    pub fn len(&self) -> usize {
        self.buckets.len()
    }

    /// True when no bucket is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The 429 `rate_limited` of a sender over its rate.
pub fn rate_limited(sender: &str, rate: SendRate, wait: Duration) -> ApiError {
    let retry = retry_secs(wait);
    let mut e = ApiError::new(
        Class::RateLimited,
        "rate_limited",
        format!(
            "{sender:?} is sending faster than this gateway allows ({} DMs/s sustained, bursts of {}); \
             retry after {retry} s (the operator sets --send-rate and --send-burst)",
            rate.per_second, rate.burst
        ),
    );
    e.retry_after = Some(retry);
    e
}

/// Whole seconds to wait, rounded up, at least 1.
fn retry_secs(wait: Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0).max(u64::from(wait.is_zero()))
}

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

    fn with_capacity(limit: LoopLimit, max: usize) -> Self {
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
            "conversation_loop",
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
