//! A request id for every request routed: the caller's `X-Request-Id` when
//! it is sane (1 to [`MAX_LEN`] characters from `A-Z a-z 0-9 - _ . : /`),
//! else a new one: a random per-process prefix and a counter (unique
//! across replicas and restarts, no system call per request). It names the request's log span (`request_id`, with
//! the method and the path, never the query, headers or body) and is
//! echoed in the response's `X-Request-Id`, so an operator can match a
//! client's report to the gateway's log lines.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::LazyLock;
use std::time::Instant;

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

/// The header carrying the id.
pub const HEADER: &str = "x-request-id";

/// Longest caller-supplied id kept.
pub const MAX_LEN: usize = 128;

/// Whether `id` may be used as given (it ends up in logs and a header).
pub fn is_sane(id: &str) -> bool {
    (1..=MAX_LEN).contains(&id.len())
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':' | b'/'))
}

/// A new id: `<8 random hex digits>-<counter>`.
fn generate() -> String {
    static PREFIX: LazyLock<String> = LazyLock::new(|| uuid::Uuid::new_v4().simple().to_string()[..8].to_owned());
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!("{}-{}", *PREFIX, NEXT.fetch_add(1, Ordering::Relaxed))
}

/// The middleware: picks the id, runs the request in its span, echoes it.
pub async fn assign(req: Request, next: Next) -> Response {
    let given = req.headers().get(HEADER).and_then(|v| v.to_str().ok()).filter(|id| is_sane(id));
    let id = given.map_or_else(generate, str::to_owned);
    let span = tracing::info_span!("request", request_id = %id, method = %req.method(), path = %req.uri().path());
    let started = Instant::now();
    let mut response = next.run(req).instrument(span.clone()).await;
    span.in_scope(|| {
        tracing::debug!(status = response.status().as_u16(), micros = started.elapsed().as_micros() as u64, "answered")
    });
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(HEADER, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::is_sane;

    #[test]
    fn only_short_plain_ids_are_kept() {
        assert!(is_sane("abc-123_X.y:z/1"));
        assert!(is_sane(&"a".repeat(128)));
        for bad in ["", &"a".repeat(129), "a b", "a\nb", "ä", "a\"b", "Bearer%20x", "{}"] {
            assert!(!is_sane(bad), "{bad:?}");
        }
        let (a, b) = (super::generate(), super::generate());
        assert!(is_sane(&a) && a != b && a.split('-').next() == b.split('-').next(), "{a} {b}");
    }
}
