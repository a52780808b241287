//! Runs the real `meshgate serve` binary as a child process.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// Starts `meshgate serve --listen 127.0.0.1:0` with `args` (and `env`,
/// `RUST_LOG=warn`) and waits until it listens; returns the child and its
/// URL, or, if it exits first, everything it wrote to stderr.
pub fn start(args: &[&std::ffi::OsStr], env: &[(&str, &str)]) -> Result<(Child, String), String> {
    start_command(Command::new(env!("CARGO_BIN_EXE_meshgate")), args, env)
}

/// [`start`] for a command that runs the binary under a wrapper (e.g.
/// `strace`); `command` has the wrapper's own arguments already.
pub fn start_command(
    mut command: Command,
    args: &[&std::ffi::OsStr],
    env: &[(&str, &str)],
) -> Result<(Child, String), String> {
    command.args(["serve", "--listen", "127.0.0.1:0"]).args(args).env("RUST_LOG", "warn");
    for (k, v) in env {
        command.env(k, v);
    }
    let mut child = command.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().expect("start meshgate serve");
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let mut seen = String::new();
    let url = loop {
        let Some(Ok(line)) = lines.next() else {
            let _ = child.wait();
            return Err(seen);
        };
        if let Some(url) = line.strip_prefix("meshgate: listening on ") {
            break url.trim().to_owned();
        }
        seen.push_str(&line);
        seen.push('\n');
    };
    // Keep draining stderr so the child never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Ok((child, url))
}

/// `meshgate serve --data-dir DIR` with the given operator token.
pub fn start_in(dir: &Path, token: &str) -> (Child, String) {
    start(&["--data-dir".as_ref(), dir.as_os_str()], &[("MESH_GATEWAY_TOKEN", token)])
        .unwrap_or_else(|stderr| panic!("gateway exited before listening:\n{stderr}"))
}

/// The environment of a load test: the operator token, and the per-sender
/// rate limit and the conversation-loop breaker off (one pair sends
/// hundreds of DMs a second there).
pub fn unlimited(token: &str) -> [(&str, &str); 3] {
    [("MESH_GATEWAY_TOKEN", token), ("MESHGATE_SEND_RATE", "off"), ("MESHGATE_LOOP_LIMIT", "off")]
}
