use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

use crate::body::{BodyError, Fields};
use crate::PEER_NAME_MAX;

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

impl NewAlias {
    /// Reads a `POST /aliases` body as the gateway does: `alias`, then
    /// `canonical` (each a field of 1 to 64 characters), then each a
    /// canonical peer name, in that order. Unknown fields are ignored.
    pub fn read(body: &Map<String, Value>) -> Result<NewAlias, BodyError> {
        let f = Fields(body);
        let alias = f.string("alias", 1, PEER_NAME_MAX)?;
        let canonical = f.string("canonical", 1, PEER_NAME_MAX)?;
        crate::validate_peer_name(alias)?;
        crate::validate_peer_name(canonical)?;
        Ok(NewAlias { alias: alias.to_owned(), canonical: canonical.to_owned() })
    }
}

/// `DELETE /aliases/{alias}` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AliasDeleted {
    /// Always `deleted`.
    pub status: String,
    /// The alias removed.
    pub alias: String,
}

/// `GET /aliases` envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AliasList {
    /// Aliases, ordered by alias.
    pub aliases: Vec<Alias>,
}

/// What the gateway does with a message body that looks like a credential:
/// the gateway's `--secret-guard`, and a peer's own policy (`secret_guard`
/// of [`Peer`] and [`PeerUpdate`], in these lower-case names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SecretGuard {
    /// Refuse it with 422 `secret_detected` (the default).
    #[default]
    Block,
    /// Store it and log the finding (label and position only).
    Warn,
    /// Do not scan.
    Off,
}

impl std::str::FromStr for SecretGuard {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "block" => Ok(SecretGuard::Block),
            "warn" => Ok(SecretGuard::Warn),
            "off" => Ok(SecretGuard::Off),
            other => Err(format!("unknown secret-guard policy {other:?}: expected block, warn or off")),
        }
    }
}

/// `PATCH /peers/{name}` body (operator): what to change; at least one
/// field. `secret_guard: null` clears the peer's own policy (the gateway's
/// applies again), an absent one leaves it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PeerUpdate {
    /// Disabled peers can neither send nor be sent to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// The peer's own credential-guard policy, `block`, `warn` or `off`
    /// ([`SecretGuard`]); `null` for the gateway's. Absent: unchanged.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "given")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, nullable))]
    pub secret_guard: Option<Option<String>>,
}

/// A field that is present, `null` included (`Some(None)`); an absent one
/// is `None` through `#[serde(default)]`.
fn given<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

impl PeerUpdate {
    /// Reads a `PATCH /peers/{name}` body as the gateway does: `enabled`,
    /// then `secret_guard` (a policy name or `null`), then that one of them
    /// was given (422 `missing_field` otherwise). Unknown fields are ignored.
    pub fn read(body: &Map<String, Value>) -> Result<PeerUpdate, BodyError> {
        let enabled = Fields(body).opt_bool("enabled")?;
        let secret_guard = match body.get("secret_guard") {
            None => None,
            Some(Value::Null) => Some(None),
            Some(Value::String(s)) => {
                s.parse::<SecretGuard>().map_err(|e| BodyError::invalid("invalid_field", e))?;
                Some(Some(s.clone()))
            }
            Some(_) => {
                return Err(BodyError::invalid(
                    "invalid_field",
                    "field \"secret_guard\" must be block, warn, off or null",
                ))
            }
        };
        if enabled.is_none() && secret_guard.is_none() {
            return Err(BodyError::invalid("missing_field", "give \"enabled\" and/or \"secret_guard\""));
        }
        Ok(PeerUpdate { enabled, secret_guard })
    }
}

/// `DELETE /peers/{name}` (`status` `deregistered`) and
/// `POST /peers/{name}/revoke` (`status` `revoked`) answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PeerChanged {
    /// What happened: `deregistered` or `revoked`.
    pub status: String,
    /// The peer.
    pub name: String,
}

/// What `DELETE /peers/{name}?purge=true` deleted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Purged {
    /// Always `purged`.
    #[serde(default)]
    pub status: String,
    /// The purged name.
    pub name: String,
    /// Whether a registered peer was deleted (else only its history).
    #[serde(default)]
    pub peer: bool,
    /// DMs deleted (sent or received).
    #[serde(default)]
    pub messages: u64,
    /// Threads deleted (those it minted).
    #[serde(default)]
    pub threads: u64,
    /// Aliases deleted.
    #[serde(default)]
    pub aliases: u64,
}

/// `DELETE /peers/{name}` answer: [`PeerChanged`] (`deregistered`), or
/// with `purge=true`, [`Purged`]. (Serialized as the one it holds; read
/// an answer as the type of the call made.)
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(untagged)]
pub enum PeerRemoved {
    /// Deregistered: its DMs stay and retire the name.
    Deregistered(PeerChanged),
    /// Purged: its DMs and threads deleted, the name free.
    Purged(Purged),
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_written_alias_and_update_read_back() {
        let alias = NewAlias { alias: "lab".into(), canonical: "lab-ovh".into() };
        assert_eq!(NewAlias::read(serde_json::to_value(&alias).unwrap().as_object().unwrap()), Ok(alias));
        for update in [
            PeerUpdate { enabled: Some(false), secret_guard: None },
            PeerUpdate { enabled: None, secret_guard: Some(None) },
            PeerUpdate { enabled: Some(true), secret_guard: Some(Some("warn".into())) },
        ] {
            let value = serde_json::to_value(&update).unwrap();
            assert_eq!(PeerUpdate::read(value.as_object().unwrap()), Ok(update.clone()));
            assert_eq!(serde_json::from_value::<PeerUpdate>(value).unwrap(), update);
        }
        let cleared = serde_json::to_string(&PeerUpdate { enabled: None, secret_guard: Some(None) }).unwrap();
        assert_eq!(cleared, r#"{"secret_guard":null}"#);
        let e = PeerUpdate::read(json!({"secret_guard": "Off"}).as_object().unwrap()).unwrap_err();
        assert_eq!(
            (e.code, e.detail.as_str()),
            ("invalid_field", "unknown secret-guard policy \"Off\": expected block, warn or off")
        );
    }

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
