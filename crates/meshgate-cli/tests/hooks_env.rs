//! Hosts start hooks and MCP servers with their own environment: what
//! `hooks install` writes must carry the non-default config directory (and
//! CA file) of the shell that installed it.

use crate::common;
use crate::hooks_common;
use crate::tls_fixture;

use std::process::Stdio;

use common::meshgate_gateway;
use hooks_common::{finish, Desk};
use serde_json::Value;
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

/// Runs `sh -c COMMAND` as a host does, with nothing but HOME and PATH
/// (`env -i HOME=... PATH=...`); (exit code, stdout, stderr).
async fn as_host(desk: &Desk<'_>, command: &str) -> (i32, String, String) {
    let mut child = Command::new("env")
        .arg("-i")
        .arg(format!("HOME={}", desk.gw.dir.path().join("host-home").display()))
        .arg(format!("PATH={}", std::env::var("PATH").unwrap_or_default()))
        .args(["sh", "-c", command])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let input = r#"{"session_id":"s1","hook_event_name":"SessionStart"}"#;
    let _ = stdin.write_all(input.as_bytes()).await;
    drop(stdin);
    finish(child, std::time::Duration::from_secs(20)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn installed_hooks_carry_the_config_dir_and_ca_file_and_show_dms_in_a_bare_environment() {
    let gw = meshgate_gateway().await;
    let desk = Desk::new(&gw).await;
    desk.send("alice", "bob", "the build is green").await;
    // An odd config path (a space and a quote) must survive the quoting.
    let odd = gw.dir.path().join("it's config");
    std::fs::rename(&desk.config, &odd).unwrap();
    let desk = Desk { gw: &gw, config: odd.clone(), settings: desk.settings.clone() };
    let ca = gw.dir.path().join("ca.pem");
    std::fs::write(&ca, tls_fixture::Ca::new("private").pem()).unwrap();
    let settings = desk.settings.display().to_string();
    let config = odd.display().to_string();
    let home = gw.dir.path().display().to_string();
    let ca_text = ca.display().to_string();
    let env = [
        ("MESH_GATEWAY_URL", gw.url.as_str()),
        ("MESHGATE_CONFIG_DIR", config.as_str()),
        ("HOME", home.as_str()),
        ("MESHGATE_CA_FILE", ca_text.as_str()),
    ];
    let args = ["hooks", "install", "claude-code", "--as", "bob", "--settings", &settings, "--mcp"];
    let (code, out, err) = common::meshgate(&args, &env, None).await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("installed") && !out.contains("updated"), "{out}");
    let quoted_config = format!("-e 'MESHGATE_CONFIG_DIR={}'", config.replace('\'', r"'\''"));
    assert!(out.contains(&quoted_config), "the printed `claude mcp add`: {out}");
    assert!(out.contains(&format!("-e MESHGATE_CA_FILE={ca_text} meshgate -- ")), "{out}");
    let context = desk.command("SessionStart");
    assert!(context.starts_with("env "), "{context}");
    assert!(context.contains(&format!("MESHGATE_CA_FILE={ca_text}")), "{context}");

    // The hook runs with nothing from the installing shell and still finds
    // bob's token (and a readable CA file).
    let (code, stdout, stderr) = as_host(&desk, &context).await;
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("the build is green"), "stdout: {stdout}\nstderr: {stderr}");

    // Installing again changes nothing and says so.
    let (code, out, err) = common::meshgate(&args, &env, None).await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("already installed; nothing changed"), "{out}");

    // Without the prefix (what earlier versions wrote) the hook finds no
    // token, and says which file it looked for.
    let bare = context.split_once(" /").map(|(_, rest)| format!("/{rest}")).unwrap();
    let (code, stdout, stderr) = as_host(&desk, &bare).await;
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.is_empty(), "{stdout}");
    let looked = gw.dir.path().join("host-home/.config/meshgate/tokens");
    assert!(stderr.contains(&looked.display().to_string()), "names the token file: {stderr}");

    // Uninstall says removed.
    let (code, out, err) =
        common::meshgate(&["hooks", "uninstall", "claude-code", "--settings", &settings], &env, None).await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("removed"), "{out}");
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&desk.settings).unwrap()).unwrap();
    assert!(doc.get("hooks").is_none_or(|h| !h.to_string().contains("hooks run")), "{doc}");
}

#[tokio::test]
async fn hooks_run_help_is_help_on_stdout() {
    for args in [&["hooks", "run", "--help"][..], &["hooks", "run", "context", "--help"]] {
        let (code, out, err) = common::meshgate(args, &[], None).await;
        assert_eq!(code, 0, "{args:?}: {err}");
        assert!(out.contains("Usage:"), "{args:?}: {out}");
        assert!(!err.contains("meshgate hook:"), "{args:?}: {err}");
    }
}
