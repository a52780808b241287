//! `meshgate serve` stops within `--shutdown-timeout` of SIGTERM even while
//! clients that never read hold streams with unsent data.

use crate::common;

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpSocket, TcpStream};

/// Opens `token`'s SSE stream with a small receive buffer and never reads.
async fn stalled_stream(url: &str, token: &str) -> TcpStream {
    let addr: SocketAddr = url.trim_start_matches("http://").parse().unwrap();
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    socket.bind(SocketAddr::new(Ipv4Addr::LOCALHOST.into(), 0)).unwrap();
    let mut s = socket.connect(addr).await.unwrap();
    let head = format!("GET /messages/stream?after_id=0 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\r\n");
    s.write_all(head.as_bytes()).await.unwrap();
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_within_the_shutdown_deadline_despite_clients_that_do_not_read() {
    let mut gw = common::meshgate_gateway_with(&["--shutdown-timeout", "1", "--write-timeout", "600"]).await;
    let http = reqwest::Client::new();
    let mut bob_token = String::new();
    for name in ["alice", "bob"] {
        let resp = http
            .post(format!("{}/peers/register", gw.url))
            .bearer_auth(&gw.token)
            .json(&json!({"name": name}))
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success());
        let v: serde_json::Value = resp.json().await.unwrap();
        bob_token = v["peer_token"].as_str().unwrap().to_owned();
    }
    // ~6 MB of DMs: far more than the sockets buffer.
    let content = "a large direct message ".repeat(8_000);
    for _ in 0..30 {
        let resp = http
            .post(format!("{}/messages", gw.url))
            .bearer_auth(&gw.token)
            .json(&json!({"from_node": "alice", "to_node": "bob", "kind": "fyi", "content": content}))
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success());
    }
    let _stalled = [stalled_stream(&gw.url, &bob_token).await, stalled_stream(&gw.url, &bob_token).await];
    tokio::time::sleep(Duration::from_millis(500)).await;

    let started = Instant::now();
    gw.stop().await; // SIGTERM, then SIGKILL after 10 s
    let took = started.elapsed();
    assert!(took < Duration::from_secs(5), "meshgate serve took {took:?} to stop");
    assert!(took >= Duration::from_millis(900), "stopped after {took:?}: the streams were not stuck");
}
