//! `meshgate peers [--json]`

use anyhow::{Context, Result};

use super::Global;
use crate::exit::OK;
use crate::output::{one_line, print_json, short_time, table};

/// Arguments of `peers`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print the peers as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Runs `peers`.
pub async fn run(args: Args, global: &Global) -> Result<u8> {
    let client = global.client().await?;
    let peers = client.list_peers().await.context("listing peers")?;
    if args.json {
        print_json(&peers)?;
        return Ok(OK);
    }
    if peers.is_empty() {
        println!("no peers registered at {}", client.gateway());
        return Ok(OK);
    }
    let rows: Vec<Vec<String>> = peers
        .iter()
        .map(|p| {
            vec![
                one_line(&p.name),
                p.url.as_deref().map(one_line).unwrap_or_else(|| "-".into()),
                p.last_seen.as_deref().map(short_time).unwrap_or_else(|| "-".into()),
                one_line(&p.capabilities.keys().cloned().collect::<Vec<_>>().join(",")),
            ]
        })
        .collect();
    println!("{}", table(&["NAME", "URL", "LAST SEEN", "CAPABILITIES"], &rows));
    Ok(OK)
}
