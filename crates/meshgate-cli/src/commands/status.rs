//! `meshgate status ID [--json]`: a message's delivery ladder.

use anyhow::{Context, Result};
use meshgate_client::{Kind, MessageStatus};

use super::Global;
use crate::exit::OK;
use crate::output::print_json;

/// Arguments of `status`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Message id (one this peer sent or received; the operator: any).
    #[arg(value_name = "ID")]
    pub id: i64,

    /// Print the message and its ladder as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Runs `status`.
pub async fn run(args: Args, global: &Global) -> Result<u8> {
    let client = global.admin_client().await?;
    let status = client.status(args.id).await.with_context(|| format!("reading message {}", args.id))?;
    if args.json {
        print_json(&status)?;
    } else {
        print!("{}", render(&status));
    }
    Ok(OK)
}

/// The ladder as lines for people.
pub fn render(s: &MessageStatus) -> String {
    let m = &s.message;
    let step = |t: &Option<String>| t.clone().unwrap_or_else(|| "-".into());
    let mut out = format!("message {} {} -> {} ({})\n", m.id, m.from_node, m.to_node, m.kind);
    out.push_str(&format!("  sent       {}\n", m.created_at));
    out.push_str(&format!("  delivered  {}\n", step(&s.delivered_at)));
    out.push_str(&format!("  read       {}\n", step(&m.read_at)));
    if m.kind == Kind::Question {
        let answered = s.answer_id.map_or_else(|| "-".into(), |id| format!("by message {id}"));
        out.push_str(&format!("  answered   {answered}\n"));
        if let Some(due) = &s.due_at {
            out.push_str(&format!("  due        {due}\n"));
        }
    }
    if s.recipient_removed {
        out.push_str(&format!("  recipient  removed ({} was deleted; nobody will answer)\n", m.to_node));
    }
    if let Some(parent) = s.in_reply_to {
        out.push_str(&format!("  replies to {parent}\n"));
    }
    if let Some(thread) = &m.thread_id {
        out.push_str(&format!("  thread     {thread}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_removed_recipient_is_said() {
        let status = |removed: bool| -> MessageStatus {
            serde_json::from_value(serde_json::json!({
                "id": 7, "from_node": "alice", "to_node": "bob", "kind": "question", "content": "ready?",
                "created_at": "2026-01-01T00:00:00.000000+00:00", "recipient_removed": removed
            }))
            .unwrap()
        };
        assert!(render(&status(true)).contains("  recipient  removed (bob was deleted; nobody will answer)\n"));
        assert!(!render(&status(false)).contains("removed"));
    }
}
