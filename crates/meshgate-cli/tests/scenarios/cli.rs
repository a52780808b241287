//! CLI scenarios, run against every gateway (see reference_cli.rs and
//! meshgate_cli.rs); they branch on `gw.flavor` only where meshgate behaves
//! better on purpose.

#![allow(dead_code)]

use crate::common::{meshgate, Flavor, Gateway};

/// Environment for running the binary against `gw` with its own config dir.
pub fn env_for(gw: &Gateway) -> Vec<(&'static str, String)> {
    vec![
        ("MESH_GATEWAY_URL", gw.url.clone()),
        ("MESH_GATEWAY_TOKEN", gw.token.clone()),
        ("MESHGATE_CONFIG_DIR", gw.dir.path().join("config").display().to_string()),
    ]
}

pub async fn run(gw: &Gateway, args: &[&str], stdin: Option<&str>) -> (i32, String, String) {
    let env = env_for(gw);
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    meshgate(args, &pairs, stdin).await
}

pub async fn ok(gw: &Gateway, args: &[&str]) -> String {
    let (code, stdout, stderr) = run(gw, args, None).await;
    assert_eq!(code, 0, "meshgate {args:?}\nstdout: {stdout}\nstderr: {stderr}");
    stdout
}

/// Registration stores a private per-peer token that later commands use.
pub async fn register_and_token_storage(gw: &Gateway) {
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
pub async fn messaging(gw: &Gateway) {
    ok(gw, &["register", "--as", "lab-ovh", "--url", "http://lab:8787"]).await;
    ok(gw, &["register", "--as", "droplet", "--url", "http://d:1"]).await;

    let (code, out, stderr) =
        run(gw, &["send", "drop", "--kind", "fyi", "hello droplet", "--as", "lab-ovh"], None).await;
    assert_eq!(code, 0, "{stderr}");
    assert!(out.contains("to droplet") && out.contains("resolved from alias drop"), "{out}");
    assert!(!stderr.contains("WARN"), "stdout already names the alias: {stderr}");
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
    let (code, _, _) = run(gw, &["read", &first_id, "--as", "droplet"], None).await;
    match gw.flavor {
        // The reference refuses marking twice: not found, exit 1.
        Flavor::Reference => assert_eq!(code, 1),
        // meshgate's mark-read is idempotent.
        Flavor::Meshgate => assert_eq!(code, 0),
    }

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

/// `wait` and `watch`: meshgate delivers; against the reference both
/// report the missing feature (exit 1) instead of hanging or polling.
pub async fn live_commands(gw: &Gateway) {
    ok(gw, &["register", "--as", "lab-ovh", "--url", "http://lab:8787"]).await;
    ok(gw, &["register", "--as", "droplet", "--url", "http://d:1"]).await;
    match gw.flavor {
        Flavor::Reference => {
            let (code, _, stderr) = run(gw, &["wait", "--as", "droplet", "--timeout", "1"], None).await;
            assert_eq!(code, 1, "{stderr}");
            assert!(stderr.contains("does not support long-poll"), "{stderr}");
            let (code, _, stderr) = run(gw, &["watch", "--as", "droplet"], None).await;
            assert_eq!(code, 1, "{stderr}");
            assert!(stderr.contains("does not support live streaming"), "{stderr}");
        }
        Flavor::Meshgate => {
            // Timeout: exit 1, nothing on stdout.
            let started = std::time::Instant::now();
            let (code, stdout, stderr) = run(gw, &["wait", "--as", "droplet", "--timeout", "1"], None).await;
            assert_eq!((code, stdout.as_str()), (1, ""), "{stderr}");
            assert!(started.elapsed() >= std::time::Duration::from_millis(900));
            assert!(stderr.contains("no message"), "{stderr}");

            // A message arriving while it waits: exit 0, printed.
            let waiting = run(gw, &["wait", "--as", "droplet", "--timeout", "30", "--json"], None);
            let sending = async {
                tokio::time::sleep(std::time::Duration::from_millis(800)).await;
                ok(gw, &["send", "droplet", "--kind", "question", "are you up?", "--as", "lab-ovh"]).await;
            };
            let ((code, stdout, stderr), ()) = tokio::join!(waiting, sending);
            assert_eq!(code, 0, "{stderr}");
            let message: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
            assert_eq!(
                (message["content"].as_str(), message["kind"].as_str()),
                (Some("are you up?"), Some("question"))
            );

            // --after an older id answers at once with the next message.
            let first = message["id"].as_i64().unwrap();
            let (code, stdout, _) =
                run(gw, &["wait", "--as", "droplet", "--after", &(first - 1).to_string(), "--timeout", "5"], None)
                    .await;
            assert_eq!(code, 0);
            assert!(stdout.starts_with(&format!("--- #{first} from lab-ovh to droplet (question)")), "{stdout}");
            assert!(stdout.contains("are you up?"), "{stdout}");
        }
    }
}
