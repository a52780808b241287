//! An operator's inbox read by alias (`GET /messages?to=ALIAS`): the page's
//! own query resolves the alias (no separate lookup), so a freshly added,
//! repointed or removed alias takes effect on the very next read, on both
//! backends, and the read hands the rows over to the alias's peer.

use std::time::Duration;

use crate::common::{backends, Gateway};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

async fn ids(gw: &Gateway, path: &str) -> Vec<i64> {
    let (s, v) = gw.get(path).await;
    assert_eq!(s, StatusCode::OK, "{path}: {v}");
    v["messages"].as_array().unwrap().iter().map(|m| m["id"].as_i64().unwrap()).collect()
}

async fn sent(gw: &Gateway, from: &str, to: &str) -> i64 {
    let (s, v) = gw.send(from, to, "hello").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v["id"].as_i64().unwrap()
}

async fn delivered_at(gw: &Gateway, id: i64) -> Value {
    gw.get(&format!("/messages/{id}")).await.1["delivered_at"].clone()
}

#[tokio::test]
async fn operator_reads_by_alias_follow_the_aliases_of_the_moment() {
    for backend in backends() {
        let gw = Gateway::start_backend(backend, |_| {}).await;
        for name in ["alice", "bob", "carol"] {
            gw.register(name).await;
        }
        let to_bob = sent(&gw, "alice", "bob").await;
        let to_carol = sent(&gw, "alice", "carol").await;
        let from_bob = sent(&gw, "bob", "carol").await;

        let unread = "/messages?to=bb&unread_only=true&limit=50&peek=true";
        assert_eq!(ids(&gw, unread).await, Vec::<i64>::new(), "{backend:?}: no alias yet");
        let (s, v) = gw.post("/aliases", json!({"alias": "bb", "canonical": "bob"})).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert_eq!(ids(&gw, unread).await, [to_bob], "{backend:?}: added");
        assert_eq!(ids(&gw, "/messages?from=bb&peek=true").await, [from_bob], "{backend:?}: from=");
        assert_eq!(ids(&gw, "/messages?to=carol&from=bb&peek=true").await, [from_bob], "{backend:?}");

        let (s, v) = gw.post("/aliases", json!({"alias": "bb", "canonical": "carol"})).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert_eq!(ids(&gw, unread).await, [from_bob, to_carol], "{backend:?}: repointed");

        let (s, v) = gw.call(Method::DELETE, "/aliases/bb", Some(crate::common::OPERATOR), None).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert_eq!(ids(&gw, unread).await, Vec::<i64>::new(), "{backend:?}: removed");

        // Without `peek`, a read by alias hands the rows over to the peer.
        gw.post("/aliases", json!({"alias": "bb", "canonical": "bob"})).await;
        assert!(delivered_at(&gw, to_bob).await.is_null(), "{backend:?}: peeks deliver nothing");
        assert_eq!(ids(&gw, "/messages?to=bb").await, [to_bob]);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while delivered_at(&gw, to_bob).await.is_null() {
            assert!(tokio::time::Instant::now() < deadline, "{backend:?}: a read by alias never delivered");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(delivered_at(&gw, to_carol).await.is_null(), "{backend:?}: only bob's rows");
        gw.stop().await;
    }
}

/// A long-poll by alias still wakes on a DM to the alias's peer (the wake-up
/// key is the peer's own name, resolved before the wait).
#[tokio::test]
async fn an_operator_long_poll_by_alias_wakes_on_the_peers_dm() {
    let gw = Gateway::start().await;
    gw.register("alice").await;
    gw.register("bob").await;
    gw.post("/aliases", json!({"alias": "bb", "canonical": "bob"})).await;
    let poll = {
        let (url, http) = (gw.url.clone(), gw.http.clone());
        tokio::spawn(async move {
            let resp = http
                .get(format!("{url}/messages?to=bb&wait=10"))
                .bearer_auth(crate::common::OPERATOR)
                .send()
                .await
                .unwrap();
            resp.json::<Value>().await.unwrap()
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let id = sent(&gw, "alice", "bob").await;
    let v = tokio::time::timeout(Duration::from_secs(5), poll).await.expect("the long-poll woke").unwrap();
    assert_eq!(v["messages"][0]["id"], id, "{v}");
    gw.stop().await;
}
