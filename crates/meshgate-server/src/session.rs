//! What a live response (an SSE stream or a waiting long-poll) holds while
//! it is open, and what ends it early.
//!
//! - **A slot.** Each peer may hold a bounded number of streams and of
//!   long-polls at once (`--max-streams-per-peer`, `--max-polls-per-peer`),
//!   so one token cannot make the gateway hold unbounded connections,
//!   buffers and wake-up channels. A new one beyond the cap **evicts that
//!   peer's oldest** of the same kind, which ends cleanly (the stream
//!   closes, the long-poll answers its empty page): a client whose
//!   connection died keeps its slot only until the same peer opens
//!   another, so a reconnecting agent is served at once instead of waiting
//!   for the dead connection to be noticed. Slots are per peer, so no peer
//!   can evict another's. The slot is released when the response ends (the
//!   [`Session`] is dropped).
//! - **Its credentials.** A response opened with a per-peer token ends as
//!   soon as that token stops being valid: the store publishes a
//!   [`CredentialEvent`] after every commit that rotates or revokes a
//!   peer's tokens, disables or deletes it (on every replica), and the
//!   session then looks its token up again (hash -> live token of the same
//!   peer and generation, peer enabled). The operator token is fixed for
//!   the process and never ends a session.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use meshgate_store::{CredentialEvent, TokenHash};
use tokio::sync::broadcast::{self, error::RecvError, error::TryRecvError};
use tokio::sync::Notify;

use crate::auth::{Auth, Caller};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// Which per-peer cap a live response counts against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LiveKind {
    /// `GET /messages/stream`.
    Stream,
    /// `GET /messages?wait=N` with `N > 0`.
    Poll,
}

/// The open live responses of one (kind, peer), oldest first.
type Held = HashMap<(LiveKind, String), VecDeque<Arc<Eviction>>>;

/// Open live responses per (kind, peer), oldest first.
#[derive(Debug, Default)]
pub(crate) struct Slots {
    open: Mutex<Held>,
    next_id: AtomicU64,
}

/// How a session learns it was evicted by a newer one of its peer.
#[derive(Debug)]
struct Eviction {
    id: u64,
    evicted: AtomicBool,
    notify: Notify,
}

impl Slots {
    /// Takes one of `peer`'s `max` slots of `kind` (0: no cap), evicting
    /// the peer's oldest of that kind when all are taken.
    fn take(&self, kind: LiveKind, peer: &str, max: usize) -> Arc<Eviction> {
        let mine = Arc::new(Eviction {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            evicted: AtomicBool::new(false),
            notify: Notify::new(),
        });
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let held = open.entry((kind, peer.to_owned())).or_default();
        if max != 0 && held.len() >= max {
            if let Some(oldest) = held.pop_front() {
                tracing::debug!(peer, ?kind, "cap of live responses reached: the oldest ends");
                oldest.evicted.store(true, Ordering::Release);
                oldest.notify.notify_one();
            }
        }
        held.push_back(Arc::clone(&mine));
        mine
    }

    /// Frees the slot `id` of `peer` (nothing if it was evicted).
    fn release(&self, kind: LiveKind, peer: &str, id: u64) {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let key = (kind, peer.to_owned());
        if let Some(held) = open.get_mut(&key) {
            held.retain(|e| e.id != id);
            if held.is_empty() {
                open.remove(&key);
            }
        }
    }

    /// Open responses of `kind` held for all peers together.
    pub(crate) fn total(&self, kind: LiveKind) -> usize {
        let open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        open.iter().filter(|((k, _), _)| *k == kind).map(|(_, held)| held.len()).sum()
    }

    /// Open responses of `kind` held for `peer`.
    pub(crate) fn count(&self, kind: LiveKind, peer: &str) -> usize {
        let open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        open.get(&(kind, peer.to_owned())).map_or(0, VecDeque::len)
    }
}

/// The per-peer token a session was opened with.
struct Credential {
    hash: TokenHash,
    peer: String,
    generation: i64,
}

/// One open live response: its slot and its watched credentials.
pub struct Session {
    state: AppState,
    kind: LiveKind,
    slot_peer: String,
    credential: Option<Credential>,
    events: broadcast::Receiver<CredentialEvent>,
    /// A relevant event arrived and the token was not looked up since.
    unchecked: bool,
    /// Set when a newer response of the same peer took this one's slot.
    eviction: Arc<Eviction>,
}

impl Drop for Session {
    fn drop(&mut self) {
        self.state.slots().release(self.kind, &self.slot_peer, self.eviction.id);
    }
}

impl Session {
    /// Opens a session for `auth`'s caller, counted against `slot_peer`
    /// (the peer whose inbox is read), evicting that peer's oldest of
    /// `kind` at the cap. Refuses with 401 if the token died since the
    /// request was authenticated.
    pub async fn open(state: &AppState, auth: &Auth, kind: LiveKind, slot_peer: &str) -> ApiResult<Session> {
        let max = match kind {
            LiveKind::Stream => state.config().max_streams_per_peer,
            LiveKind::Poll => state.config().max_polls_per_peer,
        };
        let eviction = state.slots().take(kind, slot_peer, max);
        let credential = match &auth.caller {
            Caller::Operator => None,
            Caller::Peer { name, generation } => {
                Some(Credential { hash: TokenHash::of(auth.token()), peer: name.clone(), generation: *generation })
            }
        };
        // Subscribe first, then look the token up: a change committed after
        // authentication is either seen by the lookup or arrives as an event.
        let mut session = Session {
            state: state.clone(),
            kind,
            slot_peer: slot_peer.to_owned(),
            unchecked: credential.is_some(),
            credential,
            events: state.store().subscribe_credentials(),
            eviction,
        };
        if session.dead().await {
            return Err(Session::revoked_error());
        }
        Ok(session)
    }

    /// The 401 a long-poll answers when its token died while it waited.
    pub fn revoked_error() -> ApiError {
        ApiError::unauthorized(
            "token_revoked",
            "the token of this request was rotated or revoked, or its peer was disabled or deleted",
        )
    }

    /// Whether a newer response of the same peer took this one's slot.
    pub fn evicted(&self) -> bool {
        self.eviction.evicted.load(Ordering::Acquire)
    }

    /// Resolves once a newer response of the same peer took this one's
    /// slot (see the module docs). Borrows nothing, so it can be awaited
    /// beside [`Session::revoked`].
    pub fn on_evicted(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let eviction = Arc::clone(&self.eviction);
        async move {
            while !eviction.evicted.load(Ordering::Acquire) {
                eviction.notify.notified().await;
            }
        }
    }

    fn concerns(&self, event: &CredentialEvent) -> bool {
        match (event, &self.credential) {
            (_, None) => false,
            (CredentialEvent::Everyone, Some(_)) => true,
            (CredentialEvent::Peer(p), Some(c)) => *p == c.peer,
        }
    }

    /// Whether the session's token is dead. Takes the events that already
    /// arrived without waiting, and looks the token up only if one of them
    /// concerns it. A store error counts as alive (retried at the next call).
    pub async fn dead(&mut self) -> bool {
        loop {
            match self.events.try_recv() {
                Ok(event) => self.unchecked |= self.concerns(&event),
                Err(TryRecvError::Lagged(_)) => self.unchecked |= self.credential.is_some(),
                Err(TryRecvError::Empty | TryRecvError::Closed) => break,
            }
        }
        let Some(c) = self.credential.as_ref().filter(|_| self.unchecked) else { return false };
        match self.state.store().token_owner(&c.hash).await {
            Ok(Some(o)) if o.peer == c.peer && o.generation == c.generation && o.enabled => {
                self.unchecked = false;
                false
            }
            Ok(_) => true,
            Err(e) => {
                tracing::warn!(error = %e, "could not re-check a live response's token; retrying");
                false
            }
        }
    }

    /// Resolves once the session's token is dead; never for the operator.
    /// Cancel-safe: an event taken but not yet checked is checked at the
    /// next call.
    pub async fn revoked(&mut self) {
        if self.credential.is_none() {
            return std::future::pending().await;
        }
        loop {
            if self.dead().await {
                return;
            }
            if self.unchecked {
                // The lookup failed: try again shortly.
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
            match self.events.recv().await {
                Ok(event) => self.unchecked |= self.concerns(&event),
                Err(RecvError::Lagged(_)) => self.unchecked = true,
                Err(RecvError::Closed) => return std::future::pending().await,
            }
        }
    }
}
