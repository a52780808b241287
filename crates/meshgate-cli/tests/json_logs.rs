//! `meshgate serve --log-format json` at debug level: every log line is a
//! JSON object, request lines carry the request id (the caller's sane
//! `X-Request-Id`, else a generated one, echoed in the response), and no
//! line holds a token or a message body.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const OPERATOR: &str = "operator-json-logs-token-0123456789";
const BODY: &str = "body-marker-7f3a do not log me";

#[tokio::test]
async fn json_lines_parse_carry_the_request_id_and_hold_no_token_or_body() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("stderr.log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_meshgate"))
        .args(["serve", "--listen", "127.0.0.1:0", "--log-format", "json", "--data-dir"])
        .arg(dir.path().join("data"))
        .env("MESH_GATEWAY_TOKEN", OPERATOR)
        .env("RUST_LOG", "debug")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let url = loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if let Some(line) = text.lines().find_map(|l| l.strip_prefix("meshgate: listening on ")) {
            break line.trim().to_owned();
        }
        assert!(Instant::now() < deadline && child.try_wait().unwrap().is_none(), "serve did not start:\n{text}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };

    let http = reqwest::Client::new();
    let mut tokens = vec![OPERATOR.to_owned()];
    for name in ["alice", "bob"] {
        let resp = http
            .post(format!("{url}/peers/register"))
            .bearer_auth(OPERATOR)
            .json(&json!({"name": name}))
            .send()
            .await
            .unwrap();
        let body: Value = resp.json().await.unwrap();
        tokens.push(body["peer_token"].as_str().unwrap().to_owned());
    }
    let resp = http
        .post(format!("{url}/messages"))
        .bearer_auth(&tokens[1])
        .header("X-Request-Id", "client-trace:42/a.b_c")
        .json(&json!({"to_node": "bob", "kind": "fyi", "content": BODY}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-request-id"], "client-trace:42/a.b_c");
    // An id that is not sane is replaced, and the replacement is echoed.
    let resp = http
        .get(format!("{url}/messages?to=bob"))
        .bearer_auth(&tokens[2])
        .header("X-Request-Id", format!("evil id {}", "x".repeat(200)))
        .send()
        .await
        .unwrap();
    let generated = resp.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert!(resp.text().await.unwrap().contains(BODY));
    assert!(!generated.contains("evil") && !generated.is_empty(), "{generated}");
    // A token sent as the request id or in the path is not logged: the id
    // is replaced, the path redacted (bidi and control characters escaped).
    for (bearer, id) in
        [(&tokens[1], tokens[2].clone()), (&tokens[1], tokens[1].clone()), (&tokens[0], tokens[0].clone())]
    {
        let resp =
            http.get(format!("{url}/peers")).bearer_auth(bearer).header("X-Request-Id", &id).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        assert_ne!(resp.headers()["x-request-id"].to_str().unwrap(), id);
    }
    for (bearer, in_path) in [(&tokens[1], &tokens[2]), (&tokens[0], &tokens[0])] {
        let resp = http.get(format!("{url}/peers/{in_path}/x%E2%80%AEy%0Az")).bearer_auth(bearer).send().await.unwrap();
        assert_eq!(resp.status(), 404);
        let resp = http.get(format!("{url}/peers/{in_path}")).bearer_auth(bearer).send().await.unwrap();
        assert_eq!(resp.status(), 404);
    }
    // A refused token is logged without the token.
    let resp = http.get(format!("{url}/peers")).bearer_auth("wrong-token-abcdef0123456789").send().await.unwrap();
    assert_eq!(resp.status(), 401);

    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    let _ = child.wait();
    let text = std::fs::read_to_string(&log).unwrap();
    let mut objects = Vec::new();
    for line in BufReader::new(text.as_bytes()).lines() {
        let line = line.unwrap();
        if line.starts_with("meshgate: ") {
            continue; // the human notices (where the token file is, where it listens)
        }
        let value: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(value["level"].is_string() && value["timestamp"].is_string(), "{line}");
        objects.push(value);
    }
    let answered = |id: &str| {
        objects.iter().find(|o| o["span"]["request_id"] == id && o["fields"]["message"] == "answered").cloned()
    };
    let given = answered("client-trace:42/a.b_c").expect("no line for the caller's request id");
    assert_eq!((given["span"]["method"].as_str(), given["span"]["path"].as_str()), (Some("POST"), Some("/messages")));
    assert_eq!(given["fields"]["status"], 200);
    assert!(answered(&generated).is_some(), "no line for the generated request id {generated}");
    assert!(!text.contains('\u{202E}'), "a raw bidi override reached the log");
    let escaped = objects.iter().any(|o| {
        o["span"]["path"]
            .as_str()
            .is_some_and(|p| p.starts_with("/peers/[REDACTED:") && p.ends_with("x\\u{202e}y\\u{a}z"))
    });
    assert!(escaped, "no redacted, escaped path line");
    for secret in tokens.iter().map(String::as_str).chain(["wrong-token-abcdef0123456789", "body-marker-7f3a"]) {
        assert!(!text.contains(secret), "the log holds {secret:?}");
    }
}
