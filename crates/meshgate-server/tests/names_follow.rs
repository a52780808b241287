//! Sends resolve names with the changes of the moment: after an alias is
//! re-pointed or removed, a peer disabled, enabled, deleted or purged
//! through the API, the very next send answers as a fresh gateway would
//! (the SQLite store keeps resolutions in memory; none may outlive its
//! change). Each name is sent to (or from) first, so a kept answer exists.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::common::{backends, Backend, Gateway, OPERATOR};

async fn gateway(backend: Backend) -> Gateway {
    let gw = Gateway::start_backend(backend, |_| {}).await;
    for name in ["alice", "bob", "carol", "dave"] {
        gw.register(name).await;
    }
    let (s, v) = gw.post("/aliases", json!({"alias": "bee", "canonical": "bob"})).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    gw
}

/// Sends `from` -> `to` with the operator token; the status, and the
/// stored recipient or the error code.
async fn send(gw: &Gateway, from: &str, to: &str) -> (StatusCode, String) {
    let (s, v) = gw.send(from, to, "hello").await;
    let what = if s == StatusCode::OK { &v["to_node"] } else { &v["error"] };
    (s, what.as_str().unwrap_or_default().to_owned())
}

async fn call(gw: &Gateway, method: Method, path: &str, body: Option<Value>) {
    let (s, v) = gw.call(method, path, Some(OPERATOR), body).await;
    assert_eq!(s, StatusCode::OK, "{path}: {v}");
}

#[tokio::test]
async fn a_repointed_or_removed_alias_is_followed_at_once() {
    for backend in backends() {
        let gw = gateway(backend).await;
        assert_eq!(send(&gw, "alice", "bee").await, (StatusCode::OK, "bob".into()));
        call(&gw, Method::POST, "/aliases", Some(json!({"alias": "bee", "canonical": "carol"}))).await;
        assert_eq!(send(&gw, "alice", "bee").await, (StatusCode::OK, "carol".into()), "{backend:?}");
        call(&gw, Method::DELETE, "/aliases/bee", None).await;
        assert_eq!(send(&gw, "alice", "bee").await, (StatusCode::NOT_FOUND, "unknown_recipient".into()));
        // A name unknown a moment ago is found as soon as it exists.
        call(&gw, Method::POST, "/aliases", Some(json!({"alias": "bee", "canonical": "dave"}))).await;
        assert_eq!(send(&gw, "alice", "bee").await, (StatusCode::OK, "dave".into()));
        gw.stop().await;
    }
}

#[tokio::test]
async fn a_disabled_or_enabled_peer_is_followed_at_once() {
    for backend in backends() {
        let gw = gateway(backend).await;
        assert_eq!(send(&gw, "alice", "carol").await, (StatusCode::OK, "carol".into()));
        assert_eq!(send(&gw, "carol", "alice").await, (StatusCode::OK, "alice".into()));
        call(&gw, Method::PATCH, "/peers/carol", Some(json!({"enabled": false}))).await;
        assert_eq!(send(&gw, "alice", "carol").await, (StatusCode::FORBIDDEN, "recipient_disabled".into()));
        assert_eq!(send(&gw, "carol", "alice").await, (StatusCode::FORBIDDEN, "sender_disabled".into()));
        // Through an alias too.
        call(&gw, Method::POST, "/aliases", Some(json!({"alias": "cee", "canonical": "carol"}))).await;
        assert_eq!(send(&gw, "alice", "cee").await, (StatusCode::FORBIDDEN, "recipient_disabled".into()));
        call(&gw, Method::PATCH, "/peers/carol", Some(json!({"enabled": true}))).await;
        assert_eq!(send(&gw, "alice", "cee").await, (StatusCode::OK, "carol".into()));
        assert_eq!(send(&gw, "carol", "alice").await, (StatusCode::OK, "alice".into()), "{backend:?}");
        gw.stop().await;
    }
}

#[tokio::test]
async fn a_deleted_or_purged_peer_is_followed_at_once() {
    for backend in backends() {
        let gw = gateway(backend).await;
        assert_eq!(send(&gw, "alice", "bob").await, (StatusCode::OK, "bob".into()));
        assert_eq!(send(&gw, "alice", "bee").await, (StatusCode::OK, "bob".into()));
        assert_eq!(send(&gw, "bob", "alice").await, (StatusCode::OK, "alice".into()));
        call(&gw, Method::DELETE, "/peers/bob", None).await;
        assert_eq!(send(&gw, "alice", "bob").await, (StatusCode::NOT_FOUND, "unknown_recipient".into()));
        assert_eq!(send(&gw, "alice", "bee").await, (StatusCode::NOT_FOUND, "unknown_recipient".into()));
        assert_eq!(send(&gw, "bob", "alice").await, (StatusCode::UNPROCESSABLE_ENTITY, "unknown_sender".into()));

        assert_eq!(send(&gw, "alice", "dave").await, (StatusCode::OK, "dave".into()));
        call(&gw, Method::DELETE, "/peers/dave?purge=true", None).await;
        assert_eq!(send(&gw, "alice", "dave").await, (StatusCode::NOT_FOUND, "unknown_recipient".into()));
        // Registered again (the purge freed the name): found again.
        gw.register("dave").await;
        assert_eq!(send(&gw, "alice", "dave").await, (StatusCode::OK, "dave".into()), "{backend:?}");
        gw.stop().await;
    }
}
