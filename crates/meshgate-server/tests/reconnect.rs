//! A peer whose clients vanished reconnects at once: at its cap of streams
//! or long-polls, a new one ends that peer's oldest instead of being
//! refused, and no peer can end another's (both backends).

use crate::common;

use std::time::Duration;

use common::{backends, Backend, Gateway};
use futures_util::StreamExt;
use reqwest::StatusCode;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Opens `GET path` with `token` on a raw socket and reads until the
/// response head arrived; the caller drops the socket without reading more.
async fn raw_open(gw: &Gateway, path: &str, token: &str) -> TcpStream {
    let addr = gw.url.trim_start_matches("http://");
    let mut sock = TcpStream::connect(addr).await.unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\r\n");
    sock.write_all(req.as_bytes()).await.unwrap();
    sock
}

/// Waits until a raw stream's response head (200) arrived.
async fn head_arrives(sock: &mut TcpStream) {
    let mut head = [0u8; 256];
    let n = tokio::time::timeout(Duration::from_secs(5), sock.read(&mut head)).await.expect("head").unwrap();
    assert!(head[..n].starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&head[..n]));
}

/// Waits for an SSE event with `id` on `resp`.
async fn event_arrives(resp: reqwest::Response, id: i64) {
    let mut buf = String::new();
    let mut events = resp.bytes_stream();
    while !buf.contains(&format!("id: {id}\n")) && !buf.contains(&format!("id:{id}\n")) {
        let chunk = tokio::time::timeout(Duration::from_secs(5), events.next()).await.expect("event in time");
        buf.push_str(&String::from_utf8_lossy(&chunk.expect("stream open").unwrap()));
    }
}

/// Sends a DM `from` -> `to` and checks that the recipient's waiting
/// long-poll answers with it and its stream delivers it.
async fn both_deliver(
    gw: &Gateway,
    (from, to): (&str, &str),
    poll: tokio::task::JoinHandle<(StatusCode, Value)>,
    stream: reqwest::Response,
    backend: Backend,
) {
    let (s, v) = gw.send(from, to, "hello").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let id = v["id"].as_i64().unwrap();
    let (s, v) = tokio::time::timeout(Duration::from_secs(5), poll).await.expect("poll answered").unwrap();
    assert_eq!((s, v["n"].as_u64()), (StatusCode::OK, Some(1)), "{backend:?}: {v}");
    event_arrives(stream, id).await;
}

/// A long-poll from the start of `token`'s inbox, waiting up to 30 s.
fn spawn_poll(gw: &Gateway, token: &str) -> tokio::task::JoinHandle<(StatusCode, Value)> {
    let req = gw.http.get(format!("{}/messages?wait=30&after_id=0", gw.url)).bearer_auth(token);
    tokio::spawn(async move {
        let r = req.send().await.unwrap();
        (r.status(), r.json::<Value>().await.unwrap())
    })
}

async fn gateway(backend: Backend) -> Gateway {
    Gateway::start_backend(backend, |c| {
        c.max_streams_per_peer = 2;
        c.max_polls_per_peer = 2;
        // Long enough that no keep-alive write notices the dead sockets.
        c.keep_alive = Duration::from_secs(60);
    })
    .await
}

#[tokio::test]
async fn a_peer_at_its_cap_whose_clients_vanished_reconnects_at_once() {
    for backend in backends() {
        let gw = gateway(backend).await;
        gw.register("alice").await;
        let bob = gw.register("bob").await;

        // Bob's agent holds its whole cap of streams and long-polls, then its
        // connections die without a word (no FIN read, nothing written).
        let mut dead = Vec::new();
        for _ in 0..2 {
            let mut s = raw_open(&gw, "/messages/stream", &bob).await;
            head_arrives(&mut s).await;
            dead.push(s);
            dead.push(raw_open(&gw, "/messages?wait=60", &bob).await);
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        drop(dead);

        // Reconnecting works at once: no 429, and the new ones deliver.
        let started = std::time::Instant::now();
        let resp = gw.http.get(format!("{}/messages/stream", gw.url)).bearer_auth(&bob).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "{backend:?}");
        let poll = spawn_poll(&gw, &bob);
        tokio::time::sleep(Duration::from_millis(200)).await;
        both_deliver(&gw, ("alice", "bob"), poll, resp, backend).await;
        assert!(started.elapsed() < Duration::from_secs(5), "{backend:?}: took {:?}", started.elapsed());
        gw.stop().await;
    }
}

#[tokio::test]
async fn eviction_never_reaches_another_peer() {
    for backend in backends() {
        let gw = gateway(backend).await;
        let alice = gw.register("alice").await;
        let mallory = gw.register("mallory").await;

        let alice_stream = gw.http.get(format!("{}/messages/stream", gw.url)).bearer_auth(&alice).send().await.unwrap();
        assert_eq!(alice_stream.status(), StatusCode::OK);
        let alice_poll = spawn_poll(&gw, &alice);
        tokio::time::sleep(Duration::from_millis(200)).await;

        // Mallory churns far past her caps, with her own token and alice's
        // name in every parameter she may use.
        let mut held = Vec::new();
        for i in 0..10 {
            let mut s = raw_open(&gw, "/messages/stream", &mallory).await;
            head_arrives(&mut s).await;
            held.push(s);
            held.push(raw_open(&gw, &format!("/messages?wait=60&after_id={i}"), &mallory).await);
            let mut s = raw_open(&gw, "/messages/stream?to=alice", &mallory).await;
            let mut head = [0u8; 64];
            let n = s.read(&mut head).await.unwrap();
            assert!(head[..n].starts_with(b"HTTP/1.1 403"), "{}", String::from_utf8_lossy(&head[..n]));
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(!alice_poll.is_finished(), "{backend:?}: alice's long-poll was ended by mallory");

        // Alice's stream and long-poll are still there and deliver.
        both_deliver(&gw, ("mallory", "alice"), alice_poll, alice_stream, backend).await;
        drop(held);
        gw.stop().await;
    }
}
