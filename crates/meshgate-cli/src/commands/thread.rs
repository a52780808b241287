//! `meshgate thread new NAME | show UUID | list`. Without `--as`, they act
//! as the operator (`MESH_GATEWAY_TOKEN`): every thread, and names minted
//! in the operator's shared namespace; with `--as`, the peer's own.

use anyhow::{Context, Result};

use super::Global;
use crate::exit::OK;
use crate::output::{block, one_line, print_json, short_time, table};

/// The `thread` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Mint the thread NAME (or return its UUID if it exists) and print its UUID.
    New {
        /// Thread name, by convention `a↔b:topic`.
        name: String,
        /// Print the thread as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show a thread's messages, oldest first.
    Show {
        /// Thread UUID.
        #[arg(value_name = "ID")]
        id: String,
        /// Print the thread as JSON.
        #[arg(long)]
        json: bool,
    },
    /// List threads, most recently used first.
    List {
        /// Print the threads as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Runs a `thread` subcommand.
pub async fn run(command: Command, global: &Global) -> Result<u8> {
    let client = global.admin_client().await?;
    match command {
        Command::New { name, json } => {
            let thread = client.mint_thread(&name).await.context("minting the thread")?;
            if json {
                print_json(&thread)?;
            } else {
                println!("{}", thread.thread_uuid);
            }
        }
        Command::Show { id, json } => {
            let shown = client.thread(&id).await.with_context(|| format!("reading thread {id}"))?;
            if json {
                print_json(&shown)?;
                return Ok(OK);
            }
            println!("thread {} ({})", shown.thread.thread_uuid, one_line(&shown.thread.thread_name));
            for m in &shown.messages {
                println!(
                    "--- #{} {} -> {} ({}) at {}",
                    m.id,
                    one_line(&m.from_node),
                    one_line(&m.to_node),
                    m.kind,
                    short_time(&m.created_at)
                );
                println!("{}", block(&m.content));
            }
            if shown.messages.is_empty() {
                println!("(no messages yet)");
            }
        }
        Command::List { json } => {
            let threads = client.threads().await.context("listing threads")?;
            if json {
                print_json(&threads)?;
            } else {
                let rows: Vec<Vec<String>> = threads
                    .iter()
                    .map(|t| {
                        vec![
                            t.thread_uuid.clone(),
                            t.last_used_at.as_deref().map(short_time).unwrap_or_default(),
                            one_line(&t.thread_name),
                        ]
                    })
                    .collect();
                println!("{}", table(&["ID", "LAST USED", "NAME"], &rows));
            }
        }
    }
    Ok(OK)
}
