//! Live delivery: [`Client::wait`] (long-poll) and [`Client::stream`]
//! (Server-Sent Events with automatic, gapless reconnection).

use std::collections::VecDeque;
use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

use futures_util::Stream;
use meshgate_proto::{validate_peer_name, ListQuery, Message, MessageList, StreamQuery, WAIT_MAX_SECS};
use reqwest::{Method, StatusCode};
use tokio::time::Instant;

use crate::client::{is_missing_route, Client};
use crate::sse::{SseEvent, SseParser};
use crate::{Error, Result};

/// Longest single long-poll request the gateway accepts; longer waits are
/// split into several requests.
pub const WAIT_MAX: Duration = Duration::from_secs(WAIT_MAX_SECS);

/// How long [`WaitOptions`] waits when no timeout is set.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(30);

/// A stream connection that delivers nothing (no event, no keep-alive
/// comment) for this long is considered dead and replaced. meshgate sends a
/// keep-alive every 15 s.
pub const STREAM_IDLE_TIMEOUT: Duration = Duration::from_secs(45);

/// First reconnection delay of [`Client::stream`]; it doubles per failed
/// attempt up to [`RECONNECT_MAX`], each delay jittered down by up to half.
pub const RECONNECT_MIN: Duration = Duration::from_millis(100);

/// Longest reconnection delay of [`Client::stream`].
pub const RECONNECT_MAX: Duration = Duration::from_secs(5);

/// What [`Client::wait`] waits for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaitOptions {
    /// Whose inbox (operator use); this peer's by default.
    pub to: Option<String>,
    /// Only messages with a larger id, oldest first (a gapless cursor).
    /// Without it (and without `unread_only`) any message in the inbox
    /// answers at once.
    pub after_id: Option<i64>,
    /// Only unread messages.
    pub unread_only: bool,
    /// How long to wait in total (default [`DEFAULT_WAIT`]); waits longer
    /// than [`WAIT_MAX`] take several requests.
    pub timeout: Duration,
    /// At most this many rows (gateway default 100).
    pub limit: Option<u32>,
}

impl Default for WaitOptions {
    fn default() -> Self {
        WaitOptions { to: None, after_id: None, unread_only: false, timeout: DEFAULT_WAIT, limit: None }
    }
}

impl WaitOptions {
    /// Waits [`DEFAULT_WAIT`] for anything in the own inbox.
    pub fn new() -> Self {
        Self::default()
    }

    /// Waits on `name`'s inbox instead of the own one.
    pub fn to(mut self, name: impl Into<String>) -> Self {
        self.to = Some(name.into());
        self
    }

    /// Only messages with an id above `id`.
    pub fn after(mut self, id: i64) -> Self {
        self.after_id = Some(id);
        self
    }

    /// Only unread messages.
    pub fn unread_only(mut self, unread_only: bool) -> Self {
        self.unread_only = unread_only;
        self
    }

    /// Total time to wait.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// At most `limit` rows.
    pub fn limit(mut self, limit: u32) -> Self {
        self.limit = Some(limit);
        self
    }
}

/// Where [`Client::stream`] starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamStart {
    /// Messages stored after [`Client::stream`] returns: the call pins
    /// "now" to the newest id in the inbox before it returns, so a message
    /// sent between creating the stream and the first poll is yielded, and
    /// a reconnect before the first message loses nothing.
    Now,
    /// Messages with an id above this one (`After(0)`: the whole inbox).
    After(i64),
}

impl Client {
    /// The id of the newest message in `to`'s inbox (this peer's by
    /// default), 0 when it is empty: a cursor meaning "now" for
    /// [`WaitOptions::after`] and [`StreamStart::After`]. The read records
    /// no delivery (`peek=true`).
    pub async fn latest_id(&self, to: Option<&str>) -> Result<i64> {
        let target = to.unwrap_or(&self.node);
        validate_peer_name(target)?;
        // `peek`: learning the position hands nothing over (no
        // `delivered_at` for a DM nobody was shown). A gateway without the
        // parameter (the Python reference, which records no delivery)
        // answers 400: ask it again without.
        let mut query =
            ListQuery { to: Some(target.to_owned()), limit: Some(1), peek: Some(true), ..ListQuery::default() };
        let list: MessageList = match self.get(&["messages"], &query.pairs()).await {
            Err(Error::Gateway { status: 400, .. }) => {
                query.peek = None;
                self.get(&["messages"], &query.pairs()).await?
            }
            other => other?,
        };
        Ok(list.messages.iter().map(|m| m.id).max().unwrap_or(0))
    }

    /// Long-polls `GET /messages?wait=S`: returns as soon as a message
    /// matches `options` (all matching rows, oldest first when
    /// `after_id` is given), or an empty list when `options.timeout` passes.
    ///
    /// Each request's HTTP timeout is its wait plus the client's
    /// per-request timeout. Reading the own inbox drops rows this peer sent
    /// itself (and keeps waiting when those were all there was). Against a
    /// gateway without long-poll (the Python reference answers 400 for the
    /// unknown `wait`/`after_id` parameters) this is [`Error::Unsupported`].
    pub async fn wait(&self, options: WaitOptions) -> Result<Vec<Message>> {
        let target = options.to.clone().unwrap_or_else(|| self.node.clone());
        validate_peer_name(&target)?;
        let own_inbox = target == self.node;
        let deadline = Instant::now() + options.timeout;
        let mut after = options.after_id;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            let secs = (remaining.as_secs_f64().ceil() as u64).min(WAIT_MAX_SECS);
            let query = ListQuery {
                to: Some(target.clone()),
                wait: Some(secs),
                after_id: after,
                unread_only: options.unread_only.then_some(true),
                limit: options.limit,
                ..ListQuery::default()
            };
            let request = self
                .authorized(Method::GET, &["messages"])
                .query(&query.pairs())
                .timeout(Duration::from_secs(secs) + self.timeout);
            let (status, bytes) = self.round_trip(request).await?;
            if status == StatusCode::BAD_REQUEST {
                let error = self.error_from(status, &bytes);
                return Err(unsupported_if_unknown_params(error));
            }
            let list: MessageList = self.decode(status, &bytes, "GET /messages")?;
            let newest = list.messages.iter().map(|m| m.id).max();
            let mut rows = list.messages;
            if own_inbox {
                rows.retain(|m| m.from_node != self.node);
            }
            if !rows.is_empty() {
                return Ok(rows);
            }
            if Instant::now() >= deadline {
                return Ok(rows);
            }
            if let Some(newest) = newest {
                // Only self-sent rows matched: wait past them.
                after = Some(after.map_or(newest, |a| a.max(newest)));
            }
        }
    }

    /// This peer's inbox as a live stream, via `GET /messages/stream`
    /// (Server-Sent Events).
    ///
    /// Messages come in id order, each once: the stream remembers the last
    /// id it yielded and, when the connection drops, fails, or stays silent
    /// for [`STREAM_IDLE_TIMEOUT`], reconnects after a jittered exponential
    /// backoff ([`RECONNECT_MIN`] doubling to [`RECONNECT_MAX`]) with
    /// `Last-Event-ID`, skipping any id it already yielded. Transient
    /// failures (network, 5xx, 408, 429) are retried forever and logged.
    ///
    /// An `Err` item is final; the stream ends after it: [`Error::Auth`] for
    /// a refused token (401/403), [`Error::Unsupported`] for a gateway
    /// without streaming (the Python reference), [`Error::Decode`] for an
    /// event that is not a message, [`Error::Gateway`] for other refusals.
    ///
    /// Creating the stream is async because [`StreamStart::Now`] is resolved
    /// here (one `GET /messages?limit=1`): its errors ([`Error::Auth`],
    /// [`Error::Unreachable`], ...) come back from this call. With
    /// [`StreamStart::After`] nothing is sent until the first poll.
    ///
    /// ```no_run
    /// # async fn demo(client: meshgate_client::Client) -> meshgate_client::Result<()> {
    /// use futures_util::StreamExt;
    /// use meshgate_client::StreamStart;
    /// let mut inbox = std::pin::pin!(client.stream(StreamStart::Now).await?);
    /// while let Some(message) = inbox.next().await {
    ///     let message = message?;
    ///     println!("#{} from {}: {}", message.id, message.from_node, message.content);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn stream(&self, from: StreamStart) -> Result<impl Stream<Item = Result<Message>> + Send + '_> {
        self.stream_to(&self.node, from).await
    }

    /// Like [`Client::stream`] for `to`'s inbox (operator use: needs the
    /// operator token, since a per-peer token streams only its own inbox).
    /// An invalid name is [`Error::InvalidName`] at once.
    pub async fn stream_to(
        &self,
        to: &str,
        from: StreamStart,
    ) -> Result<impl Stream<Item = Result<Message>> + Send + '_> {
        validate_peer_name(to)?;
        let last_id = match from {
            StreamStart::Now => self.latest_id(Some(to)).await?,
            // Below 0 is the whole inbox too (the gateway refuses a
            // negative Last-Event-ID).
            StreamStart::After(id) => id.max(0),
        };
        let live = Live {
            client: self,
            to: to.to_owned(),
            last_id,
            response: None,
            parser: SseParser::new(),
            ready: VecDeque::new(),
            failures: 0,
            connected_at: Instant::now(),
            finished: false,
        };
        Ok(futures_util::stream::unfold(live, |mut live| async move {
            let item = live.next().await?;
            Some((item, live))
        }))
    }
}

/// Turns the reference gateway's "unrecognized query filter(s) ['after_id',
/// 'wait']" 400 into [`Error::Unsupported`].
fn unsupported_if_unknown_params(error: Error) -> Error {
    match &error {
        Error::Gateway { status: 400, detail, code } => {
            let text = format!("{code} {detail}").to_ascii_lowercase();
            let unknown = text.contains("unrecognized") || text.contains("unknown");
            if unknown && (text.contains("wait") || text.contains("after_id")) {
                Error::Unsupported {
                    feature: "long-poll",
                    detail: "the gateway does not know GET /messages?wait=&after_id= (the Python reference \
                             gateway lacks it); poll `fetch` instead"
                        .to_owned(),
                }
            } else {
                error
            }
        }
        _ => error,
    }
}

/// Failures worth another connection attempt.
fn is_transient(error: &Error) -> bool {
    match error {
        Error::Unreachable { .. } => true,
        Error::Gateway { status, .. } => *status >= 500 || *status == 408 || *status == 429,
        _ => false,
    }
}

/// The delay before reconnection attempt `attempt` (1-based): `RECONNECT_MIN
/// * 2^(attempt-1)`, capped at `RECONNECT_MAX`, then cut by a random amount
///   of up to half so many clients do not reconnect in lockstep.
pub(crate) fn backoff(attempt: u32) -> Duration {
    let exp = attempt.saturating_sub(1).min(16);
    let full = RECONNECT_MIN.saturating_mul(1u32 << exp).min(RECONNECT_MAX);
    let half = full / 2;
    let random = std::collections::hash_map::RandomState::new().build_hasher().finish();
    let jitter = Duration::from_nanos(random % (half.as_nanos() as u64).max(1));
    half + jitter
}

/// The state behind [`Client::stream`].
struct Live<'a> {
    client: &'a Client,
    to: String,
    /// Last id yielded, or the starting cursor.
    last_id: i64,
    response: Option<reqwest::Response>,
    parser: SseParser,
    ready: VecDeque<Message>,
    /// Failed attempts since the last good connection.
    failures: u32,
    connected_at: Instant,
    finished: bool,
}

impl Live<'_> {
    async fn next(&mut self) -> Option<Result<Message>> {
        loop {
            if let Some(message) = self.ready.pop_front() {
                return Some(Ok(message));
            }
            if self.finished {
                return None;
            }
            let Some(response) = self.response.as_mut() else {
                if self.failures > 0 {
                    tokio::time::sleep(backoff(self.failures)).await;
                }
                match self.connect().await {
                    Ok(response) => {
                        tracing::debug!(gateway = %self.client.gateway(), after = self.last_id, "event stream connected");
                        self.response = Some(response);
                        self.parser = SseParser::new();
                        self.connected_at = Instant::now();
                    }
                    Err(e) if is_transient(&e) => {
                        self.failures += 1;
                        if self.failures >= 3 {
                            tracing::warn!(error = %e, attempt = self.failures, "event stream: cannot reconnect yet; retrying");
                        } else {
                            tracing::info!(error = %e, attempt = self.failures, "event stream: reconnecting");
                        }
                    }
                    Err(e) => return self.fail(e),
                }
                continue;
            };
            match tokio::time::timeout(STREAM_IDLE_TIMEOUT, response.chunk()).await {
                Ok(Ok(Some(bytes))) => {
                    for event in self.parser.feed(&bytes) {
                        if let Err(e) = self.accept(event) {
                            return self.fail(e);
                        }
                    }
                }
                Ok(Ok(None)) => self.disconnected("the gateway ended the stream"),
                Ok(Err(e)) => self.disconnected(&self.client.unreachable(&e).to_string()),
                Err(_) => self.disconnected("no event or keep-alive within the idle timeout"),
            }
        }
    }

    fn fail(&mut self, error: Error) -> Option<Result<Message>> {
        self.finished = true;
        self.response = None;
        Some(Err(error))
    }

    fn disconnected(&mut self, why: &str) {
        self.response = None;
        // A connection that lived a while starts the backoff over.
        self.failures = if self.connected_at.elapsed() >= RECONNECT_MAX { 1 } else { self.failures + 1 };
        tracing::info!(reason = why, last_id = self.last_id, "event stream disconnected; resuming");
    }

    /// Parses one event; queues it unless it was already yielded.
    fn accept(&mut self, event: SseEvent) -> Result<()> {
        if event.event != "message" {
            return Ok(());
        }
        let message: Message = serde_json::from_str(&event.data).map_err(|e| Error::Decode {
            endpoint: "GET /messages/stream".to_owned(),
            reason: format!("event {}: {e}", event.id.as_deref().unwrap_or("without id")),
        })?;
        if message.id <= self.last_id {
            tracing::debug!(id = message.id, "event stream: skipping a message already delivered");
            return Ok(());
        }
        self.last_id = message.id;
        self.failures = 0;
        self.ready.push_back(message);
        Ok(())
    }

    /// One connection attempt: opens the stream after the last id.
    async fn connect(&mut self) -> Result<reqwest::Response> {
        let client = self.client;
        let after = self.last_id;
        let request = client
            .authorized_on(&client.stream_http, Method::GET, &["messages", "stream"])
            .query(&StreamQuery { to: Some(self.to.clone()), ..StreamQuery::default() }.pairs())
            .header("Last-Event-ID", after.to_string())
            .header(reqwest::header::ACCEPT, "text/event-stream");
        let response = request.send().await.map_err(|e| client.unreachable(&e))?;
        let status = response.status();
        if status.is_success() {
            let content_type = response
                .headers()
                .get(reqwest::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            if !content_type.starts_with("text/event-stream") {
                return Err(Error::Unsupported {
                    feature: "live streaming",
                    detail: format!("GET /messages/stream answered {content_type:?}, not an event stream"),
                });
            }
            return Ok(response);
        }
        let body = match tokio::time::timeout(client.timeout, response.bytes()).await {
            Ok(Ok(bytes)) => bytes.to_vec(),
            _ => Vec::new(),
        };
        let error = client.error_from(status, &body);
        if is_missing_route(&error) {
            return Err(Error::Unsupported {
                feature: "live streaming",
                detail: "the gateway has no GET /messages/stream (the Python reference gateway lacks it)".to_owned(),
            });
        }
        Err(error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_the_cap_with_jitter() {
        for attempt in 1..=20 {
            let full = RECONNECT_MIN.saturating_mul(1 << (attempt - 1).min(16)).min(RECONNECT_MAX);
            let d = backoff(attempt);
            assert!(d >= full / 2 && d <= full, "attempt {attempt}: {d:?} vs {full:?}");
        }
        assert!(backoff(30) <= RECONNECT_MAX);
    }

    #[test]
    fn reference_unknown_params_become_unsupported() {
        let detail = "unrecognized query filter(s) ['after_id', 'wait'] on /messages; accepted: [...]";
        let e = Error::Gateway { status: 400, code: "bad_request".into(), detail: detail.into() };
        assert!(matches!(unsupported_if_unknown_params(e), Error::Unsupported { feature: "long-poll", .. }));
        let e = Error::Gateway { status: 400, code: "unknown_kind".into(), detail: "kind x".into() };
        assert!(matches!(unsupported_if_unknown_params(e), Error::Gateway { .. }));
    }
}
