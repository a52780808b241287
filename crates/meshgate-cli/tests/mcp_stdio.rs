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

    // Before the handshake, and between its messages.
    send("not json at all".into()).await;
    let e = next().await;
    assert_eq!((e["id"].clone(), e["error"]["code"].clone()), (Value::Null, json!(-32700)), "{e}");
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-03-26", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}});
    send(init.to_string()).await;
    assert_eq!(next().await["id"], 1);
    send(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}).to_string()).await;

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
        "name": "send_message", "arguments": {"to": "bob", "kind": "fyi", "content": "still here"}}});
    send(call.to_string()).await;
    let answer = next().await;
    assert_eq!(answer["id"], 9, "{answer}");
    assert_eq!(answer["result"]["isError"], false, "{answer}");
    let inbox = scenarios::ok(&gw, &["inbox", "--as", "bob", "--json"]).await;
    assert!(inbox.contains("still here"), "{inbox}");

    // Closing stdin ends the session: exit 0.
    drop(stdin);
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait()).await.unwrap().unwrap();
    assert!(status.success(), "{status:?}");
}
