//! The page shell (head, navigation, logout), error pages, and the pieces
//! every page shares (a DM row, a cut body). maud escapes every value.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::{html, Markup, DOCTYPE};
use meshgate_proto::Message;

use super::api::{enc, Failure};
use super::assets;
use super::session::{Session, Who};
use crate::error::ApiError;

/// Characters of a body shown in a list row.
pub(crate) const PREVIEW_CHARS: usize = 200;

/// A complete page: `title`, the signed-in `session` (navigation and
/// logout), and `main`.
pub(crate) fn shell(title: &str, session: Option<&Session>, main: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="referrer" content="no-referrer";
                title { (title) " · meshgate" }
                link rel="icon" href=(assets::url("icon.svg")) type="image/svg+xml";
                link rel="stylesheet" href=(assets::url("style.css"));
                script src=(assets::url("app.js")) defer {}
            }
            body {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    a.brand href="/ui" { "meshgate" }
                    @if let Some(s) = session {
                        nav aria-label="Main" {
                            a href="/ui" data-testid="nav-overview" { "Overview" }
                            @if let Some(me) = s.peer() {
                                a href={ "/ui/peers/" (enc(me)) } data-testid="nav-me" { "My messages" }
                            }
                            a href="/ui/compose" data-testid="nav-compose" { "Compose" }
                            a href="/ui/search" data-testid="nav-search" { "Search" }
                            @if s.peer().is_none() {
                                a href="/ui/aliases" data-testid="nav-aliases" { "Aliases" }
                                a href="/ui/tokens" data-testid="nav-tokens" { "Tokens" }
                            }
                        }
                        span.who data-testid="whoami" {
                            @match &s.who {
                                Who::Operator => "operator",
                                Who::Peer { name, .. } => { "peer " (name) },
                            }
                        }
                        form #logout-form method="post" action="/ui/logout" {
                            input type="hidden" name="csrf" value=(s.csrf());
                            button type="submit" data-testid="logout" { "Log out" }
                        }
                    }
                }
                main #main tabindex="-1" { (main) }
            }
        }
    }
}

/// `markup` as an HTML response with `status`. Peer text on a page (bodies,
/// thread names, task ids) may carry bidi overrides, zero-width and control
/// characters that reorder or hide what is around them; the page's own text
/// has none, so every such character of the page is shown as its `\u{..}`
/// escape here, once for all pages.
pub(crate) fn respond(status: StatusCode, markup: Markup) -> Response {
    let html = markup.into_string();
    let html = match meshgate_proto::framing::show_hidden(&html) {
        std::borrow::Cow::Borrowed(_) => html,
        std::borrow::Cow::Owned(shown) => shown,
    };
    let mut r = (status, html).into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    r
}

/// The error page of a console refusal (status from [`ApiError::status`]).
pub(crate) fn error_page(session: Option<&Session>, e: &ApiError) -> Response {
    failure_page(session, &Failure::from(e.clone()))
}

/// The error page of a refused read (the API's own status and code).
pub(crate) fn failure_page(session: Option<&Session>, f: &Failure) -> Response {
    let signed_in = session.filter(|s| !s.is_ended());
    let title = f.status.canonical_reason().unwrap_or("Error");
    let main = html! {
        section.error data-testid="error" data-code=(f.code) {
            h1 { (f.status.as_u16()) " " (title) }
            p { (f.detail) }
            @if signed_in.is_none() {
                p { a href="/ui/login" { "Log in" } }
            } @else {
                p { a href="/ui" { "Back to the overview" } }
            }
        }
    };
    respond(f.status, shell(title, signed_in, main))
}

/// The first `max` characters of `text`, and whether it was cut.
pub(crate) fn cut(text: &str, max: usize) -> (&str, bool) {
    match text.char_indices().nth(max) {
        Some((at, _)) => (&text[..at], true),
        None => (text, false),
    }
}

/// One DM as a list row (app.js builds the same shape for live rows).
pub(crate) fn dm_row(m: &Message) -> Markup {
    let (preview, was_cut) = cut(&m.content, PREVIEW_CHARS);
    html! {
        li.dm data-message-id=(m.id) data-testid="dm" {
            a.head href={ "/ui/messages/" (m.id) } {
                span.from { (m.from_node) }
                " → "
                span.to { (m.to_node) }
                " "
                span.kind { (m.kind.as_str()) }
                " "
                time datetime=(m.created_at) { (short_time(&m.created_at)) }
            }
            p.preview { (preview) @if was_cut { "…" } }
        }
    }
}

/// A list of DM rows (or a note that there are none).
pub(crate) fn dm_list(messages: &[Message], testid: &str) -> Markup {
    html! {
        @if messages.is_empty() {
            p.empty { "No messages." }
        }
        ol.dms data-testid=(testid) {
            @for m in messages { (dm_row(m)) }
        }
    }
}

/// `2026-12-05T23:21:41.123456+00:00` as `2026-12-05 23:21:41`.
pub(crate) fn short_time(ts: &str) -> String {
    let head = ts.get(..19).unwrap_or(ts);
    head.replacen('T', " ", 1)
}
