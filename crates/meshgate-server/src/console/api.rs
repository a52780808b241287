//! The console's reads: requests to the gateway's own router with the
//! session's token, so every rule of the API applies unchanged.

use axum::body::Body;
use axum::http::{header, Method, StatusCode};
use axum::response::Response;
use meshgate_proto::ErrorBody;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tower::ServiceExt;

use super::layout::failure_page;
use super::session::Session;
use super::Console;
use crate::error::ApiError;

/// Most bytes of one API answer the console reads (a page of DMs is
/// bounded by the gateway's page budget; one large row may cross it).
const ANSWER_MAX: usize = 64 * 1024 * 1024;

/// An API answer that was not a success: its status and error body.
#[derive(Debug, Clone)]
pub(crate) struct Failure {
    pub status: StatusCode,
    pub code: String,
    pub detail: String,
}

impl From<ApiError> for Failure {
    fn from(e: ApiError) -> Self {
        Failure { status: e.status(), code: e.code.to_owned(), detail: e.detail }
    }
}

impl Console {
    /// `GET uri` as `session`, decoded.
    pub(crate) async fn get<T: DeserializeOwned>(&self, session: &Session, uri: &str) -> Result<T, Failure> {
        self.call(session, Method::GET, uri, None).await
    }

    /// `GET uri` as `session` for a page: a failure is already the
    /// console's page for it (so a handler returning `Result<Response,
    /// Response>` reads with `?`).
    pub(crate) async fn read<T: DeserializeOwned>(&self, session: &Session, uri: &str) -> Result<T, Response> {
        self.get(session, uri).await.map_err(|f| failure_page(Some(session), &f))
    }

    /// `method uri` (with `body` as JSON) as `session`, the answer decoded.
    /// A 401 (or 403 `peer_disabled`) means the token died since login:
    /// the session ends.
    pub(crate) async fn call<T: DeserializeOwned>(
        &self,
        session: &Session,
        method: Method,
        uri: &str,
        body: Option<&Value>,
    ) -> Result<T, Failure> {
        let mut builder = axum::http::Request::builder()
            .method(method)
            .uri(uri)
            .header(header::AUTHORIZATION, format!("Bearer {}", session.token()));
        let body = match body {
            Some(v) => {
                builder = builder.header(header::CONTENT_TYPE, "application/json");
                Body::from(serde_json::to_vec(v).map_err(|_| internal())?)
            }
            None => Body::empty(),
        };
        let req = builder.body(body).map_err(|_| internal())?;
        let response = self.api.clone().oneshot(req).await.unwrap_or_else(|never| match never {});
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), ANSWER_MAX).await.map_err(|_| internal())?;
        if status.is_success() {
            return serde_json::from_slice(&bytes).map_err(|_| internal());
        }
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN && peer_disabled(&bytes) {
            self.sessions.end(session);
        }
        let body: Option<ErrorBody> = serde_json::from_slice(&bytes).ok();
        Err(match body {
            Some(b) => Failure { status, code: b.error, detail: b.detail },
            None => Failure { status, code: status.as_u16().to_string(), detail: status.to_string() },
        })
    }
}

fn peer_disabled(bytes: &[u8]) -> bool {
    serde_json::from_slice::<ErrorBody>(bytes).is_ok_and(|b| b.error == "peer_disabled")
}

fn internal() -> Failure {
    Failure {
        status: StatusCode::INTERNAL_SERVER_ERROR,
        code: "internal".into(),
        detail: "internal error; the gateway log has details".into(),
    }
}

/// `value` percent-encoded for a path segment or query value.
pub(crate) fn enc(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}
