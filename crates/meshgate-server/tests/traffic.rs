//! Traffic control of sends, on SQLite and PostgreSQL: the per-sender
//! token bucket (429 `rate_limited` with `Retry-After`) and the
//! conversation-loop breaker (429 `conversation_loop`; other pairs
//! unaffected; an operator DM, a reset or the window's end lifts it; `off`
//! disables it).

use crate::common;

use std::time::Duration;

use common::{backends, Backend, Gateway, OPERATOR};
use meshgate_server::traffic::{LoopLimit, SendRate};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// Sends a DM with `token` (from its own peer, or `from` with the operator
/// token); returns the status, the `Retry-After` header and the body.
async fn send(gw: &Gateway, token: &str, from: &str, to: &str) -> (StatusCode, Option<u64>, Value) {
    let body = json!({"from_node": from, "to_node": to, "kind": "fyi", "content": "ping"});
    let resp = gw.http.post(format!("{}/messages", gw.url)).bearer_auth(token).json(&body).send().await.unwrap();
    let status = resp.status();
    let retry = resp.headers().get("retry-after").map(|h| h.to_str().unwrap().parse::<u64>().expect("integer seconds"));
    (status, retry, resp.json().await.unwrap())
}

async fn count_between(gw: &Gateway, a: &str, b: &str) -> usize {
    let (s, v) = gw.get(&format!("/messages?from={a}&to={b}&limit=1000")).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v["messages"].as_array().unwrap().len()
}

async fn loops_gateway(backend: Backend, count: u32, window: Duration) -> Gateway {
    Gateway::start_backend(backend, |c| {
        c.send_rate = None;
        c.loop_limit = Some(LoopLimit { count, window });
    })
    .await
}

/// A peer's `POST /threads` draws on its send bucket (hostile review,
/// session 10: 100,000 threads minted in 20 s, unlimited): beyond it 429
/// `rate_limited` and no thread is stored; the operator is not limited.
#[tokio::test]
async fn a_peer_mints_threads_no_faster_than_it_may_send() {
    for backend in backends() {
        let gw = Gateway::start_backend(backend, |c| {
            c.send_rate = Some(SendRate { per_second: 0.2, burst: 3 });
            c.loop_limit = None;
        })
        .await;
        let mallory = gw.register("mallory").await;
        gw.register("alice").await;
        let mint = |token: String, name: String| {
            let gw = &gw;
            async move {
                let resp = gw
                    .http
                    .post(format!("{}/threads", gw.url))
                    .bearer_auth(token)
                    .json(&json!({"thread_name": name}))
                    .send()
                    .await
                    .unwrap();
                let retry = resp.headers().get("retry-after").map(|h| h.to_str().unwrap().to_owned());
                (resp.status(), retry, resp.json::<Value>().await.unwrap())
            }
        };
        for i in 0..2 {
            let (s, _, v) = mint(mallory.clone(), format!("alice<->bob:{i}")).await;
            assert_eq!(s, StatusCode::OK, "{backend:?}: {v}");
        }
        let (s, _, v) = send(&gw, &mallory, "mallory", "alice").await;
        assert_eq!(s, StatusCode::OK, "the third token goes to a DM: {v}");
        let (s, retry, v) = mint(mallory.clone(), "alice<->bob:2".into()).await;
        assert_eq!((s, v["error"].as_str()), (StatusCode::TOO_MANY_REQUESTS, Some("rate_limited")), "{v}");
        assert!(v["detail"].as_str().unwrap().contains("minting threads"), "{v}");
        assert!(retry.is_some());
        let (s, _, v) = send(&gw, &mallory, "mallory", "alice").await;
        assert_eq!(s, StatusCode::TOO_MANY_REQUESTS, "DMs share the spent bucket: {v}");
        let (s, v) = gw.get("/threads?limit=1000").await;
        assert_eq!(s, StatusCode::OK);
        let names: Vec<&str> =
            v["threads"].as_array().unwrap().iter().map(|t| t["thread_name"].as_str().unwrap()).collect();
        assert!(!names.contains(&"alice<->bob:2"), "a refused mint stored nothing: {names:?}");
        for i in 0..5 {
            let (s, _, v) = mint(OPERATOR.to_owned(), format!("ops:{i}")).await;
            assert_eq!(s, StatusCode::OK, "the operator is not limited: {v}");
        }
        gw.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sender_over_its_rate_gets_429_rate_limited_with_retry_after_and_nothing_is_stored() {
    for backend in backends() {
        let gw = Gateway::start_backend(backend, |c| {
            c.send_rate = Some(SendRate { per_second: 0.2, burst: 3 });
            c.loop_limit = None;
        })
        .await;
        let alice = gw.register("alice").await;
        let bob = gw.register("bob").await;
        gw.register("carol").await;
        for _ in 0..3 {
            let (s, _, v) = send(&gw, &alice, "alice", "bob").await;
            assert_eq!(s, StatusCode::OK, "{backend:?}: {v}");
        }
        let (s, retry, v) = send(&gw, &alice, "alice", "carol").await;
        assert_eq!(s, StatusCode::TOO_MANY_REQUESTS, "{backend:?}: {v}");
        assert_eq!(v["error"], "rate_limited", "{v}");
        assert!(v["detail"].as_str().unwrap().contains("--send-rate"), "{v}");
        // One token comes back every 5 s.
        assert!(matches!(retry, Some(1..=5)), "Retry-After {retry:?}");
        assert_eq!(count_between(&gw, "alice", "carol").await, 0, "a refused DM is not stored");
        // Another sender has its own bucket.
        let (s, _, v) = send(&gw, &bob, "bob", "alice").await;
        assert_eq!(s, StatusCode::OK, "{v}");
        // The operator token sending as alice spends alice's bucket: the
        // shared token of legacy agents is limited per sending name.
        let (s, _, v) = send(&gw, OPERATOR, "alice", "bob").await;
        assert_eq!((s, v["error"].as_str()), (StatusCode::TOO_MANY_REQUESTS, Some("rate_limited")), "{v}");
        let (s, _, v) = send(&gw, OPERATOR, "carol", "bob").await;
        assert_eq!(s, StatusCode::OK, "{v}");
        gw.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_rate_off_disables_the_limit() {
    let gw = Gateway::start_with(|c| {
        c.send_rate = None;
        c.loop_limit = None;
    })
    .await;
    let alice = gw.register("alice").await;
    gw.register("bob").await;
    for _ in 0..250 {
        let (s, _, v) = send(&gw, &alice, "alice", "bob").await;
        assert_eq!(s, StatusCode::OK, "{v}");
    }
    gw.stop().await;
}

/// alice and bob exchange `n` DMs, alternating directions.
async fn exchange(gw: &Gateway, alice: &str, bob: &str, n: usize) {
    for i in 0..n {
        let (token, from, to) = if i % 2 == 0 { (alice, "alice", "bob") } else { (bob, "bob", "alice") };
        let (s, _, v) = send(gw, token, from, to).await;
        assert_eq!(s, StatusCode::OK, "DM {i}: {v}");
    }
}

async fn assert_loop_refused(gw: &Gateway, token: &str, from: &str, to: &str) -> (Option<u64>, String) {
    let (s, retry, v) = send(gw, token, from, to).await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS, "{v}");
    assert_eq!(v["error"], "conversation_loop", "{v}");
    (retry, v["detail"].as_str().unwrap().to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_loop_breaker_trips_a_pair_only_and_an_operator_dm_or_reset_lifts_it() {
    for backend in backends() {
        let gw = loops_gateway(backend, 6, Duration::from_secs(600)).await;
        let alice = gw.register("alice").await;
        let bob = gw.register("bob").await;
        let carol = gw.register("carol").await;
        gw.register("overseer").await;

        exchange(&gw, &alice, &bob, 6).await;
        let (retry, detail) = assert_loop_refused(&gw, &bob, "bob", "alice").await;
        for part in [
            "\"alice\" and \"bob\"",
            "exchanged 6 DMs within 600 s",
            "meshgate loops reset alice bob",
            "DELETE /loops/alice/bob",
        ] {
            assert!(detail.contains(part), "{backend:?}: {part:?} missing from {detail}");
        }
        assert!(matches!(retry, Some(590..=600)), "Retry-After {retry:?}");
        assert_loop_refused(&gw, &alice, "alice", "bob").await;
        // The operator token acting as one of the pair is counted too
        // (shared-token agents loop that way).
        assert_loop_refused(&gw, OPERATOR, "alice", "bob").await;
        assert_eq!(count_between(&gw, "alice", "bob").await, 3, "refused DMs are not stored");
        // Other pairs are unaffected, including pairs with alice or bob.
        let (s, _, v) = send(&gw, &carol, "carol", "alice").await;
        assert_eq!(s, StatusCode::OK, "{v}");
        let (s, _, v) = send(&gw, &bob, "bob", "carol").await;
        assert_eq!(s, StatusCode::OK, "{v}");
        // A third peer's own DM into the pair lifts nothing.
        assert_loop_refused(&gw, &alice, "alice", "bob").await;

        // The operator lists tripped pairs; a peer may not.
        let (s, v) = gw.get("/loops").await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert_eq!(v["count"], 6);
        assert_eq!(v["window_secs"], 600);
        assert_eq!(
            v["tripped"],
            json!([{"a": "alice", "b": "bob", "count": 6, "retry_after": v["tripped"][0]["retry_after"]}])
        );
        let (s, v) = gw.call(Method::GET, "/loops", Some(&carol), None).await;
        assert_eq!((s, v["error"].as_str()), (StatusCode::FORBIDDEN, Some("operator_only")), "{v}");
        let (s, v) = gw.call(Method::DELETE, "/loops/alice/bob", Some(&alice), None).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{v}");

        // Reset (names in either order) lifts it.
        let (s, v) = gw.call(Method::DELETE, "/loops/bob/alice", Some(OPERATOR), None).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert_eq!(v, json!({"a": "bob", "b": "alice", "was_tripped": true}));
        assert_eq!(gw.get("/loops").await.1["tripped"], json!([]));
        exchange(&gw, &alice, &bob, 6).await;
        assert_loop_refused(&gw, &alice, "alice", "bob").await;

        // An operator DM into the pair (to either peer) lifts it.
        let (s, _, v) = send(&gw, OPERATOR, "overseer", "bob").await;
        assert_eq!(s, StatusCode::OK, "{v}");
        exchange(&gw, &alice, &bob, 6).await;
        assert_loop_refused(&gw, &bob, "bob", "alice").await;
        let (s, v) = gw.call(Method::DELETE, "/loops/alice/nobody", Some(OPERATOR), None).await;
        assert_eq!((s, v["was_tripped"].as_bool()), (StatusCode::OK, Some(false)), "{v}");
        let (s, v) = gw.call(Method::DELETE, "/loops/alice/bad%20name", Some(OPERATOR), None).await;
        assert_eq!((s, v["error"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_name")), "{v}");
        gw.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_end_of_the_window_lifts_a_loop_and_off_disables_the_breaker() {
    for backend in backends() {
        let gw = loops_gateway(backend, 4, Duration::from_secs(2)).await;
        let alice = gw.register("alice").await;
        let bob = gw.register("bob").await;
        exchange(&gw, &alice, &bob, 4).await;
        let (retry, _) = assert_loop_refused(&gw, &alice, "alice", "bob").await;
        assert!(matches!(retry, Some(1..=2)), "Retry-After {retry:?}");
        tokio::time::sleep(Duration::from_millis(2100)).await;
        exchange(&gw, &alice, &bob, 4).await;
        assert_loop_refused(&gw, &bob, "bob", "alice").await;
        gw.stop().await;

        let gw = Gateway::start_backend(backend, |c| {
            c.send_rate = None;
            c.loop_limit = None;
        })
        .await;
        let alice = gw.register("alice").await;
        let bob = gw.register("bob").await;
        exchange(&gw, &alice, &bob, 80).await;
        let (s, v) = gw.get("/loops").await;
        assert_eq!((s, v["count"].clone(), v["tripped"].clone()), (StatusCode::OK, Value::Null, json!([])));
        gw.stop().await;
    }
}

/// Sends `body` with `token`; returns the status and the body.
async fn post(gw: &Gateway, token: &str, body: &Value) -> (StatusCode, Value) {
    gw.call(Method::POST, "/messages", Some(token), Some(body.clone())).await
}

/// While `token`'s sends are refused with `refused`: the exact resend of
/// `body` (stored as `first`) is answered with the stored DM (it was
/// stored, so no 429), another body under its key is still a conflict, and
/// a new key is refused.
async fn assert_resend_answered(gw: &Gateway, token: &str, body: &Value, first: &Value, refused: &str) {
    let (s, v) = post(gw, token, body).await;
    assert_eq!((s, &v["id"], &v["created_at"]), (StatusCode::OK, &first["id"], &first["created_at"]), "{v}");
    let mut changed = body.clone();
    changed["content"] = json!("twice");
    let (s, v) = post(gw, token, &changed).await;
    assert_eq!((s, v["error"].as_str()), (StatusCode::CONFLICT, Some("idempotency_conflict")), "{v}");
    let mut fresh = body.clone();
    fresh["idempotency_key"] = json!("k2");
    let (s, v) = post(gw, token, &fresh).await;
    assert_eq!((s, v["error"].as_str()), (StatusCode::TOO_MANY_REQUESTS, Some(refused)), "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idempotent_retry_is_not_counted_twice_and_is_answered_in_a_tripped_loop() {
    for backend in backends() {
        let gw = loops_gateway(backend, 2, Duration::from_secs(600)).await;
        let alice = gw.register("alice").await;
        let bob = gw.register("bob").await;
        let body = json!({"to_node": "bob", "kind": "fyi", "content": "once", "idempotency_key": "k1"});
        let (s, first) = post(&gw, &alice, &body).await;
        assert_eq!(s, StatusCode::OK, "{first}");
        for _ in 0..2 {
            let (s, v) = post(&gw, &alice, &body).await;
            assert_eq!((s, &v["id"]), (StatusCode::OK, &first["id"]), "{v}");
        }
        // One DM each way is an exchange of 2: the pair trips.
        let (s, _, v) = send(&gw, &bob, "bob", "alice").await;
        assert_eq!(s, StatusCode::OK, "the retries did not count: {v}");
        assert_loop_refused(&gw, &alice, "alice", "bob").await;
        assert_resend_answered(&gw, &alice, &body, &first, "conversation_loop").await;
        assert_eq!(count_between(&gw, "alice", "bob").await, 1, "{backend:?}");
        gw.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resend_of_a_stored_dm_is_answered_by_a_rate_limited_sender_and_costs_no_token() {
    for backend in backends() {
        let gw = Gateway::start_backend(backend, |c| {
            c.send_rate = Some(SendRate { per_second: 0.01, burst: 2 });
            c.loop_limit = None;
        })
        .await;
        let alice = gw.register("alice").await;
        gw.register("bob").await;
        let body = json!({"to_node": "bob", "kind": "fyi", "content": "once", "idempotency_key": "k1"});
        let (s, first) = post(&gw, &alice, &body).await;
        assert_eq!(s, StatusCode::OK, "{first}");
        // A resend within the limit gives its token back ...
        let (s, v) = post(&gw, &alice, &body).await;
        assert_eq!((s, &v["id"]), (StatusCode::OK, &first["id"]), "{v}");
        let (s, _, v) = send(&gw, &alice, "alice", "bob").await;
        assert_eq!(s, StatusCode::OK, "the second token is still there: {v}");
        let (s, _, v) = send(&gw, &alice, "alice", "bob").await;
        assert_eq!((s, v["error"].as_str()), (StatusCode::TOO_MANY_REQUESTS, Some("rate_limited")), "{v}");
        // ... and one beyond it is answered with the stored DM.
        assert_resend_answered(&gw, &alice, &body, &first, "rate_limited").await;
        assert_eq!(count_between(&gw, "alice", "bob").await, 2, "{backend:?}");
        gw.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_one_way_flood_does_not_stop_the_victim_answering_but_a_ping_pong_trips() {
    for backend in backends() {
        let gw = loops_gateway(backend, 6, Duration::from_secs(600)).await;
        let alice = gw.register("alice").await;
        let mallory = gw.register("mallory").await;
        for i in 0..20 {
            let (s, _, v) = send(&gw, &mallory, "mallory", "alice").await;
            assert_eq!(s, StatusCode::OK, "{backend:?} DM {i}: {v}");
        }
        // Three replies make an exchange of 2 x 3 = 6: the limit.
        for i in 0..3 {
            let (s, _, v) = send(&gw, &alice, "alice", "mallory").await;
            assert_eq!(s, StatusCode::OK, "{backend:?} reply {i}: {v}");
        }
        let (_, detail) = assert_loop_refused(&gw, &alice, "alice", "mallory").await;
        assert!(detail.contains("at least 3 each way"), "{detail}");
        assert_loop_refused(&gw, &mallory, "mallory", "alice").await;
        let (_, v) = gw.get("/loops").await;
        assert_eq!(v["tripped"].as_array().map(Vec::len), Some(1), "{v}");
        gw.stop().await;
    }
}
