//! What the action pages (compose, aliases, tokens, search) share: their
//! routes, the checked form of a POST, and the operator-only rule.
//!
//! Contract for browser tests (as in the console's, `console/mod.rs`):
//! - nav links `data-testid="nav-compose"`, `nav-search`, and for the
//!   operator `nav-aliases`, `nav-tokens`.
//! - compose `/ui/compose`: `compose-form`, fields `compose-to`,
//!   `compose-kind`, `compose-thread`, `compose-content`, button
//!   `compose-send`, the sender note `compose-as`, a refusal `compose-error`
//!   (`data-code`); a send answers 303 to the message page.
//! - aliases `/ui/aliases`: table `aliases` with rows `tr[data-alias=A]`
//!   (cell `canonical`, button `alias-delete`), `alias-form` with
//!   `alias-name`, `alias-canonical`, `alias-add`, a refusal `alias-error`.
//! - tokens `/ui/tokens`: table `tokens`, rows `tr[data-peer=NAME]` with
//!   links `token-rotate` / `token-revoke`; confirmation page `confirm-text`,
//!   `confirm-form`, `confirm`, `cancel`; result `result`, and after a
//!   rotation the field `new-token` (its `value`).
//! - search `/ui/search`: `search-form` with `search-q`, `search-from`,
//!   `search-to`, `search-kind`, `search-thread`, `search-since`,
//!   `search-submit`; `search-count`, hits `search-hits` of
//!   `li[data-message-id]` with `.snippet` and its `mark`s; `search-error`.
//! - operator-only pages answer a peer session with the error page, code
//!   `operator_only` (403).

use std::sync::Arc;

use axum::body::Body;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use maud::{html, Markup};

use super::super::csrf::{self, Form};
use super::super::layout::error_page;
use super::super::session::Session;
use super::super::Console;
use super::{aliases, compose, search, tokens};
use crate::error::ApiError;

/// The action pages' routes.
pub(crate) fn routes() -> Router<Arc<Console>> {
    Router::new()
        .route("/ui/compose", get(compose::form).post(compose::submit))
        .route("/ui/aliases", get(aliases::page).post(aliases::add))
        .route("/ui/aliases/delete", axum::routing::post(aliases::delete))
        .route("/ui/tokens", get(tokens::page))
        .route("/ui/tokens/{name}/{action}", get(tokens::confirm).post(tokens::act))
        .route("/ui/search", get(search::page))
}

/// A POST form of `session`: same-origin, bounded, with its CSRF token; else the error page.
pub(crate) async fn checked_form(session: &Session, headers: &HeaderMap, body: Body) -> Result<Form, Response> {
    csrf::checked_form(session, headers, body).await.map_err(|e| error_page(Some(session), &e))
}

/// The 403 page a peer session gets from an operator-only page (`None`: the operator).
pub(crate) fn operator_only(session: &Session, what: &str) -> Option<Response> {
    let detail = format!("{what} is for the operator; log in with the operator token");
    session.peer().map(|_| error_page(Some(session), &ApiError::forbidden("operator_only", detail)))
}

/// The session's CSRF token as the hidden field every POST form carries.
pub(crate) fn csrf_field(session: &Session) -> Markup {
    html! { input type="hidden" name=(csrf::FIELD) value=(session.csrf()); }
}

/// A form field's trimmed value, `None` when absent or blank.
pub(crate) fn field<'a>(form: &'a Form, name: &str) -> Option<&'a str> {
    form.get(name).map(str::trim).filter(|v| !v.is_empty())
}
