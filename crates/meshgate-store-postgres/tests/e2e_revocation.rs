//! Revocation reaches open connections on every replica: two real
//! `meshgate serve` processes on one PostgreSQL database; a stream and a
//! long-poll opened on replica B end when A rotates the token, or deletes
//! the peer (whose name is then registered again for a new owner).
//!
//! Uses the `meshgate` binary (`cargo build -p meshgate-cli` first). Gated
//! like the other PostgreSQL tests.

use crate::common;

use common::processes::{start, Replica, TOKEN};

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use reqwest::StatusCode;
use serde_json::{json, Value};

async fn call(http: &reqwest::Client, method: reqwest::Method, url: String, token: &str) -> (StatusCode, Value) {
    let resp = http.request(method, url).bearer_auth(token).send().await.unwrap();
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn register(http: &reqwest::Client, r: &Replica, name: &str) -> String {
    let resp =
        http.post(format!("{}/peers/register", r.url)).bearer_auth(TOKEN).json(&json!({"name": name})).send().await;
    let v: Value = resp.unwrap().json().await.unwrap();
    v["peer_token"].as_str().unwrap_or_default().to_owned()
}

async fn open_stream(http: &reqwest::Client, r: &Replica, token: &str) -> reqwest::Response {
    let resp = http.get(format!("{}/messages/stream", r.url)).bearer_auth(token).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    resp
}

/// The event ids a stream delivers until it ends; panics after `within`.
async fn read_to_end(resp: reqwest::Response, within: Duration) -> Vec<String> {
    let mut stream = resp.bytes_stream();
    let mut buf = String::new();
    let deadline = tokio::time::Instant::now() + within;
    while let Some(chunk) = tokio::time::timeout_at(deadline, stream.next()).await.expect("the stream ended in time") {
        match chunk {
            Ok(c) => buf.push_str(&String::from_utf8_lossy(&c)),
            Err(_) => break,
        }
    }
    buf.lines().filter_map(|l| l.strip_prefix("id:")).map(|s| s.trim().to_owned()).collect()
}

/// A stream and a long-poll on `b` with `token` end when `change` runs
/// (on the other replica).
async fn change_ends_on_b(
    http: &reqwest::Client,
    b: &Replica,
    token: &str,
    change: impl std::future::Future<Output = ()>,
) {
    let stream = open_stream(http, b, token).await;
    let poll = {
        let req = http.get(format!("{}/messages?wait=30", b.url)).bearer_auth(token);
        tokio::spawn(async move {
            let resp = req.send().await.unwrap();
            (resp.status(), resp.json::<Value>().await.unwrap())
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    let started = Instant::now();
    change.await;
    assert!(read_to_end(stream, Duration::from_secs(5)).await.is_empty());
    let (s, v) = tokio::time::timeout(Duration::from_secs(5), poll).await.expect("long-poll answered").unwrap();
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{v}");
    assert_eq!(v["error"], "token_revoked");
    eprintln!("replica B ended its responses {:?} after A's change began", started.elapsed());
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocation_on_one_replica_ends_streams_on_the_other() {
    let Some(db) = common::TestDb::create().await else { return };
    let a = start(&db.url);
    let b = start(&db.url);
    let http = reqwest::Client::new();
    register(&http, &a, "alice").await;
    let bob = register(&http, &a, "bob").await;
    assert!(!bob.is_empty());

    // Rotation on A ends bob's old-token responses on B.
    let mut rotated = String::new();
    change_ends_on_b(&http, &b, &bob, async {
        let (s, v) = call(&http, reqwest::Method::POST, format!("{}/peers/bob/token", a.url), &bob).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        rotated = v["peer_token"].as_str().unwrap().to_owned();
    })
    .await;

    // Deletion on A, then a new owner of the name: B's old stream is gone.
    change_ends_on_b(&http, &b, &rotated, async {
        let (s, v) = call(&http, reqwest::Method::DELETE, format!("{}/peers/bob", a.url), TOKEN).await;
        assert_eq!(s, StatusCode::OK, "{v}");
    })
    .await;
    let new_owner = register(&http, &a, "bob").await;
    let body = json!({"from_node": "alice", "to_node": "bob", "kind": "fyi", "content": "for the new owner"});
    let resp = http.post(format!("{}/messages", a.url)).bearer_auth(TOKEN).json(&body).send().await.unwrap();
    assert!(resp.status().is_success());
    let (s, _) = call(&http, reqwest::Method::GET, format!("{}/messages/stream", b.url), &rotated).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "the old token opens nothing on B");
    let (s, v) = call(&http, reqwest::Method::GET, format!("{}/messages?after_id=0", b.url), &new_owner).await;
    assert_eq!((s, v["n"].as_u64()), (StatusCode::OK, Some(1)));
    drop((a, b));
}
