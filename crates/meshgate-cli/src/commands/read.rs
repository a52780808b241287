//! `meshgate read ID...`: mark messages read.

use anyhow::{Context, Result};

use super::Global;
use crate::exit::{OK, REFUSED};
use crate::output::print_json;

/// Arguments of `read`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Message ids to mark read.
    #[arg(value_name = "ID", required = true)]
    pub ids: Vec<i64>,

    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Runs `read`; exits 1 when an id does not exist (or, on the reference
/// gateway, was already read).
pub async fn run(args: Args, global: &Global) -> Result<u8> {
    let client = global.client().await?;
    let result = client.mark_read_many(&args.ids).await.context("marking messages read")?;
    if args.json {
        print_json(&result)?;
    } else {
        for marked in &result.marked {
            println!("{} read at {}", marked.id, marked.read_at);
        }
        for id in &result.not_found {
            eprintln!(
                "{id}: no such message for {} (or already read, on gateways that do not keep read_at)",
                client.node()
            );
        }
    }
    Ok(if result.not_found.is_empty() { OK } else { REFUSED })
}
