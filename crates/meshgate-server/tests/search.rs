//! `GET /messages/search` over real HTTP on both backends: ranked hits
//! with snippet segments, the scope rule (a third peer finds nothing of a
//! DM between two others, whatever it types), no delivery recorded, every
//! input a 200 or a 400 (never a 500), and the CPU budget.

use crate::common;

use common::{backends, Gateway, OPERATOR};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// `q` percent-encoded for a query string (every byte but unreserved ones).
fn enc(q: &str) -> String {
    q.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn search(gw: &Gateway, token: &str, params: &str) -> (StatusCode, Value) {
    gw.call(Method::GET, &format!("/messages/search?{params}"), Some(token), None).await
}

fn hit_ids(v: &Value) -> Vec<i64> {
    let mut ids: Vec<i64> = v["hits"]
        .as_array()
        .unwrap_or_else(|| panic!("no hits in {v}"))
        .iter()
        .map(|h| h["message"]["id"].as_i64().unwrap())
        .collect();
    ids.sort_unstable();
    ids
}

async fn dm(gw: &Gateway, token: &str, to: &str, content: &str) -> i64 {
    let body = json!({"to_node": to, "kind": "fyi", "content": content});
    let (s, v) = gw.call(Method::POST, "/messages", Some(token), Some(body)).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v["id"].as_i64().unwrap()
}

#[tokio::test]
async fn search_ranks_scopes_and_highlights() {
    for backend in backends() {
        let gw = Gateway::start_backend(backend, |_| {}).await;
        let alice = gw.register("alice").await;
        let bob = gw.register("bob").await;
        let mallory = gw.register("mallory").await;
        let carol = gw.register("carol").await;
        let ab = dm(&gw, &alice, "bob", "Please deploy the release to staging tonight").await;
        let ba = dm(&gw, &bob, "alice", "deploy failed; deploy again after the deploy lock clears").await;
        let cb = dm(&gw, &carol, "bob", "secret: the merger deploy plan").await;

        // The operator finds all, best first, with segments.
        let (s, v) = search(&gw, OPERATOR, "q=deploy").await;
        assert_eq!(s, StatusCode::OK, "{v:?}");
        assert_eq!(hit_ids(&v), vec![ab, ba, cb]);
        assert_eq!((v["limit"].as_u64(), v["truncated"].as_bool()), (Some(20), Some(false)));
        let first = &v["hits"][0];
        assert_eq!(first["message"]["id"].as_i64(), Some(ba), "three occurrences rank first");
        assert_eq!(first["message"]["content"], "deploy failed; deploy again after the deploy lock clears");
        assert!(first["rank"].as_f64().unwrap() >= v["hits"][1]["rank"].as_f64().unwrap());
        let segments = v["hits"][1]["snippet"].as_array().unwrap();
        let text: String = segments.iter().map(|s| s["text"].as_str().unwrap()).collect();
        assert!(text.contains("deploy"), "{text}");
        assert!(segments
            .iter()
            .any(|s| s["hit"] == true && s["text"].as_str().unwrap().eq_ignore_ascii_case("deploy")));
        assert!(segments.iter().any(|s| s["hit"] == false));

        // Peers find their own DMs only.
        assert_eq!(hit_ids(&search(&gw, &alice, "q=deploy").await.1), vec![ab, ba]);
        assert_eq!(hit_ids(&search(&gw, &bob, "q=deploy").await.1), vec![ab, ba, cb]);
        for q in ["deploy", "secret merger", "\"merger deploy\"", "mer*", "merger OR staging", "deploy -failed"] {
            for extra in ["", "&from=carol", "&to=bob", "&from=alice&to=bob", "&from=mallory"] {
                let (s, v) = search(&gw, &mallory, &format!("q={}{extra}", enc(q))).await;
                assert_eq!(s, StatusCode::OK, "{v}");
                assert!(hit_ids(&v).is_empty(), "mallory found {v} with {q:?}{extra}");
            }
        }
        // `from`/`to` narrow a peer's own results.
        assert_eq!(hit_ids(&search(&gw, &bob, "q=deploy&from=carol").await.1), vec![cb]);
        assert_eq!(hit_ids(&search(&gw, &alice, "q=deploy&from=carol").await.1), Vec::<i64>::new());
        assert_eq!(hit_ids(&search(&gw, OPERATOR, "q=deploy&to=bob&limit=1").await.1).len(), 1);

        // A search hands nothing over: bob's DMs are still undelivered.
        let (s, v) = gw.call(Method::GET, &format!("/messages/{ab}"), Some(&bob), None).await;
        assert_eq!(s, StatusCode::OK);
        assert!(v["delivered_at"].is_null(), "{v}");
        gw.stop().await;
    }
}

#[tokio::test]
async fn bad_queries_are_400s_with_a_stable_code() {
    let gw = Gateway::start().await;
    gw.register("alice").await;
    for (params, code) in [
        ("", "invalid_query"),
        ("q=", "invalid_query"),
        ("q=%20%20", "invalid_query"),
        ("q=%22open", "invalid_query"),
        ("q=a*", "invalid_query"),
        ("q=OR", "invalid_query"),
        ("q=-alone", "invalid_query"),
        ("q=deploy&kind=nope", "unknown_kind"),
        ("q=deploy&since=yesterday", "invalid_since"),
        ("q=deploy&since=9999-12-31T23:59:59-00:01", "invalid_since"),
        ("q=deploy&wait=5", "unknown_parameter"),
    ] {
        let (s, v) = search(&gw, OPERATOR, params).await;
        assert_eq!((s, v["error"].as_str()), (StatusCode::BAD_REQUEST, Some(code)), "{params}: {v}");
        assert!(!v["detail"].as_str().unwrap().is_empty());
    }
    let (s, v) = search(&gw, OPERATOR, &format!("q={}", "a".repeat(513))).await;
    assert_eq!((s, v["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_query")));
    assert!(v["detail"].as_str().unwrap().contains("512"), "{v}");
    let (s, v) = search(&gw, OPERATOR, &format!("q={}", enc(&"w ".repeat(33)))).await;
    assert_eq!((s, v["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_query")));
    assert!(v["detail"].as_str().unwrap().contains("32"), "{v}");
    for limit in ["0", "101", "x"] {
        let (s, _) = search(&gw, OPERATOR, &format!("q=deploy&limit={limit}")).await;
        assert!(s.is_client_error(), "limit={limit}: {s}");
    }
    let (s, v) = search(&gw, OPERATOR, "q=deploy&limit=100").await;
    assert_eq!((s, v["limit"].as_u64()), (StatusCode::OK, Some(100)));
    // Punctuation only, or bytes that are not UTF-8: no words, said so.
    for q in [".", "%21%21%21", "%ef%bf%bd", "%ff", "%c3", "%ed%a0%80"] {
        let (s, v) = search(&gw, OPERATOR, &format!("q={q}")).await;
        assert_eq!((s, v["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_query")), "{q}: {v}");
        assert!(v["detail"].as_str().unwrap().contains("no words"), "{q}: {v}");
    }
    // The published schema says what the route accepts.
    let (_, api) = gw.get("/openapi.json").await;
    let params = api["paths"]["/messages/search"]["get"]["parameters"].as_array().unwrap();
    let limit = params.iter().find(|p| p["name"] == "limit").unwrap();
    assert_eq!(
        (limit["schema"]["minimum"].as_u64(), limit["schema"]["maximum"].as_u64()),
        (Some(1), Some(100)),
        "{limit}"
    );
    let (s, _) = gw.call(Method::GET, "/messages/search?q=deploy", None, None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    gw.stop().await;
}

/// Random queries from quotes, operators, punctuation, Unicode and control
/// characters: each is searched (200) or refused (400; 422 for an encoded
/// NUL, which every route refuses), never a 500.
#[tokio::test]
async fn fuzzed_queries_never_fail_the_server() {
    const PIECES: &[&str] = &[
        "\"", "*", "-", "OR", "AND", "NOT", "NEAR", "(", ")", ":", "^", "+", "'", "\\", "&", "|", "!", "<->", "{", "}",
        "deploy", "de", "x", " ", " ", "\t", "\u{0}", "\u{1}", "é", "ü*", "日本", "🚀", "\u{200b}", "\u{202e}", "%",
        "col:", "rank", "''", "\"\"", "*\"", "-\"", "a b", ";", "--", "/*",
    ];
    for backend in backends() {
        let gw = Gateway::start_backend(backend, |_| {}).await;
        let alice = gw.register("alice").await;
        gw.register("bob").await;
        dm(&gw, &alice, "bob", "deploy the 日本 release 🚀 with café AND NOT NEAR").await;
        let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..300 {
            let n = 1 + next() % 12;
            let q: String = (0..n).map(|_| PIECES[(next() % PIECES.len() as u64) as usize]).collect();
            let (s, v) = search(&gw, &alice, &format!("q={}", enc(&q))).await;
            match s {
                StatusCode::OK => assert!(v["hits"].is_array(), "{q:?}: {v}"),
                StatusCode::BAD_REQUEST => assert!(v["error"].is_string(), "{q:?}: {v}"),
                // The gateway refuses an encoded NUL in any URI (see tests/nul.rs).
                StatusCode::UNPROCESSABLE_ENTITY if q.contains('\0') => assert_eq!(v["error"], "invalid_parameter"),
                other => panic!("{q:?} answered {other}: {v}"),
            }
        }
        gw.stop().await;
    }
}

/// A broad query over many matches stops at the search budget: with no
/// budget at all, the answer is a flagged partial page or 422
/// `query_too_broad`, never a long scan.
#[tokio::test]
async fn a_broad_search_stops_at_its_budget() {
    let gw = Gateway::start_with(|c| {
        c.search_budget = std::time::Duration::ZERO;
        c.send_rate = None;
        c.loop_limit = None;
    })
    .await;
    gw.register("alice").await;
    gw.register("bob").await;
    let batch: Vec<Value> = (0..3000)
        .map(|i| json!({"from_node": "alice", "to_node": "bob", "kind": "fyi", "content": format!("common words {i} aa ab ac")}))
        .collect();
    let mut tasks = tokio::task::JoinSet::new();
    for chunk in batch.chunks(300) {
        let chunk = chunk.to_vec();
        let http = reqwest::Client::new();
        let url = format!("{}/messages", gw_url(&gw));
        tasks.spawn(async move {
            for body in chunk {
                let r = http.post(&url).bearer_auth(OPERATOR).json(&body).send().await.unwrap();
                assert_eq!(r.status(), StatusCode::OK);
            }
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.unwrap();
    }
    let (s, v) = search(&gw, OPERATOR, &format!("q={}", enc("common OR aa* OR ab* OR ac* OR words"))).await;
    match s {
        StatusCode::OK => assert_eq!(v["truncated"], true, "{v}"),
        StatusCode::UNPROCESSABLE_ENTITY => assert_eq!(v["error"], "query_too_broad", "{v}"),
        other => panic!("{other}: {v}"),
    }
    gw.stop().await;
}

fn gw_url(gw: &Gateway) -> String {
    gw.url.clone()
}

/// The hostile review's reproduction: 100 maximum-size bodies of `a a a…`
/// from one peer. Searching them answers at most the page byte budget
/// (hits cut, `truncated`), with snippets of bounded length; the gateway's
/// ranking work is bounded by bytes (conformance
/// `search_bounds_its_ranking_work`), not by a timer.
#[tokio::test]
async fn a_search_over_maximum_bodies_keeps_the_page_byte_budget() {
    for backend in backends() {
        let gw = Gateway::start_backend(backend, |c| {
            c.send_rate = None;
            c.loop_limit = None;
        })
        .await;
        let mallory = gw.register("mallory").await;
        gw.register("alice").await;
        let body = format!("{}a", "a ".repeat(99_999));
        let http = reqwest::Client::new();
        for _ in 0..100 {
            let r = http
                .post(format!("{}/messages", gw.url))
                .bearer_auth(&mallory)
                .json(&json!({"to_node": "alice", "kind": "fyi", "content": body}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::OK);
        }
        let max = meshgate_proto::PAGE_BYTES_DEFAULT;
        for q in ["a", "a%20OR%20b", "%22a%20a%22"] {
            let r = http
                .get(format!("{}/messages/search?q={q}&limit=100", gw.url))
                .bearer_auth(&mallory)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::OK, "{q}");
            let raw = r.bytes().await.unwrap();
            // The messages fit the budget; ranks and snippets add < 1 KiB a hit.
            assert!(raw.len() <= max + 100 * 1024, "{q}: {} bytes", raw.len());
            let v: Value = serde_json::from_slice(&raw).unwrap();
            let hits = v["hits"].as_array().unwrap();
            assert!(!hits.is_empty() && hits.len() < 100, "{q}: {} hits", hits.len());
            assert_eq!(v["truncated"], true, "{q}");
            assert_eq!(hits[0]["message"]["content"].as_str().map(str::len), Some(body.len()));
            for h in hits {
                let chars: usize =
                    h["snippet"].as_array().unwrap().iter().map(|s| s["text"].as_str().unwrap().chars().count()).sum();
                assert!(chars <= meshgate_store::SNIPPET_CHARS + 4, "{q}: snippet of {chars}");
            }
        }
        gw.stop().await;
    }
}

/// One peer's concurrent searches cannot starve others: beyond its share
/// it gets 429 `too_many_searches` with `Retry-After`, while another
/// peer's searches and the operator's run. With a gateway-wide cap of 2
/// (the default on a 2-CPU host) a peer's share is one place, not both.
#[tokio::test]
async fn one_peer_cannot_hold_every_search_slot() {
    for (backend, max) in backends().into_iter().flat_map(|b| [(b, 3), (b, 2)]) {
        let gw = Gateway::start_backend(backend, |c| {
            c.send_rate = None;
            c.loop_limit = None;
            c.search_per_peer = 2;
            c.search_max = max;
        })
        .await;
        let mallory = gw.register("mallory").await;
        let alice = gw.register("alice").await;
        let body = format!("{}a", "a ".repeat(99_999));
        for _ in 0..30 {
            dm(&gw, &mallory, "alice", &body).await;
        }
        dm(&gw, &alice, "mallory", "alice's own words").await;
        let http = reqwest::Client::new();
        let mut refused = 0;
        for _round in 0..5 {
            let mut tasks = tokio::task::JoinSet::new();
            for _ in 0..16 {
                let (http, url, token) =
                    (http.clone(), format!("{}/messages/search?q=a&limit=100", gw.url), mallory.clone());
                tasks.spawn(async move {
                    let r = http.get(url).bearer_auth(token).send().await.unwrap();
                    let retry = r.headers().get("retry-after").map(|v| v.to_str().unwrap().to_owned());
                    (r.status(), retry, r.json::<Value>().await.unwrap())
                });
            }
            // Alice and the operator search while mallory's searches run:
            // never refused.
            for _ in 0..3 {
                let (s, v) = search(&gw, &alice, "q=words").await;
                assert_eq!(s, StatusCode::OK, "max {max}: {v}");
                assert_eq!(hit_ids(&v).len(), 1);
                let (s, v) = search(&gw, OPERATOR, "q=words").await;
                assert_eq!(s, StatusCode::OK, "max {max}: {v}");
            }
            while let Some(r) = tasks.join_next().await {
                match r.unwrap() {
                    (StatusCode::OK, _, v) => assert!(!v["hits"].as_array().unwrap().is_empty()),
                    (StatusCode::TOO_MANY_REQUESTS, retry, v) => {
                        assert_eq!((v["error"].as_str(), retry.as_deref()), (Some("too_many_searches"), Some("1")));
                        refused += 1;
                    }
                    (other, _, v) => panic!("{other}: {v}"),
                }
            }
            if refused > 0 {
                break;
            }
        }
        assert!(refused > 0, "16 concurrent searches of one peer were never refused");
        gw.stop().await;
    }
}
