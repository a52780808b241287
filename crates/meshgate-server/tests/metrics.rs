//! Prometheus metrics at `/metrics`, on SQLite and PostgreSQL: operator
//! token only (a peer token is 403), requests by route template (raw paths
//! never become labels), DMs sent, commit batches and their time from the
//! store, open streams, guard, rate-limit and loop refusals, store
//! availability; `--metrics-listen` serves them without auth and nothing
//! else; `off` leaves `/metrics` a 404.

use crate::common;

use std::time::Duration;

use common::{backends, Gateway, OPERATOR};
use meshgate_server::traffic::{LoopLimit, SendRate};
use reqwest::StatusCode;
use serde_json::json;

async fn scrape(gw: &Gateway, token: Option<&str>) -> (StatusCode, String) {
    let mut req = gw.http.get(format!("{}/metrics", gw.url));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.unwrap();
    (resp.status(), resp.text().await.unwrap())
}

/// The value of the sample line starting with `series` (exact name and
/// labels), if any.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series).and_then(|rest| rest.strip_prefix(' ')))
        .map(|v| v.trim().parse().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_requests_by_route_sends_commits_and_refusals() {
    for backend in backends() {
        let gw = Gateway::start_backend(backend, |c| {
            c.send_rate = Some(SendRate { per_second: 0.01, burst: 5 });
            c.loop_limit = Some(LoopLimit { count: 2, window: Duration::from_secs(600) });
        })
        .await;
        let alice = gw.register("alice").await;
        let bob = gw.register("bob").await;
        gw.register("carol").await;

        // Access: operator yes, peer 403, nobody 401.
        let (s, body) = scrape(&gw, Some(&alice)).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{body}");
        assert!(body.contains("operator_only"), "{body}");
        assert_eq!(scrape(&gw, None).await.0, StatusCode::UNAUTHORIZED);

        // Before any refusal every refusal series is there, at 0.
        let (_, text) = scrape(&gw, Some(OPERATOR)).await;
        for series in [
            r#"meshgate_send_refusals_total{reason="conversation_loop"}"#,
            r#"meshgate_send_refusals_total{reason="rate_limited"}"#,
            r#"meshgate_guard_refusals_total{rule="aws access key"}"#,
            r#"meshgate_guard_refusals_total{rule="live_credential"}"#,
            r#"meshgate_store_errors_total{kind="unavailable"}"#,
            r#"meshgate_store_errors_total{kind="backend"}"#,
        ] {
            assert_eq!(sample(&text, series), Some(0.0), "{series}: {text}");
        }
        for rule in meshgate_guard::rules() {
            let series = format!(r#"meshgate_guard_refusals_total{{rule="{}"}}"#, rule.label);
            assert_eq!(sample(&text, &series), Some(0.0), "{series}");
        }

        for i in 0..3 {
            let (s, v) = gw.send("alice", "bob", &format!("hello {i}")).await;
            assert_eq!(s, StatusCode::OK, "{v}");
        }
        // One reply makes it an exchange (2 x 1): the breaker refuses the next.
        assert_eq!(gw.send("bob", "alice", "back").await.0, StatusCode::OK);
        assert_eq!(gw.send("bob", "alice", "again").await.0, StatusCode::TOO_MANY_REQUESTS);
        // alice has 2 tokens left of 5: carol gets 2, then rate_limited.
        for _ in 0..2 {
            assert_eq!(gw.send("alice", "carol", "hi").await.0, StatusCode::OK);
        }
        assert_eq!(gw.send("alice", "carol", "hi").await.0, StatusCode::TOO_MANY_REQUESTS);
        // The guard refuses AWS's example key.
        let (s, v) = gw.send("carol", "bob", "key: AKIAIOSFODNN7EXAMPLE").await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
        // Raw paths with names: one route template.
        for name in ["alice", "bob", "nobody-1", "nobody-2"] {
            gw.get(&format!("/peers/{name}")).await;
        }
        // An open stream shows in the gauge.
        let stream = gw.http.get(format!("{}/messages/stream", gw.url)).bearer_auth(&bob).send().await.unwrap();
        assert_eq!(stream.status(), StatusCode::OK);

        let (s, text) = scrape(&gw, Some(OPERATOR)).await;
        assert_eq!(s, StatusCode::OK, "{text}");
        assert!(text.ends_with("# EOF\n"), "OpenMetrics text");
        let posts = sample(&text, r#"meshgate_http_requests_total{method="POST",route="/messages",status="200"}"#);
        assert_eq!(posts, Some(6.0), "{backend:?}\n{text}");
        assert_eq!(
            sample(&text, r#"meshgate_http_requests_total{method="GET",route="/peers/{name}",status="200"}"#),
            Some(2.0)
        );
        assert_eq!(
            sample(&text, r#"meshgate_http_requests_total{method="GET",route="/peers/{name}",status="404"}"#),
            Some(2.0)
        );
        assert!(!text.contains("nobody-1") && !text.contains("route=\"/peers/alice\""), "raw paths are no labels");
        assert_eq!(sample(&text, "meshgate_dms_sent_total"), Some(6.0));
        assert_eq!(sample(&text, r#"meshgate_send_refusals_total{reason="conversation_loop"}"#), Some(1.0));
        assert_eq!(sample(&text, r#"meshgate_send_refusals_total{reason="rate_limited"}"#), Some(1.0));
        assert_eq!(sample(&text, r#"meshgate_guard_refusals_total{rule="aws access key"}"#), Some(1.0), "{text}");
        let batches = sample(&text, "meshgate_store_commit_jobs_count").unwrap();
        let jobs = sample(&text, "meshgate_store_commit_jobs_sum").unwrap();
        assert!(batches >= 1.0 && jobs >= 5.0, "{backend:?}: {batches} commits of {jobs} jobs");
        assert!(sample(&text, "meshgate_store_commit_seconds_count").unwrap() >= 1.0);
        assert_eq!(sample(&text, "meshgate_open_streams"), Some(1.0));
        assert_eq!(sample(&text, "meshgate_store_up"), Some(1.0));
        assert!(text.contains("meshgate_http_request_duration_seconds_bucket{"), "latency histogram");
        // A DM to bob wakes his stream.
        assert_eq!(gw.send("carol", "bob", "wake up").await.0, StatusCode::OK);
        let mut woken = 0.0;
        for _ in 0..100 {
            woken = sample(&scrape(&gw, Some(OPERATOR)).await.1, "meshgate_wakeups_total").unwrap();
            if woken >= 1.0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(woken >= 1.0, "{backend:?}: no wake-up counted");
        drop(stream);
        gw.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_distinct_paths_adds_no_label_values() {
    let gw = Gateway::start().await;
    for i in 0..300 {
        let _ = gw.http.get(format!("{}/no/such/path/{i}", gw.url)).bearer_auth(OPERATOR).send().await.unwrap();
        let _ = gw.http.get(format!("{}/peers/p{i}", gw.url)).bearer_auth(OPERATOR).send().await.unwrap();
    }
    let (_, text) = scrape(&gw, Some(OPERATOR)).await;
    let series = text.lines().filter(|l| l.starts_with("meshgate_http_requests_total{")).count();
    assert!(series <= 4, "{series} request series:\n{text}");
    assert_eq!(
        sample(&text, r#"meshgate_http_requests_total{method="GET",route="unmatched",status="404"}"#),
        Some(300.0)
    );
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_listen_serves_metrics_without_auth_and_nothing_else() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let gw = Gateway::start_with(|c| c.metrics_listen = Some(addr)).await;
    gw.register("alice").await;
    let http = reqwest::Client::new();
    let mut text = String::new();
    for _ in 0..50 {
        match http.get(format!("http://{addr}/metrics")).send().await {
            Ok(r) => {
                assert_eq!(r.status(), StatusCode::OK);
                text = r.text().await.unwrap();
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
    assert!(text.contains("meshgate_store_up 1"), "{text}");
    let r = http.get(format!("http://{addr}/peers")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND, "only /metrics there");
    assert_eq!(r.json::<serde_json::Value>().await.unwrap()["error"], "no_route");
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_off_leaves_metrics_a_404() {
    let gw = Gateway::start_with(|c| c.metrics = false).await;
    let (s, body) = scrape(&gw, Some(OPERATOR)).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(serde_json::from_str::<serde_json::Value>(&body).unwrap()["error"], json!("metrics_off"));
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_receipts_and_mcp_have_their_own_route_labels() {
    let gw = Gateway::start().await;
    let alice = gw.register("alice").await;
    gw.register("bob").await;
    let (s, v) = gw.send("alice", "bob", "hi").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let id = v["id"].as_i64().unwrap();
    assert_eq!(gw.http.get(format!("{}/ready", gw.url)).send().await.unwrap().status(), StatusCode::OK);
    assert_eq!(gw.get(&format!("/messages/{id}")).await.0, StatusCode::OK);
    assert_eq!(gw.get("/obligations").await.0, StatusCode::OK);
    // /mcp without the Accept header MCP needs: counted with its status.
    let r = gw.http.post(format!("{}/mcp", gw.url)).bearer_auth(&alice).json(&json!({})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_ACCEPTABLE);
    assert_eq!(r.json::<serde_json::Value>().await.unwrap()["error"], "not_acceptable");
    let (_, text) = scrape(&gw, Some(OPERATOR)).await;
    for series in [
        r#"meshgate_http_requests_total{method="GET",route="/ready",status="200"}"#,
        r#"meshgate_http_requests_total{method="GET",route="/messages/{id}",status="200"}"#,
        r#"meshgate_http_requests_total{method="GET",route="/obligations",status="200"}"#,
        r#"meshgate_http_requests_total{method="POST",route="/mcp",status="406"}"#,
    ] {
        assert_eq!(sample(&text, series), Some(1.0), "{series}\n{text}");
    }
    assert!(!text.contains(r#"route="unmatched""#), "{text}");
    gw.stop().await;
}

#[test]
fn route_labels_are_the_documented_paths() {
    // One route list feeds the router, the document and the labels, so
    // they agree by construction; this pins that /mcp and the
    // unannotated-before routes are in it.
    let spec = meshgate_server::routes::openapi::spec();
    let mut documented: Vec<&str> = spec.paths.paths.keys().map(String::as_str).collect();
    documented.sort_unstable();
    let mut labels = meshgate_server::metrics::route_labels().to_vec();
    labels.sort_unstable();
    assert_eq!(documented, labels);
    for path in ["/mcp", "/metrics", "/openapi.json", "/messages/stream"] {
        assert!(labels.contains(&path), "{path} missing from {labels:?}");
    }
}
