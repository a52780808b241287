//! The change mark (`Store::change_mark`, the `mark` module) against
//! page-neutral writes (peers' `last_seen`) of this store and writes of
//! another process: only the first keep it.
//!
//! Two stores on one file stand for a gateway and another process, each
//! with its own writer connection.

use meshgate_store::conformance::msg;
use meshgate_store::{now_timestamp, Store};

use crate::common::{open, reg};

async fn touch(store: &dyn Store, name: &str) {
    store.touch_peers(vec![(name.to_owned(), now_timestamp())]).await.unwrap();
}

#[tokio::test]
async fn last_seen_keeps_the_mark_and_every_other_commit_moves_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.db");
    let gateway = open(&path);
    gateway.register_peer(reg("ma")).await.unwrap();
    gateway.register_peer(reg("mb")).await.unwrap();
    let mark = gateway.change_mark().expect("sqlite has a mark");
    for _ in 0..5 {
        touch(&gateway, "ma").await;
        assert_eq!(gateway.change_mark(), Some(mark), "last_seen shows on no message page");
    }
    let stored = gateway.insert_message(msg("ma", "mb", "hello")).await.unwrap();
    assert!(stored.message.id > 0);
    let sent = gateway.change_mark().unwrap();
    assert!(sent > mark, "a send moves it");
    touch(&gateway, "mb").await;
    assert_eq!(gateway.change_mark(), Some(sent));

    // Another process's commits move it, its last_seen writes included (the
    // gateway cannot tell what they changed) ...
    let other = open(&path);
    touch(&other, "ma").await;
    let after_other = gateway.change_mark().unwrap();
    assert!(after_other > sent, "another process's commit");
    other.insert_message(msg("mb", "ma", "hello")).await.unwrap();
    let after_insert = gateway.change_mark().unwrap();
    assert!(after_insert > after_other, "another process's DM");
    // ... and the gateway's own last_seen write right after another
    // process's commit is not taken as neutral when that commit was not yet
    // seen by the mark: the mark moves at least for the other's commit.
    other.insert_message(msg("ma", "mb", "hello")).await.unwrap();
    touch(&gateway, "ma").await;
    assert!(gateway.change_mark().unwrap() > after_insert, "the other's DM must move the mark");
    // Alone again: the first batch after another connection's commits is
    // counted as a change (it cannot tell them apart); from then on neutral.
    drop(other);
    touch(&gateway, "mb").await;
    let settled = gateway.change_mark().unwrap();
    for _ in 0..3 {
        touch(&gateway, "mb").await;
        assert_eq!(gateway.change_mark(), Some(settled), "alone again: neutral again");
    }
}
