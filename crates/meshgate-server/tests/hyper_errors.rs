//! Requests the HTTP parser refuses before any route sees them still get
//! the gateway's JSON error body, over raw TCP.

use crate::common;

use std::time::Duration;

use common::Gateway;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Sends `request` on a fresh connection (writing on its own task, so a
/// server that stops reading cannot stall the test) and reads the answer
/// until the server closes.
async fn raw(gw: &Gateway, request: Vec<u8>) -> (u16, Value, String) {
    let sock = TcpStream::connect(gw.url.trim_start_matches("http://")).await.unwrap();
    let (mut rd, mut wr) = sock.into_split();
    let writer = tokio::spawn(async move {
        let _ = wr.write_all(&request).await;
        wr
    });
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), rd.read_to_end(&mut answer)).await.expect("closed in time");
    drop(writer);
    let text = String::from_utf8_lossy(&answer).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or_else(|| panic!("no head in {text:?}"));
    let status = head[9..12].parse().unwrap();
    assert!(head.to_ascii_lowercase().contains("content-type: application/json"), "{head}");
    let body = serde_json::from_str(body).unwrap_or_else(|_| panic!("non-JSON body: {text:?}"));
    (status, body, head.to_owned())
}

#[tokio::test]
async fn malformed_huge_or_overfull_requests_get_json_errors() {
    let gw = Gateway::start().await;
    let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        ("garbage request line", b"GARBAGE\r\n\r\n".to_vec(), 400, "bad_request"),
        (
            "header without a colon",
            b"GET /health HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n".to_vec(),
            400,
            "bad_request",
        ),
        ("unknown version", b"GET /health HTTP/7.1\r\nHost: x\r\n\r\n".to_vec(), 400, "bad_request"),
        (
            "70,000-byte URI",
            format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(70_000)).into_bytes(),
            414,
            "uri_too_long",
        ),
        (
            "120 headers",
            format!("GET /health HTTP/1.1\r\n{}\r\n", (0..120).map(|i| format!("X-H{i}: v\r\n")).collect::<String>())
                .into_bytes(),
            431,
            "headers_too_large",
        ),
        (
            "a 120 KB header (over the 80 KiB head buffer and one read)",
            format!("GET /health HTTP/1.1\r\nX-Big: {}\r\n\r\n", "a".repeat(120_000)).into_bytes(),
            431,
            "headers_too_large",
        ),
        (
            "a 500 KB header",
            format!("GET /health HTTP/1.1\r\nX-Big: {}\r\n\r\n", "a".repeat(500_000)).into_bytes(),
            431,
            "headers_too_large",
        ),
    ];
    for (what, request, status, code) in cases {
        let (got, body, head) = raw(&gw, request).await;
        assert_eq!((got, body["error"].as_str()), (status, Some(code)), "{what}: {head} {body}");
        assert!(!body["detail"].as_str().unwrap().is_empty(), "{what}");
        assert!(head.to_ascii_lowercase().contains("connection: close"), "{what}: {head}");
    }
    // The gateway's own errors are untouched, and the server still serves.
    let (status, body, _) = raw(&gw, b"GET /nowhere HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_vec()).await;
    assert_eq!((status, body["error"].as_str()), (404, Some("no_route")));
    let (status, body, _) = raw(&gw, b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_vec()).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("ok")));
    gw.stop().await;
}
