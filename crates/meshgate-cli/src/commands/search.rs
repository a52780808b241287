//! `meshgate search QUERY [--from --to --kind --thread --since --limit --json]`:
//! full-text search over the DMs the identity may read, best first.

use std::io::IsTerminal;

use anyhow::{Context, Result};
use meshgate_client::{Kind, SearchHit, SearchOptions};

use super::send::kind_parser;
use super::Global;
use crate::exit::{OK, REFUSED};
use crate::output::{message_header, one_line, print_json};

/// Arguments of `search`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// What to search for: words (all must match), "a phrase", prefix*, a OR b, -excluded.
    #[arg(value_name = "QUERY")]
    pub query: String,

    /// Only DMs from this sender.
    #[arg(long, value_name = "NAME")]
    pub from: Option<String>,

    /// Only DMs to this recipient.
    #[arg(long, value_name = "NAME")]
    pub to: Option<String>,

    /// Only DMs of this kind.
    #[arg(long, short, value_parser = kind_parser())]
    pub kind: Option<Kind>,

    /// Only DMs in this thread (UUID).
    #[arg(long, value_name = "UUID")]
    pub thread: Option<String>,

    /// Only DMs created after this RFC 3339 instant.
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,

    /// Hits to show (1-100; default 20).
    #[arg(long, short = 'n', value_parser = clap::value_parser!(u32).range(1..=100))]
    pub limit: Option<u32>,

    /// Print the gateway's answer (`{"hits": [...], "limit": N, "truncated": bool}`) as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Runs `search`: exit 0 with hits, 1 when nothing matched.
pub async fn run(args: Args, global: &Global) -> Result<u8> {
    let client = global.admin_client().await?;
    let options = SearchOptions {
        from: args.from,
        to: args.to,
        kind: args.kind,
        thread_id: args.thread,
        since: args.since,
        limit: args.limit,
    };
    let found = client.search(&args.query, options).await.context("searching")?;
    if args.json {
        print_json(&found)?;
    } else {
        let stdout = std::io::stdout();
        let emphasis = stdout.is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
        for hit in &found.hits {
            println!("{}", render(hit, emphasis));
        }
        if found.truncated {
            eprintln!("note: more DMs matched than one search ranks; these are the best of the newest. Narrow it.");
        }
    }
    Ok(if found.hits.is_empty() { REFUSED } else { OK })
}

/// A hit for humans: the message's header line and its snippet, indented,
/// sanitised; matched words in bold when `emphasis` (a terminal).
fn render(hit: &SearchHit, emphasis: bool) -> String {
    let mut snippet = String::new();
    for s in &hit.snippet {
        let text = one_line(&s.text);
        if s.hit && emphasis {
            snippet.push_str(&format!("\x1b[1m{text}\x1b[0m"));
        } else {
            snippet.push_str(&text);
        }
    }
    format!("{}\n    {snippet}", message_header(&hit.message))
}

#[cfg(test)]
mod tests {
    use super::*;
    use meshgate_client::{Message, SnippetSegment};

    fn hit() -> SearchHit {
        SearchHit {
            message: Message {
                id: 7,
                from_node: "lab".into(),
                to_node: "gpu".into(),
                kind: Kind::Fyi,
                content: "we deploy now".into(),
                created_at: "2026-01-01T12:34:56.000000+00:00".into(),
                read_at: None,
                thread_id: None,
                related_task_id: None,
                owed: false,
                sender_verified: false,
            },
            rank: 1.0,
            snippet: vec![
                SnippetSegment { text: "we \x1b[31m".into(), hit: false },
                SnippetSegment { text: "deploy".into(), hit: true },
                SnippetSegment { text: " now".into(), hit: false },
            ],
        }
    }

    #[test]
    fn hits_are_sanitised_and_emphasised_only_when_asked() {
        assert_eq!(
            render(&hit(), false),
            "--- #7 from lab to gpu (fyi) at 2026-01-01 12:34:56\n    we ?[31mdeploy now"
        );
        assert!(render(&hit(), true).ends_with("we ?[31m\x1b[1mdeploy\x1b[0m now"));
    }
}
