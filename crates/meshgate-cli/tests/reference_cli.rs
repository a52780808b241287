//! The `meshgate` binary against the Python reference gateway: registration
//! and per-peer token storage, send/inbox/read/threads, exit codes.

mod common;

use common::{meshgate, Gateway};

/// Environment for running the binary against `gw` with its own config dir.
fn env_for(gw: &Gateway) -> Vec<(&'static str, String)> {
    vec![
        ("MESH_GATEWAY_URL", gw.url.clone()),
        ("MESH_GATEWAY_TOKEN", gw.token.clone()),
        ("MESHGATE_CONFIG_DIR", gw.dir.path().join("config").display().to_string()),
    ]
}

async fn run(gw: &Gateway, args: &[&str], stdin: Option<&str>) -> (i32, String, String) {
    let env = env_for(gw);
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    meshgate(args, &pairs, stdin).await
}

async fn ok(gw: &Gateway, args: &[&str]) -> String {
    let (code, stdout, stderr) = run(gw, args, None).await;
    assert_eq!(code, 0, "meshgate {args:?}\nstdout: {stdout}\nstderr: {stderr}");
    stdout
}

/// Registration stores a private per-peer token that later commands use.
async fn register_and_token_storage(gw: &Gateway) {
    let (code, stdout, stderr) =
        run(gw, &["register", "--as", "lab-ovh", "--url", "http://lab:8787", "--capability", "runtime=claude"], None)
            .await;
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("registered lab-ovh"), "{stdout}");
    let dir = gw.dir.path().join("config/tokens");
    let host_dir = std::fs::read_dir(&dir).unwrap().next().unwrap().unwrap().path();
    let token_file = host_dir.join("lab-ovh");
    let token = std::fs::read_to_string(&token_file).unwrap().trim().to_owned();
    assert!(token.len() > 16);
    assert!(!stdout.contains(&token) && !stderr.contains(&token), "the token must never be printed");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&token_file).unwrap().permissions().mode() & 0o777, 0o600);
    }

    // Capabilities merge by default, replace on request.
    ok(gw, &["register", "--as", "droplet", "--url", "http://d:1", "--capability", "a=1"]).await;
    ok(gw, &["register", "--as", "droplet", "--capability", "b={\"x\":2}"]).await;
    let peers: serde_json::Value =
        serde_json::from_str(&ok(gw, &["peers", "--as", "lab-ovh", "--json"]).await).unwrap();
    let droplet = peers.as_array().unwrap().iter().find(|p| p["name"] == "droplet").unwrap();
    assert_eq!(droplet["capabilities"], serde_json::json!({"a": 1, "b": {"x": 2}}));
    assert_eq!(droplet["url"], "http://d:1", "the registered url is kept");
    ok(gw, &["register", "--as", "droplet", "--capability", "c=3", "--replace"]).await;
    let peers: serde_json::Value =
        serde_json::from_str(&ok(gw, &["peers", "--as", "lab-ovh", "--json"]).await).unwrap();
    let droplet = peers.as_array().unwrap().iter().find(|p| p["name"] == "droplet").unwrap();
    assert_eq!(droplet["capabilities"], serde_json::json!({"c": 3}));

    // With a broken shared token, the stored per-peer token still works...
    let config = gw.dir.path().join("config").display().to_string();
    let broken = [
        ("MESH_GATEWAY_URL", gw.url.as_str()),
        ("MESH_GATEWAY_TOKEN", "wrong-shared-token"),
        ("MESHGATE_CONFIG_DIR", config.as_str()),
    ];
    let (code, _, stderr) = meshgate(&["peers", "--as", "lab-ovh"], &broken, None).await;
    assert_eq!(code, 0, "{stderr}");
    // ...and an identity without one fails as an auth error, naming the source.
    let (code, _, stderr) = meshgate(&["peers", "--as", "nobody-here"], &broken, None).await;
    assert_eq!(code, 4, "{stderr}");
    assert!(stderr.contains("MESH_GATEWAY_TOKEN") && !stderr.contains("wrong-shared-token"), "{stderr}");
}

/// Sending, reading, marking read and threads through the binary.
async fn messaging(gw: &Gateway) {
    ok(gw, &["register", "--as", "lab-ovh", "--url", "http://lab:8787"]).await;
    ok(gw, &["register", "--as", "droplet", "--url", "http://d:1"]).await;

    let out = ok(gw, &["send", "drop", "--kind", "fyi", "hello droplet", "--as", "lab-ovh"]).await;
    assert!(out.contains("to droplet") && out.contains("resolved from alias drop"), "{out}");
    let (code, _, stderr) =
        run(gw, &["send", "droplet", "--kind", "question", "-", "--as", "lab-ovh"], Some("from stdin\n")).await;
    assert_eq!(code, 0, "{stderr}");
    let file = gw.dir.path().join("body.txt");
    std::fs::write(&file, "from a file").unwrap();
    let out = ok(
        gw,
        &[
            "send",
            "droplet",
            "--kind",
            "status",
            "--content-file",
            file.to_str().unwrap(),
            "--task",
            "7",
            "--json",
            "--as",
            "lab-ovh",
        ],
    )
    .await;
    let sent: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(sent["to_node"], "droplet");

    let inbox: Vec<serde_json::Value> =
        serde_json::from_str(&ok(gw, &["inbox", "--as", "droplet", "--json"]).await).unwrap();
    let contents: Vec<&str> = inbox.iter().map(|m| m["content"].as_str().unwrap()).collect();
    assert_eq!(contents, vec!["from a file", "from stdin\n", "hello droplet"]);
    let table = ok(gw, &["inbox", "--as", "droplet"]).await;
    assert!(table.starts_with("ID") && table.contains("hello droplet"), "{table}");

    // Reading does not consume unless asked to.
    let unread: Vec<serde_json::Value> =
        serde_json::from_str(&ok(gw, &["inbox", "--as", "droplet", "--unread", "--json"]).await).unwrap();
    assert_eq!(unread.len(), 3);
    let first_id = unread[2]["id"].to_string();
    let out = ok(gw, &["read", &first_id, "--as", "droplet"]).await;
    assert!(out.starts_with(&format!("{first_id} read at")), "{out}");
    ok(gw, &["inbox", "--as", "droplet", "--unread", "--mark-read"]).await;
    let unread: Vec<serde_json::Value> =
        serde_json::from_str(&ok(gw, &["inbox", "--as", "droplet", "--unread", "--json"]).await).unwrap();
    assert!(unread.is_empty(), "{unread:?}");
    // The reference refuses marking twice: not found, exit 1.
    let (code, _, _) = run(gw, &["read", &first_id, "--as", "droplet"], None).await;
    assert_eq!(code, 1);

    // Threads.
    let uuid = ok(gw, &["thread", "new", "lab-ovh↔droplet:cli", "--as", "lab-ovh"]).await.trim().to_owned();
    ok(gw, &["send", "droplet", "--kind", "fyi", "--thread", &uuid, "in the thread", "--as", "lab-ovh"]).await;
    let shown = ok(gw, &["thread", "show", &uuid, "--as", "droplet"]).await;
    assert!(shown.contains("in the thread") && shown.contains("lab-ovh -> droplet"), "{shown}");
    let out = ok(gw, &["send", "droplet", "--kind", "fyi", "--thread", "new", "fresh", "--as", "lab-ovh"]).await;
    assert!(out.contains("new thread: "), "{out}");
    assert!(ok(gw, &["thread", "list", "--as", "lab-ovh"]).await.contains("lab-ovh↔droplet:cli"));

    // Refusals leave the gateway untouched.
    let before = gw.all_messages().await.len();
    let (code, _, stderr) = run(gw, &["send", "droplt", "--kind", "fyi", "hi", "--as", "lab-ovh"], None).await;
    assert_eq!(code, 1);
    assert!(stderr.contains("did you mean droplet?"), "{stderr}");
    let (code, _, _) =
        run(gw, &["send", "droplet", "--kind", "fyi", &format!("k {}", gw.token), "--as", "droplet"], None).await;
    assert_eq!(code, 1);
    assert_eq!(gw.all_messages().await.len(), before);
}

macro_rules! against_reference {
    ($($name:ident),* $(,)?) => {$(
        #[tokio::test]
        async fn $name() {
            let Some(gw) = crate::common::reference_gateway().await else { return };
            super::$name(&gw).await;
        }
    )*};
}

mod reference {
    against_reference!(register_and_token_storage, messaging);
}
