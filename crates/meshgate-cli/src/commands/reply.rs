//! `meshgate reply ID [CONTENT | --content-file F | -] [--kind K]`

use anyhow::{Context, Result};
use meshgate_client::{default_reply_kind, Kind};

use super::send::kind_parser;
use super::{ContentArgs, Global};
use crate::exit::OK;
use crate::output::print_json;

/// Arguments of `reply`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The message replied to (this peer must have sent or received it).
    #[arg(value_name = "ID")]
    pub id: i64,

    /// Message kind (default: `answer` when ID is a question to this peer, else `fyi`).
    #[arg(long, short, value_parser = kind_parser())]
    pub kind: Option<Kind>,

    #[command(flatten)]
    pub content: ContentArgs,

    /// Print the gateway's answer as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Runs `reply`: the gateway sends it to the other party of ID, in its thread.
pub async fn run(args: Args, global: &Global) -> Result<u8> {
    let content = args.content.read().await?;
    let client = global.client().await?;
    let kind = match args.kind {
        Some(kind) => kind,
        None => {
            let parent = client.status(args.id).await.with_context(|| format!("reading message {}", args.id))?;
            // Only the question's recipient answers it: the asker's own
            // follow-up is a fyi.
            if parent.message.to_node == client.node() {
                default_reply_kind(&parent)
            } else {
                Kind::Fyi
            }
        }
    };
    let sent = client.reply(args.id, &content, kind).await.with_context(|| format!("replying to {}", args.id))?;
    if args.json {
        print_json(&sent)?;
    } else {
        println!("sent message {} to {} ({}) in reply to {}", sent.id, sent.to_node, sent.kind, args.id);
    }
    Ok(OK)
}
