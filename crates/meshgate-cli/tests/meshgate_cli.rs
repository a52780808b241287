//! The `meshgate` binary against `meshgate serve` (a child process): the
//! scenarios of scenarios/cli.rs (also run against the Python reference by
//! reference_cli.rs), plus `watch` end to end: exactly-once delivery across
//! watcher restarts (SIGKILL included), `--mark-read`, `--exec` failure,
//! `--from-start` and Ctrl-C.

use crate::common;
use crate::scenarios::cli as scenarios;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use common::Gateway;
use scenarios::{env_for, ok};
use serde_json::Value;
use tokio::process::{Child, Command};

mod meshgate {
    against_meshgate!(register_and_token_storage, messaging, live_commands);
}

/// Starts `meshgate watch ARGS` as droplet; stdout and stderr go to files
/// in `out` (a SIGKILLed watcher may leave an `--exec` child holding them).
fn spawn_watch(gw: &Gateway, out: &Path, tag: &str, args: &[&str]) -> Child {
    let stdout = std::fs::File::create(out.join(format!("{tag}.stdout"))).unwrap();
    let stderr = std::fs::File::create(out.join(format!("{tag}.stderr"))).unwrap();
    Command::new(env!("CARGO_BIN_EXE_meshgate"))
        .arg("watch")
        .args(["--as", "droplet"])
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .envs(env_for(gw))
        .env("OUT", out)
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        .kill_on_drop(true)
        .spawn()
        .expect("start meshgate watch")
}

/// Polls `check` every 50 ms for up to 20 s.
async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    for _ in 0..400 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path).unwrap_or_default().lines().map(str::to_owned).collect()
}

fn ids_in(path: &Path) -> Vec<i64> {
    lines(path).iter().map(|l| serde_json::from_str::<Value>(l).unwrap()["id"].as_i64().unwrap()).collect()
}

async fn send(gw: &Gateway, text: &str) -> i64 {
    let out = ok(gw, &["send", "droplet", "--kind", "fyi", text, "--as", "lab-ovh", "--json"]).await;
    serde_json::from_str::<Value>(&out).unwrap()["id"].as_i64().unwrap()
}

async fn setup(gw: &Gateway) {
    ok(gw, &["register", "--as", "lab-ovh", "--url", "http://lab:8787"]).await;
    ok(gw, &["register", "--as", "droplet", "--url", "http://d:1"]).await;
}

fn state_file(gw: &Gateway) -> PathBuf {
    let port = gw.url.rsplit(':').next().unwrap();
    gw.dir.path().join(format!("config/watch/127.0.0.1-{port}/droplet.last-id"))
}

fn state(gw: &Gateway) -> Option<i64> {
    std::fs::read_to_string(state_file(gw)).ok().and_then(|s| s.trim().parse().ok())
}

/// SIGINT/SIGTERM by pid (a process this test started).
async fn signal(child: &Child, sig: &str) {
    let pid = child.id().expect("running").to_string();
    let status = Command::new("kill").args([sig, &pid]).status().await.unwrap();
    assert!(status.success());
}

async fn exit_code(mut child: Child) -> i32 {
    tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .expect("watch exits")
        .unwrap()
        .code()
        .unwrap_or(-1)
}

/// The delivery command: appends the message JSON and its env to files; the
/// message whose content is "slow" sleeps (once) so the watcher can be
/// killed mid-delivery.
const DELIVER: &str = r#"read -r json
printf '%s\n' "$json" >> "$OUT/delivered.jsonl"
printf '%s %s %s %s %s\n' "$MESH_MSG_ID" "$MESH_MSG_FROM" "$MESH_MSG_TO" "$MESH_MSG_KIND" "${MESH_MSG_CREATED_AT:+ts}" >> "$OUT/env.log"
case "$json" in *'"content":"slow"'*) if [ ! -e "$OUT/slept" ]; then touch "$OUT/slept"; echo $$ > "$OUT/slow.pid"; sleep 30; fi;; esac"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_exec_delivers_exactly_once_across_restarts() {
    let gw = common::meshgate_gateway().await;
    setup(&gw).await;
    let out = gw.dir.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    let delivered = out.join("delivered.jsonl");
    send(&gw, "sent before the first watch").await; // not delivered: only new messages

    let watcher = spawn_watch(&gw, &out, "w1", &["--exec", DELIVER]);
    eventually("the watcher to record its starting point", || state(&gw).is_some()).await;
    let mut expected = Vec::new();
    for i in 0..3 {
        expected.push(send(&gw, &format!("first {i}")).await);
    }
    eventually("three deliveries", || ids_in(&delivered).len() >= 3).await;
    eventually("the state to follow", || state(&gw) == expected.last().copied()).await;

    // SIGKILL between deliveries, send while it is down, restart.
    let mut watcher = watcher;
    watcher.kill().await.unwrap();
    for i in 0..3 {
        expected.push(send(&gw, &format!("while down {i}")).await);
    }
    let watcher = spawn_watch(&gw, &out, "w2", &["--exec", DELIVER]);
    for i in 0..2 {
        expected.push(send(&gw, &format!("after restart {i}")).await);
    }
    eventually("eight deliveries", || ids_in(&delivered).len() >= 8).await;
    assert_eq!(ids_in(&delivered), expected, "exactly once, in order");

    // SIGKILL while --exec runs: that one message is delivered again on
    // restart (at-least-once for the message in flight), nothing else.
    let slow = send(&gw, "slow").await;
    eventually("the slow delivery to start", || out.join("slow.pid").exists()).await;
    let mut watcher = watcher;
    watcher.kill().await.unwrap();
    let orphan = std::fs::read_to_string(out.join("slow.pid")).unwrap().trim().to_owned();
    let _ = Command::new("kill").arg(&orphan).status().await; // the sleeping sh we started
    let after_slow = send(&gw, "after slow").await;
    let watcher = spawn_watch(&gw, &out, "w3", &["--exec", DELIVER]);
    eventually("the redelivery", || ids_in(&delivered).len() >= 11).await;
    let mut again = expected.clone();
    again.extend([slow, slow, after_slow]);
    assert_eq!(ids_in(&delivered), again);

    // The environment carried the message.
    let env = lines(&out.join("env.log"));
    assert_eq!(env[0], format!("{} lab-ovh droplet fyi ts", expected[0]));

    // Ctrl-C exits 0 and the state holds the last delivered id.
    signal(&watcher, "-INT").await;
    assert_eq!(exit_code(watcher).await, 0);
    assert_eq!(state(&gw), Some(after_slow));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_mark_read_exec_failure_and_from_start() {
    let gw = common::meshgate_gateway().await;
    setup(&gw).await;
    let out = gw.dir.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    let unread = |gw: &Gateway| {
        let gw_url = gw.url.clone();
        let env = env_for(gw);
        async move {
            let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let (code, stdout, stderr) =
                common::meshgate(&["inbox", "--as", "droplet", "--unread", "--json"], &pairs, None).await;
            assert_eq!(code, 0, "{gw_url}: {stderr}");
            serde_json::from_str::<Vec<Value>>(&stdout)
                .unwrap()
                .iter()
                .map(|m| m["id"].as_i64().unwrap())
                .collect::<Vec<_>>()
        }
    };

    // --from-start with no state: the unread backlog first, oldest first,
    // then live; --json prints one message per line; --mark-read marks them.
    let old = [send(&gw, "backlog 0").await, send(&gw, "backlog 1").await];
    ok(&gw, &["read", &old[0].to_string(), "--as", "droplet"]).await; // already read: skipped
    let watcher = spawn_watch(&gw, &out, "json", &["--json", "--mark-read", "--from-start"]);
    let live = send(&gw, "live one").await;
    let printed = out.join("json.stdout");
    eventually("two printed messages", || lines(&printed).len() >= 2).await;
    assert_eq!(ids_in(&printed), vec![old[1], live]);
    let first: Value = serde_json::from_str(&lines(&printed)[0]).unwrap();
    assert_eq!(first["content"], "backlog 1");
    eventually("both marked read", || state(&gw) == Some(live)).await;
    assert!(unread(&gw).await.is_empty());
    signal(&watcher, "-TERM").await;
    assert_eq!(exit_code(watcher).await, 0);

    // A failing --exec stops the watch with exit 1 and acknowledges nothing.
    let failing = send(&gw, "will fail").await;
    let watcher = spawn_watch(&gw, &out, "fail", &["--exec", "cat > /dev/null; exit 3", "--mark-read"]);
    assert_eq!(exit_code(watcher).await, 1);
    let stderr = std::fs::read_to_string(out.join("fail.stderr")).unwrap();
    assert!(stderr.contains(&format!("--exec failed for message #{failing}")), "{stderr}");
    assert_eq!(state(&gw), Some(live), "state not advanced");
    assert_eq!(unread(&gw).await, vec![failing], "not marked read");

    // The next watch starts with it; --mark-read after the command succeeds.
    let watcher = spawn_watch(&gw, &out, "retry", &["--exec", "cat >> \"$OUT/retry.jsonl\"", "--mark-read"]);
    eventually("the retried delivery", || ids_in(&out.join("retry.jsonl")) == vec![failing]).await;
    eventually("the state to advance", || state(&gw) == Some(failing)).await;
    assert!(unread(&gw).await.is_empty());
    signal(&watcher, "-INT").await;
    assert_eq!(exit_code(watcher).await, 0);

    // A custom --state file, and the human format.
    let custom = out.join("custom.state");
    std::fs::write(&custom, format!("{live}\n")).unwrap();
    let watcher = spawn_watch(&gw, &out, "human", &["--state", custom.to_str().unwrap()]);
    eventually("the human block", || {
        std::fs::read_to_string(out.join("human.stdout")).unwrap_or_default().contains("will fail")
    })
    .await;
    let text = std::fs::read_to_string(out.join("human.stdout")).unwrap();
    assert!(text.starts_with(&format!("--- #{failing} from lab-ovh to droplet (fyi) at ")), "{text}");
    eventually("the custom state", || std::fs::read_to_string(&custom).unwrap().trim() == failing.to_string()).await;
    // A second watcher on the same state file is refused while the first runs.
    let second = spawn_watch(&gw, &out, "second", &["--state", custom.to_str().unwrap()]);
    assert_eq!(exit_code(second).await, 2);
    let stderr = std::fs::read_to_string(out.join("second.stderr")).unwrap();
    assert!(stderr.contains("another `meshgate watch` is using the state file"), "{stderr}");
    signal(&watcher, "-INT").await;
    assert_eq!(exit_code(watcher).await, 0);
    // Once it is gone, the state file is free again.
    let third = spawn_watch(&gw, &out, "third", &["--state", custom.to_str().unwrap()]);
    tokio::time::sleep(Duration::from_millis(500)).await;
    signal(&third, "-INT").await;
    assert_eq!(exit_code(third).await, 0);
}
