//! The `/ui` console over real HTTP: login with the operator, a peer and a
//! bad token; the session cookie's attributes; no token in any answer;
//! CSRF and cross-origin refusals; expiry; rotate/revoke ending a peer
//! session; a peer session seeing nothing of another pair's DMs by any URL;
//! the bounds (sessions, streams, form size); `--no-ui`. Scenarios that
//! depend on the store (credential events, scoping) run on both backends.

mod common;

use std::time::Duration;

use common::{backends, Gateway, OPERATOR};
use futures_util::StreamExt;
use reqwest::header::{HeaderMap, LOCATION, SET_COOKIE};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// A browser: no redirects followed, one session cookie, every answer kept
/// so a test can check that no token ever appears in one.
struct Browser {
    http: reqwest::Client,
    base: String,
    cookie: Option<String>,
    seen: std::sync::Mutex<Vec<String>>,
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Browser {
    fn new(gw: &Gateway) -> Browser {
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        Browser { http, base: gw.url.clone(), cookie: None, seen: Default::default() }
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Answer {
        let req = match &self.cookie {
            Some(c) => req.header("cookie", format!("meshgate_session={c}")),
            None => req,
        };
        let resp = req.send().await.unwrap();
        let (status, headers) = (resp.status(), resp.headers().clone());
        let body = resp.text().await.unwrap();
        let mut seen = self.seen.lock().unwrap();
        seen.push(body.clone());
        for v in headers.get_all(SET_COOKIE) {
            seen.push(v.to_str().unwrap().to_owned());
        }
        Answer { status, headers, body }
    }

    async fn get(&self, path: &str) -> Answer {
        self.send(self.http.get(format!("{}{path}", self.base))).await
    }

    async fn post(&self, path: &str, form: &[(&str, &str)]) -> Answer {
        self.post_with(path, &[], form).await
    }

    /// A form POST with extra request `headers`.
    async fn post_with(&self, path: &str, headers: &[(&str, &str)], form: &[(&str, &str)]) -> Answer {
        let mut req = self.http.post(format!("{}{path}", self.base)).form(form);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        self.send(req).await
    }

    /// Logs in with `token`; keeps the cookie on success.
    async fn login(&mut self, token: &str) -> Answer {
        let a = self.post("/ui/login", &[("token", token)]).await;
        if let Some(c) = session_cookie(&a.headers) {
            self.cookie = Some(c);
        }
        a
    }

    /// The CSRF token of the logout form on the overview.
    async fn csrf(&self) -> String {
        let a = self.get("/ui").await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);
        attr_after(&a.body, "name=\"csrf\" value=\"").expect("a CSRF field on the page")
    }

    /// Whether any answer so far contained `secret`.
    fn ever_showed(&self, secret: &str) -> bool {
        self.seen.lock().unwrap().iter().any(|b| b.contains(secret))
    }
}

fn session_cookie(headers: &HeaderMap) -> Option<String> {
    let v = headers.get(SET_COOKIE)?.to_str().ok()?;
    let value = v.split(';').next()?.strip_prefix("meshgate_session=")?;
    Some(value.to_owned()).filter(|v| !v.is_empty())
}

fn attr_after(body: &str, prefix: &str) -> Option<String> {
    let start = body.find(prefix)? + prefix.len();
    Some(body[start..].split('"').next()?.to_owned())
}

fn redirects_to_login(a: &Answer) -> bool {
    a.status == StatusCode::SEE_OTHER && a.headers.get(LOCATION).is_some_and(|l| l == "/ui/login")
}

async fn dm(gw: &Gateway, token: &str, to: &str, content: &str, thread: Option<&str>) -> i64 {
    let body = json!({"to_node": to, "kind": "fyi", "content": content, "thread_id": thread});
    let (s, v) = gw.call(Method::POST, "/messages", Some(token), Some(body)).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v["id"].as_i64().unwrap()
}

/// Opens `/ui/events?QUERY` with session `cookie` (owns its arguments so a
/// task can run it).
async fn open_events(gw_url: String, cookie: String, query: String) -> reqwest::Response {
    let resp = reqwest::Client::new()
        .get(format!("{gw_url}/ui/events?{query}"))
        .header("cookie", format!("meshgate_session={cookie}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    resp
}

/// Reads `/ui/events` with `cookie` until event `until` arrives; returns
/// every id seen.
async fn event_ids(gw_url: &str, cookie: &str, after: i64, until: i64) -> Vec<i64> {
    let resp = open_events(gw_url.to_owned(), cookie.to_owned(), format!("after={after}")).await;
    let mut body = resp.bytes_stream();
    let mut ids = Vec::new();
    let mut text = String::new();
    let read = async {
        while let Some(chunk) = body.next().await {
            text.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
            while let Some(end) = text.find("\n\n") {
                let event: String = text.drain(..end + 2).collect();
                if let Some(id) = event.lines().find_map(|l| l.strip_prefix("id: ")) {
                    ids.push(id.parse::<i64>().unwrap());
                }
            }
            if ids.contains(&until) {
                return;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), read).await.expect("the awaited event arrives");
    ids
}

#[tokio::test]
async fn operator_and_peer_logins_get_a_strict_cookie_and_a_bad_token_gets_the_form_again() {
    let gw = Gateway::start().await;
    let alice = gw.register("alice").await;
    let _bob = gw.register("bob").await;
    let mut b = Browser::new(&gw);

    assert!(redirects_to_login(&b.get("/ui").await), "no session: the login page");
    let form = b.get("/ui/login").await;
    assert_eq!(form.status, StatusCode::OK);
    assert!(form.body.contains(r#"type="password" name="token" autocomplete="off""#), "{}", form.body);
    let csp = form.headers.get("content-security-policy").unwrap().to_str().unwrap();
    assert!(csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'") && !csp.contains("unsafe"));
    assert_eq!(form.headers.get("x-frame-options").unwrap(), "DENY");
    assert_eq!(form.headers.get("referrer-policy").unwrap(), "no-referrer");
    assert_eq!(form.headers.get("cache-control").unwrap(), "no-store");

    let bad = b.login("not-a-token").await;
    assert_eq!(bad.status, StatusCode::UNAUTHORIZED);
    assert!(bad.headers.get(SET_COOKIE).is_none() && bad.body.contains("data-testid=\"login-error\""));
    assert!(!bad.body.contains("not-a-token"), "a refused token is never echoed");

    let ok = b.login(OPERATOR).await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER);
    let cookie = ok.headers.get(SET_COOKIE).unwrap().to_str().unwrap();
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/ui"] {
        assert!(cookie.contains(attr), "{attr} missing in {cookie}");
    }
    assert!(!cookie.contains("Secure"), "plain HTTP: no Secure attribute (the browser would drop the cookie)");
    assert_eq!(b.cookie.as_ref().unwrap().len(), 43, "256 random bits, base64url");
    let overview = b.get("/ui").await;
    assert_eq!(overview.status, StatusCode::OK);
    assert!(overview.body.contains(r#"data-testid="whoami">operator"#));
    assert!(overview.body.contains(r#"data-peer="alice""#) && overview.body.contains(r#"data-peer="bob""#));

    let before = b.cookie.clone().unwrap();
    b.login(OPERATOR).await;
    assert_ne!(b.cookie.as_deref(), Some(before.as_str()), "a new id at every login");
    let stale = Browser { cookie: Some(before), ..Browser::new(&gw) };
    assert!(redirects_to_login(&stale.get("/ui").await), "logging in again ends the previous session");

    let mut p = Browser::new(&gw);
    assert_eq!(p.login(&alice).await.status, StatusCode::SEE_OTHER);
    let mine = p.get("/ui").await;
    assert!(mine.body.contains(r#"data-testid="whoami">peer alice"#), "{}", mine.body);

    for browser in [&b, &p] {
        assert!(!browser.ever_showed(OPERATOR) && !browser.ever_showed(&alice), "a token appeared in an answer");
    }
}

#[tokio::test]
async fn pages_show_dms_escaped_with_their_ladder_and_cut_long_bodies() {
    let gw = Gateway::start().await;
    let alice = gw.register("alice").await;
    let _bob = gw.register("bob").await;
    let thread = uuid::Uuid::new_v4().to_string();
    let id = dm(&gw, &alice, "bob", "<script>alert(1)</script> hi", Some(&thread)).await;
    let long = "x".repeat(5000);
    let long_id = dm(&gw, &alice, "bob", &long, None).await;
    let mut b = Browser::new(&gw);
    b.login(OPERATOR).await;

    let overview = b.get("/ui").await.body;
    assert!(overview.contains(&format!(r#"data-message-id="{id}""#)));
    assert!(!overview.contains("<script>alert") && overview.contains("&lt;script&gt;alert(1)"));
    assert!(overview.contains(&format!(r#"data-after="{long_id}""#)), "the live list resumes after the newest");

    let inbox = b.get("/ui/peers/bob?tab=inbox").await;
    assert_eq!(inbox.status, StatusCode::OK);
    assert!(inbox.body.contains(&format!(r#"data-message-id="{id}""#)));
    let outbox = b.get("/ui/peers/bob?tab=outbox").await.body;
    assert!(!outbox.contains(&format!(r#"data-message-id="{id}""#)), "bob sent nothing");
    assert_eq!(b.get("/ui/peers/bob?tab=spam").await.status, StatusCode::BAD_REQUEST);

    let page = b.get(&format!("/ui/messages/{id}")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains(r#"data-testid="ladder""#) && page.body.contains("not yet"));
    assert!(page.body.contains(&format!("/ui/threads/{thread}")));
    let t = b.get(&format!("/ui/threads/{thread}")).await;
    assert_eq!(t.status, StatusCode::OK);
    assert!(t.body.contains(&format!(r#"data-message-id="{id}""#)));

    let cut = b.get(&format!("/ui/messages/{long_id}")).await.body;
    assert!(cut.contains(r#"data-testid="show-all""#) && !cut.contains(&long));
    let full = b.get(&format!("/ui/messages/{long_id}?full=1")).await.body;
    assert!(full.contains(&long) && !full.contains(r#"data-testid="show-all""#));

    // Looking is no delivery: bob's DM is still undelivered.
    let (_, status) = gw.get(&format!("/messages/{id}")).await;
    assert!(status["delivered_at"].is_null(), "console reads peek: {status}");

    assert_eq!(b.get("/ui/no/such/page").await.status, StatusCode::NOT_FOUND);
    let put = b.send(b.http.put(format!("{}/ui/login", b.base))).await;
    assert_eq!(put.status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(put.body.contains("method_not_allowed"), "a page, not a bare status: {:?}", put.body);
    assert_eq!(b.get("/ui/messages/999999").await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn assets_are_versioned_and_cached_and_pages_are_not() {
    let gw = Gateway::start().await;
    let mut b = Browser::new(&gw);
    b.login(OPERATOR).await;
    let page = b.get("/ui").await.body;
    for file in ["style.css", "app.js"] {
        let start = page.find("/ui/assets/").unwrap();
        let version = page[start + "/ui/assets/".len()..].split('/').next().unwrap();
        let a = b.get(&format!("/ui/assets/{version}/{file}")).await;
        assert_eq!(a.status, StatusCode::OK, "{file}");
        assert!(a.headers.get("cache-control").unwrap().to_str().unwrap().contains("immutable"));
        assert_eq!(b.get(&format!("/ui/assets/0000000000000000/{file}")).await.status, StatusCode::NOT_FOUND);
    }
    let js = b
        .get(&format!("/ui/assets/{}/app.js", attr_after(&page, "/ui/assets/").unwrap().split('/').next().unwrap()))
        .await;
    assert!(!js.body.contains("innerHTML"), "data is rendered with textContent only");
}

#[tokio::test]
async fn logout_needs_the_csrf_token_and_a_same_origin_form_and_ends_the_session() {
    let gw = Gateway::start().await;
    let mut b = Browser::new(&gw);
    b.login(OPERATOR).await;
    let csrf = b.csrf().await;

    assert_eq!(b.post("/ui/logout", &[]).await.status, StatusCode::FORBIDDEN, "no CSRF token");
    let wrong = b.post("/ui/logout", &[("csrf", "A".repeat(csrf.len()).as_str())]).await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);
    assert!(wrong.body.contains(r#"data-code="csrf_failed""#));
    let csrf_field = [("csrf", csrf.as_str())];
    let cross = b.post_with("/ui/logout", &[("origin", "http://evil.example")], &csrf_field).await;
    assert_eq!(cross.status, StatusCode::FORBIDDEN, "a foreign Origin");
    let site = b.post_with("/ui/logout", &[("sec-fetch-site", "cross-site")], &csrf_field).await;
    assert_eq!(site.status, StatusCode::FORBIDDEN, "Sec-Fetch-Site: cross-site");
    let behind_proxy = b.base.replacen("http://", "https://", 1);
    let proxied = b.post_with("/ui/logout", &[("origin", behind_proxy.as_str())], &[("csrf", "wrong")]).await;
    assert!(proxied.body.contains(r#"data-code="csrf_failed""#), "same host, https behind a TLS proxy: origin ok");
    let login_cross = b.post_with("/ui/login", &[("origin", "http://evil.example")], &[("token", OPERATOR)]).await;
    assert_eq!(login_cross.status, StatusCode::FORBIDDEN, "a cross-site login is refused too");
    assert_eq!(b.get("/ui").await.status, StatusCode::OK, "the refusals left the session alone");

    let origin = b.base.clone();
    let same_site = [("origin", origin.as_str()), ("sec-fetch-site", "same-origin")];
    let same = b.post_with("/ui/logout", &same_site, &csrf_field).await;
    assert!(redirects_to_login(&same));
    assert!(same.headers.get(SET_COOKIE).unwrap().to_str().unwrap().contains("Max-Age=0"));
    assert!(redirects_to_login(&b.get("/ui").await), "the old cookie no longer works");
}

#[tokio::test]
async fn sessions_expire_when_idle_and_after_their_absolute_lifetime() {
    let gw = Gateway::start_with(|c| {
        c.ui.idle = Duration::from_millis(500);
        c.ui.absolute = Duration::from_millis(2500);
    })
    .await;
    let mut b = Browser::new(&gw);
    b.login(OPERATOR).await;
    let stream = open_events(gw.url.clone(), b.cookie.clone().unwrap(), String::new()).await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(redirects_to_login(&b.get("/ui").await), "idle past the limit");
    let ended = tokio::time::timeout(Duration::from_secs(5), stream.bytes()).await;
    assert!(ended.is_ok(), "an open live list ends with its expired session (streaming is not use)");

    b.login(OPERATOR).await;
    let start = std::time::Instant::now();
    let mut uses = 0;
    while start.elapsed() < Duration::from_millis(1800) {
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(b.get("/ui").await.status, StatusCode::OK, "kept alive by use");
        uses += 1;
    }
    assert!(uses >= 4, "used across several idle periods");
    tokio::time::sleep(Duration::from_millis(2700).saturating_sub(start.elapsed())).await;
    assert!(redirects_to_login(&b.get("/ui").await), "past the absolute lifetime, however busy");
}

#[tokio::test]
async fn rotating_or_revoking_a_peer_token_ends_its_console_sessions() {
    for backend in backends() {
        let gw = Gateway::start_backend(backend, |_| {}).await;
        let alice = gw.register("alice").await;
        gw.register("bob").await;
        let mut b = Browser::new(&gw);
        b.login(&alice).await;
        assert_eq!(b.get("/ui").await.status, StatusCode::OK);
        let cookie = b.cookie.clone().unwrap();
        let url = gw.url.clone();
        let stream = tokio::spawn(async move {
            let resp = open_events(url, cookie, String::new()).await;
            let mut body = resp.bytes_stream();
            while let Some(chunk) = body.next().await {
                if chunk.is_err() {
                    break;
                }
            }
        });
        tokio::time::sleep(Duration::from_millis(200)).await;
        let (s, v) = gw.post("/peers/alice/token", json!({})).await;
        assert_eq!(s, StatusCode::OK, "{backend:?} {v}");
        tokio::time::timeout(Duration::from_secs(10), stream).await.expect("the event stream ends").unwrap();
        assert!(redirects_to_login(&b.get("/ui").await), "{backend:?}: rotated");

        let new = v["peer_token"].as_str().unwrap().to_owned();
        for (method, path, body, what) in [
            (Method::PATCH, "/peers/alice", json!({"enabled": false}), "disabled"),
            (Method::PATCH, "/peers/alice", json!({"enabled": true}), "enabled again: no session to end"),
            (Method::POST, "/peers/alice/revoke", json!({}), "revoked"),
        ] {
            if what.starts_with("enabled") {
                let (s, v) = gw.call(method, path, Some(OPERATOR), Some(body)).await;
                assert_eq!(s, StatusCode::OK, "{v}");
                continue;
            }
            assert_eq!(b.login(&new).await.status, StatusCode::SEE_OTHER, "{backend:?} before {what}");
            assert_eq!(b.get("/ui").await.status, StatusCode::OK);
            let (s, v) = gw.call(method, path, Some(OPERATOR), Some(body)).await;
            assert_eq!(s, StatusCode::OK, "{v}");
            let mut ended = false;
            for _ in 0..50 {
                if redirects_to_login(&b.get("/ui").await) {
                    ended = true;
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            assert!(ended, "{backend:?}: {what}");
        }
        assert_eq!(b.login(&new).await.status, StatusCode::UNAUTHORIZED, "a revoked token cannot log in");
        gw.stop().await;
    }
}

#[tokio::test]
async fn a_peer_session_sees_nothing_of_another_pairs_dms_by_any_url() {
    for backend in backends() {
        let gw = Gateway::start_backend(backend, |_| {}).await;
        let alice = gw.register("alice").await;
        let bob = gw.register("bob").await;
        gw.register("carol").await;
        let thread = uuid::Uuid::new_v4().to_string();
        let secret = "bob tells carol: the launch code is tuesday";
        let theirs = dm(&gw, &bob, "carol", secret, Some(&thread)).await;
        let mine = dm(&gw, &bob, "alice", "hi alice", None).await;
        let mut a = Browser::new(&gw);
        a.login(&alice).await;

        let overview = a.get("/ui").await;
        assert!(overview.body.contains(&format!(r#"data-message-id="{mine}""#)), "{backend:?}");
        assert!(!overview.body.contains(&format!(r#"data-message-id="{theirs}""#)));
        for (path, status) in [
            (format!("/ui/messages/{theirs}"), StatusCode::NOT_FOUND),
            (format!("/ui/threads/{thread}"), StatusCode::NOT_FOUND),
            ("/ui/peers/carol".to_owned(), StatusCode::FORBIDDEN),
            ("/ui/peers/carol?tab=outbox".to_owned(), StatusCode::FORBIDDEN),
            ("/ui/peers/bob?tab=outbox".to_owned(), StatusCode::FORBIDDEN),
        ] {
            assert_eq!(a.get(&path).await.status, status, "{backend:?} {path}");
        }
        let own = a.get("/ui/peers/alice").await;
        assert_eq!(own.status, StatusCode::OK);
        assert!(own.body.contains(&format!(r#"data-message-id="{mine}""#)));

        // Live: a DM of the other pair, then one of alice's; the stream
        // carries only the second.
        let later_theirs = dm(&gw, &carol_token(&gw).await, "bob", secret, None).await;
        let later_mine = dm(&gw, &alice, "bob", "back to you", None).await;
        let cookie = a.cookie.clone().unwrap();
        let seen = event_ids(&gw.url, &cookie, mine, later_mine).await;
        assert_eq!(seen, vec![later_mine], "{backend:?}: only alice's own DM (not {theirs} or {later_theirs})");
        assert!(!a.ever_showed(secret), "{backend:?}: the other pair's body never reached alice's browser");
        assert!(!a.ever_showed(&alice) && !a.ever_showed(&bob));
        gw.stop().await;
    }
}

async fn carol_token(gw: &Gateway) -> String {
    let (s, v) = gw.post("/peers/carol/token", json!({})).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v["peer_token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn the_operator_sees_every_pair_live_in_order_past_one_read_page() {
    let gw = Gateway::start_with(|c| {
        c.send_rate = None;
        c.loop_limit = None;
    })
    .await;
    let alice = gw.register("alice").await;
    let bob = gw.register("bob").await;
    gw.register("carol").await;
    let mut b = Browser::new(&gw);
    b.login(OPERATOR).await;
    let cookie = b.cookie.clone().unwrap();
    let mut sent = Vec::new();
    for i in 0..130 {
        let (from, to) = if i % 2 == 0 { (&alice, "carol") } else { (&bob, "carol") };
        sent.push(dm(&gw, from, to, &format!("dm {i}"), None).await);
    }
    assert_eq!(event_ids(&gw.url, &cookie, 0, *sent.last().unwrap()).await, sent, "every DM once, in order");
}

#[tokio::test]
async fn hostile_input_stays_bounded_sessions_streams_forms_and_failed_logins() {
    let gw = Gateway::start_with(|c| {
        c.ui.max_sessions = 3;
        c.limit_loopback = true;
        c.auth_failures_per_minute = 5;
    })
    .await;
    // Many logins: the table holds 3; the oldest are ended.
    let mut first = Browser::new(&gw);
    first.login(OPERATOR).await;
    let mut later = Vec::new();
    for _ in 0..10 {
        let mut b = Browser::new(&gw);
        assert_eq!(b.login(OPERATOR).await.status, StatusCode::SEE_OTHER);
        later.push(b);
    }
    assert!(redirects_to_login(&first.get("/ui").await), "the oldest session was evicted");
    assert_eq!(later.last().unwrap().get("/ui").await.status, StatusCode::OK);
    let live = futures_util::future::join_all(later.iter().map(|b| b.get("/ui"))).await;
    assert_eq!(live.iter().filter(|a| a.status == StatusCode::OK).count(), 3);

    // Many streams of one session: at most 2; a third ends the first.
    let b = later.last().unwrap();
    let cookie = b.cookie.clone().unwrap();
    let s1 = open_events(gw.url.clone(), cookie.clone(), String::new()).await;
    let _s2 = open_events(gw.url.clone(), cookie.clone(), String::new()).await;
    let _s3 = open_events(gw.url.clone(), cookie.clone(), String::new()).await;
    let drained = tokio::time::timeout(Duration::from_secs(5), s1.bytes()).await;
    assert!(drained.is_ok(), "the oldest of three streams ended");

    // A huge form.
    let huge = "t".repeat(200 * 1024);
    let a = b.post("/ui/login", &[("token", huge.as_str())]).await;
    assert_eq!(a.status, StatusCode::PAYLOAD_TOO_LARGE);

    // Failed logins go through the auth-failure limiter.
    let mut m = Browser::new(&gw);
    let mut statuses = Vec::new();
    for _ in 0..8 {
        statuses.push(m.login("wrong-token").await.status);
    }
    assert_eq!(statuses[0], StatusCode::UNAUTHORIZED);
    assert_eq!(*statuses.last().unwrap(), StatusCode::TOO_MANY_REQUESTS, "{statuses:?}");
    assert_eq!(m.login(OPERATOR).await.status, StatusCode::SEE_OTHER, "a valid token is never refused");
}

#[tokio::test]
async fn no_ui_leaves_ui_a_plain_json_404() {
    let gw = Gateway::start_with(|c| c.ui.enabled = false).await;
    for path in ["/ui", "/ui/login", "/ui/events"] {
        let resp = reqwest::get(format!("{}{path}", gw.url)).await.unwrap();
        assert_eq!(resp.status(), StatusCode::NOT_FOUND, "{path}");
        let v: Value = resp.json().await.unwrap();
        assert_eq!(v["error"], "no_route", "{path}");
    }
    let resp = reqwest::Client::new().post(format!("{}/ui/login", gw.url)).form(&[("token", OPERATOR)]).send().await;
    assert!(resp.unwrap().status().is_client_error());
}

/// The text of cell `testid` in the overview row of `peer`.
fn cell(page: &str, peer: &str, testid: &str) -> String {
    let row = &page[page.find(&format!(r#"data-peer="{peer}""#)).unwrap()..];
    let row = &row[..row.find("</tr>").unwrap()];
    let at = row.find(&format!(r#"data-testid="{testid}">"#)).unwrap();
    let text = &row[at..];
    let text = &text[text.find('>').unwrap() + 1..text.find("</td>").unwrap()];
    // Drop an inner span, if any.
    let mut out = String::new();
    let mut tag = false;
    for c in text.chars() {
        match c {
            '<' => tag = true,
            '>' => tag = false,
            c if !tag => out.push(c),
            _ => {}
        }
    }
    out
}

#[tokio::test]
async fn the_overview_shows_who_is_watching_and_unread_and_owed_counts_scoped_to_the_session() {
    let gw = Gateway::start_with(|c| c.ui.online_window = Duration::ZERO).await;
    let alice = gw.register("alice").await;
    let bob = gw.register("bob").await;
    let body = json!({"to_node": "bob", "kind": "question", "content": "ready?"});
    let (s, v) = gw.call(Method::POST, "/messages", Some(&alice), Some(body)).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    dm(&gw, &alice, "bob", "fyi too", None).await;

    let mut op = Browser::new(&gw);
    op.login(OPERATOR).await;
    let page = op.get("/ui").await.body;
    assert_eq!(cell(&page, "bob", "online"), "offline", "no watcher, window 0");
    assert_eq!((cell(&page, "bob", "unread"), cell(&page, "bob", "owed")), ("2".into(), "1".into()));
    assert_eq!((cell(&page, "alice", "unread"), cell(&page, "alice", "owed")), ("0".into(), "0".into()));

    // bob opens his SSE stream: online while it is open.
    let stream = gw.http.get(format!("{}/messages/stream", gw.url)).bearer_auth(&bob).send().await.unwrap();
    assert_eq!(stream.status(), StatusCode::OK);
    let page = op.get("/ui").await.body;
    assert_eq!((cell(&page, "bob", "online"), cell(&page, "alice", "online")), ("online".into(), "offline".into()));
    drop(stream);

    // A peer session sees its own counts only.
    let mut a = Browser::new(&gw);
    a.login(&alice).await;
    let page = a.get("/ui").await.body;
    assert_eq!(cell(&page, "alice", "unread"), "0");
    assert_eq!((cell(&page, "bob", "unread"), cell(&page, "bob", "owed")), ("—".into(), "—".into()));
    let mut b = Browser::new(&gw);
    b.login(&bob).await;
    let page = b.get("/ui").await.body;
    assert_eq!((cell(&page, "bob", "unread"), cell(&page, "bob", "owed")), ("2".into(), "1".into()));
    assert!(!page.contains(r#"<a href="/ui/peers/alice""#), "no link to a page bob may not open");
}
