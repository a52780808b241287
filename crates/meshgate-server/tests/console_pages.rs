//! The `/ui` console's pages over real HTTP: escaping, the receipts ladder,
//! no delivery recorded by looking, online state and counts, paging, the
//! live list, and a peer session seeing nothing of another pair's DMs by
//! any URL or event (on both backends).

use crate::browser;
use crate::common;

use std::time::Duration;

use browser::*;
use common::{backends, Gateway, OPERATOR};
use reqwest::{Method, StatusCode};
use serde_json::json;

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
    let nobody = b.get("/ui/peers/nobody").await;
    assert_eq!(nobody.status, StatusCode::NOT_FOUND, "{}", nobody.body);

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

#[tokio::test]
async fn a_peer_page_pages_through_every_dm_once() {
    let gw = Gateway::start_with(|c| c.send_rate = None).await;
    let alice = gw.register("alice").await;
    gw.register("bob").await;
    let mut sent = Vec::new();
    for i in 0..60 {
        sent.push(dm(&gw, &alice, "bob", &format!("dm {i}"), None).await);
    }
    let mut b = Browser::new(&gw);
    b.login(OPERATOR).await;
    let rows = |body: &str| -> Vec<i64> {
        body.split(r#"data-message-id=""#).skip(1).map(|r| r.split('"').next().unwrap().parse().unwrap()).collect()
    };
    let newest = b.get("/ui/peers/bob").await.body;
    let expected: Vec<i64> = sent.iter().rev().take(50).copied().collect();
    assert_eq!(rows(&newest), expected, "the first page: the newest 50, newest first");
    assert!(!newest.contains(r#"data-testid="page-next""#));

    let mut seen = Vec::new();
    let mut next = Some("/ui/peers/bob?tab=inbox&after=0".to_owned());
    while let Some(path) = next.take() {
        let page = b.get(&path).await.body;
        seen.extend(rows(&page));
        next = page.find(r#"data-testid="page-next""#).map(|at| {
            let start = page[..at].rfind(r#"href=""#).unwrap() + r#"href=""#.len();
            page[start..].split('"').next().unwrap().replace("&amp;", "&")
        });
        assert!(seen.len() <= sent.len(), "no page repeats a DM");
    }
    assert_eq!(seen, sent, "from the beginning, every DM once, oldest first");
}

#[tokio::test]
async fn with_required_peer_tokens_an_operator_session_sees_the_peers_but_not_the_messages() {
    let gw = Gateway::start_with(|c| c.require_peer_tokens = true).await;
    let alice = gw.register("alice").await;
    gw.register("bob").await;
    let id = dm(&gw, &alice, "bob", "only for peers", None).await;
    let mut b = Browser::new(&gw);
    b.login(OPERATOR).await;
    let page = b.get("/ui").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains(r#"data-peer="alice""#) && page.body.contains(r#"data-code="peer_token_required""#));
    assert!(!page.body.contains(&format!(r#"data-message-id="{id}""#)) && !page.body.contains("only for peers"));
    assert_eq!(b.get("/ui/peers/bob").await.status, StatusCode::FORBIDDEN);
    assert_eq!(b.get(&format!("/ui/messages/{id}")).await.status, StatusCode::FORBIDDEN);
    assert_eq!(cell(&page.body, "bob", "owed"), "—", "no owed count either");
}
