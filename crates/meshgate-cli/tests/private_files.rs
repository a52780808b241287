//! `meshgate serve` keeps its files to its own user (issue #11.5): the data
//! directory 0700, the database and its WAL and shared-memory files 0600
//! (also when they existed before with wider modes, also for a
//! `--db sqlite:PATH` outside the data directory), the generated operator
//! token 0600, and an operator token file others can read is refused.
#![cfg(unix)]

use crate::serve_proc;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Child;

use serde_json::json;

const TOKEN: &str = "private-files-operator-token-0123456789";

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())).permissions().mode() & 0o7777
}

fn chmod(p: &Path, mode: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn db_files(db: &Path) -> Vec<std::path::PathBuf> {
    ["", "-wal", "-shm"].iter().map(|s| format!("{}{s}", db.display()).into()).collect()
}

/// Registers two peers and sends one DM, so the WAL and SHM exist.
async fn write_something(url: &str, token: &str) {
    let http = reqwest::Client::new();
    for name in ["alice", "bob"] {
        let r = http.post(format!("{url}/peers/register")).bearer_auth(token).json(&json!({"name": name})).send();
        assert!(r.await.unwrap().status().is_success());
    }
    let body = json!({"from_node": "alice", "to_node": "bob", "kind": "fyi", "content": "private"});
    let r = http.post(format!("{url}/messages")).bearer_auth(token).json(&body).send().await.unwrap();
    assert!(r.status().is_success());
}

fn stop(mut child: Child) {
    child.kill().unwrap();
    child.wait().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_data_dir_is_owner_only() {
    let root = tempfile::tempdir().unwrap();
    chmod(root.path(), 0o755);
    let dir = root.path().join("data");
    // No MESH_GATEWAY_TOKEN: the operator token is generated into the dir.
    let (child, url) = serve_proc::start(&["--data-dir".as_ref(), dir.as_os_str()], &[])
        .unwrap_or_else(|e| panic!("serve failed:\n{e}"));
    let token_file = dir.join("operator-token");
    let token = std::fs::read_to_string(&token_file).unwrap();
    write_something(&url, token.trim()).await;
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&token_file), 0o600);
    for f in db_files(&dir.join("meshgate.db")) {
        assert_eq!(mode(&f), 0o600, "{}", f.display());
    }
    stop(child);
    assert_eq!(mode(root.path()), 0o755, "the parent of the data directory is not touched");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn existing_files_are_made_owner_only() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    let elsewhere = root.path().join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    let db = elsewhere.join("mesh.db");
    let db_arg = format!("sqlite:{}", db.display());
    let args = ["--data-dir".as_ref(), data.as_os_str(), "--db".as_ref(), db_arg.as_ref()];
    let env = [("MESH_GATEWAY_TOKEN", TOKEN)];
    let (child, url) = serve_proc::start(&args, &env).unwrap_or_else(|e| panic!("serve failed:\n{e}"));
    write_something(&url, TOKEN).await;
    // SIGKILL leaves the WAL and SHM beside the database.
    stop(child);
    for f in db_files(&db) {
        chmod(&f, 0o644);
    }
    chmod(&elsewhere, 0o755);

    let (child, url) = serve_proc::start(&args, &env).unwrap_or_else(|e| panic!("serve failed:\n{e}"));
    let http = reqwest::Client::new();
    let r = http.get(format!("{url}/messages?to=bob")).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(r.json::<serde_json::Value>().await.unwrap()["messages"][0]["content"], "private");
    for f in db_files(&db) {
        assert_eq!(mode(&f), 0o600, "{}", f.display());
    }
    stop(child);
    // A directory named only through --db may be shared: left as it was.
    assert_eq!(mode(&elsewhere), 0o755);
    assert!(!data.exists(), "the data directory is not needed with --db sqlite:PATH and an env token");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_existing_data_dir_is_made_owner_only() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("data");
    std::fs::create_dir(&dir).unwrap();
    chmod(&dir, 0o755);
    let (child, _) = serve_proc::start_in(&dir, TOKEN);
    assert_eq!(mode(&dir), 0o700);
    stop(child);
}

#[test]
fn a_token_file_others_can_read_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    chmod(dir.path(), 0o700);
    let token_file = dir.path().join("operator-token");
    std::fs::write(&token_file, "mgo_secret_operator_token\n").unwrap();
    chmod(&token_file, 0o644);
    let stderr = serve_proc::start(&["--data-dir".as_ref(), dir.path().as_os_str()], &[])
        .map(|(child, _)| stop(child))
        .expect_err("serve must refuse a world-readable operator token");
    assert!(stderr.contains(&format!("chmod 600 {}", token_file.display())), "{stderr}");
    assert!(stderr.contains("0644"), "{stderr}");
    assert!(!stderr.contains("mgo_secret_operator_token"), "the token leaked into the error: {stderr}");
    assert_eq!(mode(&token_file), 0o644, "the file is left for the operator to fix");

    chmod(&token_file, 0o600);
    let (child, _) = serve_proc::start(&["--data-dir".as_ref(), dir.path().as_os_str()], &[])
        .unwrap_or_else(|e| panic!("serve failed after chmod 600:\n{e}"));
    stop(child);
}

/// `--db sqlite:PATH` names only the database: the generated operator token
/// goes into the data directory, not beside the database (whose directory
/// may be shared).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_token_lives_in_the_data_dir_with_db_elsewhere() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    let shared = root.path().join("shared");
    let db_arg = format!("sqlite:{}", shared.join("mesh.db").display());
    let args = ["--data-dir".as_ref(), data.as_os_str(), "--db".as_ref(), db_arg.as_ref()];
    let (child, url) = serve_proc::start(&args, &[]).unwrap_or_else(|e| panic!("serve failed:\n{e}"));
    let token_file = data.join("operator-token");
    let token = std::fs::read_to_string(&token_file).unwrap();
    write_something(&url, token.trim()).await;
    assert_eq!(mode(&token_file), 0o600);
    assert_eq!(mode(&data), 0o700);
    assert!(!shared.join("operator-token").exists(), "no token beside the database");
    stop(child);
}

/// An `operator-token` left beside a `--db sqlite:PATH` database (where
/// earlier versions wrote it) is not read; `serve` says so, naming both
/// places, and generates the data directory's own.
#[test]
fn a_token_beside_the_database_is_not_read_and_serve_warns() {
    use std::io::{BufRead, BufReader};
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    let shared = root.path().join("shared");
    std::fs::create_dir(&shared).unwrap();
    let old = shared.join("operator-token");
    std::fs::write(&old, "mgo_old_token_beside_the_database\n").unwrap();
    chmod(&old, 0o600);
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_meshgate"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&data)
        .arg("--db")
        .arg(format!("sqlite:{}", shared.join("mesh.db").display()))
        .env_remove("MESH_GATEWAY_TOKEN")
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut seen = String::new();
    for line in BufReader::new(child.stderr.take().unwrap()).lines() {
        let line = line.unwrap();
        if line.starts_with("meshgate: listening on ") {
            break;
        }
        seen.push_str(&line);
        seen.push('\n');
    }
    stop(child);
    assert!(seen.contains(&format!("{} is not used", old.display())), "{seen}");
    assert!(seen.contains(&data.display().to_string()), "{seen}");
    assert!(!seen.contains("mgo_old_token"), "{seen}");
    let new = std::fs::read_to_string(data.join("operator-token")).unwrap();
    assert!(new.starts_with("mgo_") && !new.contains("beside"), "a new token was generated");
}

/// Files of a `--db sqlite:PATH` database that another user put there first
/// (in a shared directory such as `/tmp`) are refused: a planted WAL would be
/// replayed into the database on open. The token never goes there (it lives
/// in the data directory). Making a file of another user needs root.
#[test]
fn a_database_file_of_another_user_is_refused() {
    let root = tempfile::tempdir().unwrap();
    let shared = root.path().join("shared");
    std::fs::create_dir(&shared).unwrap();
    chmod(&shared, 0o1777);
    let db = shared.join("mesh.db");
    let db_arg = format!("sqlite:{}", db.display());
    let data = root.path().join("data");
    let args = ["--data-dir".as_ref(), data.as_os_str(), "--db".as_ref(), db_arg.as_ref()];
    let (child, _) = serve_proc::start(&args, &[]).unwrap_or_else(|e| panic!("serve failed:\n{e}"));
    stop(child);
    assert!(!shared.join("operator-token").exists(), "a token was generated into a shared directory");
    assert!(data.join("operator-token").exists(), "the token lives in the data directory");

    assert_eq!(rustix::process::geteuid().as_raw(), 0, "this test makes a file of another user: run it as root");
    std::os::unix::fs::chown(&db, Some(65534), None).unwrap();
    let stderr = serve_proc::start(&args, &[("MESH_GATEWAY_TOKEN", TOKEN)])
        .map(|(child, _)| stop(child))
        .expect_err("a database file of another user must be refused");
    assert!(stderr.contains("uid 65534") && stderr.contains("mesh.db"), "{stderr}");
}
