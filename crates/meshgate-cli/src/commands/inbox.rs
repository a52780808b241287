//! `meshgate inbox [--unread] [--limit N] [--peek | --mark-read] [--json]`
//!
//! Unlike `swarph mesh inbox`, reading does not consume: messages are marked
//! read only with `--mark-read`, so a mistyped identity cannot silently eat
//! somebody else's unread state. `--peek` also records no delivery
//! (`GET /messages?peek=true`): the messages stay undelivered for receipts
//! and wake hooks.

use anyhow::{Context, Result};
use meshgate_client::FetchOptions;

use super::Global;
use crate::exit::OK;
use crate::output::{block, one_line, print_json, short_time, table};

/// Arguments of `inbox`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only unread messages.
    #[arg(long)]
    pub unread: bool,

    /// At most this many messages, newest first.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub limit: u32,

    /// Look only: mark nothing read and record no delivery.
    #[arg(long, conflicts_with = "mark_read")]
    pub peek: bool,

    /// Mark the unread messages shown as read.
    #[arg(long)]
    pub mark_read: bool,

    /// Print each message in full instead of a table.
    #[arg(long, conflicts_with = "json")]
    pub full: bool,

    /// Print the messages as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Runs `inbox`.
pub async fn run(args: Args, global: &Global) -> Result<u8> {
    let client = global.client().await?;
    let mut options = FetchOptions::all().unread_only(args.unread).limit(args.limit);
    if args.peek {
        options = options.peek();
    }
    let messages = client.fetch(options).await.context("reading the inbox")?;
    if args.json {
        print_json(&messages)?;
    } else if messages.is_empty() {
        println!("no {}messages for {}", if args.unread { "unread " } else { "" }, client.node());
    } else if args.full {
        for m in &messages {
            println!(
                "--- #{} from {} ({}) at {}{}{}",
                m.id,
                one_line(&m.from_node),
                m.kind,
                short_time(&m.created_at),
                if m.read_at.is_some() { ", read" } else { ", unread" },
                m.thread_id.as_deref().map(|t| format!(", thread {}", one_line(t))).unwrap_or_default(),
            );
            println!("{}", block(&m.content));
        }
    } else {
        let rows: Vec<Vec<String>> = messages
            .iter()
            .map(|m| {
                vec![
                    m.id.to_string(),
                    one_line(&m.from_node),
                    m.kind.to_string(),
                    short_time(&m.created_at),
                    if m.read_at.is_some() { "read" } else { "unread" }.to_owned(),
                    one_line(&m.content),
                ]
            })
            .collect();
        println!("{}", table(&["ID", "FROM", "KIND", "SENT", "STATE", "CONTENT"], &rows));
    }
    if args.mark_read {
        let unread: Vec<i64> = messages.iter().filter(|m| m.read_at.is_none()).map(|m| m.id).collect();
        let result = client.mark_read_many(&unread).await.context("marking the messages read")?;
        eprintln!(
            "marked {} message(s) read{}",
            result.marked.len(),
            if result.not_found.is_empty() {
                String::new()
            } else {
                format!("; {} already read or gone", result.not_found.len())
            }
        );
    }
    Ok(OK)
}
