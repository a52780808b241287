//! `serve --retain-days`: the background task deletes read DMs older than
//! the cutoff (imported with their 2020 times) and keeps unread and recent
//! ones, on SQLite and PostgreSQL, while the gateway serves.

use crate::common;

use std::time::Duration;

use common::{backends, Gateway};
use meshgate_proto::{Kind, Message};
use meshgate_server::retention::RetainDays;
use meshgate_store::{ImportRecord, MessageRecord};
use reqwest::StatusCode;

fn old(n: i64, read: bool) -> ImportRecord {
    ImportRecord::Message(MessageRecord {
        message: Message {
            id: n,
            from_node: "alice".into(),
            to_node: "bob".into(),
            kind: Kind::Fyi,
            content: format!("old {n}"),
            created_at: "2020-01-01T00:00:00.000000+00:00".into(),
            read_at: read.then(|| "2020-01-02T00:00:00.000000+00:00".into()),
            thread_id: None,
            related_task_id: None,
            owed: false,
            sender_verified: false,
        },
        idempotency_key: None,
        idempotency_digest: None,
        origin: Some(format!("test:0123456789abcdef0123456789abcdef:{n}")),
        ladder: Default::default(),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_background_task_deletes_old_read_dms_while_serving() {
    for backend in backends() {
        let gw = Gateway::start_backend(backend, |c| {
            c.retain = RetainDays { read: Some(30), unread: None };
            c.retention_every = Duration::from_millis(100);
        })
        .await;
        gw.register("alice").await;
        gw.register("bob").await;
        let (s, v) = gw.send("alice", "bob", "recent").await;
        assert_eq!(s, StatusCode::OK, "{v}");
        // Old DMs enter through the store's import (times kept).
        gw.store.import_batch((1..=2500).map(|n| old(n, n % 2 == 0)).collect()).await.unwrap();
        let mut left = 0;
        for _ in 0..100 {
            left = count_inbox(&gw, "bob").await;
            if left == 1 + 1250 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(left, 1 + 1250, "{backend:?}: the 1,250 old read DMs went (over several batches), the rest stayed");
        gw.stop().await;
    }
}

/// Every DM to `peer`, paging by `after_id`.
async fn count_inbox(gw: &Gateway, peer: &str) -> usize {
    let (mut all, mut after) = (0, 0);
    loop {
        let (s, v) = gw.get(&format!("/messages?to={peer}&after_id={after}&limit=1000")).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        let page = v["messages"].as_array().unwrap();
        let Some(last) = page.last() else { return all };
        after = last["id"].as_i64().unwrap();
        all += page.len();
    }
}
