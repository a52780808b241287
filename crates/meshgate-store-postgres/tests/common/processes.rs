//! Processes the end-to-end tests run: a private PostgreSQL cluster (through
//! `scripts/pg.sh`) and `meshgate serve` replicas.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// The operator token every test replica runs with.
pub const TOKEN: &str = "e2e-replicas-operator-token-0123456789";

/// `scripts/pg.sh` of this workspace.
pub fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/pg.sh")
}

/// Runs `pg.sh <cmd>` on the private cluster; returns its stdout.
pub fn pg(root: &Path, cmd: &str) -> String {
    let out = Command::new("bash")
        .arg(script())
        .arg(cmd)
        .env("PGDATA_ROOT", root)
        .output()
        .unwrap_or_else(|e| panic!("running pg.sh {cmd}: {e}"));
    assert!(
        out.status.success(),
        "pg.sh {cmd} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// Stops and removes the private cluster, even when the test fails.
pub struct Cluster {
    pub root: PathBuf,
    pub _dir: tempfile::TempDir,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = Command::new("bash").arg(script()).arg("stop").env("PGDATA_ROOT", &self.root).output();
    }
}

/// The `meshgate` binary of this workspace's target directory.
pub fn binary() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    let bin = target.join("debug").join("meshgate");
    assert!(bin.exists(), "{} is missing: run `cargo build -p meshgate-cli` first", bin.display());
    bin
}

/// A running replica; killed on drop.
pub struct Replica {
    pub child: Child,
    pub url: String,
    _data: tempfile::TempDir,
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `meshgate serve --db db_url` on a free port.
pub fn start(db_url: &str) -> Replica {
    let data = tempfile::tempdir().unwrap();
    let mut child = Command::new(binary())
        .args(["serve", "--listen", "127.0.0.1:0", "--db", db_url, "--data-dir"])
        .arg(data.path())
        .env("MESH_GATEWAY_TOKEN", TOKEN)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start meshgate serve");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let url = loop {
        let line = match lines.next() {
            Some(Ok(l)) => l,
            _ => panic!("meshgate serve exited before listening"),
        };
        if let Some(url) = line.strip_prefix("meshgate: listening on ") {
            break url.trim().to_owned();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    Replica { child, url, _data: data }
}
