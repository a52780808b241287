//! The per-sender token bucket (`--send-rate`/`--send-burst`).

use std::time::{Duration, Instant};

use super::{retry_secs, SendRate, Shards, BUCKETS_MAX};
use crate::error::{ApiError, Class};

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

    pub(super) fn with_capacity(rate: SendRate, max: usize) -> Self {
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

/// The 429 `rate_limited` of a peer minting threads over its send rate.
pub(crate) fn mint_rate_limited(peer: &str, rate: SendRate, wait: Duration) -> ApiError {
    limited(wait, |retry| {
        format!(
            "{peer:?} is minting threads faster than this gateway allows (threads and DMs share one bucket: {} a \
             second sustained, bursts of {}); retry after {retry} s (the operator sets --send-rate and --send-burst)",
            rate.per_second, rate.burst
        )
    })
}

/// The 429 `rate_limited` of a sender over its rate.
pub fn rate_limited(sender: &str, rate: SendRate, wait: Duration) -> ApiError {
    limited(wait, |retry| {
        format!(
            "{sender:?} is sending faster than this gateway allows ({} DMs/s sustained, bursts of {}); \
             retry after {retry} s (the operator sets --send-rate and --send-burst)",
            rate.per_second, rate.burst
        )
    })
}

/// A 429 `rate_limited` with `Retry-After` (whole seconds of `wait`) and
/// the detail `detail` writes for those seconds.
fn limited(wait: Duration, detail: impl FnOnce(u64) -> String) -> ApiError {
    let retry = retry_secs(wait);
    let mut e = ApiError::new(Class::RateLimited, super::RATE_LIMITED, detail(retry));
    e.retry_after = Some(retry);
    e
}
