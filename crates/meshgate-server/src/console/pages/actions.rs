//! What the action pages (compose, aliases, tokens, search) share: their
//! routes, the checked form of a POST, and the operator-only rule.

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
