//! `/ui`: the operator console, server-rendered HTML over the gateway's own API.
//!
//! What this module owns, and why:
//! - **One set of rules.** Pages do not touch the store: every read is a
//!   request to the gateway's own router (tower `oneshot`, as `/mcp` does)
//!   with the session's token, so auth, privacy scoping and validation are
//!   exactly the API's. Inbox reads pass `peek=true`: looking is no delivery.
//! - **Sessions** ([`session`]): a login form exchanges a token for an
//!   HttpOnly, SameSite=Strict cookie; the token stays server-side.
//! - **CSRF** ([`csrf`]): every POST form carries the session's CSRF token;
//!   a cross-site `Origin` or `Sec-Fetch-Site` is refused.
//! - **Headers**: every `/ui` response has a strict CSP (no inline script
//!   or style), `X-Frame-Options: DENY`, `Referrer-Policy: no-referrer`;
//!   pages are `no-store`, assets are cached for a year under a URL that
//!   carries their content hash.
//!
//! Contract for browser tests (stable; change only together with them):
//! - login page `/ui/login`: form `#login-form` (`data-testid="login-form"`),
//!   password field `#token` (`name="token"`, `data-testid="login-token"`),
//!   submit `data-testid="login-submit"`, error text `data-testid="login-error"`.
//! - every signed-in page: nav links `data-testid="nav-overview"` (and, for
//!   a peer session, `nav-me`), the signed-in identity `data-testid="whoami"`,
//!   logout button `data-testid="logout"` (a POST form `#logout-form`).
//! - overview `/ui`: peer table `data-testid="peers"`, one row per peer
//!   `tr[data-peer=NAME]` with cells `data-testid="online"` (text `online`
//!   or `offline`), `last-seen`, `unread`, `owed`; the live list
//!   `#live` (`data-testid="live-list"`, `data-after` = newest id shown),
//!   holding the rows in `ol[data-testid="dm-list"]` and a polite status line
//!   `#live-status` (`Live.` once the event stream is open).
//! - DM rows everywhere: `li[data-message-id=ID]` (`data-testid="dm"`),
//!   with `.from`, `.to`, `.kind`, `.preview`; a live row added by app.js
//!   has the same shape.
//! - peer page `/ui/peers/NAME?tab=inbox|outbox`: tabs
//!   `data-testid="tab-inbox"` / `tab-outbox`, list `data-testid="dm-list"`,
//!   paging links `data-testid="page-first"` / `page-next` / `page-latest`.
//! - thread `/ui/threads/UUID`, message `/ui/messages/ID` (ladder
//!   `data-testid="ladder"`, body `data-testid="body"`, `data-testid="show-all"`;
//!   for its recipient `message-reply`, `mark-read-form`, `mark-read`).
//! - error pages: `data-testid="error"` with `data-code=<stable code>`.

mod api;
mod assets;
pub mod csrf;
mod events;
mod layout;
mod pages;
pub mod session;
mod throttle;

use std::sync::Arc;

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{any, get, post};
use axum::Router;

pub use session::{Sessions, UiConfig, Who};

use crate::error::ApiError;
use crate::state::AppState;

/// Largest form body the console reads (login, logout, ...).
pub const FORM_MAX: usize = 16 * 1024;

/// What the console's handlers share.
pub struct Console {
    state: AppState,
    api: Router,
    sessions: Arc<Sessions>,
    login_failures: throttle::LoginFailures,
}

impl Console {
    /// The sessions of this replica.
    pub fn sessions(&self) -> &Sessions {
        &self.sessions
    }

    /// Whether pages are served over TLS (the cookie is `Secure` then).
    fn tls(&self) -> bool {
        self.state.config().tls.is_some()
    }
}

/// The `/ui` routes over `api` (the gateway's router without `/ui`).
pub fn router(state: AppState, api: Router) -> Router {
    let sessions = Arc::new(Sessions::new(state.config().ui.clone()));
    sessions.watch_credentials(&state);
    let login_failures = throttle::LoginFailures::new(&state.config().ui);
    let console = Arc::new(Console { state, api, sessions, login_failures });
    Router::new()
        .route("/ui", get(pages::overview::page))
        .route("/ui/", get(|| async { Redirect::to("/ui") }))
        .route("/ui/login", get(pages::login::form).post(pages::login::submit))
        .route("/ui/logout", post(pages::login::logout))
        .route("/ui/peers/{name}", get(pages::peer::page))
        .route("/ui/threads/{uuid}", get(pages::thread::page))
        .route("/ui/messages/{id}", get(pages::message::page))
        .route("/ui/messages/{id}/read", post(pages::message::mark_read))
        .route("/ui/events", get(events::stream))
        .merge(pages::actions::routes())
        .route("/ui/assets/{version}/{file}", get(assets::serve))
        .route("/ui/{*rest}", any(not_found))
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn(utf8_path))
        .layer(axum::middleware::from_fn_with_state(Arc::clone(&console), clear_tossed_cookies))
        .layer(axum::middleware::from_fn_with_state(Arc::clone(&console), security_headers))
        .with_state(console)
}

async fn not_found() -> Response {
    layout::error_page(None, &ApiError::not_found("no_page", "there is no such console page"))
}

async fn method_not_allowed() -> Response {
    let e = ApiError::new(
        crate::error::Class::MethodNotAllowed,
        "method_not_allowed",
        "this page does not take that method",
    );
    layout::error_page(None, &e)
}

/// A `/ui` path that does not percent-decode to UTF-8 gets the console's
/// 400 page (not the path extractor's plain-text refusal).
async fn utf8_path(req: Request, next: Next) -> Response {
    if std::str::from_utf8(&crate::input::percent_decode_bytes(req.uri().path())).is_err() {
        return layout::error_page(None, &ApiError::bad_request("invalid_path", "the URL's path is not valid UTF-8"));
    }
    next.run(req).await
}

/// Headers every `/ui` response carries; under TLS also
/// `Strict-Transport-Security` (a year, this host only).
async fn security_headers(State(console): Ui, req: Request, next: Next) -> Response {
    let mut response = next.run(req).await;
    let h = response.headers_mut();
    fixed_headers(h);
    if console.tls() {
        h.insert(header::STRICT_TRANSPORT_SECURITY, HeaderValue::from_static("max-age=31536000"));
    }
    response
}

/// The console's fixed security headers, and `no-store` unless a cache
/// policy is set: for `/ui` answers, also those refused before routing
/// (an encoded NUL, a body over the limit).
pub(crate) fn fixed_headers(h: &mut axum::http::HeaderMap) {
    let fixed: [(header::HeaderName, &str); 5] = [
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; \
             frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
        ),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::HeaderName::from_static("cross-origin-opener-policy"), "same-origin"),
    ];
    for (name, value) in fixed {
        h.insert(name, HeaderValue::from_static(value));
    }
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
}

/// A signed-in request: its live session. Without one, a page answers with
/// a redirect to the login page.
pub struct SignedIn(pub Arc<session::Session>);

impl FromRequestParts<Arc<Console>> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, console: &Arc<Console>) -> Result<Self, Self::Rejection> {
        match console.session_of(parts) {
            Some(s) => {
                // Counts as an authenticated request of its peer (connection
                // caps, requests in flight), as a bearer token would.
                if let Err(e) = crate::conns::mark_authenticated(&parts.extensions, s.peer()) {
                    return Err(layout::error_page(Some(&s), &e));
                }
                Ok(SignedIn(s))
            }
            None => Err(Redirect::to("/ui/login").into_response()),
        }
    }
}

impl Console {
    /// The live session named by the request's cookie.
    fn session_of(&self, parts: &Parts) -> Option<Arc<session::Session>> {
        let id = cookie(&parts.headers, session::COOKIE)?;
        self.sessions.get(id)
    }

    /// The `Set-Cookie` value carrying session id `id`.
    fn session_cookie(&self, id: &str) -> HeaderValue {
        let secure = if self.tls() { "; Secure" } else { "" };
        HeaderValue::from_str(&format!("{}={id}; Path=/ui; HttpOnly; SameSite=Strict{secure}", session::COOKIE))
            .expect("a session id is a valid header value")
    }

    /// The `Set-Cookie` value that removes the session cookie.
    fn cleared_cookie(&self) -> HeaderValue {
        self.cleared_cookie_at("/ui")
    }

    /// The `Set-Cookie` value that removes a session cookie of `path`.
    fn cleared_cookie_at(&self, path: &str) -> HeaderValue {
        let secure = if self.tls() { "; Secure" } else { "" };
        let v = format!("{}=; Path={path}; HttpOnly; SameSite=Strict; Max-Age=0{secure}", session::COOKIE);
        HeaderValue::from_str(&v).unwrap_or_else(|_| HeaderValue::from_static("meshgate_session=; Path=/ui; Max-Age=0"))
    }
}

/// The value of cookie `name` in `headers`; `None` when it is missing or
/// sent more than once (a second one was planted, "cookie tossing", by a
/// page of the same host on another port or path: which one is ours
/// cannot be told, so the request is signed out).
fn cookie<'a>(headers: &'a axum::http::HeaderMap, name: &'a str) -> Option<&'a str> {
    let mut values = cookies(headers, name);
    let first = values.next()?;
    values.next().is_none().then_some(first)
}

/// Every value of cookie `name` in `headers`, in order.
fn cookies<'a>(headers: &'a axum::http::HeaderMap, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .filter(move |(k, _)| *k == name)
        .map(|(_, v)| v.trim())
}

/// A request carrying the session cookie more than once is signed out
/// ([`cookie`]); its answer also removes the cookie on `/ui` and on every
/// path a planted one could have been set for and sent with this request
/// (each prefix of the request's path), before any cookie the page sets.
async fn clear_tossed_cookies(State(console): Ui, req: Request, next: Next) -> Response {
    let paths = (cookies(req.headers(), session::COOKIE).count() > 1).then(|| cookie_paths(req.uri().path()));
    let mut response = next.run(req).await;
    if let Some(paths) = paths {
        let h = response.headers_mut();
        let set: Vec<HeaderValue> = h.get_all(header::SET_COOKIE).iter().cloned().collect();
        h.remove(header::SET_COOKIE);
        for path in paths {
            h.append(header::SET_COOKIE, console.cleared_cookie_at(&path));
        }
        for v in set {
            h.append(header::SET_COOKIE, v);
        }
    }
    response
}

/// `/ui` and every prefix of `path` below it that a cookie path could be
/// (`/ui/a`, `/ui/a/`, `/ui/a/b`, ...), at most 8; only `/ui` when the path
/// holds anything but letters, digits and `/-._~%` (a `;` would add
/// cookie attributes).
fn cookie_paths(path: &str) -> Vec<String> {
    let mut paths = vec!["/ui".to_owned()];
    let plain = path.chars().all(|c| c.is_ascii_alphanumeric() || "/-._~%".contains(c));
    if let Some(rest) = path.strip_prefix("/ui/").filter(|_| plain) {
        let mut prefix = "/ui".to_owned();
        for part in rest.split('/').filter(|p| !p.is_empty()) {
            prefix.push('/');
            paths.push(prefix.clone());
            prefix.push_str(part);
            paths.push(prefix.clone());
        }
    }
    paths.truncate(8);
    paths
}

/// A 303 to `to` (after a POST).
fn see_other(to: &str) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, HeaderValue::from_str(to).expect("a local path"))]).into_response()
}

/// State for handlers that need it.
type Ui = State<Arc<Console>>;

#[cfg(test)]
mod tests {
    use super::*;

    async fn console(tls: bool) -> (Console, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let store = meshgate_store_sqlite::SqliteStore::open(&dir.path().join("m.db"), Default::default()).unwrap();
        let mut config = crate::Config::new(crate::OperatorToken::new("op"));
        if tls {
            config.tls = Some(crate::TlsSettings::new(dir.path().join("c.pem"), dir.path().join("k.pem")));
        }
        let state = AppState::new(Arc::new(store), config);
        let sessions = Arc::new(Sessions::new(UiConfig::default()));
        let login_failures = throttle::LoginFailures::new(&UiConfig::default());
        (Console { state, api: Router::new(), sessions, login_failures }, dir)
    }

    #[tokio::test]
    async fn hsts_is_sent_exactly_when_serving_tls() {
        use tower::ServiceExt;
        for tls in [false, true] {
            let (c, _dir) = console(tls).await;
            let app = router(c.state.clone(), Router::new());
            let req = axum::http::Request::get("/ui/login").body(axum::body::Body::empty()).unwrap();
            let resp = app.oneshot(req).await.unwrap();
            assert_eq!(resp.status(), StatusCode::OK);
            let hsts = resp.headers().get(header::STRICT_TRANSPORT_SECURITY);
            assert_eq!(hsts.map(|v| v.to_str().unwrap()), tls.then_some("max-age=31536000"), "tls: {tls}");
            assert!(resp.headers().contains_key(header::CONTENT_SECURITY_POLICY));
        }
    }

    #[tokio::test]
    async fn the_session_cookie_is_secure_exactly_when_serving_tls() {
        let (plain, _d1) = console(false).await;
        let (tls, _d2) = console(true).await;
        for (c, secure) in [(&plain, false), (&tls, true)] {
            for v in [c.session_cookie("abc"), c.cleared_cookie()] {
                let v = v.to_str().unwrap();
                assert!(v.contains("HttpOnly") && v.contains("SameSite=Strict") && v.contains("Path=/ui"), "{v}");
                assert_eq!(v.contains("; Secure"), secure, "{v}");
            }
        }
    }
}
