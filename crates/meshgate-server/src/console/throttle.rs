//! Failed console logins per client address, whatever token was tried.
//!
//! The gateway's auth-failure limiter counts per (address, credential), so
//! it slows an agent retrying one dead token but not a guesser trying a new
//! token each time. The login form is a password form for the operator
//! token, which the operator chooses, so it gets its own budget: at most
//! [`UiConfig::login_failures_per_minute`] failures per address (per /64
//! for IPv6) in a minute, loopback included; beyond it every login from
//! that address, right or wrong, gets 429 until the minute is over (a
//! valid token let through would make the limit an oracle again).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::UiConfig;

/// Addresses tracked at once; a flood from more gets no entry (as the
/// gateway's limiter does).
const KEYS_MAX: usize = 10_000;

const WINDOW: Duration = Duration::from_secs(60);

/// Failed logins per address in the current minute.
pub(crate) struct LoginFailures {
    limit: u32,
    map: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

impl LoginFailures {
    pub(crate) fn new(config: &UiConfig) -> Self {
        LoginFailures { limit: config.login_failures_per_minute, map: Mutex::default() }
    }

    /// How long `ip` must wait before its next login, if it is over the limit.
    pub(crate) fn wait(&self, ip: IpAddr) -> Option<Duration> {
        if self.limit == 0 {
            return None;
        }
        let map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        let (start, count) = map.get(&key(ip))?;
        let left = WINDOW.checked_sub(start.elapsed())?;
        (*count >= self.limit && !left.is_zero()).then_some(left)
    }

    /// Counts one failed login from `ip`.
    pub(crate) fn failed(&self, ip: IpAddr) {
        if self.limit == 0 {
            return;
        }
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= KEYS_MAX {
            map.retain(|_, (start, _)| start.elapsed() < WINDOW);
            if map.len() >= KEYS_MAX && !map.contains_key(&key(ip)) {
                return;
            }
        }
        let entry = map.entry(key(ip)).or_insert((Instant::now(), 0));
        if entry.0.elapsed() >= WINDOW {
            *entry = (Instant::now(), 0);
        }
        entry.1 = entry.1.saturating_add(1);
    }
}

/// The address a budget belongs to: IPv4 as is, IPv6 by its /64 (one
/// host usually holds a whole /64).
fn key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6((u128::from(v6) & !((1u128 << 64) - 1)).into()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_is_per_address_and_ipv6_counts_by_its_64_and_stays_bounded() {
        let config = UiConfig { login_failures_per_minute: 2, ..UiConfig::default() };
        let f = LoginFailures::new(&config);
        let (a, b): (IpAddr, IpAddr) = ("2001:db8::1".parse().unwrap(), "2001:db8::2:3".parse().unwrap());
        f.failed(a);
        assert_eq!(f.wait(b), None);
        f.failed(b);
        assert!(f.wait(a).is_some_and(|w| w <= WINDOW), "one /64, one budget");
        assert_eq!(f.wait("2001:db9::1".parse().unwrap()), None);
        for i in 0..(KEYS_MAX as u32 + 50) {
            f.failed(IpAddr::V4(i.into()));
        }
        assert!(f.map.lock().unwrap().len() <= KEYS_MAX);
    }
}
