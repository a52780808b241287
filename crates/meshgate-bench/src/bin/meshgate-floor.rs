//! `meshgate-floor`: a do-nothing HTTP server, the floor meshgate's cost is
//! measured against (`bench/cost.py`).
//!
//! It runs the same stack as the gateway (tokio's multi-threaded runtime,
//! hyper HTTP/1.1 through `axum::serve`, keep-alive) and does no work of its
//! own: `POST /messages` reads the body and answers a fixed send response;
//! `GET /messages` answers a fixed JSON page of `--rows` messages shaped like
//! the gateway's (the inbox benchmark's page: 50 rows, ~21 KB). No auth, no
//! store, no validation: whatever meshgate spends beyond this is its own.
//! It uses the gateway's allocator too (jemalloc), so the allocator is part
//! of the floor, not of the difference.

use anyhow::Result;
use axum::body::Bytes;
use axum::http::header;
use axum::routing::get;
use axum::Router;
use clap::Parser;
use meshgate_proto::{Kind, Message, MessageList, SendResponse};

#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// The floor server's settings.
#[derive(Debug, Parser)]
struct Cli {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:18800")]
    listen: String,
    /// Messages in the `GET /messages` page.
    #[arg(long, default_value_t = 50)]
    rows: usize,
}

#[tokio::main]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    let page = Bytes::from(page(cli.rows)?);
    let sent = SendResponse {
        id: 1,
        from_node: "bench-sender".into(),
        to_node: "bench-r000".into(),
        kind: Kind::Fyi,
        thread_id: None,
        created_at: "2026-12-05T20:00:00.000000+00:00".into(),
        resolved_from: None,
    };
    let sent = Bytes::from(serde_json::to_vec(&sent)?);
    let app = Router::new().route(
        "/messages",
        get(move || {
            let page = page.clone();
            async move { ([(header::CONTENT_TYPE, "application/json")], page) }
        })
        .post(move |_body: Bytes| {
            let sent = sent.clone();
            async move { ([(header::CONTENT_TYPE, "application/json")], sent) }
        }),
    );
    let listener = tokio::net::TcpListener::bind(&cli.listen).await?;
    axum::serve(listener, app).await?;
    Ok(())
}

/// A `MessageList` body of `rows` rows like the benchmark's seeded ones,
/// written by proto's own types (the gateway's wire form and field order).
fn page(rows: usize) -> Result<Vec<u8>> {
    let content = "meshgate benchmark message ".repeat(10);
    let messages: Vec<Message> = (0..rows)
        .map(|i| Message {
            id: 100_000 - i as i64,
            from_node: "bench-sender".into(),
            to_node: "bench-r000".into(),
            kind: Kind::Fyi,
            content: format!("{i} {}", &content[..200]),
            created_at: "2026-12-05T20:00:00.000000+00:00".into(),
            read_at: None,
            thread_id: None,
            related_task_id: None,
            owed: false,
            sender_verified: false,
        })
        .collect();
    Ok(serde_json::to_vec(&MessageList { n: messages.len(), messages })?)
}
