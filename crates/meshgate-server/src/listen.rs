//! The accept loop: one HTTP/1.1 connection task per client, built on
//! hyper directly instead of `axum::serve`, for two settings axum does not
//! expose.
//!
//! - **Half-close allowed.** While a response streams (SSE, a long-poll),
//!   hyper by default keeps reading the socket to notice a client that
//!   hangs up; the first such read grows its per-connection read buffer
//!   from 8 to 16 KiB, most of an idle watcher's memory (10,000 watchers:
//!   ~200 MiB). With half-close, a vanished watcher is noticed at the next
//!   write instead: the SSE keep-alive comment (every 15 s by default) or
//!   the end of a long-poll (at most 60 s).
//! - **A header read timeout**, so a client that never finishes its request
//!   head cannot hold a connection (hyper needs a timer for it).
//!
//! `TCP_NODELAY` is set: every answer is written in one go, and small SSE
//! events must not wait for an ACK.
//!
//! With TLS configured, each accepted socket is wrapped in
//! [`crate::tls::Stream`] after admission, so the handshake runs inside the
//! connection's slot (caps, shedding) under its own deadline.
//!
//! Defences, so no client can hold the gateway's sockets, memory or
//! shutdown: admission by [`crate::conns`] (caps, shedding, the `/health`
//! reserve), a deadline on request bodies (408 `body_timeout`), a
//! `Content-Length` over the body limit refused with 413 before any
//! `100 Continue`, a write timeout ([`crate::stall`]), JSON bodies for
//! the errors hyper answers itself ([`crate::autoreply`]), a shutdown
//! deadline after which the remaining connections are dropped, and the
//! byte budget of response and request bodies in flight
//! ([`crate::budget`]).

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock};
use std::task::{ready, Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::ConnectInfo;
use axum::http::{header, HeaderValue, Method};
use axum::response::{IntoResponse, Response};
use axum::Router;
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use hyper::Request;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Sleep;
use tower::ServiceExt;

use crate::autoreply::JsonErrors;
use crate::budget::{Budget, Over, Reservation};
use crate::config::Config;
use crate::conns::{Caps, InFlight, Refused, Tracker};
use crate::error::{ApiError, Class};
use crate::stall::WriteDeadline;

/// How long a client may take to send a complete request head (and how
/// long a keep-alive connection may sit idle between requests).
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// The same for a connection in the `/health` reserve.
const RESERVE_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(5);

/// hyper's read buffer per connection, so the most a request head can be:
/// 80 KiB, plus what the read that crossed it brought (a head sent slowly
/// is cut at ~84 KiB). hyper's default, ~400 KiB, let every connection hold
/// that much in a half-sent head. Above the longest URI hyper reads (65,534 bytes,
/// 414 beyond), so only a head with that much in headers gets 431.
const READ_BUFFER: usize = 80 * 1024;

/// After the shutdown deadline, how long to wait for connection tasks to
/// drop their sockets.
const DROP_GRACE: Duration = Duration::from_secs(1);

/// Connection settings of one listener, from [`Config`].
#[derive(Clone)]
pub(crate) struct Settings {
    /// Admission caps.
    pub(crate) caps: Caps,
    /// Time a request body may take to arrive.
    pub(crate) body_timeout: Duration,
    /// Time a write may make no progress.
    pub(crate) write_timeout: Duration,
    /// Time connections get to finish after the shutdown signal.
    pub(crate) shutdown_timeout: Duration,
    /// Hash of the operator token, which the reserve also serves.
    pub(crate) operator_hash: meshgate_store::TokenHash,
    /// Bytes in flight per peer and in total ([`crate::budget`]).
    pub(crate) buffered_bytes: (usize, usize),
    /// TLS, if the listener serves it ([`crate::tls`]).
    pub(crate) tls: Option<Arc<crate::tls::Tls>>,
}

impl Settings {
    /// The settings of `config`; the connection cap, unless configured, is
    /// derived from the soft descriptor limit `fd_limit`.
    pub(crate) fn new(config: &Config, fd_limit: Option<u64>) -> Self {
        let derived = crate::limits::derived_max_connections(fd_limit.unwrap_or(u64::MAX));
        Settings {
            caps: Caps {
                max_connections: config.max_connections.unwrap_or(derived),
                per_address: config.max_unauthenticated_per_address,
                unauthenticated: config.max_unauthenticated,
                limit_loopback: config.limit_loopback,
                health_reserve: config.health_reserve,
                per_peer: config.max_requests_per_peer,
            },
            body_timeout: config.body_timeout,
            write_timeout: config.write_timeout,
            shutdown_timeout: config.shutdown_timeout,
            operator_hash: meshgate_store::TokenHash::of(config.operator_token.expose()),
            buffered_bytes: (config.max_buffered_bytes_per_peer, config.max_buffered_bytes),
            tls: None,
        }
    }
}

/// Serves `router` on `listener` until `shutdown` resolves, then lets open
/// connections finish their current request for at most
/// `settings.shutdown_timeout` and drops the rest.
pub(crate) async fn serve_connections(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    settings: Settings,
) {
    let mut http = hyper::server::conn::http1::Builder::new();
    http.half_close(true).timer(TokioTimer::new()).header_read_timeout(HEADER_READ_TIMEOUT).max_buf_size(READ_BUFFER);
    let mut reserve_http = hyper::server::conn::http1::Builder::new();
    reserve_http
        .timer(TokioTimer::new())
        .header_read_timeout(RESERVE_HEADER_READ_TIMEOUT)
        .keep_alive(false)
        .max_buf_size(READ_BUFFER);
    tracing::info!(
        max_connections = settings.caps.max_connections,
        per_address = settings.caps.per_address,
        health_reserve = settings.caps.health_reserve,
        requests_per_peer = ?settings.caps.per_peer_limit(),
        "connection limits"
    );
    let tracker = Tracker::new(settings.caps);
    let budget = Budget::new(settings.buffered_bytes.0, settings.buffered_bytes.1);
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    accept_failed(e).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let slot = match tracker.admit(remote.ip()) {
            Ok(slot) => slot,
            Err(why) => {
                // A TLS client would read the plain-text 503 as garbage.
                if settings.tls.is_none() {
                    refuse(&stream, why, remote);
                }
                continue;
            }
        };
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(error = %e, "TCP_NODELAY not set");
        }
        let stream = crate::tls::Stream::new(stream, settings.tls.as_deref());
        let io = TokioIo::new(JsonErrors::new(WriteDeadline::new(stream, settings.write_timeout)));
        let health_only = slot.health_only();
        let conn_slot = Arc::clone(&slot);
        let body_timeout = settings.body_timeout;
        let operator_hash = settings.operator_hash;
        let budget = Arc::clone(&budget);
        let router = router.clone();
        // Boxed: hyper keeps a slot the size of this future for the whole
        // life of every connection; a box keeps idle connections small.
        let service = hyper::service::service_fn(move |req: Request<Incoming>| {
            let request = conn_slot.begin_request();
            let limits = Limits { body_timeout, operator_hash, budget: Arc::clone(&budget) };
            Box::pin(handle(router.clone(), req, remote, request, limits))
        });
        // Boxed: the task then holds a pointer, not a (possibly duplicated)
        // copy of hyper's large connection state.
        let conn =
            Box::pin(graceful.watch((if health_only { &reserve_http } else { &http }).serve_connection(io, service)));
        tokio::spawn(async move {
            match slot.serve(conn).await {
                Some(Err(e)) => tracing::trace!(error = %e, %remote, "connection ended with an error"),
                Some(Ok(())) => {}
                None => tracing::debug!(%remote, "connection dropped (shed at the cap, or the shutdown deadline)"),
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(settings.shutdown_timeout, graceful.shutdown()).await.is_err() {
        tracing::warn!(open = tracker.open(), "shutdown deadline passed; dropping the remaining connections");
        tracker.stop_all();
        let until = tokio::time::Instant::now() + DROP_GRACE;
        while tracker.open() > 0 && tokio::time::Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// Turns a refused connection away: a best-effort 503 (never waiting on
/// the socket), then close.
fn refuse(stream: &TcpStream, why: Refused, remote: SocketAddr) {
    static ANSWER: LazyLock<Vec<u8>> = LazyLock::new(|| {
        ApiError::new(
            Class::Unavailable,
            "too_many_connections",
            "the gateway is at its connection limit; retry shortly",
        )
        .into_http1_bytes()
    });
    tracing::debug!(?why, %remote, "connection refused");
    let _ = stream.try_write(&ANSWER);
}

/// `response` with the console's security headers when `uri` is under `/ui`.
fn console_headers(uri: &axum::http::Uri, mut response: Response) -> Response {
    let path = uri.path();
    if path == "/ui" || path.starts_with("/ui/") {
        crate::console::fixed_headers(response.headers_mut());
    }
    response
}

/// One request: the checks that come before the router, then the router
/// with a deadline on the request body.
async fn handle(
    router: Router,
    req: Request<Incoming>,
    remote: SocketAddr,
    request: Arc<InFlight>,
    limits: Limits,
) -> Result<Response, Infallible> {
    let Limits { body_timeout, operator_hash, budget } = limits;
    let health = req.method() == Method::GET && matches!(req.uri().path(), "/health" | "/ready");
    if request.slot().health_only() && !health && !is_operator(&req, &operator_hash) {
        return Ok(closing(ApiError::new(
            Class::Unavailable,
            "too_many_connections",
            "the gateway is at its connection limit; only GET /health and the operator are answered on this \
             connection",
        )));
    }
    // Before the body is polled, so `Expect: 100-continue` gets no 100.
    let declared = declared_length(&req);
    if declared.is_some_and(|n| n > crate::input::BODY_LIMIT as u64) {
        return Ok(console_headers(req.uri(), closing(crate::input::body_too_large())));
    }
    if let Err(e) = crate::input::refuse_nul_in_uri(req.uri()) {
        return Ok(console_headers(req.uri(), e.into_response()));
    }
    let (mut parts, body) = req.into_parts();
    parts.extensions.insert(ConnectInfo(remote));
    parts.extensions.insert(Arc::clone(&request));
    if http_body::Body::is_end_stream(&body) {
        let answer = router.oneshot(Request::from_parts(parts, Body::new(body))).await;
        return Ok(holding(answer.unwrap_or_else(|never| match never {}), request, &budget));
    }
    let outcome = Arc::new(BodyOutcome::default());
    // A small body is not counted in the byte budget (see `crate::budget`).
    let budgeted = declared.is_none_or(|n| n > crate::budget::UNCOUNTED as u64);
    let body = Body::new(DeadlineBody {
        inner: body,
        deadline: tokio::time::Instant::now() + body_timeout,
        timer: None,
        outcome: Arc::clone(&outcome),
        budget: budgeted.then(|| (Arc::clone(&budget), Arc::clone(&request))),
        reservation: None,
    });
    let answer = router.oneshot(Request::from_parts(parts, body)).await.unwrap_or_else(|never| match never {});
    if let Some(over) = *outcome.over.lock().unwrap_or_else(|e| e.into_inner()) {
        return Ok(closing(over.error()));
    }
    if outcome.timed_out.load(Ordering::Acquire) {
        // Whatever the body's reader made of the error, the answer is 408.
        return Ok(closing(ApiError::new(
            Class::Timeout,
            "body_timeout",
            format!("the request body did not arrive within {} s", body_timeout.as_secs_f64()),
        )));
    }
    Ok(holding(answer, request, &budget))
}

/// Per-listener limits every request handler needs.
struct Limits {
    body_timeout: Duration,
    operator_hash: meshgate_store::TokenHash,
    budget: Arc<Budget>,
}

/// Whether the request carries the operator token (compared in constant
/// time, by hash).
fn is_operator(req: &Request<Incoming>, operator_hash: &meshgate_store::TokenHash) -> bool {
    use subtle::ConstantTimeEq;
    crate::auth::bearer_token(req.headers())
        .is_some_and(|token| bool::from(meshgate_store::TokenHash::of(token).0.ct_eq(&operator_hash.0)))
}

/// `answer` with `request` kept alive until its body is written or dropped:
/// until then the connection is busy and the request counts against its
/// peer ([`crate::conns`]), and a body of known size holds its bytes in
/// the `budget` (beyond it the answer is dropped for 429 / 503), unless it
/// is small ([`crate::budget::UNCOUNTED`]).
fn holding(answer: Response, request: Arc<InFlight>, budget: &Arc<Budget>) -> Response {
    let bytes = usize::try_from(http_body::Body::size_hint(answer.body()).lower()).unwrap_or(usize::MAX);
    let (answer, reservation) = if bytes <= crate::budget::UNCOUNTED {
        (answer, None)
    } else {
        match budget.reserve(request.peer().as_deref(), bytes) {
            Ok(reservation) => (answer, Some(reservation)),
            Err(over) => (over.error().into_response(), None),
        }
    };
    answer.map(|body| {
        Body::new(HeldBody { inner: body, pending: Bytes::new(), _request: request, _reservation: reservation })
    })
}

/// Largest frame a [`HeldBody`] hands to hyper. Hyper stops taking frames
/// while its write buffer is full (about 400 KiB), so the body, and with it
/// the reservation, lives until all but that much has been written.
const HELD_CHUNK: usize = 64 * 1024;

/// A response body that holds its request's [`InFlight`] guard and its
/// bytes' [`Reservation`], handing out its data in [`HELD_CHUNK`] slices.
struct HeldBody {
    inner: Body,
    /// The rest of the current data frame.
    pending: Bytes,
    _request: Arc<InFlight>,
    _reservation: Option<Reservation>,
}

impl http_body::Body for HeldBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        if self.pending.is_empty() {
            match ready!(Pin::new(&mut self.inner).poll_frame(cx)) {
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) => self.pending = data,
                    Err(other) => return Poll::Ready(Some(Ok(other))),
                },
                other => return Poll::Ready(other),
            }
        }
        let n = self.pending.len().min(HELD_CHUNK);
        Poll::Ready(Some(Ok(Frame::data(self.pending.split_to(n)))))
    }

    fn is_end_stream(&self) -> bool {
        self.pending.is_empty() && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        let inner = self.inner.size_hint();
        let pending = self.pending.len() as u64;
        let mut hint = SizeHint::new();
        hint.set_lower(inner.lower() + pending);
        if let Some(upper) = inner.upper() {
            hint.set_upper(upper + pending);
        }
        hint
    }
}

/// The request's `Content-Length`, if it has a valid one.
fn declared_length(req: &Request<Incoming>) -> Option<u64> {
    req.headers().get(header::CONTENT_LENGTH)?.to_str().ok()?.parse().ok()
}

/// `error` as a response that closes the connection (its request body may
/// be unread).
fn closing(error: ApiError) -> Response {
    let mut resp = error.into_response();
    resp.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    resp
}

/// A request body that fails once its deadline passes while the reader
/// still waits for it (so a body nobody reads never times out), and that
/// reserves its declared size (at most the body limit) in the byte budget
/// when first read, failing if the budget is spent. The timer is made only
/// when the body is not there yet: a body that came with its head (most)
/// never touches the timer wheel.
struct DeadlineBody {
    inner: Incoming,
    deadline: tokio::time::Instant,
    timer: Option<Pin<Box<Sleep>>>,
    outcome: Arc<BodyOutcome>,
    /// Until first read: the budget and the request (for its peer).
    budget: Option<(Arc<Budget>, Arc<InFlight>)>,
    reservation: Option<Reservation>,
}

/// What went wrong with a request body, for the answer.
#[derive(Default)]
struct BodyOutcome {
    timed_out: AtomicBool,
    over: std::sync::Mutex<Option<Over>>,
}

impl http_body::Body for DeadlineBody {
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        if let Some((budget, request)) = self.budget.take() {
            let limit = crate::input::BODY_LIMIT as u64;
            let declared = self.inner.size_hint().upper().unwrap_or(limit).min(limit);
            match budget.reserve(request.peer().as_deref(), usize::try_from(declared).unwrap_or(usize::MAX)) {
                Ok(reservation) => self.reservation = Some(reservation),
                Err(refused) => {
                    *self.outcome.over.lock().unwrap_or_else(|e| e.into_inner()) = Some(refused);
                    return Poll::Ready(Some(Err("the byte budget is spent".into())));
                }
            }
        }
        match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(frame) => Poll::Ready(frame.map(|f| f.map_err(Into::into))),
            Poll::Pending => {
                let deadline = self.deadline;
                let timer = self.timer.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
                ready!(timer.as_mut().poll(cx));
                self.outcome.timed_out.store(true, Ordering::Release);
                Poll::Ready(Some(Err("the request body did not arrive in time".into())))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Per-connection accept errors (the client left first) are skipped; the
/// others (e.g. out of file descriptors) are logged and slow the loop down
/// instead of spinning.
async fn accept_failed(e: std::io::Error) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(e.kind(), ConnectionAborted | ConnectionRefused | ConnectionReset) {
        return;
    }
    tracing::error!(error = %e, "accept failed; retrying in 1 s");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    use axum::response::sse::{Event, KeepAlive, Sse};
    use axum::routing::get;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    /// Set when the response stream it lives in is dropped.
    struct DropFlag(Arc<AtomicBool>);

    impl Drop for DropFlag {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    #[tokio::test]
    async fn a_stream_whose_client_left_ends_at_the_next_write() {
        let dropped = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&dropped);
        let router = Router::new().route(
            "/stream",
            get(move || {
                let guard = DropFlag(Arc::clone(&flag));
                let events = futures_util::stream::pending::<Result<Event, Infallible>>();
                let events = futures_util::StreamExt::map(events, move |e| {
                    let _held = &guard;
                    e
                });
                async move { Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_millis(50))) }
            }),
        );
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let settings = Settings::new(&Config::new(crate::OperatorToken::new("unused")), None);
        let server = tokio::spawn(serve_connections(
            listener,
            router,
            async {
                let _ = stopped.await;
            },
            settings,
        ));

        let mut client = tokio::net::TcpStream::connect(addr).await.unwrap();
        client.write_all(b"GET /stream HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
        let mut head = [0u8; 512];
        let n = client.read(&mut head).await.unwrap();
        assert!(head[..n].starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&head[..n]));
        assert!(!dropped.load(Ordering::SeqCst));
        drop(client);

        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while !dropped.load(Ordering::SeqCst) {
            assert!(tokio::time::Instant::now() < deadline, "the stream outlived its client");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        stop.send(()).unwrap();
        tokio::time::timeout(Duration::from_secs(5), server).await.unwrap().unwrap();
    }
}
