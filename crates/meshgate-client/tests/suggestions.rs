//! "Did you mean": the client (refusing before the POST) and the gateway
//! (404 `unknown_recipient`) suggest the same names for the same typo.

use std::sync::Arc;

use meshgate_client::{Client, Error, Kind, SendOptions};
use meshgate_server::{Config, OperatorToken};
use meshgate_store_sqlite::{SqliteOptions, SqliteStore};
use serde_json::{json, Value};

const OPERATOR: &str = "operator-suggest-test-token-0123456789";

async fn operator(http: &reqwest::Client, method: reqwest::Method, url: String, body: Value) -> (u16, Value) {
    let response = http.request(method, url).bearer_auth(OPERATOR).json(&body).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_and_gateway_suggest_the_same_names() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("meshgate.db"), SqliteOptions::default()).unwrap();
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(meshgate_server::serve(
        listener,
        Arc::new(store),
        Config::new(OperatorToken::new(OPERATOR)),
        async move {
            let _ = stopped.await;
        },
    ));

    let http = reqwest::Client::new();
    let peers = ["alpha", "droplet", "lab-ovh", "lab-gpu", "node-1", "node-2", "node-3", "node-4", "node-5", "node-6"];
    for name in peers.iter().chain(&["lab-old"]) {
        let (status, body) = operator(
            &http,
            reqwest::Method::POST,
            format!("{url}/peers/register"),
            json!({"name": name, "url": "http://x.invalid:1"}),
        )
        .await;
        assert_eq!(status, 200, "{body}");
    }
    // A disabled peer is suggested by neither side; nor is an alias of it.
    let (status, body) =
        operator(&http, reqwest::Method::PATCH, format!("{url}/peers/lab-old"), json!({"enabled": false})).await;
    assert_eq!(status, 200, "{body}");
    // The client also knows its built-in aliases: the gateway gets them too,
    // so both sides work from the same alias table.
    let aliases = [("gpu-box", "lab-gpu"), ("old-box", "lab-old"), ("dropper", "droplet")];
    // (The gateway refuses an alias of an unregistered peer; so does the
    // client's suggestion list.)
    let built_in = meshgate_client::KNOWN_ALIASES.iter().filter(|(_, canonical)| peers.contains(canonical));
    for &(alias, canonical) in aliases.iter().chain(built_in) {
        let (status, body) = operator(
            &http,
            reqwest::Method::POST,
            format!("{url}/aliases"),
            json!({"alias": alias, "canonical": canonical}),
        )
        .await;
        assert_eq!(status, 200, "{body}");
    }

    let client = Client::builder().gateway(&url).token(OPERATOR).node("alpha").build().unwrap();
    let typos = ["droplt", "drp", "gpu-bx", "old-bx", "lab-x", "lab-ol", "lab-claud", "node", "nod-7", "wrk", "ws-l"];
    let mut non_empty = 0;
    for typo in typos {
        let from_client = match client.send(typo, Kind::Fyi, "hi", SendOptions::new()).await {
            Err(Error::NotInRegistry { suggestions, .. }) => suggestions,
            other => panic!("{typo}: the client should refuse before the POST: {other:?}"),
        };
        let (status, body) = operator(
            &http,
            reqwest::Method::POST,
            format!("{url}/messages"),
            json!({"from_node": "alpha", "to_node": typo, "kind": "fyi", "content": "hi"}),
        )
        .await;
        assert_eq!((status, body["error"].as_str()), (404, Some("unknown_recipient")), "{typo}: {body}");
        let from_gateway: Vec<String> = serde_json::from_value(body["suggestions"].clone()).unwrap_or_default();
        assert_eq!(from_client, from_gateway, "{typo}");
        assert!(!from_client.iter().any(|s| s == "lab-old"), "{typo}: a disabled peer was suggested");
        non_empty += usize::from(!from_client.is_empty());
    }
    assert!(non_empty >= 7, "most typos have suggestions ({non_empty})");
    // Spot checks: aliases lead to canonical names, at most five names.
    let refused = client.send("drp", Kind::Fyi, "hi", SendOptions::new()).await.unwrap_err();
    assert!(matches!(&refused, Error::NotInRegistry { suggestions, .. } if suggestions == &["droplet"]), "{refused:?}");
    let refused = client.send("node", Kind::Fyi, "hi", SendOptions::new()).await.unwrap_err();
    assert!(matches!(&refused, Error::NotInRegistry { suggestions, .. } if suggestions.len() == 5), "{refused:?}");

    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
}
