//! `meshgate gc`: one retention pass by hand on a store (the pass `serve
//! --retain-days` runs every few minutes), with counts.

use anyhow::Result;
use meshgate_server::retention::{purge_pass, RetainDays, PAUSE};

use super::export::StoreArgs;
use super::serve::{open_store, sqlite_path};
use crate::exit::{advised, OK};
use crate::output::print_json;

/// Options of `meshgate gc`.
#[derive(Debug, Clone, clap::Args)]
#[command(after_long_help = "\
Deletes read DMs read more than --retain-days days ago and, with --retain-unread-days,
unread DMs older than that, in batches of 1,000, then the threads this left without DMs
that nobody used since the cutoff. Idempotency keys go with their DMs. Safe while a
gateway serves the store; `meshgate serve --retain-days N` runs the same pass every
5 minutes.

Examples:
  meshgate gc --retain-days 30
  meshgate gc --retain-days 30 --retain-unread-days 365 --db postgres://meshgate@db/meshgate")]
pub struct Args {
    #[command(flatten)]
    pub store: StoreArgs,

    #[command(flatten)]
    pub retain: RetainArgs,

    /// Print the counts as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `--retain-days` / `--retain-unread-days`, shared by `serve` and `gc`.
#[derive(Debug, Clone, clap::Args)]
pub struct RetainArgs {
    /// Delete read DMs read more than N days ago (unset: keep them).
    #[arg(long, value_name = "N", env = "MESHGATE_RETAIN_DAYS", value_parser = clap::value_parser!(u32).range(1..))]
    pub retain_days: Option<u32>,

    /// Also delete unread DMs older than M days (unset: unread DMs are kept).
    #[arg(long, value_name = "M", env = "MESHGATE_RETAIN_UNREAD_DAYS",
          value_parser = clap::value_parser!(u32).range(1..))]
    pub retain_unread_days: Option<u32>,
}

impl RetainArgs {
    /// The retention these options ask for.
    pub fn days(&self) -> RetainDays {
        RetainDays { read: self.retain_days, unread: self.retain_unread_days }
    }
}

/// Runs `meshgate gc`.
pub async fn run(args: Args) -> Result<u8> {
    let days = args.retain.days();
    if !days.is_on() {
        return Err(advised("nothing to delete: pass --retain-days N (and/or --retain-unread-days M)"));
    }
    let url = args.store.url();
    if let Some(path) = sqlite_path(&url) {
        if !path.exists() {
            return Err(advised(format!("no store at {}: pass --db or --data-dir", path.display())));
        }
    }
    let (store, _) = open_store(&url).await?;
    let purged = purge_pass(store.as_ref(), &days.policy(), PAUSE).await?;
    if args.json {
        print_json(&serde_json::json!({"messages": purged.messages, "threads": purged.threads}))?;
    } else {
        println!("deleted {} DMs and {} emptied threads", purged.messages, purged.threads);
    }
    Ok(OK)
}
