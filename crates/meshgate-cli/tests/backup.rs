//! `meshgate backup` against a gateway serving with sends in flight: the
//! copy is consistent, private and checked, serves as a store of its own
//! with every DM acknowledged before the backup began, and is never
//! written over without `--force`; a PostgreSQL URL points at pg_dump.

mod common;
mod serve_proc;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::meshgate;
use serde_json::{json, Value};

const OPERATOR: &str = "operator-backup-token-0123456789";

async fn send(http: &reqwest::Client, url: &str, content: &str) -> i64 {
    let body = json!({"from_node": "alice", "to_node": "bob", "kind": "fyi", "content": content});
    let resp = http.post(format!("{url}/messages")).bearer_auth(OPERATOR).json(&body).send().await.unwrap();
    assert!(resp.status().is_success(), "send: {}", resp.status());
    resp.json::<Value>().await.unwrap()["id"].as_i64().unwrap()
}

/// Every DM of bob's inbox at `url`: id -> content.
async fn all_dms(http: &reqwest::Client, url: &str) -> HashMap<i64, String> {
    let mut out = HashMap::new();
    let mut after = 0;
    loop {
        let page: Value = http
            .get(format!("{url}/messages?to=bob&after_id={after}&limit=1000"))
            .bearer_auth(OPERATOR)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let rows = page["messages"].as_array().unwrap();
        if rows.is_empty() {
            return out;
        }
        for r in rows {
            after = after.max(r["id"].as_i64().unwrap());
            out.insert(r["id"].as_i64().unwrap(), r["content"].as_str().unwrap().to_owned());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_under_load_serves_every_acknowledged_dm() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // One pair sends hundreds of DMs here: traffic control off.
    let (mut gateway, url) =
        serve_proc::start(&["--data-dir".as_ref(), data.as_os_str()], &serve_proc::unlimited(OPERATOR))
            .unwrap_or_else(|e| panic!("gateway exited before listening:\n{e}"));
    let http = reqwest::Client::new();
    for name in ["alice", "bob"] {
        let r = http.post(format!("{url}/peers/register")).bearer_auth(OPERATOR).json(&json!({"name": name}));
        assert!(r.send().await.unwrap().status().is_success());
    }
    let mut acked = HashMap::new();
    for i in 0..50 {
        acked.insert(send(&http, &url, &format!("before {i}")).await, format!("before {i}"));
    }

    // Senders keep going while the backup runs.
    let stop = Arc::new(AtomicBool::new(false));
    let mut senders = Vec::new();
    for s in 0..4 {
        let (http, url, stop) = (http.clone(), url.clone(), Arc::clone(&stop));
        senders.push(tokio::spawn(async move {
            let mut sent = Vec::new();
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let content = format!("during {s}-{i}");
                sent.push((send(&http, &url, &content).await, content));
                i += 1;
            }
            sent
        }));
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let db = format!("sqlite:{}", data.join("meshgate.db").display());
    let copy = dir.path().join("backup.db");
    let copy_str = copy.to_str().unwrap();
    let (code, out, err) = meshgate(&["backup", "--db", &db, copy_str], &[], None).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("integrity ok"), "{out}");
    tokio::time::sleep(Duration::from_millis(100)).await;
    stop.store(true, Ordering::Relaxed);
    let mut during = HashMap::new();
    for s in senders {
        during.extend(s.await.unwrap());
    }
    assert!(during.len() > 10, "too few sends in flight to mean anything: {}", during.len());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&copy).unwrap().permissions().mode() & 0o777, 0o600);
    }
    let _ = gateway.kill();
    let _ = gateway.wait();

    // Serve the copy with a new gateway.
    let copy_db = format!("sqlite:{copy_str}");
    let restored_data = dir.path().join("restored");
    let (mut restored, restored_url) = serve_proc::start(
        &["--db".as_ref(), copy_db.as_ref(), "--data-dir".as_ref(), restored_data.as_os_str()],
        &[("MESH_GATEWAY_TOKEN", OPERATOR)],
    )
    .unwrap_or_else(|e| panic!("the restored gateway did not start:\n{e}"));
    let stored = all_dms(&http, &restored_url).await;
    for (id, content) in &acked {
        assert_eq!(stored.get(id), Some(content), "DM {id} acknowledged before the backup is missing or changed");
    }
    // Whatever else the copy holds was really sent, under that id.
    for (id, content) in &stored {
        let sent = acked.get(id).or_else(|| during.get(id));
        assert_eq!(sent, Some(content), "DM {id} in the backup was never acknowledged as such");
    }
    // The restored store takes new DMs after the copied ones.
    let next = send(&http, &restored_url, "after restore").await;
    assert!(stored.keys().all(|&id| id < next));
    let _ = restored.kill();
    let _ = restored.wait();

    // An existing file is kept unless --force.
    let before = std::fs::read(&copy).unwrap();
    let (code, _, err) = meshgate(&["backup", "--db", &db, copy_str], &[], None).await;
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("exists; pass --force"), "{err}");
    assert_eq!(std::fs::read(&copy).unwrap(), before);
    let (code, _, err) = meshgate(&["backup", "--force", "--db", &db, copy_str], &[], None).await;
    assert_eq!(code, 0, "{err}");
}

#[tokio::test]
async fn postgres_and_missing_stores_get_clear_answers() {
    let (code, _, err) =
        meshgate(&["backup", "--db", "postgres://meshgate:secret@db.example/meshgate", "/tmp/x.db"], &[], None).await;
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("pg_dump") && !err.contains("secret"), "{err}");
    assert!(!err.contains("meshgate --help"), "the error says what to do: {err}");
    let dir = tempfile::tempdir().unwrap();
    let missing = format!("sqlite:{}", dir.path().join("none.db").display());
    let target = dir.path().join("copy.db");
    let (code, _, err) = meshgate(&["backup", "--db", &missing, target.to_str().unwrap()], &[], None).await;
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("no SQLite store"), "{err}");
    assert!(!target.exists());
}
