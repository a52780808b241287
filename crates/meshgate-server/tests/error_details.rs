//! Error details quote what the caller sent only bounded and never a
//! credential (hostile review: a peer token passed as `to_node`, as a path
//! or as a query key came back verbatim; 1,000 unknown keys made a 10 KB detail;
//! an unknown `kind` is echoed whole).

use crate::common;

use common::Gateway;
use meshgate_server::error::DETAIL_MAX;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

fn detail(v: &Value) -> &str {
    v["detail"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn tokens_sent_as_names_are_not_echoed() {
    let gw = Gateway::start().await;
    let alice = gw.register("alice").await;
    let mallory = gw.register("mallory").await;
    let body = json!({"to_node": alice, "kind": "fyi", "content": "hi"});
    let (s, v) = gw.call(Method::POST, "/messages", Some(&mallory), Some(body)).await;
    assert_eq!((s, v["error"].as_str()), (StatusCode::NOT_FOUND, Some("unknown_recipient")), "{v}");
    let (s2, v2) = gw.call(Method::GET, &format!("/peers/{alice}"), Some(&mallory), None).await;
    assert_eq!(s2, StatusCode::NOT_FOUND, "{v2}");
    let (s3, v3) = gw.call(Method::GET, &format!("/messages?{alice}=1"), Some(&mallory), None).await;
    assert_eq!((s3, v3["error"].as_str()), (StatusCode::BAD_REQUEST, Some("unknown_parameter")), "{v3}");
    for v in [&v, &v2, &v3] {
        assert!(!v.to_string().contains(&alice), "the token is not echoed: {v}");
        assert!(detail(v).contains("[REDACTED:meshgate peer token]"), "{v}");
    }
    gw.stop().await;
}

#[tokio::test]
async fn quoted_input_is_bounded() {
    let gw = Gateway::start().await;
    let mallory = gw.register("mallory").await;
    gw.register("alice").await;
    // 1,000 unknown keys: eight are named, the rest counted.
    let query: Vec<String> = (0..1000).map(|i| format!("k{i:04}=1")).collect();
    let (s, v) = gw.call(Method::GET, &format!("/messages?{}", query.join("&")), Some(&mallory), None).await;
    assert_eq!((s, v["error"].as_str()), (StatusCode::BAD_REQUEST, Some("unknown_parameter")), "{v}");
    assert!(detail(&v).contains("\"k0007\"] and 992 more on /messages"), "{v}");
    assert!(!detail(&v).contains("k0008"), "{v}");
    // One long key is cut to 64 characters.
    let (_, v) = gw.call(Method::GET, &format!("/messages?{}=1", "x".repeat(5000)), Some(&mallory), None).await;
    assert!(detail(&v).contains(&format!("\"{}\"…", "x".repeat(64))), "{v}");
    assert!(!detail(&v).contains(&"x".repeat(65)), "{v}");
    // A 100,000-character kind: the detail stays within the byte bound.
    let body = json!({"to_node": "alice", "kind": "q".repeat(100_000), "content": "hi"});
    let (s, v) = gw.call(Method::POST, "/messages", Some(&mallory), Some(body)).await;
    assert_eq!((s, v["error"].as_str()), (StatusCode::BAD_REQUEST, Some("unknown_kind")), "{v}");
    assert!(detail(&v).starts_with("unknown kind \"qqq"), "{v}");
    assert!(detail(&v).len() <= DETAIL_MAX + '…'.len_utf8(), "{} bytes", detail(&v).len());
    gw.stop().await;
}

#[tokio::test]
async fn an_oversized_chunked_body_is_413_and_the_connection_closes() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let gw = Gateway::start().await;
    let mallory = gw.register("mallory").await;
    let addr = gw.url.trim_start_matches("http://").to_owned();
    let mut sock = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST /messages HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {mallory}\r\n\
         Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
    sock.write_all(head.as_bytes()).await.unwrap();
    // 5 MiB in 64 KiB chunks (no end chunk): over the 4 MiB body limit.
    let chunk = format!("10000\r\n{}\r\n", "a".repeat(0x10000));
    for _ in 0..80 {
        if sock.write_all(chunk.as_bytes()).await.is_err() {
            break; // the gateway answered and closed while we were writing
        }
    }
    let mut answer = Vec::new();
    let read = tokio::time::timeout(std::time::Duration::from_secs(10), sock.read_to_end(&mut answer)).await;
    let answer = String::from_utf8_lossy(&answer).to_ascii_lowercase();
    assert!(answer.starts_with("http/1.1 413"), "{answer}");
    assert!(answer.contains("connection: close"), "{answer}");
    assert!(answer.contains("\"error\":\"body_too_large\""), "{answer}");
    assert!(matches!(read, Ok(Ok(_))), "the gateway closed the connection (EOF), not left it open: {read:?}");
    gw.stop().await;
}

#[tokio::test]
async fn a_path_segment_that_is_not_utf8_is_a_json_400_on_every_route() {
    let gw = Gateway::start().await;
    let alice = gw.register("alice").await;
    // Every templated route `/openapi.json` lists (the router's own list), with each
    // path parameter in turn not UTF-8 (`%ff`, or a broken two-byte sequence) and the
    // others plain.
    let (s, doc) = gw.call(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(s, StatusCode::OK);
    let mut routes = Vec::new();
    for (template, ops) in doc["paths"].as_object().unwrap() {
        let segments: Vec<&str> = template.split('/').collect();
        let params: Vec<usize> = (0..segments.len()).filter(|&i| segments[i].starts_with('{')).collect();
        for (n, &bad) in params.iter().enumerate() {
            let path: Vec<&str> = segments
                .iter()
                .enumerate()
                .map(|(i, seg)| match i {
                    _ if i == bad => ["%ff", "%c3%28"][n % 2],
                    _ if params.contains(&i) => "a",
                    _ => seg,
                })
                .collect();
            for method in ops.as_object().unwrap().keys() {
                routes.push((method.to_ascii_uppercase().parse::<Method>().unwrap(), path.join("/")));
            }
        }
    }
    for expected in ["GET /peers/%ff", "POST /messages/%ff/read", "DELETE /loops/%ff/a", "DELETE /loops/a/%c3%28"] {
        assert!(routes.iter().any(|(m, p)| format!("{m} {p}") == expected), "{expected} not among {routes:?}");
    }
    for (method, path) in &routes {
        let path = path.as_str();
        for token in [common::OPERATOR, alice.as_str()] {
            let body = (method == Method::PATCH).then(|| json!({"enabled": true}));
            // `call` fails the test on an answer that is not JSON.
            let (s, v) = gw.call(method.clone(), path, Some(token), body).await;
            assert_eq!(
                (s, v["error"].as_str()),
                (StatusCode::BAD_REQUEST, Some("invalid_path")),
                "{method} {path}: {v}"
            );
            assert!(detail(&v).contains("not valid UTF-8"), "{v}");
        }
        let (s, _) = gw.call(method.clone(), path, None, None).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{method} {path}");
    }
}

#[tokio::test]
async fn a_query_parameter_given_twice_is_refused_on_every_read() {
    let gw = Gateway::start().await;
    let alice = gw.register("alice").await;
    gw.register("bob").await;
    let (s, _) = gw.send("bob", "alice", "for alice only").await;
    assert_eq!(s, StatusCode::OK);
    let thread = "0b0c4c2e-6f5a-4d8a-9a51-3c1d2f7b9e10";
    for path in [
        "/messages?to=alice&to=bob".to_string(),
        "/messages?to=alice&limit=1&limit=2".into(),
        "/messages?to=alice&wait=1&wait=2".into(),
        "/messages/stream?after_id=0&after_id=1".into(),
        "/messages/search?q=alice&q=bob".into(),
        "/threads?peer=a&peer=b".into(),
        format!("/threads/{thread}?after_id=1&after_id=2"),
        "/obligations?limit=1&limit=2".into(),
        "/peers/bob?purge=false&purge=true".into(),
        "/messages?to=alice&to_node=bob".into(),
        "/messages?from_node=bob&from=alice".into(),
        "/messages/search?q=alice&to=alice&to_node=bob".into(),
        "/messages/stream?to=alice&to_node=bob".into(),
    ] {
        let method = if path.starts_with("/peers/") { Method::DELETE } else { Method::GET };
        for token in [common::OPERATOR, alice.as_str()] {
            let (s, v) = gw.call(method.clone(), &path, Some(token), None).await;
            assert_eq!((s, v["error"].as_str()), (StatusCode::BAD_REQUEST, Some("duplicate_parameter")), "{path}: {v}");
            assert!(detail(&v).contains("more than once") || detail(&v).contains("one filter"), "{v}");
            assert!(!v.to_string().contains("for alice only"), "{v}");
        }
    }
    // Nothing was deleted by the refused DELETE; one of each key still works.
    let (s, _) = gw.call(Method::GET, "/peers/bob", Some(common::OPERATOR), None).await;
    assert_eq!(s, StatusCode::OK);
    let (s, v) = gw.call(Method::GET, "/messages?to=alice&limit=1", Some(&alice), None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    // Both spellings with one value (a client writing for either gateway) is one filter.
    let (s, v) = gw.call(Method::GET, "/messages?to=alice&to_node=alice", Some(&alice), None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    gw.stop().await;
}
