use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

/// One registered peer, as `GET /peers` and `GET /peers/{name}` return it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Peer {
    /// Canonical name.
    pub name: String,
    /// Where the peer's own service listens, if it has one.
    #[serde(default)]
    pub url: Option<String>,
    /// Free-form advert (runtime, what it can do, ...).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub capabilities: Map<String, Value>,
    /// Disabled peers can neither send nor be sent to.
    #[serde(default = "enabled_default", deserialize_with = "bool_or_int")]
    pub enabled: bool,
    /// First registration.
    #[serde(default)]
    pub registered_at: Option<String>,
    /// Last authenticated action (coalesced, a few seconds coarse).
    #[serde(default)]
    pub last_seen: Option<String>,
    /// Last health probe (kept for the wire shape; meshgate does not probe).
    #[serde(default)]
    pub last_health: Option<String>,
    /// The peer's own credential-guard policy (`block`, `warn`, `off`),
    /// set by the operator; absent when the gateway's applies. Shown to
    /// the operator only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_guard: Option<String>,
}

fn enabled_default() -> bool {
    true
}

fn bool_or_int<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    match Value::deserialize(d)? {
        Value::Bool(b) => Ok(b),
        Value::Number(n) => Ok(n.as_i64() != Some(0)),
        Value::Null => Ok(true),
        other => Err(serde::de::Error::custom(format!("expected a boolean, got {other}"))),
    }
}

/// `GET /peers` envelope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PeerList {
    /// Peers, ordered by name.
    pub peers: Vec<Peer>,
}

/// `POST /peers/register` body. An omitted `url` or `capabilities` keeps the
/// stored value on re-registration; a given `capabilities` replaces it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RegisterRequest {
    /// Canonical name to register.
    pub name: String,
    /// The peer's own service URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Advert; replaces the stored one wholesale when present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub capabilities: Option<Map<String, Value>>,
    /// Operator: register a deleted peer's retired name and inherit its
    /// DMs (meshgate only; omitted when false).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub adopt_history: bool,
}

/// `POST /peers/register` answer: the peer row plus the token outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RegisterResponse {
    /// The stored peer.
    #[serde(flatten)]
    pub peer: Peer,
    /// Always `registered`.
    pub status: String,
    /// The per-peer token, present exactly once: when it was minted.
    #[serde(default)]
    pub peer_token: Option<String>,
    /// `minted` or `existing`.
    pub token_status: String,
    /// Generation of the live token (grows with every rotation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_generation: Option<i64>,
}

/// `POST /peers/{name}/token` answer: a fresh token; the previous one is dead.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TokenRotated {
    /// Peer name.
    pub name: String,
    /// The new raw token, shown once.
    pub peer_token: String,
    /// Its generation.
    pub token_generation: i64,
}

/// One operator-managed alias: DMs to `alias` are stored for `canonical`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Alias {
    /// The nickname.
    pub alias: String,
    /// The registered peer it stands for.
    pub canonical: String,
    /// When it was created.
    #[serde(default)]
    pub created_at: Option<String>,
}

/// `POST /aliases` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewAlias {
    /// The nickname.
    pub alias: String,
    /// The registered peer it stands for.
    pub canonical: String,
}

/// `GET /aliases` envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AliasList {
    /// Aliases, ordered by alias.
    pub aliases: Vec<Alias>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_reference_peer_rows() {
        let row = r#"{"name":"droplet","url":"http://x:1","capabilities":{"a":1},
            "registered_at":"2026-01-01T00:00:00+00:00","last_health":null,"last_seen":null,
            "enabled":1,"ratified":false,"owner":null}"#;
        let p: Peer = serde_json::from_str(row).unwrap();
        assert!(p.enabled);
        assert_eq!(p.capabilities["a"], 1);
    }

    #[test]
    fn register_response_flattens_the_peer() {
        let body = r#"{"status":"registered","name":"ab","registered_at":"t","ratified":false,
            "registered_unratified":true,"peer_token":null,"token_status":"existing","bootstrap_mint":false}"#;
        let r: RegisterResponse = serde_json::from_str(body).unwrap();
        assert_eq!(r.peer.name, "ab");
        assert_eq!(r.token_status, "existing");
    }
}
