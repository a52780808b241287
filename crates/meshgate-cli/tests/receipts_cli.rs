//! `meshgate reply`, `status` and `todo`, and the client library's
//! `reply`/`status`/`obligations`, against `meshgate serve` (a child
//! process): a question's life seen from both sides, and a stranger's
//! attempts.

use crate::common;
use crate::scenarios::cli as scenarios;

use common::meshgate_gateway;
use meshgate_client::{Kind, SendOptions};
use scenarios::{ok, run};
use serde_json::Value;

#[tokio::test]
async fn a_question_is_asked_delivered_answered_and_leaves_the_todo_list() {
    let mut gw = meshgate_gateway().await;
    for name in ["alice", "bob", "carol"] {
        ok(&gw, &["register", "--as", name]).await;
    }
    let sent =
        ok(&gw, &["send", "bob", "--as", "alice", "--kind", "question", "--due-in", "3600", "review?", "--json"]).await;
    let q = serde_json::from_str::<Value>(&sent).unwrap()["id"].as_i64().unwrap();
    let old =
        ok(&gw, &["send", "bob", "--as", "alice", "--kind", "question", "--due-at", "2020-01-01T00:00:00Z", "late?"])
            .await;
    assert!(old.contains("sent message"), "{old}");

    let human = ok(&gw, &["status", &q.to_string(), "--as", "alice"]).await;
    assert!(human.contains("delivered  -") && human.contains("answered   -") && human.contains("due"), "{human}");

    let todo = ok(&gw, &["todo", "--as", "bob"]).await;
    assert!(todo.contains("owed (questions to answer): 2"), "{todo}");
    let first_owed = todo.lines().nth(1).unwrap();
    assert!(first_owed.contains("OVERDUE"), "overdue first: {todo}");
    let todo_json: Value = serde_json::from_str(&ok(&gw, &["todo", "--as", "alice", "--json"]).await).unwrap();
    assert_eq!(todo_json["awaiting"].as_array().unwrap().len(), 2, "{todo_json}");

    // Bob's inbox hands the questions over; then he replies (kind answer by default).
    ok(&gw, &["inbox", "--as", "bob"]).await;
    let replied = ok(&gw, &["reply", &q.to_string(), "--as", "bob", "yes, LGTM"]).await;
    assert!(replied.contains("to alice (answer) in reply to"), "{replied}");
    assert!(replied.contains(&format!("; message {q} marked read")), "the reply is the ack: {replied}");
    let ladder: Value =
        serde_json::from_str(&ok(&gw, &["status", &q.to_string(), "--as", "alice", "--json"]).await).unwrap();
    assert!(ladder["answer_id"].is_i64(), "{ladder}");
    assert!(ladder["read_at"].is_string(), "bob's reply marked the question read: {ladder}");
    assert!(ladder["delivered_at"].is_string(), "the inbox read was recorded before the reply: {ladder}");
    let todo = ok(&gw, &["todo", "--as", "bob"]).await;
    assert!(todo.contains("owed (questions to answer): 1"), "{todo}");

    // A reply to a non-question is a fyi unless --kind says otherwise.
    let answer = ladder["answer_id"].as_i64().unwrap();
    let thanks = ok(&gw, &["reply", &answer.to_string(), "--as", "alice", "thanks"]).await;
    assert!(thanks.contains("to bob (fyi)"), "{thanks}");
    // A follow-up to one's own message acks nothing on the recipient's side.
    let follow = ok(&gw, &["reply", &q.to_string(), "--as", "alice", "also the docs?"]).await;
    assert!(!follow.contains("marked read"), "{follow}");

    // A stranger: not found, exit 1, nothing stored.
    let (code, _, err) = run(&gw, &["status", &q.to_string(), "--as", "carol"], None).await;
    assert_eq!(code, 1, "{err}");
    let (code, _, err) = run(&gw, &["reply", &q.to_string(), "--as", "carol", "--kind", "answer", "me"], None).await;
    assert_eq!(code, 1, "{err}");
    let todo = ok(&gw, &["todo", "--as", "carol", "--json"]).await;
    assert_eq!(serde_json::from_str::<Value>(&todo).unwrap(), serde_json::json!({"owed": [], "awaiting": []}));

    // The operator sees the whole mesh.
    let all: Value = serde_json::from_str(&ok(&gw, &["todo", "--json"]).await).unwrap();
    assert_eq!(all["owed"].as_array().unwrap().len(), 1, "{all}");
    gw.stop().await;
}

#[tokio::test]
async fn the_client_library_replies_and_reads_receipts() {
    let mut gw = meshgate_gateway().await;
    for name in ["alice", "bob"] {
        ok(&gw, &["register", "--as", name]).await;
    }
    let alice = gw.client("alice");
    let bob = gw.client("bob");
    let q = alice.send("bob", Kind::Question, "ship it?", SendOptions::new().due_in(60)).await.unwrap().id;
    let owed = bob.obligations().await.unwrap().owed;
    assert_eq!(owed.iter().map(|o| o.id).collect::<Vec<_>>(), [q]);
    let status = bob.status(q).await.unwrap();
    assert_eq!(meshgate_client::default_reply_kind(&status), Kind::Answer);
    let a = bob.reply(q, "yes", Kind::Answer).await.unwrap();
    assert_eq!(a.to_node, "alice");
    let status = alice.status(q).await.unwrap();
    assert_eq!(status.answer_id, Some(a.id));
    assert!(status.due_at.is_some());
    assert_eq!(alice.status(a.id).await.unwrap().in_reply_to, Some(q));
    assert!(alice.obligations().await.unwrap().awaiting.is_empty());
    let err = alice.status(999_999).await.unwrap_err();
    assert!(err.is_not_found(), "{err}");
    gw.stop().await;
}

#[tokio::test]
async fn the_askers_follow_up_is_a_fyi_not_an_answer() {
    let mut gw = meshgate_gateway().await;
    for name in ["alice", "bob"] {
        ok(&gw, &["register", "--as", name]).await;
    }
    let sent = ok(&gw, &["send", "bob", "--as", "alice", "--kind", "question", "ready?", "--json"]).await;
    let q = serde_json::from_str::<Value>(&sent).unwrap()["id"].as_i64().unwrap();
    let nudge = ok(&gw, &["reply", &q.to_string(), "--as", "alice", "any news?"]).await;
    assert!(nudge.contains("to bob (fyi)"), "{nudge}");
    let answer = ok(&gw, &["reply", &q.to_string(), "--as", "bob", "yes"]).await;
    assert!(answer.contains("to alice (answer)"), "{answer}");
    gw.stop().await;
}

#[tokio::test]
async fn marking_a_foreign_or_missing_id_read_is_refused_alike() {
    let mut gw = meshgate_gateway().await;
    for name in ["alice", "bob", "carol"] {
        ok(&gw, &["register", "--as", name]).await;
    }
    let sent = ok(&gw, &["send", "bob", "--as", "alice", "--kind", "fyi", "for bob", "--json"]).await;
    let id = serde_json::from_str::<Value>(&sent).unwrap()["id"].as_i64().unwrap();
    let (code, _, foreign) = run(&gw, &["read", &id.to_string(), "--as", "carol"], None).await;
    let (code2, _, missing) = run(&gw, &["read", &(id + 100).to_string(), "--as", "carol"], None).await;
    assert_eq!((code, code2), (1, 1), "refused, not an auth failure: {foreign} / {missing}");
    assert_eq!(foreign.replace(&id.to_string(), "N"), missing.replace(&(id + 100).to_string(), "N"));
    assert!(foreign.contains("no such message for carol"), "{foreign}");
    ok(&gw, &["read", &id.to_string(), "--as", "bob"]).await;
    gw.stop().await;
}
