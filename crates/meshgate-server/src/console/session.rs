//! Console sessions: who is signed in, held in memory on this replica.
//!
//! What this module owns, and why:
//! - **The token stays here.** A login exchanges the token for a random
//!   256-bit session id (the `meshgate_session` cookie); the token itself is
//!   kept only in this table, to make the console's in-process API calls.
//!   The table is keyed by a hash of the id, so nothing in it is the cookie.
//! - **Bounds.** At most [`UiConfig::sessions_per_identity`] sessions per
//!   identity (the operator, or one peer): a new login beyond it ends that
//!   identity's oldest. At most [`UiConfig::max_sessions`] in all: when the
//!   table is full, a login ends its own identity's oldest session, an
//!   operator login ends the oldest peer session, and a peer with no session
//!   is refused ([`Full`]): one identity's logins never end another's,
//!   except that the operator always gets in. A session ends after
//!   [`UiConfig::idle`] without a request and [`UiConfig::absolute`] after
//!   login, whatever its use; each holds at most
//!   [`UiConfig::streams_per_session`] live event streams (a new one ends
//!   the oldest).
//! - **Dead tokens end sessions.** A peer session ends when its token is
//!   rotated or revoked or the peer is disabled or deleted (the store's
//!   credential events, as for MCP sessions and streams).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use meshgate_store::TokenHash;
use tokio::sync::{watch, Notify};

use crate::state::AppState;

/// Name of the session cookie.
pub const COOKIE: &str = "meshgate_session";

/// Settings of the console (`meshgate serve --no-ui` turns it off).
#[derive(Debug, Clone)]
pub struct UiConfig {
    /// Serve `/ui` (on by default).
    pub enabled: bool,
    /// A session unused for this long ends.
    pub idle: Duration,
    /// A session ends this long after its login, however busy.
    pub absolute: Duration,
    /// Sessions held at once on this replica (see [`Sessions::create`]).
    pub max_sessions: usize,
    /// Sessions of one identity (the operator, or one peer); a new login
    /// beyond it ends that identity's oldest (0: no cap).
    pub sessions_per_identity: usize,
    /// Live event streams (`/ui/events`) per session; a new one beyond it ends the oldest.
    pub streams_per_session: usize,
    /// A peer seen within this long shows as online even with no live watcher.
    pub online_window: Duration,
    /// Failed logins per client address (IPv6: per /64) in a minute, whatever
    /// token was tried, before every login from it gets 429 (0: no limit).
    pub login_failures_per_minute: u32,
}

impl Default for UiConfig {
    fn default() -> Self {
        UiConfig {
            enabled: true,
            idle: Duration::from_secs(30 * 60),
            absolute: Duration::from_secs(12 * 3600),
            max_sessions: 256,
            sessions_per_identity: 8,
            streams_per_session: 2,
            online_window: Duration::from_secs(5 * 60),
            login_failures_per_minute: 10,
        }
    }
}

/// Who a session acts as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Who {
    /// Signed in with the operator token: sees the whole mesh.
    Operator,
    /// Signed in with a peer's token: sees that peer's own view.
    Peer {
        /// The peer.
        name: String,
        /// Generation of the token (a rotated token has a newer one).
        generation: i64,
    },
}

/// One signed-in browser.
pub struct Session {
    key: [u8; 32],
    token: String,
    hash: TokenHash,
    /// Who this session acts as.
    pub who: Who,
    csrf: String,
    created: Instant,
    last: Mutex<Instant>,
    seq: u64,
    ended: watch::Sender<bool>,
    streams: Mutex<VecDeque<(u64, Arc<Notify>)>>,
    next_stream: AtomicU64,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session").field("who", &self.who).finish_non_exhaustive()
    }
}

impl Session {
    /// The token the session signed in with (for in-process API calls only).
    pub(crate) fn token(&self) -> &str {
        &self.token
    }

    /// The CSRF token of this session's forms.
    pub fn csrf(&self) -> &str {
        &self.csrf
    }

    /// The peer of a peer session.
    pub fn peer(&self) -> Option<&str> {
        match &self.who {
            Who::Peer { name, .. } => Some(name),
            Who::Operator => None,
        }
    }

    /// Whether the session has ended (logout, expiry, eviction, dead token).
    pub fn is_ended(&self) -> bool {
        *self.ended.borrow()
    }

    /// Resolves when the session ends.
    pub async fn ended(&self) {
        let mut rx = self.ended.subscribe();
        let _ = rx.wait_for(|e| *e).await;
    }

    /// Takes one of the session's stream slots, ending its oldest stream at
    /// the cap; the returned guard frees it and tells when it was evicted.
    pub(crate) fn open_stream(self: &Arc<Self>, max: usize) -> StreamSlot {
        let id = self.next_stream.fetch_add(1, Ordering::Relaxed);
        let notify = Arc::new(Notify::new());
        let mut streams = self.streams.lock().unwrap_or_else(|e| e.into_inner());
        while max > 0 && streams.len() >= max {
            if let Some((_, oldest)) = streams.pop_front() {
                oldest.notify_one();
            }
        }
        streams.push_back((id, Arc::clone(&notify)));
        StreamSlot { session: Arc::downgrade(self), id, evicted: notify }
    }

    /// Streams open now.
    pub fn open_streams(&self) -> usize {
        self.streams.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

/// A live stream's place in its session (freed on drop).
pub(crate) struct StreamSlot {
    session: Weak<Session>,
    id: u64,
    evicted: Arc<Notify>,
}

impl StreamSlot {
    /// Resolves when a newer stream of the session took this slot.
    pub(crate) async fn evicted(&self) {
        self.evicted.notified().await
    }
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        if let Some(s) = self.session.upgrade() {
            s.streams.lock().unwrap_or_else(|e| e.into_inner()).retain(|(id, _)| *id != self.id);
        }
    }
}

/// The sessions of this replica.
pub struct Sessions {
    map: Mutex<HashMap<[u8; 32], Arc<Session>>>,
    seq: AtomicU64,
    config: UiConfig,
}

impl Sessions {
    /// An empty table with `config`'s bounds.
    pub fn new(config: UiConfig) -> Self {
        Sessions { map: Mutex::default(), seq: AtomicU64::new(0), config }
    }

    /// The bounds.
    pub fn config(&self) -> &UiConfig {
        &self.config
    }

    /// Sessions held now.
    pub fn len(&self) -> usize {
        self.map.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Whether no session is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A new session for `token` acting as `who`; returns the cookie value
    /// (the session id) and the session. Ends expired sessions, then the
    /// identity's oldest beyond [`UiConfig::sessions_per_identity`]; when
    /// the table is still full, the identity's own oldest, else (operator
    /// only) the oldest peer session; a peer finding the table full of
    /// others' sessions gets [`Full`] and nothing changes.
    pub fn create(&self, token: &str, who: Who) -> Result<(String, Arc<Session>), Full> {
        let id = random_id();
        let key = TokenHash::of(&id).0;
        let session = Arc::new(Session {
            key,
            token: token.to_owned(),
            hash: TokenHash::of(token),
            who,
            csrf: random_id(),
            created: Instant::now(),
            last: Mutex::new(Instant::now()),
            seq: self.seq.fetch_add(1, Ordering::Relaxed),
            ended: watch::channel(false).0,
            streams: Mutex::default(),
            next_stream: AtomicU64::new(0),
        });
        let mut ended = Vec::new();
        let refused = {
            let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
            map.retain(|_, s| {
                let live = !self.expired(s);
                if !live {
                    ended.push(Arc::clone(s));
                }
                live
            });
            let mine = |s: &Session| s.who.same_identity(&session.who);
            let max = self.config.max_sessions;
            let refused = max > 0 && map.len() >= max && session.who != Who::Operator && !map.values().any(|s| mine(s));
            if !refused {
                let per = self.config.sessions_per_identity;
                while per > 0 && map.values().filter(|s| mine(s)).count() >= per {
                    ended.extend(remove_oldest(&mut map, mine));
                }
                while max > 0 && map.len() >= max {
                    let Some(s) =
                        remove_oldest(&mut map, mine).or_else(|| remove_oldest(&mut map, |s| s.peer().is_some()))
                    else {
                        break;
                    };
                    ended.push(s);
                }
                map.insert(key, Arc::clone(&session));
            }
            refused
        };
        for s in ended {
            s.ended.send_replace(true);
        }
        if refused {
            return Err(Full);
        }
        Ok((id, session))
    }

    /// The live session of cookie value `id`, marked used now; an expired
    /// one is ended and forgotten.
    pub fn get(&self, id: &str) -> Option<Arc<Session>> {
        let key = TokenHash::of(id).0;
        let session = self.map.lock().unwrap_or_else(|e| e.into_inner()).get(&key).cloned()?;
        if self.expired(&session) {
            self.end(&session);
            return None;
        }
        *session.last.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
        Some(session)
    }

    /// Whether `session` is still live; one past its idle or absolute
    /// limit is ended now (a live stream checks this, since streaming is not
    /// use: a forgotten tab stops updating when its session expires).
    pub fn still_live(&self, session: &Session) -> bool {
        if session.is_ended() {
            return false;
        }
        if self.expired(session) {
            self.end(session);
            return false;
        }
        true
    }

    /// Ends `session` (logout, dead token).
    pub fn end(&self, session: &Session) {
        self.map.lock().unwrap_or_else(|e| e.into_inner()).remove(&session.key);
        session.ended.send_replace(true);
    }

    fn expired(&self, s: &Session) -> bool {
        let idle = s.last.lock().unwrap_or_else(|e| e.into_inner()).elapsed();
        idle >= self.config.idle || s.created.elapsed() >= self.config.absolute
    }

    /// Ends the peer sessions whose token dies, on the store's credential
    /// events, until the gateway stops.
    pub(crate) fn watch_credentials(self: &Arc<Self>, state: &AppState) {
        state.on_credential_events(self, |sessions: Arc<Self>, state, peer| async move {
            sessions.end_dead(&state, peer.as_deref()).await
        });
    }

    /// Ends the peer sessions (of `peer`, or all) whose token is no longer live.
    async fn end_dead(&self, state: &AppState, peer: Option<&str>) {
        let held: Vec<Arc<Session>> = {
            let map = self.map.lock().unwrap_or_else(|e| e.into_inner());
            map.values().filter(|s| s.peer().is_some() && peer.is_none_or(|p| s.peer() == Some(p))).cloned().collect()
        };
        for s in held {
            let Who::Peer { name, generation } = &s.who else { continue };
            match state.store().token_owner(&s.hash).await {
                Ok(Some(t)) if &t.peer == name && t.generation == *generation && t.enabled => {}
                Ok(_) => {
                    tracing::debug!(peer = %name, "console session ends: its token died");
                    self.end(&s);
                }
                Err(e) => tracing::warn!(error = %e, "could not re-check a console session's token"),
            }
        }
    }
}

/// A login refused because the table is full of other identities' sessions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Full;

impl Who {
    /// Whether both are the operator, or the same peer (any token generation).
    fn same_identity(&self, other: &Who) -> bool {
        match (self, other) {
            (Who::Operator, Who::Operator) => true,
            (Who::Peer { name: a, .. }, Who::Peer { name: b, .. }) => a == b,
            _ => false,
        }
    }
}

/// Removes the oldest session matching `which`.
fn remove_oldest(map: &mut HashMap<[u8; 32], Arc<Session>>, which: impl Fn(&Session) -> bool) -> Option<Arc<Session>> {
    let oldest = map.values().filter(|s| which(s)).min_by_key(|s| s.seq).map(|s| s.key)?;
    map.remove(&oldest)
}

/// 256 random bits, URL-safe base64.
fn random_id() -> String {
    crate::tokens::mint("").0
}
