//! A request id for every request routed: the caller's `X-Request-Id` when
//! it is sane (1 to [`MAX_LEN`] characters from `A-Z a-z 0-9 - _ . : /`)
//! and holds no credential (a shape the guard knows, meshgate's `mgp_`/`mgo_`
//! tokens among them, or the request's own bearer token), else a new one: a
//! random per-process prefix and a counter (unique across replicas and
//! restarts, no system call per request). It names the request's log span
//! (`request_id`, with the method and the path, never the query, headers or
//! body) and is echoed in the response's `X-Request-Id`, so an operator can
//! match a client's report to the gateway's log lines. The logged path is
//! what the caller sent, so it is percent-decoded, redacted like an error
//! detail, stripped of control and bidi characters and cut to
//! [`PATH_LOG_MAX`] characters ([`loggable_path`]).

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

/// Most characters of a path the request log records.
pub const PATH_LOG_MAX: usize = 256;

/// Whether a caller's id may be kept: sane, and no credential in it.
fn acceptable(id: &str, bearer: Option<&str>) -> bool {
    is_sane(id)
        && !id.contains("mgp_")
        && !id.contains("mgo_")
        && matches!(crate::error::redacted(id, bearer), std::borrow::Cow::Borrowed(_))
}

/// The request path as logged: percent-decoded (lossy UTF-8), every
/// credential shape and the request's own `bearer` token redacted, control
/// characters (C0, DEL, C1) and bidi controls (U+202A..U+202E,
/// U+2066..U+2069) written as `\u{..}` escapes, cut to [`PATH_LOG_MAX`]
/// characters (then `…`). A log reader sees what was asked for, never a
/// token pasted into a URL or text that rewrites the log line.
pub fn loggable_path(path: &str, bearer: Option<&str>) -> String {
    let decoded = percent_decode(path);
    let clean = crate::error::redacted(&decoded, bearer);
    let mut out = String::with_capacity(clean.len().min(PATH_LOG_MAX * 2));
    for (n, c) in clean.chars().enumerate() {
        if n == PATH_LOG_MAX {
            out.push('…');
            break;
        }
        if c.is_control() || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}') {
            out.push_str(&c.escape_unicode().to_string());
        } else {
            out.push(c);
        }
    }
    out
}

/// `%XX` sequences decoded; anything else (a lone `%`) kept; invalid UTF-8
/// replaced by U+FFFD.
fn percent_decode(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1).copied().and_then(hex), bytes.get(i + 2).copied().and_then(hex)) {
            (b'%', Some(hi), Some(lo)) => {
                out.push((hi * 16 + lo) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A new id: `<8 random hex digits>-<counter>`.
fn generate() -> String {
    static PREFIX: LazyLock<String> = LazyLock::new(|| uuid::Uuid::new_v4().simple().to_string()[..8].to_owned());
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!("{}-{}", *PREFIX, NEXT.fetch_add(1, Ordering::Relaxed))
}

/// A request's id and its span, from the request head to the response.
pub(crate) struct Assigned {
    id: String,
    span: tracing::Span,
    /// When the request started, if the "answered" line can be logged.
    started: Option<Instant>,
}

impl Assigned {
    /// Picks the id of `req` and opens its span.
    pub(crate) fn new(req: &Request) -> Self {
        let bearer = crate::auth::bearer_token(req.headers());
        let given = req.headers().get(HEADER).and_then(|v| v.to_str().ok()).filter(|id| acceptable(id, bearer));
        let id = given.map_or_else(generate, str::to_owned);
        let span =
            tracing::info_span!("request", request_id = %id, method = %req.method(), path = tracing::field::Empty);
        // Decoding, redacting and escaping the path costs a scan per request:
        // only when the span is logged at all.
        if !span.is_disabled() {
            span.record("path", tracing::field::display(loggable_path(req.uri().path(), bearer)));
        }
        // The clock is read only when the "answered" line can be logged
        // (asked in the span, for filters that name it).
        let started = span.in_scope(|| tracing::enabled!(tracing::Level::DEBUG)).then(Instant::now);
        Assigned { id, span, started }
    }

    /// The span the request runs in.
    pub(crate) fn span(&self) -> &tracing::Span {
        &self.span
    }

    /// Logs the answer (debug) and echoes the id in `response`.
    pub(crate) fn answered(self, response: &mut Response) {
        if let Some(started) = self.started {
            self.span.in_scope(|| {
                let micros = started.elapsed().as_micros() as u64;
                tracing::debug!(status = response.status().as_u16(), micros, "answered")
            });
        }
        // The id's own buffer becomes the header value (no copy).
        if let Ok(value) = HeaderValue::try_from(self.id) {
            response.headers_mut().insert(HEADER, value);
        }
    }
}

/// The middleware: picks the id, runs the request in its span, echoes it
/// (the router uses the same steps through the `around` layer).
pub async fn assign(req: Request, next: Next) -> Response {
    let assigned = Assigned::new(&req);
    let mut response = next.run(req).instrument(assigned.span().clone()).await;
    assigned.answered(&mut response);
    response
}

#[cfg(test)]
mod tests {
    use super::{acceptable, is_sane, loggable_path, PATH_LOG_MAX};

    #[test]
    fn ids_holding_a_credential_are_not_kept() {
        let token = format!("mgp_{}", "A".repeat(43));
        assert!(!acceptable(&token, None));
        assert!(!acceptable("mgo_short", None));
        assert!(!acceptable("ghp_0123456789abcdefghijklmnopqrstuvwxyzAB", None), "a GitHub token shape");
        assert!(!acceptable("operator-secret-0123", Some("operator-secret-0123")));
        assert!(!acceptable("trace-operator-secret-0123", Some("operator-secret-0123")));
        assert!(acceptable("client-trace:42/a.b_c", Some("operator-secret-0123")));
    }

    #[test]
    fn logged_paths_are_decoded_redacted_escaped_and_cut() {
        let token = format!("mgp_{}", "b".repeat(43));
        let logged = loggable_path(&format!("/peers/{token}/token"), None);
        assert!(!logged.contains(&token) && logged.starts_with("/peers/[REDACTED:"), "{logged}");
        let encoded = token.replace('_', "%5F");
        assert!(!loggable_path(&format!("/peers/{encoded}"), None).contains(&token));
        assert!(!loggable_path("/peers/my-secret-value-42", Some("my-secret-value-42")).contains("my-secret-value-42"));
        assert_eq!(
            loggable_path("/peers/a%0Ab%1B%E2%80%AEc\u{2067}", None),
            "/peers/a\\u{a}b\\u{1b}\\u{202e}c\\u{2067}"
        );
        assert_eq!(loggable_path("/peers/%ff%C2%85x%", None), "/peers/\u{FFFD}\\u{85}x%");
        let long = loggable_path(&format!("/{}", "a".repeat(1000)), None);
        assert_eq!(long.chars().count(), PATH_LOG_MAX + 1);
        assert!(long.ends_with('…'));
    }

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
