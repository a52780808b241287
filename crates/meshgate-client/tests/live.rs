//! `Client::wait` and `Client::stream` against the real gateway (in-process,
//! over SQLite in a temp dir) and against a scripted SSE server.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use meshgate_client::{Client, Error, Kind, Message, SendOptions, StreamStart, WaitOptions};
use meshgate_server::{Config, OperatorToken};
use meshgate_store_sqlite::{SqliteOptions, SqliteStore};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

const OPERATOR: &str = "operator-live-test-token-0123456789";

/// A gateway on its own runtime and thread, so stopping it can also kill
/// every open connection (dropping the runtime drops the connection tasks).
struct Server {
    url: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<bool>>,
}

impl Server {
    /// Serves `db` on `port` (0: any free port). Retries the bind for a
    /// while: the previous server's socket may still be closing.
    fn start(db: &Path, port: u16) -> Server {
        let db = db.to_path_buf();
        let (bound_tx, bound_rx) = std::sync::mpsc::channel::<u16>();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || serve_on_own_runtime(db, port, bound_tx, stopped));
        let port = bound_rx.recv_timeout(Duration::from_secs(10)).expect("gateway bound its port");
        Server { url: format!("http://127.0.0.1:{port}"), stop: Some(stop), thread: Some(thread) }
    }

    fn port(&self) -> u16 {
        self.url.rsplit(':').next().unwrap().parse().unwrap()
    }

    /// Sends the graceful-shutdown signal, gives open streams 2 s, then
    /// kills whatever is left. Returns whether the graceful shutdown
    /// finished by itself.
    async fn stop(mut self) -> bool {
        let _ = self.stop.take().unwrap().send(());
        let thread = self.thread.take().unwrap();
        tokio::task::spawn_blocking(move || thread.join().expect("server thread")).await.unwrap()
    }
}

fn serve_on_own_runtime(
    db: PathBuf,
    port: u16,
    bound: std::sync::mpsc::Sender<u16>,
    stopped: tokio::sync::oneshot::Receiver<()>,
) -> bool {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let graceful = runtime.block_on(async move {
        let mut tries = 0;
        let listener = loop {
            match tokio::net::TcpListener::bind(("127.0.0.1", port)).await {
                Ok(l) => break l,
                Err(e) if tries < 100 => {
                    tries += 1;
                    eprintln!("bind 127.0.0.1:{port}: {e}; retrying");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => panic!("bind 127.0.0.1:{port}: {e}"),
            }
        };
        bound.send(listener.local_addr().unwrap().port()).unwrap();
        let store = SqliteStore::open(&db, SqliteOptions::default()).unwrap();
        let mut config = Config::new(OperatorToken::new(OPERATOR));
        config.keep_alive = Duration::from_secs(1);
        let (signal_tx, signal_rx) = tokio::sync::oneshot::channel::<()>();
        let serve = meshgate_server::serve(listener, Arc::new(store), config, async move {
            let _ = signal_rx.await;
        });
        tokio::pin!(serve);
        tokio::select! {
            _ = &mut serve => return true,
            _ = stopped => { let _ = signal_tx.send(()); }
        }
        tokio::time::timeout(Duration::from_secs(2), serve).await.is_ok()
    });
    // Dropping the runtime drops every connection task: the kill.
    runtime.shutdown_timeout(Duration::from_secs(1));
    graceful
}

async fn operator(url: &str, path: &str, body: Value) -> Value {
    let response = reqwest::Client::new()
        .post(format!("{url}{path}"))
        .bearer_auth(OPERATOR)
        .json(&body)
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST {path}: {e}"));
    let status = response.status();
    let value: Value = response.json().await.unwrap();
    assert!(status.is_success(), "POST {path}: {status} {value}");
    value
}

/// Registers `name` and returns a client using its per-peer token.
async fn peer(url: &str, name: &str) -> Client {
    let answer = operator(url, "/peers/register", json!({"name": name, "url": "http://x.invalid:1"})).await;
    let token = answer["peer_token"].as_str().expect("fresh peer token").to_owned();
    Client::builder().gateway(url).token_from(token, format!("token of {name}")).node(name).build().unwrap()
}

async fn send_n(client: &Client, to: &str, n: usize, tag: &str) -> Vec<i64> {
    let mut ids = Vec::new();
    for i in 0..n {
        ids.push(client.send(to, Kind::Fyi, &format!("{tag} {i}"), SendOptions::new()).await.unwrap().id);
    }
    ids
}

/// Collects `n` messages from `rx` (10 s each at most).
async fn take(rx: &mut mpsc::UnboundedReceiver<Result<Message, Error>>, n: usize) -> Vec<i64> {
    let mut ids = Vec::new();
    for _ in 0..n {
        let item = tokio::time::timeout(Duration::from_secs(15), rx.recv())
            .await
            .unwrap_or_else(|_| panic!("timed out after {ids:?}"))
            .expect("stream task alive");
        ids.push(item.expect("stream item").id);
    }
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_survives_gateway_restarts_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("meshgate.db");
    let server = Server::start(&db, 0);
    let port = server.port();
    let url = server.url.clone();
    let alice = peer(&url, "alice").await;
    let bob = peer(&url, "bob").await;
    send_n(&alice, "bob", 2, "before").await;

    let (tx, mut rx) = mpsc::unbounded_channel();
    let consumer = tokio::spawn(async move {
        let mut inbox = std::pin::pin!(bob.stream(StreamStart::Now).await.unwrap());
        while let Some(item) = inbox.next().await {
            if tx.send(item).is_err() {
                return;
            }
        }
    });
    tokio::time::sleep(Duration::from_millis(500)).await; // let it pin "now" and connect

    let mut expected = send_n(&alice, "bob", 3, "live").await;
    assert_eq!(take(&mut rx, 3).await, expected, "only messages from now on, in order");

    // Restart 1: the gateway goes away with the stream open; messages sent
    // to the new gateway (same port, same file) arrive once.
    let graceful = server.stop().await;
    eprintln!("graceful shutdown with an open stream finished by itself: {graceful}");
    let server = Server::start(&db, port);
    let more = send_n(&alice, "bob", 3, "after restart").await;
    expected.extend(&more);
    assert_eq!(take(&mut rx, 3).await, more);

    // Restart 2: messages committed while no gateway... is impossible, so
    // commit them while the client is still backing off: stop, start, send
    // at once, before the client reconnected.
    server.stop().await;
    let server = Server::start(&db, port);
    let burst = send_n(&alice, "bob", 5, "burst").await;
    expected.extend(&burst);
    assert_eq!(take(&mut rx, 5).await, burst);

    // Nothing else was queued: no duplicate arrives.
    let extra = tokio::time::timeout(Duration::from_millis(1500), rx.recv()).await;
    assert!(extra.is_err(), "unexpected extra item {extra:?}");
    consumer.abort();
    server.stop().await;
}

/// Issue #18: "now" is pinned when the stream is created, not at the first
/// poll, so a message sent in between is the first thing it yields.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_now_yields_a_message_sent_before_the_first_poll() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("meshgate.db"), 0);
    let alice = peer(&server.url, "alice").await;
    let bob = peer(&server.url, "bob").await;
    let old = send_n(&alice, "bob", 2, "before the stream").await;

    let inbox = bob.stream(StreamStart::Now).await.unwrap();
    let sent = send_n(&alice, "bob", 1, "between creation and the first poll").await;
    let mut inbox = std::pin::pin!(inbox);
    let first = tokio::time::timeout(Duration::from_secs(10), inbox.next()).await.expect("a message within 10 s");
    let first = first.expect("stream open").expect("a message");
    assert_eq!(first.id, sent[0], "older messages {old:?} are not \"now\"");
    assert_eq!(first.content, "between creation and the first poll 0");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_from_an_id_and_auth_errors_end_it() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("meshgate.db"), 0);
    let url = server.url.clone();
    let alice = peer(&url, "alice").await;
    let bob = peer(&url, "bob").await;
    let sent = send_n(&alice, "bob", 4, "m").await;

    let got: Vec<i64> =
        bob.stream(StreamStart::After(sent[1])).await.unwrap().take(2).map(|m| m.unwrap().id).collect().await;
    assert_eq!(got, sent[2..]);
    // Below 0 is the whole inbox (the gateway refuses a negative Last-Event-ID).
    let all: Vec<i64> =
        bob.stream(StreamStart::After(-5)).await.unwrap().take(4).map(|m| m.unwrap().id).collect().await;
    assert_eq!(all, sent);

    let bad = Client::builder().gateway(&url).token_from("not-a-real-token", "bad token").node("bob").build().unwrap();
    let items: Vec<_> = bad.stream(StreamStart::After(0)).await.unwrap().collect().await;
    assert_eq!(items.len(), 1, "{items:?}");
    assert!(matches!(&items[0], Err(Error::Auth { status: 401, .. })), "{items:?}");
    // "Now" looks the cursor up when the stream is created: the refusal
    // comes back from that call.
    let refused = bad.stream(StreamStart::Now).await.err();
    assert!(matches!(refused, Some(Error::Auth { status: 401, .. })), "{refused:?}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_long_polls_and_times_out_empty() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("meshgate.db"), 0);
    let url = server.url.clone();
    let alice = peer(&url, "alice").await;
    let bob = peer(&url, "bob").await;
    let now = bob.latest_id(None).await.unwrap();
    assert_eq!(now, 0);

    // Times out empty.
    let started = std::time::Instant::now();
    let none = bob.wait(WaitOptions::new().after(now).timeout(Duration::from_secs(1))).await.unwrap();
    assert!(none.is_empty());
    assert!(started.elapsed() >= Duration::from_millis(900), "{:?}", started.elapsed());

    // Wakes up for a message committed while it waits; a wait longer than
    // the per-request timeout (10 s) does not trip it.
    let waiter = tokio::spawn({
        let bob = peer_client(&url, &bob);
        async move { bob.wait(WaitOptions::new().after(now).timeout(Duration::from_secs(20))).await }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let id = alice.send("bob", Kind::Question, "are you there?", SendOptions::new()).await.unwrap().id;
    let got = waiter.await.unwrap().unwrap();
    assert_eq!(got.iter().map(|m| m.id).collect::<Vec<_>>(), vec![id]);
    assert_eq!(bob.latest_id(None).await.unwrap(), id);

    // Answers at once when something already matches.
    let got = bob.wait(WaitOptions::new().unread_only(true)).await.unwrap();
    assert_eq!(got.len(), 1);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_the_token_ends_the_clients_stream_and_wait() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("meshgate.db"), 0);
    let url = server.url.clone();
    let alice = peer(&url, "alice").await;
    let answer = operator(&url, "/peers/register", json!({"name": "bob"})).await;
    let token = answer["peer_token"].as_str().unwrap().to_owned();
    let bob = || Client::builder().gateway(&url).token_from(token.clone(), "bob's token").node("bob").build().unwrap();

    let (tx, mut rx) = mpsc::unbounded_channel();
    let streamer = bob();
    let consumer = tokio::spawn(async move {
        let mut inbox = std::pin::pin!(streamer.stream(StreamStart::Now).await.unwrap());
        while let Some(item) = inbox.next().await {
            let _ = tx.send(item);
        }
    });
    let waiter = {
        let bob = bob();
        tokio::spawn(async move { bob.wait(WaitOptions::new().after(1_000).timeout(Duration::from_secs(30))).await })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    let sent = send_n(&alice, "bob", 1, "before").await;
    assert_eq!(take(&mut rx, 1).await, sent);

    operator(&url, "/peers/bob/revoke", json!({})).await;
    // The stream closes; its reconnect is refused: a final auth error.
    let item = tokio::time::timeout(Duration::from_secs(10), rx.recv()).await.expect("in time").expect("an item");
    assert!(matches!(&item, Err(Error::Auth { status: 401, .. })), "{item:?}");
    tokio::time::timeout(Duration::from_secs(5), consumer).await.expect("the stream ended").unwrap();
    let waited = tokio::time::timeout(Duration::from_secs(5), waiter).await.expect("the wait ended").unwrap();
    assert!(matches!(&waited, Err(Error::Auth { status: 401, .. })), "{waited:?}");
    server.stop().await;
}

/// A second client with the same identity and token source as `client`.
fn peer_client(url: &str, client: &Client) -> Client {
    // The token is not readable back from a client (by design), so the
    // operator token acting as the same node stands in.
    let _ = client;
    Client::builder().gateway(url).token_from(OPERATOR, "operator").node("bob").build().unwrap()
}

/// A scripted SSE server: each accepted connection gets the next script
/// entry (raw response bytes, written in small pieces); records the
/// `Last-Event-ID` each request carried.
async fn scripted(scripts: Vec<Vec<u8>>) -> (String, Arc<std::sync::Mutex<Vec<Option<String>>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    tokio::spawn(async move {
        for script in scripts {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut head = Vec::new();
            let mut buf = [0u8; 1024];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = socket.read(&mut buf).await.unwrap();
                if n == 0 {
                    break;
                }
                head.extend_from_slice(&buf[..n]);
            }
            let head = String::from_utf8_lossy(&head).to_string();
            let last = head.lines().find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("last-event-id").then(|| v.trim().to_owned())
            });
            log.lock().unwrap().push(last);
            for piece in script.chunks(7) {
                if socket.write_all(piece).await.is_err() {
                    break;
                }
                let _ = socket.flush().await;
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            let _ = socket.shutdown().await;
        }
    });
    (url, seen)
}

fn event(id: i64, crlf: bool) -> String {
    let m = json!({"id": id, "from_node": "alice", "to_node": "bob", "kind": "fyi", "content": format!("line 1\nline {id}"),
        "created_at": "2026-01-01T00:00:00.000000+00:00"});
    let nl = if crlf { "\r\n" } else { "\n" };
    // The JSON split over two data lines: joined with "\n", still valid JSON.
    let text = m.to_string();
    let (a, b) = text.split_at(text.find("\"kind\"").unwrap());
    format!(": keep-alive{nl}event: message{nl}id: {id}{nl}data: {a}{nl}data: {b}{nl}{nl}")
}

fn ok_stream(body: &str) -> Vec<u8> {
    format!("HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\nconnection: close\r\n\r\n{body}")
        .into_bytes()
}

#[tokio::test]
async fn reconnects_with_last_event_id_and_skips_replayed_ids() {
    let unauthorized = br#"{"error":"unauthorized","detail":"token revoked"}"#;
    let scripts = vec![
        ok_stream(&(event(1, true) + &event(2, false) + "id: 3\ndata: {\"id\":3,")), // cut mid-event
        b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".to_vec(),
        ok_stream(&(event(2, false) + &event(3, true) + &event(4, false))), // 2 replayed
        format!(
            "HTTP/1.1 401 Unauthorized\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{}",
            unauthorized.len(),
            String::from_utf8_lossy(unauthorized)
        )
        .into_bytes(),
    ];
    let (url, seen) = scripted(scripts).await;
    let client = Client::builder().gateway(&url).token_from("tok-123456", "test token").node("bob").build().unwrap();
    let started = std::time::Instant::now();
    let items: Vec<_> = client.stream(StreamStart::After(0)).await.unwrap().collect().await;
    let ids: Vec<i64> = items.iter().filter_map(|i| i.as_ref().ok().map(|m| m.id)).collect();
    assert_eq!(ids, vec![1, 2, 3, 4], "{items:?}");
    assert!(matches!(items.last(), Some(Err(Error::Auth { status: 401, .. }))), "{items:?}");
    let ok: Vec<&Message> = items.iter().filter_map(|i| i.as_ref().ok()).collect();
    assert_eq!(ok[0].content, "line 1\nline 1");
    assert_eq!(
        *seen.lock().unwrap(),
        vec![Some("0".to_owned()), Some("2".to_owned()), Some("2".to_owned()), Some("4".to_owned())]
    );
    assert!(started.elapsed() < Duration::from_secs(5), "backoff stays short: {:?}", started.elapsed());
}

#[tokio::test]
async fn a_gateway_without_streaming_is_unsupported() {
    let not_found = br#"{"detail":"Not Found"}"#;
    let response = format!(
        "HTTP/1.1 404 Not Found\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{}",
        not_found.len(),
        String::from_utf8_lossy(not_found)
    );
    let (url, _) = scripted(vec![response.into_bytes()]).await;
    let client = Client::builder().gateway(&url).token("tok-123456").node("bob").build().unwrap();
    let items: Vec<_> = client.stream(StreamStart::After(5)).await.unwrap().collect().await;
    assert!(matches!(&items[..], [Err(Error::Unsupported { feature: "live streaming", .. })]), "{items:?}");
}
