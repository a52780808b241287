//! Name resolutions kept in memory (the store's `names` module) against
//! writes from elsewhere, and their bound.
//!
//! Two stores on one file stand for a gateway and another process
//! (`meshgate import`, `meshgate gc`, or a hand edit): each has its own
//! writer connection, as two processes would.

use std::path::Path;
use std::sync::Arc;

use meshgate_store::{ImportRecord, MessageQuery, Resolved, Retention, Store, StoreError};
use meshgate_store_sqlite::{SqliteOptions, SqliteStore, MAX_NAMES_KEPT};

use crate::common::{open, reg};
use serde_json::json;

fn peer(name: &str, enabled: bool) -> ImportRecord {
    ImportRecord::Peer(serde_json::from_value(json!({"name": name, "enabled": enabled})).unwrap())
}

fn alias(alias: &str, canonical: &str) -> ImportRecord {
    ImportRecord::Alias(serde_json::from_value(json!({"alias": alias, "canonical": canonical})).unwrap())
}

fn resolved(canonical: &str, via_alias: bool, enabled: bool) -> Option<Resolved> {
    Some(Resolved { canonical: canonical.into(), via_alias, enabled })
}

/// What `store` answers for each name.
async fn answers(store: &SqliteStore, names: &[&str]) -> Vec<Option<Resolved>> {
    let mut out = Vec::new();
    for name in names {
        out.push(store.resolve_name(name).await.unwrap());
    }
    out
}

/// A gateway's store with alpha, beta (disabled) and the alias al -> alpha,
/// each resolved once so its answer is kept (beta's is not: a disabled
/// peer is always read from the file).
async fn gateway(path: &Path) -> SqliteStore {
    let gw = open(path);
    for name in ["alpha", "beta"] {
        gw.register_peer(reg(name)).await.unwrap();
    }
    gw.set_peer_enabled("beta", false).await.unwrap();
    gw.put_alias("al", "alpha").await.unwrap();
    answers(&gw, &["alpha", "beta", "al"]).await;
    assert_eq!(gw.names_kept(), 2);
    gw
}

const NAMES: [&str; 6] = ["alpha", "beta", "al", "gamma", "ga", "nobody"];

/// `meshgate import` into a running gateway's file adds peers and aliases
/// and changes none: the gateway's kept answers stay the file's answers,
/// and names it did not know are found at once (misses are never kept).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_from_another_process_changes_no_answer() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mesh.db");
    let gw = gateway(&path).await;
    assert_eq!(answers(&gw, &["gamma", "ga"]).await, [None, None]);

    let other = open(&path);
    let records = vec![
        // Existing peers and aliases as another store has them: left as they are.
        peer("alpha", false),
        peer("beta", true),
        alias("al", "beta"),
        // New ones: added.
        peer("gamma", true),
        alias("ga", "gamma"),
        // A peer named like an alias, an alias named like a peer: skipped.
        peer("al", true),
        alias("alpha", "gamma"),
    ];
    other.import_batch(records).await.unwrap();
    let from_file = answers(&other, &NAMES).await;
    assert_eq!(
        from_file,
        [
            resolved("alpha", false, true),
            resolved("beta", false, false),
            resolved("alpha", true, true),
            resolved("gamma", false, true),
            resolved("gamma", true, true),
            None
        ]
    );
    assert_eq!(answers(&gw, &NAMES).await, from_file, "before the gateway writes again");
    gw.touch_peers(vec![("alpha".into(), meshgate_store::now_timestamp())]).await.unwrap();
    assert_eq!(answers(&gw, &NAMES).await, from_file, "after");

    // `meshgate gc` (a retention pass) deletes DMs and threads only.
    gw.insert_message(meshgate_store::conformance::msg("alpha", "gamma", "old")).await.unwrap();
    let everything = Retention { read_before: None, unread_before: Some("9999-01-01T00:00:00Z".into()) };
    let pass = other.purge_expired(&everything, 0, 100).await.unwrap();
    assert_eq!(pass.messages, 1);
    assert_eq!(answers(&gw, &NAMES).await, from_file);
    assert!(gw.list_messages(&MessageQuery { limit: 10, ..Default::default() }).await.unwrap().is_empty());
}

/// A name changed by another connection (meshgate itself never does that
/// from outside the gateway; a hand edit with `sqlite3` would) is dropped
/// by the gateway's next write batch, which sees the foreign commit
/// (`PRAGMA data_version`) before running its jobs: a send to a peer
/// deleted elsewhere is refused, and every answer after it is the file's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_changed_elsewhere_is_dropped_by_the_next_write() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mesh.db");
    let gw = gateway(&path).await;
    gw.register_peer(reg("gamma")).await.unwrap();
    answers(&gw, &NAMES).await;
    assert_eq!(gw.names_kept(), 3);

    let other = open(&path);
    other.set_peer_enabled("alpha", false).await.unwrap();
    other.set_peer_enabled("beta", true).await.unwrap();
    other.delete_peer("gamma").await.unwrap();
    other.put_alias("al", "beta").await.unwrap();
    drop(other);

    let refused = gw.insert_message_between_peers(meshgate_store::conformance::msg("beta", "gamma", "hi")).await;
    assert!(matches!(refused, Err(StoreError::NotFound(_))), "{refused:?}");
    assert_eq!(gw.names_kept(), 0, "the batch saw the foreign commit");
    assert_eq!(
        answers(&gw, &NAMES).await,
        [
            resolved("alpha", false, false),
            resolved("beta", false, true),
            resolved("beta", true, true),
            None,
            None,
            None
        ]
    );
}

/// Only names that resolve are kept: a caller sending to 100,000 made-up
/// names keeps nothing, and the real ones stop at the bound.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kept_names_are_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let gw = Arc::new(open(&dir.path().join("mesh.db")));
    gw.register_peer(reg("alpha")).await.unwrap();
    for i in 0..100_000 {
        assert_eq!(gw.resolve_name(&format!("made-up-{i}")).await.unwrap(), None);
    }
    assert_eq!(gw.names_kept(), 0);

    let peers = MAX_NAMES_KEPT + 100;
    let records = (0..peers).map(|i| peer(&format!("peer-{i}"), true)).collect();
    gw.import_batch(records).await.unwrap();
    for i in 0..peers {
        let name = format!("peer-{i}");
        assert_eq!(gw.resolve_name(&name).await.unwrap(), resolved(&name, false, true));
    }
    assert_eq!(gw.names_kept(), MAX_NAMES_KEPT);
    // Past the bound, answers still come from the file.
    assert_eq!(gw.resolve_name("alpha").await.unwrap(), resolved("alpha", false, true));
}

/// The gateway's own sends, passive checkpoints (another connection of
/// the same store) and WAL restarts are no foreign commits: the kept names
/// survive them, or the map would help no send.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn own_commits_and_checkpoints_keep_the_names() {
    let dir = tempfile::tempdir().unwrap();
    let opts = SqliteOptions { wal_limit: Some(64 << 10), ..SqliteOptions::default() };
    let gw = Arc::new(SqliteStore::open(&dir.path().join("mesh.db"), opts).unwrap());
    for name in ["alpha", "beta"] {
        gw.register_peer(reg(name)).await.unwrap();
    }
    answers(&gw, &["alpha", "beta"]).await;
    let body = "x".repeat(2000);
    for round in 0..20 {
        let sends = (0..20).map(|_| {
            let (gw, body) = (Arc::clone(&gw), body.clone());
            tokio::spawn(
                async move { gw.insert_message(meshgate_store::conformance::msg("alpha", "beta", &body)).await },
            )
        });
        for send in sends.collect::<Vec<_>>() {
            send.await.unwrap().unwrap();
        }
        assert_eq!(gw.names_kept(), 2, "round {round}");
        tokio::time::sleep(std::time::Duration::from_millis(30)).await;
    }
    let stats = gw.stats();
    assert!(stats.checkpoints > 0 && stats.wal_restarts > 0, "{stats:?}");
}
