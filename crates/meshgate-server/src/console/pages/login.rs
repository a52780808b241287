//! `/ui/login` (the token form) and `/ui/logout`.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts, Request};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;

use super::super::layout::{error_page, respond, shell};
use super::super::session::Who;
use super::super::{csrf, see_other, SignedIn, Ui};
use crate::auth::{Auth, Caller};
use crate::error::{ApiError, Class};

/// `GET /ui/login`: the form (signed in already: the overview).
pub(crate) async fn form(console: Ui, req: Request) -> Response {
    let (parts, _) = req.into_parts();
    if console.session_of(&parts).is_some() {
        return Redirect::to("/ui").into_response();
    }
    login_page(StatusCode::OK, None)
}

fn login_page(status: StatusCode, error: Option<&str>) -> Response {
    let main = html! {
        section.login {
            h1 { "Log in to meshgate" }
            p {
                "Use the operator token to see the whole mesh, or a peer's token to see that peer's own messages. "
                "The token stays on the gateway; your browser gets a session cookie."
            }
            form #login-form method="post" action="/ui/login" data-testid="login-form" {
                label for="token" { "Token" }
                input #token type="password" name="token" autocomplete="off" required
                    spellcheck="false" autocapitalize="off" data-testid="login-token"
                    aria-describedby=[error.map(|_| "login-error")];
                @if let Some(e) = error {
                    p #login-error.error role="alert" data-testid="login-error" { (e) }
                }
                button type="submit" data-testid="login-submit" { "Log in" }
            }
        }
    };
    respond(status, shell("Log in", None, main))
}

/// `POST /ui/login`: checks the token as any API request would (including
/// the auth-failure limiter), then starts a session.
pub(crate) async fn submit(console: Ui, req: Request) -> Response {
    let (mut parts, body) = req.into_parts();
    let form = match csrf::read_form(&parts.headers, body).await {
        Ok(f) => f,
        Err(e) => return error_page(None, &e),
    };
    let token = form.get("token").unwrap_or_default().trim();
    if token.is_empty() {
        return login_page(StatusCode::UNAUTHORIZED, Some("Enter a token."));
    }
    let ip = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|ConnectInfo(a)| a.ip());
    if let Some(wait) = ip.and_then(|ip| console.login_failures.wait(ip)) {
        let text = "Too many failed logins from this address; wait a minute.";
        let mut r = login_page(StatusCode::TOO_MANY_REQUESTS, Some(text));
        r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(wait.as_secs().max(1)));
        return r;
    }
    // The token as a bearer header of this very request: the one
    // authentication path of the gateway decides.
    let old = console.session_of(&parts);
    parts.headers.remove(header::COOKIE);
    match HeaderValue::from_str(&format!("Bearer {token}")) {
        Ok(v) => parts.headers.insert(header::AUTHORIZATION, v),
        Err(_) => {
            if let Some(ip) = ip {
                console.login_failures.failed(ip);
            }
            return login_page(StatusCode::UNAUTHORIZED, Some("That token is not valid."));
        }
    };
    let auth = match Auth::from_request_parts(&mut parts, &console.state).await {
        Ok(auth) => auth,
        Err(e) => {
            // A bad token (or one the gateway's limiter already refuses).
            let bad = e.class == Class::Unauthorized || e.code == "rate_limited";
            if let (Some(ip), true) = (ip, bad) {
                console.login_failures.failed(ip);
            }
            return refused(&e);
        }
    };
    let who = match &auth.caller {
        Caller::Operator => Who::Operator,
        Caller::Peer { name, generation } => Who::Peer { name: name.clone(), generation: *generation },
    };
    // A browser logging in again leaves no second session behind.
    if let Some(old) = old {
        console.sessions.end(&old);
    }
    let Ok((id, session)) = console.sessions.create(auth.token(), who) else {
        let text = "The console holds as many sessions as it can, all of other peers; try again later.";
        return login_page(StatusCode::SERVICE_UNAVAILABLE, Some(text));
    };
    tracing::info!(who = ?session.who, "console: signed in");
    let mut r = see_other("/ui");
    r.headers_mut().insert(header::SET_COOKIE, console.session_cookie(&id));
    r
}

/// The login form again, saying why the token was refused (never echoing it).
fn refused(e: &ApiError) -> Response {
    let text = match e.code {
        "rate_limited" => "Too many failed logins from this address; wait a minute.",
        "peer_disabled" => "That peer is disabled.",
        "too_many_requests" => "This peer has too many requests in flight; try again shortly.",
        _ => "Unknown, revoked or rotated token.",
    };
    login_page(e.status(), Some(text))
}

/// `POST /ui/logout` (CSRF-checked): ends the session.
pub(crate) async fn logout(console: Ui, SignedIn(session): SignedIn, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    if let Err(e) = csrf::checked_form(&session, &parts.headers, body).await {
        return error_page(Some(&session), &e);
    }
    console.sessions.end(&session);
    let mut r = see_other("/ui/login");
    r.headers_mut().insert(header::SET_COOKIE, console.cleared_cookie());
    r
}
