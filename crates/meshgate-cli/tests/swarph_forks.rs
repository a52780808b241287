//! Two forks of one swarph database (issue #18): both share their first
//! rows, then each gains a different DM under the same source id. Importing
//! both into one meshgate store keeps both forks' DMs; re-importing either
//! stores nothing. Real SQLite files, the real `meshgate import`.

use crate::common;

use common::meshgate;
use serde_json::Value;

const SCHEMA: &str = "
    CREATE TABLE claude_peers (name TEXT PRIMARY KEY, url TEXT, capabilities TEXT, registered_at TEXT);
    CREATE TABLE claude_messages (id INTEGER PRIMARY KEY, from_node TEXT, to_node TEXT, kind TEXT,
        content TEXT, created_at TEXT, read_at TEXT);
    INSERT INTO claude_peers VALUES ('alice', 'http://a:1', '{}', '2026-01-01T00:00:00Z');
    INSERT INTO claude_peers VALUES ('bob', 'http://b:1', '{}', '2026-01-01T00:00:00Z');
    INSERT INTO claude_messages VALUES (1, 'alice', 'bob', 'fyi', 'shared one', '2026-01-01T10:00:00.000001Z', NULL);
    INSERT INTO claude_messages VALUES (2, 'bob', 'alice', 'fyi', 'shared two', '2026-01-01T10:00:01.000001Z', NULL);";

fn fork(path: &std::path::Path, extra_content: &str, at: &str) {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.execute_batch(SCHEMA).unwrap();
    conn.execute(
        "INSERT INTO claude_messages VALUES (3, 'alice', 'bob', 'fyi', ?1, ?2, NULL)",
        rusqlite::params![extra_content, at],
    )
    .unwrap();
}

/// `(imported, present)` messages of one `import --from-swarph`.
async fn import(source: &std::path::Path, db: &str, config: &str) -> (u64, u64) {
    let source = source.display().to_string();
    let args = ["import", "--from-swarph", &source, "--db", db, "--json"];
    let (code, out, err) = meshgate(&args, &[("MESHGATE_CONFIG_DIR", config)], None).await;
    assert_eq!(code, 0, "{err}");
    let summary: Value = serde_json::from_str(&out).unwrap();
    let m = &summary["counts"]["messages"];
    (m["imported"].as_u64().unwrap(), m["present"].as_u64().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_forks_keep_both_new_dms_and_reimports_stay_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("fork-a.db"), dir.path().join("fork-b.db"));
    fork(&a, "only in fork A", "2026-01-02T09:00:00.000001Z");
    fork(&b, "only in fork B", "2026-01-03T09:00:00.000001Z");
    let target = dir.path().join("meshgate.db");
    let db = format!("sqlite:{}", target.display());
    let config = dir.path().join("config").display().to_string();

    assert_eq!(import(&a, &db, &config).await, (3, 0));
    assert_eq!(import(&b, &db, &config).await, (1, 2), "fork B's own DM is new, the shared rows are present");
    assert_eq!(import(&a, &db, &config).await, (0, 3));
    assert_eq!(import(&b, &db, &config).await, (0, 3));

    let (code, out, err) = meshgate(&["export", "--db", &db], &[("MESHGATE_CONFIG_DIR", &config)], None).await;
    assert_eq!(code, 0, "{err}");
    let contents: Vec<String> = out
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|v| v["type"] == "message")
        .map(|v| v["content"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(contents, ["shared one", "shared two", "only in fork A", "only in fork B"]);

    // A store filled by an older meshgate holds `swarph:<source>:<id>`
    // origins: rewrite this export that way and load it into a new store.
    let legacy: Vec<String> = out
        .lines()
        .map(|l| {
            let mut v: Value = serde_json::from_str(l).unwrap();
            if let Some(origin) = v["origin"].as_str().map(str::to_owned) {
                let cut = origin.rsplit_once(':').unwrap().0.to_owned();
                assert_eq!(cut.matches(':').count(), 2, "{origin}");
                v["origin"] = Value::String(cut);
            }
            v.to_string()
        })
        .filter(|l| !l.contains("only in fork B"))
        .collect();
    let old = format!("sqlite:{}", dir.path().join("old.db").display());
    let file = dir.path().join("legacy.jsonl");
    std::fs::write(&file, legacy.join("\n") + "\n").unwrap();
    let file = file.display().to_string();
    let (code, _, err) = meshgate(&["import", &file, "--db", &old], &[("MESHGATE_CONFIG_DIR", &config)], None).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(import(&a, &old, &config).await, (0, 3), "legacy origins of the same rows are found");
    assert_eq!(import(&b, &old, &config).await, (1, 2), "fork B's DM 3 differs from the legacy row 3");
}
