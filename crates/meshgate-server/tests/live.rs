//! Live delivery: the id cursor, long-poll and Server-Sent Events.

use crate::common;

use std::time::{Duration, Instant};

use common::{Gateway, OPERATOR};
use futures_util::StreamExt;
use reqwest::StatusCode;
use serde_json::Value;

async fn send_n(gw: &Gateway, n: usize, tag: &str) -> Vec<i64> {
    let mut ids = Vec::new();
    for i in 0..n {
        let (s, v) = gw.send("alice", "bob", &format!("{tag} {i}")).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        ids.push(v["id"].as_i64().unwrap());
    }
    ids
}

#[tokio::test]
async fn after_id_is_a_gapless_cursor_oldest_first() {
    let gw = Gateway::start().await;
    gw.register("alice").await;
    gw.register("bob").await;
    let ids = send_n(&gw, 7, "m").await;
    let mut seen = Vec::new();
    let mut after = 0;
    loop {
        let (_, v) = gw.get(&format!("/messages?to=bob&after_id={after}&limit=3")).await;
        let rows = v["messages"].as_array().unwrap();
        if rows.is_empty() {
            break;
        }
        for r in rows {
            after = r["id"].as_i64().unwrap();
            seen.push(after);
        }
    }
    assert_eq!(seen, ids);
    gw.stop().await;
}

#[tokio::test]
async fn long_poll_answers_when_a_message_commits_or_times_out_empty() {
    let gw = Gateway::start().await;
    gw.register("alice").await;
    gw.register("bob").await;

    let start = Instant::now();
    let (s, v) = gw.get("/messages?to=bob&wait=1").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["n"], 0);
    assert!(start.elapsed() >= Duration::from_millis(900), "held for the wait");

    let url = format!("{}/messages?to=bob&unread_only=true&wait=20", gw.url);
    let http = gw.http.clone();
    let poll = tokio::spawn(async move {
        let started = Instant::now();
        let v: Value = http.get(url).bearer_auth(OPERATOR).send().await.unwrap().json().await.unwrap();
        (v, started.elapsed())
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let ids = send_n(&gw, 1, "wake").await;
    let (v, took) = poll.await.unwrap();
    assert_eq!(v["messages"][0]["id"].as_i64(), Some(ids[0]));
    assert!(took < Duration::from_secs(5), "long-poll took {took:?}");

    let (s, _) = gw.get("/messages?to=bob&wait=61").await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "wait is bounded");
    gw.stop().await;
}

/// Reads SSE events (id, data) until `n` arrived.
async fn read_events(resp: reqwest::Response, n: usize) -> Vec<(i64, Value)> {
    let mut events = Vec::new();
    let mut buf = String::new();
    let mut stream = resp.bytes_stream();
    while events.len() < n {
        let chunk = tokio::time::timeout(Duration::from_secs(10), stream.next()).await.expect("event in time");
        buf.push_str(std::str::from_utf8(&chunk.unwrap().unwrap()).unwrap());
        while let Some(end) = buf.find("\n\n") {
            let block: String = buf.drain(..end + 2).collect();
            let mut id = None;
            let mut data = None;
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("id:") {
                    id = v.trim().parse().ok();
                } else if let Some(v) = line.strip_prefix("data:") {
                    data = serde_json::from_str(v.trim()).ok();
                }
            }
            if let (Some(id), Some(data)) = (id, data) {
                events.push((id, data));
            }
        }
    }
    events
}

#[tokio::test]
async fn sse_streams_the_inbox_and_resumes_without_gap_or_duplicate() {
    let gw = Gateway::start().await;
    gw.register("alice").await;
    let bob = gw.register("bob").await;
    let early = send_n(&gw, 2, "before").await;

    let resp = gw.http.get(format!("{}/messages/stream?after_id=0", gw.url)).bearer_auth(&bob).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
    let later = send_n(&gw, 3, "live").await;
    let got = read_events(resp, 5).await; // then drop the connection mid-stream
    let expect: Vec<i64> = early.iter().chain(&later).copied().collect();
    assert_eq!(got.iter().map(|(id, _)| *id).collect::<Vec<_>>(), expect);
    assert_eq!(got[2].1["content"], "live 0");
    assert_eq!(got[2].1["to_node"], "bob");

    let missed = send_n(&gw, 2, "while away").await;
    let resp = gw
        .http
        .get(format!("{}/messages/stream", gw.url))
        .bearer_auth(&bob)
        .header("Last-Event-ID", expect.last().unwrap().to_string())
        .send()
        .await
        .unwrap();
    let got = read_events(resp, 2).await;
    assert_eq!(got.iter().map(|(id, _)| *id).collect::<Vec<_>>(), missed);
    gw.stop().await;
}

#[tokio::test]
async fn the_stream_takes_the_lists_filters_and_refuses_its_paging() {
    let gw = Gateway::start().await;
    gw.register("alice").await;
    gw.register("carol").await;
    let bob = gw.register("bob").await;
    // `limit`, `wait` and `unread_only` meant nothing to a stream and were ignored.
    for q in ["limit=5", "wait=3", "unread_only=true", "after_id=0&limit=1", "unread_only=false"] {
        let resp = gw.http.get(format!("{}/messages/stream?{q}", gw.url)).bearer_auth(&bob).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{q}");
        let v: Value = resp.json().await.unwrap();
        assert_eq!(v["error"], "unknown_parameter", "{q}: {v}");
        assert!(v["detail"].as_str().unwrap().contains(" on /messages/stream;"), "{q}: {v}");
    }
    // `to=` another peer beside `from=` itself reads the peer's sent DMs on
    // the list; a stream is an inbox: refused, not silently replaced.
    let mallory = gw.register("mallory").await;
    let url = format!("{}/messages/stream?after_id=0&to=bob&from=mallory", gw.url);
    let resp = gw.http.get(url).bearer_auth(&mallory).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert_eq!(resp.json::<Value>().await.unwrap()["error"], "forbidden");
    // Last-Event-ID is checked as `after_id` is: one value, an id of 0 or more.
    for (values, code) in [
        (&["-5"][..], "invalid_parameter"),
        (&["x"][..], "invalid_parameter"),
        (&["1", "2"][..], "duplicate_parameter"),
    ] {
        let mut req = gw.http.get(format!("{}/messages/stream", gw.url)).bearer_auth(&bob);
        for v in values {
            req = req.header("Last-Event-ID", *v);
        }
        let resp = req.send().await.unwrap();
        assert!(resp.status().is_client_error(), "{values:?}: {}", resp.status());
        assert_eq!(resp.json::<Value>().await.unwrap()["error"], code, "{values:?}");
    }
    let send = |from: &'static str, kind: &'static str, content: &'static str| {
        let body = serde_json::json!({"from_node": from, "to_node": "bob", "kind": kind, "content": content});
        let gw = &gw;
        async move {
            let (s, v) = gw.post("/messages", body).await;
            assert_eq!(s, StatusCode::OK, "{v}");
            v["id"].as_i64().unwrap()
        }
    };
    send("alice", "fyi", "not a question").await;
    let first = send("alice", "question", "first question").await;
    send("carol", "question", "carol's question").await;
    // The filters it shares with the list apply: alice's questions only (a peer
    // token names itself beside another peer, as on the list).
    let url = format!("{}/messages/stream?after_id=0&kind=question&to=bob&from_node=alice", gw.url);
    let resp = gw.http.get(url).bearer_auth(&bob).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    send("alice", "fyi", "another fyi").await;
    let second = send("alice", "question", "second question").await;
    let got = read_events(resp, 2).await;
    assert_eq!(got.iter().map(|(id, _)| *id).collect::<Vec<_>>(), vec![first, second]);
    assert!(got.iter().all(|(_, m)| m["kind"] == "question" && m["from_node"] == "alice"), "{got:?}");
    gw.stop().await;
}

/// A stream request refused for its parameters takes no slot: at the
/// per-peer cap it does not end the oldest open stream.
#[tokio::test]
async fn a_refused_stream_request_ends_no_open_stream() {
    let gw = Gateway::start_with(|c| c.max_streams_per_peer = 1).await;
    gw.register("alice").await;
    gw.register("bob").await;
    let open = gw.http.get(format!("{}/messages/stream", gw.url)).bearer_auth(OPERATOR).send().await.unwrap();
    assert_eq!(open.status(), StatusCode::OK);
    for q in ["receipts=true", "limit=1", "kind=nonsense", "after_id=x"] {
        let resp = gw.http.get(format!("{}/messages/stream?{q}", gw.url)).bearer_auth(OPERATOR).send().await.unwrap();
        assert!(resp.status().is_client_error(), "{q}: {}", resp.status());
    }
    let (s, v) = gw.send("alice", "bob", "still streamed").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let got = read_events(open, 1).await;
    assert_eq!(got[0].0, v["id"].as_i64().unwrap());
    gw.stop().await;
}

#[tokio::test]
async fn shutdown_ends_open_streams_and_long_polls() {
    let gw = Gateway::start().await;
    let bob = gw.register("bob").await;
    let stream = gw.http.get(format!("{}/messages/stream", gw.url)).bearer_auth(&bob).send().await.unwrap();
    assert_eq!(stream.status(), StatusCode::OK);
    let poll = tokio::spawn(gw.http.get(format!("{}/messages?to=bob&wait=60", gw.url)).bearer_auth(OPERATOR).send());
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    tokio::time::timeout(Duration::from_secs(5), gw.stop()).await.expect("serve returned despite open streams");
    assert!(started.elapsed() < Duration::from_secs(5));
    let resp = poll.await.unwrap().unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    drop(stream);
}
