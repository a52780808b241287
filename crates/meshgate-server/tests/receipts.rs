//! Receipts, replies and obligations over real HTTP, on every backend:
//! the delivery ladder, `in_reply_to`, `GET /messages/{id}`,
//! `GET /obligations`, and what a stranger (a third peer with its own
//! valid token) gets from each.

use crate::common;

use std::time::Duration;

use common::{backends, Backend, Gateway};
use futures_util::StreamExt;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

struct Mesh {
    gw: Gateway,
    alice: String,
    bob: String,
    carol: String,
}

async fn mesh(backend: Backend) -> Mesh {
    let gw = Gateway::start_backend(backend, |_| {}).await;
    let alice = gw.register("alice").await;
    let bob = gw.register("bob").await;
    let carol = gw.register("carol").await;
    Mesh { gw, alice, bob, carol }
}

impl Mesh {
    async fn as_(&self, token: &str, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        self.gw.call(method, path, Some(token), body).await
    }

    async fn send(&self, token: &str, body: Value) -> (StatusCode, Value) {
        self.as_(token, Method::POST, "/messages", Some(body)).await
    }

    async fn ask(&self, token: &str, to: &str, extra: Value) -> i64 {
        let mut body = json!({"to_node": to, "kind": "question", "content": "can you review PR 42?"});
        body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        let (s, v) = self.send(token, body).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        v["id"].as_i64().unwrap()
    }

    async fn status(&self, token: &str, id: i64) -> (StatusCode, Value) {
        self.as_(token, Method::GET, &format!("/messages/{id}"), None).await
    }

    /// Polls the ladder until `field` is set (delivery is written by a
    /// batcher a few milliseconds after the read).
    async fn wait_for(&self, id: i64, field: &str) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            let (s, v) = self.status(&self.alice, id).await;
            assert_eq!(s, StatusCode::OK, "{v}");
            if !v[field].is_null() {
                return v;
            }
            assert!(tokio::time::Instant::now() < deadline, "{field} never set: {v}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

#[tokio::test]
async fn the_ladder_records_delivery_read_and_answer() {
    for backend in backends() {
        let m = mesh(backend).await;
        let q = m.ask(&m.alice, "bob", json!({})).await;
        let (s, v) = m.status(&m.alice, q).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert_eq!(v["id"], q);
        assert!(v["delivered_at"].is_null() && v["read_at"].is_null() && v["answer_id"].is_null(), "{v}");
        assert_eq!(v["owed"], true, "an unanswered question is owed: {v}");

        // The sender listing its own outbox hands nothing to bob.
        let (s, _) = m.as_(&m.alice, Method::GET, "/messages", None).await;
        assert_eq!(s, StatusCode::OK);
        // The operator peeking at bob's inbox does not count either.
        let (s, rows) = m.gw.get("/messages?to=bob&peek=true").await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(rows["messages"][0]["owed"], true, "inbox rows show what is owed: {rows}");
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(m.status(&m.alice, q).await.1["delivered_at"].is_null(), "{backend:?}: peek or sender read delivered");

        // Bob's own inbox read is the hand-over.
        let (s, rows) = m.as_(&m.bob, Method::GET, "/messages", None).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(rows["messages"][0]["id"], q);
        let v = m.wait_for(q, "delivered_at").await;
        let delivered = v["delivered_at"].as_str().unwrap().to_owned();
        assert!(v["read_at"].is_null());

        // The first delivery wins.
        let _ = m.as_(&m.bob, Method::GET, "/messages", None).await;
        let (s, _) = m.as_(&m.bob, Method::POST, &format!("/messages/{q}/read"), None).await;
        assert_eq!(s, StatusCode::OK);
        let v = m.status(&m.bob, q).await.1;
        assert_eq!(v["delivered_at"], delivered.as_str(), "{backend:?}: delivery kept its first time");
        assert!(v["read_at"].is_string());

        // Reading implies delivery, even without a listing.
        let q2 = m.ask(&m.alice, "bob", json!({})).await;
        let (s, _) = m.as_(&m.bob, Method::POST, &format!("/messages/{q2}/read"), None).await;
        assert_eq!(s, StatusCode::OK);
        let v = m.status(&m.alice, q2).await.1;
        assert_eq!(v["delivered_at"], v["read_at"], "{backend:?}: {v}");

        // A shared-token agent reading `to=bob` delivers.
        let q3 = m.ask(&m.alice, "bob", json!({})).await;
        let _ = m.gw.get("/messages?to=bob").await;
        m.wait_for(q3, "delivered_at").await;
        m.gw.stop().await;
    }
}

#[tokio::test]
async fn long_polls_and_streams_deliver() {
    for backend in backends() {
        let m = mesh(backend).await;
        let poll = {
            let (url, bob) = (m.gw.url.clone(), m.bob.clone());
            tokio::spawn(async move {
                let r = reqwest::Client::new()
                    .get(format!("{url}/messages?after_id=0&wait=10"))
                    .bearer_auth(bob)
                    .send()
                    .await
                    .unwrap();
                r.json::<Value>().await.unwrap()
            })
        };
        let q = m.ask(&m.alice, "bob", json!({})).await;
        let page = poll.await.unwrap();
        assert_eq!(page["messages"][0]["id"], q, "{page}");
        m.wait_for(q, "delivered_at").await;

        let resp = m.gw.http.get(format!("{}/messages/stream", m.gw.url)).bearer_auth(&m.bob).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        let q2 = m.ask(&m.alice, "bob", json!({})).await;
        let mut body = resp.bytes_stream();
        let mut seen = String::new();
        while !seen.contains(&format!("id: {q2}")) && !seen.contains(&format!("id:{q2}")) {
            let chunk = tokio::time::timeout(Duration::from_secs(10), body.next()).await.expect("event in time");
            seen.push_str(std::str::from_utf8(&chunk.unwrap().unwrap()).unwrap());
        }
        m.wait_for(q2, "delivered_at").await;
        drop(body);
        m.gw.stop().await;
    }
}

#[tokio::test]
async fn replies_go_to_the_other_party_in_the_thread_and_answer_the_question() {
    for backend in backends() {
        let m = mesh(backend).await;
        let (s, t) = m.gw.post("/threads", json!({"thread_name": "review"})).await;
        assert_eq!(s, StatusCode::OK, "{t}");
        let thread = t["thread_uuid"].as_str().unwrap().to_owned();
        let q = m.ask(&m.alice, "bob", json!({"thread_id": thread})).await;

        // No to_node: the reply goes to the other party, in the thread.
        let (s, a) = m.send(&m.bob, json!({"in_reply_to": q, "kind": "answer", "content": "LGTM"})).await;
        assert_eq!(s, StatusCode::OK, "{a}");
        assert_eq!(a["to_node"], "alice");
        assert_eq!(a["thread_id"], thread.as_str());
        let answer = a["id"].as_i64().unwrap();
        let v = m.status(&m.alice, q).await.1;
        assert_eq!(v["answer_id"], answer, "{backend:?}: {v}");
        assert!(v.get("owed").is_none(), "an answered question is no longer owed: {v}");
        assert_eq!(m.status(&m.alice, answer).await.1["in_reply_to"], q);

        // A second answer is stored, the first one stays the answer.
        let (s, a2) =
            m.send(&m.bob, json!({"in_reply_to": q, "to_node": "alice", "kind": "answer", "content": "also"})).await;
        assert_eq!(s, StatusCode::OK, "{a2}");
        assert_eq!(m.status(&m.alice, q).await.1["answer_id"], answer);

        // The asker may follow up on its own question: to the other party.
        let (s, f) = m.send(&m.alice, json!({"in_reply_to": q, "kind": "fyi", "content": "thanks"})).await;
        assert_eq!(s, StatusCode::OK, "{f}");
        assert_eq!(f["to_node"], "bob");

        // The operator acting for a party is held to the same rules.
        let (s, o) =
            m.gw.post("/messages", json!({"from_node": "bob", "in_reply_to": q, "kind": "fyi", "content": "op"})).await;
        assert_eq!(s, StatusCode::OK, "{o}");
        assert_eq!(o["to_node"], "alice");

        let refusals = [
            (
                json!({"in_reply_to": q, "to_node": "carol", "kind": "fyi", "content": "x"}),
                422,
                "reply_recipient_mismatch",
            ),
            (
                json!({"in_reply_to": q, "kind": "fyi", "content": "x", "thread_id": uuid::Uuid::new_v4().to_string()}),
                422,
                "reply_thread_mismatch",
            ),
            (json!({"in_reply_to": 999_999, "kind": "fyi", "content": "x"}), 404, "unknown_message"),
            (json!({"in_reply_to": "seven", "kind": "fyi", "content": "x"}), 422, "invalid_field"),
            (json!({"in_reply_to": -3, "kind": "fyi", "content": "x"}), 422, "invalid_field"),
        ];
        for (body, status, code) in refusals {
            let (s, v) = m.send(&m.bob, body.clone()).await;
            assert_eq!((s.as_u16(), v["error"].as_str().unwrap()), (status, code), "{backend:?} {body}: {v}");
        }
        m.gw.stop().await;
    }
}

#[tokio::test]
async fn deadlines_are_validated_and_obligations_list_open_questions() {
    for backend in backends() {
        let m = mesh(backend).await;
        let bad = [
            json!({"due_in": 0}),
            json!({"due_in": -5}),
            json!({"due_in": 1.5}),
            json!({"due_in": 400 * 24 * 3600}),
            json!({"due_at": "tomorrow"}),
            json!({"due_at": "2026-01-01T00:00:00Z", "due_in": 60}),
            // In UTC these fall outside the years 0000-9999 (once a panic).
            json!({"due_at": "9999-12-31T23:59:59-23:59"}),
            json!({"due_at": "0000-01-01T00:00:00+23:59"}),
            // A leap second: the README promised 422, `time` read it as :59.999999999.
            json!({"due_at": "2026-06-30T23:59:60Z"}),
        ];
        for extra in bad {
            let mut body = json!({"to_node": "bob", "kind": "question", "content": "x"});
            body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
            let (s, v) = m.send(&m.alice, body).await;
            assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{backend:?} {extra}: {v}");
            assert_eq!(v["error"], "invalid_due", "{v}");
        }
        let (s, v) = m.send(&m.alice, json!({"to_node": "bob", "kind": "fyi", "content": "x", "due_in": 60})).await;
        assert_eq!((s, v["error"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_due")), "{v}");

        let old = m.ask(&m.alice, "bob", json!({"due_at": "2020-01-01T00:00:00+02:00"})).await;
        let later = m.ask(&m.alice, "bob", json!({"due_in": 3600})).await;
        let plain = m.ask(&m.bob, "alice", json!({})).await;
        let answered = m.ask(&m.alice, "bob", json!({})).await;
        let (s, _) = m.send(&m.bob, json!({"in_reply_to": answered, "kind": "answer", "content": "done"})).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(m.status(&m.alice, old).await.1["due_at"], "2019-12-31T22:00:00.000000+00:00");

        let (s, bob) = m.as_(&m.bob, Method::GET, "/obligations", None).await;
        assert_eq!(s, StatusCode::OK, "{bob}");
        let ids = |v: &Value, list: &str| -> Vec<i64> {
            v[list].as_array().unwrap().iter().map(|o| o["id"].as_i64().unwrap()).collect()
        };
        assert_eq!(ids(&bob, "owed"), [old, later], "{backend:?}: {bob}");
        assert_eq!(ids(&bob, "awaiting"), [plain]);
        assert_eq!(bob["owed"][0]["overdue"], true);
        assert_eq!(bob["owed"][1]["overdue"], false);
        assert!(bob["owed"][1]["due_at"].is_string());
        assert_eq!(bob["owed"][0]["preview"], "can you review PR 42?");

        let (_, alice) = m.as_(&m.alice, Method::GET, "/obligations?limit=1", None).await;
        assert_eq!(ids(&alice, "owed"), [plain]);
        assert_eq!(ids(&alice, "awaiting"), [old], "limit applies per list: {alice}");

        // The operator: one peer, or the whole mesh.
        let (_, op) = m.gw.get("/obligations?peer=bob").await;
        assert_eq!(op, bob);
        let (_, all) = m.gw.get("/obligations").await;
        assert_eq!(ids(&all, "owed"), [old, later, plain], "{all}");
        assert_eq!(ids(&all, "awaiting"), ids(&all, "owed"));

        for bad in ["/obligations?limit=0", "/obligations?limit=1001"] {
            let (s, v) = m.gw.get(bad).await;
            assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {v}");
        }
        let (s, _) = m.gw.get("/obligations?nope=1").await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
        m.gw.stop().await;
    }
}

#[tokio::test]
async fn a_stranger_sees_no_receipts_and_cannot_reply_into_others_conversations() {
    for backend in backends() {
        let m = mesh(backend).await;
        let (s, t) = m.as_(&m.alice, Method::POST, "/threads", Some(json!({"thread_name": "private"}))).await;
        assert_eq!(s, StatusCode::OK, "{t}");
        let thread = t["thread_uuid"].as_str().unwrap().to_owned();
        let q = m.ask(&m.alice, "bob", json!({"thread_id": thread, "due_in": 60})).await;

        // GET /messages/{id}: the same 404 as a missing id.
        let (s_missing, missing) = m.status(&m.carol, 999_999).await;
        let (s, v) = m.status(&m.carol, q).await;
        assert_eq!((s, s_missing), (StatusCode::NOT_FOUND, StatusCode::NOT_FOUND));
        assert_eq!(v["error"], missing["error"], "{v}");
        assert_eq!(v["error"], "unknown_message");
        assert!(!v.to_string().contains("alice") && !v.to_string().contains("bob"), "{v}");
        for party in [&m.alice, &m.bob] {
            assert_eq!(m.status(party, q).await.0, StatusCode::OK);
        }
        assert_eq!(m.gw.get(&format!("/messages/{q}")).await.0, StatusCode::OK, "the operator sees it");

        // Replying by id: 404 whatever else the body says, nothing stored.
        for body in [
            json!({"in_reply_to": q, "kind": "answer", "content": "me!"}),
            json!({"in_reply_to": q, "to_node": "alice", "kind": "answer", "content": "me!"}),
            json!({"in_reply_to": q, "kind": "answer", "content": "me!", "thread_id": uuid::Uuid::new_v4().to_string()}),
        ] {
            let (s, v) = m.send(&m.carol, body).await;
            assert_eq!((s, v["error"].as_str()), (StatusCode::NOT_FOUND, Some("unknown_message")), "{v}");
        }
        // Nor as the operator acting for carol.
        let (s, _) =
            m.gw.post("/messages", json!({"from_node": "carol", "in_reply_to": q, "kind": "answer", "content": "x"}))
                .await;
        assert_eq!(s, StatusCode::NOT_FOUND);
        assert!(m.status(&m.alice, q).await.1["answer_id"].is_null());

        // By thread: writing into the thread's UUID answers nothing and
        // shows carol nothing of the others' DMs there.
        let (s, _) = m
            .send(&m.carol, json!({"to_node": "alice", "kind": "answer", "content": "me!", "thread_id": thread}))
            .await;
        assert_eq!(s, StatusCode::OK);
        assert!(m.status(&m.alice, q).await.1["answer_id"].is_null(), "an answer without in_reply_to answers nothing");
        let (_, tv) = m.as_(&m.carol, Method::GET, &format!("/threads/{thread}"), None).await;
        assert!(tv["messages"].as_array().unwrap().iter().all(|r| r["from_node"] == "carol"), "{tv}");

        // Obligations of others: 403 for a peer token; its own lists hold
        // nothing of alice's and bob's.
        let (s, v) = m.as_(&m.carol, Method::GET, "/obligations?peer=bob", None).await;
        assert_eq!((s, v["error"].as_str()), (StatusCode::FORBIDDEN, Some("forbidden")), "{v}");
        let (s, v) = m.as_(&m.carol, Method::GET, "/obligations?peer=carol", None).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(v, json!({"owed": [], "awaiting": []}));

        // Carol reading her inbox delivers nothing of theirs.
        let _ = m.as_(&m.carol, Method::GET, "/messages", None).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(m.status(&m.alice, q).await.1["delivered_at"].is_null(), "{backend:?}");
        m.gw.stop().await;
    }
}

#[tokio::test]
async fn deliveries_queued_at_shutdown_are_written() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.db");
    let store = meshgate_store_sqlite::SqliteStore::open(&path, Default::default()).unwrap();
    let gw = Gateway::start_on(std::sync::Arc::new(store), Box::new(()), |_| {}).await;
    gw.register("alice").await;
    let bob = gw.register("bob").await;
    let (_, sent) = gw.send("alice", "bob", "hello").await;
    let id = sent["id"].as_i64().unwrap();
    let (s, _) = gw.call(Method::GET, "/messages", Some(&bob), None).await;
    assert_eq!(s, StatusCode::OK);
    gw.stop().await;
    let store = meshgate_store_sqlite::SqliteStore::open(&path, Default::default()).unwrap();
    let v = meshgate_store::Store::message_status(&store, id).await.unwrap().unwrap();
    assert!(v.delivered_at.is_some(), "{v:?}");
}

/// Reads SSE blocks from `body` until `done` says so (10 s at most);
/// returns (event name, data) pairs.
async fn sse_until<B: AsRef<[u8]>>(
    body: &mut (impl futures_util::Stream<Item = reqwest::Result<B>> + Unpin),
    buf: &mut String,
    out: &mut Vec<(String, Value)>,
    done: impl Fn(&[(String, Value)]) -> bool,
    within: Duration,
) {
    let deadline = tokio::time::Instant::now() + within;
    while !done(out) {
        let Ok(chunk) = tokio::time::timeout_at(deadline, body.next()).await else { return };
        buf.push_str(std::str::from_utf8(chunk.unwrap().unwrap().as_ref()).unwrap());
        while let Some(end) = buf.find("\n\n") {
            let block: String = buf.drain(..end + 2).collect();
            let mut name = String::from("message");
            let mut data = None;
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("event:") {
                    name = v.trim().to_owned();
                } else if let Some(v) = line.strip_prefix("data:") {
                    data = serde_json::from_str(v.trim()).ok();
                }
            }
            if let Some(data) = data {
                out.push((name, data));
            }
        }
    }
}

#[tokio::test]
async fn a_senders_stream_carries_receipts_of_its_own_dms_only() {
    for backend in backends() {
        let m = mesh(backend).await;
        let open = |token: &str, query: &str| {
            m.gw.http.get(format!("{}/messages/stream?{query}", m.gw.url)).bearer_auth(token.to_owned()).send()
        };
        let alice_stream = open(&m.alice, "receipts=true").await.unwrap();
        assert_eq!(alice_stream.status(), StatusCode::OK);
        let carol_stream = open(&m.carol, "receipts=true").await.unwrap();
        let plain_stream = open(&m.alice, "").await.unwrap();
        let q = m.ask(&m.alice, "bob", json!({})).await;

        let _ = m.as_(&m.bob, Method::GET, "/messages", None).await; // delivered
        let (mut a, mut abuf, mut aev) = (alice_stream.bytes_stream(), String::new(), Vec::new());
        let has = |ev: &[(String, Value)], name: &str| ev.iter().any(|(n, d)| n == name && d["id"] == q);
        sse_until(&mut a, &mut abuf, &mut aev, |ev| has(ev, "delivered"), Duration::from_secs(10)).await;
        assert!(has(&aev, "delivered"), "{backend:?}: {aev:?}");
        let _ = m.as_(&m.bob, Method::POST, &format!("/messages/{q}/read"), None).await;
        sse_until(&mut a, &mut abuf, &mut aev, |ev| has(ev, "read"), Duration::from_secs(10)).await;
        assert!(has(&aev, "read"), "{backend:?}: {aev:?}");
        let (_, ans) = m.send(&m.bob, json!({"in_reply_to": q, "kind": "answer", "content": "yes"})).await;
        let answered = |ev: &[(String, Value)]| {
            has(ev, "answered") && ev.iter().any(|(n, d)| n == "message" && d["id"] == ans["id"])
        };
        sse_until(&mut a, &mut abuf, &mut aev, answered, Duration::from_secs(10)).await;
        assert!(answered(&aev), "{backend:?}: the answer and its receipt wake the asker: {aev:?}");
        let receipt = aev.iter().find(|(n, _)| n == "answered").unwrap();
        assert_eq!(receipt.1["answer_id"], ans["id"]);
        assert_eq!(receipt.1["to_node"], "bob");

        // A third peer's stream and a stream without receipts=true carry
        // no receipt of alice's DMs (two poll periods).
        for stream in [carol_stream, plain_stream] {
            let (mut s, mut buf, mut ev) = (stream.bytes_stream(), String::new(), Vec::new());
            sse_until(&mut s, &mut buf, &mut ev, |_| false, Duration::from_millis(2500)).await;
            assert!(ev.iter().all(|(n, _)| n == "message"), "{backend:?}: {ev:?}");
        }
        // The operator follows one peer's receipts, not the whole mesh's.
        let (s, v) = {
            let r = open(common::OPERATOR, "receipts=true").await.unwrap();
            let status = r.status();
            (status, r.json::<Value>().await.unwrap())
        };
        assert_eq!((s, v["error"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_parameter")), "{v}");
        let (s, v) = m.gw.get("/messages?receipts=true").await;
        assert_eq!((s, v["error"].as_str()), (StatusCode::BAD_REQUEST, Some("unknown_parameter")), "{v}");
        m.gw.stop().await;
    }
}

/// A DM sent with the sender's own per-peer token carries
/// `sender_verified: true` on every read; one sent with the operator token
/// as that sender does not (the field is left out).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_a_peer_token_send_is_marked_verified() {
    for backend in backends() {
        let m = mesh(backend).await;
        let (s, own) =
            m.send(&m.alice, json!({"to_node": "bob", "kind": "fyi", "content": "from alice herself"})).await;
        assert_eq!(s, StatusCode::OK, "{own}");
        let operator = common::OPERATOR;
        let body =
            json!({"from_node": "alice", "to_node": "bob", "kind": "fyi", "content": "as alice, by the operator"});
        let (s, legacy) = m.send(operator, body).await;
        assert_eq!(s, StatusCode::OK, "{legacy}");
        let (s, inbox) = m.as_(&m.bob, Method::GET, "/messages?limit=10", None).await;
        assert_eq!(s, StatusCode::OK, "{inbox}");
        for row in inbox["messages"].as_array().unwrap() {
            let expected = row["id"] == own["id"];
            assert_eq!(row.get("sender_verified").is_some_and(|v| v == true), expected, "{row}");
            assert_eq!(row.get("sender_verified").is_some(), expected, "left out when false: {row}");
        }
        let (_, status) = m.status(&m.bob, own["id"].as_i64().unwrap()).await;
        assert_eq!(status["sender_verified"], true, "{status}");
    }
}

/// A question to a peer that is then deleted is no longer awaited: its
/// ladder says `recipient_removed` and it is not owed; a third peer still
/// gets the 404 of a missing id for it.
#[tokio::test]
async fn questions_to_a_deleted_peer_end() {
    for backend in backends() {
        let m = mesh(backend).await;
        let q = m.ask(&m.alice, "bob", json!({"due_in": 60})).await;
        let kept = m.ask(&m.alice, "carol", json!({})).await;
        let (_, v) = m.as_(&m.alice, Method::GET, "/obligations", None).await;
        assert_eq!(v["awaiting"].as_array().map(Vec::len), Some(2), "{backend:?}: {v}");
        let (s, v) = m.gw.call(Method::DELETE, "/peers/bob", Some(common::OPERATOR), None).await;
        assert_eq!(s, StatusCode::OK, "{v}");

        let (s, v) = m.as_(&m.alice, Method::GET, "/obligations", None).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        let awaiting: Vec<i64> = v["awaiting"].as_array().unwrap().iter().map(|o| o["id"].as_i64().unwrap()).collect();
        assert_eq!(awaiting, vec![kept], "{backend:?}: the question to bob ended");
        let (_, v) = m.gw.get("/obligations").await;
        assert_eq!(v["owed"].as_array().map(Vec::len), Some(1), "{backend:?}: the whole mesh: {v}");
        let (s, v) = m.status(&m.alice, q).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert_eq!(v["recipient_removed"], true, "{backend:?}: {v}");
        assert!(v["owed"].is_null() && v["answer_id"].is_null(), "{backend:?}: {v}");
        let (_, v) = m.status(&m.alice, kept).await;
        assert!(v["recipient_removed"].is_null() && v["owed"] == true, "{backend:?}: {v}");
        // carol, with its own valid token, learns nothing about it.
        let (s, v) = m.status(&m.carol, q).await;
        assert_eq!((s, v["error"].as_str()), (StatusCode::NOT_FOUND, Some("unknown_message")), "{backend:?}");
        let (_, v) = m.as_(&m.carol, Method::GET, "/obligations", None).await;
        let owed: Vec<i64> = v["owed"].as_array().unwrap().iter().map(|o| o["id"].as_i64().unwrap()).collect();
        assert_eq!(owed, vec![kept], "{backend:?}: {v}");
        m.gw.stop().await;
    }
}
