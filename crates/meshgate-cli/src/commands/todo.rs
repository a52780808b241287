//! `meshgate todo [--json]`: open questions, owed and awaiting, overdue first.

use anyhow::{Context, Result};
use meshgate_client::Obligation;

use super::Global;
use crate::exit::OK;
use crate::output::print_json;

/// Arguments of `todo`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Operator (no --as): this peer's obligations instead of the whole mesh's.
    #[arg(long, value_name = "NAME")]
    pub peer: Option<String>,

    /// Print `{"owed": [...], "awaiting": [...]}` as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Runs `todo`.
pub async fn run(args: Args, global: &Global) -> Result<u8> {
    let client = global.admin_client().await?;
    let own = global.identity.as_deref().is_some_and(|s| !s.is_empty());
    let list = if own && args.peer.is_none() {
        client.obligations().await
    } else {
        client.obligations_of(args.peer.as_deref()).await
    }
    .context("reading obligations")?;
    if args.json {
        print_json(&list)?;
        return Ok(OK);
    }
    section("owed (questions to answer)", &list.owed, |o| &o.from_node, "from");
    section("awaiting (questions asked)", &list.awaiting, |o| &o.to_node, "to");
    Ok(OK)
}

fn section(title: &str, rows: &[Obligation], who: fn(&Obligation) -> &String, dir: &str) {
    println!("{title}: {}", rows.len());
    for o in rows {
        let due = match (&o.due_at, o.overdue) {
            (Some(d), true) => format!(" OVERDUE since {d}"),
            (Some(d), false) => format!(" due {d}"),
            (None, _) => String::new(),
        };
        let preview: String = o.preview.chars().take(60).collect::<String>().replace('\n', " ");
        println!("  {:>6} {dir} {}{due}: {preview}", o.id, who(o));
    }
}
