//! The `/ui` console's sessions over real HTTP: login with the operator, a
//! peer and a bad token; the session cookie's attributes; no token in any
//! answer; CSRF and cross-origin refusals; expiry; rotate/revoke/disable
//! ending a peer session; the bounds (sessions, streams, form size, failed
//! logins); `--no-ui`. Pages and scoping: `console_pages.rs`.

use crate::browser;
use crate::common;

use std::time::Duration;

use browser::*;
use common::{backends, Gateway, OPERATOR};
use futures_util::StreamExt;
use reqwest::header::SET_COOKIE;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

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
