//! What the hook tests share: a [`Desk`] (one CLI config with the per-peer
//! tokens of alice, bob and carol, and a Claude Code settings file) that
//! installs hooks and runs the installed commands the way a host runs them.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;
use tokio::process::{Child, Command};

use crate::common::{meshgate, Gateway};

/// A machine with one CLI config (per-peer tokens of alice, bob, carol)
/// and a Claude Code settings file.
pub struct Desk<'a> {
    pub gw: &'a Gateway,
    pub config: PathBuf,
    pub settings: PathBuf,
}

impl<'a> Desk<'a> {
    pub async fn new(gw: &'a Gateway) -> Desk<'a> {
        let desk = Desk { gw, config: gw.dir.path().join("config"), settings: gw.dir.path().join("settings.json") };
        for name in ["alice", "bob", "carol"] {
            let (code, out, err) = desk.cli(&["register", "--as", name], true).await;
            assert_eq!(code, 0, "register {name}: {out}{err}");
        }
        desk
    }

    pub async fn cli(&self, args: &[&str], operator: bool) -> (i32, String, String) {
        let config = self.config.display().to_string();
        let home = self.gw.dir.path().display().to_string();
        let mut env = vec![
            ("MESH_GATEWAY_URL", self.gw.url.as_str()),
            ("MESHGATE_CONFIG_DIR", config.as_str()),
            ("HOME", home.as_str()),
        ];
        if operator {
            env.push(("MESH_GATEWAY_TOKEN", self.gw.token.as_str()));
        }
        meshgate(args, &env, None).await
    }

    pub async fn send(&self, from: &str, to: &str, content: &str) {
        let (code, out, err) = self.cli(&["send", to, "--as", from, "--kind", "question", content], false).await;
        assert_eq!(code, 0, "send: {out}{err}");
    }

    pub async fn install(&self, host: &str, name: &str, extra: &[&str]) -> (i32, String, String) {
        let settings = self.settings.display().to_string();
        let mut args = vec!["hooks", "install", host, "--as", name, "--settings", settings.as_str()];
        args.extend_from_slice(extra);
        self.cli(&args, false).await
    }

    /// The installed command of our handler on `event`.
    pub fn command(&self, event: &str) -> String {
        let doc: Value = serde_json::from_str(&std::fs::read_to_string(&self.settings).unwrap()).unwrap();
        doc["hooks"][event]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|g| g["hooks"].as_array().unwrap().iter())
            .filter_map(|h| h["command"].as_str())
            .find(|c| c.contains(" hooks run "))
            .unwrap_or_else(|| panic!("no meshgate hook on {event}"))
            .to_owned()
    }

    /// Starts `sh -c COMMAND` as a host does: event JSON on stdin, no
    /// operator token in the environment.
    pub async fn spawn_hook(&self, command: &str, event: &str, session: &str) -> Child {
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(command)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.gw.dir.path())
            .env("MESHGATE_CONFIG_DIR", &self.config)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("sh");
        let input = json!({
            "session_id": session,
            "transcript_path": "/tmp/t.jsonl",
            "cwd": "/tmp",
            "hook_event_name": event,
            "stop_hook_active": false,
        });
        let mut stdin = child.stdin.take().unwrap();
        // A hook may exit before reading its input; hosts ignore that too.
        let _ = stdin.write_all(input.to_string().as_bytes()).await;
        drop(stdin);
        child
    }

    pub async fn run_hook(&self, command: &str, event: &str, session: &str) -> (i32, String, String) {
        finish(self.spawn_hook(command, event, session).await, Duration::from_secs(20)).await
    }
}

/// Waits for a hook (at most `limit`): (exit code, stdout, stderr).
pub async fn finish(child: Child, limit: Duration) -> (i32, String, String) {
    let output = tokio::time::timeout(limit, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("the hook did not exit within {limit:?}"))
        .unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// The installed wake command with `--max-wait SECS` instead of the default.
pub fn short_wait(wake: &str, secs: u64) -> String {
    let (head, _) = wake.rsplit_once(" --max-wait ").expect("the wake command has --max-wait");
    format!("{head} --max-wait {secs}")
}

#[cfg(unix)]
pub fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

pub fn backups(settings: &Path) -> Vec<PathBuf> {
    let name = settings.file_name().unwrap().to_string_lossy().into_owned();
    std::fs::read_dir(settings.parent().unwrap())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with(&format!("{name}.bak-")))
        .collect()
}
