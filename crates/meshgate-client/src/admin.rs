//! Operator calls: managing other peers, aliases and tokens. They need the
//! operator token (`MESH_GATEWAY_TOKEN`); a per-peer token gets
//! [`Error::Auth`](crate::Error::Auth) (403) for anything but its own peer.
//! None of them uses the client's own node name.

use meshgate_proto::{Alias, AliasList, DeletePeerQuery, NewAlias, Peer, PeerUpdate, Purged, TokenRotated};
use reqwest::Method;
use serde_json::{json, Value};

use crate::client::Client;
use crate::{registry, Result};

impl Client {
    async fn call<T: serde::de::DeserializeOwned>(
        &self,
        method: Method,
        segments: &[&str],
        query: &[(&str, String)],
        body: Option<Value>,
    ) -> Result<T> {
        let endpoint = format!("{method} /{}", segments.join("/"));
        let mut request = self.authorized(method, segments).query(query);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let answer = self.execute(request, &endpoint).await;
        registry::forget(self.gateway()).await;
        answer
    }

    /// `POST /peers/register {..., "adopt_history": true}` (operator): this
    /// client's node registered on a deleted peer's retired name, inheriting
    /// its DMs (meshgate refuses the name otherwise: 409 `name_retired`).
    #[deprecated(note = "use register(RegisterOptions::new().adopt_history())")]
    pub async fn register_adopting_history(
        &self,
        url: Option<&str>,
        capabilities: Option<serde_json::Map<String, Value>>,
    ) -> Result<meshgate_proto::RegisterResponse> {
        let mut options = crate::RegisterOptions::new().adopt_history();
        options.url = url.map(str::to_owned);
        options.capabilities = capabilities;
        self.register(options).await
    }

    /// `GET /aliases`: the gateway's alias table only (no built-ins).
    pub async fn gateway_alias_table(&self) -> Result<Vec<Alias>> {
        Ok(self.get::<AliasList>(&["aliases"], &[]).await?.aliases)
    }

    /// `POST /aliases` (operator): creates or repoints `alias`.
    pub async fn put_alias(&self, alias: &str, canonical: &str) -> Result<Alias> {
        let body = NewAlias { alias: alias.to_owned(), canonical: canonical.to_owned() };
        self.call(Method::POST, &["aliases"], &[], Some(json!(body))).await
    }

    /// `DELETE /aliases/{alias}` (operator).
    pub async fn delete_alias(&self, alias: &str) -> Result<()> {
        self.call::<Value>(Method::DELETE, &["aliases", alias], &[], None).await.map(drop)
    }

    /// `DELETE /peers/{name}`: deregisters (its DMs stay and retire the name).
    pub async fn delete_peer(&self, name: &str) -> Result<()> {
        self.call::<Value>(Method::DELETE, &["peers", name], &[], None).await.map(drop)
    }

    /// `DELETE /peers/{name}?purge=true` (operator): deletes the peer and
    /// every DM it sent or received; frees the name.
    pub async fn purge_peer(&self, name: &str) -> Result<Purged> {
        let query = DeletePeerQuery { purge: Some(true) };
        self.call(Method::DELETE, &["peers", name], &query.pairs(), None).await
    }

    /// `POST /peers/{name}/revoke` (operator): kills the peer's tokens.
    pub async fn revoke_peer_tokens(&self, name: &str) -> Result<()> {
        self.call::<Value>(Method::POST, &["peers", name, "revoke"], &[], Some(json!({}))).await.map(drop)
    }

    /// `POST /peers/{name}/token` for another peer (operator): a new token
    /// for `name`; unlike [`Client::rotate_token`], this client keeps its own.
    pub async fn rotate_peer_token(&self, name: &str) -> Result<TokenRotated> {
        self.call(Method::POST, &["peers", name, "token"], &[], Some(json!({}))).await
    }

    /// `PATCH /peers/{name} {"secret_guard": ...}` (operator): the peer's own
    /// credential-guard policy (`block`, `warn`, `off`), or `None` for the
    /// gateway's.
    pub async fn set_peer_secret_guard(&self, name: &str, policy: Option<&str>) -> Result<Peer> {
        let update = PeerUpdate { secret_guard: Some(policy.map(str::to_owned)), ..PeerUpdate::default() };
        self.call(Method::PATCH, &["peers", name], &[], Some(json!(update))).await
    }

    /// `PATCH /peers/{name} {"enabled": ...}` (operator): a disabled peer's
    /// token is refused and DMs to it are refused; its data stays.
    pub async fn set_peer_enabled(&self, name: &str, enabled: bool) -> Result<Peer> {
        let update = PeerUpdate { enabled: Some(enabled), ..PeerUpdate::default() };
        let peer = self.call(Method::PATCH, &["peers", name], &[], Some(json!(update))).await;
        registry::forget(self.gateway()).await;
        peer
    }
}
