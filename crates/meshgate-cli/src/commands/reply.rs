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

/// Runs `reply`: the gateway sends it to the other party of ID, in its
/// thread; a message this peer received is marked read (the reply is the ack).
pub async fn run(args: Args, global: &Global) -> Result<u8> {
    let content = args.content.read().await?;
    let client = global.client().await?;
    let parent = client.status(args.id).await.with_context(|| format!("reading message {}", args.id))?;
    // Only the recipient answers or acks a message: the sender's own
    // follow-up is a fyi and leaves the recipient's read state alone.
    let received = parent.message.to_node == client.node();
    let kind = match args.kind {
        Some(kind) => kind,
        None if received => default_reply_kind(&parent),
        None => Kind::Fyi,
    };
    let sent = client.reply(args.id, &content, kind).await.with_context(|| format!("replying to {}", args.id))?;
    // The reply is the ack, as with MCP `reply`.
    let acked = received && parent.message.read_at.is_none();
    if acked {
        client.mark_read(args.id).await.with_context(|| format!("marking {} read after the reply", args.id))?;
    }
    if args.json {
        print_json(&sent)?;
    } else {
        let ack = if acked { format!("; message {} marked read", args.id) } else { String::new() };
        println!("sent message {} to {} ({}) in reply to {}{ack}", sent.id, sent.to_node, sent.kind, args.id);
    }
    Ok(OK)
}
