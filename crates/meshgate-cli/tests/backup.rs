//! `meshgate backup` against a gateway serving with sends in flight: the
//! copy is consistent, private and checked, serves as a store of its own
//! with every DM acknowledged before the backup began, and is never
//! written over without `--force`; a PostgreSQL URL points at pg_dump.

use crate::common;
use crate::serve_proc;

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

/// A gateway on `data` (traffic control off) with peers alice and bob.
async fn serve_alice_and_bob(data: &std::path::Path) -> (std::process::Child, String, reqwest::Client) {
    let (gateway, url) =
        serve_proc::start(&["--data-dir".as_ref(), data.as_os_str()], &serve_proc::unlimited(OPERATOR))
            .unwrap_or_else(|e| panic!("gateway exited before listening:\n{e}"));
    let http = reqwest::Client::new();
    for name in ["alice", "bob"] {
        let r = http.post(format!("{url}/peers/register")).bearer_auth(OPERATOR).json(&json!({"name": name}));
        assert!(r.send().await.unwrap().status().is_success());
    }
    (gateway, url, http)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_under_load_serves_every_acknowledged_dm() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // One pair sends hundreds of DMs here: traffic control off.
    let (mut gateway, url, http) = serve_alice_and_bob(&data).await;
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

/// The names of `dir`'s entries, sorted.
fn names_in(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names
}

#[tokio::test]
async fn force_onto_the_live_store_or_its_side_files_is_refused_and_the_store_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (mut gateway, url, http) = serve_alice_and_bob(&data).await;
    let id = send(&http, &url, "kept").await;
    let live = data.join("meshgate.db");
    let db = format!("sqlite:{}", live.display());
    let symlink = dir.path().join("link.db");
    let hardlink = dir.path().join("hard.db");
    #[cfg(unix)]
    std::os::unix::fs::symlink(&live, &symlink).unwrap();
    std::fs::hard_link(&live, &hardlink).unwrap();
    let dotted = data.join("..").join("data").join("meshgate.db");
    let targets = [
        live.clone(),
        data.join("meshgate.db-wal"),
        data.join("meshgate.db-shm"),
        data.join("meshgate.db-journal"),
        dotted,
        symlink,
        hardlink,
    ];
    let listing = names_in(&data);
    for target in &targets {
        let (code, _, err) = meshgate(&["backup", "--force", "--db", &db, target.to_str().unwrap()], &[], None).await;
        assert_eq!(code, 1, "{}: {err}", target.display());
        assert!(err.contains("is the store being backed up"), "{}: {err}", target.display());
        assert_eq!(names_in(&data), listing, "{}: files appeared or vanished", target.display());
    }
    // The same refusal for a source named through a symlink.
    #[cfg(unix)]
    {
        let via_link = format!("sqlite:{}", dir.path().join("link.db").display());
        let (code, _, err) =
            meshgate(&["backup", "--force", "--db", &via_link, live.to_str().unwrap()], &[], None).await;
        assert_eq!(code, 1, "{err}");
    }
    // The store is intact and still serves (and takes) DMs.
    assert_eq!(all_dms(&http, &url).await.get(&id).map(String::as_str), Some("kept"));
    send(&http, &url, "after").await;
    let _ = gateway.kill();
    let _ = gateway.wait();
}

#[tokio::test]
async fn a_failed_force_keeps_the_older_backup_and_leaves_no_temporary_file() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("source.db");
    {
        let db = rusqlite::Connection::open(&source).unwrap();
        db.execute_batch("CREATE TABLE t (x TEXT); INSERT INTO t VALUES ('older');").unwrap();
    }
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let copy = out.join("backup.db");
    let copy_str = copy.to_str().unwrap();
    let good = format!("sqlite:{}", source.display());
    let (code, _, err) = meshgate(&["backup", "--db", &good, copy_str], &[], None).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(names_in(&out), ["backup.db"]);
    let before = std::fs::read(&copy).unwrap();

    // A source that is no database: the copy fails, the older backup stays.
    let junk = dir.path().join("junk.db");
    std::fs::write(&junk, vec![0x5a; 8192]).unwrap();
    let bad = format!("sqlite:{}", junk.display());
    let (code, _, err) = meshgate(&["backup", "--force", "--db", &bad, copy_str], &[], None).await;
    assert_eq!(code, 1, "{err}");
    assert_eq!(std::fs::read(&copy).unwrap(), before, "the older backup was changed by a failed --force");
    assert_eq!(names_in(&out), ["backup.db"], "a failed run left files behind");

    // A successful --force replaces it, private, with nothing left beside it.
    {
        let db = rusqlite::Connection::open(&source).unwrap();
        db.execute("INSERT INTO t VALUES ('newer')", []).unwrap();
    }
    let (code, _, err) = meshgate(&["backup", "--force", "--db", &good, copy_str], &[], None).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(names_in(&out), ["backup.db"]);
    let rows: i64 =
        rusqlite::Connection::open(&copy).unwrap().query_row("SELECT count(*) FROM t", [], |r| r.get(0)).unwrap();
    assert_eq!(rows, 2);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&copy).unwrap().permissions().mode() & 0o777, 0o600);
    }
}
