//! A SQLite file whose message text is not UTF-8 (written by another
//! program, or damaged): reads answer 200 with valid JSON, each invalid
//! sequence replaced by U+FFFD, instead of a 500 on every read of the inbox.

use std::sync::Arc;

use crate::common::{Gateway, OPERATOR};
use meshgate_store_sqlite::{SqliteOptions, SqliteStore};
use reqwest::StatusCode;
use serde_json::Value;

/// GET `path` with the operator token: the status and the body, which must
/// be UTF-8 JSON.
async fn get_raw(gw: &Gateway, path: &str) -> (StatusCode, Value) {
    let resp = gw.http.get(format!("{}{path}", gw.url)).bearer_auth(OPERATOR).send().await.unwrap();
    let status = resp.status();
    let bytes = resp.bytes().await.unwrap();
    let text = std::str::from_utf8(&bytes).unwrap_or_else(|e| panic!("{path}: the answer is not UTF-8: {e}"));
    (status, serde_json::from_str(text).unwrap_or_else(|e| panic!("{path}: not JSON ({e}): {text}")))
}

#[tokio::test]
async fn text_that_is_not_utf8_reads_with_replacement_characters() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("meshgate.db");
    let store = Arc::new(SqliteStore::open(&path, SqliteOptions::default()).unwrap());
    let gw = Gateway::start_on(store, Box::new(()), |_| {}).await;
    gw.register("alice").await;
    gw.register("bob").await;
    let mut ids = Vec::new();
    for i in 0..3 {
        let (s, v) = gw.send("alice", "bob", &format!("fine {i}")).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        ids.push(v["id"].as_i64().unwrap());
    }
    // Another program writes bytes that are not UTF-8 into text columns.
    let raw = rusqlite::Connection::open(&path).unwrap();
    raw.busy_timeout(std::time::Duration::from_secs(5)).unwrap();
    raw.execute(
        "UPDATE messages SET content = CAST(x'6869ff2066e0' AS TEXT), \
         related_task_id = CAST(x'74c3' AS TEXT) WHERE id = ?1",
        [ids[1]],
    )
    .unwrap();
    drop(raw);

    // Pages read inline (limit <= 100), on the blocking pool (more), by
    // alias in the page query, and the message on its own.
    gw.post("/aliases", serde_json::json!({"alias": "bb", "canonical": "bob"})).await;
    for path in
        ["/messages?to=bob&limit=50", "/messages?to=bob&limit=500", "/messages?to=bb&unread_only=true&peek=true"]
    {
        let (s, v) = get_raw(&gw, path).await;
        assert_eq!(s, StatusCode::OK, "{path}: {v}");
        let rows = v["messages"].as_array().unwrap();
        assert_eq!(rows.len(), 3, "{path}: {v}");
        let bad = rows.iter().find(|m| m["id"] == ids[1]).unwrap();
        assert_eq!(bad["content"], "hi\u{fffd} f\u{fffd}", "{path}");
        assert_eq!(bad["related_task_id"], "t\u{fffd}", "{path}");
        assert_eq!(rows.iter().filter(|m| m["content"].as_str().unwrap().starts_with("fine")).count(), 2);
    }
    let (s, v) = get_raw(&gw, &format!("/messages/{}", ids[1])).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["content"], "hi\u{fffd} f\u{fffd}");
    gw.stop().await;
}
