//! An acknowledged message survives `kill -9` of the gateway.
//!
//! Starts the real `meshgate serve` binary on a temp SQLite file, sends
//! from many concurrent tasks, SIGKILLs the process mid-load, restarts it
//! on the same file and checks that every message that got a 200 is there.

use crate::serve_proc;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};

const TOKEN: &str = "durability-operator-token-0123456789";

fn start(dir: &std::path::Path) -> (std::process::Child, String) {
    // A load test: the send limits are not what it measures.
    serve_proc::start(&["--data-dir".as_ref(), dir.as_os_str()], &serve_proc::unlimited(TOKEN))
        .unwrap_or_else(|stderr| panic!("gateway exited before listening:\n{stderr}"))
}

async fn post(http: &reqwest::Client, url: &str, path: &str, body: Value) -> reqwest::Result<reqwest::Response> {
    http.post(format!("{url}{path}")).bearer_auth(TOKEN).json(&body).send().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_messages_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, url) = start(dir.path());
    let http = reqwest::Client::new();
    for name in ["sender", "sink"] {
        let r = post(&http, &url, "/peers/register", json!({"name": name})).await.unwrap();
        assert!(r.status().is_success());
    }

    let acked: Arc<Mutex<Vec<(i64, String)>>> = Arc::default();
    let mut tasks = Vec::new();
    for t in 0..16 {
        let (http, url, acked) = (http.clone(), url.clone(), acked.clone());
        tasks.push(tokio::spawn(async move {
            for i in 0..10_000 {
                let content = format!("task {t} message {i}");
                let body = json!({"from_node": "sender", "to_node": "sink", "kind": "fyi", "content": content});
                match post(&http, &url, "/messages", body).await {
                    Ok(r) if r.status().is_success() => {
                        let v: Value = match r.json().await {
                            Ok(v) => v,
                            Err(_) => return,
                        };
                        acked.lock().unwrap().push((v["id"].as_i64().unwrap(), content));
                    }
                    _ => return, // the gateway is gone
                }
            }
        }));
    }
    // Let a few hundred sends complete, then kill without warning.
    for _ in 0..200 {
        if acked.lock().unwrap().len() >= 400 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    for t in tasks {
        t.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() >= 100, "only {} sends were acknowledged before the kill", acked.len());

    let (mut child, url) = start(dir.path());
    let mut stored = std::collections::HashMap::new();
    let mut after = 0;
    loop {
        let r = http
            .get(format!("{url}/messages?to=sink&after_id={after}&limit=1000"))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        let v: Value = r.json().await.unwrap();
        let rows = v["messages"].as_array().unwrap();
        if rows.is_empty() {
            break;
        }
        for row in rows {
            let id = row["id"].as_i64().unwrap();
            stored.insert(id, row["content"].as_str().unwrap().to_owned());
            after = id;
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    for (id, content) in &acked {
        assert_eq!(stored.get(id), Some(content), "acknowledged message {id} was lost");
    }
}
