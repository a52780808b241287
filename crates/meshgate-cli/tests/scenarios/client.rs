//! Client scenarios, run against every gateway (see reference_client.rs
//! and meshgate_client.rs). Each takes a `Gateway` and branches on its
//! `flavor` only where meshgate behaves better on purpose.

#![allow(dead_code)]

use crate::common::{free_port, Flavor, Gateway};
use meshgate_client::{Client, Error, FetchOptions, Kind, RegisterOptions, SendOptions};
use serde_json::json;

/// Registers `node` with the shared token and returns a client that uses
/// the per-peer token minted for it.
async fn registered(gw: &Gateway, node: &str) -> Client {
    let client = gw.client(node);
    let options = RegisterOptions::new().url(format!("http://{node}:8787")).capability("runtime", "test");
    let response = client.register(options).await.expect("register");
    assert_eq!(response.status, "registered");
    match response.peer_token {
        Some(token) => client.set_token(token, format!("per-peer token of {node}")),
        None => assert_eq!(response.token_status, "existing"),
    }
    client
}

/// Every endpoint the client wraps, end to end.
pub async fn round_trip(gw: &Gateway) {
    let lab = registered(gw, "lab-ovh").await;
    let drop = registered(gw, "droplet").await;
    assert_eq!(lab.health().await.unwrap().status, "ok");

    let names: Vec<String> = lab.list_peers().await.unwrap().into_iter().map(|p| p.name).collect();
    assert!(names.contains(&"lab-ovh".to_owned()) && names.contains(&"droplet".to_owned()), "{names:?}");
    assert_eq!(lab.peer("droplet").await.unwrap().capabilities["runtime"], "test");
    assert!(lab.peer("nobody-here").await.unwrap_err().is_not_found());

    // The built-in alias resolves before the POST.
    let sent = lab.send("drop", Kind::Question, "ping?", SendOptions::new().task("42")).await.unwrap();
    assert_eq!(sent.to_node, "droplet");
    assert_eq!(sent.from_node, "lab-ovh");
    assert_eq!(sent.resolved_from.as_deref(), Some("drop"));

    // Idempotent retry returns the original.
    let options = SendOptions::new().idempotency_key("k-1");
    let first = lab.send("droplet", Kind::Fyi, "once", options.clone()).await.unwrap();
    let again = lab.send("droplet", Kind::Fyi, "once", options.clone()).await.unwrap();
    assert_eq!(first.id, again.id);
    let conflict = lab.send("droplet", Kind::Fyi, "changed", options).await.unwrap_err();
    assert!(matches!(conflict, Error::Gateway { status: 409, .. }), "{conflict:?}");

    let inbox = drop.fetch(FetchOptions::unread().limit(10)).await.unwrap();
    let ping = inbox.iter().find(|m| m.id == sent.id).expect("ping in inbox");
    assert_eq!(ping.content, "ping?");
    assert_eq!(ping.kind, Kind::Question);
    assert_eq!(ping.related_task_id.as_deref(), Some("42"));

    // Bulk read falls back to one request per id on the reference.
    let marked = drop.mark_read_many(&[sent.id, 999_999]).await.unwrap();
    assert_eq!(marked.marked.iter().map(|m| m.id).collect::<Vec<_>>(), vec![sent.id]);
    assert_eq!(marked.not_found, vec![999_999]);
    let unread = drop.fetch(FetchOptions::unread().limit(10)).await.unwrap();
    assert!(unread.iter().all(|m| m.id != sent.id));

    // Threads.
    let thread = lab.mint_thread("lab-ovh↔droplet:tests").await.unwrap();
    assert_eq!(lab.mint_thread("lab-ovh↔droplet:tests").await.unwrap().thread_uuid, thread.thread_uuid);
    let in_session = lab.mint_thread_in_session("lab-ovh↔droplet:tests", "sess-7").await.unwrap();
    assert_eq!(in_session.thread_uuid, thread.thread_uuid);
    assert_eq!(in_session.session_id.as_deref(), Some("sess-7"));
    lab.send("droplet", Kind::Status, "in thread", SendOptions::new().thread_id(&thread.thread_uuid)).await.unwrap();
    let shown = drop.thread(&thread.thread_uuid).await.unwrap();
    assert_eq!(shown.messages.len(), 1);
    assert_eq!(shown.messages[0].content, "in thread");
    assert!(lab.threads().await.unwrap().iter().any(|t| t.thread_uuid == thread.thread_uuid));

    match gw.flavor {
        Flavor::Reference => {
            // Features the reference lacks degrade clearly.
            let aliases = lab.aliases().await.unwrap();
            assert_eq!(aliases.len(), meshgate_client::KNOWN_ALIASES.len());
            let rotated = lab.rotate_token().await.unwrap_err();
            assert!(matches!(rotated, Error::Unsupported { feature: "token rotation", .. }), "{rotated:?}");
        }
        Flavor::Meshgate => {
            // The gateway's alias table is used, built-ins stay.
            let http = reqwest::Client::new();
            let answer = http
                .post(format!("{}/aliases", gw.url))
                .bearer_auth(&gw.token)
                .json(&json!({"alias": "dl", "canonical": "droplet"}))
                .send()
                .await
                .unwrap();
            assert!(answer.status().is_success(), "{answer:?}");
            let aliases = lab.aliases().await.unwrap();
            assert_eq!(aliases.len(), meshgate_client::KNOWN_ALIASES.len() + 1, "{aliases:?}");
            assert!(aliases.iter().any(|a| a.alias == "dl" && a.canonical == "droplet" && a.created_at.is_some()));
            lab.invalidate_registry().await;
            let sent = lab.send("dl", Kind::Fyi, "via the gateway alias", SendOptions::new()).await.unwrap();
            assert_eq!((sent.to_node.as_str(), sent.resolved_from.as_deref()), ("droplet", Some("dl")));

            // Marking read is idempotent and keeps the first read_at.
            let first = drop.mark_read(sent.id).await.unwrap();
            let again = drop.mark_read(sent.id).await.unwrap();
            assert_eq!(first.read_at, again.read_at);

            // Unknown recipients are refused by the gateway too, not stored.
            let before = gw.all_messages().await.len();
            let refused = http
                .post(format!("{}/messages", gw.url))
                .bearer_auth(&gw.token)
                .json(&json!({"from_node": "lab-ovh", "to_node": "droplt", "kind": "fyi", "content": "hi"}))
                .send()
                .await
                .unwrap();
            assert_eq!(refused.status().as_u16(), 404);
            let body: serde_json::Value = refused.json().await.unwrap();
            assert_eq!(body["error"], "unknown_recipient", "{body}");
            assert_eq!(body["suggestions"][0], "droplet", "{body}");
            assert_eq!(gw.all_messages().await.len(), before);

            // Token rotation works: the old token stops, the new one is used.
            let carol = gw.client("carol");
            let minted =
                carol.register(RegisterOptions::new()).await.unwrap().peer_token.expect("a fresh peer gets a token");
            carol.set_token(minted.clone(), "carol's first token");
            let rotated = carol.rotate_token().await.unwrap();
            assert!(rotated.peer_token.len() > 16 && rotated.peer_token != minted);
            carol.list_peers().await.expect("the client switched to the new token");
            let err = gw.client_with("carol", &minted).list_peers().await.unwrap_err();
            assert!(matches!(err, Error::Auth { status: 401, .. }), "{err:?}");
        }
    }
}

/// A refused token is `Auth`, a dead gateway `Unreachable`, on every path.
pub async fn auth_is_not_unreachable(gw: &Gateway) {
    registered(gw, "droplet").await;
    let bad = gw.client_with("lab-ovh", "definitely-not-the-token");
    bad.invalidate_registry().await;
    let err = bad.list_peers().await.unwrap_err();
    assert!(
        matches!(&err, Error::Auth { status: 401, token_source, .. } if token_source == "test per-peer token"),
        "{err:?}"
    );
    assert!(!err.to_string().contains("definitely-not-the-token"));
    // The registry lookup inside send must report the 401 as such too (the
    // Python client folds it into "unreachable").
    let err = bad.send("droplet", Kind::Fyi, "hi", SendOptions::new()).await.unwrap_err();
    assert!(matches!(err, Error::Auth { status: 401, .. }), "{err:?}");

    let down = Client::builder()
        .gateway(format!("http://127.0.0.1:{}", free_port()))
        .token("whatever-token")
        .node("lab-ovh")
        .build()
        .unwrap();
    assert!(matches!(down.list_peers().await, Err(Error::Unreachable { .. })));
    let err = down.send("droplet", Kind::Fyi, "hi", SendOptions::new()).await.unwrap_err();
    assert!(matches!(err, Error::Unreachable { .. }), "{err:?}");
}

/// Dropping self-sent rows never returns fewer rows than asked.
pub async fn own_inbox_is_filled_despite_own_rows(gw: &Gateway) {
    let lab = registered(gw, "lab-ovh").await;
    let drop = registered(gw, "droplet").await;
    for i in 0..5 {
        drop.send("lab-ovh", Kind::Fyi, &format!("from droplet {i}"), SendOptions::new()).await.unwrap();
    }
    match gw.flavor {
        // Twenty newer rows lab-ovh sent to itself push droplet's out of a
        // naive `limit=5` window.
        Flavor::Reference => {
            for i in 0..20 {
                lab.send("lab-ovh", Kind::Fyi, &format!("note to self {i}"), SendOptions::new()).await.unwrap();
            }
        }
        // meshgate refuses self-DMs, so such rows cannot exist there.
        Flavor::Meshgate => {
            let err = lab.send("lab-ovh", Kind::Fyi, "note to self", SendOptions::new()).await.unwrap_err();
            assert!(matches!(&err, Error::Gateway { status: 400, code, .. } if code == "self_message"), "{err:?}");
        }
    }
    let inbox = lab.fetch(FetchOptions::all().limit(5)).await.unwrap();
    assert_eq!(inbox.len(), 5, "{inbox:?}");
    assert!(inbox.iter().all(|m| m.from_node == "droplet"));
    assert_eq!(inbox[0].content, "from droplet 4", "newest first");
    assert_eq!(lab.fetch(FetchOptions::all().limit(50)).await.unwrap().len(), 5);
    // Someone else's inbox is returned as the gateway gives it...
    let operator = gw.client("droplet");
    assert_eq!(operator.fetch(FetchOptions::all().to("lab-ovh").limit(5)).await.unwrap().len(), 5);
    match gw.flavor {
        Flavor::Reference => assert_eq!(drop.fetch(FetchOptions::all().to("lab-ovh").limit(5)).await.unwrap().len(), 5),
        // ...but meshgate lets a per-peer token read only its own messages.
        Flavor::Meshgate => {
            let err = drop.fetch(FetchOptions::all().to("lab-ovh").limit(5)).await.unwrap_err();
            assert!(matches!(err, Error::Auth { status: 403, .. }), "{err:?}");
        }
    }
}

/// A registry miss re-reads the registry before refusing.
pub async fn late_registration_is_seen_at_once(gw: &Gateway) {
    let lab = registered(gw, "lab-ovh").await;
    let err = lab.send("late-peer", Kind::Fyi, "hello?", SendOptions::new()).await.unwrap_err();
    assert!(matches!(&err, Error::NotInRegistry { name, .. } if name == "late-peer"), "{err:?}");
    registered(gw, "late-peer").await;
    // The cache is fresh but misses; the client re-reads before refusing.
    lab.send("late-peer", Kind::Fyi, "hello", SendOptions::new()).await.unwrap();
}

/// Misaddressed and credential-carrying sends are refused before the POST.
pub async fn refusals_never_reach_the_gateway(gw: &Gateway) {
    let lab = registered(gw, "lab-ovh").await;
    registered(gw, "droplet").await;
    let own_token = gw.token.clone();
    let shared = gw.client("lab-ovh");

    let err = lab.send("droplt", Kind::Fyi, "hi", SendOptions::new()).await.unwrap_err();
    assert!(matches!(&err, Error::NotInRegistry { suggestions, .. } if suggestions == &["droplet"]), "{err:?}");
    let err = lab.send("Droplet", Kind::Fyi, "hi", SendOptions::new()).await.unwrap_err();
    assert!(matches!(err, Error::InvalidName(_)), "{err:?}");
    let secret = format!("here: ghp_{}", "Ab1".repeat(12));
    let err = lab.send("droplet", Kind::Fyi, &secret, SendOptions::new()).await.unwrap_err();
    assert!(matches!(&err, Error::SecretDetected { line: 1, column: 7, .. }), "{err:?}");
    assert!(!err.to_string().contains("ghp_"));
    let leak = format!("my token is\n{own_token}");
    let err = shared.send("droplet", Kind::Fyi, &leak, SendOptions::new()).await.unwrap_err();
    assert!(matches!(&err, Error::SecretDetected { line: 2, column: 1, .. }), "{err:?}");
    // The own token is refused even with the escape hatch.
    let err = shared.send("droplet", Kind::Fyi, &leak, SendOptions::new().skip_secret_check(true)).await.unwrap_err();
    assert!(matches!(err, Error::SecretDetected { .. }), "{err:?}");

    assert!(gw.all_messages().await.is_empty(), "a refused send reached the gateway");

    // The escape hatch lets a flagged (non-own) pattern through.
    lab.send("droplet", Kind::Fyi, &secret, SendOptions::new().skip_secret_check(true)).await.unwrap();
    assert_eq!(gw.all_messages().await.len(), 1);
}

/// Long-poll and streaming: meshgate delivers, the reference degrades to
/// `Unsupported` (it answers 400 for `wait`/`after_id`, 404 for the stream).
pub async fn live_delivery(gw: &Gateway) {
    use futures_util::StreamExt;
    use meshgate_client::{StreamStart, WaitOptions};
    use std::time::Duration;

    let lab = registered(gw, "lab-ovh").await;
    let drop = registered(gw, "droplet").await;
    let before = lab.send("droplet", Kind::Fyi, "before", SendOptions::new()).await.unwrap().id;
    let now = drop.latest_id(None).await.unwrap();
    assert_eq!(now, before);
    let short = WaitOptions::new().after(now).timeout(Duration::from_secs(1));
    match gw.flavor {
        Flavor::Reference => {
            let err = drop.wait(short).await.unwrap_err();
            assert!(matches!(err, Error::Unsupported { feature: "long-poll", .. }), "{err:?}");
            let items: Vec<_> = drop.stream(StreamStart::After(0)).await.unwrap().collect().await;
            assert!(matches!(&items[..], [Err(Error::Unsupported { feature: "live streaming", .. })]), "{items:?}");
        }
        Flavor::Meshgate => {
            assert!(drop.wait(short).await.unwrap().is_empty());
            let waiting = drop.wait(WaitOptions::new().after(now).timeout(Duration::from_secs(20)));
            let sending = async {
                tokio::time::sleep(Duration::from_millis(300)).await;
                lab.send("droplet", Kind::Question, "live?", SendOptions::new()).await.unwrap().id
            };
            let (got, id) = tokio::join!(waiting, sending);
            assert_eq!(got.unwrap().iter().map(|m| m.id).collect::<Vec<_>>(), vec![id]);
            let third = lab.send("droplet", Kind::Fyi, "third", SendOptions::new()).await.unwrap().id;
            let streamed: Vec<i64> =
                drop.stream(StreamStart::After(0)).await.unwrap().take(3).map(|m| m.unwrap().id).collect().await;
            assert_eq!(streamed, vec![before, id, third]);
        }
    }
}
