//! `meshgate search` and the client library's `search`, against
//! `meshgate serve` (a child process): hits for the parties, nothing for a
//! stranger, a 400 for a query that cannot be searched, and no emphasis
//! when stdout is not a terminal.

use crate::common;
use crate::scenarios::cli as scenarios;

use common::meshgate_gateway;
use meshgate_client::{Kind, SearchOptions, SendOptions};
use scenarios::{ok, run};
use serde_json::Value;

#[tokio::test]
async fn search_finds_own_dms_and_nothing_of_others() {
    let mut gw = meshgate_gateway().await;
    for name in ["alice", "bob", "carol"] {
        ok(&gw, &["register", "--as", name]).await;
    }
    ok(&gw, &["send", "bob", "--as", "alice", "--kind", "fyi", "please deploy the canary"]).await;
    ok(&gw, &["send", "alice", "--as", "bob", "--kind", "question", "deploy to prod as well?"]).await;

    let human = ok(&gw, &["search", "deploy", "--as", "alice"]).await;
    assert_eq!(human.lines().filter(|l| l.starts_with("--- #")).count(), 2, "{human}");
    assert!(human.contains("please deploy the canary") && !human.contains('\x1b'), "plain when piped: {human:?}");
    let json: Value =
        serde_json::from_str(&ok(&gw, &["search", "deploy", "--as", "bob", "--kind", "question", "--json"]).await)
            .unwrap();
    assert_eq!(json["hits"].as_array().unwrap().len(), 1, "{json}");
    assert_eq!(json["hits"][0]["message"]["content"], "deploy to prod as well?");
    assert!(json["hits"][0]["snippet"].as_array().unwrap().iter().any(|s| s["hit"] == true));

    // A stranger: nothing, exit 1, also when naming the parties.
    let (code, out, _) = run(&gw, &["search", "deploy", "--as", "carol", "--from", "alice", "--to", "bob"], None).await;
    assert_eq!((code, out.trim()), (1, ""));
    // A query the gateway cannot search: refused (exit 1), saying why.
    let (code, _, err) = run(&gw, &["search", "\"unclosed", "--as", "alice"], None).await;
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("never closed"), "{err}");

    // The client library, with options.
    let alice = gw.client("alice");
    alice.send("bob", Kind::Fyi, "canary deploy green", SendOptions::new()).await.unwrap();
    let found = alice
        .search("deploy canary", SearchOptions { to: Some("bob".into()), limit: Some(1), ..Default::default() })
        .await
        .unwrap();
    assert_eq!((found.hits.len(), found.limit, found.truncated), (1, 1, false));
    assert!(found.hits[0].snippet_text(("[", "]")).contains("[canary]"));
    gw.stop().await;
}
