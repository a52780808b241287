//! The gateway's one error type and its one mapping to HTTP.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use meshgate_proto::{BodyError, BodyErrorKind, ErrorBody};
use meshgate_store::{Refusal, StoreError};

/// What went wrong, in terms of HTTP semantics; [`ApiError::status`] is the
/// only place that turns it into a status code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// 400: a well-formed request the gateway refuses (bad kind, unknown
    /// query parameter, self-DM).
    BadRequest,
    /// 401: no credential, or a dead one.
    Unauthorized,
    /// 403: a valid credential that may not do this.
    Forbidden,
    /// 404: no such thing.
    NotFound,
    /// 405: the path exists, the method does not.
    MethodNotAllowed,
    /// 409: contradicts stored state.
    Conflict,
    /// 413: the body is larger than any valid request.
    TooLarge,
    /// 422: malformed JSON, missing or mistyped fields, refused content.
    Invalid,
    /// 429: too many failed authentications from this address, a sender
    /// over its rate, a conversation loop, a per-peer cap.
    RateLimited,
    /// 503: the store cannot be reached.
    Unavailable,
    /// 500: a bug or an unexpected backend failure (details only logged).
    Internal,
    /// 408: the request body did not arrive in time.
    Timeout,
    /// 414: the request URI is longer than the HTTP parser accepts.
    UriTooLong,
    /// 431: the request head is larger than the HTTP parser accepts.
    HeadersTooLarge,
    /// 406: the client does not accept what the endpoint answers (`/mcp`).
    NotAcceptable,
    /// 415: the body is not of the content type the endpoint takes (`/mcp`).
    UnsupportedMediaType,
}

/// An error answer: class, stable code, human detail.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// HTTP class.
    pub class: Class,
    /// Stable machine code, e.g. `unknown_kind`.
    pub code: &'static str,
    /// Human detail; never echoes message content or tokens (quote a
    /// caller's value with [`shown`]; [`DETAIL_MAX`] and redaction apply to
    /// every detail sent).
    pub detail: String,
    /// Close names, for `unknown_recipient`.
    pub suggestions: Vec<String>,
    /// Seconds for a `Retry-After` header (429 `rate_limited`,
    /// `conversation_loop`).
    pub retry_after: Option<u64>,
}

impl ApiError {
    /// A new error of `class`.
    pub fn new(class: Class, code: &'static str, detail: impl Into<String>) -> Self {
        ApiError { class, code, detail: detail.into(), suggestions: Vec::new(), retry_after: None }
    }

    /// 400.
    pub fn bad_request(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(Class::BadRequest, code, detail)
    }

    /// 422.
    pub fn invalid(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(Class::Invalid, code, detail)
    }

    /// 403.
    pub fn forbidden(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(Class::Forbidden, code, detail)
    }

    /// 404.
    pub fn not_found(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(Class::NotFound, code, detail)
    }

    /// 401.
    pub fn unauthorized(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(Class::Unauthorized, code, detail)
    }

    /// The HTTP status of this error: the single class-to-status mapping.
    pub fn status(&self) -> StatusCode {
        match self.class {
            Class::BadRequest => StatusCode::BAD_REQUEST,
            Class::Unauthorized => StatusCode::UNAUTHORIZED,
            Class::Forbidden => StatusCode::FORBIDDEN,
            Class::NotFound => StatusCode::NOT_FOUND,
            Class::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Class::Conflict => StatusCode::CONFLICT,
            Class::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Class::Invalid => StatusCode::UNPROCESSABLE_ENTITY,
            Class::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            Class::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Class::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            Class::Timeout => StatusCode::REQUEST_TIMEOUT,
            Class::UriTooLong => StatusCode::URI_TOO_LONG,
            Class::HeadersTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            Class::NotAcceptable => StatusCode::NOT_ACCEPTABLE,
            Class::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(what) => ApiError::not_found("not_found", format!("{what} not found")),
            StoreError::Conflict(what) => ApiError::new(Class::Conflict, "conflict", what),
            StoreError::Unavailable(why) => {
                tracing::warn!(%why, "store unavailable");
                ApiError::new(
                    Class::Unavailable,
                    "store_unavailable",
                    "the message store is unavailable; retry shortly",
                )
            }
            StoreError::Backend(why) => {
                tracing::error!(%why, "store backend error");
                ApiError::new(Class::Internal, "internal", "internal error; the gateway log has details")
            }
            StoreError::Refused(refusal, what) => refused(refusal, what),
        }
    }
}

/// A data-model refusal: one stable code per [`Refusal`].
fn refused(refusal: Refusal, what: String) -> ApiError {
    match refusal {
        Refusal::NameTaken => ApiError::new(
            Class::Conflict,
            "name_taken",
            format!("{what}: peers and aliases share one namespace, so the name is taken"),
        ),
        Refusal::NameRetired => ApiError::new(
            Class::Conflict,
            "name_retired",
            format!(
                "{what}: its DMs are kept, so the name is retired. The operator can register it again with \
                 \"adopt_history\": true (the new peer reads the old history) or purge the history first \
                 (DELETE /peers/{{name}}?purge=true)"
            ),
        ),
        Refusal::SelfMessage => ApiError::bad_request(
            "self_message",
            "from_node and to_node are the same peer (after alias resolution); a peer cannot DM itself",
        ),
        Refusal::ThreadNameIsUuid => ApiError::invalid(
            "invalid_thread_name",
            "a thread name cannot be a UUID (it would shadow a thread id); pick a readable name",
        ),
    }
}

/// Longest `detail` sent, in bytes. Values a caller supplied are quoted
/// through [`shown`]; this cut is the net for any place that quotes one whole
/// (an unknown `kind` can be megabytes).
pub const DETAIL_MAX: usize = 1024;

/// A caller-supplied value as quoted in a detail (cut to [`SHOWN_MAX`]
/// characters); proto owns it, since body refusals are worded there.
pub use meshgate_proto::{shown, SHOWN_MAX};

impl From<BodyError> for ApiError {
    fn from(e: BodyError) -> Self {
        let class = match e.kind {
            BodyErrorKind::Invalid => Class::Invalid,
            BodyErrorKind::BadRequest => Class::BadRequest,
            BodyErrorKind::Forbidden => Class::Forbidden,
        };
        ApiError::new(class, e.code, e.detail)
    }
}

/// The detail as sent: cut to [`DETAIL_MAX`] and, since it may quote what the
/// caller sent (a name, a parameter, a path), every credential shape the
/// guard finds in it replaced by `[REDACTED:<label>]`: an error answer may
/// end up in a proxy's or an agent's log.
fn outgoing(mut detail: String) -> String {
    if detail.len() > DETAIL_MAX {
        let mut cut = DETAIL_MAX;
        while !detail.is_char_boundary(cut) {
            cut -= 1;
        }
        detail.truncate(cut);
        detail.push('…');
    }
    match redacted(&detail, None) {
        std::borrow::Cow::Borrowed(_) => detail,
        std::borrow::Cow::Owned(clean) => clean,
    }
}

/// `text` with every credential shape the guard finds in it, and every
/// occurrence of `own_token` (the caller's bearer token, if given), replaced
/// by `[REDACTED:<label>]`: for error details and for what the request log
/// records of the caller's input (path, request id).
pub(crate) fn redacted<'a>(text: &'a str, own_token: Option<&str>) -> std::borrow::Cow<'a, str> {
    let findings = meshgate_guard::scan_with_token(text, own_token);
    if findings.is_empty() {
        std::borrow::Cow::Borrowed(text)
    } else {
        std::borrow::Cow::Owned(meshgate_guard::redact(text, &findings))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let detail = outgoing(self.detail);
        let mut resp = (status, Json(ErrorBody { error: self.code.to_owned(), detail, suggestions: self.suggestions }))
            .into_response();
        if status == StatusCode::UNAUTHORIZED {
            resp.headers_mut()
                .insert(axum::http::header::WWW_AUTHENTICATE, axum::http::HeaderValue::from_static("Bearer"));
        }
        resp.extensions_mut().insert(ErrorCode(self.code));
        if let Some(secs) = self.retry_after {
            resp.headers_mut().insert(axum::http::header::RETRY_AFTER, axum::http::HeaderValue::from(secs));
        }
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            // The rest of the body was never read: the connection cannot
            // carry another request, so say so and let hyper close it.
            resp.headers_mut().insert(axum::http::header::CONNECTION, axum::http::HeaderValue::from_static("close"));
        }
        resp
    }
}

/// The stable code of an error answer, left in its response's extensions
/// for the metrics middleware (store errors are counted from it).
#[derive(Debug, Clone, Copy)]
pub struct ErrorCode(pub &'static str);

impl ApiError {
    /// This error as a complete HTTP/1.1 response that closes the
    /// connection, for answers written to the socket directly, outside
    /// hyper's request handling (a refused connection, a request hyper
    /// could not parse).
    pub(crate) fn into_http1_bytes(self) -> Vec<u8> {
        let status = self.status();
        let body = serde_json::to_vec(&ErrorBody {
            error: self.code.to_owned(),
            detail: outgoing(self.detail),
            suggestions: self.suggestions,
        })
        .expect("an error body always encodes");
        let mut out = format!(
            "HTTP/1.1 {} {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
            status.as_u16(),
            status.canonical_reason().unwrap_or(""),
            body.len()
        )
        .into_bytes();
        out.extend_from_slice(&body);
        out
    }
}

/// Shorthand for handler results.
pub type ApiResult<T> = Result<T, ApiError>;
