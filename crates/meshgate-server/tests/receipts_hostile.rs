//! Regression tests from the hostile review of receipts (#15), over real
//! HTTP on every backend: what a stranger with its own valid token learns
//! from marking read, and the rules a reply, an obligation page and a
//! receipt stream must keep.

use crate::common;

use std::time::Duration;

use common::{backends, Gateway};
use futures_util::StreamExt;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

struct Mesh {
    gw: Gateway,
    alice: String,
    bob: String,
    mallory: String,
}

async fn mesh(backend: common::Backend) -> Mesh {
    let gw = Gateway::start_backend(backend, |_| {}).await;
    let alice = gw.register("alice").await;
    let bob = gw.register("bob").await;
    let mallory = gw.register("mallory").await;
    Mesh { gw, alice, bob, mallory }
}

impl Mesh {
    async fn as_(&self, token: &str, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        self.gw.call(method, path, Some(token), body).await
    }

    async fn send(&self, token: &str, body: Value) -> (StatusCode, Value) {
        self.as_(token, Method::POST, "/messages", Some(body)).await
    }

    async fn ask(&self, extra: Value) -> i64 {
        let mut body = json!({"to_node": "bob", "kind": "question", "content": "ship it?"});
        body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        let (s, v) = self.send(&self.alice, body).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        v["id"].as_i64().unwrap()
    }

    /// Status and raw body of `POST /messages/{id}/read` with `token`.
    async fn mark_read_raw(&self, token: &str, id: i64) -> (StatusCode, String) {
        let r = self.gw.http.post(format!("{}/messages/{id}/read", self.gw.url)).bearer_auth(token).send().await;
        let r = r.unwrap();
        (r.status(), r.text().await.unwrap())
    }
}

/// Marking read: a peer token gets one answer for a message that is not in
/// its inbox, whether the id is someone else's or taken by nobody (403, as
/// the Python client's tests pin for a foreign id); nothing is marked. The
/// operator keeps 404 for a missing id; the recipient marks as before.
#[tokio::test]
async fn marking_read_tells_a_stranger_nothing_about_which_ids_exist() {
    for backend in backends() {
        let m = mesh(backend).await;
        let theirs = m.ask(json!({})).await;
        let missing = theirs + 1000;
        let (s1, foreign) = m.mark_read_raw(&m.mallory, theirs).await;
        let (s2, absent) = m.mark_read_raw(&m.mallory, missing).await;
        assert_eq!((s1, s2), (StatusCode::FORBIDDEN, StatusCode::FORBIDDEN), "{foreign} / {absent}");
        assert_eq!(foreign.replace(&theirs.to_string(), "N"), absent.replace(&missing.to_string(), "N"));
        let v: Value = serde_json::from_str(&foreign).unwrap();
        assert_eq!(v["error"], "not_in_inbox");
        // The sender is no recipient either.
        let (s, own) = m.mark_read_raw(&m.alice, theirs).await;
        assert_eq!(s, StatusCode::FORBIDDEN);
        assert_eq!(own.replace(&theirs.to_string(), "N"), absent.replace(&missing.to_string(), "N"));
        let (_, ladder) = m.as_(&m.alice, Method::GET, &format!("/messages/{theirs}"), None).await;
        assert!(ladder["read_at"].is_null() && ladder["delivered_at"].is_null(), "nothing marked: {ladder}");

        let (s, v) = m.gw.post(&format!("/messages/{missing}/read"), json!({})).await;
        assert_eq!((s, v["error"].as_str()), (StatusCode::NOT_FOUND, Some("unknown_message")), "{v}");
        let (s, body) = m.mark_read_raw(&m.bob, theirs).await;
        assert_eq!(s, StatusCode::OK, "{body}");
        let (s, again) = m.mark_read_raw(&m.bob, theirs).await;
        assert_eq!((s, again), (StatusCode::OK, body), "idempotent, keeps the first read_at");
        m.gw.stop().await;
    }
}

/// A reused idempotency key on an answer to another question is 409
/// `idempotency_conflict`, not a silent repeat of the first answer (which
/// would leave the second question unanswered); the exact repeat is still
/// answered with the stored DM.
#[tokio::test]
async fn a_reused_key_cannot_swallow_an_answer_to_another_question() {
    for backend in backends() {
        let m = mesh(backend).await;
        let (q1, q2) = (m.ask(json!({})).await, m.ask(json!({})).await);
        let answer = |q: i64| json!({"in_reply_to": q, "kind": "answer", "content": "yes", "idempotency_key": "k1"});
        let (s, first) = m.send(&m.bob, answer(q1)).await;
        assert_eq!(s, StatusCode::OK, "{first}");
        let (s, repeat) = m.send(&m.bob, answer(q1)).await;
        assert_eq!((s, repeat["id"].clone()), (StatusCode::OK, first["id"].clone()));
        let (s, v) = m.send(&m.bob, answer(q2)).await;
        assert_eq!((s, v["error"].as_str()), (StatusCode::CONFLICT, Some("idempotency_conflict")), "{v}");
        let (_, ladder) = m.as_(&m.alice, Method::GET, &format!("/messages/{q2}"), None).await;
        assert!(ladder["answer_id"].is_null(), "{ladder}");
        // A question retried with due_in is the same question.
        let ask =
            json!({"to_node": "bob", "kind": "question", "content": "by when?", "due_in": 60, "idempotency_key": "d"});
        let (_, a) = m.send(&m.alice, ask.clone()).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
        let (s, b) = m.send(&m.alice, ask).await;
        assert_eq!((s, a["id"].clone()), (StatusCode::OK, b["id"].clone()), "{b}");
        m.gw.stop().await;
    }
}

/// `GET /obligations?limit=N`: overdue questions come first even when N
/// older questions without a deadline are open.
#[tokio::test]
async fn an_obligations_page_starts_with_every_overdue_question() {
    for backend in backends() {
        let m = mesh(backend).await;
        let old = [m.ask(json!({})).await, m.ask(json!({"due_in": 3600})).await, m.ask(json!({})).await];
        let late = [
            m.ask(json!({"due_at": "2020-01-01T00:00:00Z"})).await,
            m.ask(json!({"due_at": "2020-01-01T09:00:00+09:00"})).await,
        ];
        let ids = |v: &Value, list: &str| {
            v[list].as_array().unwrap().iter().map(|o| o["id"].as_i64().unwrap()).collect::<Vec<_>>()
        };
        let (s, v) = m.as_(&m.bob, Method::GET, "/obligations?limit=3", None).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert_eq!(ids(&v, "owed"), [late[0], late[1], old[0]], "{v}");
        let (_, v) = m.as_(&m.alice, Method::GET, "/obligations?limit=2", None).await;
        assert_eq!(ids(&v, "awaiting"), late, "{v}");
        let (_, v) = m.gw.get("/obligations?limit=1").await;
        assert_eq!(ids(&v, "owed"), [late[0]], "the whole mesh too: {v}");
        let (_, v) = m.as_(&m.bob, Method::GET, "/obligations", None).await;
        assert_eq!(ids(&v, "owed"), [late[0], late[1], old[0], old[1], old[2]], "{v}");
        m.gw.stop().await;
    }
}

/// A question answered without a recorded delivery (the recipient found it
/// by a peek, or by `GET /messages/{id}`, which records nothing) shows as
/// delivered: the answer proves the hand-over. Reading is not implied.
#[tokio::test]
async fn an_answered_question_shows_as_delivered() {
    for backend in backends() {
        let m = mesh(backend).await;
        let q = m.ask(json!({})).await;
        let (s, _) = m.as_(&m.bob, Method::GET, "/messages?peek=true", None).await;
        assert_eq!(s, StatusCode::OK);
        let (s, _) = m.as_(&m.bob, Method::GET, &format!("/messages/{q}"), None).await;
        assert_eq!(s, StatusCode::OK);
        tokio::time::sleep(Duration::from_millis(50)).await;
        let (_, v) = m.as_(&m.alice, Method::GET, &format!("/messages/{q}"), None).await;
        assert!(v["delivered_at"].is_null(), "peek and the ladder record nothing: {v}");
        let (s, a) = m.send(&m.bob, json!({"in_reply_to": q, "kind": "answer", "content": "yes"})).await;
        assert_eq!(s, StatusCode::OK, "{a}");
        let (_, v) = m.as_(&m.alice, Method::GET, &format!("/messages/{q}"), None).await;
        assert_eq!(v["answer_id"], a["id"], "{v}");
        assert!(v["delivered_at"].is_string() && v["read_at"].is_null(), "{v}");
        m.gw.stop().await;
    }
}

/// A receipt stream starts at its start: a change made before it opened
/// (here an answer) is not replayed; the first event is a later change.
#[tokio::test]
async fn a_receipt_stream_does_not_replay_changes_from_before_it_opened() {
    for backend in backends() {
        let m = mesh(backend).await;
        let q = m.ask(json!({})).await;
        let (s, _) = m.send(&m.bob, json!({"in_reply_to": q, "kind": "answer", "content": "done"})).await;
        assert_eq!(s, StatusCode::OK);
        let later = m.ask(json!({})).await;

        let url = format!("{}/messages/stream?receipts=true", m.gw.url);
        let r = m.gw.http.get(url).bearer_auth(&m.alice).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let mut body = r.bytes_stream();
        // Let the stream pin its start before the next change.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let (s, _) = m.as_(&m.bob, Method::POST, &format!("/messages/{later}/read"), None).await;
        assert_eq!(s, StatusCode::OK);

        let mut text = String::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while !text.contains("event: read") {
            let chunk = tokio::time::timeout_at(deadline, body.next()).await.expect("a read receipt within 10 s");
            text.push_str(&String::from_utf8_lossy(&chunk.expect("stream open").unwrap()));
        }
        let first = text.split("\n\n").find(|e| e.contains("event: ")).unwrap();
        assert!(first.contains("event: read") && first.contains(&format!("\"id\":{later}")), "{text}");
        assert!(!text.contains("event: answered"), "the answer came before the stream: {text}");
        m.gw.stop().await;
    }
}
