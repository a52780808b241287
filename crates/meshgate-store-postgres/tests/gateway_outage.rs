//! The gateway over HTTP while PostgreSQL goes away and comes back: sends
//! fail fast with 503 `store_unavailable`, `/health` (liveness) stays 200
//! and says the store is down, `/ready` is 503 `store_unavailable`, the
//! gateway recovers by itself, and every acknowledged message is there.

use crate::common;

use std::time::{Duration, Instant};

use common::processes::{pg, start, Cluster, TOKEN};
use serde_json::{json, Value};

async fn send(http: &reqwest::Client, url: &str, i: usize) -> (u16, Value) {
    let body = json!({"from_node": "alice", "to_node": "bob", "kind": "fyi", "content": format!("m{i}")});
    let resp = http.post(format!("{url}/messages")).bearer_auth(TOKEN).json(&body).send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_answers_503_during_an_outage_and_recovers() {
    if common::base_url().is_none() {
        return;
    }
    let dir = tempfile::Builder::new().prefix("meshgate-pg-outage").tempdir().unwrap();
    let cluster = Cluster { root: dir.path().join("cluster"), _dir: dir };
    let url = pg(&cluster.root, "start");
    let gw = start(&url);
    let http = reqwest::Client::builder().timeout(Duration::from_secs(20)).build().unwrap();
    for name in ["alice", "bob"] {
        let r = http
            .post(format!("{}/peers/register", gw.url))
            .bearer_auth(TOKEN)
            .json(&json!({"name": name}))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
    }
    let mut acked = Vec::new();
    for i in 0..20 {
        let (s, v) = send(&http, &gw.url, i).await;
        assert_eq!(s, 200, "{v}");
        acked.push((v["id"].as_i64().unwrap(), format!("m{i}")));
    }

    let root = cluster.root.clone();
    tokio::task::spawn_blocking(move || pg(&root, "halt")).await.unwrap();
    for i in 20..25 {
        let started = Instant::now();
        let (s, v) = send(&http, &gw.url, i).await;
        assert_eq!((s, v["error"].as_str()), (503, Some("store_unavailable")), "{v}");
        assert!(started.elapsed() < Duration::from_secs(5), "failed slowly: {:?}", started.elapsed());
    }
    let health = http.get(format!("{}/health", gw.url)).send().await.unwrap();
    assert_eq!(health.status().as_u16(), 200);
    let body: Value = health.json().await.unwrap();
    assert_eq!((body["status"].as_str(), body["store"].as_str()), (Some("degraded"), Some("unavailable")));
    let ready = http.get(format!("{}/ready", gw.url)).send().await.unwrap();
    assert_eq!(ready.status().as_u16(), 503);
    let body: Value = ready.json().await.unwrap();
    assert_eq!(body["error"].as_str(), Some("store_unavailable"), "{body}");

    let root = cluster.root.clone();
    tokio::task::spawn_blocking(move || pg(&root, "start")).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut i = 25;
    loop {
        let (s, v) = send(&http, &gw.url, i).await;
        if s == 200 {
            acked.push((v["id"].as_i64().unwrap(), format!("m{i}")));
            break;
        }
        assert_eq!(s, 503, "{v}");
        assert!(Instant::now() < deadline, "the gateway did not recover");
        tokio::time::sleep(Duration::from_millis(200)).await;
        i += 1;
    }
    let health = http.get(format!("{}/health", gw.url)).send().await.unwrap();
    assert_eq!(health.status().as_u16(), 200);
    let ready = http.get(format!("{}/ready", gw.url)).send().await.unwrap();
    assert_eq!(ready.status().as_u16(), 200);
    let resp = http.get(format!("{}/messages?to=bob&after_id=0&limit=1000", gw.url)).bearer_auth(TOKEN).send().await;
    let rows: Value = resp.unwrap().json().await.unwrap();
    let stored: Vec<(i64, String)> = rows["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["id"].as_i64().unwrap(), r["content"].as_str().unwrap().to_owned()))
        .collect();
    for m in &acked {
        assert!(stored.contains(m), "acknowledged message {m:?} was lost");
    }
}
