//! Waiting for DMs: the one subscribe-read-wait primitive of the long-poll
//! and the SSE stream.
//!
//! A [`Waiter`] holds the reader's slot ([`Session`]: its peer's cap, its
//! token's life) and a wake-up channel from the hub, subscribed when the
//! waiter opens, before any read. The protocol, in a loop:
//! [`Waiter::mark_seen`], read the store, and if nothing came
//! [`Waiter::wait`]. A commit between the read and the wait has already
//! changed the channel, so the wait returns at once: nothing is missed.

use std::future::Future;

use meshgate_store::MessageQuery;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::auth::Auth;
use crate::error::ApiResult;
use crate::session::{LiveKind, Session};
use crate::state::AppState;

/// A reader waiting for DMs that match its query.
pub struct Waiter {
    wake: watch::Receiver<i64>,
    /// The reader's slot and token watch.
    pub session: Session,
}

/// Why a [`Waiter::wait`] returned.
pub enum Wait {
    /// A commit that may concern the reader: read again.
    Changed,
    /// The caller's own extra event fired.
    Extra,
    /// The wait is over for good.
    Stop(Stop),
}

/// Why waiting is over.
pub enum Stop {
    /// The deadline passed.
    Deadline,
    /// The gateway is shutting down, or the store's channel closed.
    Shutdown,
    /// The reader's token was rotated or revoked, or its peer disabled.
    Revoked,
    /// A newer reader of the same peer took this one's slot.
    Evicted,
}

impl Waiter {
    /// Takes a slot of `kind` for `auth` reading `q` (the peer's cap
    /// applies), then subscribes to the commits that can satisfy `q`.
    pub async fn open(state: &AppState, auth: &Auth, kind: LiveKind, q: &MessageQuery) -> ApiResult<Waiter> {
        let session = Session::open(state, auth, kind, live_peer(auth, q)).await?;
        let wake = state.hub().subscribe(wake_key(q));
        Ok(Waiter { wake, session })
    }

    /// Marks every wake-up so far as seen; call right before reading.
    pub fn mark_seen(&mut self) {
        self.wake.borrow_and_update();
    }

    /// Waits for a commit not yet seen, `extra`, `deadline` (if any), or a
    /// reason to stop.
    pub async fn wait(&mut self, state: &AppState, deadline: Option<Instant>, extra: impl Future<Output = ()>) -> Wait {
        let evicted = self.session.on_evicted();
        let deadline = async {
            match deadline {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            changed = self.wake.changed() => match changed {
                Ok(()) => Wait::Changed,
                Err(_) => Wait::Stop(Stop::Shutdown),
            },
            _ = deadline => Wait::Stop(Stop::Deadline),
            _ = extra => Wait::Extra,
            _ = state.stopping() => Wait::Stop(Stop::Shutdown),
            _ = self.session.revoked() => Wait::Stop(Stop::Revoked),
            _ = evicted => Wait::Stop(Stop::Evicted),
        }
    }
}

/// The peer whose messages can satisfy `q`: its recipient, sender or
/// scoping peer; `None` (any commit) for an unscoped operator query.
pub fn wake_key(q: &MessageQuery) -> Option<&str> {
    q.to.as_deref().or(q.from.as_deref()).or(q.involving.as_deref())
}

/// The peer a live response of `auth` for `q` counts against: the caller's
/// own peer, or for the operator the peer it reads for (`*` for all).
pub fn live_peer<'a>(auth: &'a Auth, q: &'a MessageQuery) -> &'a str {
    auth.peer().or(wake_key(q)).unwrap_or("*")
}
