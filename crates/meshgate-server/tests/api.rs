//! The HTTP API end to end: a real server on loopback, a real SQLite file.

use crate::common;

use common::{Gateway, OPERATOR};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

fn ids(rows: &[Value]) -> Vec<i64> {
    rows.iter().map(|r| r["id"].as_i64().unwrap()).collect()
}

#[tokio::test]
async fn health_is_public_and_discloses_no_paths() {
    let gw = Gateway::start().await;
    let (s, v) = gw.call(Method::GET, "/health", None, None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["status"], "ok");
    assert_eq!(v["service"], "mesh-gateway");
    assert!(v["schema_version"].as_i64().unwrap() >= 1);
    assert!(!v.to_string().contains("/tmp"), "{v}");
    gw.stop().await;
}

#[tokio::test]
async fn ready_is_public_and_says_whether_the_store_answers() {
    let gw = Gateway::start().await;
    let (s, v) = gw.call(Method::GET, "/ready", None, None).await;
    assert_eq!((s, v), (StatusCode::OK, json!({"status": "ready"})));
    let (s, v) = gw.call(Method::POST, "/ready", None, None).await;
    assert_eq!((s, v["error"].as_str()), (StatusCode::METHOD_NOT_ALLOWED, Some("method_not_allowed")));
    gw.stop().await;
}

#[tokio::test]
async fn register_mints_once_and_returns_the_row() {
    let gw = Gateway::start().await;
    let (s, v) = gw.post("/peers/register", json!({"name": "alpha", "capabilities": {"runtime": "claude"}})).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["token_status"], "minted");
    assert!(v["peer_token"].as_str().unwrap().starts_with("mgp_"));
    assert_eq!(v["enabled"], true);
    assert_eq!(v["url"], Value::Null);
    assert_eq!(v["capabilities"]["runtime"], "claude");
    let (_, again) = gw.post("/peers/register", json!({"name": "alpha", "url": "http://a:1"})).await;
    assert_eq!(again["token_status"], "existing");
    assert_eq!(again["peer_token"], Value::Null);
    assert_eq!(again["capabilities"]["runtime"], "claude", "omitted capabilities are kept");
    assert_eq!(again["url"], "http://a:1");
    for bad in
        [json!({"name": "Bad_Name"}), json!({"name": "-x"}), json!({}), json!({"name": "ab", "capabilities": "x"})]
    {
        let (s, v) = gw.post("/peers/register", bad.clone()).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{bad} -> {v}");
        assert!(v["detail"].is_string() && v["error"].is_string());
    }
    gw.stop().await;
}

#[tokio::test]
async fn send_list_read_round_trip() {
    let gw = Gateway::start().await;
    gw.register("alpha").await;
    gw.register("beta").await;
    let (s, sent) = gw
        .post("/messages", json!({"from_node": "alpha", "to_node": "beta", "kind": "question", "content": "hi\u{0}é😀", "related_task_id": 42}))
        .await;
    assert_eq!(s, StatusCode::OK, "{sent}");
    let id = sent["id"].as_i64().unwrap();
    let rows = gw.inbox("beta").await;
    assert_eq!(ids(&rows), vec![id]);
    assert_eq!(rows[0]["content"], "hi\u{0}é😀");
    assert_eq!(rows[0]["related_task_id"], "42", "related_task_id is a string");
    assert_eq!(rows[0]["read_at"], Value::Null);
    let (s, r1) = gw.post(&format!("/messages/{id}/read"), json!({})).await;
    assert_eq!(s, StatusCode::OK);
    let (s, r2) = gw.post(&format!("/messages/{id}/read"), json!({})).await;
    assert_eq!(s, StatusCode::OK, "marking twice succeeds");
    assert_eq!(r1["read_at"], r2["read_at"], "and keeps the first read_at");
    let (_, unread) = gw.get("/messages?to=beta&unread_only=true").await;
    assert_eq!(unread["n"], 0);
    gw.stop().await;
}

#[tokio::test]
async fn reference_defects_are_fixed() {
    let gw = Gateway::start().await;
    gw.register("alpha").await;
    gw.register("beta").await;
    // A self-DM is refused.
    let (s, v) = gw.send("alpha", "alpha", "me").await;
    assert_eq!((s, v["error"].as_str()), (StatusCode::BAD_REQUEST, Some("self_message")));
    // A non-UUID thread id is a 422, an unminted UUID is accepted.
    let (s, _) = gw
        .post(
            "/messages",
            json!({"from_node": "alpha", "to_node": "beta", "kind": "fyi", "content": "x", "thread_id": "nope"}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let t = "5f0c1d8e-8d52-4c39-9a57-2d1f0e6b7a10";
    let (s, v) = gw
        .post(
            "/messages",
            json!({"from_node": "alpha", "to_node": "beta", "kind": "fyi", "content": "x", "thread_id": t}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["thread_id"], t);
    // Garbage `since` is a 400; offsets are compared as instants.
    let (s, _) = gw.get("/messages?to=beta&since=not-a-timestamp").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    // An instant past 9999-12-31 once UTC is refused (it was a panic).
    for path in ["/messages", "/messages/stream"] {
        let (s, v) = gw.get(&format!("{path}?to=beta&since=9999-12-31T23:59:59-00:01")).await;
        assert_eq!((s, v["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_since")), "{path}: {v}");
    }
    // Errors never echo rejected content.
    let big = "Z".repeat(200_001);
    let (s, v) = gw.send("alpha", "beta", &big).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(v.to_string().len() < 1000);
    // 401 before 400.
    let (s, _) = gw.call(Method::GET, "/messages?bogus=1", None, None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, v) = gw.get("/messages?bogus=1").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(v["detail"].as_str().unwrap().contains("bogus"));
    gw.stop().await;
}

#[tokio::test]
async fn idempotency_key_returns_the_original_or_conflicts() {
    let gw = Gateway::start().await;
    gw.register("alpha").await;
    gw.register("beta").await;
    let body =
        json!({"from_node": "alpha", "to_node": "beta", "kind": "fyi", "content": "once", "idempotency_key": "k1"});
    let (_, a) = gw.post("/messages", body.clone()).await;
    let (s, b) = gw.post("/messages", body).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(a["id"], b["id"]);
    let (s, v) = gw
        .post("/messages", json!({"from_node": "alpha", "to_node": "beta", "kind": "fyi", "content": "other", "idempotency_key": "k1"}))
        .await;
    assert_eq!((s, v["error"].as_str()), (StatusCode::CONFLICT, Some("idempotency_conflict")));
    assert_eq!(gw.inbox("beta").await.len(), 1);
    gw.stop().await;
}

#[tokio::test]
async fn unknown_recipients_are_refused_with_suggestions_and_aliases_resolve() {
    let gw = Gateway::start().await;
    gw.register("alpha").await;
    gw.register("droplet").await;
    let (s, v) = gw.send("alpha", "droplte", "x").await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");
    assert_eq!(v["error"], "unknown_recipient");
    assert_eq!(v["suggestions"][0], "droplet");
    let (s, _) = gw.post("/aliases", json!({"alias": "drop", "canonical": "droplet"})).await;
    assert_eq!(s, StatusCode::OK);
    let (s, v) = gw.send("alpha", "drop", "via alias").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!((v["to_node"].as_str(), v["resolved_from"].as_str()), (Some("droplet"), Some("drop")));
    assert_eq!(gw.inbox("droplet").await.len(), 1);
    gw.stop().await;
}

#[tokio::test]
async fn credentials_are_blocked_unless_overridden() {
    let gw = Gateway::start().await;
    gw.register("alpha").await;
    gw.register("beta").await;
    let secret = format!("key: ghp_{}", "A1b2C3d4E5".repeat(4));
    let (s, v) = gw.send("alpha", "beta", &secret).await;
    assert_eq!((s, v["error"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("secret_detected")));
    assert!(!v.to_string().contains("A1b2C3d4E5"), "the secret is never echoed");
    assert!(gw.inbox("beta").await.is_empty());
    let (s, v) = gw.send("alpha", "beta", &format!("my token is {OPERATOR}")).await;
    assert_eq!((s, v["error"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("secret_detected")));
    let (s, _) = gw
        .post("/messages", json!({"from_node": "alpha", "to_node": "beta", "kind": "fyi", "content": secret, "skip_secret_check": true}))
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(gw.inbox("beta").await.len(), 1);
    gw.stop().await;
}

#[tokio::test]
async fn failed_authentication_is_limited_per_address_and_credential_and_never_refuses_a_valid_token() {
    let gw = Gateway::start_with(|c| {
        c.auth_failures_per_minute = 5;
        c.limit_loopback = true;
    })
    .await;
    let peer = gw.register("alpha").await;
    for _ in 0..5 {
        let (s, _) = gw.call(Method::GET, "/peers", Some("wrong-token"), None).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
    }
    let (s, v) = gw.call(Method::GET, "/peers", Some("wrong-token"), None).await;
    assert_eq!((s, v["error"].as_str()), (StatusCode::TOO_MANY_REQUESTS, Some("rate_limited")));
    // Everyone else behind the same address keeps working.
    let (s, _) = gw.get("/peers").await;
    assert_eq!(s, StatusCode::OK, "the operator token from the same address");
    let (s, _) = gw.call(Method::GET, "/peers", Some(&peer), None).await;
    assert_eq!(s, StatusCode::OK, "a peer token from the same address");
    let (s, _) = gw.call(Method::GET, "/peers", Some("another-stale-token"), None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "another credential has its own count");
    let (s, _) = gw.call(Method::GET, "/peers", None, None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    gw.stop().await;
}

#[tokio::test]
async fn openapi_document_lists_every_route() {
    let gw = Gateway::start().await;
    let (s, v) = gw.call(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(s, StatusCode::OK);
    let paths = v["paths"].as_object().unwrap();
    for p in [
        "/health",
        "/ready",
        "/peers/register",
        "/peers/{name}/token",
        "/messages",
        "/messages/stream",
        "/messages/read",
        "/messages/search",
        "/threads/{uuid}",
        "/aliases",
    ] {
        assert!(paths.contains_key(p), "{p} missing from {:?}", paths.keys().collect::<Vec<_>>());
    }
    assert!(v["components"]["schemas"]["SendRequest"].is_object());
    gw.stop().await;
}

/// The stream documents its own parameters (`StreamQuery`), not the list's.
#[tokio::test]
async fn openapi_documents_the_streams_own_parameters() {
    let gw = Gateway::start().await;
    let (s, v) = gw.call(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(s, StatusCode::OK);
    let params = v["paths"]["/messages/stream"]["get"]["parameters"].as_array().unwrap();
    let query: std::collections::BTreeSet<&str> =
        params.iter().filter(|p| p["in"] == "query").map(|p| p["name"].as_str().unwrap()).collect();
    let want = ["after_id", "from", "kind", "peek", "receipts", "since", "thread_id", "to"];
    assert_eq!(query, want.into_iter().collect(), "{params:?}");
    assert!(params.iter().any(|p| p["in"] == "header" && p["name"] == "Last-Event-ID"), "{params:?}");
    gw.stop().await;
}

/// OpenAPI requires every operation's `operationId` to be unique (code
/// generators name their functions by it).
#[tokio::test]
async fn openapi_operation_ids_are_unique() {
    let gw = Gateway::start().await;
    let (s, v) = gw.call(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(s, StatusCode::OK);
    let mut seen = std::collections::BTreeMap::<String, Vec<String>>::new();
    for (path, item) in v["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if let Some(id) = op["operationId"].as_str() {
                seen.entry(id.to_owned()).or_default().push(format!("{} {path}", method.to_uppercase()));
            }
        }
    }
    let repeated: Vec<_> = seen.iter().filter(|(_, ops)| ops.len() > 1).collect();
    assert!(repeated.is_empty(), "operationIds used more than once: {repeated:?}");
    gw.stop().await;
}

/// The (method, path) pairs README's API table names, from each row's first cell:
/// "`GET /peers`, `GET /peers/{name}`"; "`POST`, `GET`, `DELETE /mcp`" (methods
/// waiting for the next path); a query or body after the path is not part of it.
fn readme_api_table() -> std::collections::BTreeSet<(String, String)> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).unwrap();
    let start = readme.find("| method and path | what |").expect("README has the API table");
    let mut named = std::collections::BTreeSet::new();
    for row in readme[start..].lines().skip(2).take_while(|l| l.starts_with('|')) {
        let cell = row.split(" | ").next().unwrap();
        let mut waiting: Vec<String> = Vec::new();
        for code in cell.split('`').skip(1).step_by(2) {
            let mut words = code.split_whitespace();
            let Some(method) = words.next().filter(|m| m.chars().all(|c| c.is_ascii_uppercase())) else { continue };
            waiting.push(method.to_string());
            if let Some(path) = words.next().filter(|p| p.starts_with('/')) {
                let path = path.split('?').next().unwrap();
                named.extend(waiting.drain(..).map(|m| (m, path.to_string())));
            }
        }
        assert!(waiting.is_empty(), "README API row {row:?}: {waiting:?} without a path");
    }
    named
}

#[tokio::test]
async fn readme_api_table_names_exactly_the_routes_served() {
    let gw = Gateway::start().await;
    let (s, v) = gw.call(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(s, StatusCode::OK);
    let served: std::collections::BTreeSet<(String, String)> = v["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, ops)| ops.as_object().unwrap().keys().map(move |m| (m.to_ascii_uppercase(), path.clone())))
        .collect();
    let named = readme_api_table();
    // `/mcp`'s GET (event stream) and DELETE (end session) are the MCP transport's,
    // served by rmcp's router beside its documented POST.
    let transport = [("GET", "/mcp"), ("DELETE", "/mcp")].map(|(m, p)| (m.to_string(), p.to_string()));
    let missing: Vec<_> = served.difference(&named).collect();
    let unknown: Vec<_> = named.difference(&served).filter(|r| !transport.contains(r)).collect();
    assert!(missing.is_empty(), "routes served but not in README's API table: {missing:?}");
    assert!(unknown.is_empty(), "README's API table names routes the gateway does not serve: {unknown:?}");
    for (method, path) in &transport {
        let (s, v) = gw.call(method.parse().unwrap(), path, None, None).await;
        assert_ne!(s, StatusCode::NOT_FOUND, "{method} {path}: {v}");
        assert_ne!(s, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}: {v}");
    }
    gw.stop().await;
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_json() {
    let gw = Gateway::start().await;
    let (s, v) = gw.get("/nope").await;
    assert_eq!((s, v["error"].as_str()), (StatusCode::NOT_FOUND, Some("no_route")));
    let (s, v) = gw.call(Method::PUT, "/messages", Some(OPERATOR), None).await;
    assert_eq!((s, v["error"].as_str()), (StatusCode::METHOD_NOT_ALLOWED, Some("method_not_allowed")));
    gw.stop().await;
}

#[tokio::test]
async fn secret_guard_policies_warn_and_off_store_the_message() {
    use meshgate_server::SecretGuard;
    for policy in [SecretGuard::Warn, SecretGuard::Off] {
        let gw = Gateway::start_with(|c| c.secret_guard = policy).await;
        gw.register("alpha").await;
        gw.register("beta").await;
        let secret = format!("AKIA{}", "QWERTYUIOPASDFGH");
        let (s, v) = gw.send("alpha", "beta", &secret).await;
        assert_eq!(s, StatusCode::OK, "{policy:?}: {v}");
        // The caller's own bearer token is refused whatever the policy.
        let (s, _) = gw.send("alpha", "beta", &format!("token {OPERATOR}")).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{policy:?}");
        assert_eq!(gw.inbox("beta").await.len(), 1);
        gw.stop().await;
    }
}

/// `GET /threads/{uuid}` answers a page at a time, as `GET /messages` does:
/// `limit`, the byte budget (at least one row), an `after_id` cursor and
/// `truncated` while more follow. A third peer with its own token gets the
/// thread's 404 on every page; a party past the end gets an empty page.
#[tokio::test]
async fn a_thread_is_read_in_pages() {
    let gw = Gateway::start_with(|c| c.page_max_bytes = 3000).await;
    let alice = gw.register("alice").await;
    gw.register("bob").await;
    let mallory = gw.register("mallory").await;
    let (_, t) = gw.call(Method::POST, "/threads", Some(&alice), Some(json!({"thread_name": "long"}))).await;
    let uuid = t["thread_uuid"].as_str().unwrap().to_owned();
    let mut sent = Vec::new();
    for i in 0..7 {
        let body =
            json!({"to_node": "bob", "kind": "fyi", "content": format!("{i} {}", "x".repeat(1000)), "thread_id": uuid});
        let (s, v) = gw.call(Method::POST, "/messages", Some(&alice), Some(body)).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        sent.push(v["id"].as_i64().unwrap());
    }
    let page = |token: String, query: String| {
        let gw = &gw;
        let path = format!("/threads/{uuid}{query}");
        async move { gw.call(Method::GET, &path, Some(&token), None).await }
    };
    let (s, v) = page(alice.clone(), "?limit=3".into()).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!((ids(v["messages"].as_array().unwrap()), &v["truncated"]), (sent[..2].to_vec(), &json!(true)), "bytes");
    let (_, v) = page(OPERATOR.into(), "?limit=1".into()).await;
    assert_eq!((ids(v["messages"].as_array().unwrap()), &v["truncated"]), (sent[..1].to_vec(), &json!(true)), "limit");
    let mut walked: Vec<i64> = Vec::new();
    let mut after = 0;
    loop {
        let (s, v) = page(alice.clone(), format!("?after_id={after}")).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        let rows = ids(v["messages"].as_array().unwrap());
        assert!(!rows.is_empty() && rows.len() <= 2, "{rows:?}");
        walked.extend(&rows);
        after = *rows.last().unwrap();
        if v["truncated"] == json!(false) {
            break;
        }
    }
    assert_eq!(walked, sent, "every DM once, in order");
    let (s, v) = page(alice.clone(), format!("?after_id={after}")).await;
    assert_eq!((s, v["messages"].as_array().map(Vec::len), &v["truncated"]), (StatusCode::OK, Some(0), &json!(false)));
    for query in ["", "?after_id=0", "?after_id=999999"] {
        let (s, v) = page(mallory.clone(), query.into()).await;
        assert_eq!((s, v["error"].as_str()), (StatusCode::NOT_FOUND, Some("unknown_thread")), "mallory {query}");
    }
    let (s, v) = page(alice.clone(), "?after_id=x".into()).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    gw.stop().await;
}
