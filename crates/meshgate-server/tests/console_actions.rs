//! The console's action pages over real HTTP: compose (the operator as
//! `overseer`), aliases, tokens (rotate/revoke after a confirmation, the new
//! token shown once), search; CSRF on every write, the operator-only pages
//! refusing a peer session, hostile input. The browser side is tests/ui.

use crate::browser;
use crate::common;

use browser::{Answer, Browser};
use common::{backends, Gateway, OPERATOR};
use reqwest::header::LOCATION;
use reqwest::StatusCode;
use serde_json::Value;

/// A console session of `token`.
async fn signed_in(gw: &Gateway, token: &str) -> Browser {
    let mut b = Browser::new(gw);
    assert_eq!(b.login(token).await.status, StatusCode::SEE_OTHER);
    b
}

fn location(page: &Answer) -> Option<&str> {
    page.headers.get(LOCATION).map(|l| l.to_str().unwrap())
}

fn code(page: &Answer) -> Option<&str> {
    let at = page.body.find("data-code=\"")? + "data-code=\"".len();
    page.body[at..].split('"').next()
}

#[tokio::test]
async fn every_write_needs_the_csrf_token_and_changes_nothing_without_it() {
    let gw = Gateway::start().await;
    let bob = gw.register("bob").await;
    let ui = signed_in(&gw, OPERATOR).await;
    let writes: [(&str, &[(&str, &str)]); 5] = [
        ("/ui/compose", &[("to", "bob"), ("kind", "fyi"), ("content", "forged")]),
        ("/ui/aliases", &[("alias", "robert"), ("canonical", "bob")]),
        ("/ui/aliases/delete", &[("alias", "robert")]),
        ("/ui/tokens/bob/rotate", &[]),
        ("/ui/tokens/bob/revoke", &[]),
    ];
    for (path, form) in writes {
        let mut with_wrong = form.to_vec();
        with_wrong.push(("csrf", "wrong"));
        for f in [form.to_vec(), with_wrong] {
            let p = ui.post(path, &f).await;
            assert_eq!((p.status, code(&p)), (StatusCode::FORBIDDEN, Some("csrf_failed")), "{path}");
        }
    }
    assert!(gw.inbox("bob").await.is_empty(), "no DM was sent");
    assert_eq!(gw.get("/aliases").await.1["aliases"], Value::Array(vec![]), "no alias was made");
    let (s, _) = gw.call(reqwest::Method::GET, "/peers", Some(&bob), None).await;
    assert_eq!(s, StatusCode::OK, "bob's token was neither rotated nor revoked");
}

#[tokio::test]
async fn a_peer_session_gets_403_from_the_operator_pages() {
    let gw = Gateway::start().await;
    let carol = gw.register("carol").await;
    gw.register("dave").await;
    let ui = signed_in(&gw, &carol).await;
    let csrf = ui.csrf().await;
    assert!(!ui.get("/ui").await.body.contains("href=\"/ui/tokens\""), "no link to what it may not use");
    for path in ["/ui/aliases", "/ui/tokens", "/ui/tokens/dave/rotate", "/ui/tokens/carol/revoke"] {
        let p = ui.get(path).await;
        assert_eq!((p.status, code(&p)), (StatusCode::FORBIDDEN, Some("operator_only")), "{path}");
    }
    let form = [("csrf", csrf.as_str()), ("alias", "dan"), ("canonical", "dave")];
    for path in ["/ui/aliases", "/ui/aliases/delete", "/ui/tokens/dave/rotate", "/ui/tokens/dave/revoke"] {
        let p = ui.post(path, &form).await;
        assert_eq!((p.status, code(&p)), (StatusCode::FORBIDDEN, Some("operator_only")), "{path}");
    }
    assert_eq!(gw.get("/aliases").await.1["aliases"], Value::Array(vec![]));
}

#[tokio::test]
async fn the_operator_composes_as_an_unverified_overseer_registered_once() {
    for backend in backends() {
        let gw = Gateway::start_backend(backend, |_| {}).await;
        let bob = gw.register("bob").await;
        let ui = signed_in(&gw, OPERATOR).await;
        let csrf = ui.csrf().await;
        for n in 0..2 {
            let content = format!("from the console {n} <script>");
            let form = [("csrf", csrf.as_str()), ("to", "bob"), ("kind", "question"), ("content", &content)];
            let p = ui.post("/ui/compose", &form).await;
            assert_eq!(p.status, StatusCode::SEE_OTHER, "{backend:?}: {}", p.body);
            let shown = ui.get(location(&p).unwrap()).await;
            assert!(shown.body.contains("from the console") && shown.body.contains("&lt;script&gt;"));
        }
        let inbox = gw.inbox("bob").await;
        assert_eq!(inbox.len(), 2, "{backend:?}");
        for m in &inbox {
            assert_eq!(m["from_node"], "overseer");
            assert_ne!(m.get("sender_verified"), Some(&Value::Bool(true)), "an operator send is not verified");
        }
        let peers = gw.get("/peers").await.1;
        let names: Vec<&str> = peers["peers"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
        assert_eq!(names.iter().filter(|n| **n == "overseer").count(), 1, "{backend:?}: {names:?}");

        // A peer sends as itself, verified; a refusal keeps the draft and names the code.
        let peer = signed_in(&gw, &bob).await;
        let csrf = peer.csrf().await;
        let ok = peer
            .post("/ui/compose", &[("csrf", &csrf), ("to", "overseer"), ("kind", "fyi"), ("content", "reply")])
            .await;
        assert_eq!(ok.status, StatusCode::SEE_OTHER);
        let got = gw.inbox("overseer").await;
        assert_eq!((got[0]["from_node"].as_str(), got[0]["sender_verified"].as_bool()), (Some("bob"), Some(true)));
        let bad = peer
            .post("/ui/compose", &[("csrf", &csrf), ("to", "nobody"), ("kind", "fyi"), ("content", "kept draft")])
            .await;
        assert_eq!((bad.status, code(&bad)), (StatusCode::NOT_FOUND, Some("unknown_recipient")));
        assert!(bad.body.contains("kept draft"));
    }
}

#[tokio::test]
async fn a_rotated_token_is_shown_once_after_a_confirmation() {
    for backend in backends() {
        let gw = Gateway::start_backend(backend, |_| {}).await;
        let erin = gw.register("erin").await;
        let ui = signed_in(&gw, OPERATOR).await;
        let csrf = ui.csrf().await;
        let confirm = ui.get("/ui/tokens/erin/rotate").await;
        assert_eq!(confirm.status, StatusCode::OK);
        assert!(confirm.body.contains("method=\"post\""), "the GET only asks");
        assert_eq!(gw.call(reqwest::Method::GET, "/peers", Some(&erin), None).await.0, StatusCode::OK);

        let done = ui.post("/ui/tokens/erin/rotate", &[("csrf", &csrf)]).await;
        assert_eq!((done.status, location(&done)), (StatusCode::OK, None), "shown here, no redirect");
        let at = done.body.find("data-testid=\"new-token\"").expect("the new token field");
        let before = &done.body[..at];
        let new = before[before.rfind("value=\"").unwrap() + 7..].split('"').next().unwrap().to_owned();
        assert!(new.starts_with("mgp_"), "{new}");
        assert_eq!(gw.call(reqwest::Method::GET, "/peers", Some(&erin), None).await.0, StatusCode::UNAUTHORIZED);
        assert_eq!(gw.call(reqwest::Method::GET, "/peers", Some(&new), None).await.0, StatusCode::OK);
        for path in ["/ui/tokens", "/ui", "/ui/tokens/erin/rotate"] {
            assert!(!ui.get(path).await.body.contains(&new), "{path} shows the token again");
        }

        let revoked = ui.post("/ui/tokens/erin/revoke", &[("csrf", &csrf)]).await;
        assert_eq!(revoked.status, StatusCode::OK);
        assert_eq!(gw.call(reqwest::Method::GET, "/peers", Some(&new), None).await.0, StatusCode::UNAUTHORIZED);
        let unknown = ui.get("/ui/tokens/nobody/rotate").await;
        assert_eq!((unknown.status, code(&unknown)), (StatusCode::NOT_FOUND, Some("unknown_peer")));
        assert_eq!(ui.get("/ui/tokens/erin/delete").await.status, StatusCode::NOT_FOUND);
    }
}

#[tokio::test]
async fn aliases_and_search_through_the_console() {
    let gw = Gateway::start().await;
    let alice = gw.register("alice").await;
    gw.register("bob").await;
    let ui = signed_in(&gw, OPERATOR).await;
    let csrf = ui.csrf().await;
    let add = ui.post("/ui/aliases", &[("csrf", &csrf), ("alias", "robert"), ("canonical", "bob")]).await;
    assert_eq!(location(&add), Some("/ui/aliases"));
    assert!(ui.get("/ui/aliases").await.body.contains("data-alias=\"robert\""));
    let taken = ui.post("/ui/aliases", &[("csrf", &csrf), ("alias", "alice"), ("canonical", "bob")]).await;
    assert_eq!((taken.status, code(&taken)), (StatusCode::CONFLICT, Some("name_taken")));
    let gone = ui.post("/ui/aliases/delete", &[("csrf", &csrf), ("alias", "robert")]).await;
    assert_eq!(location(&gone), Some("/ui/aliases"));
    assert_eq!(gw.get("/aliases").await.1["aliases"], Value::Array(vec![]));

    let (s, _) = gw
        .call(
            reqwest::Method::POST,
            "/messages",
            Some(&alice),
            Some(serde_json::json!({"to_node": "bob", "kind": "fyi", "content": "deploy <b>window</b> tonight"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let hits = ui.get("/ui/search?q=window&from=alice").await;
    assert_eq!(hits.status, StatusCode::OK);
    assert!(hits.body.contains("<mark>window</mark>"), "{}", hits.body);
    assert!(hits.body.contains("&lt;b&gt;"), "the body's markup is escaped");
    let bad = ui.get("/ui/search?q=%22open").await;
    assert_eq!((bad.status, code(&bad)), (StatusCode::BAD_REQUEST, Some("invalid_query")));
    let huge = ui.get(&format!("/ui/search?q={}", "a".repeat(600))).await;
    assert_eq!((huge.status, code(&huge)), (StatusCode::BAD_REQUEST, Some("invalid_query")));
    let big_form = "x".repeat(20_000);
    let p = ui.post("/ui/compose", &[("csrf", &csrf), ("to", "bob"), ("content", &big_form)]).await;
    assert_eq!(p.status, StatusCode::PAYLOAD_TOO_LARGE, "a form is at most 16 KiB");
    // A field given twice is refused, not resolved to the first (hostile review, session 10).
    let p = ui.post("/ui/compose", &[("csrf", &csrf), ("to", "bob"), ("to", "bob"), ("content", "twice")]).await;
    assert_eq!((p.status, code(&p)), (StatusCode::BAD_REQUEST, Some("duplicate_field")));
    assert!(gw.inbox("bob").await.iter().all(|m| m["content"] != "twice"));
    assert!(gw.inbox("bob").await.iter().all(|m| m["content"] != big_form.as_str()));
}

#[tokio::test]
async fn the_recipient_replies_and_marks_read_from_the_message_page_and_nobody_else_can() {
    let gw = Gateway::start().await;
    let bob = gw.register("bob").await;
    let alice = gw.register("alice").await;
    // The operator's first compose registers overseer; bob answers it.
    let ui = signed_in(&gw, OPERATOR).await;
    let csrf = ui.csrf().await;
    let asked =
        ui.post("/ui/compose", &[("csrf", &csrf), ("to", "bob"), ("kind", "question"), ("content", "ok?")]).await;
    assert_eq!(asked.status, StatusCode::SEE_OTHER, "{}", asked.body);
    let answer = browser::dm(&gw, &bob, "overseer", "yes", None).await;
    let to_bob = browser::dm(&gw, &alice, "bob", "for bob only", None).await;

    let page = ui.get(&format!("/ui/messages/{answer}")).await;
    assert!(page.body.contains("data-testid=\"message-reply\"") && page.body.contains("data-testid=\"mark-read\""));
    let reply_link = page.body.split("href=\"/ui/compose?").nth(1).unwrap().split('"').next().unwrap().to_owned();
    assert!(reply_link.contains("to=bob") && reply_link.contains(&format!("in_reply_to={answer}")), "{reply_link}");
    let form = ui.get(&format!("/ui/compose?{}", reply_link.replace("&amp;", "&"))).await;
    assert!(form.body.contains("data-testid=\"compose-in-reply-to\""), "{}", form.body);
    let reply = [
        ("csrf", csrf.as_str()),
        ("to", "bob"),
        ("kind", "fyi"),
        ("in_reply_to", &answer.to_string()),
        ("content", "thanks"),
    ];
    let sent = ui.post("/ui/compose", &reply).await;
    assert_eq!(sent.status, StatusCode::SEE_OTHER, "{}", sent.body);
    let id: i64 = location(&sent).unwrap().rsplit('/').next().unwrap().parse().unwrap();
    assert_eq!(gw.get(&format!("/messages/{id}")).await.1["in_reply_to"], answer);

    // Without the CSRF token nothing is marked; with it the DM is read and the button is gone.
    let url = format!("/ui/messages/{answer}/read");
    assert_eq!(ui.post(&url, &[("csrf", "wrong")]).await.status, StatusCode::FORBIDDEN);
    assert!(gw.get(&format!("/messages/{answer}")).await.1["read_at"].is_null());
    let marked = ui.post(&url, &[("csrf", &csrf)]).await;
    assert_eq!(location(&marked), Some(format!("/ui/messages/{answer}").as_str()));
    assert!(gw.get(&format!("/messages/{answer}")).await.1["read_at"].is_string());
    assert!(!ui.get(&format!("/ui/messages/{answer}")).await.body.contains("data-testid=\"mark-read\""));

    // The operator does not ack for an agent: no buttons, and a forged POST is refused.
    let foreign = ui.get(&format!("/ui/messages/{to_bob}")).await;
    assert!(!foreign.body.contains("mark-read") && !foreign.body.contains("message-reply"));
    let refused = ui.post(&format!("/ui/messages/{to_bob}/read"), &[("csrf", &csrf)]).await;
    assert_eq!((refused.status, code(&refused)), (StatusCode::FORBIDDEN, Some("not_in_inbox")));
    assert!(gw.get(&format!("/messages/{to_bob}")).await.1["read_at"].is_null());
    // A third peer's session cannot mark bob's DM either; bob's own can.
    let carol = gw.register("carol").await;
    let third = signed_in(&gw, &carol).await;
    let stranger = third.post(&format!("/ui/messages/{to_bob}/read"), &[("csrf", &third.csrf().await)]).await;
    assert_ne!(stranger.status, StatusCode::SEE_OTHER);
    assert!(gw.get(&format!("/messages/{to_bob}")).await.1["read_at"].is_null());
    let own = signed_in(&gw, &bob).await;
    assert!(own.get(&format!("/ui/messages/{to_bob}")).await.body.contains("data-testid=\"mark-read\""));
    let done = own.post(&format!("/ui/messages/{to_bob}/read"), &[("csrf", &own.csrf().await)]).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER);
    assert!(gw.get(&format!("/messages/{to_bob}")).await.1["read_at"].is_string());
}

#[tokio::test]
async fn a_credential_refusal_gives_console_advice_and_overseer_is_not_shown_online() {
    let gw = Gateway::start().await;
    let bob = gw.register("bob").await;
    let ui = signed_in(&gw, OPERATOR).await;
    let csrf = ui.csrf().await;
    let ok = ui.post("/ui/compose", &[("csrf", &csrf), ("to", "bob"), ("kind", "fyi"), ("content", "hi")]).await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.body);
    let secret = [("csrf", csrf.as_str()), ("to", "bob"), ("kind", "fyi"), ("content", "key AKIAIOSFODNN7EXAMPLE")];
    let refused = ui.post("/ui/compose", &secret).await;
    assert_eq!(code(&refused), Some("secret_detected"), "{}", refused.body);
    let alert = refused.body.split("data-testid=\"compose-error\"").nth(1).unwrap().split("</p>").next().unwrap();
    assert!(alert.contains("looks like it carries a credential") && alert.contains("console cannot skip"), "{alert}");
    assert!(!alert.contains("skip_secret_check=true") && !alert.contains("PATCH"), "{alert}");
    assert_eq!(gw.inbox("bob").await.len(), 1, "nothing stored");

    // overseer was just "seen" (the operator composed): it is the console, not an online agent.
    for token in [OPERATOR, bob.as_str()] {
        let overview = signed_in(&gw, token).await.get("/ui").await;
        let row = overview.body.split("data-peer=\"overseer\"").nth(1).unwrap().split("</tr>").next().unwrap();
        assert!(row.contains(">console<") && !row.contains(">online<"), "{row}");
    }
}
