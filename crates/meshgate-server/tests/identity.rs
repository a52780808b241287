//! Identity bound to credentials: with two peers' tokens, every forging
//! attempt fails; the operator token can do everything.

use crate::common;

use common::{Gateway, OPERATOR};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

struct Mesh {
    gw: Gateway,
    a: String,
    b: String,
}

async fn mesh() -> Mesh {
    let gw = Gateway::start().await;
    let a = gw.register("alice").await;
    let b = gw.register("bob").await;
    gw.register("carol").await;
    Mesh { gw, a, b }
}

impl Mesh {
    async fn as_peer(&self, token: &str, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        self.gw.call(method, path, Some(token), body).await
    }
}

#[tokio::test]
async fn a_peer_token_sends_only_as_its_peer() {
    let m = mesh().await;
    let forged = json!({"from_node": "bob", "to_node": "carol", "kind": "fyi", "content": "I am bob"});
    let (s, v) = m.as_peer(&m.a, Method::POST, "/messages", Some(forged)).await;
    assert_eq!((s, v["error"].as_str()), (StatusCode::FORBIDDEN, Some("caller_binding")));
    assert!(m.gw.inbox("carol").await.is_empty(), "nothing was stored");
    // Omitting from_node lets the gateway fill it in from the token.
    let (s, v) = m
        .as_peer(&m.a, Method::POST, "/messages", Some(json!({"to_node": "bob", "kind": "fyi", "content": "hi"})))
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["from_node"], "alice");
    m.gw.stop().await;
}

#[tokio::test]
async fn a_peer_reads_only_its_own_inbox() {
    let m = mesh().await;
    m.gw.send("carol", "bob", "for bob").await;
    m.gw.send("carol", "alice", "for alice").await;
    for path in ["/messages?to=bob", "/messages?to_node=bob", "/messages?from=carol", "/messages/stream?to=bob"] {
        let (s, v) = m.as_peer(&m.a, Method::GET, path, None).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{path}: {v}");
    }
    // Unfiltered, a peer sees only what involves it.
    let (s, v) = m.as_peer(&m.a, Method::GET, "/messages", None).await;
    assert_eq!(s, StatusCode::OK);
    let rows = v["messages"].as_array().unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["content"], "for alice");
    let (s, v) = m.as_peer(&m.a, Method::GET, "/messages?to=alice", None).await;
    assert_eq!((s, v["n"].as_u64()), (StatusCode::OK, Some(1)));
    m.gw.stop().await;
}

#[tokio::test]
async fn only_the_recipient_marks_read() {
    let m = mesh().await;
    let (_, sent) = m.gw.send("carol", "bob", "for bob").await;
    let id = sent["id"].as_i64().unwrap();
    let (s, _) = m.as_peer(&m.a, Method::POST, &format!("/messages/{id}/read"), None).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, v) = m.as_peer(&m.a, Method::POST, "/messages/read", Some(json!({"ids": [id]}))).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["marked"], json!([]));
    assert_eq!(v["not_found"], json!([id]));
    assert_eq!(m.gw.inbox("bob").await[0]["read_at"], Value::Null, "still unread");
    let (s, _) = m.as_peer(&m.b, Method::POST, &format!("/messages/{id}/read"), None).await;
    assert_eq!(s, StatusCode::OK);
    m.gw.stop().await;
}

#[tokio::test]
async fn a_peer_registers_rotates_and_deregisters_only_itself() {
    let m = mesh().await;
    let attempts = [
        (Method::POST, "/peers/register", Some(json!({"name": "bob", "url": "http://evil.invalid"}))),
        (Method::POST, "/peers/bob/token", None),
        (Method::DELETE, "/peers/bob", None),
        (Method::POST, "/peers/bob/revoke", None),
        (Method::PATCH, "/peers/bob", Some(json!({"enabled": false}))),
        (Method::POST, "/aliases", Some(json!({"alias": "bobby", "canonical": "alice"}))),
    ];
    for (method, path, body) in attempts {
        let (s, v) = m.as_peer(&m.a, method.clone(), path, body).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{method} {path}: {v}");
    }
    let bob = m.gw.get("/peers/bob").await.1;
    assert_eq!(bob["url"], "http://x.invalid:1", "bob's row is untouched");
    let (s, _) = m.as_peer(&m.b, Method::GET, "/peers", None).await;
    assert_eq!(s, StatusCode::OK, "bob's token still works");
    m.gw.stop().await;
}

#[tokio::test]
async fn rotated_revoked_and_deregistered_tokens_die_at_once() {
    let m = mesh().await;
    let (s, v) = m.as_peer(&m.a, Method::POST, "/peers/alice/token", None).await;
    assert_eq!(s, StatusCode::OK);
    let fresh = v["peer_token"].as_str().unwrap().to_owned();
    assert_eq!(v["token_generation"], 2);
    for (method, path) in
        [(Method::GET, "/peers"), (Method::GET, "/messages?to=alice"), (Method::POST, "/messages/read")]
    {
        let body = (method == Method::POST).then(|| json!({"ids": []}));
        let (s, _) = m.as_peer(&m.a, method.clone(), path, body).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "old token on {method} {path}");
    }
    let (s, _) = m.as_peer(&fresh, Method::GET, "/peers", None).await;
    assert_eq!(s, StatusCode::OK);

    let (s, _) = m.gw.post("/peers/alice/revoke", json!({})).await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = m.as_peer(&fresh, Method::GET, "/peers", None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "revoked");
    let (_, again) = m.gw.post("/peers/register", json!({"name": "alice"})).await;
    assert_eq!(again["token_status"], "minted", "re-registering after a revocation mints a new generation");
    assert_eq!(again["token_generation"], 3);

    let (s, _) = m.as_peer(&m.b, Method::DELETE, "/peers/bob", None).await;
    assert_eq!(s, StatusCode::OK, "a peer may deregister itself");
    let (s, _) = m.as_peer(&m.b, Method::GET, "/peers", None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "deregistration revokes the token");
    m.gw.stop().await;
}

#[tokio::test]
async fn disabled_peers_cannot_send_or_be_sent_to() {
    let m = mesh().await;
    let (s, _) = m.gw.call(Method::PATCH, "/peers/bob", Some(OPERATOR), Some(json!({"enabled": false}))).await;
    assert_eq!(s, StatusCode::OK);
    let (s, v) = m.gw.send("alice", "bob", "x").await;
    assert_eq!((s, v["error"].as_str()), (StatusCode::FORBIDDEN, Some("recipient_disabled")));
    let (s, v) = m.gw.send("bob", "alice", "x").await;
    assert_eq!((s, v["error"].as_str()), (StatusCode::FORBIDDEN, Some("sender_disabled")));
    let (s, v) = m.as_peer(&m.b, Method::GET, "/peers", None).await;
    assert_eq!((s, v["error"].as_str()), (StatusCode::FORBIDDEN, Some("peer_disabled")));
    m.gw.stop().await;
}

#[tokio::test]
async fn require_peer_tokens_refuses_the_operator_for_message_traffic() {
    let gw = Gateway::start_with(|c| c.require_peer_tokens = true).await;
    let a = gw.register("alice").await;
    gw.register("bob").await;
    let (s, v) = gw.send("alice", "bob", "x").await;
    assert_eq!((s, v["error"].as_str()), (StatusCode::FORBIDDEN, Some("peer_token_required")));
    let (s, _) = gw.get("/messages?to=bob").await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = gw
        .call(Method::POST, "/messages", Some(&a), Some(json!({"to_node": "bob", "kind": "fyi", "content": "x"})))
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = gw.get("/peers").await;
    assert_eq!(s, StatusCode::OK, "administration still works with the operator token");
    gw.stop().await;
}

/// The other peer-scoped routes honour the flag exactly as the inbox does:
/// the operator (shared) token is refused with it and allowed without it;
/// the peer's own token works either way.
#[tokio::test]
async fn require_peer_tokens_covers_the_ladder_and_obligations() {
    for required in [true, false] {
        let gw = Gateway::start_with(|c| c.require_peer_tokens = required).await;
        let a = gw.register("alice").await;
        let b = gw.register("bob").await;
        let c = gw.register("carol").await;
        let question = json!({"to_node": "bob", "kind": "question", "content": "ready?"});
        let (s, v) = gw.call(Method::POST, "/messages", Some(&a), Some(question)).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        let id = v["id"].as_i64().unwrap();
        for path in [format!("/messages/{id}"), "/obligations".into(), "/obligations?peer=bob".into()] {
            let (s, v) = gw.get(&path).await;
            if required {
                assert_eq!((s, v["error"].as_str()), (StatusCode::FORBIDDEN, Some("peer_token_required")), "{path}");
            } else {
                assert_eq!(s, StatusCode::OK, "{path}: {v}");
            }
            let (s, v) = gw.call(Method::GET, &path, Some(&b), None).await;
            assert_eq!(s, StatusCode::OK, "{path} with bob's own token: {v}");
        }
        let (s, v) = gw.call(Method::GET, "/obligations", Some(&b), None).await;
        assert_eq!((s, v["owed"][0]["id"].as_i64()), (StatusCode::OK, Some(id)));
        // A third peer's own token is never refused by the flag, and sees nothing of the pair's.
        let (s, v) = gw.call(Method::GET, &format!("/messages/{id}"), Some(&c), None).await;
        assert_eq!((s, v["error"].as_str()), (StatusCode::NOT_FOUND, Some("unknown_message")));
        let (s, v) = gw.call(Method::GET, "/obligations?peer=bob", Some(&c), None).await;
        assert_eq!((s, v["error"].as_str()), (StatusCode::FORBIDDEN, Some("forbidden")));
        let (s, v) = gw.call(Method::GET, "/obligations", Some(&c), None).await;
        assert_eq!((s, &v["owed"], &v["awaiting"]), (StatusCode::OK, &json!([]), &json!([])));
        gw.stop().await;
    }
}

#[tokio::test]
async fn last_seen_reflects_activity_after_a_flush() {
    let gw = Gateway::start_with(|c| c.last_seen_flush = std::time::Duration::from_millis(50)).await;
    let a = gw.register("alice").await;
    let before = gw.get("/peers/alice").await.1["last_seen"].as_str().unwrap().to_owned();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let (s, _) = gw.call(Method::GET, "/peers", Some(&a), None).await;
    assert_eq!(s, StatusCode::OK);
    let mut after = before.clone();
    for _ in 0..100 {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        after = gw.get("/peers/alice").await.1["last_seen"].as_str().unwrap().to_owned();
        if after > before {
            break;
        }
    }
    assert!(after > before, "last_seen {after} did not advance past {before}");
    gw.stop().await;
}
