//! `meshgate mcp` on stdio, line by line as a host drives it: a line that
//! is not a JSON-RPC message gets a JSON-RPC error and the session goes on
//! (rmcp alone stopped reading there and exited 0 without a word).

use crate::common;
use crate::scenarios::cli as scenarios;

use std::process::Stdio;
use std::time::Duration;

use common::meshgate_gateway;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

#[tokio::test]
async fn a_bad_line_is_answered_and_the_session_goes_on() {
    let gw = meshgate_gateway().await;
    for name in ["alice", "bob"] {
        scenarios::ok(&gw, &["register", "--as", name]).await;
    }
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_meshgate"))
        .args(["mcp", "--as", "alice"])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .envs(scenarios::env_for(&gw))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut send = async |line: String| stdin.write_all(format!("{line}\n").as_bytes()).await.unwrap();
    let mut next = async || -> Value {
        let line = tokio::time::timeout(Duration::from_secs(30), out.next_line()).await.unwrap().unwrap().unwrap();
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("stdout carries only JSON-RPC lines: {e}: {line:?}"))
    };

    // Before the handshake, and between its messages: a request out of order is answered, a
    // notification dropped (rmcp alone gave up on the session and quoted the message on stderr).
    send("not json at all".into()).await;
    let e = next().await;
    assert_eq!((e["id"].clone(), e["error"]["code"].clone()), (Value::Null, json!(-32700)), "{e}");
    let early = json!({"jsonrpc": "2.0", "id": 4, "method": "tools/call", "params": {
        "name": "send_message", "arguments": {"to": "bob", "kind": "fyi", "content": "EARLY-BODY"}}});
    send(early.to_string()).await;
    let e = next().await;
    assert_eq!((e["id"].clone(), e["error"]["code"].clone()), (json!(4), json!(-32600)), "{e}");
    send(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}).to_string()).await;
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-03-26", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}});
    send(init.to_string()).await;
    assert_eq!(next().await["id"], 1);
    send(json!({"jsonrpc": "2.0", "id": 5, "method": "tools/list"}).to_string()).await;
    let e = next().await;
    assert_eq!((e["id"].clone(), e["error"]["code"].clone()), (json!(5), json!(-32600)), "{e}");
    send(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}).to_string()).await;
    // An id that is neither a string nor a number is refused, not taken for a notification.
    send(r#"{"jsonrpc": "2.0", "id": {"a": 1}, "method": "ping"}"#.into()).await;
    assert_eq!(next().await["error"]["code"], -32600);

    // JSON that is no client message: invalid request, with its id when it has one.
    send(r#"{"id": 7, "what": "no method"}"#.into()).await;
    let e = next().await;
    assert_eq!((e["id"].clone(), e["error"]["code"].clone()), (json!(7), json!(-32600)), "{e}");
    send(r#"{"jsonrpc": "2.0", "id": 8, "method": "tools/call", "params": {"name": "send_message", "#.into()).await;
    assert_eq!(next().await["error"]["code"], -32700);
    // An empty line is no message and no answer; a line over the limit is refused whole.
    send(String::new()).await;
    send(format!("\"{}\"", "x".repeat(meshgate_mcp::stdio::LINE_MAX + 10))).await;
    let e = next().await;
    assert_eq!(e["error"]["code"], -32600, "{e}");
    assert!(e["error"]["message"].as_str().unwrap().contains("longer than"), "{e}");

    // The session still works: a tool call goes through to the gateway.
    let call = json!({"jsonrpc": "2.0", "id": 9, "method": "tools/call", "params": {
        "name": "send_message", "arguments": {"to": "bob", "kind": "fyi", "content": "still here",
        "thread_id": "0b0c4c2e-6f5a-4d8a-9a51-3c1d2f7b9e10"}}});
    send(call.to_string()).await;
    let answer = next().await;
    assert_eq!(answer["id"], 9, "{answer}");
    assert_eq!(answer["result"]["isError"], false, "{answer}");
    let inbox = scenarios::ok(&gw, &["inbox", "--as", "bob", "--json"]).await;
    assert!(inbox.contains("still here"), "{inbox}");
    assert!(!inbox.contains("EARLY-BODY"), "the request before initialize was not run: {inbox}");
    // A thread UUID in upper case is the same thread.
    let upper = "0B0C4C2E-6F5A-4D8A-9A51-3C1D2F7B9E10";
    let call = json!({"jsonrpc": "2.0", "id": 10, "method": "tools/call", "params": {
        "name": "get_thread", "arguments": {"thread_id": upper}}});
    send(call.to_string()).await;
    let answer = next().await;
    let text = answer["result"]["content"][0]["text"].as_str().unwrap_or_default().to_owned();
    assert!(answer["result"]["isError"] == false && text.contains("still here"), "{answer}");

    // Closing stdin ends the session: exit 0.
    drop(stdin);
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait()).await.unwrap().unwrap();
    assert!(status.success(), "{status:?}");
}

/// Content longer than a DM may be is refused before any byte leaves, by
/// `meshgate send` and by the MCP tool alike: no upload the gateway would cut
/// off mid-way (which killed both by SIGPIPE on a body over 4 MiB).
#[tokio::test]
async fn content_longer_than_a_dm_is_refused_before_the_upload() {
    let gw = meshgate_gateway().await;
    for name in ["alice", "bob"] {
        scenarios::ok(&gw, &["register", "--as", name]).await;
    }
    let file = gw.dir.path().join("big.txt");
    for chars in [meshgate_proto::CONTENT_MAX_CHARS + 1, 5 << 20] {
        std::fs::write(&file, "x".repeat(chars)).unwrap();
        let path = file.display().to_string();
        let (code, _, err) =
            scenarios::run(&gw, &["send", "bob", "--as", "alice", "--kind", "fyi", "--content-file", &path], None)
                .await;
        assert_eq!(code, 1, "{chars}: {err}");
        assert!(err.contains("more than a DM may hold"), "{chars}: {err}");
    }
    let inbox = scenarios::ok(&gw, &["inbox", "--as", "bob", "--json"]).await;
    assert_eq!(serde_json::from_str::<Value>(&inbox).unwrap().as_array().unwrap().len(), 0, "{inbox}");
}
