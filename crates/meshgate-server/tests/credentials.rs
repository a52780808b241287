//! Live credentials of this gateway in a DM body are refused whatever the
//! guard policy or `skip_secret_check` says (hostile review: a peer token,
//! or an operator token without the `mgo_` shape, passed with the flag).

use crate::common;

use common::{Gateway, OPERATOR};
use meshgate_server::SecretGuard;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// `from` (with its own token) sends `content` to beta with `skip_secret_check`.
async fn send_skipping(gw: &Gateway, token: &str, content: &str) -> (StatusCode, Value) {
    let body = json!({"to_node": "beta", "kind": "fyi", "content": content, "skip_secret_check": true});
    gw.call(Method::POST, "/messages", Some(token), Some(body)).await
}

fn assert_refused((s, v): (StatusCode, Value), secret: &str) {
    assert_eq!((s, v["error"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("secret_detected")), "{v}");
    assert!(!v.to_string().contains(secret), "the credential is never echoed: {v}");
}

#[tokio::test]
async fn live_tokens_are_refused_even_when_the_check_is_skipped_or_off() {
    for policy in [SecretGuard::Block, SecretGuard::Off] {
        let gw = Gateway::start_with(|c| c.secret_guard = policy).await;
        let alpha = gw.register("alpha").await;
        let beta = gw.register("beta").await;
        gw.register("gamma").await;
        for content in [
            format!("beta's token is {beta}"),
            format!("curl http://gw:8788/messages?token%3D{beta}"),
            format!("MY_TOKEN_{beta}"),
            format!("the operator token is {OPERATOR}"),
        ] {
            let secret = if content.contains(OPERATOR) { OPERATOR } else { beta.as_str() };
            assert_refused(send_skipping(&gw, &alpha, &content).await, secret);
        }
        // The operator token may not carry another peer's token either.
        let body = json!({"from_node": "gamma", "to_node": "beta", "kind": "fyi", "content": format!("use {alpha}"), "skip_secret_check": true});
        assert_refused(gw.call(Method::POST, "/messages", Some(OPERATOR), Some(body)).await, &alpha);
        assert!(gw.inbox("beta").await.is_empty(), "{policy:?}: nothing was stored");

        // A rotated (dead) token is harmless: the flag lets it through again.
        let (s, v) = gw.post("/peers/beta/token", json!({})).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        let (s, v) = send_skipping(&gw, &alpha, &format!("old token {beta}")).await;
        assert_eq!(s, StatusCode::OK, "{policy:?}: {v}");
        assert_eq!(gw.inbox("beta").await.len(), 1);
        gw.stop().await;
    }
}

/// A short operator token is not looked for in peers' bodies: the yes/no
/// of that check over a body of thousands of candidates found an
/// 8-character one by bisection in 22 s (hostile review, session 10). The
/// operator's own requests are still checked for it (their bearer token).
#[tokio::test]
async fn a_short_operator_token_is_no_oracle_for_peers() {
    const SHORT: &str = "op-23-characters-long-x";
    assert!(SHORT.len() < meshgate_server::MIN_OPERATOR_TOKEN);
    let gw = Gateway::start_with(|c| c.operator_token = meshgate_server::OperatorToken::new(SHORT)).await;
    let mut tokens = Vec::new();
    for name in ["alpha", "beta"] {
        let (s, v) = gw.call(Method::POST, "/peers/register", Some(SHORT), Some(json!({"name": name}))).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        tokens.push(v["peer_token"].as_str().unwrap().to_owned());
    }
    let candidates = format!("op-23-characters-long-w {SHORT} op-23-characters-long-y");
    let (s, v) = send_skipping(&gw, &tokens[0], &candidates).await;
    assert_eq!(s, StatusCode::OK, "a peer learns nothing about a short operator token: {v}");
    let body = json!({"from_node": "alpha", "to_node": "beta", "kind": "fyi", "content": candidates, "skip_secret_check": true});
    assert_refused(gw.call(Method::POST, "/messages", Some(SHORT), Some(body)).await, SHORT);
    gw.stop().await;
}

#[tokio::test]
async fn token_shapes_to_look_up_are_bounded() {
    let gw = Gateway::start().await;
    let alpha = gw.register("alpha").await;
    gw.register("beta").await;
    let shape = |i: usize| format!("mgp_{:0>43}", i);
    let fits: Vec<String> = (0..64).map(shape).collect();
    // One shape repeated counts once.
    let repeated = format!("{} {}", fits.join(" "), fits[0].repeat(100));
    let (s, v) = send_skipping(&gw, &alpha, &repeated).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let over: Vec<String> = (0..65).map(shape).collect();
    let (s, v) = send_skipping(&gw, &alpha, &over.join(" ")).await;
    assert_eq!((s, v["error"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("secret_detected")), "{v}");
    assert_eq!(gw.inbox("beta").await.len(), 1);
    gw.stop().await;
}

#[tokio::test]
async fn tokens_in_the_id_fields_of_a_send_are_refused() {
    let gw = Gateway::start().await;
    let alpha = gw.register("alpha").await;
    let beta = gw.register("beta").await;
    for field in ["related_task_id", "idempotency_key"] {
        for secret in [alpha.as_str(), beta.as_str(), OPERATOR] {
            let mut body = json!({"to_node": "beta", "kind": "fyi", "content": "see the task"});
            body[field] = json!(format!("task {secret}"));
            let (s, v) = gw.call(Method::POST, "/messages", Some(&alpha), Some(body)).await;
            assert_refused((s, v.clone()), secret);
            assert!(v["detail"].as_str().unwrap_or_default().contains(field), "{v}");
        }
    }
    assert!(gw.inbox("beta").await.is_empty());
    let body = json!({"to_node": "beta", "kind": "fyi", "content": "see", "related_task_id": "JIRA-42", "idempotency_key": "k1"});
    let (s, v) = gw.call(Method::POST, "/messages", Some(&alpha), Some(body)).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    gw.stop().await;
}

#[tokio::test]
async fn tokens_in_a_peers_url_or_capabilities_are_refused() {
    let gw = Gateway::start().await;
    let alpha = gw.register("alpha").await;
    let beta = gw.register("beta").await;
    for secret in [alpha.as_str(), beta.as_str(), OPERATOR] {
        for body in [
            json!({"name": "alpha", "url": format!("http://x.local/?token={secret}")}),
            json!({"name": "alpha", "capabilities": {"auth": secret}}),
        ] {
            let (s, v) = gw.call(Method::POST, "/peers/register", Some(&alpha), Some(body)).await;
            assert_refused((s, v), secret);
        }
    }
    let (s, v) = gw.call(Method::GET, "/peers/alpha", Some(&beta), None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert!(!v.to_string().contains(&alpha), "nothing was stored: {v}");
    let body = json!({"name": "alpha", "url": "http://x.local/hook", "capabilities": {"runtime": "claude"}});
    let (s, v) = gw.call(Method::POST, "/peers/register", Some(&alpha), Some(body)).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    gw.stop().await;
}
