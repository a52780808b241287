//! Forms: a bounded body, a same-origin check, and the session's CSRF
//! token compared in constant time.
//!
//! The cookie is SameSite=Strict, so a cross-site POST carries no session
//! at all; the CSRF token and the `Origin` / `Sec-Fetch-Site` checks are
//! the second and third locks (older browsers, same-site sibling hosts).

use axum::body::Body;
use axum::http::{header, HeaderMap};
use subtle::ConstantTimeEq;

use super::session::Session;
use super::FORM_MAX;
use crate::error::{ApiError, Class};

/// The name of the hidden field holding the CSRF token.
pub const FIELD: &str = "csrf";

/// A decoded `application/x-www-form-urlencoded` body.
#[derive(Debug, Default)]
pub struct Form(Vec<(String, String)>);

impl Form {
    /// The fields of a query string (a GET form).
    pub fn from_query(query: &str) -> Form {
        Form::parse(query.as_bytes())
    }

    fn parse(bytes: &[u8]) -> Form {
        Form(form_urlencoded::parse(bytes).into_owned().collect())
    }

    /// The first value of field `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// A field name given more than once (no console form has one).
    fn repeated(&self) -> Option<&str> {
        let mut seen = std::collections::HashSet::new();
        self.0.iter().map(|(k, _)| k.as_str()).find(|k| !seen.insert(*k))
    }
}

/// Reads a form POST: refuses a cross-site one (when the browser says so),
/// a body over [`FORM_MAX`] bytes, and a field given twice (400
/// `duplicate_field`, as the API refuses a repeated JSON key: which value
/// was meant is not guessed).
pub async fn read_form(headers: &HeaderMap, body: Body) -> Result<Form, ApiError> {
    same_origin(headers)?;
    let bytes = axum::body::to_bytes(body, FORM_MAX).await.map_err(|_| {
        ApiError::new(Class::TooLarge, "body_too_large", format!("a console form is at most {FORM_MAX} bytes"))
    })?;
    let form = Form::parse(&bytes);
    if let Some(name) = form.repeated() {
        return Err(ApiError::bad_request(
            "duplicate_field",
            format!("form field {} is given more than once; give it once", crate::error::shown(name)),
        ));
    }
    Ok(form)
}

/// A signed-in form POST: [`read_form`], then [`check`] (every POST form of
/// a signed-in page goes through this).
pub async fn checked_form(session: &Session, headers: &HeaderMap, body: Body) -> Result<Form, ApiError> {
    let form = read_form(headers, body).await?;
    check(session, &form)?;
    Ok(form)
}

/// Refuses unless `form` carries `session`'s CSRF token.
pub fn check(session: &Session, form: &Form) -> Result<(), ApiError> {
    let given = form.get(FIELD).unwrap_or_default();
    if bool::from(given.as_bytes().ct_eq(session.csrf().as_bytes())) {
        Ok(())
    } else {
        Err(ApiError::forbidden("csrf_failed", "the form's CSRF token is missing or wrong; reload the page"))
    }
}

/// Refuses a request the browser marks as cross-site. `Sec-Fetch-Site`
/// (set by the browser itself, against the page's own origin) decides when
/// present: only `same-origin` passes. Older browsers send only `Origin`,
/// whose host must then be the request's `Host` (the scheme is not
/// compared: behind a proxy that terminates TLS the gateway sees plain
/// HTTP while the page's origin is `https`).
fn same_origin(headers: &HeaderMap) -> Result<(), ApiError> {
    let refused =
        || ApiError::forbidden("cross_origin", "console forms are accepted from the console's own pages only");
    if let Some(site) = headers.get("sec-fetch-site") {
        return if site.as_bytes() == b"same-origin" { Ok(()) } else { Err(refused()) };
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let host = headers.get(header::HOST).map(|h| h.as_bytes()).unwrap_or_default();
        let origin_host = origin.to_str().ok().and_then(|o| o.split_once("://")).map(|(_, h)| h.as_bytes());
        if origin_host.is_none_or(|h| h != host) {
            return Err(refused());
        }
    }
    Ok(())
}
