//! A NUL character anywhere but a DM's content is refused with our error on
//! every backend (hostile review: on PostgreSQL, whose `text` cannot hold it,
//! a NUL in a field, a query filter or a path segment was a 500).

use crate::common;

use common::{backends, Gateway};
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn nul_characters_are_refused_not_500() {
    for backend in backends() {
        let gw = Gateway::start_backend(backend, |_| {}).await;
        gw.register("alice").await;
        let mallory = gw.register("mallory").await;
        let send = json!({"to_node": "alice", "kind": "fyi", "content": "x"});
        let mut bodies = Vec::new();
        for field in ["related_task_id", "idempotency_key"] {
            let mut b = send.clone();
            b[field] = json!("a\u{0}");
            bodies.push(("/messages", field, b));
        }
        bodies.push(("/threads", "thread_name", json!({"thread_name": "a\u{0}b"})));
        bodies.push(("/threads", "session_id", json!({"thread_name": "x", "session_id": "\u{0}"})));
        for (path, field, body) in bodies {
            let (s, v) = gw.call(Method::POST, path, Some(&mallory), Some(body)).await;
            assert_eq!(
                (s, v["error"].as_str()),
                (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_field")),
                "{backend:?} {field}: {v}"
            );
            assert!(v["detail"].as_str().unwrap_or_default().contains(field), "{v}");
        }
        for path in ["/messages?from=mallory&to=%00", "/threads?session_id=%00", "/peers/%00", "/peers/a%00b/token"] {
            let (s, v) = gw.call(Method::GET, path, Some(&mallory), None).await;
            assert_eq!(
                (s, v["error"].as_str()),
                (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_parameter")),
                "{backend:?} {path}: {v}"
            );
        }
        let (s, v) = gw.call(Method::DELETE, "/aliases/%00", None, None).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
        // A NUL in the content itself is stored and read back (bytes on PostgreSQL).
        let body = json!({"to_node": "alice", "kind": "fyi", "content": "a\u{0}b"});
        let (s, v) = gw.call(Method::POST, "/messages", Some(&mallory), Some(body)).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert_eq!(gw.inbox("alice").await[0]["content"], "a\u{0}b");
        // `%2500` is a literal "%00", not a NUL.
        let (s, v) = gw.call(Method::GET, "/peers/%2500", Some(&mallory), None).await;
        assert_eq!((s, v["error"].as_str()), (StatusCode::NOT_FOUND, Some("unknown_peer")), "{v}");
        gw.stop().await;
    }
}
