//! `meshgate gc` on an SQLite store holding DMs of 2020 (imported with
//! their original times): read ones older than --retain-days go, unread
//! ones stay unless --retain-unread-days, recent ones stay; counts printed.

use crate::common;

use common::meshgate;
use serde_json::{json, Value};

fn line(v: Value) -> String {
    format!("{v}\n")
}

fn message(id: i64, created: &str, read: Option<&str>) -> String {
    line(json!({"type": "message", "id": id, "from_node": "gca", "to_node": "gcb", "kind": "fyi",
        "content": format!("dm {id}"), "created_at": created, "read_at": read}))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gc_deletes_old_read_dms_and_unread_ones_only_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite:{}", dir.path().join("gc.db").display());
    let recent = meshgate_store::now_timestamp();
    let mut file = line(json!({"type": "meta", "format": "meshgate-export", "version": 1,
        "store_id": "0123456789abcdef0123456789abcdef"}));
    for name in ["gca", "gcb"] {
        file.push_str(&line(json!({"type": "peer", "name": name})));
    }
    file.push_str(&message(1, "2020-01-01T00:00:00.000000+00:00", Some("2020-01-02T00:00:00.000000+00:00")));
    file.push_str(&message(2, "2020-01-03T00:00:00.000000+00:00", None));
    file.push_str(&message(3, &recent, Some(&recent)));
    let import = dir.path().join("old.jsonl");
    std::fs::write(&import, file).unwrap();
    let env = [("MESHGATE_DATA_DIR", dir.path().to_str().unwrap())];
    let (code, out, err) = meshgate(&["import", import.to_str().unwrap(), "--db", &db], &env, None).await;
    assert_eq!(code, 0, "{out}\n{err}");

    let (code, _, err) = meshgate(&["gc", "--db", &db], &env, None).await;
    assert_eq!(code, 2, "no retention asked: usage error\n{err}");
    assert!(err.contains("--retain-days"), "{err}");

    let (code, out, err) = meshgate(&["gc", "--db", &db, "--retain-days", "30", "--json"], &env, None).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(serde_json::from_str::<Value>(&out).unwrap(), json!({"messages": 1, "threads": 0}));
    let (code, out, err) = meshgate(&["gc", "--db", &db, "--retain-days", "30"], &env, None).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("deleted 0 DMs"), "idempotent: {out}");
    let args = ["gc", "--db", &db, "--retain-days", "30", "--retain-unread-days", "365"];
    let (code, out, err) = meshgate(&args, &env, None).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("deleted 1 DMs"), "the unread DM of 2020: {out}");

    let (code, out, err) = meshgate(&["export", "--db", &db], &env, None).await;
    assert_eq!(code, 0, "{err}");
    let left: Vec<Value> =
        out.lines().map(|l| serde_json::from_str::<Value>(l).unwrap()).filter(|v| v["type"] == "message").collect();
    assert_eq!(left.len(), 1, "{out}");
    assert_eq!(left[0]["content"], "dm 3");
}
