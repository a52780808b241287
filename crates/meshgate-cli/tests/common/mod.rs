//! Shared integration-test harness: a gateway under test (base URL + shared
//! token), a launcher for the Python reference gateway, and a tiny TCP
//! recorder that proves which requests reached "the gateway".
//!
//! Scenarios take a [`Gateway`], so the same scenarios can run against the
//! meshgate server once it exists: build a `Gateway` for it and call them.

#![allow(dead_code)]

/// One `#[tokio::test]` per scenario of the including file's `scenarios`
/// module, each against a fresh `meshgate serve` child process.
#[allow(unused_macros)]
macro_rules! against_meshgate {
    ($($name:ident),* $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            let gw = crate::common::meshgate_gateway().await;
            super::scenarios::$name(&gw).await;
        }
    )*};
}

/// The same scenarios against the Python reference gateway (skipped when
/// it is not installed).
#[allow(unused_macros)]
macro_rules! against_reference {
    ($($name:ident),* $(,)?) => {$(
        #[tokio::test]
        async fn $name() {
            let Some(gw) = crate::common::reference_gateway().await else { return };
            super::scenarios::$name(&gw).await;
        }
    )*};
}

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::process::{Child, Command};

/// Which gateway implementation a [`Gateway`] is; scenarios branch on it
/// where meshgate behaves better on purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// The Python reference gateway (`swarph_cli.gateway`).
    Reference,
    /// `meshgate serve`.
    Meshgate,
}

/// A running gateway the tests talk to.
pub struct Gateway {
    /// Which implementation it is.
    pub flavor: Flavor,
    /// Base URL, no trailing slash.
    pub url: String,
    /// Its shared (operator) token.
    pub token: String,
    /// Scratch directory (database, config dirs); removed on drop.
    pub dir: tempfile::TempDir,
    /// The gateway process, killed on drop (by its handle, never by name).
    child: Option<Child>,
}

impl Gateway {
    /// A gateway someone else runs (e.g. the meshgate server in-process).
    pub fn external(url: impl Into<String>, token: impl Into<String>) -> Gateway {
        Gateway {
            flavor: Flavor::Meshgate,
            url: url.into(),
            token: token.into(),
            dir: tempfile::tempdir().expect("tempdir"),
            child: None,
        }
    }

    /// A client for `node` using the shared token.
    pub fn client(&self, node: &str) -> meshgate_client::Client {
        meshgate_client::Client::builder()
            .gateway(&self.url)
            .token_from(&self.token, "test shared token")
            .node(node)
            .timeout(Duration::from_secs(10))
            .build()
            .expect("client")
    }

    /// A client for `node` using `token`.
    pub fn client_with(&self, node: &str, token: &str) -> meshgate_client::Client {
        meshgate_client::Client::builder()
            .gateway(&self.url)
            .token_from(token, "test per-peer token")
            .node(node)
            .build()
            .expect("client")
    }

    /// Every DM the gateway stores, straight from `GET /messages` with the
    /// shared token (bypassing the client under test).
    pub async fn all_messages(&self) -> Vec<serde_json::Value> {
        let body: serde_json::Value = reqwest::Client::new()
            .get(format!("{}/messages?limit=1000", self.url))
            .bearer_auth(&self.token)
            .send()
            .await
            .expect("GET /messages")
            .json()
            .await
            .expect("JSON");
        body["messages"].as_array().cloned().unwrap_or_default()
    }
}

impl Gateway {
    /// Stops the gateway process gracefully (SIGTERM by its pid, then a
    /// kill after 10 s), keeping the scratch directory: its database is
    /// then closed and complete.
    pub async fn stop(&mut self) {
        let Some(mut child) = self.child.take() else { return };
        if let Some(pid) = child.id() {
            let _ = Command::new("kill").args(["-TERM", &pid.to_string()]).status().await;
        }
        if tokio::time::timeout(Duration::from_secs(10), child.wait()).await.is_err() {
            let _ = child.kill().await;
        }
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.start_kill();
        }
    }
}

/// The python to run the reference gateway with: `MESHGATE_REF_PYTHON`, else
/// `.venv/bin/python` at the repository root, else `/tmp/venv/bin/python`;
/// only one that can import `swarph_cli.gateway` counts.
async fn reference_python() -> Option<PathBuf> {
    let repo_root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let candidates: Vec<PathBuf> = match std::env::var_os("MESHGATE_REF_PYTHON") {
        Some(explicit) => vec![PathBuf::from(explicit)],
        None => vec![repo_root.join(".venv/bin/python"), PathBuf::from("/tmp/venv/bin/python")],
    };
    for python in candidates {
        let ok = Command::new(&python)
            .args(["-c", "import swarph_cli.gateway"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .await
            .is_ok_and(|s| s.success());
        if ok {
            return Some(python);
        }
    }
    None
}

/// A fresh Python reference gateway on a free port with an empty database.
///
/// Returns `None` (the caller skips) only when no suitable python exists and
/// `MESHGATE_SKIP_REFERENCE=1`; without that variable a missing python fails
/// the test, so CI cannot silently skip the cross-gateway check.
pub async fn reference_gateway() -> Option<Gateway> {
    let Some(python) = reference_python().await else {
        if std::env::var("MESHGATE_SKIP_REFERENCE").as_deref() == Ok("1") {
            eprintln!("skipping: no python with swarph_cli (MESHGATE_SKIP_REFERENCE=1)");
            return None;
        }
        panic!(
            "no python with swarph_cli found: set MESHGATE_REF_PYTHON, create .venv at the repo root \
             (pip install swarph-mesh swarph-shared 'swarph-cli[gateway]'), or set MESHGATE_SKIP_REFERENCE=1"
        );
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let token = format!("shared-{}", std::process::id()) + "-reference-token-0123456789";
    let port = free_port();
    let child = Command::new(&python)
        .args([
            "-m",
            "uvicorn",
            "swarph_cli.gateway.server:app",
            "--host",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--log-level",
            "warning",
        ])
        .env("MESH_GATEWAY_TOKEN", &token)
        .env("MESH_DB_PATH", dir.path().join("mesh.db"))
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start the reference gateway");
    let gateway =
        Gateway { flavor: Flavor::Reference, url: format!("http://127.0.0.1:{port}"), token, dir, child: Some(child) };
    wait_healthy(&gateway.url).await;
    Some(gateway)
}

/// A fresh `meshgate serve` child process (this crate's binary) on a free
/// port, over an SQLite file in a temp dir.
pub async fn meshgate_gateway() -> Gateway {
    meshgate_gateway_with(&[]).await
}

/// [`meshgate_gateway`] with extra `meshgate serve` arguments.
pub async fn meshgate_gateway_with(extra: &[&str]) -> Gateway {
    use tokio::io::AsyncBufReadExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let token = format!("meshgate-operator-{}-token-0123456789", std::process::id());
    let mut child = Command::new(env!("CARGO_BIN_EXE_meshgate"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path().join("data"))
        .args(extra)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("MESH_GATEWAY_TOKEN", &token)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start meshgate serve");
    let mut lines = tokio::io::BufReader::new(child.stderr.take().expect("stderr")).lines();
    let url = loop {
        let line = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
            .await
            .expect("meshgate serve did not start listening within 60 s")
            .expect("read stderr")
            .expect("meshgate serve exited before listening");
        if let Some(url) = line.strip_prefix("meshgate: listening on ") {
            break url.trim().to_owned();
        }
    };
    // Keep draining stderr so the child never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let gateway = Gateway { flavor: Flavor::Meshgate, url, token, dir, child: Some(child) };
    wait_healthy(&gateway.url).await;
    gateway
}

/// Polls `GET /health` until it answers 200, for at most 30 seconds.
pub async fn wait_healthy(url: &str) {
    let http = reqwest::Client::new();
    for _ in 0..300 {
        if let Ok(response) = http.get(format!("{url}/health")).send().await {
            if response.status().is_success() {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("gateway at {url} did not become healthy within 30 s");
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

/// A fake gateway that records request lines (`POST /messages HTTP/1.1`)
/// and answers `GET /peers` with a fixed list, everything else 404.
pub struct Recorder {
    /// Base URL.
    pub url: String,
    requests: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Recorder {
    /// Starts one serving `peers`.
    pub async fn start(peers: &[&str]) -> Recorder {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let peer_list = serde_json::json!({
            "peers": peers.iter().map(|name| serde_json::json!({"name": name, "enabled": true})).collect::<Vec<_>>()
        })
        .to_string();
        let seen = Arc::clone(&requests);
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut socket, _)) = listener.accept().await else {
                    return;
                };
                let seen = Arc::clone(&seen);
                let peer_list = peer_list.clone();
                tokio::spawn(async move {
                    let Some(request_line) = read_request(&mut socket).await else {
                        return;
                    };
                    seen.lock().unwrap().push(request_line.clone());
                    let (status, body) = if request_line.starts_with("GET /peers ") {
                        ("200 OK", peer_list)
                    } else if request_line.starts_with("GET /health ") {
                        ("200 OK", r#"{"status":"ok","service":"mesh-gateway"}"#.to_owned())
                    } else {
                        ("404 Not Found", r#"{"detail":"Not Found"}"#.to_owned())
                    };
                    let response = format!(
                        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = socket.write_all(response.as_bytes()).await;
                    let _ = socket.shutdown().await;
                });
            }
        });
        Recorder { url, requests, task }
    }

    /// Request lines received so far.
    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }

    /// True if any request line starts with `prefix` (e.g. `POST /messages`).
    pub fn saw(&self, prefix: &str) -> bool {
        self.requests().iter().any(|r| r.starts_with(prefix))
    }

    /// Stops accepting connections (the gateway "goes down").
    pub fn stop(&self) {
        self.task.abort();
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Reads one request (head plus `content-length` body); returns its first line.
async fn read_request(socket: &mut tokio::net::TcpStream) -> Option<String> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        let n = socket.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
        if let Some(pos) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break pos + 4;
        }
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).to_string();
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length").then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0);
    while buffer.len() < head_end + length {
        let n = socket.read(&mut chunk).await.ok()?;
        if n == 0 {
            break;
        }
        buffer.extend_from_slice(&chunk[..n]);
    }
    head.lines().next().map(str::to_owned)
}

/// Runs the `meshgate` binary with a clean environment: only the given
/// variables plus `PATH`/`HOME`-free defaults. Returns (exit code, stdout, stderr).
pub async fn meshgate(args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> (i32, String, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_meshgate"));
    command
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .envs(env.iter().copied())
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = command.spawn().expect("run meshgate");
    if let Some(text) = stdin {
        let mut pipe = child.stdin.take().expect("stdin");
        // A command may refuse its arguments and exit before reading stdin.
        if let Err(e) = pipe.write_all(text.as_bytes()).await {
            assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "write stdin: {e}");
        }
        drop(pipe);
    }
    let output = child.wait_with_output().await.expect("meshgate output");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Runs the binary against `gw` with the operator token and no identity
/// (its own config directory in the gateway's temp dir).
pub async fn operator_run(gw: &Gateway, args: &[&str]) -> (i32, String, String) {
    let config = gw.dir.path().join("config").display().to_string();
    meshgate(
        args,
        &[("MESH_GATEWAY_URL", &gw.url), ("MESH_GATEWAY_TOKEN", &gw.token), ("MESHGATE_CONFIG_DIR", &config)],
        None,
    )
    .await
}

/// [`operator_run`] that must exit 0; returns stdout.
pub async fn operator_ok(gw: &Gateway, args: &[&str]) -> String {
    let (code, stdout, stderr) = operator_run(gw, args).await;
    assert_eq!(code, 0, "meshgate {args:?}\nstdout: {stdout}\nstderr: {stderr}");
    stdout
}
