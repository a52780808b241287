//! [`Client`]: one peer's connection to one gateway.

use std::sync::atomic::AtomicBool;
use std::sync::RwLock;
use std::time::Duration;

use meshgate_proto::ErrorBody;
use reqwest::{Method, StatusCode, Url};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use crate::builder::{non_empty_env, Credential};
use crate::guard::KnownSecret;
use crate::{ClientBuilder, Error, Result, GATEWAY_TOKEN_ENV};

/// An async client acting as one peer against one gateway.
///
/// It owns a pooled HTTP connection set and the peer's credential, and runs
/// the recipient check and the credential guard on every [`Client::send`].
/// Build one per peer and share it (`&Client` or `Arc<Client>`); all methods
/// take `&self`.
pub struct Client {
    pub(crate) http: reqwest::Client,
    /// Like `http` but without a total timeout, for event streams.
    pub(crate) stream_http: reqwest::Client,
    /// The per-request timeout `http` was built with.
    pub(crate) timeout: Duration,
    pub(crate) base: Url,
    /// `base` without the trailing slash: the registry cache key and what
    /// errors name.
    pub(crate) gateway_key: String,
    pub(crate) node: String,
    pub(crate) credential: RwLock<Credential>,
    /// Set once `POST /messages/read` turned out not to exist.
    pub(crate) bulk_read_missing: AtomicBool,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("gateway", &self.gateway_key)
            .field("node", &self.node)
            .field("token_source", &self.token_source())
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Starts a builder.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// A client for `node` configured only from the environment
    /// (`MESH_GATEWAY_URL`, `MESH_GATEWAY_TOKEN`).
    pub fn from_env(node: impl Into<String>) -> Result<Client> {
        Client::builder().node(node).build()
    }

    /// This peer's name.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// The gateway base URL, without a trailing slash.
    pub fn gateway(&self) -> &str {
        &self.gateway_key
    }

    /// Where the current token came from (never the token).
    pub fn token_source(&self) -> String {
        self.credential_snapshot().source
    }

    /// Replaces the bearer token, e.g. after registration minted one.
    pub fn set_token(&self, token: impl Into<String>, source: impl Into<String>) {
        let mut guard = self.credential.write().unwrap_or_else(|e| e.into_inner());
        *guard = Credential { token: Some(token.into()), source: source.into() };
    }

    pub(crate) fn credential_snapshot(&self) -> Credential {
        self.credential.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    // ---- plumbing -----------------------------------------------------

    pub(crate) fn known_secrets(&self) -> Vec<KnownSecret> {
        let credential = self.credential_snapshot();
        let mut out = Vec::with_capacity(2);
        if let Some(token) = credential.token {
            out.push(KnownSecret {
                label: format!("gateway token of this client ({})", credential.source),
                value: token,
            });
        }
        if let Some(shared) = non_empty_env(GATEWAY_TOKEN_ENV) {
            if !out.iter().any(|s| s.value == shared) {
                out.push(KnownSecret { label: format!("{GATEWAY_TOKEN_ENV} value"), value: shared });
            }
        }
        out
    }

    pub(crate) fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        url.path_segments_mut().expect("gateway URL is http(s), so it has a path").pop_if_empty().extend(segments);
        url
    }

    pub(crate) async fn get<T: DeserializeOwned>(&self, segments: &[&str], query: &[(&str, String)]) -> Result<T> {
        let request = self.authorized(Method::GET, segments).query(query);
        self.execute(request, &format!("GET /{}", segments.join("/"))).await
    }

    pub(crate) async fn post<T: DeserializeOwned, B: Serialize + ?Sized>(
        &self,
        segments: &[&str],
        body: &B,
    ) -> Result<T> {
        let request = self.authorized(Method::POST, segments).json(body);
        self.execute(request, &format!("POST /{}", segments.join("/"))).await
    }

    pub(crate) fn authorized(&self, method: Method, segments: &[&str]) -> reqwest::RequestBuilder {
        self.authorized_on(&self.http, method, segments)
    }

    /// Like [`Client::authorized`] on another pool (the stream one).
    pub(crate) fn authorized_on(
        &self,
        http: &reqwest::Client,
        method: Method,
        segments: &[&str],
    ) -> reqwest::RequestBuilder {
        let request = http.request(method, self.url(segments));
        match self.credential_snapshot().token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    pub(crate) async fn execute<T: DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
        endpoint: &str,
    ) -> Result<T> {
        let (status, bytes) = self.round_trip(request).await?;
        self.decode(status, &bytes, endpoint)
    }

    /// Sends `request` and reads the whole answer; only transport failures
    /// are errors here.
    pub(crate) async fn round_trip(&self, request: reqwest::RequestBuilder) -> Result<(StatusCode, Vec<u8>)> {
        let (status, _, bytes) = self.round_trip_timed(request).await?;
        Ok((status, bytes))
    }

    /// [`Client::round_trip`] that also returns the `Retry-After` header
    /// (integer seconds).
    pub(crate) async fn round_trip_timed(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<(StatusCode, Option<u64>, Vec<u8>)> {
        let response = request.send().await.map_err(|e| self.unreachable(&e))?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|h| h.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        let bytes = response.bytes().await.map_err(|e| self.unreachable(&e))?;
        Ok((status, retry_after, bytes.to_vec()))
    }
    pub(crate) fn decode<T: DeserializeOwned>(&self, status: StatusCode, bytes: &[u8], endpoint: &str) -> Result<T> {
        if !status.is_success() {
            return Err(self.error_from(status, bytes));
        }
        serde_json::from_slice(bytes)
            .map_err(|e| Error::Decode { endpoint: endpoint.to_owned(), reason: e.to_string() })
    }

    pub(crate) fn unreachable(&self, error: &reqwest::Error) -> Error {
        let mut reason = error.to_string();
        let mut source = std::error::Error::source(error);
        while let Some(cause) = source {
            reason.push_str(": ");
            reason.push_str(&cause.to_string());
            source = cause.source();
        }
        Error::Unreachable { gateway: self.gateway_key.clone(), reason }
    }

    pub(crate) fn error_from(&self, status: StatusCode, body: &[u8]) -> Error {
        let (code, detail, _) = parse_error_body(status, body);
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            return Error::Auth {
                status: status.as_u16(),
                token_source: self.credential_snapshot().source,
                detail: if detail.is_empty() { code.clone() } else { detail },
                code,
            };
        }
        Error::Gateway { status: status.as_u16(), code, detail }
    }
}

/// True when the gateway has no such route (404 with the framework's bare
/// body, or 405), as opposed to a 404 about a resource.
pub(crate) fn is_missing_route(error: &Error) -> bool {
    match error {
        Error::Gateway { status: 405, .. } => true,
        Error::Gateway { status: 404, code, detail } => {
            (code.is_empty() || code == "not_found") && (detail.is_empty() || detail == "Not Found")
        }
        _ => false,
    }
}

pub(crate) fn unsupported_if_missing(error: Error, feature: &'static str, detail: impl FnOnce() -> String) -> Error {
    if is_missing_route(&error) {
        Error::Unsupported { feature, detail: detail() }
    } else {
        error
    }
}

/// `(code, detail, suggestions)` of an error answer from either gateway.
///
/// meshgate sends `{"error", "detail", "suggestions"}`; the reference sends
/// `{"detail": ...}` where a validation error's detail is a list of objects
/// whose `input` may echo the message body, so only their `loc` and `msg`
/// are kept. A missing code is derived from the status.
pub(crate) fn parse_error_body(status: StatusCode, body: &[u8]) -> (String, String, Vec<String>) {
    let value: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let detail = match value.get("detail") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| {
                let loc = item
                    .get("loc")
                    .and_then(Value::as_array)
                    .map(|parts| {
                        parts
                            .iter()
                            .map(|p| p.as_str().map_or_else(|| p.to_string(), str::to_owned))
                            .collect::<Vec<_>>()
                            .join(".")
                    })
                    .unwrap_or_default();
                let msg = item.get("msg").and_then(Value::as_str).unwrap_or("invalid");
                if loc.is_empty() {
                    msg.to_owned()
                } else {
                    format!("{loc}: {msg}")
                }
            })
            .collect::<Vec<_>>()
            .join("; "),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    };
    let parsed: Option<ErrorBody> = serde_json::from_value(value.clone()).ok();
    let mut code = parsed.as_ref().map(|b| b.error.clone()).unwrap_or_default();
    if code.is_empty() {
        code = match status.as_u16() {
            400 => "bad_request",
            401 => "unauthorized",
            403 => "forbidden",
            404 => "not_found",
            405 => "method_not_allowed",
            409 => "conflict",
            422 => "validation",
            s if s >= 500 => "server_error",
            _ => "http_error",
        }
        .to_owned();
    }
    let detail = if detail.is_empty() && value.is_null() && !body.is_empty() {
        // Not JSON (a proxy's HTML page, say): keep a short, single-line head.
        String::from_utf8_lossy(&body[..body.len().min(200)]).split_whitespace().collect::<Vec<_>>().join(" ")
    } else {
        detail
    };
    let suggestions = parsed.map(|b| b.suggestions).unwrap_or_default();
    (code, detail, suggestions)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_validation_details_drop_inputs() {
        let body = br#"{"detail":[{"type":"string_too_long","loc":["body","content"],"msg":"String should have at most 200000 characters","input":"SECRET BODY"}]}"#;
        let (code, detail, _) = parse_error_body(StatusCode::UNPROCESSABLE_ENTITY, body);
        assert_eq!(code, "validation");
        assert_eq!(detail, "body.content: String should have at most 200000 characters");
    }

    #[test]
    fn meshgate_error_bodies_keep_code_and_suggestions() {
        let body = br#"{"error":"unknown_recipient","detail":"no peer droplt","suggestions":["droplet"]}"#;
        let (code, detail, suggestions) = parse_error_body(StatusCode::NOT_FOUND, body);
        assert_eq!((code.as_str(), detail.as_str()), ("unknown_recipient", "no peer droplt"));
        assert_eq!(suggestions, vec!["droplet"]);
    }

    #[test]
    fn missing_routes_are_told_apart_from_missing_things() {
        let (code, detail, _) = parse_error_body(StatusCode::NOT_FOUND, br#"{"detail":"Not Found"}"#);
        assert!(is_missing_route(&Error::Gateway { status: 404, code, detail }));
        let (code, detail, _) = parse_error_body(StatusCode::NOT_FOUND, b"");
        assert!(is_missing_route(&Error::Gateway { status: 404, code, detail }));
        let (code, detail, _) = parse_error_body(StatusCode::NOT_FOUND, br#"{"detail":"peer 'x' not registered"}"#);
        assert!(!is_missing_route(&Error::Gateway { status: 404, code, detail }));
    }
}
