//! `meshgate loops [reset A B]`: the conversation-loop breaker's tripped
//! pairs, and lifting one (operator token, `MESH_GATEWAY_TOKEN`; no `--as`
//! needed).

use anyhow::{Context, Result};

use super::Global;
use crate::exit::OK;
use crate::output::{one_line, print_json, table};

/// Arguments of `loops`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Reset a pair; without a subcommand the tripped pairs are listed.
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Print the list as JSON.
    #[arg(long)]
    pub json: bool,
}

/// The `loops` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Let DMs between peers A and B flow again (operator).
    Reset {
        /// One peer.
        a: String,
        /// The other peer.
        b: String,
    },
}

/// Runs `loops`.
pub async fn run(args: Args, global: &Global) -> Result<u8> {
    let client = global.admin_client().await?;
    match args.command {
        Some(Command::Reset { a, b }) => {
            let reset = client.reset_loop(&a, &b).await.with_context(|| format!("resetting the loop {a} <-> {b}"))?;
            let (a, b) = (one_line(&reset.a), one_line(&reset.b));
            if reset.was_tripped {
                println!("reset {a} <-> {b}: DMs between them flow again");
            } else {
                println!("{a} <-> {b} was not tripped; its count is cleared");
            }
        }
        None => {
            let list = client.loops().await.context("listing conversation loops")?;
            if args.json {
                print_json(&list)?;
            } else if let (Some(count), Some(window)) = (list.count, list.window_secs) {
                if list.tripped.is_empty() {
                    println!("no tripped pairs at {} (limit {count} DMs per {window} s)", client.gateway());
                } else {
                    let rows: Vec<Vec<String>> = list
                        .tripped
                        .iter()
                        .map(|p| {
                            vec![one_line(&p.a), one_line(&p.b), p.count.to_string(), format!("{} s", p.retry_after)]
                        })
                        .collect();
                    println!("{}", table(&["PEER", "PEER", "DMS", "LIFTS IN"], &rows));
                    println!("limit {count} DMs per {window} s; `meshgate loops reset A B` lifts one");
                }
            } else {
                println!("the loop breaker is off at {} (--loop-limit off)", client.gateway());
            }
        }
    }
    Ok(OK)
}
