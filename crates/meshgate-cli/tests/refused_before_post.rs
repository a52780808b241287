//! Refusals happen before any `POST /messages` leaves the process, proven
//! with a recording fake gateway (no Python needed), for the library and the
//! `meshgate` binary. Also the offline commands (`scan`, `completions`) and
//! usage errors.

use crate::common;

use common::{free_port, meshgate, Recorder};
use meshgate_client::{Client, Error, Kind, SendOptions};

const TOKEN: &str = "recorder-token-0123456789";

fn client(url: &str) -> Client {
    Client::builder().gateway(url).token_from(TOKEN, "test token").node("lab-ovh").build().unwrap()
}

#[tokio::test]
async fn library_refusals_send_nothing() {
    let gw = Recorder::start(&["droplet", "lab-ovh"]).await;
    let client = client(&gw.url);

    let err = client.send("droplt", Kind::Fyi, "hi", SendOptions::new()).await.unwrap_err();
    assert!(matches!(&err, Error::NotInRegistry { suggestions, .. } if suggestions == &["droplet"]), "{err:?}");
    assert!(gw.saw("GET /peers "), "the registry was consulted: {:?}", gw.requests());

    let err = client.send("-bad", Kind::Fyi, "hi", SendOptions::new()).await.unwrap_err();
    assert!(matches!(err, Error::InvalidName(_)), "{err:?}");

    let secret = format!("AKIA{}", "Q".repeat(16));
    let err = client.send("droplet", Kind::Fyi, &format!("aws: {secret}"), SendOptions::new()).await.unwrap_err();
    assert!(matches!(&err, Error::SecretDetected { line: 1, column: 6, .. }), "{err:?}");
    assert!(!err.to_string().contains(&secret));

    let err = client
        .send("droplet", Kind::Fyi, &format!("token={TOKEN}"), SendOptions::new().skip_secret_check(true))
        .await
        .unwrap_err();
    assert!(matches!(&err, Error::SecretDetected { label, .. } if label.contains("test token")), "{err:?}");

    assert!(!gw.saw("POST "), "nothing may be posted: {:?}", gw.requests());
}

#[tokio::test]
async fn stale_registry_is_used_only_while_the_gateway_is_down() {
    let gw = Recorder::start(&["droplet"]).await;
    let client = client(&gw.url);
    assert_eq!(client.check_recipient("drop").await.unwrap(), "droplet");
    gw.stop();
    // A miss re-reads, the gateway is down, the cached copy decides.
    let err = client.check_recipient("droplets").await.unwrap_err();
    assert!(matches!(&err, Error::NotInRegistry { suggestions, .. } if suggestions == &["droplet"]), "{err:?}");
    // A hit in the fresh copy needs no request at all.
    assert_eq!(client.check_recipient("droplet").await.unwrap(), "droplet");

    // No cached copy for a gateway never reached: fail loudly.
    let never = Client::builder()
        .gateway(format!("http://127.0.0.1:{}", free_port()))
        .token(TOKEN)
        .node("lab-ovh")
        .build()
        .unwrap();
    assert!(matches!(never.check_recipient("droplet").await, Err(Error::Unreachable { .. })));
}

#[tokio::test]
async fn cli_refusals_send_nothing() {
    let gw = Recorder::start(&["droplet", "lab-ovh"]).await;
    let config = tempfile::tempdir().unwrap();
    let config_dir = config.path().to_str().unwrap();
    let env = [
        ("MESH_GATEWAY_URL", gw.url.as_str()),
        ("MESH_GATEWAY_TOKEN", TOKEN),
        ("MESH_NODE", "lab-ovh"),
        ("MESHGATE_CONFIG_DIR", config_dir),
    ];

    let (code, _, stderr) = meshgate(&["send", "droplt", "--kind", "fyi", "hello"], &env, None).await;
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("did you mean droplet?"), "{stderr}");

    let secret = format!("ghp_{}", "x1Y".repeat(12));
    let content = format!("line one\n  key {secret}\n");
    let (code, stdout, stderr) = meshgate(&["send", "droplet", "--kind", "fyi", "-"], &env, Some(&content)).await;
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("(github token) at line 2, column 7"), "{stderr}");
    assert!(!stderr.contains(&secret) && !stdout.contains(&secret));

    let (code, stdout, stderr) =
        meshgate(&["send", "droplet", "--kind", "fyi", "--skip-secret-check", &format!("t {TOKEN}")], &env, None).await;
    assert_eq!(code, 1, "{stderr}");
    assert!(!stderr.contains(TOKEN) && !stdout.contains(TOKEN), "{stderr}");

    assert!(!gw.saw("POST "), "nothing may be posted: {:?}", gw.requests());
}

#[tokio::test]
async fn usage_errors_exit_2() {
    let env = [("MESH_GATEWAY_URL", "http://127.0.0.1:9")];
    let (code, _, stderr) = meshgate(&["send", "droplet", "--kind", "fyi", "hi"], &env, None).await;
    assert_eq!(code, 2, "no identity: {stderr}");
    assert!(stderr.contains("--as NAME"), "{stderr}");
    let (code, _, _) = meshgate(&["send", "droplet", "--kind", "shout", "hi", "--as", "lab-ovh"], &env, None).await;
    assert_eq!(code, 2);
    let (code, _, stderr) = meshgate(&["send", "droplet", "--kind", "fyi", "--as", "lab-ovh"], &env, None).await;
    assert_eq!(code, 2, "no content: {stderr}");
    let (code, _, _) = meshgate(&["inbox", "--peek", "--mark-read", "--as", "lab-ovh"], &env, None).await;
    assert_eq!(code, 2);
}

#[tokio::test]
async fn unreachable_gateway_exits_3() {
    let url = format!("http://127.0.0.1:{}", free_port());
    let config = tempfile::tempdir().unwrap();
    let env = [
        ("MESH_GATEWAY_URL", url.as_str()),
        ("MESH_GATEWAY_TOKEN", TOKEN),
        ("MESHGATE_CONFIG_DIR", config.path().to_str().unwrap()),
    ];
    let (code, _, stderr) = meshgate(&["peers", "--as", "lab-ovh"], &env, None).await;
    assert_eq!(code, 3, "{stderr}");
    assert!(stderr.contains("hint: is the gateway running"), "{stderr}");
}

#[tokio::test]
async fn scan_reports_positions_not_secrets() {
    let secret = format!("sk-ant-api03-{}", "a".repeat(40));
    let (code, stdout, stderr) = meshgate(&["scan", "-"], &[], Some(&format!("ok\nkey={secret}\n"))).await;
    assert_eq!(code, 1, "{stderr}");
    assert!(stdout.contains("<stdin>:2:5: "), "{stdout}");
    assert!(!stdout.contains(&secret) && !stderr.contains(&secret));

    let (code, _, _) = meshgate(&["scan"], &[], Some("nothing to see here\n")).await;
    assert_eq!(code, 0);

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("note.txt");
    std::fs::write(&file, format!("{secret}\n")).unwrap();
    let (code, stdout, _) = meshgate(&["scan", file.to_str().unwrap(), "--json"], &[], None).await;
    assert_eq!(code, 1);
    let findings: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(findings[0]["line"], 1);
    assert_eq!(findings[0]["column"], 1);
}

#[tokio::test]
async fn completions_are_generated() {
    let (code, stdout, _) = meshgate(&["completions", "bash"], &[], None).await;
    assert_eq!(code, 0);
    assert!(stdout.contains("meshgate") && stdout.contains("inbox"));
}
