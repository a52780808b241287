//! Operator commands with only `MESH_GATEWAY_TOKEN` set (issue #11.8):
//! `peers`, `thread list/show`, `alias list/add/rm`, and token revoke,
//! rotate, guard and rm work without `--as`; commands that act as a peer
//! still need it. Against a real `meshgate serve`.

use crate::common;

use common::{meshgate, meshgate_gateway, operator_ok as ok, operator_run as op};
use serde_json::Value;

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_commands_need_no_identity() {
    let gw = meshgate_gateway().await;
    assert_eq!(json(&ok(&gw, &["peers", "--json"]).await), serde_json::json!([]));
    ok(&gw, &["register", "--as", "bob"]).await;
    ok(&gw, &["register", "--as", "alice"]).await;
    let peers = json(&ok(&gw, &["peers", "--json"]).await);
    assert_eq!(peers.as_array().unwrap().len(), 2);
    assert!(ok(&gw, &["peers"]).await.contains("alice"));

    // Aliases.
    assert!(ok(&gw, &["alias", "add", "bobby", "bob"]).await.contains("bobby -> bob"));
    let aliases = json(&ok(&gw, &["alias", "list", "--json"]).await);
    assert_eq!(aliases[0]["alias"], "bobby");
    let (code, _, stderr) = op(&gw, &["alias", "add", "alice", "bob"]).await;
    assert_eq!(code, 1, "a peer's name cannot become an alias: {stderr}");
    assert!(stderr.contains("namespace"), "{stderr}");
    ok(&gw, &["alias", "rm", "bobby"]).await;
    assert_eq!(json(&ok(&gw, &["alias", "list", "--json"]).await), serde_json::json!([]));

    // Threads: the operator sees every thread.
    let uuid = ok(&gw, &["thread", "new", "ops:deploy"]).await.trim().to_owned();
    let listed = json(&ok(&gw, &["thread", "list", "--json"]).await);
    assert_eq!(listed[0]["thread_uuid"], uuid.as_str());
    let shown = json(&ok(&gw, &["thread", "show", &uuid, "--json"]).await);
    assert_eq!(shown["thread"]["thread_name"], "ops:deploy");

    // Tokens and policies of another peer.
    let guarded = json(&ok(&gw, &["peers", "guard", "bob", "warn", "--json"]).await);
    assert_eq!(guarded["secret_guard"], "warn");
    let (code, stdout, _) = op(&gw, &["peers", "guard", "bob", "default"]).await;
    assert_eq!(code, 0);
    assert!(stdout.contains("gateway default"), "{stdout}");
    let rotated = json(&ok(&gw, &["peers", "rotate", "bob", "--json"]).await);
    assert!(rotated["peer_token"].as_str().unwrap().starts_with("mgp_"));
    ok(&gw, &["peers", "revoke", "bob"]).await;
    let purged = json(&ok(&gw, &["peers", "rm", "bob", "--purge", "--json"]).await);
    assert_eq!((purged["name"].as_str(), purged["peer"].as_bool()), (Some("bob"), Some(true)));
    let names: Vec<String> = json(&ok(&gw, &["peers", "--json"]).await)
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["alice"]);

    // Acting as a peer still needs an identity.
    let (code, _, stderr) = op(&gw, &["send", "alice", "--kind", "fyi", "hello"]).await;
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("no identity"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_any_token_operator_commands_say_what_is_missing() {
    let gw = meshgate_gateway().await;
    let config = gw.dir.path().join("config").display().to_string();
    let (code, _, stderr) =
        meshgate(&["peers"], &[("MESH_GATEWAY_URL", &gw.url), ("MESHGATE_CONFIG_DIR", &config)], None).await;
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("no identity") && stderr.contains("MESH_GATEWAY_TOKEN"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_peers_name_comes_back_only_with_adopt_history() {
    let gw = meshgate_gateway().await;
    ok(&gw, &["register", "--as", "bob"]).await;
    ok(&gw, &["register", "--as", "alice"]).await;
    ok(&gw, &["send", "bob", "--as", "alice", "--kind", "fyi", "for the old bob"]).await;
    ok(&gw, &["peers", "rm", "bob"]).await;
    let (code, _, stderr) = op(&gw, &["register", "--as", "bob"]).await;
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("adopt_history"), "{stderr}");
    ok(&gw, &["register", "--as", "bob", "--adopt-history"]).await;
    let inbox = json(&ok(&gw, &["inbox", "--as", "bob", "--json"]).await);
    assert_eq!(inbox[0]["content"], "for the old bob", "{inbox}");
}

/// `thread show` follows the gateway's pages to the end: a thread longer
/// than one page (here a 3,000-byte budget) is shown whole, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thread_show_follows_pages() {
    let gw = common::meshgate_gateway_with(&["--page-max-bytes", "3000"]).await;
    ok(&gw, &["register", "--as", "alice"]).await;
    ok(&gw, &["register", "--as", "bob"]).await;
    let uuid = ok(&gw, &["thread", "new", "long"]).await.trim().to_owned();
    let alice = gw.client("alice");
    for i in 0..6 {
        let options = meshgate_client::SendOptions { thread_id: Some(uuid.clone()), ..Default::default() };
        let body = format!("part {i} {}", "y".repeat(1000));
        alice.send("bob", meshgate_client::Kind::Fyi, &body, options).await.unwrap();
    }
    let shown = json(&ok(&gw, &["thread", "show", &uuid, "--json"]).await);
    let contents: Vec<&str> =
        shown["messages"].as_array().unwrap().iter().map(|m| m["content"].as_str().unwrap()).collect();
    assert_eq!(contents.len(), 6, "{shown}");
    assert!(contents.iter().enumerate().all(|(i, c)| c.starts_with(&format!("part {i} "))), "in order");
    assert_eq!(shown["truncated"], false);
    let text = ok(&gw, &["thread", "show", &uuid]).await;
    assert!((0..6).all(|i| text.contains(&format!("part {i} "))), "{text}");
}
