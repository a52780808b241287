//! `meshgate peers [--json]`, and the operator's peer commands:
//! `peers rm NAME [--purge]`, `peers revoke NAME`, `peers rotate NAME`,
//! `peers guard NAME block|warn|off|default`, `peers enable|disable NAME`.
//! None needs `--as`: with only `MESH_GATEWAY_TOKEN` set they act as the
//! operator. `rotate` also stores the new token where this CLI keeps NAME's.

use anyhow::{Context, Result};

use super::Global;
use crate::exit::OK;
use crate::output::{one_line, print_json, short_time, table};
use crate::tokens::TokenStore;

/// Arguments of `peers`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print the peers (or the action's result) as JSON.
    #[arg(long, global = true)]
    pub json: bool,
    /// An operator action on one peer (default: list the peers).
    #[command(subcommand)]
    pub action: Option<Action>,
}

/// Operator actions on one peer.
#[derive(Debug, clap::Subcommand)]
pub enum Action {
    /// Deregister NAME (its tokens die, its aliases go; its DMs stay and retire the name).
    Rm {
        /// Peer name.
        name: String,
        /// Also delete every DM it sent or received and the threads it minted, freeing the name.
        #[arg(long)]
        purge: bool,
    },
    /// Revoke NAME's tokens (its next registration mints a new one).
    Revoke {
        /// Peer name.
        name: String,
    },
    /// Give NAME a new token (printed once, and stored for NAME when this CLI keeps tokens for the gateway; the old one dies at once).
    Rotate {
        /// Peer name.
        name: String,
    },
    /// Enable NAME again: its token works and DMs to it are accepted.
    Enable {
        /// Peer name.
        name: String,
    },
    /// Disable NAME: its token is refused and DMs to it are refused; its data stays.
    Disable {
        /// Peer name.
        name: String,
    },
    /// Set NAME's own credential-guard policy for the DMs it sends (`default`: the gateway's).
    Guard {
        /// Peer name.
        name: String,
        /// block, warn, off or default.
        #[arg(value_parser = ["block", "warn", "off", "default"])]
        policy: String,
    },
}

/// Runs `peers`.
pub async fn run(args: Args, global: &Global) -> Result<u8> {
    let client = global.admin_client().await?;
    if let Some(action) = args.action {
        return act(&client, action, args.json, global).await;
    }
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

async fn act(client: &meshgate_client::Client, action: Action, json: bool, global: &Global) -> Result<u8> {
    match action {
        Action::Rm { name, purge: false } => {
            client.delete_peer(&name).await.with_context(|| format!("deregistering {name}"))?;
            println!("deregistered {name}");
        }
        Action::Rm { name, purge: true } => {
            let p = client.purge_peer(&name).await.with_context(|| format!("purging {name}"))?;
            if json {
                print_json(&p)?;
            } else {
                println!("purged {name}: {} messages, {} threads, {} aliases", p.messages, p.threads, p.aliases);
            }
        }
        Action::Revoke { name } => {
            client.revoke_peer_tokens(&name).await.with_context(|| format!("revoking {name}'s tokens"))?;
            println!("revoked {name}'s tokens");
        }
        Action::Rotate { name } => {
            let r = client.rotate_peer_token(&name).await.with_context(|| format!("rotating {name}'s token"))?;
            if json {
                print_json(&r)?;
            } else {
                println!("{}", r.peer_token);
                eprintln!("new token of {name} (generation {}); the old one no longer works", r.token_generation);
            }
            store_rotated(global, &name, &r.peer_token).await?;
        }
        Action::Enable { name } => set_enabled(client, &name, true, json).await?,
        Action::Disable { name } => set_enabled(client, &name, false, json).await?,
        Action::Guard { name, policy } => {
            let policy = (policy != "default").then_some(policy);
            let p = client
                .set_peer_secret_guard(&name, policy.as_deref())
                .await
                .with_context(|| format!("setting {name}'s guard policy"))?;
            if json {
                print_json(&p)?;
            } else {
                println!("{name}: secret guard {}", p.secret_guard.as_deref().unwrap_or("(gateway default)"));
            }
        }
    }
    Ok(OK)
}

/// `peers enable|disable NAME`.
async fn set_enabled(client: &meshgate_client::Client, name: &str, enabled: bool, json: bool) -> Result<()> {
    let verb = if enabled { "enabling" } else { "disabling" };
    let p = client.set_peer_enabled(name, enabled).await.with_context(|| format!("{verb} {name}"))?;
    if json {
        print_json(&p)?;
    } else {
        println!("{name}: {}", if p.enabled { "enabled" } else { "disabled" });
    }
    Ok(())
}

/// After a rotation: stores the new token in `name`'s token file when this
/// CLI keeps tokens for the gateway (a peer rotating its own token, a file
/// already there, or any token saved for the gateway before), so the next
/// `--as NAME` works; else says how to store it. The token was printed
/// before, so a failure here loses nothing.
async fn store_rotated(global: &Global, name: &str, token: &str) -> Result<()> {
    let store = TokenStore::locate()?;
    let own = global.identity.as_deref() == Some(name);
    if own || store.path(&global.gateway, name).exists() || store.keeps_tokens_for(&global.gateway) {
        let path = store.save(&global.gateway, name, token).await.with_context(|| {
            format!("storing {name}'s new token (printed above; `meshgate token set --as {name}` stores it)")
        })?;
        eprintln!("stored it for --as {name} in {} (mode 0600)", path.display());
    } else {
        eprintln!(
            "not stored: this CLI keeps no tokens for {}; to use it here, `meshgate token set --as {name}` (reads stdin)",
            global.gateway
        );
    }
    Ok(())
}
