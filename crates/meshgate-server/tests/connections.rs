//! Connection defences, driven by raw TCP clients against a real gateway:
//! caps and shedding, the `/health` reserve, the body deadline, 413 before
//! `100 Continue`, the write timeout and the shutdown deadline.

use crate::common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use common::{Gateway, OPERATOR};
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

fn addr(gw: &Gateway) -> SocketAddr {
    gw.url.trim_start_matches("http://").parse().unwrap()
}

/// A TCP connection to `to` from the loopback address `from`, with a small
/// receive buffer (so a client that does not read stalls the server soon).
async fn connect_from(from: Ipv4Addr, to: SocketAddr, small_buffer: bool) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    if small_buffer {
        socket.set_recv_buffer_size(4096).unwrap();
    }
    socket.bind(SocketAddr::new(IpAddr::V4(from), 0)).unwrap();
    socket.connect(to).await.unwrap()
}

async fn connect(to: SocketAddr) -> TcpStream {
    connect_from(Ipv4Addr::LOCALHOST, to, false).await
}

/// Reads one response (head and `Content-Length` body) within 5 s.
async fn read_response(stream: &mut TcpStream) -> (u16, String, String) {
    let mut buf = Vec::new();
    let read = async {
        loop {
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&buf[..end]).to_string();
                let len = head
                    .lines()
                    .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_owned()))
                    .map_or(0, |v| v.parse::<usize>().unwrap());
                if buf.len() >= end + 4 + len {
                    let body = String::from_utf8_lossy(&buf[end + 4..end + 4 + len]).to_string();
                    buf.drain(..end + 4 + len);
                    let status = head[9..12].parse().unwrap();
                    return (status, head, body);
                }
            }
            let mut chunk = [0u8; 4096];
            let n = stream.read(&mut chunk).await.unwrap();
            assert!(n > 0, "connection closed mid-response: {}", String::from_utf8_lossy(&buf));
            buf.extend_from_slice(&chunk[..n]);
        }
    };
    tokio::time::timeout(Duration::from_secs(5), read).await.expect("no response within 5 s")
}

/// Whether the server closes `stream` within `within` (reading and
/// discarding whatever it sends first).
async fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    let drain = async {
        let mut chunk = vec![0u8; 64 * 1024];
        loop {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    tokio::time::timeout(within, drain).await.is_ok()
}

async fn request(stream: &mut TcpStream, method: &str, path: &str, token: Option<&str>) -> (u16, String, String) {
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    stream.write_all(format!("{method} {path} HTTP/1.1\r\nHost: x\r\n{auth}\r\n").as_bytes()).await.unwrap();
    read_response(stream).await
}

/// Alice's DM to bob on a fresh client is accepted.
async fn alice_sends_to_bob(gw: &Gateway, client: &reqwest::Client, alice: &str) {
    let sent = client
        .post(format!("{}/messages", gw.url))
        .bearer_auth(alice)
        .json(&json!({"to_node": "bob", "kind": "fyi", "content": "still through"}))
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), StatusCode::OK, "{}", sent.text().await.unwrap());
}

/// How many of `streams` the server closes within 100 ms each.
async fn count_closed(streams: &mut [TcpStream]) -> usize {
    let mut closed = 0;
    for stream in streams {
        if closed_within(stream, Duration::from_millis(100)).await {
            closed += 1;
        }
    }
    closed
}

fn error_code(body: &str) -> String {
    serde_json::from_str::<Value>(body).unwrap()["error"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn bare_connections_beyond_the_cap_are_shed_and_never_starve_health_or_peers() {
    let gw = Gateway::start_with(|c| c.max_connections = Some(8)).await;
    let alice = gw.register("alice").await;
    gw.register("bob").await;
    let mut bare = Vec::new();
    for _ in 0..40 {
        bare.push(connect(addr(&gw)).await);
    }

    let fresh = reqwest::Client::new();
    let started = Instant::now();
    let health = fresh.get(format!("{}/health", gw.url)).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    alice_sends_to_bob(&gw, &fresh, &alice).await;
    assert!(started.elapsed() < Duration::from_secs(2), "took {:?}", started.elapsed());

    let closed = count_closed(&mut bare).await;
    // At most 8 are served at once; every older bare one made room.
    assert!(closed >= 32, "only {closed} of 40 bare connections were closed");
    gw.stop().await;
}

#[tokio::test]
async fn an_address_may_hold_only_so_many_unauthenticated_connections() {
    let gw = Gateway::start_with(|c| {
        c.limit_loopback = true;
        c.max_unauthenticated_per_address = 4;
    })
    .await;
    let attacker = Ipv4Addr::new(127, 0, 0, 2);
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(connect_from(attacker, addr(&gw), false).await);
    }
    let started = Instant::now();
    let mut extra = connect_from(attacker, addr(&gw), false).await;
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(2), extra.read_to_end(&mut answer)).await.unwrap().unwrap();
    assert!(started.elapsed() < Duration::from_secs(1));
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("too_many_connections"), "{answer}");
    assert!(!closed_within(&mut held[3], Duration::from_millis(200)).await, "an admitted connection was closed");

    // Another address is unaffected.
    assert_eq!(gw.get("/health").await.0, StatusCode::OK);

    // An authenticated connection no longer counts against its address.
    let (status, _, _) = request(&mut held[0], "GET", "/peers", Some(OPERATOR)).await;
    assert_eq!(status, 200);
    let mut next = connect_from(attacker, addr(&gw), false).await;
    let (status, _, body) = request(&mut next, "GET", "/health", None).await;
    assert_eq!(status, 200, "{body}");
    gw.stop().await;
}

#[tokio::test]
async fn a_cap_full_of_busy_connections_still_answers_health_and_the_operator_from_the_reserve() {
    let gw = Gateway::start_with(|c| {
        c.max_connections = Some(3);
        c.health_reserve = 2;
        c.max_requests_per_peer = 0;
    })
    .await;
    gw.register("alice").await;
    let bob = gw.register("bob").await;
    // Three streams keep their connections inside a request: none is idle.
    let busy = open_streams(&gw, &bob, 3).await;

    let mut probe = connect(addr(&gw)).await;
    let (status, head, body) = request(&mut probe, "GET", "/health", None).await;
    assert_eq!(status, 200, "{body}");
    assert!(head.to_ascii_lowercase().contains("connection: close"), "{head}");
    assert!(closed_within(&mut probe, Duration::from_secs(1)).await);

    let mut other = connect(addr(&gw)).await;
    let (status, _, body) = request(&mut other, "GET", "/peers", Some(&bob)).await;
    assert_eq!((status, error_code(&body).as_str()), (503, "too_many_connections"));

    // The operator is served from the reserve (e.g. to revoke the hoarder).
    let mut operator = connect(addr(&gw)).await;
    let (status, _, body) = request(&mut operator, "GET", "/peers", Some(OPERATOR)).await;
    assert_eq!(status, 200, "{body}");

    // Two idle connections fill the reserve; the next is refused at once.
    let _idle = [connect(addr(&gw)).await, connect(addr(&gw)).await];
    let mut refused = connect(addr(&gw)).await;
    assert!(closed_within(&mut refused, Duration::from_secs(1)).await);
    drop(busy);
    gw.stop().await;
}

#[tokio::test]
async fn ready_is_answered_from_the_reserve_like_health() {
    let gw = Gateway::start_with(|c| {
        c.max_connections = Some(2);
        c.health_reserve = 1;
        c.max_requests_per_peer = 0;
    })
    .await;
    gw.register("alice").await;
    let bob = gw.register("bob").await;
    let busy = open_streams(&gw, &bob, 2).await;
    let mut probe = connect(addr(&gw)).await;
    let (status, head, body) = request(&mut probe, "GET", "/ready", None).await;
    assert_eq!((status, body.as_str()), (200, r#"{"status":"ready"}"#));
    assert!(head.to_ascii_lowercase().contains("connection: close"), "{head}");
    drop(busy);
    gw.stop().await;
}

/// Opens `n` SSE streams with `token` (answered 200) and never reads them.
async fn open_streams(gw: &Gateway, token: &str, n: usize) -> Vec<TcpStream> {
    let mut streams = Vec::new();
    for _ in 0..n {
        let mut s = stalled_stream(gw, token).await;
        let mut head = [0u8; 12];
        s.read_exact(&mut head).await.unwrap();
        assert_eq!(&head, b"HTTP/1.1 200");
        streams.push(s);
    }
    streams
}

/// Opens `n` keep-alive connections and makes one request with `token` on
/// each (F1 of the hostile review: one token holding every slot).
async fn hoard(gw: &Gateway, n: usize, token: &str) -> Vec<TcpStream> {
    let mut held = Vec::new();
    for _ in 0..n {
        let mut s = connect(addr(gw)).await;
        let (status, _, body) = request(&mut s, "GET", "/peers", Some(token)).await;
        assert_eq!(status, 200, "{body}");
        held.push(s);
    }
    held
}

#[tokio::test]
async fn one_peer_holding_every_connection_idle_locks_out_neither_peers_nor_the_operator() {
    let gw = Gateway::start_with(|c| c.max_connections = Some(8)).await;
    let alice = gw.register("alice").await;
    gw.register("bob").await;
    let mallory = gw.register("mallory").await;
    let mut held = hoard(&gw, 8, &mallory).await;
    // Token-less keep-alive pings on each do not protect them.
    for s in &mut held {
        assert_eq!(request(s, "GET", "/health", None).await.0, 200);
    }

    let mut a = connect(addr(&gw)).await;
    let (status, _, body) = request(&mut a, "GET", "/peers", Some(&alice)).await;
    assert_eq!(status, 200, "{body}");
    let fresh = reqwest::Client::new();
    alice_sends_to_bob(&gw, &fresh, &alice).await;
    let mut op = connect(addr(&gw)).await;
    let (status, _, body) = request(&mut op, "POST", "/peers/mallory/revoke", Some(OPERATOR)).await;
    assert_eq!(status, 200, "{body}");

    let closed = count_closed(&mut held).await;
    assert!(closed >= 3, "only {closed} of mallory's idle connections made room");
    gw.stop().await;
}

/// Unauthenticated connections are capped all together, loopback included
/// (hostile review, session 10: 2,000 token-less loopback connections each
/// holding a half-sent 79 KiB head took 160 MB, unbounded but by
/// `--max-connections`): beyond the cap the oldest is closed for the
/// newcomer; authenticated connections are untouched.
#[tokio::test]
async fn unauthenticated_connections_are_capped_all_together_loopback_included() {
    let gw = Gateway::start_with(|c| c.max_unauthenticated = 4).await;
    let alice = gw.register("alice").await;
    let mut alices = hoard(&gw, 1, &alice).await;
    let mut bare = Vec::new();
    for _ in 0..4 {
        let mut s = connect(addr(&gw)).await;
        s.write_all(b"GET /peers HTTP/1.1\r\nX-Pad: aaaa").await.unwrap();
        bare.push(s);
    }
    assert_eq!(count_closed(&mut bare).await, 0, "four is within the cap");
    for _ in 0..2 {
        let mut s = connect(addr(&gw)).await;
        s.write_all(b"GET /peers HTTP/1.1\r\nX-Pad: aaaa").await.unwrap();
        bare.push(s);
    }
    let mut closed = Vec::new();
    for s in &mut bare {
        closed.push(closed_within(s, Duration::from_millis(200)).await);
    }
    assert_eq!(closed, [true, true, false, false, false, false], "the two oldest are closed");
    let mut fresh = connect(addr(&gw)).await;
    assert_eq!(request(&mut fresh, "GET", "/peers", Some(&alice)).await.0, 200);
    assert_eq!(request(&mut alices[0], "GET", "/peers", Some(&alice)).await.0, 200);
    gw.stop().await;
}

/// One token cannot keep more than twice its request cap of connections
/// open (hostile review, session 10: 3,000 connections each holding a
/// half-sent 390 KB head took 1.5 GB): beyond, its own longest-idle
/// connection is closed, whatever it was in the middle of sending; other
/// peers' connections are untouched.
#[tokio::test]
async fn a_peer_keeps_at_most_twice_its_request_cap_of_connections() {
    let gw = Gateway::start_with(|c| c.max_requests_per_peer = 2).await;
    let alice = gw.register("alice").await;
    let mallory = gw.register("mallory").await;
    let mut alices = hoard(&gw, 1, &alice).await;
    let mut held = hoard(&gw, 4, &mallory).await;
    for s in &mut held {
        s.write_all(b"GET /peers HTTP/1.1\r\nX-Pad: aaaa").await.unwrap();
    }
    assert_eq!(count_closed(&mut held).await, 0, "four is within mallory's cap");
    let mut more = hoard(&gw, 2, &mallory).await;
    let closed: Vec<bool> = {
        let mut v = Vec::new();
        for s in &mut held {
            v.push(closed_within(s, Duration::from_millis(200)).await);
        }
        v
    };
    assert_eq!(closed, [true, true, false, false], "mallory's two longest-idle connections are closed");
    for s in &mut more {
        assert_eq!(request(s, "GET", "/peers", Some(&mallory)).await.0, 200);
    }
    assert_eq!(request(&mut alices[0], "GET", "/peers", Some(&alice)).await.0, 200);
    gw.stop().await;
}

#[tokio::test]
async fn a_peer_may_keep_only_half_the_connection_cap_busy() {
    let gw = Gateway::start_with(|c| {
        c.max_connections = Some(8);
        // A stream whose client left ends at its next write.
        c.keep_alive = Duration::from_millis(100);
    })
    .await;
    let alice = gw.register("alice").await;
    let mallory = gw.register("mallory").await;
    // Streams stay inside their request: at most 4 (half of 8) per peer.
    let mut streams = open_streams(&gw, &mallory, 4).await;
    let mut fifth = connect(addr(&gw)).await;
    let (status, _, body) = request(&mut fifth, "GET", "/messages/stream?after_id=0", Some(&mallory)).await;
    assert_eq!((status, error_code(&body).as_str()), (429, "too_many_requests"));
    // Other requests of hers are refused alike while the four are open.
    let (status, _, body) = request(&mut fifth, "GET", "/peers", Some(&mallory)).await;
    assert_eq!((status, error_code(&body).as_str()), (429, "too_many_requests"));

    let mut a = connect(addr(&gw)).await;
    let (status, _, body) = request(&mut a, "GET", "/peers", Some(&alice)).await;
    assert_eq!(status, 200, "{body}");

    // A stream whose client left frees its place.
    drop(streams.pop());
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (status, _, _) = request(&mut fifth, "GET", "/peers", Some(&mallory)).await;
        if status == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "the closed stream's place was never freed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    gw.stop().await;
}

#[tokio::test]
async fn a_body_that_does_not_arrive_in_time_is_408_and_a_slow_but_timely_one_is_served() {
    let gw = Gateway::start_with(|c| c.body_timeout = Duration::from_millis(500)).await;
    gw.register("alice").await;
    gw.register("bob").await;
    let head = format!(
        "POST /messages HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {OPERATOR}\r\n\
         Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
    );
    let mut drip = connect(addr(&gw)).await;
    drip.write_all(format!("{head}{{").as_bytes()).await.unwrap();
    let started = Instant::now();
    let (status, _, body) = read_response(&mut drip).await;
    assert_eq!((status, error_code(&body).as_str()), (408, "body_timeout"));
    assert!(started.elapsed() >= Duration::from_millis(400), "answered after {:?}", started.elapsed());
    assert!(closed_within(&mut drip, Duration::from_secs(1)).await);

    let body = json!({"from_node": "alice", "to_node": "bob", "kind": "fyi", "content": "in two parts"}).to_string();
    let (first, second) = body.split_at(10);
    let mut slow = connect(addr(&gw)).await;
    let head = head.replace("1000", &body.len().to_string());
    slow.write_all(format!("{head}{first}").as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    slow.write_all(second.as_bytes()).await.unwrap();
    let (status, _, answer) = read_response(&mut slow).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(gw.inbox("bob").await.len(), 1);

    // A body the handler never reads does not time out: a long-poll that
    // outlives the body deadline answers normally.
    let mut poll = connect(addr(&gw)).await;
    poll.write_all(
        format!(
            "GET /messages?to=alice&wait=1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {OPERATOR}\r\n\
             Content-Length: 5\r\n\r\n"
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let (status, _, answer) = read_response(&mut poll).await;
    assert_eq!(status, 200, "{answer}");
    gw.stop().await;
}

#[tokio::test]
async fn an_oversized_content_length_is_413_before_any_100_continue() {
    let gw = Gateway::start().await;
    gw.register("alice").await;
    gw.register("bob").await;
    let mut big = connect(addr(&gw)).await;
    big.write_all(
        format!(
            "POST /messages HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {OPERATOR}\r\n\
             Content-Type: application/json\r\nExpect: 100-continue\r\nContent-Length: 1000000000\r\n\r\n"
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let (status, _, body) = read_response(&mut big).await;
    assert_eq!((status, error_code(&body).as_str()), (413, "body_too_large"));
    assert!(closed_within(&mut big, Duration::from_secs(1)).await);

    // A body within the limit still gets its 100 Continue.
    let body = json!({"from_node": "alice", "to_node": "bob", "kind": "fyi", "content": "expected"}).to_string();
    let mut small = connect(addr(&gw)).await;
    small
        .write_all(
            format!(
                "POST /messages HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {OPERATOR}\r\n\
                 Content-Type: application/json\r\nExpect: 100-continue\r\nContent-Length: {}\r\n\r\n",
                body.len()
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    let (status, _, _) = read_response(&mut small).await;
    assert_eq!(status, 100);
    small.write_all(body.as_bytes()).await.unwrap();
    let (status, _, answer) = read_response(&mut small).await;
    assert_eq!(status, 200, "{answer}");
    gw.stop().await;
}

/// Registers alice and bob and fills bob's inbox with ~6 MB of DMs.
async fn large_inbox(gw: &Gateway) -> String {
    gw.register("alice").await;
    let bob = gw.register("bob").await;
    let content = "a large direct message ".repeat(8_000);
    for _ in 0..30 {
        let (status, v) = gw.send("alice", "bob", &content).await;
        assert_eq!(status, StatusCode::OK, "{v}");
    }
    bob
}

/// Opens bob's SSE stream and never reads it.
async fn stalled_stream(gw: &Gateway, bob: &str) -> TcpStream {
    let mut s = connect_from(Ipv4Addr::LOCALHOST, addr(gw), true).await;
    s.write_all(
        format!("GET /messages/stream?after_id=0 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {bob}\r\n\r\n")
            .as_bytes(),
    )
    .await
    .unwrap();
    s
}

#[tokio::test]
async fn a_client_that_stops_reading_is_dropped_after_the_write_timeout() {
    let gw = Gateway::start_with(|c| c.write_timeout = Duration::from_secs(1)).await;
    let bob = large_inbox(&gw).await;
    let mut stream = stalled_stream(&gw, &bob).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    // Had the gateway kept it, reading now would resume the stream, which
    // then stays open (keep-alive comments) and never ends.
    assert!(closed_within(&mut stream, Duration::from_secs(10)).await, "the stalled stream was not dropped");
    gw.stop().await;
}

#[tokio::test]
async fn shutdown_finishes_within_its_deadline_despite_clients_that_do_not_read() {
    let gw = Gateway::start_with(|c| {
        c.shutdown_timeout = Duration::from_secs(1);
        c.write_timeout = Duration::from_secs(600);
    })
    .await;
    let bob = large_inbox(&gw).await;
    let _stalled = [stalled_stream(&gw, &bob).await, stalled_stream(&gw, &bob).await];
    tokio::time::sleep(Duration::from_millis(500)).await;
    let started = Instant::now();
    tokio::time::timeout(Duration::from_secs(5), gw.stop()).await.expect("shutdown outlived its deadline");
    // It waited for the stuck connections, then dropped them.
    assert!(started.elapsed() >= Duration::from_millis(900), "stopped after {:?}", started.elapsed());
}

#[tokio::test]
async fn unread_pages_of_one_peer_are_bounded_by_its_byte_budget() {
    let gw = Gateway::start_with(|c| c.max_buffered_bytes_per_peer = 1 << 20).await;
    let bob = large_inbox(&gw).await;
    let carol = gw.register("carol").await;
    let page = format!("GET /messages?to=bob&limit=1000 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {bob}\r\n\r\n");
    // A page larger than the budget is still served when bob holds nothing.
    let mut unread = connect_from(Ipv4Addr::LOCALHOST, addr(&gw), true).await;
    unread.write_all(page.as_bytes()).await.unwrap();
    let mut head = [0u8; 12];
    unread.read_exact(&mut head).await.unwrap();
    assert_eq!(&head, b"HTTP/1.1 200");

    // While bob does not read it, his next page is refused, not built up.
    let mut next = connect(addr(&gw)).await;
    let (status, _, body) = request(&mut next, "GET", "/messages?to=bob&limit=1000", Some(&bob)).await;
    assert_eq!((status, error_code(&body).as_str()), (429, "too_many_bytes"));
    // Other peers are not affected.
    let (status, _, body) = request(&mut next, "GET", "/messages?to=carol", Some(&carol)).await;
    assert_eq!(status, 200, "{body}");

    // Once he reads it, the budget is free again.
    let reader = tokio::spawn(async move {
        let mut sink = vec![0u8; 64 * 1024];
        while unread.read(&mut sink).await.is_ok_and(|n| n > 0) {}
    });
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (status, _, _) = request(&mut next, "GET", "/messages?to=bob&limit=1", Some(&bob)).await;
        if status == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "the read page's bytes were never released");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    reader.abort();
    gw.stop().await;
}

#[tokio::test]
async fn request_bodies_being_received_count_against_the_byte_budget() {
    let gw = Gateway::start_with(|c| c.max_buffered_bytes_per_peer = 1 << 20).await;
    gw.register("alice").await;
    let bob = gw.register("bob").await;
    let head = format!(
        "POST /messages HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {bob}\r\n\
         Content-Type: application/json\r\nContent-Length: 900000\r\n\r\n"
    );
    // A body dripping in holds its declared size.
    let mut drip = connect(addr(&gw)).await;
    drip.write_all(format!("{head}{{\"to_node\": \"alice\", \"content\": \"").as_bytes()).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut second = connect(addr(&gw)).await;
        second.write_all(head.as_bytes()).await.unwrap();
        let (status, _, body) = read_response(&mut second).await;
        if status == 429 {
            assert_eq!(error_code(&body), "too_many_bytes");
            break;
        }
        assert!(Instant::now() < deadline, "a second large body was never refused: {status} {body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Small requests of bob's still go through.
    let mut small = connect(addr(&gw)).await;
    assert_eq!(request(&mut small, "GET", "/peers", Some(&bob)).await.0, 200);
    drop(drip);
    gw.stop().await;
}
