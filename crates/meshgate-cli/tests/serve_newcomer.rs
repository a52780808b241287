//! `meshgate serve` as a newcomer runs it: logs redirected to a file or
//! pipe carry no colour codes, and a second gateway on the same SQLite
//! database refuses to start instead of splitting the live wake-ups.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// `meshgate serve` over `data` with stderr a pipe; returns the child, its
/// URL and the stderr lines read up to the listening line (the caller
/// waits for it in [`stop`]).
#[allow(clippy::zombie_processes)]
fn serve(data: &Path, env: &[(&str, &str)]) -> (Child, String, BufReader<std::process::ChildStderr>, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_meshgate"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("MESH_GATEWAY_TOKEN", "meshgate-operator-newcomer-token-0123456789")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start meshgate serve");
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        assert!(stderr.read_line(&mut line).unwrap() > 0, "serve exited before listening:\n{seen}");
        seen.push_str(&line);
        if let Some(url) = line.strip_prefix("meshgate: listening on ") {
            return (child, url.trim().to_owned(), stderr, seen);
        }
    }
}

/// SIGTERM by pid, then everything the child wrote to stderr afterwards.
fn stop(child: &mut Child, mut stderr: BufReader<std::process::ChildStderr>) -> String {
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    let mut rest = String::new();
    stderr.read_to_string(&mut rest).unwrap();
    let _ = child.wait();
    rest
}

/// A plain HTTP/1.1 GET over loopback; the whole answer.
fn get(url: &str, path: &str) -> String {
    use std::io::Write;
    let mut s = std::net::TcpStream::connect(url.trim_start_matches("http://")).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    answer
}

#[test]
fn logs_to_a_pipe_have_no_colour_codes() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, url, stderr, head) = serve(&dir.path().join("data"), &[("RUST_LOG", "info")]);
    assert!(get(&url, "/health").starts_with("HTTP/1.1 200"));
    std::thread::sleep(Duration::from_millis(200));
    let all = head + &stop(&mut child, stderr);
    assert!(all.contains("INFO"), "info logs were written:\n{all}");
    assert!(!all.contains('\u{1b}'), "no ESC bytes in piped logs:\n{all:?}");
}
