//! The process's file descriptor limit and the connection cap derived
//! from it.
//!
//! Every connection costs a descriptor. Left at the usual soft limit of
//! 1,024, a thousand idle sockets starve the store and the listener; so
//! [`raise_fd_limit`] lifts the soft limit to the hard one at start-up, and
//! the gateway caps its connections well below that
//! ([`derived_max_connections`]), leaving descriptors for the store, the
//! `/health` reserve and the process itself.

/// Upper bound of the derived connection cap: about 1 GiB of idle
/// watchers (10,000 take ~150 MiB).
pub const MAX_DERIVED_CONNECTIONS: usize = 65_536;

/// The connection cap for a soft descriptor limit of `fd_limit`: three
/// quarters of it (the rest is for the store, the `/health` reserve and the
/// process: at 1,024, 256 descriptors), at most [`MAX_DERIVED_CONNECTIONS`],
/// at least 16.
pub fn derived_max_connections(fd_limit: u64) -> usize {
    let share = usize::try_from(fd_limit / 4 * 3).unwrap_or(usize::MAX);
    share.clamp(16, MAX_DERIVED_CONNECTIONS)
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit and returns the soft
/// limit in force afterwards (`None`: unknown or unlimited). Logs both
/// limits; a refusal (e.g. macOS's `OPEN_MAX`) is logged and the old soft
/// limit kept.
#[cfg(unix)]
pub fn raise_fd_limit() -> Option<u64> {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let before = getrlimit(Resource::Nofile);
    if before.current != before.maximum {
        let raised = Rlimit { current: before.maximum, maximum: before.maximum };
        if let Err(e) = setrlimit(Resource::Nofile, raised) {
            tracing::warn!(error = %e, soft = ?before.current, hard = ?before.maximum, "could not raise the fd limit");
        }
    }
    let after = getrlimit(Resource::Nofile);
    tracing::info!(soft_before = ?before.current, soft = ?after.current, hard = ?after.maximum, "file descriptor limit");
    after.current
}

/// Not on Unix: the limit is unknown.
#[cfg(not(unix))]
pub fn raise_fd_limit() -> Option<u64> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_is_three_quarters_of_the_fd_limit_within_bounds() {
        assert_eq!(derived_max_connections(1024), 768);
        assert_eq!(derived_max_connections(20_000), 15_000);
        assert_eq!(derived_max_connections(1 << 20), MAX_DERIVED_CONNECTIONS);
        assert_eq!(derived_max_connections(10), 16);
        assert_eq!(derived_max_connections(u64::MAX), MAX_DERIVED_CONNECTIONS);
    }

    #[cfg(unix)]
    #[test]
    fn raising_leaves_the_soft_limit_at_the_hard_one() {
        use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
        let hard = getrlimit(Resource::Nofile).maximum;
        let lowered = hard.map_or(512, |h| h.min(512));
        setrlimit(Resource::Nofile, Rlimit { current: Some(lowered), maximum: hard }).unwrap();
        assert_eq!(getrlimit(Resource::Nofile).current, Some(lowered));
        let soft = raise_fd_limit();
        let now = getrlimit(Resource::Nofile);
        assert_eq!(soft, now.current);
        assert_eq!(now.current, now.maximum);
    }
}
