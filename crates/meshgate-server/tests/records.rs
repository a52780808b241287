//! Peer records are bounded and sane (issue #12.8), and `last_seen` moves
//! only on a peer's own requests.

use crate::common;

use std::time::Duration;

use common::Gateway;
use reqwest::{Method, StatusCode};
use serde_json::{json, Map, Value};

#[tokio::test]
async fn urls_must_be_web_addresses_and_capabilities_are_capped() {
    let gw = Gateway::start().await;
    gw.register("alpha").await;
    let huge: Map<String, Value> = (0..200).map(|i| (format!("k{i}"), json!("x".repeat(100)))).collect();
    let mut deep = json!(true);
    for _ in 0..9 {
        deep = json!({ "d": deep });
    }
    let wide: Map<String, Value> = (0..300).map(|i| (format!("k{i}"), json!(i))).collect();
    let cases = [
        (json!({"name": "alpha", "url": "javascript:alert(1)"}), "invalid_url"),
        (json!({"name": "alpha", "url": "file:///etc/passwd"}), "invalid_url"),
        (json!({"name": "alpha", "url": "http://"}), "invalid_url"),
        (json!({"name": "alpha", "url": format!("http://h/{}", "a".repeat(2048))}), "invalid_field"),
        (json!({"name": "alpha", "capabilities": huge}), "capabilities_too_large"),
        (json!({"name": "alpha", "capabilities": deep}), "capabilities_too_complex"),
        (json!({"name": "alpha", "capabilities": wide}), "capabilities_too_complex"),
        (json!({"name": "beta", "url": "javascript:alert(1)"}), "invalid_url"),
    ];
    for (body, code) in cases {
        let (s, v) = gw.post("/peers/register", body).await;
        assert_eq!((s, v["error"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some(code)), "{v}");
        assert!(!v["detail"].as_str().unwrap().contains("alert"), "errors never echo input: {v}");
    }
    let (_, row) = gw.get("/peers/alpha").await;
    assert_eq!((row["url"].as_str(), &row["capabilities"]), (Some("http://x.invalid:1"), &json!({})), "unchanged");
    let (s, _) = gw.get("/peers/beta").await;
    assert_eq!(s, StatusCode::NOT_FOUND, "nothing registered");
    let (s, v) = gw.post("/peers/register", json!({"name": "alpha", "url": "HTTPS://lab.example:8443/x"})).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    gw.stop().await;
}

#[tokio::test]
async fn last_seen_moves_only_on_the_peers_own_requests() {
    let gw = Gateway::start_with(|c| c.last_seen_flush = Duration::from_millis(20)).await;
    let alice = gw.register("alice").await;
    gw.register("bob").await;
    let seen = || async { gw.get("/peers/bob").await.1["last_seen"].as_str().unwrap().to_owned() };
    let before = seen().await;
    // The operator reads bob's inbox, streams it, sends as bob and marks
    // his mail read; alice writes to him.
    let (_, sent) = gw.send("alice", "bob", "for bob").await;
    gw.send("bob", "alice", "operator as bob").await;
    gw.get("/messages?to=bob").await;
    gw.get("/messages?to=bob&wait=1").await;
    let id = sent["id"].as_i64().unwrap();
    gw.post(&format!("/messages/{id}/read"), json!({})).await;
    gw.call(Method::GET, "/messages?to=alice", Some(&alice), None).await;
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(seen().await, before, "nobody but bob moves bob's last_seen");
    gw.stop().await;
}

/// Issue #11.6: a Python agent never puts `skip_secret_check` on the wire,
/// so the operator can relax the guard for that one sender, without
/// weakening anyone else.
#[tokio::test]
async fn the_operator_sets_a_per_peer_guard_policy() {
    let gw = Gateway::start().await;
    let bob = gw.register("bob").await;
    let alice = gw.register("alice").await;
    let secret = format!("key: ghp_{}", "A1b2C3d4E5".repeat(4));
    let send = |token: String, to: &'static str| {
        let body = json!({"to_node": to, "kind": "fyi", "content": secret.clone()});
        let gw = &gw;
        async move { gw.call(Method::POST, "/messages", Some(&token), Some(body)).await }
    };
    let (s, v) = send(bob.clone(), "alice").await;
    assert_eq!((s, v["error"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("secret_detected")));
    assert!(v["detail"].as_str().unwrap().contains("PATCH /peers/"), "the refusal says how: {v}");

    let patch = |token: &str, body: Value| {
        let token = token.to_owned();
        let gw = &gw;
        async move { gw.call(Method::PATCH, "/peers/bob", Some(&token), Some(body)).await }
    };
    let (s, _) = patch(&bob, json!({"secret_guard": "off"})).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "a peer cannot relax its own guard");
    let (s, v) = patch(common::OPERATOR, json!({"secret_guard": "sometimes"})).await;
    assert_eq!((s, v["error"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_field")));
    let (s, v) = patch(common::OPERATOR, json!({"secret_guard": "warn"})).await;
    assert_eq!((s, v["secret_guard"].as_str()), (StatusCode::OK, Some("warn")), "{v}");

    let (s, v) = send(bob.clone(), "alice").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, _) = send(alice.clone(), "bob").await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "everyone else keeps the gateway's policy");
    let (_, v) = gw.call(Method::GET, "/peers/bob", Some(&alice), None).await;
    assert_eq!(v.get("secret_guard"), None, "peers do not see the operator's policy: {v}");
    let (_, v) = gw.call(Method::GET, "/peers", Some(&bob), None).await;
    assert!(v["peers"].as_array().unwrap().iter().all(|p| p.get("secret_guard").is_none()), "{v}");
    let (_, v) = gw.get("/peers").await;
    assert_eq!(v["peers"][1]["secret_guard"], "warn", "the operator does: {v}");

    let (s, v) = patch(common::OPERATOR, json!({"secret_guard": null})).await;
    assert_eq!((s, v.get("secret_guard")), (StatusCode::OK, None));
    let (s, _) = send(bob.clone(), "alice").await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "back to the gateway's policy");
    gw.stop().await;

    // A gateway that does not scan still guards a peer set to block.
    let gw = Gateway::start_with(|c| c.secret_guard = meshgate_server::SecretGuard::Off).await;
    let bob = gw.register("bob").await;
    gw.register("alice").await;
    let body = json!({"to_node": "alice", "kind": "fyi", "content": secret.clone()});
    let (s, _) = gw.call(Method::POST, "/messages", Some(&bob), Some(body.clone())).await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) =
        gw.call(Method::PATCH, "/peers/bob", Some(common::OPERATOR), Some(json!({"secret_guard": "block"}))).await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = gw.call(Method::POST, "/messages", Some(&bob), Some(body)).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    gw.stop().await;
}
