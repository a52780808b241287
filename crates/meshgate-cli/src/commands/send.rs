//! `meshgate send TO --kind K [CONTENT | --content-file F | -]`

use anyhow::{Context, Result};
use clap::builder::{PossibleValuesParser, TypedValueParser};
use meshgate_client::{Kind, SendOptions};

use super::{ContentArgs, Global};
use crate::exit::OK;
use crate::output::print_json;

/// Arguments of `send`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Recipient peer name; known aliases resolve to their canonical name.
    #[arg(value_name = "TO")]
    pub to: String,

    /// Message kind.
    #[arg(long, short, value_parser = kind_parser())]
    pub kind: Kind,

    /// Thread UUID to post in, or `new` to mint a fresh thread for this exchange.
    #[arg(long, value_name = "UUID|new", value_parser = thread_arg)]
    pub thread: Option<String>,

    /// Related task id.
    #[arg(long = "task", value_name = "ID")]
    pub task: Option<String>,

    /// Retrying with the same key returns the original message instead of sending twice.
    #[arg(long, value_name = "KEY")]
    pub idempotency_key: Option<String>,

    /// Send even though the credential scanner flags the content (known false positive).
    /// The client's own token is refused regardless.
    #[arg(long)]
    pub skip_secret_check: bool,

    /// A question's deadline in seconds from now (`meshgate todo` shows it overdue after).
    #[arg(long, value_name = "SECS", conflicts_with = "due_at")]
    pub due_in: Option<u64>,

    /// A question's deadline as an RFC 3339 instant.
    #[arg(long, value_name = "TIME")]
    pub due_at: Option<String>,

    #[command(flatten)]
    pub content: ContentArgs,

    /// Print the gateway's answer as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `--thread`: `new` or a thread id (a UUID), checked before anything is
/// sent so a typo is a usage error, not a gateway round trip.
fn thread_arg(value: &str) -> Result<String, String> {
    if value == "new" || uuid::Uuid::parse_str(value).is_ok() {
        Ok(value.to_owned())
    } else {
        Err("not a thread id (a UUID such as `meshgate thread list` shows); pass `--thread new` to start a thread"
            .into())
    }
}

/// The five kinds as a parser, so `--help` and completions list them.
pub fn kind_parser() -> impl TypedValueParser<Value = Kind> {
    PossibleValuesParser::new(Kind::ALL.map(Kind::as_str))
        .map(|s| s.parse::<Kind>().expect("possible values are exactly the kinds"))
}

/// Runs `send`.
pub async fn run(args: Args, global: &Global) -> Result<u8> {
    let content = args.content.read().await?;
    let client = global.client().await?;
    let mut options = SendOptions::new().skip_secret_check(args.skip_secret_check);
    options.related_task_id = args.task;
    options.idempotency_key = args.idempotency_key;
    options.due_in = args.due_in;
    options.due_at = args.due_at;
    let mut minted = None;
    match args.thread.as_deref() {
        Some("new") => {
            // Check before minting, so a refused send leaves no orphan thread.
            let to = client.check_recipient(&args.to).await?;
            let suffix = uuid::Uuid::new_v4().simple().to_string();
            let name = format!("{}↔{}:dm-{}", client.node(), to, &suffix[..12]);
            let thread = client.mint_thread(&name).await.context("minting a thread")?;
            options.thread_id = Some(thread.thread_uuid.clone());
            minted = Some(thread.thread_uuid);
        }
        Some(uuid) => options.thread_id = Some(uuid.to_owned()),
        None => {}
    }
    let sent =
        client.send(&args.to, args.kind, &content, options).await.with_context(|| format!("sending to {}", args.to))?;
    if args.json {
        print_json(&sent)?;
        return Ok(OK);
    }
    let mut line = format!("sent message {} to {} ({})", sent.id, sent.to_node, sent.kind);
    if let Some(alias) = &sent.resolved_from {
        line.push_str(&format!(", resolved from alias {alias}"));
    }
    println!("{line}");
    if let Some(thread) = sent.thread_id.as_deref() {
        let verb = if minted.is_some() { "new thread" } else { "thread" };
        println!("{verb}: {thread}");
    }
    Ok(OK)
}
