//! `meshgate-bench`: live-delivery measurements against a running gateway.
//!
//! - `delivery`: one sender, one watcher; latency from the sender's 200 OK
//!   to the watcher holding the message, for SSE, long-poll, or the
//!   reference's polling model.
//! - `watchers`: holds N idle SSE connections open (each on its own inbox)
//!   until killed, so a second process can measure the gateway under them.
//!
//! Results are printed as one JSON object on stdout.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use futures_util::StreamExt;
use meshgate_proto::{Kind, ListQuery, Message, MessageList, RegisterRequest, SendRequest, StreamQuery};
use serde::Serialize;
use serde_json::{json, Value};

/// Live-delivery benchmarks.
#[derive(Debug, Parser)]
struct Cli {
    /// Gateway base URL.
    #[arg(long, default_value = "http://127.0.0.1:8788")]
    url: String,
    /// Operator token.
    #[arg(long, env = "MESH_GATEWAY_TOKEN")]
    token: String,
    /// Where the watcher connects (default: `--url`); another replica of the
    /// same database measures cross-replica delivery.
    #[arg(long)]
    watch_url: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Delivery latency over `count` messages.
    Delivery {
        /// How the watcher learns about messages.
        #[arg(long, value_enum)]
        mode: Mode,
        /// Messages to send.
        #[arg(long, default_value_t = 1000)]
        count: usize,
        /// Mean gap between sends, in milliseconds (uniform in 0.3x..1.7x).
        #[arg(long, default_value_t = 5)]
        gap_ms: u64,
        /// Poll period for `--mode poll`, in milliseconds.
        #[arg(long, default_value_t = 1000)]
        poll_ms: u64,
        /// Name prefix, so several runs can share a gateway.
        #[arg(long, default_value = "dlv")]
        prefix: String,
    },
    /// Open `count` idle SSE watchers and hold them until killed.
    Watchers {
        /// Connections to open.
        #[arg(long, default_value_t = 10_000)]
        count: usize,
        /// Connections opened at once.
        #[arg(long, default_value_t = 200)]
        parallel: usize,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Mode {
    /// `GET /messages/stream` (Server-Sent Events).
    Sse,
    /// `GET /messages?after_id=N&wait=30` in a loop.
    Longpoll,
    /// `GET /messages?to=W&limit=50` every `--poll-ms` (the reference's model).
    Poll,
}

#[tokio::main]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    let http = reqwest::Client::builder().pool_max_idle_per_host(64).build()?;
    let out = match cli.command {
        Command::Delivery { mode, count, gap_ms, poll_ms, ref prefix } => {
            delivery(&http, &cli, mode, count, gap_ms, poll_ms, prefix).await?
        }
        Command::Watchers { count, parallel } => watchers(&cli, count, parallel).await?,
    };
    println!("{out}");
    Ok(())
}

async fn post(http: &reqwest::Client, cli: &Cli, path: &str, body: &impl Serialize) -> Result<Value> {
    let resp = http.post(format!("{}{path}", cli.url)).bearer_auth(&cli.token).json(body).send().await?;
    let status = resp.status();
    let text = resp.text().await?;
    if !status.is_success() {
        bail!("POST {path}: {status}: {text}");
    }
    Ok(serde_json::from_str(&text)?)
}

type Arrivals = Arc<Mutex<HashMap<i64, Instant>>>;

async fn delivery(
    http: &reqwest::Client,
    cli: &Cli,
    mode: Mode,
    count: usize,
    gap_ms: u64,
    poll_ms: u64,
    prefix: &str,
) -> Result<Value> {
    let sender = format!("{prefix}-sender");
    let watcher = format!("{prefix}-watcher");
    for name in [&sender, &watcher] {
        let register = RegisterRequest {
            name: name.clone(),
            url: Some("http://bench.invalid:1".into()),
            capabilities: None,
            adopt_history: false,
        };
        post(http, cli, "/peers/register", &register).await?;
    }
    // Start after everything already in the watcher's inbox.
    let start_after = latest_id(http, cli, &watcher).await?;
    let arrivals: Arrivals = Arc::default();
    let watch_task = {
        let (http, url, token, watcher, arrivals) = (
            http.clone(),
            cli.watch_url.clone().unwrap_or_else(|| cli.url.clone()),
            cli.token.clone(),
            watcher.clone(),
            arrivals.clone(),
        );
        tokio::spawn(async move {
            match mode {
                Mode::Sse => watch_sse(&http, &url, &token, &watcher, start_after, &arrivals).await,
                Mode::Longpoll => watch_longpoll(&http, &url, &token, &watcher, start_after, &arrivals).await,
                Mode::Poll => watch_poll(&http, &url, &token, &watcher, start_after, poll_ms, &arrivals).await,
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await; // let the watcher connect

    let mut acked: Vec<(i64, Instant, Instant)> = Vec::with_capacity(count);
    let mut rng = 0x9e3779b97f4a7c15u64;
    for i in 0..count {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let factor = 0.3 + (rng % 1400) as f64 / 1000.0;
        tokio::time::sleep(Duration::from_micros((gap_ms as f64 * 1000.0 * factor) as u64)).await;
        let started = Instant::now();
        let probe = SendRequest::new(&watcher, Kind::Fyi, format!("delivery probe {i}"));
        let body = SendRequest { from_node: Some(sender.clone()), ..probe };
        let v = post(http, cli, "/messages", &body).await?;
        acked.push((v["id"].as_i64().context("id")?, started, Instant::now()));
    }
    let deadline = Instant::now() + Duration::from_secs(10) + Duration::from_millis(2 * poll_ms);
    while arrivals.lock().unwrap().len() < count && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    watch_task.abort();
    let arrivals = arrivals.lock().unwrap().clone();
    let mut from_ok = Vec::new();
    let mut from_start = Vec::new();
    let mut before_ok = 0;
    for (id, started, ok) in &acked {
        if let Some(at) = arrivals.get(id) {
            from_start.push(at.duration_since(*started).as_secs_f64() * 1000.0);
            match at.checked_duration_since(*ok) {
                Some(d) => from_ok.push(d.as_secs_f64() * 1000.0),
                None => {
                    before_ok += 1;
                    from_ok.push(0.0);
                }
            }
        }
    }
    Ok(json!({
        "mode": format!("{mode:?}").to_lowercase(),
        "sent": count,
        "delivered": from_ok.len(),
        "arrived_before_ok": before_ok,
        "from_ok_ms": stats(&mut from_ok),
        "from_send_start_ms": stats(&mut from_start),
    }))
}

fn stats(v: &mut [f64]) -> Value {
    if v.is_empty() {
        return Value::Null;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let pct = |p: f64| v[((v.len() as f64 - 1.0) * p).round() as usize];
    json!({
        "n": v.len(),
        "mean": v.iter().sum::<f64>() / v.len() as f64,
        "p50": pct(0.50), "p90": pct(0.90), "p99": pct(0.99), "max": v[v.len() - 1],
    })
}

/// `GET /messages` with `q`'s parameters (proto's names).
fn inbox(http: &reqwest::Client, url: &str, token: &str, q: ListQuery) -> reqwest::RequestBuilder {
    http.get(format!("{url}/messages")).query(&q.pairs()).bearer_auth(token)
}

async fn latest_id(http: &reqwest::Client, cli: &Cli, to: &str) -> Result<i64> {
    let q = ListQuery { to: Some(to.to_owned()), limit: Some(1), ..ListQuery::default() };
    let list: MessageList = inbox(http, &cli.url, &cli.token, q).send().await?.json().await?;
    Ok(list.messages.first().map_or(0, |m| m.id))
}

/// Notes the arrival of the DMs `ids` (the first sighting counts); the
/// largest id.
fn arrived(arrivals: &Arrivals, ids: impl IntoIterator<Item = i64>) -> i64 {
    let now = Instant::now();
    let mut map = arrivals.lock().unwrap();
    let mut last = 0;
    for id in ids {
        map.entry(id).or_insert(now);
        last = last.max(id);
    }
    last
}

async fn watch_sse(http: &reqwest::Client, url: &str, token: &str, to: &str, after: i64, arrivals: &Arrivals) {
    let q = ListQuery { to: Some(to.to_owned()), after_id: Some(after), ..ListQuery::default() };
    let request = http.get(format!("{url}/messages/stream")).query(&q.pairs()).bearer_auth(token);
    let Ok(resp) = request.send().await else {
        return;
    };
    let mut stream = resp.bytes_stream();
    let mut buf = Vec::new();
    while let Some(Ok(chunk)) = stream.next().await {
        buf.extend_from_slice(&chunk);
        while let Some(end) = buf.windows(2).position(|w| w == b"\n\n") {
            let block: Vec<u8> = buf.drain(..end + 2).collect();
            for line in String::from_utf8_lossy(&block).lines() {
                if let Some(data) = line.strip_prefix("data:") {
                    if let Ok(m) = serde_json::from_str::<Message>(data.trim()) {
                        arrived(arrivals, [m.id]);
                    }
                }
            }
        }
    }
}

async fn watch_longpoll(http: &reqwest::Client, url: &str, token: &str, to: &str, mut after: i64, arrivals: &Arrivals) {
    loop {
        let q = ListQuery {
            to: Some(to.to_owned()),
            after_id: Some(after),
            limit: Some(1000),
            wait: Some(30),
            ..ListQuery::default()
        };
        let Ok(resp) = inbox(http, url, token, q).send().await else { return };
        let Ok(list) = resp.json::<MessageList>().await else { return };
        after = after.max(arrived(arrivals, list.messages.iter().map(|m| m.id)));
    }
}

async fn watch_poll(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    to: &str,
    after: i64,
    period_ms: u64,
    arrivals: &Arrivals,
) {
    let mut tick = tokio::time::interval(Duration::from_millis(period_ms));
    loop {
        tick.tick().await;
        let q = ListQuery { to: Some(to.to_owned()), limit: Some(50), ..ListQuery::default() };
        let Ok(resp) = inbox(http, url, token, q).send().await else { return };
        let Ok(list) = resp.json::<MessageList>().await else { return };
        arrived(arrivals, list.messages.iter().map(|m| m.id).filter(|id| *id > after));
    }
}

async fn watchers(cli: &Cli, count: usize, parallel: usize) -> Result<Value> {
    let opened = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let failed = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let gate = Arc::new(tokio::sync::Semaphore::new(parallel));
    let mut tasks = Vec::with_capacity(count);
    for i in 0..count {
        // One client per connection: no pooling, each watcher its own socket.
        let http = reqwest::Client::builder().pool_max_idle_per_host(0).build()?;
        let (url, token, opened, failed, gate) =
            (cli.url.clone(), cli.token.clone(), opened.clone(), failed.clone(), gate.clone());
        tasks.push(tokio::spawn(async move {
            let permit = gate.acquire_owned().await.ok();
            let q = StreamQuery { to: Some(format!("idle-{i:05}")), ..StreamQuery::default() };
            let resp = http.get(format!("{url}/messages/stream")).query(&q.pairs()).bearer_auth(&token).send().await;
            drop(permit);
            match resp {
                Ok(r) if r.status().is_success() => {
                    opened.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let mut s = r.bytes_stream();
                    while let Some(Ok(_)) = s.next().await {}
                }
                _ => {
                    failed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            }
        }));
    }
    while opened.load(std::sync::atomic::Ordering::Relaxed) + failed.load(std::sync::atomic::Ordering::Relaxed) < count
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!(
        "watchers: {} open, {} failed, in {:.1} s; holding until killed",
        opened.load(std::sync::atomic::Ordering::Relaxed),
        failed.load(std::sync::atomic::Ordering::Relaxed),
        started.elapsed().as_secs_f64()
    );
    futures_util::future::join_all(tasks).await;
    Ok(json!({"opened": opened.load(std::sync::atomic::Ordering::Relaxed)}))
}
