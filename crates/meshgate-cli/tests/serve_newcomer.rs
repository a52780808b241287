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

/// Runs the binary to the end with `args`; (exit code, stdout, stderr).
fn run(args: &[&std::ffi::OsStr]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_meshgate"))
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("MESH_GATEWAY_TOKEN", "meshgate-operator-newcomer-token-0123456789")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_second_gateway_on_the_same_sqlite_file_refuses_to_start_and_offline_commands_still_work() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (mut first, _url, stderr, _) = serve(&data, &[]);
    let db = data.join("meshgate.db");

    let db_url = format!("sqlite:{}", db.display());
    let listen = ["serve", "--listen", "127.0.0.1:0"].map(std::ffi::OsStr::new);
    for args in [
        [&listen[..], &["--data-dir".as_ref(), data.as_os_str()]].concat(),
        [&listen[..], &["--db".as_ref(), db_url.as_ref()]].concat(),
    ] {
        let (code, _, err) = run(&args);
        assert_eq!(code, 2, "{err}");
        assert!(err.contains(&format!("another meshgate serve (pid {})", first.id())), "{err}");
        assert!(err.contains("PostgreSQL") && err.contains(&db.display().to_string()), "{err}");
        assert!(!err.contains("meshgate --help"), "the message says what to do: {err}");
    }
    // Another path to the same file: a symlink is refused too.
    #[cfg(unix)]
    {
        let link = dir.path().join("link.db");
        std::os::unix::fs::symlink(&db, &link).unwrap();
        let link_url = format!("sqlite:{}", link.display());
        let mut second = Command::new(env!("CARGO_BIN_EXE_meshgate"))
            .args(["serve", "--listen", "127.0.0.1:0", "--db", &link_url])
            .env_clear()
            .env("MESH_GATEWAY_TOKEN", "meshgate-operator-newcomer-token-0123456789")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        let code = loop {
            if let Some(status) = second.try_wait().unwrap() {
                break status.code();
            }
            if std::time::Instant::now() > deadline {
                let _ = second.kill();
                let _ = second.wait();
                panic!("a second gateway started on a symlink to a served database");
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        };
        assert_eq!(code, Some(2), "a symlink to a served database");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let lock = data.join("meshgate.db.serve.lock");
        assert_eq!(std::fs::metadata(&lock).unwrap().permissions().mode() & 0o777, 0o600);
    }

    // Offline commands work while the gateway runs.
    let copy = dir.path().join("copy.db");
    let (code, out, err) = run(&["backup".as_ref(), "--data-dir".as_ref(), data.as_os_str(), copy.as_os_str()]);
    assert_eq!(code, 0, "backup: {out}{err}");
    let dump = dir.path().join("dump.jsonl");
    let (code, out, err) =
        run(&["export".as_ref(), "--data-dir".as_ref(), data.as_os_str(), "-o".as_ref(), dump.as_os_str()]);
    assert_eq!(code, 0, "export: {out}{err}");
    let (code, out, err) = run(&["import".as_ref(), "--data-dir".as_ref(), data.as_os_str(), dump.as_os_str()]);
    assert_eq!(code, 0, "import: {out}{err}");

    // A different database is a different gateway; and once the first
    // stops, a new one starts on its file.
    let (mut other, _, other_err, _) = serve(&dir.path().join("other"), &[]);
    stop(&mut other, other_err);
    stop(&mut first, stderr);
    let (mut again, _, again_err, _) = serve(&data, &[]);
    stop(&mut again, again_err);
}

#[test]
fn serve_prints_the_console_url_and_no_ui_turns_the_console_off() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, url, stderr, head) = serve(&dir.path().join("data"), &[]);
    assert!(get(&url, "/ui").starts_with("HTTP/1.1 303"), "the console asks for a login");
    let all = head + &stop(&mut child, stderr);
    assert!(all.contains(&format!("meshgate: console: {url}/ui\n")), "{all}");

    let (mut child, url, stderr, head) = serve(&dir.path().join("data"), &[("MESHGATE_NO_UI", "true")]);
    let answer = get(&url, "/ui");
    assert!(answer.starts_with("HTTP/1.1 404") && answer.contains("no_route"), "{answer}");
    let all = head + &stop(&mut child, stderr);
    assert!(!all.contains("console:"), "{all}");

    let out = Command::new(env!("CARGO_BIN_EXE_meshgate"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path().join("data"))
        .env_clear()
        .env("MESHGATE_NO_UI", "1")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "MESHGATE_NO_UI takes true or false only");
}

/// `serve --help` lists the same routes for `--require-peer-tokens` as
/// README's flag table (the row's text from its first `: ` to the `;`,
/// backticks off) and the same routes left to the operator.
#[test]
fn require_peer_tokens_help_lists_the_routes_of_the_readme_row() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).unwrap();
    let row = readme.lines().find(|l| l.starts_with("| `--require-peer-tokens` |")).expect("README has the row");
    let cell = row.trim_end_matches('|').rsplit(" | ").next().unwrap().replace('`', "");
    let (_, routes) = cell.split_once(": ").expect("the row lists routes after a colon");
    let (routes, _) = routes.split_once(';').expect("and ends the list with a ;");
    let out = Command::new(env!("CARGO_BIN_EXE_meshgate")).args(["serve", "--help"]).output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    let start = help.find("--require-peer-tokens").unwrap();
    let end = help[start..].find("\n      --").map_or(help.len(), |e| start + e);
    let flag = help[start..end].split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(flag.contains(&format!("{}; ", routes.trim())), "README: {routes:?}\nhelp: {flag:?}");
    let kept = "administration, threads and search stay the operator's";
    assert!(cell.contains(kept) && flag.contains(kept), "{cell:?}\n{flag:?}");
}
