//! Live delivery under hostile input: byte-bounded pages, per-peer caps on
//! streams and long-polls, and credentials that die end open responses.

use crate::common;

use std::time::{Duration, Instant};

use common::{Gateway, OPERATOR};
use futures_util::StreamExt;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// 190,000 control characters: each escapes to six bytes of JSON.
fn hostile_body() -> String {
    "\u{1}".repeat(190_000)
}

async fn list(gw: &Gateway, token: &str, query: &str) -> (StatusCode, Value, usize) {
    let resp = gw.http.get(format!("{}/messages?{query}", gw.url)).bearer_auth(token).send().await.unwrap();
    let status = resp.status();
    let body = resp.bytes().await.unwrap();
    (status, serde_json::from_slice(&body).unwrap(), body.len())
}

fn ids(v: &Value) -> Vec<i64> {
    v["messages"].as_array().unwrap().iter().map(|m| m["id"].as_i64().unwrap()).collect()
}

#[tokio::test]
async fn a_list_answer_stays_within_its_byte_budget_and_pages_on() {
    let gw = Gateway::start().await;
    gw.register("alice").await;
    let bob = gw.register("bob").await;
    let body = hostile_body();
    let mut sent = Vec::new();
    for _ in 0..12 {
        let (s, v) = gw.send("alice", "bob", &body).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        sent.push(v["id"].as_i64().unwrap());
    }
    let budget = meshgate_proto::PAGE_BYTES_DEFAULT;
    let row = 6 * 190_000;

    // Newest first (the inbox default): the newest rows that fit.
    let (s, v, len) = list(&gw, &bob, "to=bob&limit=1000").await;
    assert_eq!(s, StatusCode::OK);
    let n = v["n"].as_u64().unwrap() as usize;
    assert_eq!(n, budget / (row + 200), "as many rows as fit in {budget} bytes");
    assert!(len <= budget + 100, "{len} bytes answered");
    assert_eq!(ids(&v), sent.iter().rev().take(n).copied().collect::<Vec<_>>());
    assert_eq!(v["messages"][0]["content"].as_str().unwrap(), body);

    // Oldest first with a cursor: every row exactly once.
    let mut seen = Vec::new();
    let mut after = 0;
    loop {
        let (s, v, len) = list(&gw, &bob, &format!("to=bob&limit=1000&after_id={after}")).await;
        assert_eq!(s, StatusCode::OK);
        assert!(len <= budget + 100);
        let page = ids(&v);
        let Some(last) = page.last() else { break };
        after = *last;
        seen.extend(page);
    }
    assert_eq!(seen, sent);

    // A third peer with its own valid token sees none of it.
    let carol = gw.register("carol").await;
    let (s, v, _) = list(&gw, &carol, "limit=1000").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["n"], 0);
    gw.stop().await;
}

#[tokio::test]
async fn a_row_larger_than_the_budget_still_comes_alone() {
    let gw = Gateway::start_with(|c| c.page_max_bytes = 1000).await;
    gw.register("alice").await;
    let bob = gw.register("bob").await;
    for i in 0..3 {
        gw.send("alice", "bob", &format!("{i}{}", "x".repeat(2000))).await;
    }
    let (_, v, _) = list(&gw, &bob, "to=bob&after_id=0").await;
    assert_eq!(v["n"], 1);
    let (_, v, _) = list(&gw, &bob, "to=bob&after_id=0&wait=5").await;
    assert_eq!(v["n"], 1, "a long-poll answer has the same budget");
    gw.stop().await;
}

/// Reads an SSE response until it ends; returns the ids of its events.
/// Panics if it does not end within `within`.
async fn read_to_end(resp: reqwest::Response, within: Duration) -> Vec<i64> {
    let mut buf = String::new();
    let mut stream = resp.bytes_stream();
    let deadline = tokio::time::Instant::now() + within;
    while let Some(chunk) = tokio::time::timeout_at(deadline, stream.next()).await.expect("the stream ended in time") {
        match chunk {
            Ok(c) => buf.push_str(&String::from_utf8_lossy(&c)),
            Err(_) => break, // the connection closed mid-body
        }
    }
    buf.lines().filter_map(|l| l.strip_prefix("id:")).filter_map(|v| v.trim().parse().ok()).collect()
}

/// Reads an open SSE response until the event with `id` arrived (within 5 s).
async fn await_event(resp: reqwest::Response, id: i64, what: &str) {
    let mut events = resp.bytes_stream();
    let mut buf = String::new();
    while !buf.contains(&format!("id: {id}")) && !buf.contains(&format!("id:{id}")) {
        let chunk = tokio::time::timeout(Duration::from_secs(5), events.next()).await.expect(what);
        buf.push_str(&String::from_utf8_lossy(&chunk.unwrap().unwrap()));
    }
}

async fn open_stream(gw: &Gateway, token: &str) -> reqwest::Response {
    let resp = gw.http.get(format!("{}/messages/stream", gw.url)).bearer_auth(token).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    resp
}

fn spawn_poll(gw: &Gateway, token: &str, query: &str) -> tokio::task::JoinHandle<(StatusCode, Value)> {
    let req = gw.http.get(format!("{}/messages?{query}", gw.url)).bearer_auth(token);
    tokio::spawn(async move {
        let resp = req.send().await.unwrap();
        (resp.status(), resp.json().await.unwrap())
    })
}

#[tokio::test]
async fn large_rows_stream_one_by_one_without_gap() {
    let gw = Gateway::start().await;
    gw.register("alice").await;
    let bob = gw.register("bob").await;
    let body = hostile_body();
    let mut sent = Vec::new();
    for _ in 0..4 {
        sent.push(gw.send("alice", "bob", &body).await.1["id"].as_i64().unwrap());
    }
    let resp = gw.http.get(format!("{}/messages/stream?after_id=0", gw.url)).bearer_auth(&bob).send().await.unwrap();
    let mut stream = resp.bytes_stream();
    let mut buf = Vec::new();
    let mut got = Vec::new();
    while got.len() < 4 {
        let chunk = tokio::time::timeout(Duration::from_secs(10), stream.next()).await.expect("in time");
        buf.extend_from_slice(&chunk.unwrap().unwrap());
        while let Some(end) = buf.windows(2).position(|w| w == b"\n\n") {
            let block: Vec<u8> = buf.drain(..end + 2).collect();
            let block = String::from_utf8(block).unwrap();
            if let Some(id) = block.lines().find_map(|l| l.strip_prefix("id:")) {
                let data = block.lines().find_map(|l| l.strip_prefix("data:")).unwrap();
                let m: Value = serde_json::from_str(data.trim()).unwrap();
                assert_eq!(m["content"].as_str().unwrap().len(), body.len());
                got.push(id.trim().parse::<i64>().unwrap());
            }
        }
    }
    assert_eq!(got, sent);
    gw.stop().await;
}

#[tokio::test]
async fn at_the_cap_a_new_stream_or_long_poll_ends_the_peers_oldest() {
    let gw = Gateway::start_with(|c| {
        c.max_streams_per_peer = 2;
        c.max_polls_per_peer = 1;
        c.keep_alive = Duration::from_secs(60);
    })
    .await;
    let alice = gw.register("alice").await;
    let bob = gw.register("bob").await;

    let first = open_stream(&gw, &bob).await;
    let second = open_stream(&gw, &bob).await;
    // A third ends the oldest at once; the second stays.
    let third = open_stream(&gw, &bob).await;
    assert!(read_to_end(first, Duration::from_secs(3)).await.is_empty());
    // The operator reading bob's inbox counts against bob too: it ends the second.
    let _operator = gw.http.get(format!("{}/messages/stream?to=bob", gw.url)).bearer_auth(OPERATOR).send().await;
    assert!(read_to_end(second, Duration::from_secs(3)).await.is_empty());
    // Another peer is not affected, and the newest of bob's still delivers.
    let _alice_stream = open_stream(&gw, &alice).await;
    let (s, v) = gw.send("alice", "bob", "to the newest stream").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let id = v["id"].as_i64().unwrap();
    await_event(third, id, "the newest streams").await;

    // Long-polls: one waiting; a second makes the first answer its empty
    // page now and waits itself; wait=0 is not counted.
    let poll = spawn_poll(&gw, &bob, &format!("wait=30&after_id={id}"));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    let newer = spawn_poll(&gw, &bob, &format!("wait=30&after_id={id}"));
    let (s, v) = tokio::time::timeout(Duration::from_secs(5), poll).await.expect("the oldest answered").unwrap();
    assert_eq!((s, v["n"].as_u64()), (StatusCode::OK, Some(0)), "{v}");
    assert!(started.elapsed() < Duration::from_secs(3), "took {:?}", started.elapsed());
    let (s, _) = gw.call(Method::GET, "/messages", Some(&bob), None).await;
    assert_eq!(s, StatusCode::OK);
    gw.send("alice", "bob", "wake up").await;
    let (s, v) = tokio::time::timeout(Duration::from_secs(5), newer).await.unwrap().unwrap();
    assert_eq!((s, v["n"].as_u64()), (StatusCode::OK, Some(1)));
    gw.stop().await;
}

/// Opens a stream and a long-poll with `token`, runs `change`, and checks
/// the stream ends and the long-poll answers 401 promptly.
async fn change_ends_live_responses(gw: &Gateway, token: &str, change: impl std::future::Future<Output = ()>) {
    let stream = open_stream(gw, token).await;
    let poll = spawn_poll(gw, token, "wait=30");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    change.await;
    let ids = read_to_end(stream, Duration::from_secs(5)).await;
    assert!(ids.is_empty(), "nothing delivered after the change: {ids:?}");
    let (s, v) = tokio::time::timeout(Duration::from_secs(5), poll).await.expect("long-poll answered").unwrap();
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{v}");
    assert_eq!(v["error"], "token_revoked");
    assert!(started.elapsed() < Duration::from_secs(3), "took {:?}", started.elapsed());
}

#[tokio::test]
async fn rotating_revoking_disabling_or_deleting_ends_open_streams_and_long_polls() {
    let gw = Gateway::start().await;
    let alice = gw.register("alice").await;
    let bob = gw.register("bob").await;
    // Alice's stream lives through all of bob's changes.
    let alice_stream = open_stream(&gw, &alice).await;

    // Rotation by bob himself: the old token's responses end.
    let mut new_bob = String::new();
    change_ends_live_responses(&gw, &bob, async {
        let (s, v) = gw.call(Method::POST, "/peers/bob/token", Some(&bob), None).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        new_bob = v["peer_token"].as_str().unwrap().to_owned();
    })
    .await;
    assert!(!new_bob.is_empty());

    // Revocation by the operator.
    change_ends_live_responses(&gw, &new_bob, async {
        let (s, v) = gw.post("/peers/bob/revoke", json!({})).await;
        assert_eq!(s, StatusCode::OK, "{v}");
    })
    .await;

    // Disabling (re-registering after the revocation mints a new token).
    let bob3 = gw.register("bob").await;
    assert!(!bob3.is_empty());
    change_ends_live_responses(&gw, &bob3, async {
        let (s, v) = gw.call(Method::PATCH, "/peers/bob", Some(OPERATOR), Some(json!({"enabled": false}))).await;
        assert_eq!(s, StatusCode::OK, "{v}");
    })
    .await;
    let (s, _) = gw.call(Method::PATCH, "/peers/bob", Some(OPERATOR), Some(json!({"enabled": true}))).await;
    assert_eq!(s, StatusCode::OK);

    // Deletion, then the name registered again for a new owner: the old
    // stream is gone and never sees the new owner's DMs.
    let old_stream = open_stream(&gw, &bob3).await;
    change_ends_live_responses(&gw, &bob3, async {
        let (s, v) = gw.call(Method::DELETE, "/peers/bob", Some(OPERATOR), None).await;
        assert_eq!(s, StatusCode::OK, "{v}");
    })
    .await;
    assert!(read_to_end(old_stream, Duration::from_secs(5)).await.is_empty());
    let new_owner = gw.register("bob").await;
    let (s, v) = gw.send("alice", "bob", "for the new owner").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, _) = gw.call(Method::GET, "/messages/stream", Some(&bob3), None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "the old token opens nothing");
    let (s, v) = gw.call(Method::GET, "/messages?after_id=0", Some(&new_owner), None).await;
    assert_eq!((s, v["n"].as_u64()), (StatusCode::OK, Some(1)));

    // Alice's stream is still open and delivers.
    let (s, v) = gw.send("bob", "alice", "still here").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let id = v["id"].as_i64().unwrap();
    await_event(alice_stream, id, "alice still streams").await;
    gw.stop().await;
}
