//! Peers: health, the registry, registration and token rotation, aliases
//! and the recipient check every send runs.

//! [`Client`]: one peer's connection to one gateway.

use std::sync::Arc;
use std::time::Instant;

use meshgate_proto::{
    validate_peer_name, Alias, AliasList, Health, Peer, PeerList, RegisterRequest, RegisterResponse, TokenRotated,
};
use serde_json::{Map, Value};

use crate::client::{is_missing_route, unsupported_if_missing};
use crate::registry::{self, Recipient, Snapshot, KNOWN_ALIASES, REGISTRY_GRACE, REGISTRY_TTL};
use crate::{Client, Error, RegisterOptions, Result};

impl Client {
    // ---- peers -------------------------------------------------------

    /// `GET /health` (sent without the token).
    pub async fn health(&self) -> Result<Health> {
        let url = self.url(&["health"]);
        let request = self.http.get(url);
        self.execute(request, "GET /health").await
    }

    /// `GET /peers`: every enabled peer. Also refreshes the registry cache.
    pub async fn list_peers(&self) -> Result<Vec<Peer>> {
        let list: PeerList = self.get(&["peers"], &[]).await?;
        let previous = registry::cached(&self.gateway_key).await;
        let (names, disabled) = peer_names(&list.peers);
        registry::store(
            &self.gateway_key,
            Snapshot {
                names,
                disabled,
                gateway_aliases: previous.and_then(|p| p.gateway_aliases.clone()),
                fetched_at: Instant::now(),
            },
        )
        .await;
        Ok(list.peers)
    }

    /// `GET /peers/{name}`; a 404 is [`Error::Gateway`] with
    /// [`Error::is_not_found`].
    pub async fn peer(&self, name: &str) -> Result<Peer> {
        validate_peer_name(name)?;
        self.get(&["peers", name], &[]).await
    }

    /// `POST /peers/register` for this peer, e.g.
    /// `client.register(RegisterOptions::new().capability("runtime", "claude"))`.
    /// An unset part keeps the stored value on meshgate; given capabilities
    /// replace the stored map wholesale (merge first if you mean to update
    /// one key). The answer carries the per-peer token exactly once, when
    /// it was minted: store it ([`Client::set_token`] switches this client
    /// to it).
    pub async fn register(&self, options: RegisterOptions) -> Result<RegisterResponse> {
        let body = RegisterRequest {
            name: self.node.clone(),
            url: options.url,
            capabilities: options.capabilities,
            adopt_history: options.adopt_history,
        };
        let response = self.post(&["peers", "register"], &body).await;
        registry::forget(&self.gateway_key).await;
        response
    }

    /// `POST /peers/{node}/token`: replaces this peer's token; the old one
    /// stops working at once. The client switches to the new token; the
    /// caller must store [`TokenRotated::peer_token`] (it is shown once).
    pub async fn rotate_token(&self) -> Result<TokenRotated> {
        let node = self.node.clone();
        let rotated: TokenRotated =
            self.post(&["peers", &node, "token"], &Value::Object(Map::new())).await.map_err(|e| {
                unsupported_if_missing(e, "token rotation", || {
                    "the gateway has no POST /peers/{name}/token (the Python reference gateway \
                     lacks it); the current token stays valid"
                        .to_owned()
                })
            })?;
        self.set_token(rotated.peer_token.clone(), "rotated per-peer token");
        Ok(rotated)
    }

    /// The alias table recipients are resolved through: the gateway's
    /// (`GET /aliases`, when it has one) followed by the built-in
    /// [`KNOWN_ALIASES`] it does not override (those have no `created_at`).
    pub async fn aliases(&self) -> Result<Vec<Alias>> {
        let mut out = self.gateway_aliases().await?.unwrap_or_default();
        for (alias, canonical) in KNOWN_ALIASES {
            if !out.iter().any(|a| a.alias == *alias) {
                out.push(Alias { alias: (*alias).to_owned(), canonical: (*canonical).to_owned(), created_at: None });
            }
        }
        Ok(out)
    }

    /// `GET /aliases`; `Ok(None)` when the gateway lacks the endpoint.
    async fn gateway_aliases(&self) -> Result<Option<Vec<Alias>>> {
        match self.get::<AliasList>(&["aliases"], &[]).await {
            Ok(list) => Ok(Some(list.aliases)),
            Err(e) if is_missing_route(&e) => {
                tracing::debug!(gateway = %self.gateway_key, "gateway has no GET /aliases; using built-in aliases only");
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    // ---- recipient check ----------------------------------------------

    /// Runs the recipient pipeline of [`Client::send`] (format, alias,
    /// registry) and returns the canonical name.
    pub async fn check_recipient(&self, name: &str) -> Result<String> {
        Ok(self.resolve_recipient(name).await?.canonical)
    }

    /// Drops this gateway's cached registry so the next send re-reads it.
    pub async fn invalidate_registry(&self) {
        registry::forget(&self.gateway_key).await;
    }

    pub(crate) async fn resolve_recipient(&self, name: &str) -> Result<Recipient> {
        validate_peer_name(name)?;
        let cached = registry::cached(&self.gateway_key).await;
        if let Some(snapshot) = cached.as_ref().filter(|s| s.age() < REGISTRY_TTL) {
            if let Some(recipient) = snapshot.resolve(name) {
                return Ok(recipient);
            }
        }
        // A miss (or no fresh snapshot) re-reads once before rejecting: a
        // peer that registered a minute ago must be reachable now.
        match self.refresh_registry(cached.as_deref()).await {
            Ok(snapshot) => snapshot.resolve(name).ok_or_else(|| snapshot.not_found(name)),
            Err(e) if can_use_stale_registry(&e) => match cached.filter(|s| s.age() < REGISTRY_GRACE) {
                Some(stale) => {
                    tracing::warn!(
                        gateway = %self.gateway_key,
                        age_secs = stale.age().as_secs(),
                        error = %e,
                        "cannot read the peer registry; checking the recipient against a cached copy"
                    );
                    stale.resolve(name).ok_or_else(|| stale.not_found(name))
                }
                None => Err(e),
            },
            Err(e) => Err(e),
        }
    }

    async fn refresh_registry(&self, previous: Option<&Snapshot>) -> Result<Arc<Snapshot>> {
        let (peers, aliases) = tokio::join!(self.get::<PeerList>(&["peers"], &[]), self.gateway_aliases());
        let peers = peers?;
        let gateway_aliases = match aliases {
            Ok(Some(list)) => Some(list.into_iter().map(|a| (a.alias, a.canonical)).collect()),
            Ok(None) => None,
            Err(e @ Error::Auth { .. }) => return Err(e),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the gateway's aliases; keeping the previous table");
                previous.and_then(|p| p.gateway_aliases.clone())
            }
        };
        let (names, disabled) = peer_names(&peers.peers);
        Ok(registry::store(
            &self.gateway_key,
            Snapshot { names, disabled, gateway_aliases, fetched_at: Instant::now() },
        )
        .await)
    }
}

/// Names of the enabled and of the disabled peers in a `GET /peers` answer.
fn peer_names(peers: &[Peer]) -> (std::collections::BTreeSet<String>, std::collections::BTreeSet<String>) {
    let (enabled, disabled): (Vec<&Peer>, Vec<&Peer>) = peers.iter().partition(|p| p.enabled);
    let names = |list: Vec<&Peer>| list.into_iter().map(|p| p.name.clone()).collect();
    (names(enabled), names(disabled))
}

/// Whether the registry check may fall back to a cached copy after `error`:
/// only when the gateway could not answer properly, never for a refused
/// credential.
fn can_use_stale_registry(error: &Error) -> bool {
    match error {
        Error::Unreachable { .. } | Error::Decode { .. } => true,
        Error::Gateway { status, .. } => *status >= 500,
        _ => false,
    }
}
