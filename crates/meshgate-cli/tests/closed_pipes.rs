//! What a newcomer runs in a shell: `meshgate peers --json | head -1` and
//! `meshgate inbox | head -1` end quietly when the reader stops early;
//! `meshgate watch | head -1` ends with an error, not a panic.

use crate::common;

use std::process::Stdio;

use common::meshgate_gateway;
use tokio::process::Command;

/// Runs the binary with stdout a pipe whose reader is gone before anything
/// is written; returns (exit code or -signal, stderr).
async fn with_closed_stdout(gw: &common::Gateway, args: &[&str]) -> (i32, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_meshgate"))
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("MESH_GATEWAY_URL", &gw.url)
        .env("MESH_GATEWAY_TOKEN", &gw.token)
        .env("MESHGATE_CONFIG_DIR", gw.dir.path().join("config"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("run meshgate");
    drop(child.stdout.take());
    let output = child.wait_with_output().await.expect("output");
    #[cfg(unix)]
    let code = std::os::unix::process::ExitStatusExt::signal(&output.status).map_or(-1, |s| -s);
    #[cfg(not(unix))]
    let code = -1;
    (output.status.code().unwrap_or(code), String::from_utf8_lossy(&output.stderr).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_that_stops_early_ends_the_command_without_a_panic() {
    let gw = meshgate_gateway().await;
    for name in ["alice", "bob"] {
        let (code, out, err) = common::operator_run(&gw, &["register", "--as", name]).await;
        assert_eq!(code, 0, "{out}{err}");
    }
    for i in 0..20 {
        gw.client("bob")
            .send("alice", meshgate_proto::Kind::Fyi, &format!("note {i}"), meshgate_client::SendOptions::new())
            .await
            .unwrap();
    }
    // `watch` keeps SIGPIPE ignored (it writes to `--exec` children) and
    // reports the closed stdout as an error instead.
    let state = gw.dir.path().join("watch-state").display().to_string();
    let watch = ["watch", "--as", "alice", "--from-start", "--state", state.as_str()];
    for args in [
        &["peers", "--json"][..],
        &["peers"],
        &["inbox", "--as", "alice"],
        &["inbox", "--as", "alice", "--json"],
        &watch,
    ] {
        let (code, stderr) = with_closed_stdout(&gw, args).await;
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert_ne!(code, 101, "{args:?}: {stderr}");
    }
}
