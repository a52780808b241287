//! `meshgate alias list | add ALIAS CANONICAL | rm ALIAS`: the gateway's
//! alias table. Listing works with any token; changes need the operator's
//! (`MESH_GATEWAY_TOKEN`, no `--as` needed).

use anyhow::{Context, Result};

use super::Global;
use crate::exit::OK;
use crate::output::{one_line, print_json, short_time, table};

/// The `alias` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// List the gateway's aliases.
    List {
        /// Print them as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Make ALIAS resolve to the peer CANONICAL (operator).
    Add {
        /// The nickname (cannot be a peer's name).
        alias: String,
        /// The registered peer it stands for.
        canonical: String,
    },
    /// Remove ALIAS (operator).
    Rm {
        /// The nickname.
        alias: String,
    },
}

/// Runs an `alias` subcommand.
pub async fn run(command: Command, global: &Global) -> Result<u8> {
    let client = global.admin_client().await?;
    match command {
        Command::List { json } => {
            let aliases = client.gateway_alias_table().await.context("listing aliases")?;
            if json {
                print_json(&aliases)?;
            } else if aliases.is_empty() {
                println!("no aliases at {}", client.gateway());
            } else {
                let rows: Vec<Vec<String>> = aliases
                    .iter()
                    .map(|a| {
                        vec![
                            one_line(&a.alias),
                            one_line(&a.canonical),
                            a.created_at.as_deref().map(short_time).unwrap_or_default(),
                        ]
                    })
                    .collect();
                println!("{}", table(&["ALIAS", "PEER", "CREATED"], &rows));
            }
        }
        Command::Add { alias, canonical } => {
            client.put_alias(&alias, &canonical).await.with_context(|| format!("adding alias {alias}"))?;
            println!("{alias} -> {canonical}");
        }
        Command::Rm { alias } => {
            client.delete_alias(&alias).await.with_context(|| format!("removing alias {alias}"))?;
            println!("removed alias {alias}");
        }
    }
    Ok(OK)
}
