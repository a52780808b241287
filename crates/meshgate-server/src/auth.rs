//! Who is calling: the bearer token resolved to the operator or one peer.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use meshgate_store::TokenHash;
use subtle::ConstantTimeEq;

use crate::error::{ApiError, Class};
use crate::state::AppState;

/// The authenticated caller of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// The operator token: may act for anyone.
    Operator,
    /// A per-peer token: may act only as this peer.
    Peer {
        /// The peer's name.
        name: String,
        /// Generation of the presented token.
        generation: i64,
    },
}

/// An authenticated request: the caller and the raw token it presented
/// (kept only to refuse message bodies that contain it).
#[derive(Debug, Clone)]
pub struct Auth {
    /// Who is calling.
    pub caller: Caller,
    token: String,
}

impl Auth {
    /// The presented bearer token.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// The peer name of a per-peer caller.
    pub fn peer(&self) -> Option<&str> {
        match &self.caller {
            Caller::Peer { name, .. } => Some(name),
            Caller::Operator => None,
        }
    }

    /// Whether the caller may act as `name`.
    pub fn may_act_as(&self, name: &str) -> bool {
        self.peer().is_none_or(|me| me == name)
    }

    /// Refuses unless the caller is the operator.
    pub fn require_operator(&self, what: &str) -> Result<(), ApiError> {
        match self.caller {
            Caller::Operator => Ok(()),
            Caller::Peer { .. } => {
                Err(ApiError::forbidden("operator_only", format!("{what} needs the operator token")))
            }
        }
    }

    /// Refuses the operator token for message traffic when the deployment
    /// requires per-peer tokens.
    pub fn require_peer_token_if_configured(&self, state: &AppState) -> Result<(), ApiError> {
        if state.config().require_peer_tokens && self.caller == Caller::Operator {
            return Err(ApiError::forbidden(
                "peer_token_required",
                "this gateway requires a per-peer token for message traffic; register the peer and use its token",
            ));
        }
        Ok(())
    }
}

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let config = state.config();
        let ip = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip())
            .filter(|ip| config.auth_failures_per_minute > 0 && (config.limit_loopback || !ip.is_loopback()));
        // Authenticate first: the limiter only ever turns a 401 into a 429,
        // so a valid token is never refused, whoever shares its address.
        let result = authenticate(parts, state).await;
        if let Ok(auth) = &result {
            crate::conns::mark_authenticated(&parts.extensions, auth.peer())?;
        }
        if let (Err(e), Some(ip)) = (&result, ip) {
            if e.class == Class::Unauthorized {
                let presented = parts.headers.get(axum::http::header::AUTHORIZATION).map(|h| h.as_bytes());
                let credential = TokenHash::of_bytes(presented.unwrap_or_default());
                if state.auth_failed(ip, credential) {
                    return Err(ApiError::new(
                        Class::RateLimited,
                        "rate_limited",
                        "this credential failed too often from this address; it is unknown, revoked or rotated: \
                         stop retrying it and wait a minute",
                    ));
                }
            }
        }
        result
    }
}

/// The bearer token of an `Authorization` header, if it holds one
/// (`Bearer <token>`, scheme in any case; empty tokens count as none).
pub(crate) fn bearer_token(headers: &axum::http::HeaderMap) -> Option<&str> {
    let value = headers.get(axum::http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    Some(token.trim()).filter(|t| scheme.eq_ignore_ascii_case("bearer") && !t.is_empty())
}

async fn authenticate(parts: &Parts, state: &AppState) -> Result<Auth, ApiError> {
    let header = parts.headers.get(axum::http::header::AUTHORIZATION).ok_or_else(|| {
        ApiError::unauthorized("missing_token", "missing bearer token: send 'Authorization: Bearer <token>'")
    })?;
    let header = header
        .to_str()
        .map_err(|_| ApiError::unauthorized("invalid_token", "the Authorization header is not valid text"))?;
    let token = match header.split_once(' ') {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => rest.trim(),
        _ => return Err(ApiError::unauthorized("invalid_token", "expected 'Authorization: Bearer <token>'")),
    };
    if token.is_empty() {
        return Err(ApiError::unauthorized("missing_token", "empty bearer token"));
    }
    let hash = TokenHash::of(token);
    if bool::from(hash.0.ct_eq(&state.operator_hash().0)) {
        return Ok(Auth { caller: Caller::Operator, token: token.to_owned() });
    }
    // Per-peer tokens are looked up by hash: the index lookup reveals nothing
    // about any stored token's bytes.
    match state.store().token_owner(&hash).await? {
        Some(owner) if owner.enabled => {
            state.saw(&owner.peer);
            Ok(Auth {
                caller: Caller::Peer { name: owner.peer, generation: owner.generation },
                token: token.to_owned(),
            })
        }
        Some(owner) => Err(ApiError::forbidden("peer_disabled", format!("peer {:?} is disabled", owner.peer))),
        None => Err(ApiError::unauthorized("invalid_token", "unknown, revoked or rotated token")),
    }
}
