//! The `/ui` console against a hostile peer (the hostile review's findings),
//! over real HTTP: one peer's logins cannot end another identity's session;
//! tossed duplicate session cookies sign out; failed logins are limited per
//! address whatever token was tried; peer sessions see no live presence of
//! others; invisible characters are shown; security headers everywhere.

use crate::browser;
use crate::common;

use browser::*;
use common::{backends, Gateway, OPERATOR};
use reqwest::StatusCode;

#[tokio::test]
async fn a_peers_many_logins_end_only_its_own_sessions() {
    let gw = Gateway::start().await;
    let alice = gw.register("alice").await;
    let mallory = gw.register("mallory").await;
    let mut op = Browser::new(&gw);
    op.login(OPERATOR).await;
    let mut a = Browser::new(&gw);
    a.login(&alice).await;

    // 300 logins of mallory (more than the 256-session table): each ends
    // mallory's own oldest beyond 8, never anyone else's.
    let mut m = Browser::new(&gw);
    let mut cookies = Vec::new();
    for _ in 0..300 {
        m.cookie = None;
        assert_eq!(m.login(&mallory).await.status, StatusCode::SEE_OTHER);
        cookies.push(m.cookie.clone().unwrap());
    }
    assert_eq!(op.get("/ui").await.status, StatusCode::OK, "the operator is still signed in");
    assert_eq!(a.get("/ui").await.status, StatusCode::OK, "alice is still signed in");
    let mut live = 0;
    for c in &cookies {
        let b = Browser { cookie: Some(c.clone()), ..Browser::new(&gw) };
        if b.get("/ui").await.status == StatusCode::OK {
            live += 1;
        }
    }
    assert_eq!(live, 8, "mallory holds her 8 newest sessions");
    gw.stop().await;
}

#[tokio::test]
async fn a_full_table_refuses_a_new_peer_and_makes_room_for_the_operator() {
    let gw = Gateway::start_with(|c| c.ui.max_sessions = 3).await;
    let mut peers = Vec::new();
    let mut tokens = Vec::new();
    for name in ["p1", "p2", "p3"] {
        let token = gw.register(name).await;
        tokens.push(token.clone());
        let mut b = Browser::new(&gw);
        assert_eq!(b.login(&token).await.status, StatusCode::SEE_OTHER);
        peers.push(b);
    }
    let p2 = tokens[1].clone();
    let mallory = gw.register("mallory").await;
    let mut m = Browser::new(&gw);
    for _ in 0..5 {
        let refused = m.login(&mallory).await;
        assert_eq!(refused.status, StatusCode::SERVICE_UNAVAILABLE, "full of others' sessions");
        assert!(refused.body.contains("data-testid=\"login-error\""), "{}", refused.body);
        assert!(m.cookie.is_none());
    }
    for p in &peers {
        assert_eq!(p.get("/ui").await.status, StatusCode::OK, "a refused login ends nobody");
    }
    // A peer already holding a session replaces its own oldest.
    let mut again = Browser::new(&gw);
    assert_eq!(again.login(&p2).await.status, StatusCode::SEE_OTHER);
    assert!(redirects_to_login(&peers[1].get("/ui").await), "p2's own older session made room");
    assert_eq!(peers[2].get("/ui").await.status, StatusCode::OK);

    // The operator always gets in: the oldest peer session makes room.
    let mut op = Browser::new(&gw);
    assert_eq!(op.login(OPERATOR).await.status, StatusCode::SEE_OTHER);
    assert_eq!(op.get("/ui").await.status, StatusCode::OK);
    assert!(redirects_to_login(&peers[0].get("/ui").await), "p1, the oldest peer session, made room");
    assert_eq!(peers[2].get("/ui").await.status, StatusCode::OK);
    assert_eq!(again.get("/ui").await.status, StatusCode::OK);
    gw.stop().await;
}

#[tokio::test]
async fn a_request_with_two_session_cookies_is_signed_out_and_told_to_drop_them() {
    let gw = Gateway::start().await;
    let mallory = gw.register("mallory").await;
    let mut op = Browser::new(&gw);
    op.login(OPERATOR).await;
    let mut m = Browser::new(&gw);
    m.login(&mallory).await;
    let (opc, mc) = (op.cookie.clone().unwrap(), m.cookie.clone().unwrap());

    let raw = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    for (cookies, path) in [
        (format!("meshgate_session={mc}; meshgate_session={opc}"), "/ui/compose"),
        (format!("meshgate_session={opc}; meshgate_session={mc}"), "/ui/search"),
        (format!("meshgate_session=garbage; meshgate_session={opc}"), "/ui"),
        (format!("meshgate_session={mc}"), "/ui/a;Domain=evil.example/b"),
    ] {
        let resp = raw.get(format!("{}{path}", gw.url)).header("cookie", &cookies).send().await.unwrap();
        let set: Vec<String> =
            resp.headers().get_all("set-cookie").iter().map(|v| v.to_str().unwrap().to_owned()).collect();
        if !cookies.contains(';') {
            assert!(set.is_empty(), "one cookie: nothing cleared {set:?}");
            continue;
        }
        assert_eq!(resp.status(), StatusCode::SEE_OTHER, "{path}: signed out");
        assert_eq!(resp.headers()["location"], "/ui/login");
        for p in ["/ui", "/ui/", path].into_iter().filter(|p| path.starts_with(p)) {
            let want = format!("meshgate_session=; Path={p}; HttpOnly; SameSite=Strict; Max-Age=0");
            assert!(set.contains(&want), "{path}: {want} missing in {set:?}");
        }
        let page = raw.get(format!("{}/ui/login", gw.url)).header("cookie", &cookies).send().await.unwrap();
        assert_eq!(page.status(), StatusCode::OK, "the login form, not a redirect to a page");
    }
    let hostile = raw
        .get(format!("{}/ui/a;Domain=evil.example/b", gw.url))
        .header("cookie", format!("meshgate_session={mc}; meshgate_session={opc}"))
        .send()
        .await
        .unwrap();
    let set: Vec<_> = hostile.headers().get_all("set-cookie").iter().map(|v| v.to_str().unwrap()).collect();
    assert!(!set.is_empty() && set.iter().all(|v| !v.contains("Domain")), "{set:?}");
    assert_eq!(op.get("/ui").await.status, StatusCode::OK, "the operator's own cookie alone still works");
    assert!(op.get("/ui").await.body.contains(r#"data-testid="whoami">operator"#));
    gw.stop().await;
}

#[tokio::test]
async fn failed_logins_are_limited_per_address_whatever_token_was_tried() {
    let gw = Gateway::start_with(|c| c.ui.login_failures_per_minute = 10).await;
    let alice = gw.register("alice").await;
    let mut b = Browser::new(&gw);
    for i in 0..10 {
        let a = b.login(&format!("guess-{i:04}-operator")).await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED, "guess {i}: distinct tokens, each refused once");
    }
    // Over the budget every login from the address waits, a valid one too.
    for token in ["guess-0011-operator", &alice, OPERATOR] {
        let a = b.login(token).await;
        assert_eq!(a.status, StatusCode::TOO_MANY_REQUESTS, "over the budget: even a valid token waits");
        let wait: u64 = a.headers["retry-after"].to_str().unwrap().parse().unwrap();
        assert!((1..=60).contains(&wait), "{wait}");
        assert!(a.body.contains("data-testid=\"login-error\"") && !a.body.contains(OPERATOR));
    }
    assert!(b.cookie.is_none());
    assert_eq!(gw.get("/peers").await.0, StatusCode::OK, "the API's bearer path is not this limit");
    gw.stop().await;
}

#[tokio::test]
async fn a_peer_session_does_not_see_another_peers_open_stream() {
    let gw = Gateway::start_with(|c| c.ui.online_window = std::time::Duration::ZERO).await;
    let carol = gw.register("carol").await;
    let mallory = gw.register("mallory").await;
    let mut op = Browser::new(&gw);
    op.login(OPERATOR).await;
    let mut m = Browser::new(&gw);
    m.login(&mallory).await;
    assert_eq!(cell(&op.get("/ui").await.body, "carol", "online"), "offline");

    let stream = reqwest::Client::new()
        .get(format!("{}/messages/stream", gw.url))
        .bearer_auth(&carol)
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), StatusCode::OK);
    let mut seen = false;
    for _ in 0..50 {
        if cell(&op.get("/ui").await.body, "carol", "online") == "online" {
            seen = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(seen, "the operator sees carol's open stream");
    assert_eq!(cell(&m.get("/ui").await.body, "carol", "online"), "offline", "mallory sees only last_seen");
    drop(stream);
    gw.stop().await;
}

#[tokio::test]
async fn bidi_and_control_characters_in_peer_text_are_shown_escaped() {
    for backend in backends() {
        bidi_on(Gateway::start_backend(backend, |_| {}).await).await;
    }
}

async fn bidi_on(gw: Gateway) {
    gw.register("alice").await;
    let mallory = gw.register("mallory").await;
    let (s, t) = gw
        .call(
            reqwest::Method::POST,
            "/threads",
            Some(&mallory),
            Some(serde_json::json!({"thread_name": "plan \u{202E}live"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{t}");
    let uuid = t["thread_uuid"].as_str().unwrap();
    let body = "pay \u{202E}0001\u{202C} now\u{200B}!\u{7}\nline two\tend";
    let id = dm(&gw, &mallory, "alice", body, Some(uuid)).await;
    let mut op = Browser::new(&gw);
    op.login(OPERATOR).await;
    for path in [
        format!("/ui/messages/{id}"),
        format!("/ui/threads/{uuid}"),
        "/ui".into(),
        "/ui/peers/mallory?tab=outbox".into(),
    ] {
        let page = op.get(&path).await;
        assert_eq!(page.status, StatusCode::OK, "{path}");
        let hidden = ['\u{202E}', '\u{202C}', '\u{200B}', '\u{7}'];
        assert!(!page.body.contains(hidden), "{path}: a raw bidi/control character");
        assert!(page.body.contains("pay \\u{202e}0001\\u{202c} now\\u{200b}!\\u{7}"), "{path}: {}", page.body);
    }
    let message = op.get(&format!("/ui/messages/{id}")).await.body;
    assert!(message.contains("\nline two\tend"), "line breaks and tabs stay");
    let thread = op.get(&format!("/ui/threads/{uuid}")).await.body;
    assert!(thread.contains("plan \\u{202e}live"), "the thread name too");

    let live = open_events(gw.url.clone(), op.cookie.clone().unwrap(), "after=0".into()).await;
    let first = tokio::time::timeout(std::time::Duration::from_secs(5), async {
        use futures_util::StreamExt;
        let mut s = live.bytes_stream();
        let mut text = String::new();
        while !text.contains("\"preview\"") {
            text.push_str(&String::from_utf8_lossy(&s.next().await.unwrap().unwrap()));
        }
        text
    })
    .await
    .unwrap();
    assert!(first.contains(r"pay \\u{202e}0001") && !first.contains('\u{202E}'), "the live row too: {first}");
    gw.stop().await;
}

#[tokio::test]
async fn answers_refused_before_routing_carry_the_console_headers_and_thread_ids_are_case_blind() {
    let gw = Gateway::start().await;
    let alice = gw.register("alice").await;
    gw.register("bob").await;
    let raw = reqwest::Client::new();
    for path in ["/ui/search?q=%00", "/ui/compose?to=%00", "/ui/assets/x/app.js%00"] {
        let resp = raw.get(format!("{}{path}", gw.url)).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY, "{path}");
        for h in ["content-security-policy", "x-frame-options", "x-content-type-options", "referrer-policy"] {
            assert!(resp.headers().contains_key(h), "{path}: {h} missing");
        }
        assert_eq!(resp.headers()["cache-control"], "no-store");
    }
    let big = raw
        .post(format!("{}/ui/login", gw.url))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(vec![b'a'; 20 * 1024 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(big.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(big.headers().contains_key("content-security-policy"));
    for path in ["/ui/peers/%ff", "/ui/threads/%C3%28", "/ui/nothing/%ff"] {
        let resp = raw.get(format!("{}{path}", gw.url)).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{path}");
        assert!(resp.headers()["content-type"].to_str().unwrap().starts_with("text/html"), "{path}");
        assert!(resp.text().await.unwrap().contains(r#"data-code="invalid_path""#), "{path}");
    }
    let api = raw.get(format!("{}/messages?x=%00", gw.url)).send().await.unwrap();
    assert!(!api.headers().contains_key("content-security-policy"), "the API's answers are unchanged");

    let (s, t) = gw
        .call(reqwest::Method::POST, "/threads", Some(&alice), Some(serde_json::json!({"thread_name": "case"})))
        .await;
    assert_eq!(s, StatusCode::OK, "{t}");
    let uuid = t["thread_uuid"].as_str().unwrap();
    dm(&gw, &alice, "bob", "in the thread", Some(uuid)).await;
    let mut op = Browser::new(&gw);
    op.login(OPERATOR).await;
    let upper = op.get(&format!("/ui/threads/{}", uuid.to_ascii_uppercase())).await;
    assert_eq!(upper.status, StatusCode::OK, "{}", upper.body);
    assert!(upper.body.contains("in the thread"));
    gw.stop().await;
}
