//! Two real `meshgate serve` processes on one PostgreSQL database: a
//! message sent through replica A is listed through replica B, and a
//! long-poll on B returns as soon as A stores a message.
//!
//! Uses the `meshgate` binary of this workspace's target directory
//! (`cargo build -p meshgate-cli` first; `cargo test --workspace` builds
//! it). Gated like the other PostgreSQL tests.

use crate::common;

use common::processes::{start, Replica, TOKEN};

use std::time::{Duration, Instant};

use serde_json::{json, Value};

async fn send(http: &reqwest::Client, r: &Replica, content: &str) -> i64 {
    let body = json!({"from_node": "alice", "to_node": "bob", "kind": "fyi", "content": content});
    let resp = http.post(format!("{}/messages", r.url)).bearer_auth(TOKEN).json(&body).send().await.unwrap();
    assert!(resp.status().is_success(), "send: {}", resp.status());
    resp.json::<Value>().await.unwrap()["id"].as_i64().unwrap()
}

async fn list(http: &reqwest::Client, r: &Replica, query: &str) -> Vec<Value> {
    let resp = http.get(format!("{}/messages?{query}", r.url)).bearer_auth(TOKEN).send().await.unwrap();
    assert!(resp.status().is_success(), "list: {}", resp.status());
    resp.json::<Value>().await.unwrap()["messages"].as_array().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_gateways_share_one_database() {
    let Some(db) = common::TestDb::create().await else { return };
    let a = start(&db.url);
    let b = start(&db.url);
    let http = reqwest::Client::new();
    for name in ["alice", "bob"] {
        let r = http
            .post(format!("{}/peers/register", a.url))
            .bearer_auth(TOKEN)
            .json(&json!({"name": name}))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "register {name}: {}", r.status());
    }

    // Sent through A, listed through B.
    let id = send(&http, &a, "hello via A").await;
    let rows = list(&http, &b, "to=bob").await;
    assert!(rows.iter().any(|m| m["id"].as_i64() == Some(id) && m["content"] == "hello via A"), "{rows:?}");

    // A long-poll on B, parked before A stores the next message, returns
    // promptly with it.
    let poll = {
        let (http, url) = (http.clone(), b.url.clone());
        tokio::spawn(async move {
            let started = Instant::now();
            let resp = http
                .get(format!("{url}/messages?to=bob&after_id={id}&wait=10"))
                .bearer_auth(TOKEN)
                .send()
                .await
                .unwrap();
            assert!(resp.status().is_success());
            let v: Value = resp.json().await.unwrap();
            (started.elapsed(), v["messages"].as_array().unwrap().clone())
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    let sent_at = Instant::now();
    let id2 = send(&http, &a, "wake B").await;
    let (took, rows) = poll.await.unwrap();
    assert!(rows.iter().any(|m| m["id"].as_i64() == Some(id2)), "{rows:?}");
    assert!(took < Duration::from_secs(5), "the long-poll took {took:?}");
    eprintln!("long-poll on B returned {:?} after A's send began", sent_at.elapsed());
    assert!(sent_at.elapsed() < Duration::from_secs(2), "woken {:?} after the send", sent_at.elapsed());
    drop((a, b));
}
