//! An acknowledged send was made durable before its 200 (issue #11.9).
//!
//! `kill -9` tests cannot show this: the page cache outlives the process,
//! so a gateway that answered before its fsync would pass them. Here the
//! real gateway runs under `strace -f`, which records, in the order they
//! happened, every socket read and write, every write to the WAL file and
//! every fsync. For each acknowledged message the trace must show:
//!
//! 1. the request carrying its (unique) content read from the socket,
//! 2. then a write of that content into `meshgate.db-wal`,
//! 3. then an fsync of the WAL that returned 0,
//! 4. and only then the response carrying its id written to the socket.
//!
//! strace prints a system call when it returns, and first prints a call
//! still in progress as `<unfinished ...>` whenever another thread's call
//! is printed meanwhile; so a call printed (ended) on an earlier line than
//! another call's first line ended before that one began. The check holds
//! for concurrent senders sharing one group commit, and fails if the
//! gateway answered before the commit or committed without an fsync
//! (`synchronous=NORMAL` in WAL mode).
//!
//! Needs strace and ptrace (CI installs strace). Where it is missing the
//! test fails, unless `MESHGATE_ALLOW_SKIP=1` says skipping is fine here.
#![cfg(target_os = "linux")]

use crate::serve_proc;

use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::{json, Value};

const TOKEN: &str = "fsync-proof-operator-token-0123456789";
const TASKS: usize = 6;
const PER_TASK: usize = 20;

/// Whether strace can trace here; panics (or, with `MESHGATE_ALLOW_SKIP=1`,
/// returns false) when it cannot.
fn strace_usable() -> bool {
    let ok = Command::new("strace")
        .args(["-f", "-o", "/dev/null", "true"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if ok {
        return true;
    }
    if std::env::var("MESHGATE_ALLOW_SKIP").as_deref() == Ok("1") {
        eprintln!("SKIPPED: strace is missing or cannot trace here (MESHGATE_ALLOW_SKIP=1)");
        return false;
    }
    panic!("strace is missing or ptrace is not allowed: apt-get install strace (or MESHGATE_ALLOW_SKIP=1 to skip)");
}

/// One system call in the trace.
#[derive(Debug)]
struct Call {
    name: String,
    /// Line of its first appearance (it had started by then).
    first: usize,
    /// Line where it returned.
    end: usize,
    /// Arguments and result as printed (entry and resumed parts joined).
    text: String,
}

/// Reads an `strace -f -yy` log into calls, joining `<unfinished ...>` and
/// `<... resumed>` halves per thread.
fn parse(trace: &str) -> Vec<Call> {
    let mut calls = Vec::new();
    let mut pending: std::collections::HashMap<&str, Call> = std::collections::HashMap::new();
    for (line_no, line) in trace.lines().enumerate() {
        let Some((tid, rest)) = line.split_once(' ') else { continue };
        let rest = rest.trim_start();
        if let Some(resumed) = rest.strip_prefix("<... ") {
            let Some(mut call) = pending.remove(tid) else { continue };
            call.end = line_no;
            call.text.push_str(resumed.split_once("resumed>").map_or(resumed, |(_, r)| r));
            calls.push(call);
        } else if let Some(open) = rest.find('(').filter(|_| !rest.starts_with("+++") && !rest.starts_with("---")) {
            let text = rest.strip_suffix("<unfinished ...>").unwrap_or(rest).trim_end().to_owned();
            let call = Call { name: rest[..open].to_owned(), first: line_no, end: line_no, text };
            if rest.ends_with("<unfinished ...>") {
                pending.insert(tid, call);
            } else {
                calls.push(call);
            }
        }
    }
    calls
}

fn on_socket(c: &Call) -> bool {
    c.text.split_once(',').is_some_and(|(fd, _)| fd.contains("<TCP:"))
}

fn on_wal(c: &Call) -> bool {
    c.text.split_once([',', ')']).is_some_and(|(fd, _)| fd.ends_with("-wal>"))
}

/// Sends `PER_TASK` messages from each of `TASKS` concurrent tasks; returns
/// (id, content) of every acknowledged one.
async fn send_all(url: &str) -> Vec<(i64, String)> {
    let http = reqwest::Client::new();
    for name in ["alice", "bob"] {
        let r = http.post(format!("{url}/peers/register")).bearer_auth(TOKEN).json(&json!({"name": name})).send();
        assert!(r.await.unwrap().status().is_success());
    }
    let mut tasks = Vec::new();
    for t in 0..TASKS {
        let (http, url) = (http.clone(), url.to_owned());
        tasks.push(tokio::spawn(async move {
            let mut acked = Vec::new();
            for i in 0..PER_TASK {
                let content = format!("fsyncproof{t:02}x{i:03}x{}", uuid::Uuid::new_v4().simple());
                let body = json!({"from_node": "alice", "to_node": "bob", "kind": "fyi", "content": content});
                let r = http.post(format!("{url}/messages")).bearer_auth(TOKEN).json(&body).send().await.unwrap();
                assert!(r.status().is_success(), "send answered {}", r.status());
                let v: Value = r.json().await.unwrap();
                acked.push((v["id"].as_i64().unwrap(), content));
            }
            acked
        }));
    }
    let mut acked = Vec::new();
    for t in tasks {
        acked.extend(t.await.unwrap());
    }
    acked
}

/// Stops the traced gateway (strace's child) with SIGTERM; strace then ends.
fn stop_traced(strace: &mut std::process::Child) {
    let children = std::fs::read_to_string(format!("/proc/{0}/task/{0}/children", strace.id())).unwrap_or_default();
    for pid in children.split_whitespace() {
        let _ = Command::new("kill").args(["-TERM", pid]).status();
    }
    strace.wait().unwrap();
}

fn check(trace: &Path, acked: &[(i64, String)]) {
    let text = std::fs::read_to_string(trace).unwrap();
    let calls = parse(&text);
    let syncs: Vec<usize> = calls
        .iter()
        .filter(|c| matches!(c.name.as_str(), "fsync" | "fdatasync") && on_wal(c) && c.text.ends_with("= 0"))
        .map(|c| c.end)
        .collect();
    assert!(!syncs.is_empty(), "no fsync of the WAL in the trace");
    for (id, content) in acked {
        let read = calls
            .iter()
            .find(|c| {
                matches!(c.name.as_str(), "read" | "recvfrom" | "readv" | "recvmsg")
                    && on_socket(c)
                    && c.text.contains(content.as_str())
            })
            .unwrap_or_else(|| panic!("message {id}: its request is not in the trace"));
        let wal_write = calls
            .iter()
            .filter(|c| c.end > read.end && matches!(c.name.as_str(), "pwrite64" | "pwritev" | "pwritev2" | "write"))
            .find(|c| on_wal(c) && c.text.contains(content.as_str()))
            .unwrap_or_else(|| panic!("message {id}: its content was never written to the WAL after its request"));
        let sync = *syncs
            .iter()
            .find(|&&s| s > wal_write.end)
            .unwrap_or_else(|| panic!("message {id}: no fsync of the WAL after its write"));
        let ids = [format!("\\\"id\\\":{id},"), format!("\\\"id\\\":{id}}}")];
        let response = calls
            .iter()
            .find(|c| {
                matches!(c.name.as_str(), "write" | "writev" | "sendto" | "sendmsg")
                    && on_socket(c)
                    && c.text.contains("HTTP/1.1 200")
                    && ids.iter().any(|p| c.text.contains(p.as_str()))
            })
            .unwrap_or_else(|| panic!("message {id}: its 200 response is not in the trace"));
        assert!(
            sync < response.first,
            "message {id}: the 200 (trace line {}) was written before the WAL fsync (line {}) \
             that followed its WAL write (line {})",
            response.first + 1,
            sync + 1,
            wal_write.end + 1
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_send_was_fsynced_before_its_200() {
    if !strace_usable() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("strace.log");
    let data = dir.path().join("data");
    let mut strace = Command::new("strace");
    strace.arg("-f").arg("-yy").args(["-s", "16384", "-o"]).arg(&trace).args([
        "-e",
        "trace=read,recvfrom,readv,recvmsg,write,writev,sendto,sendmsg,pwrite64,pwritev,pwritev2,fsync,fdatasync",
        "--",
        env!("CARGO_BIN_EXE_meshgate"),
    ]);
    let (mut child, url) =
        serve_proc::start_command(strace, &["--data-dir".as_ref(), data.as_os_str()], &serve_proc::unlimited(TOKEN))
            .unwrap_or_else(|e| panic!("traced gateway did not start:\n{e}"));
    let acked = send_all(&url).await;
    stop_traced(&mut child);
    assert_eq!(acked.len(), TASKS * PER_TASK);
    check(&trace, &acked);
}
